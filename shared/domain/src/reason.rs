//! Why an attempt failed, or why a failure record was written: one vocabulary (SPEC §5),
//! stored and shown as these strings.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The receiver answered with a status that is neither 2xx nor 3xx.
    HttpStatus(u16),
    /// The receiver answered with a redirect, which is never followed.
    RedirectBlocked(u16),
    /// No connection within 5 s, or no whole answer within 15 s.
    Timeout,
    /// The receiver refused the connection.
    ConnectionRefused,
    /// The receiver's name did not resolve.
    DnsError,
    /// The TLS handshake failed (or an `http` URL met a closed guard).
    TlsError,
    /// Every address the name resolved to is one the destination guard refuses.
    BlockedDestination(IpAddr),
    /// The connection broke after it was made (reset, or closed before a whole answer).
    ConnectionReset,
    /// Something answered, but not with HTTP hookpost can read (an oversized header block,
    /// say).
    InvalidResponse,
    /// A record: the event reached the subscription while it was auto-disabled.
    SubscriptionDisabled,
    /// A record: a retrigger found its subscription deleted.
    SubscriptionDeleted,
    /// A record: a retrigger found its event past its retention.
    EventExpired,
    /// hookpost could not make the delivery (its task died in the dead-letter queue, or the
    /// request could not be built).
    DeliveryError,
    /// A record: a retrigger left without an outcome for 15 minutes.
    RetriggerLost,
}

impl Reason {
    /// Every reason's spelling, with `<status>` / `<ip>` for the variable part: the list
    /// users read.
    pub const VOCABULARY: &'static [&'static str] = &[
        "http_status: <status>",
        "redirect_blocked: <status>",
        "timeout",
        "connection_refused",
        "dns_error",
        "tls_error",
        "blocked_destination: <ip>",
        "connection_reset",
        "invalid_response",
        "subscription_disabled",
        "subscription_deleted",
        "event_expired",
        "delivery_error",
        "retrigger_lost",
    ];

    /// Reads a stored reason. `connection_error`, the name `connection_reset` had before,
    /// still reads.
    pub fn parse(s: &str) -> Option<Self> {
        let status = |rest: &str| rest.trim().parse::<u16>().ok().filter(|s| (100..=599).contains(s));
        if let Some(rest) = s.strip_prefix("http_status:") {
            return status(rest).map(Self::HttpStatus);
        }
        if let Some(rest) = s.strip_prefix("redirect_blocked:") {
            return status(rest).map(Self::RedirectBlocked);
        }
        if let Some(rest) = s.strip_prefix("blocked_destination:") {
            return rest.trim().parse().ok().map(Self::BlockedDestination);
        }
        Some(match s {
            "timeout" => Self::Timeout,
            "connection_refused" => Self::ConnectionRefused,
            "dns_error" => Self::DnsError,
            "tls_error" => Self::TlsError,
            "connection_reset" | "connection_error" => Self::ConnectionReset,
            "invalid_response" => Self::InvalidResponse,
            "subscription_disabled" => Self::SubscriptionDisabled,
            "subscription_deleted" => Self::SubscriptionDeleted,
            "event_expired" => Self::EventExpired,
            "delivery_error" => Self::DeliveryError,
            "retrigger_lost" => Self::RetriggerLost,
            _ => return None,
        })
    }

    /// The status code the receiver answered, where there was an answer.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::HttpStatus(status) | Self::RedirectBlocked(status) => Some(*status),
            _ => None,
        }
    }

    /// Whether a receiver's `Retry-After` applies (a 429 or a 503).
    pub fn honours_retry_after(&self) -> bool {
        matches!(self, Self::HttpStatus(429 | 503))
    }
}

impl Reason {
    /// The reason's code without its detail (`http_status`, not `http_status: 500`): a
    /// bounded set, fit for a metric's label.
    pub fn code(&self) -> &'static str {
        match self {
            Self::HttpStatus(_) => "http_status",
            Self::RedirectBlocked(_) => "redirect_blocked",
            Self::Timeout => "timeout",
            Self::ConnectionRefused => "connection_refused",
            Self::DnsError => "dns_error",
            Self::TlsError => "tls_error",
            Self::BlockedDestination(_) => "blocked_destination",
            Self::ConnectionReset => "connection_reset",
            Self::InvalidResponse => "invalid_response",
            Self::SubscriptionDisabled => "subscription_disabled",
            Self::SubscriptionDeleted => "subscription_deleted",
            Self::EventExpired => "event_expired",
            Self::DeliveryError => "delivery_error",
            Self::RetriggerLost => "retrigger_lost",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HttpStatus(status) => write!(f, "http_status: {status}"),
            Self::RedirectBlocked(status) => write!(f, "redirect_blocked: {status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::ConnectionRefused => f.write_str("connection_refused"),
            Self::DnsError => f.write_str("dns_error"),
            Self::TlsError => f.write_str("tls_error"),
            Self::BlockedDestination(ip) => write!(f, "blocked_destination: {ip}"),
            Self::ConnectionReset => f.write_str("connection_reset"),
            Self::InvalidResponse => f.write_str("invalid_response"),
            Self::SubscriptionDisabled => f.write_str("subscription_disabled"),
            Self::SubscriptionDeleted => f.write_str("subscription_deleted"),
            Self::EventExpired => f.write_str("event_expired"),
            Self::DeliveryError => f.write_str("delivery_error"),
            Self::RetriggerLost => f.write_str("retrigger_lost"),
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a failure reason")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_what_it_writes() {
        let all = [
            Reason::HttpStatus(503),
            Reason::RedirectBlocked(302),
            Reason::Timeout,
            Reason::ConnectionRefused,
            Reason::DnsError,
            Reason::TlsError,
            Reason::BlockedDestination("10.0.0.1".parse().unwrap()),
            Reason::ConnectionReset,
            Reason::InvalidResponse,
            Reason::SubscriptionDisabled,
            Reason::SubscriptionDeleted,
            Reason::EventExpired,
            Reason::DeliveryError,
            Reason::RetriggerLost,
        ];
        assert_eq!(all.len(), Reason::VOCABULARY.len(), "the documented list names every reason");
        for (reason, spelled) in all.iter().zip(Reason::VOCABULARY) {
            let text = reason.to_string();
            assert_eq!(Reason::parse(&text).as_ref(), Some(reason));
            let head = spelled.split('<').next().unwrap();
            assert!(text.starts_with(head), "{text} vs {spelled}");
            assert_eq!(text.split(':').next(), Some(reason.code()), "the code is the text before any detail");
            let json = serde_json::to_string(reason).unwrap();
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), *reason);
        }
        assert_eq!(Reason::parse("connection_error"), Some(Reason::ConnectionReset));
        for bad in ["", "http_status: 99", "http_status: x", "Connection timeout", "blocked_destination: nope"] {
            assert_eq!(Reason::parse(bad), None, "{bad}");
        }
    }
}

//! Published events (SPEC §4): what the operator posts, and which subscriptions it reaches.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delivery::order::is_valid_ordering_key;
use crate::error::ApiError;
use crate::event_type::{selects, Catalogue};
use crate::filter::filtered_view;
use crate::ids::{AccountId, ChannelId};
use crate::input::Fields;
use crate::subscription::{is_valid_event_type, DisabledReason, Subscription, SubscriptionState};
use crate::time::Timestamp;

/// The largest publish body (SPEC §4): 256 KiB.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// At most this many events in one batch publish (`POST /internal/v1/events/batch`).
pub const MAX_BATCH_EVENTS: usize = 100;
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// A stored event: what every attempt of it is built from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub account_id: AccountId,
    pub event_id: String,
    pub event_type: String,
    pub channel_id: Option<ChannelId>,
    /// The `data` object, serialized once, so every attempt carries the same bytes.
    pub data: String,
    pub created_at: Timestamp,
    /// How many active subscriptions it matched: the idempotent 202 answer.
    pub subscriptions: u32,
    /// Whether its deliveries were all enqueued; a repeat publish finishes the job if not.
    pub fanned_out: bool,
}

impl Event {
    /// When the stored event expires (DynamoDB TTL): `retention_days` after it was published,
    /// whoever stores it and whenever.
    pub fn expires_at(&self, retention_days: u32) -> Timestamp {
        self.created_at.plus_days(i64::from(retention_days))
    }
}

/// Whether publish must store the event before it answers 202. This is the one rule; every
/// other place an event is stored follows from it.
///
/// An event is stored when something may ask for it again:
/// - the caller chose its `event_id`: a repeat publish must find the first answer, and must
///   be able to finish a fan-out that a crash cut short;
/// - a failure record is written at publish (`subscription_disabled`): a retrigger of that
///   record reads the event;
/// - it is too large to travel inside its delivery tasks.
///
/// Otherwise the tasks carry the event and the queue holds it as durably as it holds the
/// tasks; nobody can repeat an id they were never given. When a failure record later comes to
/// point at such an event, whoever writes the record stores the event first
/// ([`crate::writes::Write::KeepEvent`], and the dead-letter consumer).
pub fn stored_at_publish(chosen_id: bool, records_at_publish: bool, carried: bool) -> bool {
    chosen_id || records_at_publish || !carried
}

/// A validated publish request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    pub account_id: AccountId,
    pub event_type: String,
    pub channel_id: Option<ChannelId>,
    pub data: String,
    pub event_id: Option<String>,
    /// Orders the event among the others of its key for `fifo` subscriptions (SPEC §10).
    pub ordering_key: Option<String>,
}

/// `event_id`: 1–128 chars of `[A-Za-z0-9_.:-]` (the default is `evt_<uuid>`).
pub fn is_valid_event_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::new_v4())
}

/// A publish body, with no catalogue to check it against.
pub fn parse_publish(body: Value) -> Result<PublishRequest, ApiError> {
    parse_publish_checked(body, &Catalogue::default())
}

/// A publish body: its fields first, then (once they are sound) `data` against its type in
/// the catalogue (SPEC §11).
pub fn parse_publish_checked(body: Value, catalogue: &Catalogue) -> Result<PublishRequest, ApiError> {
    let mut f = Fields::from_value(body)?;
    let raw = f.required_string("account_id");
    let account_id = f.parsed("account_id", raw, AccountId::parse, "must be an account id (uuid)");
    let event_type = f.required_string("event").filter(|e| {
        let ok = is_valid_event_type(e);
        if !ok {
            f.issue("event", "must be 1 to 100 characters of a-z, 0-9, '_', '.', '-'");
        }
        ok
    });
    let raw = f.opt_string("channel_id");
    let channel_id = f.parsed("channel_id", raw, ChannelId::parse, ChannelId::EXPECTED);
    let data = match f.take("data") {
        Some(v @ Value::Object(_)) => Some(v),
        Some(_) => {
            f.issue("data", "must be a JSON object");
            None
        }
        None => {
            f.issue("data", "is required");
            None
        }
    };
    let event_id = f.opt_string("event_id").filter(|id| {
        let ok = is_valid_event_id(id);
        if !ok {
            f.issue("event_id", "must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.', ':', '-'");
        }
        ok
    });
    let ordering_key = match f.take("ordering_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if is_valid_ordering_key(&key) => Some(key),
        Some(_) => {
            f.issue("ordering_key", "must be 1 to 128 printable characters");
            None
        }
    };
    f.finish()?;
    match (account_id, event_type, data) {
        (Some(account_id), Some(event_type), Some(data)) => {
            catalogue.check(&event_type, &data)?;
            Ok(PublishRequest { account_id, event_type, channel_id, data: data.to_string(), event_id, ordering_key })
        }
        _ => Err(ApiError::Internal),
    }
}

/// Whether a subscription wants this event by its type and channel: its type listed or under
/// a listed wildcard (or no list), and the subscription on all channels or on this one. Its
/// `filter`, which looks at the data, is matched apart (`matches_filter`).
pub fn wants(sub: &Subscription, event_type: &str, channel_id: Option<&ChannelId>) -> bool {
    let type_ok = sub.events.is_empty() || sub.events.iter().any(|e| selects(e, event_type));
    let channel_ok = match (&sub.channel_id, channel_id) {
        (None, _) => true,
        (Some(mine), Some(theirs)) => mine == theirs,
        (Some(_), None) => false,
    };
    type_ok && channel_ok
}

/// An event as publishing matches it against an account's subscriptions: the document
/// filters see (`filtered_view`) is built once, on the first subscription with a filter.
pub struct Matching<'a> {
    event_type: &'a str,
    channel_id: Option<&'a ChannelId>,
    /// `data` as published: JSON text, read only when a filter needs it.
    data: &'a str,
    view: std::sync::OnceLock<Value>,
}

impl<'a> Matching<'a> {
    pub fn new(event_type: &'a str, channel_id: Option<&'a ChannelId>, data: &'a str) -> Self {
        Self { event_type, channel_id, data, view: std::sync::OnceLock::new() }
    }

    /// Whether the event is for `sub` (SPEC §4): its type, its channel and its filter.
    pub fn wanted_by(&self, sub: &Subscription) -> bool {
        wants(sub, self.event_type, self.channel_id)
            && sub.filter.as_ref().is_none_or(|filter| {
                filter.matches(self.view.get_or_init(|| {
                    // Published data is an object, checked at publish; text that no longer
                    // reads as one (it cannot) would match only patterns that ask for no data.
                    let data = serde_json::from_str(self.data).unwrap_or(Value::Null);
                    filtered_view(self.event_type, self.channel_id.map(ChannelId::as_str), &data)
                }))
            })
    }
}

/// What publishing does for one subscription that wants the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanOut {
    Deliver,
    /// Auto-disabled: a failure record instead, so nothing is silently dropped.
    RecordDisabled,
    Skip,
}

pub fn fan_out(sub: &Subscription) -> FanOut {
    match sub.state {
        SubscriptionState::Active => FanOut::Deliver,
        SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, .. } => FanOut::RecordDisabled,
        SubscriptionState::Disabled { reason: DisabledReason::Deleted, .. } => FanOut::Skip,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::address::DestinationPolicy;
    use crate::subscription::parse_new_subscription;

    fn sub(body: Value) -> Subscription {
        let input = parse_new_subscription(body, &DestinationPolicy::default()).unwrap();
        Subscription::create(AccountId::new(), input, None, None, Timestamp::from_unix(0))
    }

    #[test]
    fn parses_a_publish() {
        let account = AccountId::new();
        let p =
            parse_publish(json!({"account_id": account.to_string(), "event": "call.ended", "data": {"a": 1}})).unwrap();
        assert_eq!(
            (p.account_id, p.event_type.as_str(), p.data.as_str(), p.event_id),
            (account, "call.ended", r#"{"a":1}"#, None)
        );
        let p = parse_publish(json!({"account_id": account.to_string(), "event": "x", "data": {}, "event_id": "evt_1", "channel_id": "dom_1"})).unwrap();
        assert_eq!(
            (p.event_id.as_deref(), p.channel_id.map(|c| c.to_string())),
            (Some("evt_1"), Some("dom_1".to_owned()))
        );
        assert_eq!(p.ordering_key, None);
        let p = parse_publish(
            json!({"account_id": account.to_string(), "event": "x", "data": {}, "ordering_key": "customer 42"}),
        )
        .unwrap();
        assert_eq!(p.ordering_key.as_deref(), Some("customer 42"));
    }

    #[test]
    fn refuses_bad_publishes_field_by_field() {
        let account = AccountId::new().to_string();
        for (body, field) in [
            (json!({"event": "x", "data": {}}), "account_id"),
            (json!({"account_id": "nope", "event": "x", "data": {}}), "account_id"),
            (json!({"account_id": account, "event": "Call Ended", "data": {}}), "event"),
            (json!({"account_id": account, "data": {}}), "event"),
            (json!({"account_id": account, "event": "x", "data": [1]}), "data"),
            (json!({"account_id": account, "event": "x"}), "data"),
            (json!({"account_id": account, "event": "x", "data": {}, "event_id": ""}), "event_id"),
            (json!({"account_id": account, "event": "x", "data": {}, "extra": 1}), "extra"),
            (json!({"account_id": account, "event": "x", "data": {}, "ordering_key": ""}), "ordering_key"),
            (json!({"account_id": account, "event": "x", "data": {}, "ordering_key": "k".repeat(129)}), "ordering_key"),
            (json!({"account_id": account, "event": "x", "data": {}, "ordering_key": 7}), "ordering_key"),
        ] {
            match parse_publish(body.clone()) {
                Err(ApiError::Validation(issues)) => assert_eq!(issues[0].field, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn matching_by_type_and_channel() {
        let all = sub(json!({"url": "https://e.com"}));
        let calls = sub(json!({"url": "https://e.com", "events": ["call.ended"]}));
        let mut channel = sub(json!({"url": "https://e.com"}));
        channel.channel_id = ChannelId::parse("dom_1");
        let dom1 = ChannelId::parse("dom_1").unwrap();
        let dom2 = ChannelId::parse("dom_2").unwrap();
        assert!(wants(&all, "sms.sent", None) && wants(&all, "sms.sent", Some(&dom2)));
        assert!(wants(&calls, "call.ended", None) && !wants(&calls, "call.started", None));
        assert!(wants(&channel, "x", Some(&dom1)) && !wants(&channel, "x", Some(&dom2)) && !wants(&channel, "x", None));
    }

    #[test]
    fn publishes_are_checked_against_the_catalogue_once_their_fields_are_sound() {
        let t = Timestamp::from_unix(1_780_000_000);
        let paid = crate::event_type::EventType {
            name: "invoice.paid".into(),
            description: "d".into(),
            schema: Some(json!({"type": "object", "properties": {"amount": {"type": "integer"}}})),
            example: None,
            deprecated: false,
            created_at: t,
            updated_at: t,
        };
        let catalogue = Catalogue::new(&[paid], true);
        let account = AccountId::new().to_string();
        let good = json!({"account_id": account, "event": "invoice.paid", "data": {"amount": 5}});
        assert_eq!(parse_publish_checked(good, &catalogue).unwrap().data, r#"{"amount":5}"#);
        let bad = json!({"account_id": account, "event": "invoice.paid", "data": {"amount": "5"}});
        match parse_publish_checked(bad, &catalogue) {
            Err(ApiError::Validation(issues)) => assert_eq!(issues[0].field, "data/amount"),
            other => panic!("{other:?}"),
        }
        let unknown = json!({"account_id": account, "event": "invoice.payed", "data": {}});
        assert!(matches!(parse_publish_checked(unknown, &catalogue), Err(ApiError::UnknownEventType(_))));
        // A field fault is reported before any schema is looked at.
        let both = json!({"account_id": "nope", "event": "invoice.paid", "data": {"amount": "5"}});
        match parse_publish_checked(both, &catalogue) {
            Err(ApiError::Validation(issues)) => assert_eq!(issues[0].field, "account_id"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn matching_by_wildcard_and_filter() {
        let billing = sub(json!({"url": "https://e.com", "events": ["billing.*", "call.ended"]}));
        assert!(wants(&billing, "billing.invoice.paid", None) && wants(&billing, "call.ended", None));
        assert!(!wants(&billing, "billingx.paid", None) && !wants(&billing, "call.started", None));

        let big_non_us = sub(json!({"url": "https://e.com", "events": ["billing.*"], "filter": {
            "data": {"amount": [{"numeric": [">=", 1000]}], "country": [{"anything-but": "US"}]}
        }}));
        let data = json!({"amount": 1500, "country": "FR"}).to_string();
        assert!(Matching::new("billing.invoice.paid", None, &data).wanted_by(&big_non_us));
        let small = json!({"amount": 10, "country": "FR"}).to_string();
        assert!(!Matching::new("billing.invoice.paid", None, &small).wanted_by(&big_non_us));
        assert!(!Matching::new("call.ended", None, &data).wanted_by(&big_non_us), "the type still selects first");
        let by_channel = sub(json!({"url": "https://e.com", "filter": {"channel_id": [null]}}));
        let dom1 = ChannelId::parse("dom_1").unwrap();
        assert!(Matching::new("x", None, &data).wanted_by(&by_channel));
        assert!(!Matching::new("x", Some(&dom1), &data).wanted_by(&by_channel));
        let by_type = sub(json!({"url": "https://e.com", "filter": {"event": [{"prefix": "call."}]}}));
        assert!(Matching::new("call.ended", None, &data).wanted_by(&by_type));
        assert!(!Matching::new("sms.sent", None, &data).wanted_by(&by_type));
    }

    #[test]
    fn fan_out_by_state() {
        let mut s = sub(json!({"url": "https://e.com"}));
        assert_eq!(fan_out(&s), FanOut::Deliver);
        let at = Timestamp::from_unix(1);
        s.state = SubscriptionState::Disabled { reason: DisabledReason::AutoDisabled, at };
        assert_eq!(fan_out(&s), FanOut::RecordDisabled);
        s.state = SubscriptionState::Disabled { reason: DisabledReason::Deleted, at };
        assert_eq!(fan_out(&s), FanOut::Skip);
    }

    #[test]
    fn event_ids() {
        assert!(is_valid_event_id(&new_event_id()));
        assert!(!is_valid_event_id("has space"));
        assert!(!is_valid_event_id(&"a".repeat(129)));
    }
}

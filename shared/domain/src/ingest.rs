//! Which EventBridge events the ingest queue may publish (SPEC §4, publishing without API
//! Gateway). Whoever can put an event on the ingest bus, or send a message to the ingest
//! queue, can publish for any account: the bus's rule takes only events from the stack's AWS
//! account and the sources the operator names, and the consumer checks both again, so a rule
//! edited by hand or an event copied onto the queue does not widen who can publish.

use crate::error::Issue;
use crate::ApiError;

/// The publishers an ingest consumer trusts. Empty: any (hookpost-local, where the queue is
/// the only way in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestTrust {
    /// The AWS account whose events are taken (`HOOKPOST_INGEST_ACCOUNT`).
    pub account: Option<String>,
    /// The event sources taken (`HOOKPOST_INGEST_SOURCES`, comma-separated).
    pub sources: Vec<String>,
}

impl IngestTrust {
    /// `HOOKPOST_INGEST_SOURCES`'s list: comma-separated, blanks ignored.
    pub fn parse_sources(list: &str) -> Vec<String> {
        list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }

    /// Whether an EventBridge event from `source` in `account` may publish; the refusal names
    /// what did not match (as a validation error on the envelope's field).
    pub fn admits(&self, source: Option<&str>, account: Option<&str>) -> Result<(), ApiError> {
        let mut issues = Vec::new();
        if let Some(trusted) = &self.account {
            if account != Some(trusted.as_str()) {
                issues.push(Issue::new("account", "is not the AWS account this stack takes events from"));
            }
        }
        if !self.sources.is_empty() && !source.is_some_and(|s| self.sources.iter().any(|t| t == s)) {
            issues.push(Issue::new(
                "source",
                format!("is not one of the sources this stack takes events from ({})", self.sources.join(", ")),
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(issues))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(issues) => issues.into_iter().map(|i| i.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_the_named_account_and_sources_publish() {
        let trust = IngestTrust {
            account: Some("123456789012".into()),
            sources: IngestTrust::parse_sources(" acme.billing, ,acme.crm "),
        };
        assert_eq!(trust.sources, ["acme.billing", "acme.crm"]);
        assert_eq!(trust.admits(Some("acme.crm"), Some("123456789012")), Ok(()));
        assert_eq!(fields(trust.admits(Some("evil.corp"), Some("123456789012")).unwrap_err()), ["source"]);
        assert_eq!(fields(trust.admits(Some("acme.billing"), Some("210987654321")).unwrap_err()), ["account"]);
        assert_eq!(fields(trust.admits(None, None).unwrap_err()), ["account", "source"]);
        assert_eq!(fields(trust.admits(Some("ACME.BILLING"), Some("123456789012")).unwrap_err()), ["source"]);
    }

    #[test]
    fn an_empty_trust_takes_any_publisher() {
        assert_eq!(IngestTrust::default().admits(None, None), Ok(()));
        assert_eq!(IngestTrust::default().admits(Some("anyone"), Some("1")), Ok(()));
    }
}

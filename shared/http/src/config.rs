//! Configuration from the environment, with exactly the names the README documents.

use hookpost_domain::delivery::RetrySchedule;
use hookpost_domain::event::DEFAULT_RETENTION_DAYS;
use hookpost_domain::pacing::{RateLimit, DEFAULT_RATE_LIMIT};
use hookpost_domain::portal::{self, PortalSettings};
use hookpost_domain::rate_limit::DEFAULT_PER_MINUTE;
use hookpost_domain::subscription::DEFAULT_MAX_ACTIVE;
use hookpost_domain::{Cidr, DestinationPolicy, ResolveOverrides};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `HOOKPOST_TABLE` (the template sets it; default `hookpost`).
    pub table: String,
    /// `HOOKPOST_DYNAMODB_ENDPOINT`: a DynamoDB-compatible server instead of AWS.
    pub dynamodb_endpoint: Option<String>,
    /// `HOOKPOST_RATE_LIMIT_PER_MINUTE` (default 60).
    pub rate_limit_per_minute: u32,
    /// `HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS` (default 25).
    pub max_active_subscriptions: u32,
    /// `HOOKPOST_ALLOW_HTTP` and `HOOKPOST_ALLOW_CIDRS`.
    pub destinations: DestinationPolicy,
    /// `HOOKPOST_RESOLVE`: names answered without DNS (tests, local development).
    pub resolve: ResolveOverrides,
    /// `HOOKPOST_RETRY_SCHEDULE` (default `0,60,600,3600,21600`).
    pub retry_schedule: RetrySchedule,
    /// `HOOKPOST_EVENT_RETENTION_DAYS` (default 30).
    pub event_retention_days: u32,
    /// `HOOKPOST_ATTEMPT_RETENTION_DAYS` (default 30).
    pub attempt_retention_days: u32,
    /// `HOOKPOST_QUEUE_URL`: the SQS delivery queue (Lambda only).
    pub queue_url: Option<String>,
    /// `HOOKPOST_FIFO_QUEUE_URL`: the SQS FIFO queue of `fifo` subscriptions' deliveries
    /// (Lambda only).
    pub fifo_queue_url: Option<String>,
    /// `HOOKPOST_DEAD_LETTER_URL` and `HOOKPOST_FIFO_DEAD_LETTER_URL`: the dead-letter queues
    /// the `dead-letter` function drains (Lambda only).
    pub dead_letter_url: Option<String>,
    pub fifo_dead_letter_url: Option<String>,
    /// `HOOKPOST_DEFAULT_RATE_LIMIT` (default 100; `0` for none): a new subscription's
    /// `rate_limit` when its create request names none.
    pub default_rate_limit: Option<RateLimit>,
    /// `HOOKPOST_EVENT_TYPES`: `open` (default) accepts a published type outside the
    /// catalogue; `strict` refuses it with `unknown_event_type` (SPEC §11).
    pub event_types_strict: bool,
    /// `HOOKPOST_INGEST_DEAD_LETTER_URL`: where the ingest queue's consumer keeps an event
    /// that can never be published, with why (Lambda only).
    pub ingest_dead_letter_url: Option<String>,
    /// `HOOKPOST_INGEST_ACCOUNT` and `HOOKPOST_INGEST_SOURCES`: the AWS account and the
    /// EventBridge sources whose events the ingest queue's consumer publishes (the template
    /// sets both; unset, any).
    pub ingest_trust: hookpost_domain::ingest::IngestTrust,
    /// `HOOKPOST_SQS_ENDPOINT`: an SQS-compatible server instead of AWS (hookpost-local's
    /// durable queues, a local run of the functions); by default the DynamoDB endpoint (moto
    /// serves both).
    pub sqs_endpoint: Option<String>,
    /// `HOOKPOST_QUEUE_VISIBILITY_SECONDS` (hookpost-local, default 60): how long a received
    /// task stays hidden before another worker may take it — what a task whose worker died
    /// waits before it is handed out again.
    pub queue_visibility_secs: u32,
    /// `HOOKPOST_QUEUE_CAPACITY` (hookpost-local in memory, default 100,000): the most
    /// delivery tasks its in-process queue holds; past it a publish answers 503.
    pub queue_capacity: usize,
    /// `HOOKPOST_PORTAL_*` and `HOOKPOST_PUBLIC_BASE_URL`: the customer portal's branding,
    /// who may frame it, and the base of its magic links.
    pub portal: PortalSettings,
    /// `HOOKPOST_KMS_KEY_ID` or `HOOKPOST_SECRETS_KEY`: the master key subscription secrets
    /// are sealed under in DynamoDB. Required wherever the store is DynamoDB.
    pub master_key: Option<MasterKey>,
}

/// The master key behind the secrets sealed at rest.
#[derive(Clone, PartialEq, Eq)]
pub enum MasterKey {
    /// `HOOKPOST_KMS_KEY_ID`: a KMS key's id, ARN or alias (the template's `SecretsKey`).
    Kms(String),
    /// `HOOKPOST_SECRETS_KEY`: 32 bytes from configuration (hookpost-local; a machine
    /// without KMS).
    Configured([u8; 32]),
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Kms(id) => f.debug_tuple("Kms").field(id).finish(),
            Self::Configured(_) => f.write_str("Configured(<redacted>)"),
        }
    }
}

/// The default of `HOOKPOST_QUEUE_VISIBILITY_SECONDS`.
pub const DEFAULT_QUEUE_VISIBILITY_SECS: u32 = 60;
/// The shortest visibility timeout allowed: longer than one attempt (15 s) and its writes.
pub const MIN_QUEUE_VISIBILITY_SECS: u32 = 20;
/// SQS's longest visibility timeout (12 hours).
pub const MAX_QUEUE_VISIBILITY_SECS: u32 = 43_200;

impl Default for Config {
    fn default() -> Self {
        Self {
            table: "hookpost".to_owned(),
            dynamodb_endpoint: None,
            rate_limit_per_minute: DEFAULT_PER_MINUTE,
            max_active_subscriptions: DEFAULT_MAX_ACTIVE,
            destinations: DestinationPolicy::default(),
            resolve: ResolveOverrides::default(),
            retry_schedule: RetrySchedule::default(),
            event_retention_days: DEFAULT_RETENTION_DAYS,
            attempt_retention_days: DEFAULT_RETENTION_DAYS,
            queue_url: None,
            fifo_queue_url: None,
            dead_letter_url: None,
            fifo_dead_letter_url: None,
            default_rate_limit: RateLimit::new(DEFAULT_RATE_LIMIT),
            event_types_strict: false,
            ingest_dead_letter_url: None,
            ingest_trust: hookpost_domain::ingest::IngestTrust::default(),
            sqs_endpoint: None,
            queue_visibility_secs: DEFAULT_QUEUE_VISIBILITY_SECS,
            queue_capacity: hookpost_delivery::queue::DEFAULT_CAPACITY,
            portal: PortalSettings::default(),
            master_key: None,
        }
    }
}

/// A configuration variable whose value cannot be used: which one, and what it must be.
/// A function refuses to start with it rather than run on a guess.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn of(name: &'static str) -> impl FnOnce(String) -> Self {
        move |problem| Self { name, problem }
    }
}

fn parse_positive(name: &'static str, value: &str) -> Result<u32, ConfigError> {
    parsed_if(name, value, |n: &u32| *n > 0, "must be a positive integer")
}

fn parse_within<T>(name: &'static str, value: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    parsed_if(name, value, |n| (&min..=&max).contains(&n), &format!("must be {min} to {max}"))
}

fn parsed_if<T: std::str::FromStr>(
    name: &'static str,
    value: &str,
    accept: impl Fn(&T) -> bool,
    must: &str,
) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|n| accept(n))
        .ok_or_else(|| ConfigError { name, problem: format!("{must}, got `{value}`") })
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(ConfigError { name, problem: format!("must be true or false, got `{value}`") }),
    }
}

impl Config {
    /// Reads the configuration through `get` (the process environment in production).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(table) = get("HOOKPOST_TABLE").filter(|t| !t.trim().is_empty()) {
            config.table = table.trim().to_owned();
        }
        config.dynamodb_endpoint = get("HOOKPOST_DYNAMODB_ENDPOINT").filter(|e| !e.trim().is_empty());
        if let Some(v) = get("HOOKPOST_RATE_LIMIT_PER_MINUTE") {
            config.rate_limit_per_minute = parse_positive("HOOKPOST_RATE_LIMIT_PER_MINUTE", &v)?;
        }
        if let Some(v) = get("HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS") {
            config.max_active_subscriptions = parse_positive("HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS", &v)?;
        }
        if let Some(v) = get("HOOKPOST_ALLOW_HTTP") {
            config.destinations.allow_http = parse_bool("HOOKPOST_ALLOW_HTTP", &v)?;
        }
        if let Some(v) = get("HOOKPOST_ALLOW_CIDRS") {
            config.destinations.allow_cidrs = Cidr::parse_list(&v).map_err(ConfigError::of("HOOKPOST_ALLOW_CIDRS"))?;
        }
        if let Some(v) = get("HOOKPOST_RESOLVE") {
            config.resolve = ResolveOverrides::parse(&v).map_err(ConfigError::of("HOOKPOST_RESOLVE"))?;
        }
        if let Some(v) = get("HOOKPOST_RETRY_SCHEDULE") {
            config.retry_schedule = RetrySchedule::parse(&v).map_err(ConfigError::of("HOOKPOST_RETRY_SCHEDULE"))?;
        }
        if let Some(v) = get("HOOKPOST_EVENT_RETENTION_DAYS") {
            config.event_retention_days = parse_positive("HOOKPOST_EVENT_RETENTION_DAYS", &v)?;
        }
        if let Some(v) = get("HOOKPOST_ATTEMPT_RETENTION_DAYS") {
            config.attempt_retention_days = parse_positive("HOOKPOST_ATTEMPT_RETENTION_DAYS", &v)?;
        }
        config.queue_url = get("HOOKPOST_QUEUE_URL").filter(|q| !q.trim().is_empty());
        config.fifo_queue_url = get("HOOKPOST_FIFO_QUEUE_URL").filter(|q| !q.trim().is_empty());
        config.dead_letter_url = get("HOOKPOST_DEAD_LETTER_URL").filter(|q| !q.trim().is_empty());
        config.fifo_dead_letter_url = get("HOOKPOST_FIFO_DEAD_LETTER_URL").filter(|q| !q.trim().is_empty());
        if let Some(v) = get("HOOKPOST_DEFAULT_RATE_LIMIT") {
            config.default_rate_limit =
                RateLimit::parse_default(&v).map_err(ConfigError::of("HOOKPOST_DEFAULT_RATE_LIMIT"))?;
        }
        config.event_types_strict = match get("HOOKPOST_EVENT_TYPES").as_deref().map(str::trim) {
            None | Some("" | "open") => false,
            Some("strict") => true,
            Some(_) => {
                return Err(ConfigError::of("HOOKPOST_EVENT_TYPES")("must be open or strict".to_owned()));
            }
        };
        config.ingest_dead_letter_url = get("HOOKPOST_INGEST_DEAD_LETTER_URL").filter(|q| !q.trim().is_empty());
        config.ingest_trust = hookpost_domain::ingest::IngestTrust {
            account: get("HOOKPOST_INGEST_ACCOUNT").map(|a| a.trim().to_owned()).filter(|a| !a.is_empty()),
            sources: get("HOOKPOST_INGEST_SOURCES")
                .map(|list| hookpost_domain::ingest::IngestTrust::parse_sources(&list))
                .unwrap_or_default(),
        };
        config.sqs_endpoint = get("HOOKPOST_SQS_ENDPOINT").filter(|e| !e.trim().is_empty());
        if let Some(v) = get("HOOKPOST_QUEUE_VISIBILITY_SECONDS") {
            config.queue_visibility_secs = parse_within(
                "HOOKPOST_QUEUE_VISIBILITY_SECONDS",
                &v,
                MIN_QUEUE_VISIBILITY_SECS,
                MAX_QUEUE_VISIBILITY_SECS,
            )?;
        }
        if let Some(v) = get("HOOKPOST_QUEUE_CAPACITY") {
            config.queue_capacity = parse_within("HOOKPOST_QUEUE_CAPACITY", &v, 1, 10_000_000)?;
        }
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = set("HOOKPOST_PORTAL_PRODUCT_NAME") {
            config.portal.product_name =
                portal::parse_product_name(&v).map_err(ConfigError::of("HOOKPOST_PORTAL_PRODUCT_NAME"))?;
        }
        if let Some(v) = set("HOOKPOST_PORTAL_LOGO_URL") {
            config.portal.logo_url =
                Some(portal::parse_logo_url(&v).map_err(ConfigError::of("HOOKPOST_PORTAL_LOGO_URL"))?);
        }
        if let Some(v) = set("HOOKPOST_PORTAL_ACCENT_COLOR") {
            config.portal.accent_color =
                portal::parse_accent_color(&v).map_err(ConfigError::of("HOOKPOST_PORTAL_ACCENT_COLOR"))?;
        }
        if let Some(v) = set("HOOKPOST_PORTAL_FRAME_ANCESTORS") {
            config.portal.frame_ancestors =
                portal::parse_frame_ancestors(&v).map_err(ConfigError::of("HOOKPOST_PORTAL_FRAME_ANCESTORS"))?;
        }
        if let Some(v) = set("HOOKPOST_PUBLIC_BASE_URL") {
            config.portal.public_base_url =
                Some(portal::parse_public_base_url(&v).map_err(ConfigError::of("HOOKPOST_PUBLIC_BASE_URL"))?);
        }
        config.master_key = match (set("HOOKPOST_KMS_KEY_ID"), set("HOOKPOST_SECRETS_KEY")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::of("HOOKPOST_SECRETS_KEY")(
                    "set either it or HOOKPOST_KMS_KEY_ID, not both".to_owned(),
                ));
            }
            (Some(id), None) => Some(MasterKey::Kms(id.trim().to_owned())),
            (None, Some(key)) => Some(MasterKey::Configured(
                hookpost_domain::sealing::parse_master_key(&key).map_err(ConfigError::of("HOOKPOST_SECRETS_KEY"))?,
            )),
            (None, None) => None,
        };
        Ok(config)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!((c.rate_limit_per_minute, c.max_active_subscriptions, c.table.as_str()), (60, 25, "hookpost"));
        assert!(!c.destinations.allow_http && c.destinations.allow_cidrs.is_empty());
        assert_eq!(c.default_rate_limit.map(RateLimit::per_second), Some(100));
        assert_eq!(c.fifo_queue_url, None);
        assert!(!c.event_types_strict);
    }

    #[test]
    fn event_types_are_open_or_strict() {
        assert!(config(&[("HOOKPOST_EVENT_TYPES", "strict")]).unwrap().event_types_strict);
        assert!(!config(&[("HOOKPOST_EVENT_TYPES", "open")]).unwrap().event_types_strict);
        let refused = config(&[("HOOKPOST_EVENT_TYPES", "loose")]).unwrap_err().to_string();
        assert!(refused.contains("HOOKPOST_EVENT_TYPES"), "{refused}");
    }

    /// template.yaml declares the local-run variables with these values, so that `sam local
    /// --env-vars` may set them: deployed, they must mean exactly what unset means.
    #[test]
    fn the_templates_declared_defaults_are_the_defaults() {
        let declared = config(&[
            ("HOOKPOST_DYNAMODB_ENDPOINT", ""),
            ("HOOKPOST_SQS_ENDPOINT", ""),
            ("HOOKPOST_ALLOW_HTTP", "false"),
            ("HOOKPOST_ALLOW_CIDRS", ""),
            ("HOOKPOST_RESOLVE", ""),
            ("HOOKPOST_PORTAL_PRODUCT_NAME", "hookpost"),
            ("HOOKPOST_PORTAL_LOGO_URL", ""),
            ("HOOKPOST_PORTAL_ACCENT_COLOR", "#2563eb"),
            ("HOOKPOST_PORTAL_FRAME_ANCESTORS", "'none'"),
            ("HOOKPOST_PUBLIC_BASE_URL", ""),
        ])
        .unwrap();
        let unset = config(&[]).unwrap();
        assert_eq!(declared.portal, unset.portal);
        assert_eq!((declared.dynamodb_endpoint, declared.sqs_endpoint), (None, None));
        assert!(!declared.destinations.allow_http && declared.destinations.allow_cidrs.is_empty());
        assert_eq!(declared.resolve, unset.resolve);
    }

    #[test]
    fn reads_every_variable() {
        let c = config(&[
            ("HOOKPOST_TABLE", "t1"),
            ("HOOKPOST_DYNAMODB_ENDPOINT", "http://127.0.0.1:8000"),
            ("HOOKPOST_RATE_LIMIT_PER_MINUTE", "1000"),
            ("HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS", "3"),
            ("HOOKPOST_ALLOW_HTTP", "true"),
            ("HOOKPOST_ALLOW_CIDRS", "127.0.0.0/8, ::1/128"),
            ("HOOKPOST_RESOLVE", "*=192.0.2.1"),
            ("HOOKPOST_RETRY_SCHEDULE", "0,5"),
            ("HOOKPOST_EVENT_RETENTION_DAYS", "7"),
            ("HOOKPOST_ATTEMPT_RETENTION_DAYS", "3"),
            ("HOOKPOST_QUEUE_URL", "http://127.0.0.1:5000/123/q"),
            ("HOOKPOST_FIFO_QUEUE_URL", "http://127.0.0.1:5000/123/q.fifo"),
            ("HOOKPOST_DEFAULT_RATE_LIMIT", "20"),
            ("HOOKPOST_SQS_ENDPOINT", "http://127.0.0.1:5001"),
            ("HOOKPOST_QUEUE_VISIBILITY_SECONDS", "20"),
            ("HOOKPOST_PORTAL_PRODUCT_NAME", "Acme Calls"),
            ("HOOKPOST_PORTAL_LOGO_URL", "https://cdn.acme.example/logo.svg"),
            ("HOOKPOST_PORTAL_ACCENT_COLOR", "#aa3300"),
            ("HOOKPOST_PORTAL_FRAME_ANCESTORS", "https://app.acme.example"),
            ("HOOKPOST_PUBLIC_BASE_URL", "https://hooks.acme.example"),
        ])
        .unwrap();
        assert_eq!(c.portal.product_name, "Acme Calls");
        assert_eq!(c.portal.logo_url.as_ref().map(|u| u.as_str()), Some("https://cdn.acme.example/logo.svg"));
        assert_eq!((c.portal.accent_color.as_str(), c.portal.frame_ancestors.len()), ("#aa3300", 1));
        assert!(c.portal.public_base_url.is_some());
        assert_eq!(c.table, "t1");
        assert_eq!(c.dynamodb_endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!((c.rate_limit_per_minute, c.max_active_subscriptions), (1000, 3));
        assert!(c.destinations.allow_http);
        assert_eq!(c.destinations.allow_cidrs.len(), 2);
        assert_eq!(c.resolve.lookup("crm.example.com"), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(c.retry_schedule.attempts(), 2);
        assert_eq!((c.event_retention_days, c.attempt_retention_days), (7, 3));
        assert_eq!(c.queue_url.as_deref(), Some("http://127.0.0.1:5000/123/q"));
        assert_eq!(c.fifo_queue_url.as_deref(), Some("http://127.0.0.1:5000/123/q.fifo"));
        assert_eq!(c.default_rate_limit, RateLimit::new(20));
        assert_eq!(config(&[("HOOKPOST_DEFAULT_RATE_LIMIT", "0")]).unwrap().default_rate_limit, None);
        assert_eq!((c.sqs_endpoint.as_deref(), c.queue_visibility_secs), (Some("http://127.0.0.1:5001"), 20));
    }

    #[test]
    fn refuses_bad_values() {
        assert!(config(&[("HOOKPOST_RATE_LIMIT_PER_MINUTE", "0")]).is_err());
        assert!(config(&[("HOOKPOST_RATE_LIMIT_PER_MINUTE", "lots")]).is_err());
        assert!(config(&[("HOOKPOST_MAX_ACTIVE_SUBSCRIPTIONS", "-1")]).is_err());
        assert!(config(&[("HOOKPOST_ALLOW_HTTP", "maybe")]).is_err());
        assert!(config(&[("HOOKPOST_ALLOW_CIDRS", "10.0.0.0/99")]).is_err());
        assert!(config(&[("HOOKPOST_RESOLVE", "crm.example.com")]).is_err());
        assert!(config(&[("HOOKPOST_RETRY_SCHEDULE", "0,x")]).is_err());
        assert!(config(&[("HOOKPOST_EVENT_RETENTION_DAYS", "0")]).is_err());
        assert!(config(&[("HOOKPOST_QUEUE_VISIBILITY_SECONDS", "19")]).is_err());
        assert!(config(&[("HOOKPOST_QUEUE_VISIBILITY_SECONDS", "43201")]).is_err());
        assert!(config(&[("HOOKPOST_PORTAL_ACCENT_COLOR", "red")]).is_err());
        assert!(config(&[("HOOKPOST_QUEUE_CAPACITY", "0")]).is_err());
        assert!(config(&[("HOOKPOST_DEFAULT_RATE_LIMIT", "10001")]).is_err());
        assert!(config(&[("HOOKPOST_DEFAULT_RATE_LIMIT", "none")]).is_err());
        assert_eq!(config(&[("HOOKPOST_QUEUE_CAPACITY", "5")]).unwrap().queue_capacity, 5);
        assert!(config(&[("HOOKPOST_PORTAL_LOGO_URL", "http://cdn.example/logo.png")]).is_err());
        assert!(config(&[("HOOKPOST_PORTAL_FRAME_ANCESTORS", "* ; script-src *")]).is_err());
        assert!(config(&[("HOOKPOST_PUBLIC_BASE_URL", "ftp://x")]).is_err());
    }

    #[test]
    fn the_master_key_is_kms_or_configured_never_both_never_shown() {
        assert_eq!(config(&[]).unwrap().master_key, None);
        let kms = config(&[("HOOKPOST_KMS_KEY_ID", "alias/hookpost-secrets")]).unwrap().master_key;
        assert_eq!(kms, Some(MasterKey::Kms("alias/hookpost-secrets".into())));
        let hex = "ab".repeat(32);
        let configured = config(&[("HOOKPOST_SECRETS_KEY", &hex)]).unwrap();
        assert_eq!(configured.master_key, Some(MasterKey::Configured([0xab; 32])));
        assert!(!format!("{configured:?}").contains(&hex) && !format!("{configured:?}").contains("171"));
        let short = config(&[("HOOKPOST_SECRETS_KEY", "c2hvcnQ=")]).unwrap_err().to_string();
        assert!(short.starts_with("HOOKPOST_SECRETS_KEY: must be 32 bytes"), "{short}");
        assert!(config(&[("HOOKPOST_SECRETS_KEY", &hex), ("HOOKPOST_KMS_KEY_ID", "k")]).is_err());
    }
}

//! What hookpost-local is started with: its own variables and arguments on top of the
//! functions' shared configuration.

use std::net::SocketAddr;
use std::time::Duration;

use hookpost_http::Config;
use rand::RngCore;

use crate::StartError;

/// Everything `hookpost-local` is started with.
#[derive(Clone, Debug)]
pub struct Options {
    pub addr: SocketAddr,
    /// The bearer key for `/internal/...`; generated when `None`.
    pub admin_key: Option<String>,
    pub config: Config,
    /// `HOOKPOST_WORKERS`: concurrent delivery workers (default 32).
    pub workers: usize,
    /// `HOOKPOST_SHUTDOWN_GRACE_SECONDS`: how long a SIGTERM waits for requests and
    /// deliveries in flight (default 20).
    pub shutdown_grace: Duration,
    /// `HOOKPOST_OPERATOR_WEBHOOK_URL` and `HOOKPOST_OPERATOR_WEBHOOK_SECRET`: where failure
    /// records and auto-disables are POSTed, signed.
    pub operator_webhook: Option<(String, String)>,
}

pub const DEFAULT_WORKERS: usize = 32;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How long a leased task may take before it is handed out again: past the sender's
/// 15 s total plus the store's writes.
pub const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);

impl Options {
    /// `HOOKPOST_ADDR`, `HOOKPOST_ADMIN_KEY` and the shared configuration variables; the
    /// `--dynamodb-endpoint` and `--sqs-endpoint` arguments override
    /// `HOOKPOST_DYNAMODB_ENDPOINT` and `HOOKPOST_SQS_ENDPOINT`.
    pub fn from_env_and_args(args: &[String]) -> Result<Self, StartError> {
        let mut config = Config::from_env()?;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--dynamodb-endpoint" => {
                    config.dynamodb_endpoint =
                        Some(args.next().ok_or_else(|| setting("--dynamodb-endpoint needs a URL"))?.clone());
                }
                other if other.starts_with("--dynamodb-endpoint=") => {
                    config.dynamodb_endpoint = Some(other["--dynamodb-endpoint=".len()..].to_owned());
                }
                "--sqs-endpoint" => {
                    config.sqs_endpoint =
                        Some(args.next().ok_or_else(|| setting("--sqs-endpoint needs a URL"))?.clone());
                }
                other if other.starts_with("--sqs-endpoint=") => {
                    config.sqs_endpoint = Some(other["--sqs-endpoint=".len()..].to_owned());
                }
                other => return Err(setting(format!("unknown argument `{other}` (try --help)"))),
            }
        }
        let addr = std::env::var("HOOKPOST_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
        let addr = addr.parse().map_err(|_| setting(format!("HOOKPOST_ADDR must be host:port, got `{addr}`")))?;
        let admin_key = match std::env::var("HOOKPOST_ADMIN_KEY").ok().filter(|k| !k.trim().is_empty()) {
            Some(key) if key.trim().chars().count() < MIN_ADMIN_KEY_CHARS => {
                return Err(setting(format!(
                    "HOOKPOST_ADMIN_KEY must be at least {MIN_ADMIN_KEY_CHARS} characters (it has {}): it opens every \
                     account. Leave it unset to have one generated and printed, or make one with `openssl rand -hex 32`",
                    key.trim().chars().count()
                )))
            }
            key => key.map(|k| k.trim().to_owned()),
        };
        let workers = match std::env::var("HOOKPOST_WORKERS") {
            Ok(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| setting(format!("HOOKPOST_WORKERS must be 1 to 1024, got `{v}`")))?,
            Err(_) => DEFAULT_WORKERS,
        };
        let shutdown_grace =
            match std::env::var("HOOKPOST_SHUTDOWN_GRACE_SECONDS") {
                Ok(v) => {
                    v.trim().parse::<u64>().ok().filter(|s| *s <= 3600).map(Duration::from_secs).ok_or_else(|| {
                        setting(format!("HOOKPOST_SHUTDOWN_GRACE_SECONDS must be 0 to 3600, got `{v}`"))
                    })?
                }
                Err(_) => DEFAULT_SHUTDOWN_GRACE,
            };
        let operator_webhook = match std::env::var("HOOKPOST_OPERATOR_WEBHOOK_URL").ok().filter(|u| !u.is_empty()) {
            None => None,
            Some(url) => {
                let secret = std::env::var("HOOKPOST_OPERATOR_WEBHOOK_SECRET").map_err(|_| {
                    setting(
                        "HOOKPOST_OPERATOR_WEBHOOK_URL needs HOOKPOST_OPERATOR_WEBHOOK_SECRET (a whsec_ secret) to sign \
                         with",
                    )
                })?;
                Some((url, secret))
            }
        };
        Ok(Self { addr, admin_key, config, workers, shutdown_grace, operator_webhook })
    }
}

/// The shortest admin key accepted: it is a bearer credential for every account's data.
pub const MIN_ADMIN_KEY_CHARS: usize = 32;

fn setting(problem: impl Into<String>) -> StartError {
    StartError::Setting(problem.into())
}

pub fn generate_admin_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("hp_admin_{}", hex::encode(bytes))
}

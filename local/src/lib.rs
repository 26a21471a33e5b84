//! `hookpost-local`: every function's handler mounted on its route in one process, the same
//! `lambda_http::Request` each Lambda receives — authorizer context included, produced by
//! the authorizer's own code on every request (never cached, so revocation is immediate).
//!
//! `options` reads what it is started with, `log_lines` writes its log lines together, `open` the store and the delivery queue it asks
//! for, `lifecycle` starts, drains and stops the server and its workers, `server` turns each
//! HTTP request into the Lambda request API Gateway would send.

pub mod durable;
mod lifecycle;
pub mod log_lines;
mod open;
mod options;
pub mod parse_errors;
pub mod routes;
mod server;

pub use lifecycle::{shutdown_signal, spawn_delivery, start, start_with_app, Drained, Running, SWEEP_EVERY};
pub use open::{open_app, open_delivery, Delivery};
pub use options::{generate_admin_key, Options, DEFAULT_SHUTDOWN_GRACE, DEFAULT_WORKERS, VISIBILITY_TIMEOUT};
pub use server::prometheus;

/// Why hookpost-local cannot start: a setting, its store, its queue or its address.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] hookpost_http::config::ConfigError),
    /// An argument or a variable of hookpost-local's own that cannot be used.
    #[error("{0}")]
    Setting(String),
    #[error("DynamoDB at {endpoint}: {source}")]
    Store { endpoint: String, source: hookpost_store::StoreError },
    #[error(
        "with its state in DynamoDB, hookpost-local seals endpoint secrets (signing secrets, credentials, custom \
         header values) under a key: set HOOKPOST_SECRETS_KEY to 32 random bytes in base64 (e.g. the output of \
         `openssl rand -base64 32`), and keep it — what was sealed under it opens only with it; or HOOKPOST_KMS_KEY_ID \
         for a KMS key"
    )]
    NoMasterKey,
    #[error(
        "the delivery queue at {at}: {source}. With its state in DynamoDB, hookpost-local keeps its delivery queue \
         on SQS so that no accepted event is lost in a crash; point --sqs-endpoint (HOOKPOST_SQS_ENDPOINT) at an \
         SQS-compatible server (moto serves both)"
    )]
    Queue { at: String, source: durable::SqsError },
    #[error("operator events: {0}")]
    OperatorWebhook(#[from] hookpost_delivery::operator::WebhookSetupError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
}

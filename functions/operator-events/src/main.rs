//! Lambda wiring only; the handler is in lib.rs.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let bus = Arc::new(operator_events::EventBridgeBus::from_env()?);
    hookpost_http::serve_events(move |_app, event| {
        let bus = Arc::clone(&bus);
        async move { operator_events::handle(bus.as_ref(), event).await }
    })
    .await
}

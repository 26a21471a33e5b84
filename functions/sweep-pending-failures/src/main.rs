//! Lambda wiring only: tracing, configuration and clients once, then the handler.

use std::sync::Arc;

use lambda_http::lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = Arc::new(hookpost_http::App::from_env().await?);
    run(service_fn(move |event: LambdaEvent<_>| {
        let app = Arc::clone(&app);
        async move { sweep_pending_failures::handle(&app, event).await }
    }))
    .await
}

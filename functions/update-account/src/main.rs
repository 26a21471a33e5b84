//! Lambda wiring only: tracing, configuration and clients once, then the handler.

use std::sync::Arc;

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = Arc::new(hookpost_http::App::from_env().await?);
    run(service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, Error>(update_account::handle(&app, req).await) }
    }))
    .await
}

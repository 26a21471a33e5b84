//! Lambda wiring only; the handler is in lib.rs so hookpost-local mounts the same code.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::open_sealed_secrets();
    hookpost_http::serve(|app, req| async move { reactivate_webhook_subscription::handle(&app, req).await }).await
}

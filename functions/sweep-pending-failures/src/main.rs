//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::serve_events(|app, event| async move { sweep_pending_failures::handle(&app, event).await }).await
}

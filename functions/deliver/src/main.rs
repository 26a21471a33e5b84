//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::open_sealed_secrets();
    hookpost_http::serve_events_delivering(|app, event| async move { deliver::handle(&app, event).await }).await
}

//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::serve_events_measured(|app, event| async move { dead_letter::handle(&app, event).await }).await
}

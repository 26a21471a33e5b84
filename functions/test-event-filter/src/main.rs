//! Lambda wiring only; the handler is in lib.rs so hookpost-local mounts the same code.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::serve(|app, req| async move { test_event_filter::handle(&app, req).await }).await
}

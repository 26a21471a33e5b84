//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::serve(|app, req| async move { method_not_allowed::handle(&app, req).await }).await
}

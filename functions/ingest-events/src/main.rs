//! Lambda wiring only; the handler is in lib.rs.

use ingest_events::SqsRejections;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::open_sealed_secrets();
    hookpost_http::serve_events_measured_cataloguing(|app, event| async move {
        let rejections = SqsRejections::of(&app);
        ingest_events::handle(&app, &rejections, event).await
    })
    .await
}

//! Lambda wiring only; the handler is in lib.rs. Invoked every minute by its schedule: it
//! drains the dead-letter queues its configuration names.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    hookpost_http::open_sealed_secrets();
    hookpost_http::serve_events_measured(|app, _event: lambda_http::LambdaEvent<serde_json::Value>| async move {
        let queues: Vec<String> = [app.config.dead_letter_url.clone(), app.config.fifo_dead_letter_url.clone()]
            .into_iter()
            .flatten()
            .collect();
        let sqs = app.sqs().ok_or("the dead-letter function has no SQS client")?;
        dead_letter::drain(&app, sqs, &queues).await
    })
    .await
}

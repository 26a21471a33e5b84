//! The scheduled sweeper (EventBridge, every 5 minutes): retriggers without an outcome for
//! 15 minutes return to inactive with reason `retrigger_lost`.

use hookpost_delivery::sweep::return_lost_retriggers;
use hookpost_http::App;
use lambda_http::lambda_runtime::LambdaEvent;
use lambda_http::Error;
use serde_json::{json, Value};

pub async fn handle(app: &App, _event: LambdaEvent<Value>) -> Result<Value, Error> {
    let returned = return_lost_retriggers(app.store.as_ref(), app.clock.now()).await.map_err(|e| e.to_string())?;
    tracing::info!(log = "sweep", returned, "swept lost retriggers");
    Ok(json!({"returned": returned}))
}

//! `GET /internal/v1/accounts/{id}/usage?from=&to=` (operator): what an account used, hour
//! by hour and in total — events published, deliveries, attempts, failures, bytes delivered
//! and their estimated AWS cost — from the hourly counters publish and delivery add to once
//! per request or batch. Hours starting in [`from`, `to`) (RFC 3339; by default the 24 hours
//! up to and including the current one; any range, bounded by the 400 days counters are
//! kept); hours with no usage are left out.

use hookpost_domain::usage::{range, Usage, UsageView};
use hookpost_domain::Timestamp;
use hookpost_http::parse::{account_id, Query};
use hookpost_http::{routes, App, Found, Reply};
use lambda_http::{Body, Request, Response};
use serde::Serialize;

#[derive(Serialize)]
struct Hour {
    hour: Timestamp,
    #[serde(flatten)]
    usage: UsageView,
}

#[derive(Serialize)]
struct Report {
    account_id: hookpost_domain::AccountId,
    from: Timestamp,
    to: Timestamp,
    totals: UsageView,
    hours: Vec<Hour>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::GET_ACCOUNT_USAGE, &req, async {
        let id = account_id(&req)?;
        let mut query = Query::new(&req, &["from", "to"]);
        let (from, to) = (query.timestamp("from"), query.timestamp("to"));
        query.finish()?;
        let (from, to) = range(from, to, app.clock.now());
        let account = app.store.get_account(id).await.found("account")?;
        let hours = app.store.usage_between(account.id, from, to).await?;
        let mut totals = Usage::default();
        for (_, usage) in &hours {
            totals += *usage;
        }
        let hours = hours.into_iter().map(|(hour, usage)| Hour { hour, usage: usage.into() }).collect();
        Reply::json(200, &Report { account_id: account.id, from, to, totals: totals.into(), hours })
    })
    .await
}

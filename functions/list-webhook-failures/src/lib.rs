//! `GET /api/v4/tasks/webhook_failures`: newest first; `limit` 1–100 (default 100),
//! `offset`, `created_at[gte]`, `created_at[lt]` (RFC 3339), `status` (one or several,
//! comma-separated; default `inactive,pending`). A page and a time range are one Query over
//! the time-ordered failure ids.

use hookpost_domain::failure::{FailureQuery, FailureStatus, FailureView};
use hookpost_http::parse::Query;
use hookpost_http::{routes, App, PageReply, Reply};
use lambda_http::{Body, Request, Response};

/// Reads the listing's query string.
pub fn parse_query(req: &Request) -> Result<FailureQuery, hookpost_domain::ApiError> {
    let mut query = Query::new(req, &["limit", "offset", "created_at[gte]", "created_at[lt]", "status"]);
    let mut q = FailureQuery::open();
    (q.limit, q.offset) = query.page(hookpost_domain::paging::FAILURES_DEFAULT_LIMIT);
    q.created_gte = query.timestamp("created_at[gte]");
    q.created_lt = query.timestamp("created_at[lt]");
    if let Some(raw) = query.get("status") {
        let statuses: Option<Vec<FailureStatus>> = raw.split(',').map(FailureStatus::parse).collect();
        match statuses {
            Some(statuses) if !statuses.is_empty() => q.statuses = statuses,
            _ => query.issue("status", format!("must be one or more of {}, comma-separated", FailureStatus::choices())),
        }
    }
    query.finish()?;
    Ok(q)
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let req = &req;
    app.respond(&routes::LIST_WEBHOOK_FAILURES, req, |caller| async move {
        let query = parse_query(req)?;
        let page = if query.selects_nothing() {
            hookpost_store::Page { items: Vec::new(), total: 0 }
        } else {
            app.store.query_failures(caller.account_id, &query).await?
        };
        let failures: Vec<FailureView<'_>> = page.items.iter().map(|f| f.view()).collect();
        Reply::json(
            200,
            &PageReply {
                items_key: "webhook_failures",
                items: &failures,
                meta_key: "metadata",
                total: page.total,
                limit: query.limit,
                offset: query.offset,
            },
        )
    })
    .await
}

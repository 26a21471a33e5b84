//! `PATCH /internal/v1/accounts/{id}` (operator): `{plan}` and/or `{name}` → 200 the account.
//! Tokens carry the plan in the authorizer's cached context, so in AWS a plan change reaches
//! the gate within the 300 s cache time.

use hookpost_domain::input::Fields;
use hookpost_domain::Account;
use hookpost_http::parse::{account_id, json_body};
use hookpost_http::{routes, App, OrNotFound, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::UPDATE_ACCOUNT, &req, async {
        let id = account_id(&req)?;
        let mut fields = Fields::from_value(json_body(&req)?)?;
        let (name, plan) = Account::read_fields(&mut fields, false);
        if name.is_none() && plan.is_none() && !fields.has_issues() {
            fields.issue("body", "give name and/or plan");
        }
        fields.finish()?;
        let account = app.store.update_account(id, name, plan).await.or_not_found("account")?;
        Reply::json(200, &account.operator_view())
    })
    .await
}

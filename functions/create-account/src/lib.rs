//! `POST /internal/v1/accounts` (operator): `{name, plan}` → 201 `{id, name, plan, created_at}`.

use hookpost_domain::input::Fields;
use hookpost_domain::{Account, AccountId, ApiError, Plan};
use hookpost_http::parse::json_body;
use hookpost_http::{App, Reply};
use lambda_http::{Body, Request, Response};
use serde_json::json;

/// The operator's view of an account, shared by create and update.
pub fn account_json(account: &Account) -> serde_json::Value {
    json!({"id": account.id, "name": account.name, "plan": account.plan, "created_at": account.created_at})
}

/// Reads `name` and `plan` from an account body; `required` says whether both must be there.
pub fn read_account_fields(fields: &mut Fields, required: bool) -> (Option<String>, Option<Plan>) {
    let name = if required { fields.required_string("name") } else { fields.opt_string_not_null("name") };
    let name = name.and_then(|n| match Account::validate_name(&n) {
        Ok(n) => Some(n),
        Err(msg) => {
            fields.issue("name", msg);
            None
        }
    });
    let plan = if required { fields.required_string("plan") } else { fields.opt_string_not_null("plan") };
    let plan = plan.and_then(|p| {
        let parsed = Plan::parse(&p);
        if parsed.is_none() {
            fields.issue("plan", format!("must be one of {}", Plan::choices()));
        }
        parsed
    });
    (name, plan)
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(async {
        let mut fields = Fields::from_value(json_body(&req)?)?;
        let (name, plan) = read_account_fields(&mut fields, true);
        fields.finish()?;
        let (Some(name), Some(plan)) = (name, plan) else {
            return Err(ApiError::Internal);
        };
        let account = Account { id: AccountId::new(), name, plan, created_at: app.clock.now() };
        app.store.create_account(&account).await?;
        Reply::json(201, &account_json(&account))
    })
    .await
}

//! `POST /internal/v1/accounts` (operator): `{name, plan}` → 201 `{id, name, plan, created_at}`.

use hookpost_domain::input::Fields;
use hookpost_domain::{Account, AccountId, ApiError};
use hookpost_http::parse::json_body;
use hookpost_http::{routes, App, Reply};
use lambda_http::{Body, Request, Response};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    app.respond_internal(&routes::CREATE_ACCOUNT, &req, async {
        let mut fields = Fields::from_value(json_body(&req)?)?;
        let (name, plan) = Account::read_fields(&mut fields, true);
        fields.finish()?;
        let (Some(name), Some(plan)) = (name, plan) else {
            return Err(ApiError::Internal);
        };
        let account = Account { id: AccountId::new(), name, plan, created_at: app.clock.now() };
        app.store.create_account(&account).await?;
        Reply::json(201, &account.operator_view())
    })
    .await
}

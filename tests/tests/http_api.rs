//! hookpost-local over real HTTP, every route and every error it can return, on both
//! stores. Each test starts its own server (and, on DynamoDB, its own table).

use hookpost_http::Config;
use hookpost_tests::{config, on_both_stores, Call, StoreKind, TestServer};
use serde_json::{json, Value};

const READ: &str = "tasks.webhooks.read";
const MANAGE: &str = "tasks.webhooks.manage";
const SUBS: &str = "/api/v1/webhook-subscriptions";

macro_rules! server {
    ($kind:expr) => {
        server!($kind, config())
    };
    ($kind:expr, $config:expr) => {
        TestServer::start($kind, $config).await
    };
}

const SEED_FIELDS: &[&str] = &[
    "id",
    "url",
    "secret_prefix",
    "channel_id",
    "channel_type",
    "source",
    "zapier_subscription_id",
    "is_active",
    "consecutive_failures",
    "last_delivery_at",
    "last_success_at",
    "last_error",
    "created_at",
    "created_by_user_id",
];

fn assert_timestamp(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"));
    assert_eq!(s.len(), 20, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[10] == b'T', "{s}");
}

async fn admin_routes_need_the_admin_key(kind: StoreKind) {
    let s = server!(kind);
    let (account, pat) = s.customer().await;
    let body = json!({"name": "x", "plan": "pro"});
    s.call("POST", "/internal/v1/accounts", None, body.clone()).await.assert_error(401, "unauthorized");
    s.call("POST", "/internal/v1/accounts", Some("wrong"), body.clone()).await.assert_error(401, "unauthorized");
    s.call("POST", "/internal/v1/accounts", Some(&pat), body.clone()).await.assert_error(401, "unauthorized");
    s.call("PATCH", &format!("/internal/v1/accounts/{account}"), Some(&pat), json!({"plan": "free"}))
        .await
        .assert_error(401, "unauthorized");
    s.stop().await;
}

async fn operator_api_shapes_and_errors(kind: StoreKind) {
    let s = server!(kind);
    let created = s.admin("POST", "/internal/v1/accounts", json!({"name": "Acme", "plan": "starter"})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let keys: Vec<&String> = created.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "name", "plan", "created_at"]);
    assert_timestamp(&created.body["created_at"]);
    let id = created.body["id"].as_str().unwrap().to_owned();

    s.admin("POST", "/internal/v1/accounts", json!({"name": "Acme", "plan": "gold"}))
        .await
        .assert_error(400, "validation_error");
    s.admin("POST", "/internal/v1/accounts", json!({"plan": "pro"})).await.assert_error(400, "validation_error");
    s.admin("POST", "/internal/v1/accounts", json!({"name": "A", "plan": "pro", "x": 1}))
        .await
        .assert_error(400, "validation_error");
    let no_type = s
        .send(Call {
            method: "POST",
            path: "/internal/v1/accounts",
            bearer: Some(hookpost_tests::ADMIN_KEY),
            content_type: None,
            body: Some("{}".into()),
        })
        .await;
    no_type.assert_error(415, "unsupported_media_type");
    let broken = s
        .send(Call {
            method: "POST",
            path: "/internal/v1/accounts",
            bearer: Some(hookpost_tests::ADMIN_KEY),
            content_type: Some("application/json"),
            body: Some("{\"name\": ".into()),
        })
        .await;
    broken.assert_error(400, "invalid_json");

    let updated = s.admin("PATCH", &format!("/internal/v1/accounts/{id}"), json!({"plan": "enterprise"})).await;
    assert_eq!((updated.status, updated.body["plan"].as_str()), (200, Some("enterprise")));
    assert_eq!(updated.body["name"], "Acme");
    let renamed = s.admin("PATCH", &format!("/internal/v1/accounts/{id}"), json!({"name": "Acme 2"})).await;
    assert_eq!((renamed.body["name"].as_str(), renamed.body["plan"].as_str()), (Some("Acme 2"), Some("enterprise")));
    for bad in [json!({}), json!({"plan": null}), json!({"name": null}), json!({"name": "ok", "plan": null})] {
        s.admin("PATCH", &format!("/internal/v1/accounts/{id}"), bad).await.assert_error(400, "validation_error");
    }
    let unknown = hookpost_domain::AccountId::new();
    s.admin("PATCH", &format!("/internal/v1/accounts/{unknown}"), json!({"plan": "pro"}))
        .await
        .assert_error(404, "not_found");
    s.admin("PATCH", "/internal/v1/accounts/not-an-id", json!({"plan": "pro"})).await.assert_error(404, "not_found");

    let channel = s
        .admin(
            "POST",
            &format!("/internal/v1/accounts/{id}/channels"),
            json!({"channel_id": "dom_1", "channel_type": "domain"}),
        )
        .await;
    assert_eq!((channel.status, &channel.body), (201, &json!({"channel_id": "dom_1", "channel_type": "domain"})));
    s.admin(
        "POST",
        &format!("/internal/v1/accounts/{id}/channels"),
        json!({"channel_id": "dom_1", "channel_type": "campaign"}),
    )
    .await
    .assert_error(409, "invalid_state");
    s.admin(
        "POST",
        &format!("/internal/v1/accounts/{id}/channels"),
        json!({"channel_id": "x y", "channel_type": "domain"}),
    )
    .await
    .assert_error(400, "validation_error");
    s.admin(
        "POST",
        &format!("/internal/v1/accounts/{id}/channels"),
        json!({"channel_id": "c", "channel_type": "email"}),
    )
    .await
    .assert_error(400, "validation_error");
    s.admin(
        "POST",
        &format!("/internal/v1/accounts/{unknown}/channels"),
        json!({"channel_id": "c", "channel_type": "domain"}),
    )
    .await
    .assert_error(404, "not_found");

    let token = s
        .admin(
            "POST",
            &format!("/internal/v1/accounts/{id}/tokens"),
            json!({"scopes": [READ], "user_id": "u_7", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(token.status, 201, "{}", token.text);
    let keys: Vec<&String> = token.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["id", "token", "scopes", "user_id", "expires_at", "created_at"]);
    assert!(token.body["token"].as_str().unwrap().starts_with("hp_pat_"));
    assert_eq!(token.body["token"].as_str().unwrap().len(), 71);
    assert_eq!((&token.body["scopes"], &token.body["user_id"]), (&json!([READ]), &json!("u_7")));
    assert_timestamp(&token.body["expires_at"]);
    for bad in [
        json!({}),
        json!({"scopes": ["admin"]}),
        json!({"scopes": [READ], "expires_in_days": 0}),
        json!({"scopes": "read"}),
        json!({"scopes": []}),
    ] {
        s.admin("POST", &format!("/internal/v1/accounts/{id}/tokens"), bad).await.assert_error(400, "validation_error");
    }
    s.admin("POST", &format!("/internal/v1/accounts/{unknown}/tokens"), json!({"scopes": [READ]}))
        .await
        .assert_error(404, "not_found");

    let token_id = token.body["id"].as_str().unwrap();
    let pat = token.body["token"].as_str().unwrap();
    assert_eq!(s.call("GET", "/api/v1/me", Some(pat), Value::Null).await.status, 200);
    let revoked = s.admin("DELETE", &format!("/internal/v1/accounts/{id}/tokens/{token_id}"), Value::Null).await;
    assert_eq!((revoked.status, revoked.text.as_str()), (204, ""));
    s.call("GET", "/api/v1/me", Some(pat), Value::Null).await.assert_error(401, "unauthorized");
    assert_eq!(
        s.admin("DELETE", &format!("/internal/v1/accounts/{id}/tokens/{token_id}"), Value::Null).await.status,
        204
    );
    s.admin("DELETE", &format!("/internal/v1/accounts/{unknown}/tokens/{token_id}"), Value::Null)
        .await
        .assert_error(404, "not_found");
    s.admin("DELETE", &format!("/internal/v1/accounts/{id}/tokens/nope"), Value::Null)
        .await
        .assert_error(404, "not_found");
    s.stop().await;
}

async fn me_needs_a_token_but_no_plan_or_scope(kind: StoreKind) {
    let s = server!(kind);
    let (account, pat) = s.tenant("free", &[READ]).await;
    let me = s.call("GET", "/api/v1/me", Some(&pat), Value::Null).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(
        me.body,
        json!({"account_id": account, "account_name": "Tenant", "plan_name": "free", "plan_tier_index": 0, "scopes": [READ]})
    );
    let (_, paid) = s.tenant("enterprise", &[READ, MANAGE]).await;
    let me = s.call("GET", "/api/v1/me", Some(&paid), Value::Null).await;
    assert_eq!((me.body["plan_tier_index"].as_u64(), &me.body["scopes"]), (Some(4), &json!([READ, MANAGE])));
    s.call("GET", "/api/v1/me", None, Value::Null).await.assert_error(401, "unauthorized");
    s.stop().await;
}

async fn gate_order_is_401_then_plan_then_scope_then_rate(kind: StoreKind) {
    let s = server!(kind, Config { rate_limit_per_minute: 3, ..Config::default() });
    let fake = format!("hp_pat_{}", "0".repeat(64));
    for bearer in [None, Some("garbage"), Some(fake.as_str())] {
        for _ in 0..5 {
            s.call("GET", SUBS, bearer, Value::Null).await.assert_error(401, "unauthorized");
        }
    }
    let (_, free_read) = s.tenant("free", &[READ]).await;
    let (_, free_all) = s.tenant("free", &[READ, MANAGE]).await;
    for _ in 0..5 {
        s.call("GET", SUBS, Some(&free_read), Value::Null).await.assert_error(403, "plan_required");
        // A free caller never sees 429: the one route it may call is not counted for it.
        let me = s.call("GET", "/api/v1/me", Some(&free_all), Value::Null).await;
        assert_eq!(me.status, 200, "{}", me.text);
        s.call("POST", SUBS, Some(&free_all), json!({"url": "https://e.com"})).await.assert_error(403, "plan_required");
    }
    let (_, manage_only) = s.tenant("pro", &[MANAGE]).await;
    let (_, read_only) = s.tenant("pro", &[READ]).await;
    for _ in 0..5 {
        s.call("GET", SUBS, Some(&manage_only), Value::Null).await.assert_error(403, "insufficient_scope");
        s.call("POST", SUBS, Some(&read_only), json!({"url": "https://e.com"}))
            .await
            .assert_error(403, "insufficient_scope");
        s.call("DELETE", &format!("{SUBS}/x"), Some(&read_only), Value::Null)
            .await
            .assert_error(403, "insufficient_scope");
    }

    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = s.call("GET", SUBS, Some(&read_only), Value::Null).await;
        statuses.push(res.status);
        if res.status == 200 {
            assert_eq!(res.header("ratelimit-limit"), Some("3"));
        } else {
            res.assert_error(429, "rate_limited");
            let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry));
            assert_eq!((res.header("ratelimit-limit"), res.header("ratelimit-remaining")), (Some("3"), Some("0")));
            assert!(res.header("ratelimit-reset").is_some());
        }
    }
    // The window may roll over between requests; at most 3 pass in one window.
    assert!(statuses.iter().filter(|s| **s == 200).count() <= 6 && statuses.contains(&429), "{statuses:?}");
    // Another endpoint has its own counter.
    assert_eq!(
        s.call("GET", &format!("{SUBS}/{}", hookpost_domain::SubscriptionId::new()), Some(&read_only), Value::Null)
            .await
            .status,
        404
    );
    s.stop().await;
}

async fn subscription_lifecycle(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat) = s.tenant("pro", &[READ, MANAGE]).await;
    let created = s
        .create_subscription(
            &pat,
            json!({"url": "https://crm.example.com/hooks", "name": "CRM call events", "events": ["call.ended"],
                   "headers": {"x-api-key": "hdr-secret"}, "authentication": {"method": "bearer", "token": "auth-secret"}}),
        )
        .await;
    for field in SEED_FIELDS.iter().chain(&["name", "events", "disabled_reason", "secret"]) {
        assert!(created.get(*field).is_some(), "{field} missing");
    }
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["secret_prefix"].as_str().unwrap(), &secret[..12]);
    assert_eq!(created["is_active"], true);
    assert_eq!(created["consecutive_failures"], 0);
    assert_eq!(created["source"], "dashboard");
    assert_eq!(created["name"], "CRM call events");
    assert_eq!(created["created_by_user_id"], Value::Null);
    assert_timestamp(&created["created_at"]);
    assert!(!created.to_string().contains("auth-secret") && !created.to_string().contains("hdr-secret"));
    let id = created["id"].as_str().unwrap();

    let got = s.call("GET", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    assert_eq!(got.status, 200);
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("secret");
    assert_eq!(got.body, expected);
    assert!(!got.text.contains(&secret) && !got.text.contains("auth-secret") && !got.text.contains("hdr-secret"));

    let patched = s
        .call(
            "PATCH",
            &format!("{SUBS}/{id}"),
            Some(&pat),
            json!({"url": "https://crm.example.com/v2", "events": [], "name": "CRM"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        (patched.body["url"].as_str(), patched.body["name"].as_str()),
        (Some("https://crm.example.com/v2"), Some("CRM"))
    );
    assert_eq!(patched.body["events"], json!([]));
    assert!(!patched.text.contains(&secret));
    for immutable in ["channel_id", "channel_type", "source"] {
        s.call("PATCH", &format!("{SUBS}/{id}"), Some(&pat), json!({ immutable: null }))
            .await
            .assert_error(400, "validation_error");
    }
    s.call("PATCH", &format!("{SUBS}/{id}"), Some(&pat), json!({"url": "http://crm.example.com"}))
        .await
        .assert_error(400, "invalid_url");

    let list = s.call("GET", SUBS, Some(&pat), Value::Null).await;
    assert_eq!(list.body["pagination"], json!({"total": 1, "limit": 25, "offset": 0}));
    assert!(!list.text.contains(&secret));

    s.call("POST", &format!("{SUBS}/{id}/reactivate"), Some(&pat), Value::Null)
        .await
        .assert_error(409, "invalid_state");
    let deleted = s.call("DELETE", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    assert_eq!(s.call("DELETE", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await.status, 204);
    let gone = s.call("GET", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await;
    assert_eq!(
        (gone.body["is_active"].as_bool(), gone.body["disabled_reason"].as_str()),
        (Some(false), Some("deleted"))
    );

    // A no-body POST takes nothing, `{}`, or either with any content type.
    let with_junk = s
        .send(Call {
            method: "POST",
            path: &format!("{SUBS}/{id}/reactivate"),
            bearer: Some(&pat),
            content_type: Some("text/plain"),
            body: Some("{\"a\":1}".into()),
        })
        .await;
    with_junk.assert_error(400, "validation_error");
    let back = s
        .send(Call {
            method: "POST",
            path: &format!("{SUBS}/{id}/reactivate"),
            bearer: Some(&pat),
            content_type: Some("text/plain"),
            body: Some("{}".into()),
        })
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!((back.body["is_active"].as_bool(), &back.body["disabled_reason"]), (Some(true), &Value::Null));
    assert!(!back.text.contains(&secret));
    s.stop().await;
}

async fn reactivation_expires_after_90_days(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat) = s.customer().await;
    let id = s.create_subscription(&pat, json!({"url": "https://e.com/a"})).await["id"].as_str().unwrap().to_owned();
    assert_eq!(s.call("DELETE", &format!("{SUBS}/{id}"), Some(&pat), Value::Null).await.status, 204);
    s.clock.advance(90 * 86_400 + 1);
    s.call("POST", &format!("{SUBS}/{id}/reactivate"), Some(&pat), Value::Null)
        .await
        .assert_error(409, "invalid_state");
    s.stop().await;
}

async fn the_26th_active_subscription_is_refused(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat) = s.customer().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            s.create_subscription(&pat, json!({"url": format!("https://e.com/{i}")})).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    s.call("POST", SUBS, Some(&pat), json!({"url": "https://e.com/26"})).await.assert_error(409, "limit_reached");
    assert_eq!(s.call("DELETE", &format!("{SUBS}/{}", ids[0]), Some(&pat), Value::Null).await.status, 204);
    let replacement = s.create_subscription(&pat, json!({"url": "https://e.com/26"})).await;
    assert_eq!(replacement["is_active"], true);
    s.call("POST", &format!("{SUBS}/{}/reactivate", ids[0]), Some(&pat), Value::Null)
        .await
        .assert_error(409, "limit_reached");
    let total = s.call("GET", &format!("{SUBS}?is_active=true"), Some(&pat), Value::Null).await;
    assert_eq!(total.body["pagination"]["total"], 25);
    s.stop().await;
}

async fn url_rules_give_invalid_url(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat) = s.customer().await;
    let long = format!("https://e.com/{}", "a".repeat(2048));
    for url in [
        "http://example.com/h",
        "ftp://example.com",
        "https://user:pass@example.com/",
        "https://localhost/h",
        "https://api.localhost/h",
        "https://printer.local/h",
        "https://metadata.google.internal/",
        "https://127.0.0.1/h",
        "https://10.1.2.3/h",
        "https://169.254.169.254/latest",
        "https://[::1]/h",
        "https://[::ffff:10.0.0.1]/h",
        "https://192.168.0.1/",
        "not a url",
        long.as_str(),
    ] {
        s.call("POST", SUBS, Some(&pat), json!({ "url": url })).await.assert_error(400, "invalid_url");
    }
    s.stop().await;
}

async fn operator_can_open_http_and_ranges(kind: StoreKind) {
    let mut cfg = config();
    cfg.destinations.allow_http = true;
    cfg.destinations.allow_cidrs = hookpost_domain::Cidr::parse_list("127.0.0.0/8").unwrap();
    let s = server!(kind, cfg);
    let (_, pat) = s.customer().await;
    s.create_subscription(&pat, json!({"url": "http://127.0.0.1:9000/hook"})).await;
    s.call("POST", SUBS, Some(&pat), json!({"url": "http://10.0.0.1/hook"})).await.assert_error(400, "invalid_url");
    s.stop().await;
}

async fn channels_must_belong_to_the_account(kind: StoreKind) {
    let s = server!(kind);
    let (account, pat) = s.customer().await;
    let (other, _) = s.customer().await;
    for (acc, id, ty) in [(&account, "camp_1", "campaign"), (&other, "dom_other", "domain")] {
        let res = s
            .admin(
                "POST",
                &format!("/internal/v1/accounts/{acc}/channels"),
                json!({"channel_id": id, "channel_type": ty}),
            )
            .await;
        assert_eq!(res.status, 201);
    }
    let sub = s.create_subscription(&pat, json!({"url": "https://e.com", "channel_id": "camp_1"})).await;
    assert_eq!((sub["channel_id"].as_str(), sub["channel_type"].as_str()), (Some("camp_1"), Some("campaign")));
    for channel in ["dom_other", "unknown", "bad id!"] {
        s.call("POST", SUBS, Some(&pat), json!({"url": "https://e.com", "channel_id": channel}))
            .await
            .assert_error(400, "invalid_channel_id");
    }
    s.stop().await;
}

async fn bad_bodies_are_refused_clearly(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat) = s.customer().await;
    let res = s
        .call("POST", SUBS, Some(&pat), json!({"url": "https://e.com", "colour": "red", "events": "all", "name": 5}))
        .await;
    res.assert_error(400, "validation_error");
    let fields: Vec<&str> =
        res.body["issues"].as_array().unwrap().iter().map(|i| i["field"].as_str().unwrap()).collect();
    for f in ["colour", "events", "name"] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
    for body in ["[]", "\"x\"", "null"] {
        let res = s
            .send(Call {
                method: "POST",
                path: SUBS,
                bearer: Some(&pat),
                content_type: Some("application/json"),
                body: Some(body.into()),
            })
            .await;
        res.assert_error(400, "validation_error");
    }
    for body in ["{", "", "{\"url\": }", "\u{0}"] {
        let res = s
            .send(Call {
                method: "POST",
                path: SUBS,
                bearer: Some(&pat),
                content_type: Some("application/json"),
                body: Some(body.into()),
            })
            .await;
        res.assert_error(400, "invalid_json");
    }
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let res = s
            .send(Call {
                method: "POST",
                path: SUBS,
                bearer: Some(&pat),
                content_type: ct,
                body: Some("{\"url\":\"https://e.com\"}".into()),
            })
            .await;
        res.assert_error(415, "unsupported_media_type");
    }
    let charset = s
        .send(Call {
            method: "POST",
            path: SUBS,
            bearer: Some(&pat),
            content_type: Some("application/json; charset=utf-8"),
            body: Some("{\"url\":\"https://e.com\"}".into()),
        })
        .await;
    assert_eq!(charset.status, 201);
    let huge = format!("{{\"url\":\"https://e.com\",\"name\":\"{}\"}}", "a".repeat(600 * 1024));
    let res = s
        .send(Call {
            method: "POST",
            path: SUBS,
            bearer: Some(&pat),
            content_type: Some("application/json"),
            body: Some(huge),
        })
        .await;
    res.assert_error(413, "payload_too_large");
    let zapier = s.call("POST", SUBS, Some(&pat), json!({"url": "https://e.com", "source": "zapier"})).await;
    zapier.assert_error(400, "validation_error");
    s.call("GET", "/api/v1/nothing-here", Some(&pat), Value::Null).await.assert_error(404, "not_found");
    // A route that exists with other methods: 405 with Allow, for anyone (the route list is
    // public in the API's documentation).
    for (method, path, allow) in [
        ("PUT", SUBS.to_owned(), "GET, POST"),
        ("TRACE", SUBS.to_owned(), "GET, POST"),
        ("OPTIONS", "/api/v1/me".to_owned(), "GET"),
        ("POST", format!("{SUBS}/{}", hookpost_domain::SubscriptionId::new()), "DELETE, GET, PATCH"),
        ("GET", "/internal/v1/events".to_owned(), "POST"),
        // A literal segment is its own resource, not a failure id.
        ("GET", "/api/v4/tasks/webhook_failures/recover".to_owned(), "POST"),
        ("OPTIONS", "/api/v4/tasks/webhook_failures/recover".to_owned(), "POST"),
    ] {
        for bearer in [Some(pat.as_str()), None] {
            let res = s.call(method, &path, bearer, Value::Null).await;
            res.assert_error(405, "method_not_allowed");
            assert_eq!(res.header("allow"), Some(allow), "{method} {path}");
        }
    }
    s.stop().await;
}

async fn lists_page_filter_and_count(kind: StoreKind) {
    let s = server!(kind);
    let (_, pat) = s.customer().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let body = if i % 2 == 0 {
            json!({"url": format!("https://e.com/{i}")})
        } else {
            json!({"url": format!("https://e.com/{i}"), "source": "zapier", "zapier_subscription_id": format!("zap_{i}")})
        };
        ids.push(s.create_subscription(&pat, body).await["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(s.call("DELETE", &format!("{SUBS}/{}", ids[0]), Some(&pat), Value::Null).await.status, 204);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let ids_of = |v: &Value| -> Vec<String> {
        v["subscriptions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect()
    };

    let all = s.call("GET", SUBS, Some(&pat), Value::Null).await;
    assert_eq!(ids_of(&all.body), newest_first);
    let page = s.call("GET", &format!("{SUBS}?limit=2&offset=2"), Some(&pat), Value::Null).await;
    assert_eq!(page.body["pagination"], json!({"total": 6, "limit": 2, "offset": 2}));
    assert_eq!(ids_of(&page.body), newest_first[2..4].to_vec());
    let zapier = s.call("GET", &format!("{SUBS}?source=zapier"), Some(&pat), Value::Null).await;
    assert_eq!(zapier.body["pagination"]["total"], 3);
    assert!(zapier.body["subscriptions"].as_array().unwrap().iter().all(|s| s["source"] == "zapier"));
    let inactive = s.call("GET", &format!("{SUBS}?is_active=false"), Some(&pat), Value::Null).await;
    assert_eq!(ids_of(&inactive.body), vec![ids[0].clone()]);
    let combined =
        s.call("GET", &format!("{SUBS}?is_active=true&source=dashboard&limit=1"), Some(&pat), Value::Null).await;
    assert_eq!(combined.body["pagination"], json!({"total": 2, "limit": 1, "offset": 0}));
    let beyond = s.call("GET", &format!("{SUBS}?offset=100"), Some(&pat), Value::Null).await;
    assert_eq!(
        (beyond.body["pagination"]["total"].as_u64(), beyond.body["subscriptions"].as_array().unwrap().len()),
        (Some(6), 0)
    );

    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "limit=%2B5",
        "limit=+5",
        "limit=5.0",
        "offset=%2B1",
        "offset=-1",
        "source=email",
        "is_active=yes",
        "sort=asc",
        "limit=1&limit=2",
    ] {
        s.call("GET", &format!("{SUBS}?{bad}"), Some(&pat), Value::Null).await.assert_error(400, "validation_error");
    }
    s.stop().await;
}

async fn accounts_are_isolated(kind: StoreKind) {
    let s = server!(kind);
    let (_, mine) = s.customer().await;
    let (_, theirs) = s.customer().await;
    let id =
        s.create_subscription(&theirs, json!({"url": "https://e.com/theirs"})).await["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        ("GET", format!("{SUBS}/{id}"), Value::Null),
        ("PATCH", format!("{SUBS}/{id}"), json!({"name": "mine now"})),
        ("DELETE", format!("{SUBS}/{id}"), Value::Null),
        ("POST", format!("{SUBS}/{id}/reactivate"), Value::Null),
    ] {
        s.call(method, &path, Some(&mine), body.clone()).await.assert_error(404, "not_found");
        for malformed in ["not-a-uuid", "123", "01a20644-91b9-733c-a08f-3482a415b25", "%00"] {
            let path = path.replace(&id, malformed);
            s.call(method, &path, Some(&mine), body.clone()).await.assert_error(404, "not_found");
        }
    }
    assert_eq!(s.call("GET", SUBS, Some(&mine), Value::Null).await.body["pagination"]["total"], 0);
    let still = s.call("GET", &format!("{SUBS}/{id}"), Some(&theirs), Value::Null).await;
    assert_eq!((still.body["name"].as_str(), still.body["is_active"].as_bool()), (Some("e.com"), Some(true)));
    s.stop().await;
}

async fn expired_tokens_fail(kind: StoreKind) {
    let s = server!(kind);
    let (account, _) = s.customer().await;
    let res = s
        .admin(
            "POST",
            &format!("/internal/v1/accounts/{account}/tokens"),
            json!({"scopes": [READ], "expires_in_days": 1}),
        )
        .await;
    let pat = res.body["token"].as_str().unwrap().to_owned();
    assert_eq!(s.call("GET", SUBS, Some(&pat), Value::Null).await.status, 200);
    s.clock.advance(86_400);
    s.call("GET", SUBS, Some(&pat), Value::Null).await.assert_error(401, "unauthorized");
    s.stop().await;
}

async fn plan_changes_apply(kind: StoreKind) {
    let s = server!(kind);
    let (account, pat) = s.customer().await;
    assert_eq!(s.call("GET", SUBS, Some(&pat), Value::Null).await.status, 200);
    s.admin("PATCH", &format!("/internal/v1/accounts/{account}"), json!({"plan": "free"})).await;
    s.call("GET", SUBS, Some(&pat), Value::Null).await.assert_error(403, "plan_required");
    assert_eq!(s.call("GET", "/api/v1/me", Some(&pat), Value::Null).await.body["plan_name"], "free");
    s.stop().await;
}

/// SPEC §9 with issue 26's single-use link: the operator's link is no bearer credential; it
/// is traded once for a session with its scopes and expiry; a second trade, a made-up link,
/// a revoked one, an expired one and a malformed body are refused in the envelope.
async fn portal_links_open_once(kind: StoreKind) {
    let s = server!(kind);
    let (account, _) = s.customer().await;
    let sessions = format!("/internal/v1/accounts/{account}/portal-sessions");
    let issued = s.admin("POST", &sessions, json!({"scopes": [READ], "expires_in_minutes": 30})).await;
    assert_eq!(issued.status, 201, "{}", issued.text);
    let link = issued.body["token"].as_str().unwrap().to_owned();
    assert!(link.starts_with("hp_pl_") && issued.body["url"].as_str().unwrap().ends_with(&format!("#session={link}")));
    s.call("GET", "/api/v1/me", Some(&link), Value::Null).await.assert_error(401, "unauthorized");

    let opened = s.call("POST", "/portal/sessions", None, json!({"link": link})).await;
    assert_eq!(opened.status, 201, "{}", opened.text);
    assert_eq!(opened.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
    let session = opened.body["session"].as_str().unwrap().to_owned();
    assert!(session.starts_with("hp_ps_"), "{session}");
    assert_eq!((&opened.body["scopes"], &opened.body["expires_at"]), (&json!([READ]), &issued.body["expires_at"]));
    let me = s.call("GET", "/api/v1/me", Some(&session), Value::Null).await;
    assert_eq!((me.status, &me.body["scopes"]), (200, &json!([READ])), "{}", me.text);
    s.call("POST", SUBS, Some(&session), json!({"url": "https://example.com/h"}))
        .await
        .assert_error(403, "insufficient_scope");

    s.call("POST", "/portal/sessions", None, json!({"link": link})).await.assert_error(401, "unauthorized");
    let made_up = format!("hp_pl_{}", "0".repeat(64));
    s.call("POST", "/portal/sessions", None, json!({"link": made_up})).await.assert_error(401, "unauthorized");
    s.call("POST", "/portal/sessions", None, json!({"link": session})).await.assert_error(401, "unauthorized");
    s.call("POST", "/portal/sessions", None, json!({})).await.assert_error(400, "validation_error");
    s.call("POST", "/portal/sessions", None, json!({"link": 7})).await.assert_error(400, "validation_error");
    s.call("GET", "/portal/sessions", None, Value::Null).await.assert_error(405, "method_not_allowed");

    // Revoking by the id the operator was given ends the session the link became.
    let id = issued.body["id"].as_str().unwrap();
    let revoked = s.admin("DELETE", &format!("/internal/v1/accounts/{account}/tokens/{id}"), Value::Null).await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    s.call("GET", "/api/v1/me", Some(&session), Value::Null).await.assert_error(401, "unauthorized");

    let unopened = s.admin("POST", &sessions, json!({})).await.body;
    let id = unopened["id"].as_str().unwrap();
    s.admin("DELETE", &format!("/internal/v1/accounts/{account}/tokens/{id}"), Value::Null).await;
    s.call("POST", "/portal/sessions", None, json!({"link": unopened["token"]}))
        .await
        .assert_error(401, "unauthorized");

    let expiring = s.admin("POST", &sessions, json!({"expires_in_minutes": 1})).await.body;
    s.clock.advance(60);
    s.call("POST", "/portal/sessions", None, json!({"link": expiring["token"]}))
        .await
        .assert_error(401, "unauthorized");
    s.stop().await;
}

on_both_stores!(
    admin_routes_need_the_admin_key,
    portal_links_open_once,
    operator_api_shapes_and_errors,
    me_needs_a_token_but_no_plan_or_scope,
    gate_order_is_401_then_plan_then_scope_then_rate,
    subscription_lifecycle,
    reactivation_expires_after_90_days,
    the_26th_active_subscription_is_refused,
    url_rules_give_invalid_url,
    operator_can_open_http_and_ranges,
    channels_must_belong_to_the_account,
    bad_bodies_are_refused_clearly,
    lists_page_filter_and_count,
    accounts_are_isolated,
    expired_tokens_fail,
    plan_changes_apply,
);

/// Requests hyper refuses before any handler sees them still get the envelope.
#[tokio::test]
async fn errors_below_the_router_use_the_envelope() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start(StoreKind::Memory, hookpost_tests::config()).await;
    let many_headers: String = (0..300).map(|i| format!("x-h{i}: v\r\n")).collect();
    let long_query = "q=".to_owned() + &"a".repeat(100 * 1024);
    for (raw, status, code) in [
        (format!("GET /api/v1/me HTTP/1.1\r\nhost: x\r\n{many_headers}\r\n"), 431, "headers_too_large"),
        (format!("GET /api/v1/me?{long_query} HTTP/1.1\r\nhost: x\r\n\r\n"), 414, "uri_too_long"),
        (
            "GET /api/v1/me HTTP/1.1\r\nhost: x\r\nauthorization: Bearer a\0b\r\n\r\n".to_owned(),
            400,
            "validation_error",
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(s.running.addr).await.unwrap();
        stream.write_all(raw.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
        let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap_or_default()).expect(&answer);
        assert_eq!(body["error"], code, "{answer}");
        assert!(body["message"].is_string());
    }
    s.stop().await;
}

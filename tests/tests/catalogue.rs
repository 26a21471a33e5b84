//! The event-type catalogue and content filters over HTTP (SPEC §11), on both stores: the
//! operator's routes, publishing checked against a type's schema on every path, strict
//! mode, subscriptions held to the catalogue's names and wildcards, filters at fan-out (no
//! delivery, no attempt, no record, not counted), and the customer's filter tester.

use hookpost_tests::{delivery_config, on_both_stores, Answer, Receiver, StoreKind, TestServer};
use serde_json::{json, Value};

const TYPES: &str = "/internal/v1/event-types";
const SUBS: &str = "/api/v1/webhook-subscriptions";

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "required": ["invoice_id", "amount", "country"],
        "properties": {
            "invoice_id": {"type": "string"},
            "amount": {"type": "integer", "minimum": 0},
            "country": {"type": "string", "minLength": 2, "maxLength": 2}
        }
    })
}

async fn declare(s: &TestServer, name: &str, body: Value) -> Value {
    let res = s.admin("PUT", &format!("{TYPES}/{name}"), body).await;
    assert!(matches!(res.status, 200 | 201), "{name}: {} {}", res.status, res.text);
    res.body
}

fn fields(res: &hookpost_tests::Response) -> Vec<String> {
    res.body["issues"].as_array().map_or_else(Vec::new, |issues| {
        issues.iter().map(|i| i["field"].as_str().unwrap_or_default().to_owned()).collect()
    })
}

async fn the_operator_declares_replaces_reads_and_removes_types(kind: StoreKind) {
    let s = TestServer::start(kind, delivery_config("0")).await;
    let body = json!({"description": "An invoice was paid.", "schema": invoice_schema(),
                      "example": {"invoice_id": "in_1", "amount": 1200, "country": "FR"}});
    let res = s.admin("PUT", &format!("{TYPES}/billing.invoice.paid"), body.clone()).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["name"], "billing.invoice.paid");
    assert_eq!(res.body["deprecated"], false);
    assert_eq!(res.body["schema"], invoice_schema());
    let created_at = res.body["created_at"].clone();

    let replaced = s
        .admin("PUT", &format!("{TYPES}/billing.invoice.paid"), json!({"description": "Old.", "deprecated": true}))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!((replaced.body["created_at"].clone(), replaced.body["schema"].clone()), (created_at, Value::Null));
    let got = s.admin("GET", &format!("{TYPES}/billing.invoice.paid"), Value::Null).await;
    assert_eq!((got.status, got.body["deprecated"].clone()), (200, json!(true)));

    declare(&s, "call.ended", json!({"description": "A call ended."})).await;
    let listed = s.admin("GET", TYPES, Value::Null).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let names: Vec<&str> =
        listed.body["event_types"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["billing.invoice.paid", "call.ended"]);
    assert_eq!(listed.body["pagination"], json!({"total": 2, "limit": 100, "offset": 0}));
    // Customers read the same catalogue.
    let (_, token) = s.customer().await;
    let theirs = s.call("GET", "/api/v1/event-types?limit=1", Some(&token), Value::Null).await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    assert_eq!(theirs.body["event_types"][0]["name"], "billing.invoice.paid");
    assert_eq!(theirs.body["pagination"]["total"], 2);

    assert_eq!(s.admin("DELETE", &format!("{TYPES}/call.ended"), Value::Null).await.status, 204);
    s.admin("DELETE", &format!("{TYPES}/call.ended"), Value::Null).await.assert_error(404, "not_found");
    s.admin("GET", &format!("{TYPES}/call.ended"), Value::Null).await.assert_error(404, "not_found");

    // Faults, each a 400 pointing at itself.
    let bad_name = s.admin("PUT", &format!("{TYPES}/Billing.Paid"), json!({"description": "d"})).await;
    bad_name.assert_error(400, "validation_error");
    assert_eq!(fields(&bad_name), ["name"]);
    let bad_schema =
        s.admin("PUT", &format!("{TYPES}/x"), json!({"description": "d", "schema": {"minimum": "0"}})).await;
    bad_schema.assert_error(400, "validation_error");
    assert_eq!(fields(&bad_schema), ["schema/minimum"]);
    let bad_example = s
        .admin("PUT", &format!("{TYPES}/x"), json!({"description": "d", "schema": invoice_schema(), "example": {"invoice_id": "in_1", "amount": -5, "country": "FR"}}))
        .await;
    bad_example.assert_error(400, "validation_error");
    assert_eq!(fields(&bad_example), ["example/amount"]);
    s.call("GET", TYPES, Some(&token), Value::Null).await.assert_error(401, "unauthorized");
    s.stop().await;
}

async fn publishing_checks_data_against_its_types_schema_on_every_path(kind: StoreKind) {
    let s = TestServer::start(kind, delivery_config("0")).await;
    declare(&s, "billing.invoice.paid", json!({"description": "Paid.", "schema": invoice_schema()})).await;
    let (account, _) = s.customer().await;
    let bad = json!({"account_id": account, "event": "billing.invoice.paid", "data": {"invoice_id": "in_1", "amount": "12", "country": "FRA"}});
    let res = s.admin("POST", "/internal/v1/events", bad.clone()).await;
    res.assert_error(400, "validation_error");
    let mut faults = fields(&res);
    faults.sort();
    assert_eq!(faults, ["data/amount", "data/country"], "{}", res.text);

    let good = json!({"account_id": account, "event": "billing.invoice.paid", "data": {"invoice_id": "in_1", "amount": 12, "country": "FR"}});
    assert_eq!(s.admin("POST", "/internal/v1/events", good.clone()).await.status, 202);
    let undeclared = json!({"account_id": account, "event": "crm.contact.created", "data": {}});
    assert_eq!(s.admin("POST", "/internal/v1/events", undeclared.clone()).await.status, 202, "open: accepted");

    // The batch: each event on its own.
    let res = s.admin("POST", "/internal/v1/events/batch", json!({"events": [good, bad]})).await;
    assert_eq!(res.status, 202, "{}", res.text);
    assert!(res.body["results"][0]["event_id"].is_string());
    assert_eq!(res.body["results"][1]["error"], "validation_error");
    assert_eq!(res.body["results"][1]["issues"][0]["field"].as_str().map(|f| f.starts_with("data/")), Some(true));

    // Removed from the catalogue: no longer checked.
    assert_eq!(s.admin("DELETE", &format!("{TYPES}/billing.invoice.paid"), Value::Null).await.status, 204);
    let bad_again = json!({"account_id": account, "event": "billing.invoice.paid", "data": {"amount": "12"}});
    assert_eq!(s.admin("POST", "/internal/v1/events", bad_again).await.status, 202);
    s.stop().await;
}

async fn strict_mode_refuses_types_outside_the_catalogue(kind: StoreKind) {
    let mut config = delivery_config("0");
    config.event_types_strict = true;
    let s = TestServer::start(kind, config).await;
    declare(&s, "call.ended", json!({"description": "A call ended."})).await;
    let (account, _) = s.customer().await;
    let res =
        s.admin("POST", "/internal/v1/events", json!({"account_id": account, "event": "call.endd", "data": {}})).await;
    res.assert_error(400, "unknown_event_type");
    assert!(res.body["message"].as_str().unwrap().contains("call.endd"), "{}", res.text);
    let ok =
        s.admin("POST", "/internal/v1/events", json!({"account_id": account, "event": "call.ended", "data": {}})).await;
    assert_eq!(ok.status, 202, "{}", ok.text);
    s.stop().await;
}

async fn subscriptions_name_catalogue_types_or_wildcards(kind: StoreKind) {
    let s = TestServer::start(kind, delivery_config("0")).await;
    let (_, token) = s.customer().await;
    let rx = Receiver::start(Answer::status(204)).await;
    // An empty catalogue checks nothing.
    s.create_subscription(&token, json!({"url": rx.url("/any"), "events": ["anything.at.all"]})).await;
    declare(&s, "billing.invoice.paid", json!({"description": "Paid."})).await;
    declare(&s, "call.ended", json!({"description": "Ended."})).await;

    let refused = s
        .call(
            "POST",
            SUBS,
            Some(&token),
            json!({"url": rx.url("/typo"), "events": ["billing.invoice.payed", "call.ended", "crm.*"]}),
        )
        .await;
    refused.assert_error(400, "validation_error");
    assert_eq!(fields(&refused), ["events"]);
    let message = refused.body["issues"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("billing.invoice.payed") && message.contains("crm.*") && !message.contains("call.ended"),
        "{message}"
    );

    let sub =
        s.create_subscription(&token, json!({"url": rx.url("/billing"), "events": ["billing.*", "call.ended"]})).await;
    assert_eq!(sub["events"], json!(["billing.*", "call.ended"]));
    let id = sub["id"].as_str().unwrap();
    let patch = s.call("PATCH", &format!("{SUBS}/{id}"), Some(&token), json!({"events": ["sms.*"]})).await;
    patch.assert_error(400, "validation_error");
    let patch = s.call("PATCH", &format!("{SUBS}/{id}"), Some(&token), json!({"events": ["billing.invoice.*"]})).await;
    assert_eq!(patch.status, 200, "{}", patch.text);
    let bad = s.call("POST", SUBS, Some(&token), json!({"url": rx.url("/x"), "events": ["*"]})).await;
    bad.assert_error(400, "validation_error");
    assert_eq!(fields(&bad), ["events[0]"]);
    s.stop().await;
}

async fn a_filter_decides_at_fan_out_and_leaves_no_trace_when_it_says_no(kind: StoreKind) {
    let s = TestServer::start(kind, delivery_config("0")).await;
    let (account, token) = s.customer().await;
    let rx = Receiver::start(Answer::status(204)).await;
    let filter = json!({"data": {"amount": [{"numeric": [">=", 1000]}], "country": [{"anything-but": "US"}]}});
    let big =
        s.create_subscription(&token, json!({"url": rx.url("/big"), "events": ["billing.*"], "filter": filter})).await;
    assert_eq!(big["filter"], filter);
    let all = s.create_subscription(&token, json!({"url": rx.url("/all")})).await;
    let publish = |amount: u64, country: &str| json!({"account_id": account, "event": "billing.invoice.paid", "data": {"amount": amount, "country": country}});
    let res = s.admin("POST", "/internal/v1/events", publish(1500, "FR")).await;
    assert_eq!(res.body["subscriptions"], 2, "{}", res.text);
    for (amount, country) in [(10, "FR"), (1500, "US")] {
        let res = s.admin("POST", "/internal/v1/events", publish(amount, country)).await;
        assert_eq!(res.body["subscriptions"], 1, "only the unfiltered one counts: {}", res.text);
    }
    let got = rx.wait_for(4).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let to_big: Vec<_> = rx.received().into_iter().filter(|r| r.path == "/big").collect();
    assert_eq!((got.len(), rx.received().len(), to_big.len()), (4, 4, 1), "one delivery to the filtered endpoint");
    let attempts =
        s.call("GET", &format!("{SUBS}/{}/attempts", big["id"].as_str().unwrap()), Some(&token), Value::Null).await;
    assert_eq!(attempts.body["pagination"]["total"], 1, "no attempt for the events turned down");
    let failures = s.call("GET", "/api/v4/tasks/webhook_failures", Some(&token), Value::Null).await;
    assert_eq!(failures.body["metadata"]["total"], 0, "no failure record either");

    // Changed and removed by PATCH; a faulty pattern names the path of its fault.
    let id = big["id"].as_str().unwrap();
    let bad = s
        .call(
            "PATCH",
            &format!("{SUBS}/{id}"),
            Some(&token),
            json!({"filter": {"data": {"amount": [{"numeric": [">", "x"]}]}}}),
        )
        .await;
    bad.assert_error(400, "validation_error");
    assert_eq!(fields(&bad), ["filter/data/amount/0/numeric"], "{}", bad.text);
    let cleared = s.call("PATCH", &format!("{SUBS}/{id}"), Some(&token), json!({"filter": null})).await;
    assert_eq!((cleared.status, cleared.body["filter"].clone()), (200, Value::Null));
    let res = s.admin("POST", "/internal/v1/events", publish(10, "US")).await;
    assert_eq!(res.body["subscriptions"], 2);
    let _ = all;
    s.stop().await;
}

async fn customers_try_a_filter_before_saving_it(kind: StoreKind) {
    let s = TestServer::start(kind, delivery_config("0")).await;
    let (_, token) = s.customer().await;
    let test = |filter: Value, event: Value| {
        let s = &s;
        let token = token.clone();
        async move {
            s.call("POST", "/api/v1/event-filters/test", Some(&token), json!({"filter": filter, "event": event})).await
        }
    };
    let event =
        json!({"event": "billing.invoice.paid", "channel_id": null, "data": {"amount": 1500, "tags": ["vip", "eu"]}});
    let yes = test(json!({"data": {"tags": ["vip"]}, "event": [{"prefix": "billing."}]}), event.clone()).await;
    assert_eq!((yes.status, yes.body.clone()), (200, json!({"matches": true})), "{}", yes.text);
    let no = test(
        json!({"$or": [{"data": {"amount": [{"numeric": ["<", 100]}]}}, {"channel_id": [{"prefix": "dom_"}]}]}),
        event.clone(),
    )
    .await;
    assert_eq!(no.body, json!({"matches": false}));
    let faulty = test(json!({"data": {"amount": [{"cidr": "10.0.0.0/8"}]}}), event.clone()).await;
    faulty.assert_error(400, "validation_error");
    assert_eq!(fields(&faulty), ["filter/data/amount/0/cidr"], "{}", faulty.text);
    let missing = s.call("POST", "/api/v1/event-filters/test", Some(&token), json!({"event": event})).await;
    missing.assert_error(400, "validation_error");
    assert_eq!(fields(&missing), ["filter"]);
    s.stop().await;
}

on_both_stores!(
    the_operator_declares_replaces_reads_and_removes_types,
    publishing_checks_data_against_its_types_schema_on_every_path,
    strict_mode_refuses_types_outside_the_catalogue,
    subscriptions_name_catalogue_types_or_wildcards,
    a_filter_decides_at_fan_out_and_leaves_no_trace_when_it_says_no,
    customers_try_a_filter_before_saving_it,
);

//! Publishing without API Gateway: events sent to the ingest queue, or put on an EventBridge
//! bus whose rule targets it, published by `ingest-events` by the rules of
//! `POST /internal/v1/events`. Through hookpost-local's durable mode (the ingest queue on
//! moto's SQS, worked as Lambda's event-source mapping would), and the handler alone for
//! what a test can only arrange from inside: a delivery queue that refuses.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use hookpost_delivery::{InProcessQueue, Queue};
use hookpost_http::App;
use hookpost_local::Delivery;
use hookpost_store::{MemoryStore, Store};
use hookpost_tests::faulty::FaultyQueue;
use hookpost_tests::{call_ended as event, delivery_config, Answer, Receiver, StoreKind, TestServer};
use ingest_events::{MemoryRejections, Rejected, ERROR_ATTRIBUTE};
use lambda_http::aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn hookpost_local_publishes_its_ingest_queue_and_keeps_what_it_cannot() {
    let s = TestServer::start(StoreKind::Dynamo, delivery_config("0")).await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/ingest")})).await;
    let schema = json!({"type": "object", "properties": {"amount": {"type": "integer"}}});
    let declared =
        s.admin("PUT", "/internal/v1/event-types/invoice.paid", json!({"description": "d", "schema": schema})).await;
    assert_eq!(declared.status, 201, "{}", declared.text);
    let Delivery::Sqs(queues) = &s.running.delivery else { panic!("DynamoDB comes with SQS queues") };
    let aws = hookpost_store::aws::aws_config(Some(&hookpost_tests::dynamo_endpoint())).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);

    let bridged = "6a7e8ed1-d8b5-4a73-9e0f-8c2f0d8d1a11";
    let bodies = [
        event(&account, None).to_string(),
        event(&account, Some("evt_ingest_chosen")).to_string(),
        // What the ingest bus's rule hands the queue for a PutEvents entry.
        json!({"version": "0", "id": bridged, "detail-type": "hookpost.publish", "source": "acme.billing",
               "account": "123456789012", "time": "2026-11-30T09:00:00Z", "region": "us-east-1", "resources": [],
               "detail": event(&account, None)})
        .to_string(),
        json!({"account_id": account, "event": "Not A Type", "data": {}}).to_string(),
        // Its type's schema refuses it (SPEC §11).
        json!({"account_id": account, "event": "invoice.paid", "data": {"amount": "12"}}).to_string(),
        event(&hookpost_domain::AccountId::new().to_string(), None).to_string(),
        "not json".to_owned(),
    ];
    let entries: Vec<SendMessageBatchRequestEntry> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build().unwrap())
        .collect();
    let sent = sqs.send_message_batch().queue_url(queues.ingest_url()).set_entries(Some(entries)).send().await.unwrap();
    let plain_message = sent.successful.iter().find(|e| e.id == "0").expect("the first message").message_id.clone();

    let delivered = receiver.wait_for(3).await;
    let mut ids: Vec<String> =
        delivered.iter().map(|r| r.header("webhook-id").expect("webhook-id").to_owned()).collect();
    ids.sort();
    let mut expected = vec![format!("evt_{plain_message}"), "evt_ingest_chosen".to_owned(), format!("evt_{bridged}")];
    expected.sort();
    assert_eq!(ids, expected, "an id the event names, else its EventBridge or SQS message id");

    // The four that can never be published wait in the ingest dead-letter queue, each with
    // its error envelope; nothing of theirs was delivered.
    let mut rejected = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rejected.len() < 4 && std::time::Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(queues.ingest_dead_letters_url())
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(60)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        rejected.extend(messages);
    }
    let mut errors: Vec<String> = rejected
        .iter()
        .map(|m| {
            let attribute = m.message_attributes.as_ref().and_then(|a| a.get(ERROR_ATTRIBUTE)).expect("its error");
            let envelope: Value = serde_json::from_str(attribute.string_value().unwrap()).unwrap();
            assert!(envelope["message"].is_string(), "{envelope}");
            if envelope["issues"][0]["field"].as_str().is_some_and(|f| f.starts_with("data")) {
                assert_eq!(envelope["issues"][0]["field"], "data/amount", "the schema's fault, located: {envelope}");
            }
            envelope["error"].as_str().unwrap().to_owned()
        })
        .collect();
    errors.sort();
    assert_eq!(errors, ["invalid_json", "not_found", "validation_error", "validation_error"]);
    assert!(rejected.iter().any(|m| m.body.as_deref() == Some("not json")), "the body is kept as sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "nothing more was delivered");
    s.stop().await;
}

/// The handler's app on the memory store, publishing to `queue`, and a hookpost-local over
/// the same store for the customer's side.
async fn handler_app(config: hookpost_http::Config, queue: Arc<dyn Queue>) -> (Arc<dyn Store>, App, TestServer) {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = Arc::clone(&memory) as Arc<dyn Store>;
    let app = App::new(Arc::clone(&store), config)
        .with_queue(queue)
        .with_catalogue(Arc::clone(&memory) as Arc<dyn hookpost_store::CatalogueStore>)
        .with_delivery_control(memory);
    let s = TestServer::start_with(
        app.clone(),
        Delivery::InProcess(Arc::new(InProcessQueue::new(Duration::from_secs(30)))),
    )
    .await;
    (store, app, s)
}

fn sqs_event(bodies: &[(&str, String)]) -> LambdaEvent<SqsEvent> {
    let mut event = SqsEvent::default();
    for (id, body) in bodies {
        let mut message = SqsMessage::default();
        message.message_id = Some((*id).to_owned());
        message.body = Some(body.clone());
        event.records.push(message);
    }
    LambdaEvent::new(event, Context::default())
}

/// The handler on the memory store: a delivery queue that refuses makes the message come
/// back (a batch item failure) without a dead letter; the repeat publishes it, and an event
/// with a chosen id handed out twice is published once.
#[tokio::test]
async fn what_hookpost_cannot_publish_now_comes_back_and_a_repeat_publishes_once() {
    let worked = Arc::new(InProcessQueue::new(Duration::from_secs(30)));
    let queue = Arc::new(FaultyQueue::new(Arc::clone(&worked) as Arc<dyn Queue>));
    let (store, app, s) = handler_app(delivery_config("0"), Arc::clone(&queue) as Arc<dyn Queue>).await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    let rejections = MemoryRejections::default();

    let batch = [
        ("m-chosen", event(&account, Some("evt_twice")).to_string()),
        ("m-plain", event(&account, None).to_string()),
        ("m-bad", json!({"account_id": account, "data": {}}).to_string()),
    ];
    queue.refuse(1);
    let answer = ingest_events::handle(&app, &rejections, sqs_event(&batch)).await.unwrap();
    let failed: Vec<&str> = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m-chosen"], "the refused event alone comes back");
    let kept = rejections.kept.lock().unwrap().clone();
    assert_eq!(kept.len(), 1, "the invalid event is kept, once: {kept:?}");
    let Rejected { message_id, body, error } = &kept[0];
    assert_eq!((message_id.as_str(), body.as_str()), ("m-bad", batch[2].1.as_str()));
    assert_eq!(serde_json::from_str::<Value>(error).unwrap()["error"], "validation_error");
    assert_eq!(worked.len(), 1, "the plain event's task is queued");

    // SQS hands the refused message out again, and a second copy of it after that.
    for _ in 0..2 {
        let again = ingest_events::handle(&app, &rejections, sqs_event(&batch[..1])).await.unwrap();
        assert!(again.batch_item_failures.is_empty());
    }
    assert_eq!(worked.len(), 2, "published once, however often it was handed out");
    assert_eq!(
        store
            .get_event(hookpost_domain::AccountId::parse(&account).unwrap(), "evt_twice")
            .await
            .unwrap()
            .map(|e| e.fanned_out),
        Some(true)
    );
    s.stop().await;
}

/// The trust boundary of the ingest path: an EventBridge event is published only from the
/// AWS account and the sources the stack names; a forged one — another source on the same
/// bus, or another account's event copied onto the queue — is kept in the dead-letter queue
/// with a validation error naming the field, and reaches no receiver.
#[tokio::test]
async fn only_trusted_publishers_publish_through_the_bus() {
    let worked = Arc::new(InProcessQueue::new(Duration::from_secs(30)));
    let mut config = delivery_config("0");
    config.ingest_trust = hookpost_domain::ingest::IngestTrust {
        account: Some("123456789012".into()),
        sources: vec!["acme.billing".into()],
    };
    let (_, app, s) = handler_app(config, Arc::clone(&worked) as Arc<dyn Queue>).await;
    let (account, pat) = s.customer().await;
    let receiver = Receiver::start(Answer::status(204)).await;
    s.create_subscription(&pat, json!({"url": receiver.url("/a")})).await;
    let bridged = |source: &str, from: &str| {
        json!({"version": "0", "id": uuid_like(source, from), "detail-type": "hookpost.publish", "source": source,
               "account": from, "time": "2026-12-07T09:00:00Z", "region": "us-east-1", "resources": [],
               "detail": event(&account, None)})
        .to_string()
    };
    let batch = [
        ("m-trusted", bridged("acme.billing", "123456789012")),
        ("m-other-source", bridged("evil.corp", "123456789012")),
        ("m-other-account", bridged("acme.billing", "210987654321")),
    ];
    let rejections = MemoryRejections::default();
    let answer = ingest_events::handle(&app, &rejections, sqs_event(&batch)).await.unwrap();
    assert!(answer.batch_item_failures.is_empty(), "a refusal is final, not tried again");
    assert_eq!(worked.len(), 1, "only the trusted publisher's event was fanned out");
    let kept = rejections.kept.lock().unwrap().clone();
    let mut refused: Vec<(String, String)> = kept
        .iter()
        .map(|r| {
            let error: Value = serde_json::from_str(&r.error).unwrap();
            assert_eq!(error["error"], "validation_error", "{error}");
            (r.message_id.clone(), error["issues"][0]["field"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    refused.sort();
    assert_eq!(
        refused,
        [("m-other-account".to_owned(), "account".to_owned()), ("m-other-source".to_owned(), "source".to_owned())]
    );
    s.stop().await;
}

/// An EventBridge-like event id, different for each (source, account).
fn uuid_like(source: &str, account: &str) -> String {
    format!("{:x}-{account}", source.len() * 7919)
}

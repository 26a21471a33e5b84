//! The AWS path against moto: publish → SQS → the `deliver` handler → a receiver on
//! loopback; and the dead-letter consumer turning a dead task into a failure record.

use std::sync::Arc;

use hookpost_delivery::SqsQueue;
use hookpost_domain::delivery::DeliveryTask;
use hookpost_domain::failure::FailureStatus;
use hookpost_domain::subscription::{parse_new_subscription, Subscription};
use hookpost_domain::{Account, AccountId, Plan, Timestamp};
use hookpost_http::App;
use hookpost_store::{ActiveCap, DynamoStore};
use hookpost_tests::{delivery_config, dynamo_endpoint, Answer, Receiver};
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use lambda_http::aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use lambda_http::lambda_runtime::{Context, LambdaEvent};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::json;

struct Setup {
    app: App,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    account: Account,
    subscription: Subscription,
    receiver: Receiver,
}

async fn setup() -> Setup {
    let endpoint = dynamo_endpoint();
    let aws = hookpost_store::aws::aws_config(Some(&endpoint)).await;
    let suffix = AccountId::new().to_string();
    let store = DynamoStore::new(hookpost_store::dynamo::Client::new(&aws), format!("sqs-{suffix}"))
        .with_sealing(Arc::new(hookpost_store::keys::ConfiguredKey::new([42; 32])));
    store.ensure_table().await.unwrap();
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queue_url =
        sqs.create_queue().queue_name(format!("deliveries-{suffix}")).send().await.unwrap().queue_url.unwrap();
    let config = delivery_config("0");
    let store = Arc::new(store);
    let app = App::new(Arc::clone(&store) as Arc<dyn hookpost_store::Store>, config)
        .with_queue(Arc::new(SqsQueue::new(sqs.clone(), queue_url.clone())))
        .with_catalogue(Arc::clone(&store) as Arc<dyn hookpost_store::CatalogueStore>)
        .with_delivery_control(store);

    let account = Account { id: AccountId::new(), name: "Acme".into(), plan: Plan::Pro, created_at: Timestamp::now() };
    app.store.create_account(&account).await.unwrap();
    let receiver = Receiver::start(Answer::status(200)).await;
    let input = parse_new_subscription(json!({"url": receiver.url("/sqs")}), &app.config.destinations).unwrap();
    let subscription = Subscription::create(account.id, input, None, None, Timestamp::now());
    app.store.create_subscription(&subscription, ActiveCap(25)).await.unwrap();
    Setup { app, sqs, queue_url, account, subscription, receiver }
}

/// Everything on the queue now, as the SQS event Lambda would get.
async fn drain(s: &Setup) -> SqsEvent {
    let mut event = SqsEvent::default();
    for _ in 0..20 {
        let out = s
            .sqs
            .receive_message()
            .queue_url(&s.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() && !event.records.is_empty() {
            break;
        }
        for m in messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            s.sqs
                .delete_message()
                .queue_url(&s.queue_url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
            event.records.push(record);
        }
    }
    event
}

/// Publishes through the `publish-event` handler, as API Gateway would call it.
async fn publish(s: &Setup, body: serde_json::Value) {
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/internal/v1/events")
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .unwrap();
    let res = publish_event::handle(&s.app, req).await;
    assert_eq!(res.status(), 202);
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn publish_goes_through_sqs_to_the_deliver_handler() {
    let s = setup().await;
    publish(
        &s,
        json!({"account_id": s.account.id.to_string(), "event": "call.ended", "data": {"n": 1}, "event_id": "evt_sqs"}),
    )
    .await;

    let event = drain(&s).await;
    assert_eq!(event.records.len(), 1, "one task for the one subscription");
    let task: DeliveryTask = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!((task.subscription_id, task.event_id.as_str(), task.attempt), (s.subscription.id, "evt_sqs", 1));

    let response = deliver::handle(&s.app, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let got = s.receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("webhook-id"), Some("evt_sqs"));
    let sub = s.app.store.get_subscription(s.account.id, s.subscription.id).await.unwrap().unwrap();
    assert!(sub.last_success_at.is_some());
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn a_failed_attempt_is_sent_on_through_sqs_and_bad_messages_do_not_block_the_batch() {
    let mut s = setup().await;
    s.app.config.retry_schedule = hookpost_domain::delivery::RetrySchedule::parse("0,0").unwrap();
    s.receiver.then([Answer::status(500)]);
    s.app
        .store
        .put_event(
            &hookpost_domain::event::Event {
                account_id: s.account.id,
                event_id: "evt_retry".into(),
                event_type: "call.ended".into(),
                channel_id: None,
                data: "{}".into(),
                created_at: Timestamp::now(),
                subscriptions: 1,
                fanned_out: true,
            },
            Timestamp::now().plus_days(1),
        )
        .await
        .unwrap();
    let mut first = SqsMessage::default();
    first.message_id = Some("m1".into());
    first.body =
        Some(serde_json::to_string(&DeliveryTask::first(s.account.id, s.subscription.id, "evt_retry")).unwrap());
    let mut junk = SqsMessage::default();
    junk.message_id = Some("m2".into());
    junk.body = Some("not a task".into());
    let mut event = SqsEvent::default();
    event.records = vec![first, junk];
    let response = deliver::handle(&s.app, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());

    let next = drain(&s).await;
    assert_eq!(next.records.len(), 1, "the second attempt went back through the queue");
    let task: DeliveryTask = serde_json::from_str(next.records[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(task.attempt, 2);
    deliver::handle(&s.app, LambdaEvent::new(next, Context::default())).await.unwrap();
    assert_eq!(s.receiver.wait_for(2).await.len(), 2);
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn a_dead_task_becomes_a_delivery_error_failure() {
    let s = setup().await;
    let mut message = SqsMessage::default();
    message.message_id = Some("dead-1".into());
    message.body =
        Some(serde_json::to_string(&DeliveryTask::first(s.account.id, s.subscription.id, "evt_dead")).unwrap());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let response = dead_letter::handle(&s.app, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let failures = s.app.store.list_failures(s.account.id).await.unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(
        (failures[0].reason.clone(), failures[0].status, failures[0].event_id.as_str()),
        (Some(hookpost_domain::Reason::DeliveryError), FailureStatus::Inactive, "evt_dead")
    );
    assert_eq!(failures[0].subscription_id, s.subscription.id);
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn a_fan_out_goes_in_batches_and_carries_the_event() {
    let s = setup().await;
    for _ in 0..11 {
        let input = parse_new_subscription(json!({"url": s.receiver.url("/sqs")}), &s.app.config.destinations).unwrap();
        let sub = Subscription::create(s.account.id, input, None, None, Timestamp::now());
        s.app.store.create_subscription(&sub, ActiveCap(25)).await.unwrap();
    }
    publish(&s, json!({"account_id": s.account.id.to_string(), "event": "call.ended", "data": {"n": 12}})).await;

    let event = drain(&s).await;
    assert_eq!(event.records.len(), 12, "two SendMessageBatch calls, twelve tasks");
    let tasks: Vec<DeliveryTask> =
        event.records.iter().map(|r| serde_json::from_str(r.body.as_deref().unwrap()).unwrap()).collect();
    let carried = tasks[0].carried_event().expect("a small event rides in its tasks");
    assert_eq!(carried.data, r#"{"n":12}"#);
    // Nobody can repeat a generated id and no failure points at it: nothing was stored.
    assert_eq!(s.app.store.get_event(s.account.id, &carried.event_id).await.unwrap(), None);

    let response = deliver::handle(&s.app, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let got = s.receiver.wait_for(12).await;
    assert!(got.iter().all(|r| r.header("webhook-id") == Some(carried.event_id.as_str())));
}

/// A batch publish queues the tasks of all its events together (ten to a SendMessageBatch,
/// across events), each event answered on its own.
#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn a_batch_publish_queues_every_events_tasks_together() {
    let s = setup().await;
    let account = s.account.id.to_string();
    let events: Vec<serde_json::Value> =
        (0..23).map(|n| json!({"account_id": account, "event": "call.ended", "data": {"n": n}})).collect();
    let mut context = ApiGatewayProxyRequestContext::default();
    context.resource_path = Some("/internal/v1/events/batch".to_owned());
    let req = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/internal/v1/events/batch")
        .header("content-type", "application/json")
        .body(Body::Text(json!({"events": events}).to_string()))
        .unwrap()
        .with_request_context(RequestContext::ApiGatewayV1(context));
    let res = publish_event::handle(&s.app, req).await;
    assert_eq!(res.status(), 202);
    let answer: serde_json::Value = match res.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("{other:?}"),
    };
    let results = answer["results"].as_array().unwrap();
    assert!(results.len() == 23 && results.iter().all(|r| r["subscriptions"] == 1), "{answer}");

    let event = drain(&s).await;
    let mut queued: Vec<String> = event
        .records
        .iter()
        .map(|r| serde_json::from_str::<DeliveryTask>(r.body.as_deref().unwrap()).unwrap().event_id)
        .collect();
    queued.sort();
    let mut answered: Vec<String> = results.iter().map(|r| r["event_id"].as_str().unwrap().to_owned()).collect();
    answered.sort();
    assert_eq!(queued, answered, "one task per event, each event's own");
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn a_dead_task_that_carries_its_event_stores_it_for_a_retrigger() {
    let s = setup().await;
    let event = hookpost_domain::event::Event {
        account_id: s.account.id,
        event_id: "evt_carried_dead".into(),
        event_type: "call.ended".into(),
        channel_id: None,
        data: r#"{"n":2}"#.into(),
        created_at: Timestamp::now(),
        subscriptions: 1,
        fanned_out: true,
    };
    let mut message = SqsMessage::default();
    message.message_id = Some("dead-2".into());
    message.body = Some(serde_json::to_string(&DeliveryTask::first_of(&event, s.subscription.id)).unwrap());
    let mut records = SqsEvent::default();
    records.records = vec![message];
    dead_letter::handle(&s.app, LambdaEvent::new(records, Context::default())).await.unwrap();
    let stored = s.app.store.get_event(s.account.id, "evt_carried_dead").await.unwrap().expect("stored");
    assert_eq!((stored.event_type.as_str(), stored.data.as_str()), ("call.ended", r#"{"n":2}"#));
    let failures = s.app.store.list_failures(s.account.id).await.unwrap();
    assert_eq!(failures[0].event_type, "call.ended");
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn a_dead_record_task_is_finished_not_recorded_as_a_failure() {
    use hookpost_domain::delivery::{Attempt, AttemptKey};
    use hookpost_domain::writes::Write;
    let s = setup().await;
    let now = Timestamp::now();
    let attempt = Attempt {
        account_id: s.account.id,
        subscription_id: s.subscription.id,
        event_id: "evt_recorded_late".into(),
        event_type: "call.ended".into(),
        attempt: 1,
        status_code: Some(204),
        reason: None,
        duration_ms: 12,
        response_excerpt: None,
        test: false,
        attempted_at: now,
        log_key: AttemptKey::now(),
    };
    let writes = vec![
        Write::LogAttempt { attempt, expires_at: now.plus_days(30) },
        Write::DeliveryFields { account_id: s.account.id, subscription_id: s.subscription.id, at: now, error: None },
    ];
    let task = DeliveryTask::first(s.account.id, s.subscription.id, "evt_recorded_late").record(writes);
    let mut message = SqsMessage::default();
    message.message_id = Some("dead-record".into());
    message.body = Some(serde_json::to_string(&task).unwrap());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    let response = dead_letter::handle(&s.app, LambdaEvent::new(event, Context::default())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert!(s.app.store.list_failures(s.account.id).await.unwrap().is_empty(), "its attempt was made: no failure");
    let attempts = s.app.store.list_attempts(s.account.id, s.subscription.id, 10, 0).await.unwrap();
    assert_eq!((attempts.total, attempts.items[0].status_code), (1, Some(204)));
    let sub = s.app.store.get_subscription(s.account.id, s.subscription.id).await.unwrap().unwrap();
    assert_eq!(sub.last_success_at, Some(now));
    assert!(s.receiver.received().is_empty(), "nothing was sent again");
}

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn the_scheduled_drain_empties_both_dead_letter_queues_into_failure_records() {
    let s = setup().await;
    let suffix = AccountId::new().to_string();
    let dead = s.sqs.create_queue().queue_name(format!("dead-{suffix}")).send().await.unwrap().queue_url.unwrap();
    let fifo_dead = s
        .sqs
        .create_queue()
        .queue_name(format!("dead-{suffix}.fifo"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    // More than one receive's worth (ten) on the standard queue, one ordered task on the FIFO one.
    for i in 0..12 {
        let task = DeliveryTask::first(s.account.id, s.subscription.id, &format!("evt_dead_{i}"));
        s.sqs.send_message().queue_url(&dead).message_body(serde_json::to_string(&task).unwrap()).send().await.unwrap();
    }
    let ordered = DeliveryTask::first(s.account.id, s.subscription.id, "evt_dead_ordered");
    s.sqs
        .send_message()
        .queue_url(&fifo_dead)
        .message_body(serde_json::to_string(&ordered).unwrap())
        .message_group_id("key-a")
        .message_deduplication_id("evt_dead_ordered")
        .send()
        .await
        .unwrap();

    let answer = dead_letter::drain(&s.app, &s.sqs, &[dead.clone(), fifo_dead.clone()]).await.unwrap();
    assert_eq!(answer, json!({"recorded": 13, "kept": 0}));
    let failures = s.app.store.list_failures(s.account.id).await.unwrap();
    let mut events: Vec<_> = failures.iter().map(|f| f.event_id.clone()).collect();
    events.sort();
    assert_eq!(events.len(), 13);
    assert!(events.contains(&"evt_dead_ordered".to_owned()) && events.contains(&"evt_dead_11".to_owned()));
    assert!(failures.iter().all(|f| f.reason == Some(hookpost_domain::Reason::DeliveryError)));
    for url in [&dead, &fifo_dead] {
        let left = s.sqs.receive_message().queue_url(url).wait_time_seconds(0).send().await.unwrap();
        assert!(left.messages.unwrap_or_default().is_empty(), "{url} was emptied");
    }
    // A second run finds nothing and records nothing twice.
    let again = dead_letter::drain(&s.app, &s.sqs, &[dead, fifo_dead]).await.unwrap();
    assert_eq!(again, json!({"recorded": 0, "kept": 0}));
    assert_eq!(s.app.store.list_failures(s.account.id).await.unwrap().len(), 13);
}

//! The durable queue's event-source-mapping stand-in against moto's SQS: a task whose work
//! outlasts the visibility timeout stays hidden until it is done, instead of going to a
//! second worker (which would send the delivery again).

use std::time::{Duration, Instant};

use hookpost_local::durable::{keep_hidden, SqsQueues};

#[tokio::test]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn work_longer_than_the_visibility_timeout_keeps_its_message_hidden() {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let aws = hookpost_store::aws::aws_config(Some(&endpoint)).await;
    let client = aws_sdk_sqs::Client::new(&aws);
    let visibility = Duration::from_secs(20);
    let table = format!("hidden-{}", std::process::id());
    let queues = SqsQueues::open(client.clone(), &table, visibility).await.expect("queues");
    let url = queues.deliveries_url().to_owned();
    client.send_message().queue_url(&url).message_body("task").send().await.unwrap();
    let receive = || async {
        let out =
            client.receive_message().queue_url(&url).visibility_timeout(20).wait_time_seconds(0).send().await.unwrap();
        out.messages.unwrap_or_default()
    };
    let first = receive().await.pop().expect("the message");
    let receipt = first.receipt_handle.unwrap();

    let started = Instant::now();
    let slow_work = async {
        // Past the 20 s visibility: without the heartbeat, the message would be visible again.
        tokio::time::sleep(Duration::from_secs(24)).await;
        true
    };
    let checker = async {
        tokio::time::sleep(Duration::from_secs(22)).await;
        receive().await.len()
    };
    let (done, seen_meanwhile) = tokio::join!(keep_hidden(&client, &url, &receipt, visibility, slow_work), checker);
    assert!(done && started.elapsed() >= Duration::from_secs(24));
    assert_eq!(seen_meanwhile, 0, "nobody else got the message while its work ran");
    client.delete_message().queue_url(&url).receipt_handle(&receipt).send().await.unwrap();
}

//! The DynamoDB call budget per operation (docs/BENCHMARKS.md), held as a test: counted by
//! the benchmark's SDK interceptor against the DynamoDB-compatible server of the tests.

use hookpost_bench::dynamo::{
    measure, DELIVER_ONE, DELIVER_ONE_BATCHED, DELIVER_ONE_BATCHED_LAMBDA, DELIVER_ONE_FIFO, DELIVER_ONE_LAMBDA,
    DELIVER_ONE_SPARSE, DELIVER_ONE_UNLIMITED, DELIVER_TEN, DELIVER_TEN_LAMBDA, DELIVER_TEN_SPARSE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(skip_dynamodb, ignore = "HOOKPOST_SKIP_DYNAMODB=1: needs a DynamoDB endpoint")]
async fn operations_stay_within_their_dynamodb_call_budget() {
    let endpoint = hookpost_testenv::dynamodb_endpoint();
    let rows = measure(&endpoint).await.expect("the measurement runs");
    let calls = |operation: &str| {
        rows.iter()
            .find(|r| r.operation == operation)
            .unwrap_or_else(|| panic!("no row {operation}"))
            .tally
            .total_calls()
    };
    assert_eq!(calls("GET subscription"), 2, "the read and the rate-limit counter");
    assert_eq!(calls("retrigger"), 3, "the conditional write, the subscription check, the counter");
    // Publish: the routes query (the event rides in the task and is stored only if a failure
    // comes to point at it; the account is read only when nobody listens). The worker: the
    // subscription, a start from its rate limiter (SPEC §10: the default limit, 100 a
    // second), the subscription again just before the attempt log (an erased one takes no
    // entry), the attempt log; the delivery fields only on a subscription's first success
    // in a minute.
    assert_eq!(calls(DELIVER_ONE_SPARSE), 6);
    assert_eq!(calls(DELIVER_ONE), 5);
    assert_eq!(calls(DELIVER_ONE_UNLIMITED), 4, "no limit, no start to take");
    // Ordered: the same, and its group's head read before the attempt.
    assert_eq!(calls(DELIVER_ONE_FIFO), 7);
    assert_eq!(calls(DELIVER_TEN_SPARSE), 1 + 5 * 10, "the query, five calls a delivery");
    assert_eq!(calls(DELIVER_TEN), 1 + 4 * 10, "the query, four calls a delivery");
    // A batch of 100 events to one account: one routes query for all of them, then the
    // worker's calls per delivery; the starts hookpost-local's sixteen workers ask for
    // meanwhile are taken together (at most one take a delivery); the subscription's fields
    // were written a moment before.
    let batched = &rows.iter().find(|r| r.operation == DELIVER_ONE_BATCHED).expect("the batch row").tally;
    assert_eq!(batched.calls.get("Query"), Some(&1), "one routes query for the hundred events");
    assert_eq!(batched.calls.get("GetItem"), Some(&200), "the subscription before and after each attempt");
    assert_eq!(batched.calls.get("PutItem"), Some(&100), "an attempt-log item each");
    let takes = batched.calls.get("UpdateItem").copied().unwrap_or(0);
    assert!((1..=100).contains(&takes), "{takes} takes of starts, no delivery fields within the minute");
    assert_eq!(batched.write_units, 100.0 + takes as f64, "an attempt-log unit a delivery, one a take");
    // The same hundred as one `deliver` batch (Lambda's way): the subscription is read once
    // for the batch, and again, strongly consistent, before each attempt's log entry; its
    // hundred starts are taken in one write.
    let lambda = &rows.iter().find(|r| r.operation == DELIVER_ONE_BATCHED_LAMBDA).expect("the Lambda batch row").tally;
    assert_eq!(lambda.calls.get("Query"), Some(&1));
    assert_eq!(lambda.calls.get("GetItem"), Some(&(1 + 100)), "one shared read, one check per attempt");
    assert_eq!(lambda.calls.get("PutItem"), Some(&100));
    assert_eq!(lambda.calls.get("UpdateItem"), Some(&1), "the batch's starts in one write");
    assert_eq!(lambda.read_units, 0.5 + 1.0 + 100.0, "the query, the shared read, the checks");
    // A hundred single publishes, their tasks as one batch: a routes query each, one read.
    let singly = &rows.iter().find(|r| r.operation == DELIVER_ONE_LAMBDA).expect("the single-publish batch row").tally;
    assert_eq!(singly.calls.get("Query"), Some(&100));
    assert_eq!(singly.calls.get("GetItem"), Some(&(1 + 100)));
    assert_eq!(singly.calls.get("PutItem"), Some(&100));
    assert_eq!(singly.calls.get("UpdateItem"), Some(&1));
    // Ten events to ten subscriptions, their hundred tasks as one batch: ten tasks share
    // each subscription's read and its take of starts.
    let ten = &rows.iter().find(|r| r.operation == DELIVER_TEN_LAMBDA).expect("the ten-subscription batch row").tally;
    assert_eq!(ten.calls.get("Query"), Some(&10), "a routes query a publish");
    assert_eq!(ten.calls.get("GetItem"), Some(&(10 + 100)));
    assert_eq!(ten.calls.get("PutItem"), Some(&100));
    assert_eq!(ten.calls.get("UpdateItem"), Some(&10), "a take a subscription");
}

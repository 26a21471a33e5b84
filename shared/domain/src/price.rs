//! AWS list prices (us-east-1, on-demand, as of 2026-11) and the shape of hookpost's work
//! they are applied to. The benchmark's cost tables and the usage route's estimate are priced
//! by these same figures. Each price names its page; "first tier" means the price of a
//! month's first units past any free tier (the free tiers are priced apart, as idle cost).

/// On-demand write request unit (1 KB of item, each GSI entry written once more):
/// aws.amazon.com/dynamodb/pricing/on-demand/.
pub const DYNAMODB_PER_WRITE_UNIT: f64 = 0.625 / 1e6;
/// On-demand read request unit (4 KB strongly consistent; half a unit eventually
/// consistent): aws.amazon.com/dynamodb/pricing/on-demand/.
pub const DYNAMODB_PER_READ_UNIT: f64 = 0.125 / 1e6;
/// Table storage, Standard table class, per GB-month past the first 25 GB: same page.
/// DynamoDB counts 100 bytes of overhead on every item.
pub const DYNAMODB_STORAGE_PER_GB_MONTH: f64 = 0.25;
pub const DYNAMODB_ITEM_OVERHEAD_BYTES: f64 = 100.0;
/// Continuous backups (point-in-time recovery), per GB-month of table size: same page.
pub const DYNAMODB_PITR_PER_GB_MONTH: f64 = 0.20;
/// aws.amazon.com/lambda/pricing/: requests, and arm64 duration (first tier).
pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// aws.amazon.com/sqs/pricing/: standard and FIFO queues per request (first tier), every
/// 64 KB of a request's payload billed as one request.
pub const SQS_PER_REQUEST: f64 = 0.40 / 1e6;
pub const SQS_FIFO_PER_REQUEST: f64 = 0.50 / 1e6;
pub const SQS_CHUNK_BYTES: f64 = 65_536.0;
/// aws.amazon.com/api-gateway/pricing/: REST API requests, first 333 million a month.
pub const API_GATEWAY_REST_PER_REQUEST: f64 = 3.50 / 1e6;
/// Data transfer out to the internet, first 10 TB a month (aws.amazon.com/ec2/pricing/
/// on-demand/, "Data Transfer"): what a delivery's request costs leaving AWS. A GB here is
/// 2^30 bytes.
pub const DATA_TRANSFER_OUT_PER_GB: f64 = 0.09;
pub const GB: f64 = 1_073_741_824.0;
/// Amazon EventBridge (aws.amazon.com/eventbridge/pricing/), for the same work done by AWS's
/// own service: a custom event put on a bus, per 64 KB chunk, and an API destination's
/// invocation (each try of each target).
pub const EVENTBRIDGE_PER_EVENT: f64 = 1.00 / 1e6;
pub const EVENTBRIDGE_API_DESTINATION_PER_INVOCATION: f64 = 0.20 / 1e6;
/// A month, in days, for storage kept a number of days.
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// What storing `bytes` of items (their attributes, DynamoDB's 100-byte overhead each
/// counted by the caller) for `days` costs, and their point-in-time recovery when it is on.
pub fn storage_cost(bytes: f64, days: f64, pitr: bool) -> f64 {
    let gb_months = bytes / GB * days / DAYS_PER_MONTH;
    gb_months * (DYNAMODB_STORAGE_PER_GB_MONTH + if pitr { DYNAMODB_PITR_PER_GB_MONTH } else { 0.0 })
}

/// Every function's memory in template.yaml.
pub const MEMORY_GB: f64 = 256.0 / 1024.0;
/// SQS's most messages a `SendMessageBatch`, `ReceiveMessage` or `DeleteMessageBatch`; also
/// what the ingest queue hands `ingest-events` at a time.
pub const SQS_BATCH: f64 = 10.0;
/// The delivery queue's event-source mapping: tasks an invocation of `deliver` (its
/// `BatchSize`, gathered within a one-second batching window). Lambda's poller still
/// receives and deletes them ten to a request.
pub const DELIVER_BATCH: f64 = 100.0;
// Assumptions, not measurements: a publish in AWS takes ~20 ms an event (its DynamoDB calls
// in-region); deliveries sent concurrently take ~15 ms of billed time each (a batch of ten
// in ~150 ms when receivers answer in ~100 ms). docs/BENCHMARKS.md sets the figures
// scripts/test-binaries measures beside them.
pub const PUBLISH_SECONDS: f64 = 0.020;
pub const DELIVER_SECONDS: f64 = 0.015;
/// Measured, not assumed (scripts/test-binaries, the shipped binaries against moto with IAM
/// enforced, receivers answering in 100 ms): `deliver`'s billed GB-seconds per attempt in
/// batches of 100 (2,822 µGB-s, 2026-12-07), and a batch publish's per event (3,844–5,818,
/// 2026-11-30; the upper end). Against moto, whose calls are slower than DynamoDB's in-region.
pub const MEASURED_DELIVER_GB_SECONDS_PER_ATTEMPT: f64 = 0.002_822;
pub const MEASURED_PUBLISH_GB_SECONDS_PER_EVENT: f64 = 0.005_818;

/// CloudWatch Logs ingestion of Lambda's logs (Standard class, the first 10 TB of a month),
/// per byte: AWS counts a GB as 2^30 bytes, and 26 bytes on top of each log event (line).
pub const CLOUDWATCH_LOGS_PER_BYTE: f64 = 0.50 / 1_073_741_824.0;
pub const LOG_EVENT_OVERHEAD_BYTES: f64 = 26.0;
// What the functions write, measured by scripts/test-binaries (the `deliver` and
// `publish-event` zips, AWS_LAMBDA_LOG_FORMAT=JSON, on the success path; 2026-11-30), each
// line with its 26 bytes:
// - a delivered attempt's entry in its batch's `deliveries` line (measured 68 bytes with a
//   16-character event id; here with a 30-character one, `evt_` and a ULID);
// - a failed attempt's own `delivery_attempt` line;
// - what a `deliver` invocation writes besides its entries (the `deliveries` line's fields,
//   the embedded-metric document: 1,900 bytes measured) and Lambda's START and REPORT
//   lines (~450 bytes, not the function's to measure);
// - what a publish invocation writes (its `request` line and metric document: 736 bytes
//   measured) and START and REPORT.
pub const LOG_BYTES_PER_DELIVERY: f64 = 82.0;
pub const LOG_BYTES_PER_FAILED_ATTEMPT: f64 = 560.0;
pub const LOG_BYTES_PER_DELIVER_INVOCATION: f64 = 2_400.0;
pub const LOG_BYTES_PER_PUBLISH_INVOCATION: f64 = 1_300.0;
/// `ingest-events` lists the events it published in one `ingested` line a batch: an entry
/// (`<message id> <event id> <subscriptions>`) is ~85 bytes (a line an event was ~500 with
/// its 26 bytes, 2026-12-07); the line's own fields are in the invocation's bytes.
pub const LOG_BYTES_PER_INGESTED_EVENT: f64 = 85.0;

/// An attempt-log item as DynamoDB stores it, its 100 bytes of overhead included: measured by
/// `hookpost-bench workload` (the attempt items' bytes over the attempts, 2026-12-07: 454).
pub const ATTEMPT_ITEM_BYTES: f64 = 454.0;
/// A delivery request's head (request line, `host`, `content-type`, `content-length`,
/// `user-agent`, the three `webhook-*` headers), the bytes that leave AWS besides its body:
/// the receivers' measured bytes per request less the body's (`hookpost-bench workload`,
/// 2026-12-07).
pub const REQUEST_HEAD_BYTES: f64 = 330.0;
/// The template's defaults the estimate assumes: attempts kept 30 days, point-in-time
/// recovery on.
pub const DEFAULT_ATTEMPT_DAYS: f64 = 30.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gigabyte_kept_a_month_costs_its_storage_and_its_backups() {
        assert!((storage_cost(GB, DAYS_PER_MONTH, false) - 0.25).abs() < 1e-12);
        assert!((storage_cost(GB, DAYS_PER_MONTH, true) - 0.45).abs() < 1e-12);
        // A million 1 KB attempt items kept 30 days.
        let million = storage_cost(1e6 * (1024.0 + DYNAMODB_ITEM_OVERHEAD_BYTES), 30.0, true);
        assert!((0.45..0.47).contains(&million), "{million}");
    }
}

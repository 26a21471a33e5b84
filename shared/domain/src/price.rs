//! AWS list prices (us-east-1, on-demand, as of 2026-11; aws.amazon.com/<service>/pricing)
//! and the shape of hookpost's work they are applied to. The benchmark's cost table and the
//! usage route's estimate are priced by these same figures.

pub const DYNAMODB_PER_WRITE_UNIT: f64 = 0.625 / 1e6;
pub const DYNAMODB_PER_READ_UNIT: f64 = 0.125 / 1e6;
pub const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
pub const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const SQS_PER_REQUEST: f64 = 0.40 / 1e6;
pub const API_GATEWAY_REST_PER_REQUEST: f64 = 3.50 / 1e6;

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

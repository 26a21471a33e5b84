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

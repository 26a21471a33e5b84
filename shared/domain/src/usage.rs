//! Usage per account and hour (the cost issue's lever 5): what an account published and what
//! its deliveries took, counted by the code that did it — once per publish request and once
//! per delivery batch, not once per delivery — so a team can bill its customers or spot a
//! noisy one. Counts are additions to hourly counters; the usage route sums a range of them.

use serde::{Deserialize, Serialize};

use crate::price::{
    storage_cost, ATTEMPT_ITEM_BYTES, CLOUDWATCH_LOGS_PER_BYTE, DATA_TRANSFER_OUT_PER_GB, DEFAULT_ATTEMPT_DAYS,
    DELIVER_BATCH, DELIVER_SECONDS, DYNAMODB_PER_READ_UNIT, DYNAMODB_PER_WRITE_UNIT, GB, LAMBDA_ARM64_PER_GB_SECOND,
    LAMBDA_PER_REQUEST, LOG_BYTES_PER_DELIVERY, LOG_BYTES_PER_DELIVER_INVOCATION, LOG_BYTES_PER_FAILED_ATTEMPT,
    LOG_BYTES_PER_PUBLISH_INVOCATION, MEMORY_GB, PUBLISH_SECONDS, REQUEST_HEAD_BYTES, SQS_BATCH, SQS_PER_REQUEST,
};
use crate::time::Timestamp;

/// How long an hour's counters are kept: long enough to bill a year against the last.
pub const RETENTION_DAYS: i64 = 400;

/// What an account used (in one hour, or summed over several).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Events accepted by a publish (HTTP, batch or the ingest queue).
    pub events_published: u64,
    /// Attempts answered 2xx.
    pub deliveries: u64,
    /// Attempts made, whatever their outcome (test deliveries not counted).
    pub attempts: u64,
    /// Failure records written.
    pub failures: u64,
    /// Request bodies of the attempts answered 2xx, in bytes.
    pub bytes_delivered: u64,
}

impl Usage {
    /// What this usage cost in AWS, in US dollars, by the benchmark's model (list prices;
    /// `docs/BENCHMARKS.md`): per event published, the publish's compute and its share of
    /// an invocation (ten events to one); per attempt, its task's SQS send, receive and
    /// delete (ten to a request), its share of a `deliver` invocation and its compute, two
    /// subscription reads (an upper bound: a batch's tasks of one subscription share the
    /// first of them), the attempt-log write and its log bytes (CloudWatch Logs); per
    /// failed attempt, the subscription's delivery fields and a log line of its own; per
    /// failure record, its write. Publish invocations' log lines are shared as their
    /// requests are (ten events to one). What leaves AWS: every attempt's request (its
    /// head, and a body the size of the delivered ones' average) at the data-transfer-out
    /// price; what stays: its attempt-log item for the default 30 days, with point-in-time
    /// recovery. API Gateway is left out: it depends on how events are published ($3.50 a
    /// million requests; a batch publish carries up to 100 events, the ingest queue none);
    /// so are the usage counter and rate limiter writes, which depend on how many accounts
    /// and subscriptions share a batch (docs/BENCHMARKS.md prices them on a realistic mix).
    pub fn estimated_cost_usd(&self) -> f64 {
        let per_event = PUBLISH_SECONDS * MEMORY_GB * LAMBDA_ARM64_PER_GB_SECOND
            + (LAMBDA_PER_REQUEST + LOG_BYTES_PER_PUBLISH_INVOCATION * CLOUDWATCH_LOGS_PER_BYTE) / SQS_BATCH;
        let per_attempt = 3.0 * SQS_PER_REQUEST / SQS_BATCH
            + (LAMBDA_PER_REQUEST + LOG_BYTES_PER_DELIVER_INVOCATION * CLOUDWATCH_LOGS_PER_BYTE) / DELIVER_BATCH
            + DELIVER_SECONDS * MEMORY_GB * LAMBDA_ARM64_PER_GB_SECOND
            + 2.0 * DYNAMODB_PER_READ_UNIT
            + DYNAMODB_PER_WRITE_UNIT
            + LOG_BYTES_PER_DELIVERY * CLOUDWATCH_LOGS_PER_BYTE;
        // A failed attempt has a log line of its own instead of an entry in its batch's.
        let per_failed_attempt = DYNAMODB_PER_WRITE_UNIT
            + (LOG_BYTES_PER_FAILED_ATTEMPT - LOG_BYTES_PER_DELIVERY) * CLOUDWATCH_LOGS_PER_BYTE;
        let failed_attempts = self.attempts.saturating_sub(self.deliveries);
        let average_body =
            if self.deliveries == 0 { 0.0 } else { self.bytes_delivered as f64 / self.deliveries as f64 };
        let data_out = self.attempts as f64 * (REQUEST_HEAD_BYTES + average_body) / GB * DATA_TRANSFER_OUT_PER_GB;
        let kept = storage_cost(self.attempts as f64 * ATTEMPT_ITEM_BYTES, DEFAULT_ATTEMPT_DAYS, true);
        data_out
            + kept
            + self.events_published as f64 * per_event
            + self.attempts as f64 * per_attempt
            + failed_attempts as f64 * per_failed_attempt
            + self.failures as f64 * DYNAMODB_PER_WRITE_UNIT
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Self) {
        let Self { events_published, deliveries, attempts, failures, bytes_delivered } = other;
        self.events_published += events_published;
        self.deliveries += deliveries;
        self.attempts += attempts;
        self.failures += failures;
        self.bytes_delivered += bytes_delivered;
    }
}

/// A usage figure as the API shows it: the counts and their estimated cost.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct UsageView {
    #[serde(flatten)]
    pub usage: Usage,
    /// In US dollars, rounded to a millionth of a cent.
    pub estimated_cost_usd: f64,
}

impl From<Usage> for UsageView {
    fn from(usage: Usage) -> Self {
        Self { usage, estimated_cost_usd: (usage.estimated_cost_usd() * 1e8).round() / 1e8 }
    }
}

/// The hours a usage request sums: those starting in [`from`, `to`). Without `to`, up to and
/// including the hour `now` is in; without `from`, the 24 hours before `to`. Any range is
/// answered (one that ends before it starts holds no hour): what is kept bounds it, 400
/// days of hourly counters.
pub fn range(from: Option<Timestamp>, to: Option<Timestamp>, now: Timestamp) -> (Timestamp, Timestamp) {
    let to = to.unwrap_or_else(|| hour_of(now).plus_seconds(3_600));
    (from.unwrap_or_else(|| to.plus_days(-1)), to)
}

/// The hour `t` falls in: its counter's key.
pub fn hour_of(t: Timestamp) -> Timestamp {
    Timestamp::from_unix(t.unix() - t.unix().rem_euclid(3_600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_start_on_the_hour_and_usage_adds_field_by_field() {
        assert_eq!(hour_of(Timestamp::from_unix(7_199)), Timestamp::from_unix(3_600));
        assert_eq!(hour_of(Timestamp::from_unix(7_200)), Timestamp::from_unix(7_200));
        assert_eq!(hour_of(Timestamp::from_unix(-1)), Timestamp::from_unix(-3_600));
        let mut total = Usage::default();
        total += Usage { events_published: 2, deliveries: 1, attempts: 3, failures: 1, bytes_delivered: 10 };
        total += Usage { deliveries: 1, attempts: 1, bytes_delivered: 5, ..Usage::default() };
        assert_eq!(total, Usage { events_published: 2, deliveries: 2, attempts: 4, failures: 1, bytes_delivered: 15 });
    }

    #[test]
    fn a_range_defaults_to_the_last_day_through_the_current_hour() {
        let now = Timestamp::from_unix(100 * 3_600 + 10);
        let to = Timestamp::from_unix(101 * 3_600);
        assert_eq!(range(None, None, now), (to.plus_days(-1), to));
        let from = Timestamp::from_unix(3_600);
        assert_eq!(range(Some(from), None, now), (from, to));
        assert_eq!(range(None, Some(from), now), (from.plus_days(-1), from));
        assert_eq!(range(Some(to), Some(from), now), (to, from), "as asked: it holds no hour");
    }

    #[test]
    fn the_view_shows_the_counts_beside_their_cost() {
        let view = UsageView::from(Usage { events_published: 1, attempts: 1, deliveries: 1, ..Usage::default() });
        let json = serde_json::to_value(view).unwrap();
        assert_eq!(json["events_published"], 1);
        assert_eq!(json["bytes_delivered"], 0);
        assert!(json["estimated_cost_usd"].as_f64().unwrap() > 0.0);
    }

    #[test]
    fn a_million_routine_deliveries_cost_what_the_benchmark_prices_them_at() {
        let routine = Usage {
            events_published: 1_000_000,
            deliveries: 1_000_000,
            attempts: 1_000_000,
            failures: 0,
            bytes_delivered: 1 << 30,
        };
        // The cost table's busy row at one subscription, a batch publish of 100, as it was
        // priced before a batch's tasks shared their subscription's read (the estimate keeps
        // a read each, an upper bound), without its API Gateway share ($0.035) and the routes
        // read (half a read unit a batch): $1.134, and CloudWatch Logs' $0.110 (236 bytes an event: its delivery's entry, a share of
        // a deliver invocation's lines and of a publish invocation's, ten events to one).
        let cost = routine.estimated_cost_usd();
        let logs = 236e6 * 0.50 / f64::from(1u32 << 30);
        // All in: each request's head and its 1,073-byte body leave AWS ($0.09 a GB), each
        // attempt's 454-byte log item is kept 30 days with backups ($0.45 a GB-month).
        let data_out = 1e6 * (330.0 + 1_073.741_824) * 0.09 / f64::from(1u32 << 30);
        let kept = 1e6 * 454.0 / f64::from(1u32 << 30) * 30.0 / 30.4375 * 0.45;
        assert!((cost - 1.134 - logs - data_out - kept).abs() < 0.001, "{cost}");
        let failing = Usage { deliveries: 0, failures: 1_000_000, bytes_delivered: 0, ..routine };
        // A fields write, a record, and a log line of its own instead of an entry; no body
        // delivered to average, so only the heads are counted leaving.
        let failing_logs = (560.0 - 82.0) * 1e6 * 0.50 / f64::from(1u32 << 30);
        let bodies = 1e6 * 1_073.741_824 * 0.09 / f64::from(1u32 << 30);
        assert!(
            (failing.estimated_cost_usd() - cost - 1.25 - failing_logs + bodies).abs() < 1e-9,
            "{}",
            failing.estimated_cost_usd()
        );
        assert_eq!(Usage::default().estimated_cost_usd(), 0.0);
    }
}

//! Dollars per million deliveries, from the DynamoDB tallies and AWS list prices.

use hookpost_domain::price::{
    API_GATEWAY_REST_PER_REQUEST, CLOUDWATCH_LOGS_PER_BYTE, DELIVER_BATCH, DELIVER_SECONDS, DYNAMODB_PER_READ_UNIT,
    DYNAMODB_PER_WRITE_UNIT, LAMBDA_ARM64_PER_GB_SECOND, LAMBDA_PER_REQUEST, LOG_BYTES_PER_DELIVERY,
    LOG_BYTES_PER_DELIVER_INVOCATION, LOG_BYTES_PER_PUBLISH_INVOCATION, MEMORY_GB, PUBLISH_SECONDS, SQS_BATCH,
    SQS_PER_REQUEST,
};

pub struct Cost {
    pub api_gateway: f64,
    pub lambda: f64,
    pub sqs: f64,
    pub dynamodb: f64,
    /// CloudWatch Logs' ingestion of what the functions write.
    pub logs: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.api_gateway + self.lambda + self.sqs + self.dynamodb + self.logs
    }

    pub fn without_ingress(&self) -> f64 {
        self.total() - self.api_gateway
    }
}

/// How events are fanned out and published: `subscriptions` deliveries per event, how they
/// come in (`ingress`), at what `pace` each subscription takes them.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub subscriptions: f64,
    pub ingress: Ingress,
    pub pace: Pace,
}

/// How events reach the publish code.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ingress {
    /// Through API Gateway: `per_request` events a request (1, or up to 100 batched).
    Http { per_request: f64 },
    /// The ingest queue: sent ten to a `SendMessageBatch`, received ten to an invocation
    /// (one receive, one batched delete).
    Queue,
}

impl Ingress {
    /// Events per publish invocation.
    fn per_invocation(self) -> f64 {
        match self {
            Self::Http { per_request } => per_request,
            Self::Queue => SQS_BATCH,
        }
    }
}

/// What decides whether a success writes the subscription's delivery fields
/// (`hookpost_domain::subscription::lifecycle::delivery_fields_due`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Each subscription has another success within the minute: a success writes its
    /// attempt-log entry only.
    Busy,
    /// At most one success a minute per subscription: each also writes the fields.
    Sparse,
}

/// Per million deliveries of events of this `shape`, on the success path, given what one
/// such event cost in DynamoDB. A batch publish is assumed to take as long per event as a
/// single one (no saving is claimed on compute, only on requests).
pub fn per_million_deliveries(shape: Shape, read_units: f64, write_units: f64) -> Cost {
    let Shape { subscriptions, ingress, .. } = shape;
    let deliveries = 1e6;
    let events = deliveries / subscriptions;
    let per_invocation = ingress.per_invocation();
    let publishes = events / per_invocation;
    // Usage counters: an account check (a strongly consistent read) and an `ADD` (one write
    // unit) per publish invocation and per deliver batch — one account to each, as when one
    // account is busy.
    let usage_flushes = publishes + deliveries / DELIVER_BATCH;
    let gb_seconds = events * PUBLISH_SECONDS * MEMORY_GB + deliveries * DELIVER_SECONDS * MEMORY_GB;
    let (api_requests, ingest_requests) = match ingress {
        Ingress::Http { .. } => (publishes, 0.0),
        // The team's send, Lambda's receive and its batched delete.
        Ingress::Queue => (0.0, publishes * 3.0),
    };
    Cost {
        api_gateway: api_requests * API_GATEWAY_REST_PER_REQUEST,
        lambda: (publishes + deliveries / DELIVER_BATCH) * LAMBDA_PER_REQUEST + gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        // Publish sends an invocation's tasks ten to a SendMessageBatch (across its events);
        // Lambda's poller receives and deletes the deliveries ten to a request.
        sqs: (ingest_requests
            + publishes * (per_invocation * subscriptions / SQS_BATCH).ceil()
            + deliveries * 2.0 / SQS_BATCH)
            * SQS_PER_REQUEST,
        dynamodb: events * (read_units * DYNAMODB_PER_READ_UNIT + write_units * DYNAMODB_PER_WRITE_UNIT)
            + usage_flushes * (DYNAMODB_PER_READ_UNIT + DYNAMODB_PER_WRITE_UNIT),
        logs: (deliveries * LOG_BYTES_PER_DELIVERY
            + deliveries / DELIVER_BATCH * LOG_BYTES_PER_DELIVER_INVOCATION
            + publishes * LOG_BYTES_PER_PUBLISH_INVOCATION)
            * CLOUDWATCH_LOGS_PER_BYTE,
    }
}

/// The cost table (Markdown), given what one event of each shape cost in DynamoDB: rows of
/// `(shape, read units, write units)` per event.
pub fn table(rows: &[(Shape, f64, f64)]) -> String {
    let mut out = String::from(
        "| per million deliveries | API Gateway (publish) | Lambda | SQS | DynamoDB | CloudWatch Logs | total | without API Gateway |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for &(shape, read_units, write_units) in rows {
        let c = per_million_deliveries(shape, read_units, write_units);
        let publish = match shape.ingress {
            Ingress::Http { per_request } if per_request > 1.0 => format!("{per_request} per batch publish"),
            Ingress::Http { .. } => "one per publish".to_owned(),
            Ingress::Queue => "through the ingest queue".to_owned(),
        };
        let pace = match shape.pace {
            Pace::Busy => "busy",
            Pace::Sparse => "sparse",
        };
        out += &format!(
            "| {} subscription(s) per event, {publish}, {pace} | ${:.3} | ${:.3} | ${:.3} | ${:.3} | ${:.3} | **${:.2}** | ${:.2} |\n",
            shape.subscriptions,
            c.api_gateway,
            c.lambda,
            c.sqs,
            c.dynamodb,
            c.logs,
            c.total(),
            c.without_ingress()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_spreads_the_publish_over_its_deliveries() {
        let one = per_million_deliveries(
            Shape { subscriptions: 1.0, ingress: Ingress::Http { per_request: 1.0 }, pace: Pace::Busy },
            1.0,
            4.0,
        );
        let ten = per_million_deliveries(
            Shape { subscriptions: 10.0, ingress: Ingress::Http { per_request: 1.0 }, pace: Pace::Busy },
            1.0,
            4.0,
        );
        assert!((one.api_gateway - 3.50).abs() < 1e-9);
        assert!((ten.api_gateway - 0.35).abs() < 1e-9);
        // The event's units, and a usage check and addition per publish and per deliver batch.
        let usage = |flushes: f64| flushes * (0.125 + 0.625) / 1e6;
        assert!((one.dynamodb - (0.125 + 2.5 + usage(1e6 + 1e4))).abs() < 1e-9);
        assert!((one.sqs - 0.48).abs() < 1e-9);
        assert!((ten.sqs - 0.12).abs() < 1e-9);
        assert!(ten.total() < one.total());
        let batched = per_million_deliveries(
            Shape { subscriptions: 1.0, ingress: Ingress::Http { per_request: 100.0 }, pace: Pace::Sparse },
            1.0,
            4.0,
        );
        assert!((batched.api_gateway - 0.035).abs() < 1e-9, "a hundred events share one request");
        assert!(batched.lambda < one.lambda);
        assert!((batched.dynamodb - (0.125 + 2.5 + usage(1e4 + 1e4))).abs() < 1e-9, "usage once per request");
        assert!((batched.sqs - 0.12).abs() < 1e-9, "tasks of ten events share a SendMessageBatch");
        // CloudWatch Logs: an entry a delivery, a deliver invocation's lines a hundred
        // deliveries, a publish invocation's an event — or a hundred.
        let gib = f64::from(1u32 << 30);
        assert!((one.logs - (82e6 + 2_400.0 * 1e4 + 1_300.0 * 1e6) * 0.50 / gib).abs() < 1e-9);
        assert!((batched.logs - (82e6 + 2_400.0 * 1e4 + 1_300.0 * 1e4) * 0.50 / gib).abs() < 1e-9);
        let queued = per_million_deliveries(Shape { ingress: Ingress::Queue, ..ONE }, 1.0, 4.0);
        assert_eq!(queued.api_gateway, 0.0);
        assert!((queued.sqs - (0.12 + 0.12)).abs() < 1e-9, "send, receive, delete per ten events on top");
        assert!((queued.dynamodb - (0.125 + 2.5 + usage(1e5 + 1e4))).abs() < 1e-9, "usage once per ten events");
    }

    const ONE: Shape = Shape { subscriptions: 1.0, ingress: Ingress::Http { per_request: 1.0 }, pace: Pace::Busy };

    #[test]
    fn the_table_has_a_row_per_fan_out_with_its_total() {
        let ten = Shape { subscriptions: 10.0, ingress: Ingress::Http { per_request: 1.0 }, pace: Pace::Busy };
        let batched = Shape { subscriptions: 1.0, ingress: Ingress::Http { per_request: 100.0 }, pace: Pace::Sparse };
        let text = table(&[(ten, 11.0, 22.0), (batched, 2.0, 4.0)]);
        let total = per_million_deliveries(ten, 11.0, 22.0).total();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("| 10 subscription(s) per event, one per publish, busy |"));
        assert!(text.contains("| 1 subscription(s) per event, 100 per batch publish, sparse |"));
        assert!(text.contains(&format!("**${total:.2}**")));
    }
}

//! Dollars per million deliveries, from the DynamoDB tallies and AWS list prices.

// AWS list prices, us-east-1, on-demand, as of 2026-11 (aws.amazon.com/<service>/pricing).
const DYNAMODB_PER_WRITE_UNIT: f64 = 0.625 / 1e6;
const DYNAMODB_PER_READ_UNIT: f64 = 0.125 / 1e6;
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
const LAMBDA_ARM64_PER_GB_SECOND: f64 = 0.000_013_333_4;
const SQS_PER_REQUEST: f64 = 0.40 / 1e6;
const API_GATEWAY_REST_PER_REQUEST: f64 = 3.50 / 1e6;

// What the template sets and what the prices above are applied to.
const MEMORY_GB: f64 = 256.0 / 1024.0;
const SQS_BATCH: f64 = 10.0;
// Assumptions, not measurements: a publish in AWS takes ~20 ms (its DynamoDB calls
// in-region); a batch of ten deliveries, sent concurrently, ~150 ms when receivers answer
// in ~100 ms.
const PUBLISH_SECONDS: f64 = 0.020;
const DELIVER_BATCH_SECONDS: f64 = 0.150;

pub struct Cost {
    pub api_gateway: f64,
    pub lambda: f64,
    pub sqs: f64,
    pub dynamodb: f64,
}

impl Cost {
    pub fn total(&self) -> f64 {
        self.api_gateway + self.lambda + self.sqs + self.dynamodb
    }

    pub fn without_ingress(&self) -> f64 {
        self.total() - self.api_gateway
    }
}

/// Per million deliveries of events fanned out to `subscriptions` each, on the success
/// path, given what one such event cost in DynamoDB.
pub fn per_million_deliveries(subscriptions: f64, read_units: f64, write_units: f64) -> Cost {
    let deliveries = 1e6;
    let events = deliveries / subscriptions;
    let gb_seconds = events * PUBLISH_SECONDS * MEMORY_GB + deliveries / SQS_BATCH * DELIVER_BATCH_SECONDS * MEMORY_GB;
    Cost {
        api_gateway: events * API_GATEWAY_REST_PER_REQUEST,
        lambda: (events + deliveries / SQS_BATCH) * LAMBDA_PER_REQUEST + gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        // Publish sends an event's tasks ten to a SendMessageBatch; Lambda receives and
        // deletes in batches of ten.
        sqs: (events * (subscriptions / SQS_BATCH).ceil() + deliveries * 2.0 / SQS_BATCH) * SQS_PER_REQUEST,
        dynamodb: events * (read_units * DYNAMODB_PER_READ_UNIT + write_units * DYNAMODB_PER_WRITE_UNIT),
    }
}

/// The cost table (Markdown) for events fanned out to `subscriptions` each, given what one
/// such event cost in DynamoDB: rows of `(subscriptions, read units, write units)`.
pub fn table(rows: &[(f64, f64, f64)]) -> String {
    let mut out = String::from(
        "| per million deliveries | API Gateway (publish) | Lambda | SQS | DynamoDB | total | without API Gateway |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for &(subscriptions, read_units, write_units) in rows {
        let c = per_million_deliveries(subscriptions, read_units, write_units);
        out += &format!(
            "| {subscriptions} subscription(s) per event | ${:.3} | ${:.3} | ${:.3} | ${:.3} | **${:.2}** | ${:.2} |\n",
            c.api_gateway,
            c.lambda,
            c.sqs,
            c.dynamodb,
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
        let one = per_million_deliveries(1.0, 1.0, 4.0);
        let ten = per_million_deliveries(10.0, 1.0, 4.0);
        assert!((one.api_gateway - 3.50).abs() < 1e-9);
        assert!((ten.api_gateway - 0.35).abs() < 1e-9);
        assert!((one.dynamodb - (0.125 + 2.5)).abs() < 1e-9);
        assert!((one.sqs - 0.48).abs() < 1e-9);
        assert!((ten.sqs - 0.12).abs() < 1e-9);
        assert!(ten.total() < one.total());
    }

    #[test]
    fn the_table_has_a_row_per_fan_out_with_its_total() {
        let text = table(&[(1.0, 2.0, 4.0), (10.0, 11.0, 22.0)]);
        let total = per_million_deliveries(10.0, 11.0, 22.0).total();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("| 10 subscription(s) per event |"));
        assert!(text.contains(&format!("**${total:.2}**")));
    }
}

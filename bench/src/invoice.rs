//! The catalogue benchmarks' fixtures: a realistic invoice schema (15 properties) and 1 KiB
//! of data it accepts, shared by the criterion bench and the API throughput rows.

use serde_json::{json, Value};

/// A realistic schema of 15 properties: strings with patterns and formats, integers with
/// bounds, enums, a nested object, an array of objects.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["invoice_id", "customer_id", "amount", "currency", "status", "issued_at"],
        "additionalProperties": false,
        "properties": {
            "invoice_id": {"type": "string", "pattern": "^in_[A-Za-z0-9]{8,32}$"},
            "customer_id": {"type": "string", "pattern": "^cus_[A-Za-z0-9]{8,32}$"},
            "amount": {"type": "integer", "minimum": 0, "maximum": 100000000},
            "amount_tax": {"type": "integer", "minimum": 0},
            "currency": {"enum": ["usd", "eur", "gbp", "jpy", "chf"]},
            "status": {"enum": ["draft", "open", "paid", "void"]},
            "issued_at": {"type": "string", "format": "date-time"},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "email": {"type": "string", "format": "email"},
            "country": {"type": "string", "minLength": 2, "maxLength": 2},
            "memo": {"type": "string", "maxLength": 2000},
            "attempt": {"type": "integer", "minimum": 1, "maximum": 10},
            "paid": {"type": "boolean"},
            "address": {
                "type": "object",
                "properties": {"line1": {"type": "string"}, "city": {"type": "string"}, "postal_code": {"type": "string"}}
            },
            "lines": {
                "type": "array",
                "maxItems": 100,
                "items": {"type": "object", "required": ["sku", "quantity"],
                          "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}}}
            }
        }
    })
}

/// 1 KiB of data that the schema accepts.
pub fn data() -> Value {
    json!({
        "invoice_id": "in_1a2b3c4d5e6f7g8h", "customer_id": "cus_9z8y7x6w5v4u", "amount": 129900,
        "amount_tax": 21650, "currency": "eur", "status": "paid", "issued_at": "2026-12-07T09:30:00Z",
        "due_at": null, "email": "billing@example.com", "country": "FR", "attempt": 1, "paid": true,
        "memo": "x".repeat(580),
        "address": {"line1": "1 rue de la Paix", "city": "Paris", "postal_code": "75002"},
        "lines": [{"sku": "plan-pro", "quantity": 1}, {"sku": "seat", "quantity": 12}, {"sku": "sms-pack", "quantity": 3}]
    })
}

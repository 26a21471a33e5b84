//! The event-type catalogue.

use hookpost_domain::event_type::EventTypeInput;

use super::*;
use crate::CatalogueStore;

fn declared(description: &str) -> EventTypeInput {
    EventTypeInput {
        description: description.to_owned(),
        schema: Some(json!({"type": "object", "required": ["amount"], "$defs": {"a": {"$ref": "#"}}})),
        example: Some(json!({"amount": 12, "nested": {"list": [1, "two", null]}})),
        deprecated: false,
    }
}

pub async fn event_types_are_created_replaced_listed_and_deleted<S: CatalogueStore>(store: &S) {
    assert!(store.list_event_types().await.unwrap().is_empty(), "a new deployment has an empty catalogue");
    let (created, is_new) = store.put_event_type("invoice.paid", &declared("Paid."), NOW).await.unwrap();
    assert!(is_new);
    assert_eq!((created.name.as_str(), created.created_at, created.updated_at), ("invoice.paid", NOW, NOW));
    assert_eq!(store.get_event_type("invoice.paid").await.unwrap(), Some(created.clone()));

    let later = NOW.plus_seconds(60);
    let replacement = EventTypeInput { schema: None, example: None, deprecated: true, ..declared("Paid, old.") };
    let (replaced, is_new) = store.put_event_type("invoice.paid", &replacement, later).await.unwrap();
    assert!(!is_new, "the second write replaces");
    assert_eq!((replaced.created_at, replaced.updated_at), (NOW, later), "the creation time stays");
    assert_eq!((&replaced.schema, &replaced.example, replaced.deprecated), (&None, &None, true), "removed fields go");
    assert_eq!(store.get_event_type("invoice.paid").await.unwrap(), Some(replaced.clone()));

    store.put_event_type("call.ended", &declared("Ended."), NOW).await.unwrap();
    store.put_event_type("billing.refund.issued", &declared("Refunded."), NOW).await.unwrap();
    let names: Vec<String> = store.list_event_types().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["billing.refund.issued", "call.ended", "invoice.paid"], "by name");

    store.delete_event_type("call.ended").await.unwrap();
    assert_eq!(store.get_event_type("call.ended").await.unwrap(), None);
    assert!(matches!(store.delete_event_type("call.ended").await, Err(StoreError::NotFound)));
    assert_eq!(store.list_event_types().await.unwrap().len(), 2);
}

/// Two operators declaring the same new type at once: exactly one write creates it.
pub async fn concurrent_declarations_create_once<S: CatalogueStore>(store: &S) {
    let input = declared("Raced.");
    let writes = (0..8).map(|_| store.put_event_type("raced.type", &input, NOW));
    let outcomes = futures::future::join_all(writes).await;
    let created = outcomes.into_iter().map(|r| r.unwrap().1).filter(|created| *created).count();
    assert_eq!(created, 1);
}

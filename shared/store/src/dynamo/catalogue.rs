//! The event-type catalogue: `CATALOGUE` / `TYPE#<name>`, one partition for the deployment
//! (a few hundred small items at most, read whole and cached by the functions that use it).

use hookpost_domain::event_type::{EventType, EventTypeInput};

use super::*;
use crate::CatalogueStore;

const CATALOGUE_PK: &str = "CATALOGUE";

fn event_type_key(name: &str) -> Item {
    key(CATALOGUE_PK.to_owned(), format!("TYPE#{name}"))
}

/// A JSON value kept as its text (a schema's keys may be anything, `$ref` included).
fn json_text(value: &serde_json::Value) -> AttributeValue {
    s(value.to_string())
}

fn opt_json(r: &Reader<'_>, k: &str) -> Result<Option<serde_json::Value>, StoreError> {
    r.opt_s(k).map(|text| serde_json::from_str(text).map_err(|_| corrupt(k))).transpose()
}

pub(super) fn event_type_from(item: &Item) -> Result<EventType, StoreError> {
    let r = Reader(item);
    Ok(EventType {
        name: r.s("name")?.to_owned(),
        description: r.s("description")?.to_owned(),
        schema: opt_json(&r, "schema")?,
        example: opt_json(&r, "example")?,
        deprecated: r.bool("deprecated")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
    })
}

#[async_trait]
impl CatalogueStore for DynamoStore {
    #[instrument(skip(self, input))]
    async fn put_event_type(
        &self,
        name: &str,
        input: &EventTypeInput,
        now: Timestamp,
    ) -> Result<(EventType, bool), StoreError> {
        let mut e = Expr::default();
        e.set("kind", s("event_type"))
            .set("name", s(name))
            .set("description", s(&input.description))
            .set_opt("schema", input.schema.as_ref().map(json_text))
            .set_opt("example", input.example.as_ref().map(json_text))
            .set("deprecated", AttributeValue::Bool(input.deprecated))
            .set("updated_at", n(now.unix()));
        // One write creates or replaces: a replacement keeps the creation time.
        let (created, at) = (e.name("created_at"), e.value(n(now.unix())));
        e.sets.push(format!("{created} = if_not_exists({created}, {at})"));
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(event_type_key(name)))
            .update_expression(e.update_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            // What was there before tells a creation from a replacement.
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        let before = out.attributes.filter(|old| !old.is_empty());
        let created_at = match &before {
            Some(old) => Reader(old).ts("created_at")?,
            None => now,
        };
        Ok((input.clone().into_event_type(name, created_at, now), before.is_none()))
    }

    #[instrument(skip(self))]
    async fn get_event_type(&self, name: &str) -> Result<Option<EventType>, StoreError> {
        self.get_item(event_type_key(name)).await?.as_ref().map(event_type_from).transpose()
    }

    #[instrument(skip(self))]
    async fn delete_event_type(&self, name: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(event_type_key(name)))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(StoreError::NotFound),
            Err(err) => Err(backend(err)),
        }
    }

    #[instrument(skip(self))]
    async fn list_event_types(&self) -> Result<Vec<EventType>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(CATALOGUE_PK))
            .consistent_read(true);
        self.query_all(query).await?.iter().map(event_type_from).collect()
    }
}

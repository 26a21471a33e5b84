//! The update-expression builder.

use super::*;

/// Builds an update expression with a placeholder for every name and value, so reserved
/// words (`name`, `url`, ...) never matter.
#[derive(Default)]
pub(super) struct Expr {
    pub(super) sets: Vec<String>,
    pub(super) removes: Vec<String>,
    pub(super) adds: Vec<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(super) fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    pub(super) fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(v));
        self.sets.push(format!("{name} = {value}"));
        self
    }

    pub(super) fn set_opt(&mut self, attr: &str, v: Option<AttributeValue>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }

    pub(super) fn remove(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        self.removes.push(name);
        self
    }

    pub(super) fn add(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(v));
        self.adds.push(format!("{name} {value}"));
        self
    }

    pub(super) fn update_expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        if !self.adds.is_empty() {
            parts.push(format!("ADD {}", self.adds.join(", ")));
        }
        parts.join(" ")
    }

    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// This expression as one item of a transaction.
    pub(super) fn transact_update(
        &self,
        table: &str,
        key: Item,
        condition: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update_expression())
            .condition_expression(condition)
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .build()
            .map_err(invalid_request)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

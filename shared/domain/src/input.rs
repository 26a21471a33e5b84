//! Reading a JSON object field by field, so that every wrong field is reported by name in
//! one `validation_error` (serde's own errors name neither the field nor all the problems).

use serde_json::{Map, Value};

use crate::error::{ApiError, Issue};
use crate::time::Timestamp;

/// A float that is a whole, non-negative number.
fn whole(f: f64) -> Option<u64> {
    (f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f)).then_some(f as u64)
}

pub struct Fields {
    map: Map<String, Value>,
    issues: Vec<Issue>,
}

impl Fields {
    /// The body must be a JSON object.
    pub fn from_value(value: Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(map) => Ok(Self { map, issues: Vec::new() }),
            _ => Err(ApiError::invalid_field("body", "must be a JSON object")),
        }
    }

    pub fn issue(&mut self, field: &str, message: impl Into<String>) {
        self.issues.push(Issue::new(field, message));
    }

    pub fn has_issues(&self) -> bool {
        !self.issues.is_empty()
    }

    /// Removes and returns a field's raw value; `null` counts as present.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// An optional string; `null` is the same as absent.
    pub fn opt_string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            Value::Null => None,
            Value::String(s) => Some(s),
            _ => {
                self.issue(name, "must be a string");
                None
            }
        }
    }

    /// `raw` (as one of the readers here read it) through `parse`, with an issue on `name`
    /// saying what it `must` be when that fails.
    pub fn parsed<T>(
        &mut self,
        name: &str,
        raw: Option<String>,
        parse: impl FnOnce(&str) -> Option<T>,
        must: impl Into<String>,
    ) -> Option<T> {
        let parsed = parse(&raw?);
        if parsed.is_none() {
            self.issue(name, must);
        }
        parsed
    }

    /// An optional RFC 3339 timestamp.
    pub fn opt_timestamp(&mut self, name: &str) -> Option<Timestamp> {
        let raw = self.opt_string(name);
        self.parsed(name, raw, Timestamp::parse_rfc3339, Timestamp::RFC3339_EXPECTED)
    }

    /// Refuses `null` for each of `names`: optional fields that have no "nothing" value (leave
    /// them out instead).
    pub fn refuse_null(&mut self, names: &[&str]) {
        for name in names {
            if self.map.get(*name) == Some(&Value::Null) {
                self.map.remove(*name);
                self.issue(name, "must not be null; leave it out instead");
            }
        }
    }

    /// An optional string that may be left out but not set to `null` (a field with no
    /// "nothing" value, such as an account's plan).
    pub fn opt_string_not_null(&mut self, name: &str) -> Option<String> {
        if self.map.get(name) == Some(&Value::Null) {
            self.map.remove(name);
            self.issue(name, "must not be null; leave it out to keep it as it is");
            return None;
        }
        self.opt_string(name)
    }

    /// A string that must be present (and not `null`).
    pub fn required_string(&mut self, name: &str) -> Option<String> {
        if !self.contains(name) || self.map.get(name) == Some(&Value::Null) {
            self.map.remove(name);
            self.issue(name, "is required");
            return None;
        }
        self.opt_string(name)
    }

    pub fn opt_bool(&mut self, name: &str) -> Option<bool> {
        match self.take(name)? {
            Value::Null => None,
            Value::Bool(b) => Some(b),
            _ => {
                self.issue(name, "must be a boolean");
                None
            }
        }
    }

    /// An optional non-negative integer that fits in `u32`. As in JSON Schema, `30.0` is the
    /// integer 30.
    pub fn opt_u32(&mut self, name: &str) -> Option<u32> {
        match self.take(name)? {
            Value::Null => None,
            Value::Number(n) => match n.as_u64().or_else(|| whole(n.as_f64()?)).and_then(|n| u32::try_from(n).ok()) {
                Some(n) => Some(n),
                None => {
                    self.issue(name, "must be a non-negative integer");
                    None
                }
            },
            _ => {
                self.issue(name, "must be an integer");
                None
            }
        }
    }

    pub fn opt_string_array(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name)? {
            Value::Null => None,
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => self.issue(&format!("{name}[{i}]"), "must be a string"),
                    }
                }
                Some(out)
            }
            _ => {
                self.issue(name, "must be an array of strings");
                None
            }
        }
    }

    pub fn opt_object(&mut self, name: &str) -> Option<Map<String, Value>> {
        match self.take(name)? {
            Value::Null => None,
            Value::Object(map) => Some(map),
            _ => {
                self.issue(name, "must be an object");
                None
            }
        }
    }

    /// Reports every field nobody asked for, then every collected issue.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.issues.push(Issue::new(name, "unknown field"));
        }
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.issues))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issues(err: ApiError) -> Vec<Issue> {
        match err {
            ApiError::Validation(issues) => issues,
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn whole_floats_are_integers_and_null_can_be_refused() {
        let mut f = Fields::from_value(json!({"a": 30.0, "b": 30.5, "c": 1e30, "d": null, "e": "x"})).unwrap();
        assert_eq!(f.opt_u32("a"), Some(30));
        assert_eq!(f.opt_u32("b"), None);
        assert_eq!(f.opt_u32("c"), None);
        f.refuse_null(&["d", "e"]);
        assert_eq!(f.opt_string("e").as_deref(), Some("x"));
        let fields: Vec<String> = issues(f.finish().unwrap_err()).into_iter().map(|i| i.field).collect();
        assert_eq!(fields, ["b", "c", "d"]);
    }

    #[test]
    fn body_must_be_an_object() {
        for v in [json!([]), json!("x"), json!(1), json!(null)] {
            assert_eq!(issues(Fields::from_value(v).err().unwrap())[0].field, "body");
        }
    }

    #[test]
    fn reads_typed_fields_and_reports_each_problem() {
        let mut f = Fields::from_value(json!({
            "name": "n", "url": 5, "events": ["a", 1], "flag": "yes", "n": -1, "extra": true
        }))
        .unwrap();
        assert_eq!(f.opt_string("name").as_deref(), Some("n"));
        assert_eq!(f.opt_string("url"), None);
        assert_eq!(f.opt_string_array("events"), Some(vec!["a".to_owned()]));
        assert_eq!(f.opt_bool("flag"), None);
        assert_eq!(f.opt_u32("n"), None);
        assert_eq!(f.required_string("missing"), None);
        let fields: Vec<String> = issues(f.finish().unwrap_err()).into_iter().map(|i| i.field).collect();
        assert_eq!(fields, ["url", "events[1]", "flag", "n", "missing", "extra"]);
    }

    #[test]
    fn null_is_absent_for_optional_fields() {
        let mut f = Fields::from_value(json!({"name": null, "url": null})).unwrap();
        assert_eq!(f.opt_string("name"), None);
        assert_eq!(f.required_string("url"), None);
        assert_eq!(issues(f.finish().unwrap_err()), vec![Issue::new("url", "is required")]);
    }

    #[test]
    fn clean_input_finishes() {
        let mut f = Fields::from_value(json!({"a": 1, "b": {"c": 2}})).unwrap();
        assert_eq!(f.opt_u32("a"), Some(1));
        assert!(f.opt_object("b").is_some());
        assert!(!f.has_issues());
        f.finish().unwrap();
    }
}

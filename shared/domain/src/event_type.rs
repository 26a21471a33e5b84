//! The event-type catalogue (SPEC §11): what the operator declares an event type to be, the
//! JSON Schema its `data` must follow, and the names a subscription may choose from it.
//!
//! Schemas are compiled by [`boon`] (JSON Schema draft 2020-12, every keyword, and the
//! drafts before it when a schema names one in `$schema`). It was chosen over `jsonschema`
//! for its size: 385 KB in a stripped binary against 2.44 MB, where every function zip has a
//! 3 MB budget; both pass the official test suite for 2020-12. A schema may refer only to
//! itself (`#/$defs/...`, `$anchor`s): no `$ref` reaches a file or the network.

use std::error::Error;

use serde_json::Value;

use crate::error::{ApiError, Issue};
use crate::input::Fields;
use crate::subscription::is_valid_event_type;
use crate::time::Timestamp;

/// The largest schema, serialized (a catalogue item must stay well under DynamoDB's 400 KB).
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// The largest example, serialized.
pub const MAX_EXAMPLE_BYTES: usize = 64 * 1024;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000;
/// The most types one catalogue holds: it is read whole, and cached whole, by every publish.
pub const MAX_EVENT_TYPES: usize = 1_000;
/// At most this many issues are reported for one payload: the first ones show the fault.
const MAX_ISSUES: usize = 20;

/// One type of the catalogue, as the operator declared it.
#[derive(Clone, Debug, PartialEq)]
pub struct EventType {
    pub name: String,
    pub description: String,
    /// A JSON Schema for the events' `data`; `None`: any object.
    pub schema: Option<Value>,
    /// An example of `data`, valid against `schema`.
    pub example: Option<Value>,
    pub deprecated: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl EventType {
    /// The type as the API shows it (SPEC §11).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "schema": self.schema,
            "example": self.example,
            "deprecated": self.deprecated,
            "created_at": self.created_at.to_rfc3339(),
            "updated_at": self.updated_at.to_rfc3339(),
        })
    }
}

/// What a PUT declares; the times are the store's.
#[derive(Clone, Debug, PartialEq)]
pub struct EventTypeInput {
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    pub deprecated: bool,
}

impl EventTypeInput {
    /// The type this input declares, created now or replacing one created at `created_at`.
    pub fn into_event_type(self, name: &str, created_at: Timestamp, now: Timestamp) -> EventType {
        EventType {
            name: name.to_owned(),
            description: self.description,
            schema: self.schema,
            example: self.example,
            deprecated: self.deprecated,
            created_at,
            updated_at: now,
        }
    }
}

/// The name in `PUT /internal/v1/event-types/{name}`: section 4's event-type rule.
pub fn parse_name(name: &str) -> Result<&str, ApiError> {
    if is_valid_event_type(name) {
        Ok(name)
    } else {
        Err(ApiError::invalid_field("name", "must be 1 to 100 characters of a-z, 0-9, '_', '.', '-'"))
    }
}

/// Reads a PUT body: `description` required, `schema` a valid JSON Schema, `example` valid
/// against it, `deprecated` a boolean; any other field is refused.
pub fn parse_event_type(body: Value) -> Result<EventTypeInput, ApiError> {
    let mut f = Fields::from_value(body)?;
    let description = f.required_string("description");
    if let Some(d) = &description {
        let chars = d.chars().count();
        if chars == 0 || chars > MAX_DESCRIPTION_CHARS {
            f.issue("description", format!("must be 1 to {MAX_DESCRIPTION_CHARS} characters"));
        }
    }
    let schema = match f.take("schema") {
        None | Some(Value::Null) => None,
        Some(schema @ (Value::Object(_) | Value::Bool(_))) => Some(schema),
        Some(_) => {
            f.issue("schema", "must be a JSON Schema (an object or a boolean)");
            None
        }
    };
    let example = match f.take("example") {
        None | Some(Value::Null) => None,
        Some(example @ Value::Object(_)) => Some(example),
        Some(_) => {
            f.issue("example", "must be an object (an event's data)");
            None
        }
    };
    let deprecated = f.opt_bool("deprecated").unwrap_or(false);
    let mut issues = match f.finish() {
        Ok(()) => Vec::new(),
        Err(ApiError::Validation(issues)) => issues,
        Err(other) => return Err(other),
    };
    if serialized_len(schema.as_ref()) > MAX_SCHEMA_BYTES {
        issues.push(Issue::new("schema", format!("at most {MAX_SCHEMA_BYTES} bytes")));
    } else if serialized_len(example.as_ref()) > MAX_EXAMPLE_BYTES {
        issues.push(Issue::new("example", format!("at most {MAX_EXAMPLE_BYTES} bytes")));
    } else if let Some(schema) = &schema {
        match DataSchema::compile(schema) {
            Err(schema_issues) => issues.extend(schema_issues),
            Ok(compiled) => {
                if let Some(example) = &example {
                    if let Err(example_issues) = compiled.check(example, "example") {
                        issues.extend(example_issues);
                    }
                }
            }
        }
    }
    match description {
        Some(description) if issues.is_empty() => Ok(EventTypeInput { description, schema, example, deprecated }),
        _ => Err(ApiError::Validation(issues)),
    }
}

fn serialized_len(value: Option<&Value>) -> usize {
    value.map_or(0, |v| serde_json::to_vec(v).map_or(usize::MAX, |bytes| bytes.len()))
}

/// A compiled schema for events' `data`: compiled once per type and kept with the cached
/// catalogue, not per event.
pub struct DataSchema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl std::fmt::Debug for DataSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSchema").finish_non_exhaustive()
    }
}

/// The location the schema is compiled under: never fetched, only named.
const SCHEMA_URL: &str = "urn:hookpost:event-type";

/// Refuses every `$ref` outside the schema itself: the default loader would read files.
struct NoLoading;

impl boon::UrlLoader for NoLoading {
    fn load(&self, url: &str) -> Result<Value, Box<dyn Error>> {
        Err(format!("{url} is outside the schema: a schema may refer only to itself").into())
    }
}

impl DataSchema {
    /// Compiles `schema` (draft 2020-12 unless its `$schema` names another draft); the
    /// faults of a schema that is not a valid JSON Schema as issues under `schema/…`.
    pub fn compile(schema: &Value) -> Result<Self, Vec<Issue>> {
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler.use_loader(Box::new(NoLoading));
        // What a demanding schema author means by `"format": "email"`: checked, not noted.
        compiler.enable_format_assertions();
        let mut schemas = boon::Schemas::new();
        let compiled = match compiler.add_resource(SCHEMA_URL, schema.clone()) {
            Ok(()) => compiler.compile(SCHEMA_URL, &mut schemas),
            Err(err) => Err(err),
        };
        match compiled {
            Ok(index) => Ok(Self { schemas, index }),
            Err(boon::CompileError::ValidationError { src, .. }) => Err(leaf_issues(&src, "schema")),
            Err(
                boon::CompileError::LoadUrlError { url, .. }
                | boon::CompileError::UnsupportedUrlScheme { url }
                | boon::CompileError::ParseUrlError { url, .. },
            ) => Err(vec![Issue::new("schema", format!("refers to {url}: a schema may refer only to itself"))]),
            Err(other) => Err(vec![Issue::new("schema", format!("is not a valid JSON Schema: {other}"))]),
        }
    }

    /// Checks `data` against the schema: each violation an issue whose field is a JSON
    /// pointer under `field` (`data/amount`), at most twenty.
    pub fn check(&self, data: &Value, field: &str) -> Result<(), Vec<Issue>> {
        match self.schemas.validate(data, self.index) {
            Ok(()) => Ok(()),
            Err(error) => Err(leaf_issues(&error, field)),
        }
    }
}

/// The innermost errors of a validation: the ones that say what is wrong where.
fn leaf_issues(error: &boon::ValidationError<'_, '_>, field: &str) -> Vec<Issue> {
    let mut issues = Vec::new();
    collect_leaves(error, field, &mut issues);
    issues
}

fn collect_leaves(error: &boon::ValidationError<'_, '_>, field: &str, issues: &mut Vec<Issue>) {
    if issues.len() >= MAX_ISSUES {
        return;
    }
    if error.causes.is_empty() {
        // `InstanceLocation` displays as a JSON pointer: "" for the root, "/amount".
        issues.push(Issue::new(format!("{field}{}", error.instance_location), error.kind.to_string()));
        return;
    }
    for cause in &error.causes {
        collect_leaves(cause, field, issues);
    }
}

/// The catalogue as publish and subscribe use it: each type and, compiled when an event of
/// the type is first checked, its schema; and whether a type outside it may be published
/// (`HOOKPOST_EVENT_TYPES`). Subscribing needs only the names, so the functions that only
/// subscribe never link the schema compiler.
#[derive(Debug, Default)]
pub struct Catalogue {
    types: std::collections::BTreeMap<String, DeclaredSchema>,
    strict: bool,
}

#[derive(Debug)]
struct DeclaredSchema {
    schema: Option<Value>,
    compiled: std::sync::OnceLock<Result<DataSchema, ()>>,
}

impl Catalogue {
    pub fn new(types: &[EventType], strict: bool) -> Self {
        let types = types
            .iter()
            .map(|t| {
                (t.name.clone(), DeclaredSchema { schema: t.schema.clone(), compiled: std::sync::OnceLock::new() })
            })
            .collect();
        Self { types, strict }
    }

    /// The types' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.types.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Publish's check (SPEC §11): `data` against its type's schema (`validation_error`, an
    /// issue per violation under `data/`); a type outside the catalogue only when strict
    /// (`unknown_event_type`).
    ///
    /// A stored schema that no longer compiles (each was checked when it was declared, so
    /// only a hand-edited item could hold one) checks nothing: the event is published.
    pub fn check(&self, event_type: &str, data: &Value) -> Result<(), ApiError> {
        let Some(declared) = self.types.get(event_type) else {
            return if self.strict { Err(ApiError::UnknownEventType(event_type.to_owned())) } else { Ok(()) };
        };
        let Some(schema) = &declared.schema else { return Ok(()) };
        match declared.compiled.get_or_init(|| DataSchema::compile(schema).map_err(|_| ())) {
            Ok(compiled) => compiled.check(data, "data").map_err(ApiError::Validation),
            Err(()) => Ok(()),
        }
    }

    /// A subscription's `events` (SPEC §11): once the catalogue has types, each name must be
    /// one of them or a wildcard selecting one; the unknown ones in one issue.
    pub fn check_subscribed(&self, events: &[String]) -> Result<(), ApiError> {
        let names = self.names();
        let unknown = unknown_names(events, &names);
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_field(
                "events",
                format!("not in the event-type catalogue (GET /api/v1/event-types): {}", unknown.join(", ")),
            ))
        }
    }
}

/// Whether `name` in a subscription's `events` is a wildcard (`billing.*`), and its prefix
/// with the dot (`billing.`).
pub fn wildcard_prefix(name: &str) -> Option<&str> {
    name.strip_suffix('*').filter(|prefix| prefix.ends_with('.') && prefix.len() > 1)
}

/// Whether `event_type` is selected by `name`, a type or a `prefix.*` wildcard (which
/// selects every type under the prefix, at any depth).
pub fn selects(name: &str, event_type: &str) -> bool {
    match wildcard_prefix(name) {
        Some(prefix) => event_type.starts_with(prefix),
        None => name == event_type,
    }
}

/// The names of a subscription's `events` the catalogue does not know (SPEC §11): neither
/// a type in it nor a wildcard selecting one. Nothing is unknown while the catalogue is
/// empty.
pub fn unknown_names<'a>(events: &'a [String], catalogue: &[String]) -> Vec<&'a str> {
    if catalogue.is_empty() {
        return Vec::new();
    }
    events.iter().filter(|name| !catalogue.iter().any(|known| selects(name, known))).map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issues(result: Result<EventTypeInput, ApiError>) -> Vec<(String, String)> {
        match result {
            Err(ApiError::Validation(issues)) => issues.into_iter().map(|i| (i.field, i.message)).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn invoice_schema() -> Value {
        json!({
            "type": "object",
            "required": ["invoice_id", "amount", "currency"],
            "properties": {
                "invoice_id": {"type": "string", "pattern": "^in_"},
                "amount": {"type": "integer", "minimum": 0},
                "currency": {"enum": ["usd", "eur"]},
                "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
                "email": {"type": "string", "format": "email"}
            },
            "$defs": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}},
            "additionalProperties": false
        })
    }

    #[test]
    fn a_type_with_a_schema_and_a_valid_example_is_accepted() {
        let input = parse_event_type(json!({
            "description": "An invoice was paid.",
            "schema": invoice_schema(),
            "example": {"invoice_id": "in_1", "amount": 1200, "currency": "usd"},
        }))
        .expect("valid");
        assert_eq!(input.description, "An invoice was paid.");
        assert!(!input.deprecated);
        let minimal = parse_event_type(json!({"description": "d", "deprecated": true})).expect("valid");
        assert_eq!((minimal.schema, minimal.example, minimal.deprecated), (None, None, true));
    }

    #[test]
    fn every_fault_of_a_declaration_is_an_issue_on_its_field() {
        assert_eq!(issues(parse_event_type(json!({}))), [("description".into(), "is required".into())]);
        assert_eq!(
            issues(parse_event_type(json!({"description": "", "colour": 1}))),
            [("description".into(), "must be 1 to 1000 characters".into()), ("colour".into(), "unknown field".into())]
        );
        assert_eq!(
            issues(parse_event_type(json!({"description": "d", "schema": "object", "example": [1]}))),
            [
                ("schema".into(), "must be a JSON Schema (an object or a boolean)".into()),
                ("example".into(), "must be an object (an event's data)".into())
            ]
        );
        let not_a_schema = issues(parse_event_type(json!({"description": "d", "schema": {"type": "objekt"}})));
        // `type` is a name or an array of names: each alternative says why it failed.
        assert!(!not_a_schema.is_empty() && not_a_schema.iter().all(|(f, _)| f == "schema/type"), "{not_a_schema:?}");
        let bad_pattern = issues(parse_event_type(json!({"description": "d", "schema": {"pattern": "("}})));
        assert_eq!(bad_pattern[0].0, "schema/pattern", "{bad_pattern:?}");
        let big = json!({"description": "d", "schema": {"description": "x".repeat(MAX_SCHEMA_BYTES)}});
        assert_eq!(issues(parse_event_type(big)), [("schema".into(), "at most 65536 bytes".into())]);
        let example = issues(parse_event_type(json!({
            "description": "d", "schema": invoice_schema(), "example": {"invoice_id": "x", "amount": -1, "currency": "usd"}
        })));
        let fields: Vec<&str> = example.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["example/invoice_id", "example/amount"], "{example:?}");
    }

    #[test]
    fn a_schema_may_refer_only_to_itself() {
        for reference in ["file:///etc/passwd", "https://example.com/s.json", "other.json"] {
            let refused = issues(parse_event_type(json!({"description": "d", "schema": {"$ref": reference}})));
            assert_eq!(refused.len(), 1, "{reference}: {refused:?}");
            assert_eq!(refused[0].0, "schema", "{reference}");
            assert!(refused[0].1.contains("may refer only to itself"), "{reference}: {}", refused[0].1);
        }
    }

    #[test]
    fn data_is_checked_with_an_issue_per_violation_pointing_into_it() {
        let schema = DataSchema::compile(&invoice_schema()).expect("compiles");
        assert!(schema.check(&json!({"invoice_id": "in_1", "amount": 0, "currency": "eur"}), "data").is_ok());
        let faults = schema
            .check(
                &json!({"invoice_id": 7, "amount": 1.5, "currency": "gbp", "lines": [{"sku": "a"}, {}],
                        "email": "not-an-address", "extra": true}),
                "data",
            )
            .expect_err("invalid");
        let mut fields: Vec<&str> = faults.iter().map(|i| i.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["data", "data/amount", "data/currency", "data/email", "data/invoice_id", "data/lines/1"],
            "{faults:?}"
        );
        let missing = schema.check(&json!({"invoice_id": "in_1"}), "data").expect_err("invalid");
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].field, "data");
        assert!(missing[0].message.contains("amount") && missing[0].message.contains("currency"), "{missing:?}");
        let strict = DataSchema::compile(&json!(false)).expect("compiles");
        assert!(strict.check(&json!({}), "data").is_err(), "the schema `false` refuses everything");
        let deep = DataSchema::compile(&json!({"properties": {"a~b/c": {"type": "string"}}})).expect("compiles");
        assert_eq!(deep.check(&json!({"a~b/c": 1}), "data").expect_err("invalid")[0].field, "data/a~0b~1c");
    }

    #[test]
    fn an_older_draft_named_in_the_schema_is_honoured() {
        // Draft 4's boolean `exclusiveMaximum`; in 2020-12 it would have to be a number.
        let draft4 =
            json!({"$schema": "http://json-schema.org/draft-04/schema#", "maximum": 10, "exclusiveMaximum": true});
        let schema = DataSchema::compile(&draft4).expect("a valid draft-04 schema");
        assert!(schema.check(&json!(10), "data").is_err());
        assert!(schema.check(&json!(9), "data").is_ok());
    }

    fn declared(name: &str, schema: Option<Value>) -> EventType {
        let t = Timestamp::from_unix(1_780_000_000);
        EventType {
            name: name.into(),
            description: "d".into(),
            schema,
            example: None,
            deprecated: false,
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn the_catalogue_checks_publishes_and_subscriptions() {
        let types =
            [declared("invoice.paid", Some(invoice_schema())), declared("call.ended", None), declared("x.y", None)];
        let open = Catalogue::new(&types, false);
        assert_eq!(open.names(), ["call.ended", "invoice.paid", "x.y"]);
        assert!(open.check("invoice.paid", &json!({"invoice_id": "in_1", "amount": 5, "currency": "usd"})).is_ok());
        match open.check("invoice.paid", &json!({"invoice_id": "in_1", "amount": "5", "currency": "usd"})) {
            Err(ApiError::Validation(issues)) => assert_eq!(issues[0].field, "data/amount"),
            other => panic!("{other:?}"),
        }
        assert!(open.check("call.ended", &json!({"anything": true})).is_ok(), "a type without a schema");
        assert!(open.check("not.declared", &json!({})).is_ok(), "open: outside the catalogue is accepted");
        let strict = Catalogue::new(&types, true);
        assert_eq!(strict.check("not.declared", &json!({})), Err(ApiError::UnknownEventType("not.declared".into())));

        assert!(open.check_subscribed(&["invoice.*".into(), "call.ended".into()]).is_ok());
        match open.check_subscribed(&["invoice.payed".into(), "call.ended".into(), "crm.*".into()]) {
            Err(ApiError::Validation(issues)) => {
                assert_eq!(issues[0].field, "events");
                assert!(issues[0].message.ends_with("invoice.payed, crm.*"), "{}", issues[0].message);
            }
            other => panic!("{other:?}"),
        }
        assert!(Catalogue::default().check_subscribed(&["anything".into()]).is_ok(), "empty: no check");
    }

    #[test]
    fn wildcards_select_every_type_under_their_prefix() {
        assert_eq!(wildcard_prefix("billing.*"), Some("billing."));
        assert_eq!(wildcard_prefix("*"), None);
        assert_eq!(wildcard_prefix(".*"), None);
        assert_eq!(wildcard_prefix("billing*"), None);
        assert!(selects("billing.*", "billing.invoice.paid"));
        assert!(selects("billing.*", "billing.paid"));
        assert!(!selects("billing.*", "billing"));
        assert!(!selects("billing.*", "billingx.paid"));
        assert!(selects("call.ended", "call.ended"));
        assert!(!selects("call.ended", "call.ended.late"));
    }

    #[test]
    fn unknown_names_are_those_the_catalogue_cannot_select() {
        let catalogue = vec!["billing.invoice.paid".to_owned(), "call.ended".to_owned()];
        let events: Vec<String> =
            ["billing.*", "call.ended", "invoice.payed", "crm.*"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(unknown_names(&events, &catalogue), ["invoice.payed", "crm.*"]);
        assert!(unknown_names(&events, &[]).is_empty(), "an empty catalogue checks nothing");
    }
}

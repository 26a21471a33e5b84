//! Content filters (SPEC §11): an event pattern in Amazon EventBridge's content-filtering
//! syntax, matched against `{"event", "channel_id", "data"}`.
//!
//! A pattern is an object. A field maps to an array of allowed values and matchers (any one
//! of them will do), or to an object of nested fields; every field must match (and), and
//! `"$or": [pattern, pattern, ...]` at any level adds alternatives of which one must match.
//! Matchers: exact values (strings, numbers compared as numbers, booleans, null), `prefix`
//! and `suffix` (either with `equals-ignore-case`), `equals-ignore-case`, `wildcard` (`*`
//! for any run of characters, `\*` for a star), `numeric` (`=`, or one or two bounds),
//! `exists`, and `anything-but` (values, or a `prefix`, `suffix`, `equals-ignore-case` or
//! `wildcard`). A field whose value in the event is an array matches when any element
//! does; an object inside an array matches a nested pattern when one element matches it
//! whole. A field absent from the event matches only `{"exists": false}`; `exists` looks at
//! values, not objects (as EventBridge: "exists matching only works on leaf nodes").
//!
//! Written here rather than taken from `quamina` (the Rust port of the EventBridge-style
//! matcher): hookpost matches the few filters of one account's subscriptions per event, so
//! an automaton buys nothing, and quamina-rs (0.7) has no `$or`, no `anything-but` with a
//! prefix, suffix or wildcard, and reports a faulty pattern without saying where. A filter
//! is compiled once (when its subscription is parsed) and matched per event.

use serde_json::{Map, Value};

use crate::error::Issue;

/// The most a filter may weigh, serialized (SPEC §11).
pub const MAX_FILTER_BYTES: usize = 4096;
/// How deep fields may nest (and `$or` alternatives inside them).
const MAX_DEPTH: usize = 10;

/// A compiled filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    root: Fields,
}

/// One level of a pattern: every field must match, and one alternative of each `$or`.
#[derive(Clone, Debug, PartialEq)]
struct Fields {
    fields: Vec<(String, Rule)>,
    any_of: Vec<Fields>,
}

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    Nested(Fields),
    Leaf(Vec<Matcher>),
}

#[derive(Clone, Debug, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix { text: String, ignore_case: bool },
    Suffix { text: String, ignore_case: bool },
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
    AnythingBut(Excluded),
}

#[derive(Clone, Debug, PartialEq)]
enum Excluded {
    Values(Vec<Value>),
    Prefix(String),
    Suffix(String),
    EqualsIgnoreCase(Vec<String>),
    Wildcard(Vec<Glob>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// A `wildcard` value: literal runs between stars.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Glob {
    parts: Vec<String>,
}

impl Filter {
    /// Compiles `pattern`, or says what is wrong with it and where: each issue's field is a
    /// path from `field` (`filter/data/amount/0`).
    pub fn compile(pattern: &Value, field: &str) -> Result<Self, Vec<Issue>> {
        let size = pattern.to_string().len();
        if size > MAX_FILTER_BYTES {
            return Err(vec![Issue::new(
                field,
                format!("is {size} bytes; a filter may have at most {MAX_FILTER_BYTES}"),
            )]);
        }
        let mut issues = Vec::new();
        let root = match pattern {
            Value::Object(fields) if !fields.is_empty() => compile_fields(fields, field, 0, &mut issues),
            Value::Object(_) => {
                issues.push(Issue::new(field, "names no field; a filter that lets every event through is null"));
                Fields { fields: Vec::new(), any_of: Vec::new() }
            }
            _ => {
                issues.push(Issue::new(field, "must be an object (an EventBridge event pattern) or null"));
                Fields { fields: Vec::new(), any_of: Vec::new() }
            }
        };
        if issues.is_empty() {
            Ok(Self { root })
        } else {
            Err(issues)
        }
    }

    /// Whether the event (`{"event", "channel_id", "data"}`) passes.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }
}

/// A subscription's `filter`: the pattern as the customer wrote it (what the API shows and
/// the store keeps) and its compiled form — compiled when the pattern is written (to check
/// it) or, for one read back from the store, when it is first matched: once per read of the
/// subscription, then matched against every event of a publish. (Compiling only where
/// matching happens keeps the matcher out of the functions that never match.)
#[derive(Clone, Debug)]
pub struct ContentFilter {
    /// Shared: a subscription is cloned with its filter (the memory store's reads, a batch's
    /// shared read), and a pattern is a tree of maps.
    pattern: std::sync::Arc<Value>,
    compiled: std::sync::OnceLock<Option<std::sync::Arc<Filter>>>,
}

impl ContentFilter {
    /// Compiles `pattern`; its faults as issues under `field`.
    pub fn new(pattern: Value, field: &str) -> Result<Self, Vec<Issue>> {
        let compiled = Filter::compile(&pattern, field)?;
        Ok(Self {
            pattern: std::sync::Arc::new(pattern),
            compiled: std::sync::OnceLock::from(Some(std::sync::Arc::new(compiled))),
        })
    }

    /// A pattern read back from the store (checked when it was written).
    pub fn stored(pattern: Value) -> Self {
        Self { pattern: std::sync::Arc::new(pattern), compiled: std::sync::OnceLock::new() }
    }

    pub fn pattern(&self) -> &Value {
        &self.pattern
    }

    /// Whether the event (`filtered_view`) passes. A stored pattern that no longer compiles
    /// (every pattern is checked before it is kept, so only a hand-edited item could hold
    /// one) lets every event through: an endpoint may then get more than it asked for, never
    /// silently less.
    pub fn matches(&self, event: &Value) -> bool {
        let compiled =
            self.compiled.get_or_init(|| Filter::compile(&self.pattern, "filter").ok().map(std::sync::Arc::new));
        compiled.as_ref().is_none_or(|filter| filter.matches(event))
    }
}

/// Two filters are the same when their patterns are.
impl PartialEq for ContentFilter {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern
    }
}

impl Eq for ContentFilter {}

impl serde::Serialize for ContentFilter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.pattern.serialize(serializer)
    }
}

/// The document a filter sees for an event (SPEC §11).
pub fn filtered_view(event_type: &str, channel_id: Option<&str>, data: &Value) -> Value {
    let mut view = Map::with_capacity(3);
    view.insert("event".to_owned(), Value::String(event_type.to_owned()));
    view.insert("channel_id".to_owned(), channel_id.map_or(Value::Null, |c| Value::String(c.to_owned())));
    view.insert("data".to_owned(), data.clone());
    Value::Object(view)
}

fn compile_fields(fields: &Map<String, Value>, path: &str, depth: usize, issues: &mut Vec<Issue>) -> Fields {
    let mut compiled = Fields { fields: Vec::with_capacity(fields.len()), any_of: Vec::new() };
    if depth > MAX_DEPTH {
        issues.push(Issue::new(path, format!("nests deeper than {MAX_DEPTH} levels")));
        return compiled;
    }
    for (name, value) in fields {
        let at = format!("{path}/{}", escape_pointer(name));
        if name == "$or" {
            match value {
                Value::Array(alternatives) if alternatives.len() >= 2 => {
                    for (i, alternative) in alternatives.iter().enumerate() {
                        let at = format!("{at}/{i}");
                        match alternative {
                            Value::Object(inner) if !inner.is_empty() => {
                                compiled.any_of.push(compile_fields(inner, &at, depth + 1, issues));
                            }
                            _ => issues.push(Issue::new(at, "an alternative of $or must be an object naming fields")),
                        }
                    }
                }
                _ => issues.push(Issue::new(at, "$or takes an array of at least two patterns")),
            }
            continue;
        }
        match value {
            Value::Array(values) if values.is_empty() => {
                issues.push(Issue::new(at, "needs at least one value or matcher"));
            }
            Value::Array(values) => {
                let matchers = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| compile_matcher(v, &format!("{at}/{i}"), issues))
                    .collect();
                compiled.fields.push((name.clone(), Rule::Leaf(matchers)));
            }
            Value::Object(inner) if !inner.is_empty() => {
                compiled.fields.push((name.clone(), Rule::Nested(compile_fields(inner, &at, depth + 1, issues))));
            }
            Value::Object(_) => issues.push(Issue::new(at, "names no field")),
            _ => issues.push(Issue::new(
                at,
                "must be an array of values and matchers (e.g. [\"a\", {\"prefix\": \"b\"}]) or an object of fields",
            )),
        }
    }
    compiled
}

fn compile_matcher(value: &Value, path: &str, issues: &mut Vec<Issue>) -> Option<Matcher> {
    let (name, operand) = match value {
        Value::String(_) | Value::Bool(_) | Value::Null => return Some(Matcher::Exact(value.clone())),
        Value::Number(n) => {
            return match n.as_f64().filter(|f| f.is_finite()) {
                Some(_) => Some(Matcher::Exact(value.clone())),
                None => {
                    issues.push(Issue::new(path, "is not a number hookpost can compare"));
                    None
                }
            };
        }
        Value::Array(_) => {
            issues.push(Issue::new(path, "a value list cannot hold another list"));
            return None;
        }
        Value::Object(matcher) if matcher.len() == 1 => matcher.iter().next()?,
        Value::Object(_) => {
            issues.push(Issue::new(path, "a matcher is an object with exactly one key, e.g. {\"prefix\": \"us-\"}"));
            return None;
        }
    };
    let at = format!("{path}/{}", escape_pointer(name));
    let mut fault = |message: &str| {
        issues.push(Issue::new(at.clone(), message));
        None
    };
    match name.as_str() {
        "prefix" | "suffix" => {
            let (text, ignore_case) = match operand {
                Value::String(text) => (text.clone(), false),
                Value::Object(o) if o.len() == 1 => match o.get("equals-ignore-case") {
                    Some(Value::String(text)) => (text.clone(), true),
                    _ => return fault("takes a string, or {\"equals-ignore-case\": string}"),
                },
                _ => return fault("takes a string, or {\"equals-ignore-case\": string}"),
            };
            Some(if name == "prefix" { Matcher::Prefix { text, ignore_case } } else { Matcher::Suffix { text, ignore_case } })
        }
        "equals-ignore-case" => match operand {
            Value::String(text) => Some(Matcher::EqualsIgnoreCase(text.clone())),
            _ => fault("takes a string"),
        },
        "wildcard" => match operand {
            Value::String(text) => match Glob::parse(text) {
                Ok(glob) => Some(Matcher::Wildcard(glob)),
                Err(message) => fault(&message),
            },
            _ => fault("takes a string in which * stands for any run of characters"),
        },
        "numeric" => match operand {
            Value::Array(terms) => match compile_numeric(terms) {
                Ok(bounds) => Some(Matcher::Numeric(bounds)),
                Err(message) => fault(&message),
            },
            _ => fault("takes an array such as [\">\", 0, \"<=\", 100] or [\"=\", 5]"),
        },
        "exists" => match operand {
            Value::Bool(exists) => Some(Matcher::Exists(*exists)),
            _ => fault("takes true or false"),
        },
        "anything-but" => match compile_excluded(operand) {
            Ok(excluded) => Some(Matcher::AnythingBut(excluded)),
            Err(message) => fault(&message),
        },
        "cidr" => fault("cidr is not supported by hookpost's filters"),
        other => fault(&format!(
            "unknown matcher {other:?}; one of prefix, suffix, equals-ignore-case, wildcard, numeric, exists, anything-but"
        )),
    }
}

fn compile_numeric(terms: &[Value]) -> Result<Vec<(Comparison, f64)>, String> {
    const SHAPE: &str = "takes [\"=\", n], one bound ([\">\", 0]) or two ([\">=\", 0, \"<\", 100])";
    if !matches!(terms.len(), 2 | 4) {
        return Err(SHAPE.to_owned());
    }
    let mut bounds = Vec::with_capacity(2);
    for pair in terms.chunks(2) {
        let comparison = match pair[0].as_str() {
            Some("=") => Comparison::Equal,
            Some("<") => Comparison::Less,
            Some("<=") => Comparison::LessOrEqual,
            Some(">") => Comparison::Greater,
            Some(">=") => Comparison::GreaterOrEqual,
            _ => return Err(format!("{SHAPE}; the operators are =, <, <=, > and >=")),
        };
        let bound = pair[1].as_f64().filter(|f| f.is_finite()).ok_or_else(|| format!("{SHAPE}; bounds are numbers"))?;
        bounds.push((comparison, bound));
    }
    if let [(low, from), (high, to)] = bounds[..] {
        let lower = matches!(low, Comparison::Greater | Comparison::GreaterOrEqual);
        let upper = matches!(high, Comparison::Less | Comparison::LessOrEqual);
        if !lower || !upper {
            return Err(format!("{SHAPE}: a range is a lower bound (> or >=) then an upper one (< or <=)"));
        }
        if from >= to {
            return Err("the lower bound must be below the upper one".to_owned());
        }
    }
    Ok(bounds)
}

fn compile_excluded(operand: &Value) -> Result<Excluded, String> {
    const SHAPE: &str = "takes a value, a list of strings or of numbers, or {\"prefix\"}, {\"suffix\"}, \
                         {\"equals-ignore-case\"} or {\"wildcard\"}";
    let strings = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) if !items.is_empty() => {
                items.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
            }
            _ => None,
        }
    };
    match operand {
        Value::String(_) => Ok(Excluded::Values(vec![operand.clone()])),
        Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(Excluded::Values(vec![operand.clone()])),
        Value::Array(items) if !items.is_empty() => {
            let all_strings = items.iter().all(Value::is_string);
            let all_numbers = items.iter().all(|i| i.as_f64().is_some_and(f64::is_finite));
            if all_strings || all_numbers {
                Ok(Excluded::Values(items.clone()))
            } else {
                Err(format!("{SHAPE}: a list holds only strings or only numbers"))
            }
        }
        Value::Object(o) if o.len() == 1 => {
            let (name, inner) = o.iter().next().ok_or(SHAPE)?;
            match (name.as_str(), inner) {
                ("prefix", Value::String(p)) => Ok(Excluded::Prefix(p.clone())),
                ("suffix", Value::String(s)) => Ok(Excluded::Suffix(s.clone())),
                ("equals-ignore-case", v) => strings(v).map(Excluded::EqualsIgnoreCase).ok_or_else(|| SHAPE.to_owned()),
                ("wildcard", v) => {
                    let globs = strings(v).ok_or_else(|| SHAPE.to_owned())?;
                    globs.iter().map(|g| Glob::parse(g)).collect::<Result<_, _>>().map(Excluded::Wildcard)
                }
                _ => Err(SHAPE.to_owned()),
            }
        }
        _ => Err(SHAPE.to_owned()),
    }
}

/// Adds a literal character to the glob's current part.
fn push(parts: &mut [String], c: char) {
    if let Some(part) = parts.last_mut() {
        part.push(c);
    }
}

impl Glob {
    fn parse(pattern: &str) -> Result<Self, String> {
        let mut parts = vec![String::new()];
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ ('*' | '\\')) => push(&mut parts, escaped),
                    _ => return Err("a backslash escapes only * or \\".to_owned()),
                },
                '*' => {
                    if chars.peek() == Some(&'*') {
                        return Err("two wildcards in a row (**) are one; write *".to_owned());
                    }
                    parts.push(String::new());
                }
                c => push(&mut parts, c),
            }
        }
        Ok(Self { parts })
    }

    /// Whether `text` is the parts in order with anything between them.
    fn matches(&self, text: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return text.is_empty(),
        };
        let Some(mut remaining) = text.strip_prefix(first.as_str()) else { return false };
        let Some((last, middle)) = rest.split_last() else { return remaining.is_empty() };
        for part in middle {
            match remaining.find(part.as_str()) {
                Some(at) => remaining = &remaining[at + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

impl Fields {
    fn matches(&self, value: Option<&Value>) -> bool {
        let object = value.and_then(Value::as_object);
        self.fields.iter().all(|(name, rule)| rule.matches(object.and_then(|o| o.get(name))))
            && (self.any_of.is_empty() || self.any_of.iter().any(|alternative| alternative.matches(value)))
    }
}

impl Rule {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Rule::Nested(fields) => match value {
                Some(Value::Array(items)) => items.iter().any(|item| fields.matches(Some(item))),
                other => fields.matches(other),
            },
            Rule::Leaf(matchers) => {
                let mut leaves = Vec::new();
                if let Some(value) = value {
                    collect_leaves(value, &mut leaves);
                }
                matchers.iter().any(|matcher| match matcher {
                    Matcher::Exists(wanted) => leaves.is_empty() != *wanted,
                    other => leaves.iter().any(|leaf| other.matches(leaf)),
                })
            }
        }
    }
}

/// The values a field holds: itself, or the elements of its arrays (nested ones too).
/// Objects are not values: a pattern reaches into them with nested fields.
fn collect_leaves<'v>(value: &'v Value, leaves: &mut Vec<&'v Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| collect_leaves(item, leaves)),
        Value::Object(_) => {}
        leaf => leaves.push(leaf),
    }
}

impl Matcher {
    fn matches(&self, leaf: &Value) -> bool {
        match self {
            Matcher::Exact(wanted) => same_value(wanted, leaf),
            Matcher::Prefix { text, ignore_case } => leaf.as_str().is_some_and(|s| {
                if *ignore_case {
                    s.to_lowercase().starts_with(&text.to_lowercase())
                } else {
                    s.starts_with(text.as_str())
                }
            }),
            Matcher::Suffix { text, ignore_case } => leaf.as_str().is_some_and(|s| {
                if *ignore_case {
                    s.to_lowercase().ends_with(&text.to_lowercase())
                } else {
                    s.ends_with(text.as_str())
                }
            }),
            Matcher::EqualsIgnoreCase(text) => leaf.as_str().is_some_and(|s| s.to_lowercase() == text.to_lowercase()),
            Matcher::Wildcard(glob) => leaf.as_str().is_some_and(|s| glob.matches(s)),
            Matcher::Numeric(bounds) => leaf.as_f64().is_some_and(|n| {
                bounds.iter().all(|(comparison, bound)| match comparison {
                    Comparison::Equal => n == *bound,
                    Comparison::Less => n < *bound,
                    Comparison::LessOrEqual => n <= *bound,
                    Comparison::Greater => n > *bound,
                    Comparison::GreaterOrEqual => n >= *bound,
                })
            }),
            Matcher::Exists(_) => false,
            Matcher::AnythingBut(excluded) => !excluded.contains(leaf),
        }
    }
}

impl Excluded {
    fn contains(&self, leaf: &Value) -> bool {
        match self {
            Excluded::Values(values) => values.iter().any(|v| same_value(v, leaf)),
            Excluded::Prefix(p) => leaf.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Excluded::Suffix(x) => leaf.as_str().is_some_and(|s| s.ends_with(x.as_str())),
            Excluded::EqualsIgnoreCase(texts) => {
                leaf.as_str().is_some_and(|s| texts.iter().any(|t| t.to_lowercase() == s.to_lowercase()))
            }
            Excluded::Wildcard(globs) => leaf.as_str().is_some_and(|s| globs.iter().any(|g| g.matches(s))),
        }
    }
}

/// Exact equality, numbers by value (35, 35.0 and 3.5e1 are one number).
fn same_value(pattern: &Value, leaf: &Value) -> bool {
    match (pattern, leaf) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// A JSON pointer's escaping of one reference token (RFC 6901).
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stored_pattern_is_compiled_when_first_matched() {
        let stored = ContentFilter::stored(json!({"data": {"n": [{"numeric": [">", 1]}]}}));
        assert!(stored.matches(&json!({"data": {"n": 2}})) && !stored.matches(&json!({"data": {"n": 1}})));
        let broken = ContentFilter::stored(json!({"data": {"n": [{"numeric": [">"]}]}}));
        assert!(broken.matches(&json!({"data": {"n": 0}})), "a pattern that cannot compile withholds nothing");
        assert_eq!(stored, ContentFilter::new(json!({"data": {"n": [{"numeric": [">", 1]}]}}), "filter").unwrap());
    }

    use serde_json::json;

    use super::*;

    fn filter(pattern: Value) -> Filter {
        Filter::compile(&pattern, "filter").unwrap_or_else(|issues| panic!("{pattern}: {issues:?}"))
    }

    fn faults(pattern: Value) -> Vec<String> {
        match Filter::compile(&pattern, "filter") {
            Ok(_) => panic!("{pattern} compiled"),
            Err(issues) => issues.into_iter().map(|i| i.field).collect(),
        }
    }

    /// The examples of AWS's "Content filtering in Amazon EventBridge event patterns" and
    /// "Comparison operators" pages, each with events it must and must not match.
    #[test]
    fn matches_as_eventbridge_documents_its_operators() {
        let table: Vec<(Value, Vec<Value>, Vec<Value>)> = vec![
            (
                json!({"time": [{"prefix": "2017-10-02"}]}),
                vec![json!({"time": "2017-10-02T18:43:48Z"})],
                vec![json!({"time": "2017-10-03T18:43:48Z"}), json!({"time": 20171002}), json!({})],
            ),
            (
                json!({"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}),
                vec![json!({"service": "eventbridge"}), json!({"service": "EVENTBRIDGE"})],
                vec![json!({"service": "sqs"})],
            ),
            (
                json!({"FileName": [{"suffix": ".png"}]}),
                vec![json!({"FileName": "image.png"})],
                vec![json!({"FileName": "image.PNG"}), json!({"FileName": "image.jpg"})],
            ),
            (
                json!({"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}),
                vec![json!({"FileName": "image.PNG"}), json!({"FileName": "image.png"})],
                vec![json!({"FileName": "image.gif"})],
            ),
            (
                json!({"state": [{"anything-but": "initializing"}]}),
                vec![json!({"state": "running"})],
                vec![json!({"state": "initializing"}), json!({})],
            ),
            (
                json!({"x-limit": [{"anything-but": 123}]}),
                vec![json!({"x-limit": 456}), json!({"x-limit": "123"})],
                vec![json!({"x-limit": 123}), json!({"x-limit": 123.0})],
            ),
            (
                json!({"state": [{"anything-but": ["stopped", "overloaded"]}]}),
                vec![json!({"state": "running"})],
                vec![json!({"state": "stopped"}), json!({"state": "overloaded"})],
            ),
            (
                json!({"x-limit": [{"anything-but": [100, 200, 300]}]}),
                vec![json!({"x-limit": 150})],
                vec![json!({"x-limit": 200})],
            ),
            (
                json!({"state": [{"anything-but": {"prefix": "init"}}]}),
                vec![json!({"state": "running"})],
                vec![json!({"state": "initializing"})],
            ),
            (
                json!({"FileName": [{"anything-but": {"suffix": ".txt"}}]}),
                vec![json!({"FileName": "notes.md"})],
                vec![json!({"FileName": "notes.txt"})],
            ),
            (
                json!({"state": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}),
                vec![json!({"state": "running"})],
                vec![json!({"state": "STOPPED"}), json!({"state": "overloaded"})],
            ),
            (
                json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
                vec![json!({"FilePath": "/usr/bin/env"})],
                vec![json!({"FilePath": "/usr/lib/libc.so"})],
            ),
            (
                json!({"c-count": [{"numeric": [">", 0, "<=", 5]}]}),
                vec![json!({"c-count": 5}), json!({"c-count": 0.5})],
                vec![json!({"c-count": 0}), json!({"c-count": 6}), json!({"c-count": "3"})],
            ),
            (
                json!({"x-limit": [{"numeric": ["=", 3.018e2]}]}),
                vec![json!({"x-limit": 301.8})],
                vec![json!({"x-limit": 301})],
            ),
            (
                json!({"detail": {"c-count": [{"exists": true}]}}),
                vec![json!({"detail": {"c-count": 5}}), json!({"detail": {"c-count": null}})],
                vec![json!({"detail": {}}), json!({"detail": {"c-count": {"nested": 1}}})],
            ),
            (
                json!({"detail": {"c-count": [{"exists": false}]}}),
                vec![json!({"detail": {}}), json!({}), json!({"detail": {"c-count": []}})],
                vec![json!({"detail": {"c-count": 5}})],
            ),
            (
                json!({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}),
                vec![json!({"detail-type": "EC2 Instance State-change Notification"})],
                vec![json!({"detail-type": "EC2 Instance Launch"})],
            ),
            (
                json!({"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}),
                vec![json!({"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"})],
                vec![json!({"EventBusArn": "arn:aws:events:eu-west-1:123456789012:event-bus/default"})],
            ),
            (
                json!({"Key": [{"wildcard": "dir/*.png"}]}),
                vec![json!({"Key": "dir/a.png"}), json!({"Key": "dir/sub/b.png"})],
                vec![json!({"Key": "other/a.png"}), json!({"Key": "dir/a.png.txt"})],
            ),
            (
                json!({"detail": {"$or": [
                    {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
                    {"d-count": [{"numeric": ["<", 10]}]},
                    {"x-limit": [{"numeric": ["=", 3.018e2]}]}
                ]}}),
                vec![
                    json!({"detail": {"c-count": 3}}),
                    json!({"detail": {"d-count": 9}}),
                    json!({"detail": {"x-limit": 301.8}}),
                ],
                vec![json!({"detail": {"c-count": 7, "d-count": 11}}), json!({"detail": {}})],
            ),
            (
                json!({"source": ["aws.ec2"], "$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}),
                vec![
                    json!({"source": "aws.ec2", "Day": "Monday"}),
                    json!({"source": "aws.ec2", "Location": "New York"}),
                ],
                vec![json!({"source": "aws.s3", "Day": "Monday"}), json!({"source": "aws.ec2", "Day": "Friday"})],
            ),
            (
                json!({"Location": ["New York"], "Day": ["Monday"]}),
                vec![json!({"Location": "New York", "Day": "Monday"})],
                vec![json!({"Location": "New York", "Day": "Tuesday"})],
            ),
            (
                json!({"resources": [
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                    "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"
                ]}),
                vec![json!({"resources": [
                    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b",
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
                ]})],
                vec![json!({"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]})],
            ),
            (
                json!({"detail": {"eventVersion": [""], "responseElements": [null]}}),
                vec![json!({"detail": {"eventVersion": "", "responseElements": null}})],
                vec![json!({"detail": {"eventVersion": null, "responseElements": null}})],
            ),
            (
                json!({"detail": {"state": ["running", "stopped"], "enabled": [true]}}),
                vec![json!({"detail": {"state": "stopped", "enabled": true}})],
                vec![json!({"detail": {"state": "stopped", "enabled": "true"}})],
            ),
        ];
        for (pattern, matching, not_matching) in table {
            let f = filter(pattern.clone());
            for event in matching {
                assert!(f.matches(&event), "{pattern} should match {event}");
            }
            for event in not_matching {
                assert!(!f.matches(&event), "{pattern} should not match {event}");
            }
        }
    }

    #[test]
    fn filters_hookposts_view_of_an_event() {
        let f = filter(json!({
            "event": [{"prefix": "invoice."}],
            "data": {"amount": [{"numeric": [">=", 1000]}], "country": [{"anything-but": "US"}]}
        }));
        let view = |event: &str, data: Value| filtered_view(event, None, &data);
        assert!(f.matches(&view("invoice.paid", json!({"amount": 1500, "country": "DE"}))));
        assert!(!f.matches(&view("invoice.paid", json!({"amount": 999, "country": "DE"}))));
        assert!(!f.matches(&view("invoice.paid", json!({"amount": 1500, "country": "US"}))));
        assert!(!f.matches(&view("call.ended", json!({"amount": 1500, "country": "DE"}))));
        let channel = filter(json!({"channel_id": [null]}));
        assert!(channel.matches(&filtered_view("a", None, &json!({}))));
        assert!(!channel.matches(&filtered_view("a", Some("ch_1"), &json!({}))));
    }

    #[test]
    fn an_array_of_objects_matches_when_one_element_matches_the_nested_pattern_whole() {
        let f = filter(json!({"data": {"lines": {"sku": ["A"], "qty": [{"numeric": [">", 1]}]}}}));
        let event = |lines: Value| filtered_view("order.placed", None, &json!({"lines": lines}));
        assert!(f.matches(&event(json!([{"sku": "B", "qty": 5}, {"sku": "A", "qty": 2}]))));
        assert!(!f.matches(&event(json!([{"sku": "A", "qty": 1}, {"sku": "B", "qty": 5}]))), "not across elements");
        let tags = filter(json!({"data": {"tags": [{"prefix": "vip"}]}}));
        assert!(tags.matches(&filtered_view("x", None, &json!({"tags": [["plain"], ["vip-gold"]]}))));
    }

    #[test]
    fn wildcards_escape_stars_and_backslashes() {
        let f = filter(json!({"k": [{"wildcard": "a\\*b*"}]}));
        assert!(f.matches(&json!({"k": "a*bcd"})));
        assert!(!f.matches(&json!({"k": "axbcd"})));
        let exact = filter(json!({"k": [{"wildcard": "abc"}]}));
        assert!(exact.matches(&json!({"k": "abc"})) && !exact.matches(&json!({"k": "abcd"})));
        let any = filter(json!({"k": [{"wildcard": "*"}]}));
        assert!(any.matches(&json!({"k": ""})) && !any.matches(&json!({"k": 1})));
        let overlap = filter(json!({"k": [{"wildcard": "ab*ba"}]}));
        assert!(!overlap.matches(&json!({"k": "aba"})), "the two ends may not share a character");
        assert!(overlap.matches(&json!({"k": "abba"})));
    }

    #[test]
    fn a_faulty_pattern_is_refused_with_the_path_of_the_fault() {
        assert_eq!(faults(json!("x")), ["filter"]);
        assert_eq!(faults(json!({})), ["filter"]);
        assert_eq!(faults(json!({"data": "x"})), ["filter/data"]);
        assert_eq!(faults(json!({"data": {"amount": []}})), ["filter/data/amount"]);
        assert_eq!(faults(json!({"data": {"amount": [{"numeric": [">", "a"]}]}})), ["filter/data/amount/0/numeric"]);
        assert_eq!(
            faults(json!({"data": {"amount": [{"numeric": ["<", 5, ">", 1]}]}})),
            ["filter/data/amount/0/numeric"]
        );
        assert_eq!(
            faults(json!({"data": {"amount": [{"numeric": [">", 5, "<", 1]}]}})),
            ["filter/data/amount/0/numeric"]
        );
        assert_eq!(faults(json!({"event": ["a", {"contains": "b"}]})), ["filter/event/1/contains"]);
        assert_eq!(faults(json!({"event": [{"prefix": "a", "suffix": "b"}]})), ["filter/event/0"]);
        assert_eq!(faults(json!({"event": [["a"]]})), ["filter/event/0"]);
        assert_eq!(faults(json!({"$or": [{"event": ["a"]}]})), ["filter/$or"]);
        assert_eq!(faults(json!({"$or": [{"event": ["a"]}, "b"]})), ["filter/$or/1"]);
        assert_eq!(faults(json!({"k": [{"wildcard": "a**"}]})), ["filter/k/0/wildcard"]);
        assert_eq!(faults(json!({"k": [{"wildcard": "a\\b"}]})), ["filter/k/0/wildcard"]);
        assert_eq!(faults(json!({"k": [{"anything-but": ["a", 1]}]})), ["filter/k/0/anything-but"]);
        assert_eq!(faults(json!({"k": [{"anything-but": {"numeric": [">", 1]}}]})), ["filter/k/0/anything-but"]);
        assert_eq!(faults(json!({"k": [{"exists": "yes"}]})), ["filter/k/0/exists"]);
        assert_eq!(faults(json!({"k": [{"cidr": "10.0.0.0/24"}]})), ["filter/k/0/cidr"]);
        assert_eq!(faults(json!({"a/b": ["x"], "ok": ["y"], "c~d": "z"})), ["filter/c~0d"], "pointers are escaped");
        assert_eq!(faults(json!({"a": ["x"], "b": 1, "c": []})), ["filter/b", "filter/c"], "every fault at once");
        let mut deep = json!({"k": ["v"]});
        for _ in 0..12 {
            deep = json!({ "n": deep });
        }
        assert!(faults(deep)[0].starts_with("filter/n/n/n"));
        let big = json!({"k": vec!["v".repeat(100); 50]});
        assert_eq!(faults(big), ["filter"]);
    }
}

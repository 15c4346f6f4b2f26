//! JSON Schema -> the OpenAPI 3.0 subset Gemini's `Schema` takes (function parameters and
//! `responseSchema`). Gemini refuses a request over one keyword it does not know, so this keeps
//! what it knows and rewrites or drops the rest; OpenAI-compatible providers get the client's
//! schema untouched, since this runs only in the Gemini codec.

use serde_json::{Map, Value, json};

/// The keywords of Gemini's `Schema` object.
const KNOWN: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "properties",
    "required",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// Known keywords whose values still need rewriting.
const REWRITTEN: &[&str] = &["type", "enum", "items", "properties", "anyOf"];

/// Local `$ref`s are inlined at most this deep; a recursive schema ends in a plain object there.
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Function parameters: the model fills them in as it likes.
    Parameters,
    /// `responseSchema`: Gemini orders object keys alphabetically unless told otherwise, and a
    /// client expects them in the order its schema declares.
    Response,
}

/// `schema` rewritten for Gemini.
pub fn sanitize(schema: &Value, purpose: Use) -> Value {
    let mut cleaner = Cleaner {
        root: schema,
        purpose,
        // The root is being inlined from the start: `{"$ref": "#"}` anywhere is a cycle.
        stack: vec!["#".to_owned()],
    };
    cleaner.clean(schema)
}

/// Function parameters for Gemini: `None` for a function without arguments, since Gemini refuses
/// an object schema whose `properties` is empty.
pub fn parameters(schema: Option<&Value>) -> Option<Value> {
    let cleaned = sanitize(schema?, Use::Parameters);
    let has_properties = cleaned
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    let has_alternatives = cleaned.get("anyOf").is_some();
    (has_properties || has_alternatives).then_some(cleaned)
}

struct Cleaner<'a> {
    /// The whole schema, which local `$ref`s (`#/$defs/...`, `#/definitions/...`) point into.
    root: &'a Value,
    purpose: Use,
    /// The `$ref`s being inlined, outermost first: a repeat is a cycle.
    stack: Vec<String>,
}

impl Cleaner<'_> {
    fn clean(&mut self, node: &Value) -> Value {
        let Value::Object(object) = node else {
            // `true` (anything goes) and other non-object schemas: Gemini has no word for them.
            return json!({});
        };
        if let Some(Value::String(reference)) = object.get("$ref") {
            return self.inline(reference, object);
        }
        let mut out = Map::new();
        // Plain keywords first, so the rewrites can add to a description that is already there.
        for (key, value) in object {
            if KNOWN.contains(&key.as_str()) && !REWRITTEN.contains(&key.as_str()) {
                out.insert(key.clone(), value.clone());
            }
        }
        for (key, value) in object {
            self.keyword(key, value, &mut out);
        }
        tidy(&mut out, self.purpose);
        Value::Object(out)
    }

    /// The schema a `$ref` points at, with the referring object's own keywords (a description,
    /// say) laid over it.
    fn inline(&mut self, reference: &str, object: &Map<String, Value>) -> Value {
        let target = reference
            .strip_prefix('#')
            .and_then(|path| self.root.pointer(path))
            .cloned();
        let mut siblings = object.clone();
        siblings.remove("$ref");
        let base = match target {
            Some(target) if !self.stack.iter().any(|r| r == reference) => {
                if self.stack.len() > MAX_DEPTH {
                    json!({"type": "object"})
                } else {
                    self.stack.push(reference.to_owned());
                    let inlined = self.clean(&target);
                    self.stack.pop();
                    inlined
                }
            }
            // A cycle, or a reference outside this schema: Gemini cannot follow either.
            _ => json!({"type": "object"}),
        };
        let overlay = self.clean(&Value::Object(siblings));
        merge(base, overlay)
    }

    fn keyword(&mut self, key: &str, value: &Value, out: &mut Map<String, Value>) {
        match key {
            "properties" => {
                if let Value::Object(properties) = value {
                    let cleaned = properties
                        .iter()
                        .map(|(name, schema)| (name.clone(), self.clean(schema)))
                        .collect();
                    out.insert(key.into(), Value::Object(cleaned));
                }
            }
            "items" => {
                let items = match value {
                    // Tuple form: Gemini has one schema for every item.
                    Value::Array(schemas) => self.alternatives(schemas),
                    schema => self.clean(schema),
                };
                out.insert(key.into(), items);
            }
            "prefixItems" if !out.contains_key("items") => {
                if let Value::Array(schemas) = value {
                    let items = self.alternatives(schemas);
                    out.insert("items".into(), items);
                }
            }
            "anyOf" | "oneOf" => {
                if let Value::Array(schemas) = value {
                    let alternatives = self.alternatives(schemas);
                    merge_into(out, alternatives);
                }
            }
            "allOf" => {
                if let Value::Array(schemas) = value {
                    for schema in schemas {
                        let part = self.clean(schema);
                        merge_into(out, part);
                    }
                }
            }
            "type" => write_type(value, out),
            "enum" => write_enum(value, out),
            "const" => write_enum(&Value::Array(vec![value.clone()]), out),
            "examples" => {
                if let Some(first) = value.as_array().and_then(|e| e.first()) {
                    out.entry("example").or_insert_with(|| first.clone());
                }
            }
            // Plain keywords are in already; the rest Gemini does not know:
            // `$schema`, `$id`, `$comment`, `$defs`, `additionalProperties`, `propertyNames`,
            // `patternProperties`, `not`, `if`/`then`/`else`, `exclusiveMinimum`...
            _ => {}
        }
    }

    /// `anyOf` alternatives: a `null` alternative becomes `nullable`, and a single one left is
    /// the schema itself.
    fn alternatives(&mut self, schemas: &[Value]) -> Value {
        let mut nullable = false;
        let mut kept = Vec::new();
        for schema in schemas {
            let cleaned = self.clean(schema);
            if cleaned.get("type").and_then(Value::as_str) == Some("null") {
                nullable = true;
            } else {
                kept.push(cleaned);
            }
        }
        let mut out = match kept.len() {
            0 => Map::new(),
            1 => match kept.pop() {
                Some(Value::Object(only)) => only,
                _ => Map::new(),
            },
            _ => Map::from_iter([("anyOf".to_owned(), Value::Array(kept))]),
        };
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        Value::Object(out)
    }
}

/// `type`, where JSON Schema allows a list (`["string", "null"]`) and Gemini one name.
fn write_type(value: &Value, out: &mut Map<String, Value>) {
    let names: Vec<&str> = match value {
        Value::String(name) => vec![name.as_str()],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let (null, names): (Vec<&str>, Vec<&str>) = names.into_iter().partition(|n| *n == "null");
    if !null.is_empty() && !names.is_empty() {
        out.insert("nullable".into(), Value::Bool(true));
    }
    match names.as_slice() {
        [] if !null.is_empty() => {
            out.insert("type".into(), json!("null"));
        }
        [] => {}
        [one] => {
            out.insert("type".into(), json!(one));
        }
        several => {
            let alternatives = several.iter().map(|n| json!({"type": n})).collect();
            out.insert("anyOf".into(), Value::Array(alternatives));
        }
    }
}

/// Gemini enums are strings. A `null` member becomes `nullable`; numbers and booleans cannot be
/// listed without changing the value's type, so they move into the description instead.
fn write_enum(value: &Value, out: &mut Map<String, Value>) {
    let Value::Array(members) = value else {
        return;
    };
    if members.iter().any(Value::is_null) {
        out.insert("nullable".into(), Value::Bool(true));
    }
    let members: Vec<&Value> = members.iter().filter(|m| !m.is_null()).collect();
    if members.iter().all(|m| m.is_string()) {
        if !members.is_empty() {
            out.insert(
                "enum".into(),
                Value::Array(members.into_iter().cloned().collect()),
            );
        }
        return;
    }
    let listed: Vec<String> = members.iter().map(|m| m.to_string()).collect();
    append_description(out, &format!("Allowed values: {}.", listed.join(", ")));
}

fn append_description(out: &mut Map<String, Value>, text: &str) {
    let description = match out.get("description").and_then(Value::as_str) {
        Some(existing) if !existing.is_empty() => format!("{existing} {text}"),
        _ => text.to_owned(),
    };
    out.insert("description".into(), Value::String(description));
}

/// Last touches on one cleaned object schema.
fn tidy(out: &mut Map<String, Value>, purpose: Use) {
    if let Some(format) = out.get("format").and_then(Value::as_str) {
        let kind = out.get("type").and_then(Value::as_str).unwrap_or_default();
        // Gemini refuses any other format (`email`, `uri`, `uuid`...) with a 400.
        let supported = matches!(
            (kind, format),
            ("string", "enum" | "date-time")
                | ("number", "float" | "double")
                | ("integer", "int32" | "int64")
        );
        if !supported {
            let hint = format!("Format: {format}.");
            out.remove("format");
            append_description(out, &hint);
        }
    }
    let names: Option<Vec<String>> = out
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect());
    match names {
        Some(names) if names.is_empty() => {
            out.remove("properties");
            out.remove("required");
        }
        Some(names) => {
            // Gemini refuses a `required` name that is not a property.
            if let Some(Value::Array(required)) = out.get_mut("required") {
                required.retain(|r| r.as_str().is_some_and(|r| names.iter().any(|n| n == r)));
            }
            if purpose == Use::Response && names.len() > 1 && !out.contains_key("propertyOrdering")
            {
                out.insert("propertyOrdering".into(), json!(names));
            }
        }
        None => {}
    }
    if out
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        out.remove("required");
    }
}

/// `overlay`'s keywords over `base`'s.
fn merge(base: Value, overlay: Value) -> Value {
    match (base, overlay) {
        (Value::Object(mut base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                base.insert(key, value);
            }
            Value::Object(base)
        }
        (base, _) => base,
    }
}

/// Folds `part` into `out` (allOf members, a single anyOf alternative): properties and required
/// names accumulate, other keywords already set stay.
fn merge_into(out: &mut Map<String, Value>, part: Value) {
    let Value::Object(part) = part else {
        return;
    };
    for (key, value) in part {
        match (key.as_str(), out.get_mut(&key), value) {
            ("properties", Some(Value::Object(existing)), Value::Object(more)) => {
                existing.extend(more);
            }
            ("required", Some(Value::Array(existing)), Value::Array(more)) => {
                for name in more {
                    if !existing.contains(&name) {
                        existing.push(name);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                out.insert(key, value);
            }
        }
    }
}

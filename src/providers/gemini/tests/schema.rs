//! JSON Schema sanitizing for Gemini.

use serde_json::json;

use crate::providers::gemini::schema::{Use, parameters, sanitize};

#[test]
fn keywords_gemini_rejects_are_removed_at_every_depth() {
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:x", "$comment": "c", "type": "object", "additionalProperties": false,
        "propertyNames": {"pattern": "^[a-z]+$"},
        "properties": {
            "tags": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"},
                     "properties": {"k": {"type": "string", "examples": ["a", "b"]}}, "patternProperties": {}}},
            "email": {"type": "string", "format": "email", "description": "Where to write"},
            "when": {"type": "string", "format": "date-time", "default": "now"},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1}
        },
        "required": ["tags", "ghost"]
    });
    assert_eq!(
        sanitize(&schema, Use::Parameters),
        json!({
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string", "example": "a"}}}},
                "email": {"type": "string", "description": "Where to write Format: email."},
                "when": {"type": "string", "format": "date-time", "default": "now"},
                "ratio": {"type": "number", "maximum": 1}
            },
            "required": ["tags"]
        })
    );
}

#[test]
fn local_refs_are_inlined_and_cycles_cut() {
    let schema = json!({
        "type": "object",
        "$defs": {
            "City": {"type": "object", "properties": {"name": {"type": "string"}, "near": {"$ref": "#/$defs/City"}}},
            "Unit": {"enum": ["c", "f"], "type": "string"}
        },
        "definitions": {"Legacy": {"type": "integer"}},
        "properties": {
            "city": {"$ref": "#/$defs/City", "description": "Where"},
            "unit": {"$ref": "#/$defs/Unit"},
            "old": {"$ref": "#/definitions/Legacy"},
            "remote": {"$ref": "https://example.com/schema.json"},
            "me": {"$ref": "#"}
        }
    });
    assert_eq!(
        sanitize(&schema, Use::Parameters),
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "object", "description": "Where",
                         "properties": {"name": {"type": "string"}, "near": {"type": "object"}}},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "old": {"type": "integer"},
                "remote": {"type": "object"},
                "me": {"type": "object"}
            }
        })
    );
}

#[test]
fn nulls_type_lists_and_alternatives() {
    let schema = json!({"type": "object", "properties": {
        "a": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}], "description": "opt"},
        "b": {"type": ["integer", "null"]},
        "c": {"type": ["string", "number"]},
        "d": {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
        "e": {"allOf": [{"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
                        {"properties": {"y": {"type": "string"}}, "required": ["y"]}]},
        "f": {"const": "fixed"},
        "g": {"type": "integer", "enum": [1, 2, null], "description": "Level."},
        "h": {"type": "boolean", "const": true},
        "i": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
        "j": true
    }});
    assert_eq!(
        sanitize(&schema, Use::Parameters),
        json!({"type": "object", "properties": {
            "a": {"type": "string", "maxLength": 3, "nullable": true, "description": "opt"},
            "b": {"type": "integer", "nullable": true},
            "c": {"anyOf": [{"type": "string"}, {"type": "number"}]},
            "d": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
            "e": {"type": "object", "properties": {"x": {"type": "string"}, "y": {"type": "string"}}, "required": ["x", "y"]},
            "f": {"enum": ["fixed"]},
            "g": {"type": "integer", "nullable": true, "description": "Level. Allowed values: 1, 2."},
            "h": {"type": "boolean", "description": "Allowed values: true."},
            "i": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "j": {}
        }})
    );
}

#[test]
fn response_schemas_keep_the_declared_property_order() {
    let schema = json!({"type": "object", "properties": {
        "zeta": {"type": "string"}, "alpha": {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "string"}}}
    }});
    let cleaned = sanitize(&schema, Use::Response);
    assert_eq!(cleaned["propertyOrdering"], json!(["zeta", "alpha"]));
    assert_eq!(
        cleaned["properties"]["alpha"]["propertyOrdering"],
        json!(["b", "a"])
    );
    assert!(
        sanitize(&schema, Use::Parameters)
            .get("propertyOrdering")
            .is_none()
    );
}

#[test]
fn functions_without_arguments_declare_no_parameters() {
    assert_eq!(parameters(None), None);
    assert_eq!(
        parameters(Some(&json!({"type": "object", "properties": {}}))),
        None
    );
    assert_eq!(
        parameters(Some(
            &json!({"type": "object", "additionalProperties": false})
        )),
        None
    );
    assert_eq!(
        parameters(Some(
            &json!({"type": "object", "properties": {"q": {"type": "string"}}})
        )),
        Some(json!({"type": "object", "properties": {"q": {"type": "string"}}}))
    );
}

#[test]
fn a_deep_recursive_chain_ends() {
    let schema = json!({"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
                        "$ref": "#/$defs/Node"});
    let cleaned = sanitize(&schema, Use::Parameters);
    assert_eq!(cleaned["properties"]["next"], json!({"type": "object"}));
}

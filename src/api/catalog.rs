//! The event catalog, as people read it: an organization's event types by group, each schema as a table of
//! fields and an example payload. The public `/catalog/`, the dashboard and the app portal all show this one
//! view; the outbound face exports the same types as an OpenAPI document ([`openapi_document`]).

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::ApiContext;
use crate::engine::model::EventType;
use crate::error::Result;

/// Every event type of `org`, archived ones included, in name order.
pub async fn all_types(ctx: &ApiContext, org: &str) -> Result<Vec<EventType>> {
    Ok(ctx.store.list_all::<EventType>(org, "").await?)
}

#[derive(Debug, Serialize)]
pub struct Group {
    /// None: the types without a group.
    pub name: Option<String>,
    pub types: Vec<Entry>,
}

#[derive(Debug, Serialize)]
pub struct Entry {
    pub name: String,
    pub description: String,
    pub deprecated: bool,
    pub has_schema: bool,
    pub fields: Vec<FieldRow>,
    /// Pretty-printed JSON.
    pub example: String,
}

#[derive(Debug, Serialize)]
pub struct FieldRow {
    /// `customer.tier`, `items[].sku`.
    pub path: String,
    pub depth: usize,
    pub kind: String,
    pub required: bool,
    pub description: String,
}

/// The catalog of `types`: live ones only, and, for a portal token (`flags` given), only those without a
/// feature flag or with one of `flags`. Groups in name order, the ungrouped last.
pub fn view(types: &[EventType], flags: Option<&[String]>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for et in types.iter().filter(|e| !e.archived && flags.is_none_or(|f| e.released_to(f))) {
        let schema = et.latest_schema();
        let mut fields = Vec::new();
        if let Some(s) = schema {
            rows(s, "", 0, &mut fields);
        }
        let entry = Entry {
            name: et.name.clone(),
            description: et.description.clone(),
            deprecated: et.deprecated,
            has_schema: schema.is_some(),
            fields,
            example: serde_json::to_string_pretty(&schema.map_or_else(|| json!({}), example))
                .unwrap_or_else(|_| "{}".into()),
        };
        match groups.iter_mut().find(|g| g.name == et.group_name) {
            Some(g) => g.types.push(entry),
            None => groups.push(Group { name: et.group_name.clone(), types: vec![entry] }),
        }
    }
    groups.sort_by(|a, b| (a.name.is_none(), &a.name).cmp(&(b.name.is_none(), &b.name)));
    groups
}

const MAX_DEPTH: usize = 8;

/// The rows of an object schema's properties, nested objects' (and arrays of objects') fields after their own.
fn rows(schema: &Value, prefix: &str, depth: usize, out: &mut Vec<FieldRow>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map_or(Vec::new(), |r| r.iter().filter_map(Value::as_str).collect());
    for (name, prop) in props {
        let path = format!("{prefix}{name}");
        out.push(FieldRow {
            path: path.clone(),
            depth,
            kind: kind(prop),
            required: required.contains(&name.as_str()),
            description: text(prop, "description").or_else(|| text(prop, "title")).unwrap_or_default(),
        });
        if depth < MAX_DEPTH {
            rows(prop, &format!("{path}."), depth + 1, out);
            if let Some(items) = prop.get("items") {
                rows(items, &format!("{path}[]."), depth + 1, out);
            }
        }
    }
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A property's type in words: `string (date-time)`, `array of string`, `"a" | "b"`.
fn kind(prop: &Value) -> String {
    if let Some(values) = prop.get("enum").and_then(Value::as_array) {
        return values.iter().map(Value::to_string).collect::<Vec<_>>().join(" | ");
    }
    if let Some(c) = prop.get("const") {
        return c.to_string();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = prop.get(key).and_then(Value::as_array) {
            return options.iter().map(kind).collect::<Vec<_>>().join(" | ");
        }
    }
    let base = match prop.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ if prop.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    };
    let base = match (base.as_str(), prop.get("items")) {
        ("array", Some(items)) => format!("array of {}", kind(items)),
        _ => base,
    };
    match prop.get("format").and_then(Value::as_str) {
        Some(f) => format!("{base} ({f})"),
        None => base,
    }
}

/// An example payload: the schema's own first example, else one made from its types.
pub fn example(schema: &Value) -> Value {
    schema
        .get("examples")
        .and_then(|e| e.get(0))
        .or_else(|| schema.get("example"))
        .cloned()
        .unwrap_or_else(|| made_up(schema, 0))
}

fn made_up(s: &Value, depth: usize) -> Value {
    for key in ["const", "default", "example"] {
        if let Some(v) = s.get(key) {
            return v.clone();
        }
    }
    if let Some(v) = s.get("examples").and_then(|e| e.get(0)).or_else(|| s.get("enum").and_then(|e| e.get(0))) {
        return v.clone();
    }
    if let Some(first) = ["oneOf", "anyOf", "allOf"].iter().find_map(|k| s.get(*k).and_then(|o| o.get(0))) {
        return made_up(first, depth + 1);
    }
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ if s.get("properties").is_some() => "object",
        _ => "null",
    };
    match ty {
        "object" => {
            let props = s.get("properties").and_then(Value::as_object);
            Value::Object(
                props.map_or_else(Map::new, |p| p.iter().map(|(k, v)| (k.clone(), made_up(v, depth + 1))).collect()),
            )
        }
        "array" => Value::Array(s.get("items").map(|i| made_up(i, depth + 1)).into_iter().collect()),
        "string" => json!(match s.get("format").and_then(Value::as_str) {
            Some("date-time") => "2026-01-01T12:00:00Z",
            Some("date") => "2026-01-01",
            Some("email") => "user@example.com",
            Some("uri" | "url") => "https://example.com/",
            Some("uuid") => "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            _ => "string",
        }),
        "integer" => s.get("minimum").cloned().unwrap_or(json!(0)),
        "number" => s.get("minimum").cloned().unwrap_or(json!(0.0)),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

/// The live event types as an OpenAPI 3.1 document's `webhooks`, which `importOpenapi` reads back.
pub fn openapi_document(types: &[EventType], title: &str) -> Value {
    let mut hooks = Map::new();
    for et in types.iter().filter(|e| !e.archived) {
        let mut op = json!({
            "summary": et.description,
            "operationId": et.name,
            "deprecated": et.deprecated,
            "responses": {"2XX": {"description": "Return any 2XX status to acknowledge the webhook"}},
        });
        if let Some(schema) = et.latest_schema() {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": schema}}});
        }
        if let Some(group) = &et.group_name {
            op["tags"] = json!([group]);
            op["x-svix-group-name"] = json!(group);
        }
        let flags = et.flags();
        if !flags.is_empty() {
            op["x-svix-feature-flags"] = json!(flags);
        }
        hooks.insert(et.name.clone(), json!({ "post": op }));
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "webhooks": hooks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_example_from_a_schema() {
        let schema = json!({
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string", "description": "The invoice id"},
                "paidAt": {"type": "string", "format": "date-time"},
                "status": {"enum": ["paid", "void"]},
                "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
            }
        });
        let mut out = Vec::new();
        rows(&schema, "", 0, &mut out);
        let paths: Vec<&str> = out.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["id", "paidAt", "status", "lines", "lines[].sku"]);
        assert!(out[0].required && !out[1].required);
        assert_eq!(out[1].kind, "string (date-time)");
        assert_eq!(out[2].kind, "\"paid\" | \"void\"");
        assert_eq!(out[3].kind, "array of object");
        assert_eq!(
            example(&schema),
            json!({"id": "string", "paidAt": "2026-01-01T12:00:00Z", "status": "paid", "lines": [{"sku": "string"}]})
        );
    }
}

//! Event types from and to an OpenAPI document's `webhooks` (OpenAPI 3.1; `x-webhooks` before it), as Svix's
//! `importOpenapi` reads them: each webhook becomes an event type named by its key, described by its operation's
//! `summary` (else `description`), with its JSON request body's schema as version `"1"` (its `$ref`s inlined).
//! The group is `x-svix-group-name` or the first tag, the flags `x-svix-feature-flags`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{save, EventType};
use crate::api::auth::OrgId;
use crate::api::catalog;
use crate::api::extract::ValidJson;
use crate::api::validate::check_ident;
use crate::api::ApiContext;
use crate::error::{ClientError, Error, Result};
use crate::store::now_ms;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventTypeImportOpenApiIn {
    #[serde(default)]
    dry_run: bool,
    /// Archive every event type the document does not name.
    #[serde(default)]
    replace_all: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    spec: Option<Value>,
    /// The document as text, JSON or YAML.
    #[serde(default)]
    spec_raw: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventTypeFromOpenApi {
    name: String,
    description: String,
    #[schema(value_type = Option<Object>)]
    schemas: Option<Value>,
    deprecated: bool,
    group_name: Option<String>,
    feature_flags: Option<Vec<String>>,
}

/// Svix spells `to_modify` in snake case.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EventTypeImportOpenApiOutData {
    modified: Vec<String>,
    to_modify: Option<Vec<EventTypeFromOpenApi>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EventTypeImportOpenApiOut {
    data: EventTypeImportOpenApiOutData,
}

/// The document, from `spec` or `specRaw` (exactly one of them, as Svix asks: 400 otherwise).
fn document(input: &EventTypeImportOpenApiIn) -> Result<Value> {
    match (&input.spec, &input.spec_raw) {
        (Some(spec), None) => Ok(spec.clone()),
        (None, Some(raw)) => serde_json::from_str(raw).or_else(|_| {
            serde_yaml_ng::from_str::<Value>(raw)
                .map_err(|e| Error::invalid(&["body", "specRaw"], format!("neither JSON nor YAML: {e}")))
        }),
        _ => Err(Error::bad_request("Send the OpenAPI document as either `spec` or `specRaw`, not both or neither")),
    }
}

/// Inlines the document's local `$ref`s (`#/components/schemas/Pet`), so a stored schema stands alone. A
/// reference to itself (a recursive schema) is left as it is after a few levels; `budget` bounds the values
/// written in all, so that references that fan out cannot grow a small document without end.
fn inline(doc: &Value, v: &Value, depth: usize, budget: &mut usize) -> Option<Value> {
    *budget = budget.checked_sub(1)?;
    Some(match v {
        Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
                if let Some(found) = doc.pointer(target).filter(|_| depth < 16) {
                    return inline(doc, found, depth + 1, budget);
                }
            }
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), inline(doc, v, depth, budget)?);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inline(doc, v, depth, budget)).collect::<Option<_>>()?)
        }
        other => other.clone(),
    })
}

/// The most JSON values the webhooks of one document may expand to, all together, once their `$ref`s are inlined.
const INLINED_VALUES: usize = 200_000;

/// The event types a document describes, in its order.
fn read(doc: &Value) -> Result<Vec<EventTypeFromOpenApi>> {
    let hooks = doc.get("webhooks").or_else(|| doc.get("x-webhooks")).and_then(Value::as_object).ok_or_else(|| {
        Error::invalid(&["body", "spec", "webhooks"], "the document has no `webhooks` (or `x-webhooks`)")
    })?;
    let mut out = Vec::with_capacity(hooks.len());
    let mut budget = INLINED_VALUES;
    for (name, item) in hooks {
        check_ident(&["body", "spec", "webhooks", name], name, 256)?;
        let item = inline(doc, item, 0, &mut budget).ok_or_else(|| {
            Error::invalid(
                &["body", "spec", "webhooks", name],
                "the document's `$ref`s expand to more than 200,000 values by here",
            )
        })?;
        let op = ["post", "put", "patch", "get", "delete"]
            .iter()
            .find_map(|m| item.get(*m))
            .ok_or_else(|| Error::invalid(&["body", "spec", "webhooks", name], "has no operation (post)"))?;
        let text = |k: &str| op.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        let body = op.get("requestBody");
        let schema = body.and_then(|b| b.pointer("/content/application~1json/schema")).cloned();
        let flags: Option<Vec<String>> = op
            .get("x-svix-feature-flags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
        // A tag is free text; a group name is an identifier.
        let tag = op
            .pointer("/tags/0")
            .and_then(Value::as_str)
            .map(|t| t.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).collect());
        let group = text("x-svix-group-name").or(tag);
        out.push(EventTypeFromOpenApi {
            name: name.clone(),
            description: text("summary")
                .or_else(|| text("description"))
                .or_else(|| body.and_then(|b| b.get("description")).and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default(),
            schemas: schema.map(|s| json!({ "1": s })),
            deprecated: op.get("deprecated").and_then(Value::as_bool).unwrap_or(false),
            group_name: group,
            feature_flags: flags.filter(|f| !f.is_empty()),
        });
    }
    Ok(out)
}

fn as_imported(et: &EventType) -> EventTypeFromOpenApi {
    let flags = et.flags();
    EventTypeFromOpenApi {
        name: et.name.clone(),
        description: et.description.clone(),
        schemas: et.schemas.clone(),
        deprecated: et.deprecated,
        group_name: et.group_name.clone(),
        feature_flags: Some(flags).filter(|f| !f.is_empty()),
    }
}

#[utoipa::path(
    post, path = "/api/v1/event-type/import/openapi", tag = "Event Type",
    request_body = EventTypeImportOpenApiIn,
    responses(
        (status = 200, body = EventTypeImportOpenApiOut),
        ClientError,
    ),
)]
async fn import_openapi(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    ValidJson(input): ValidJson<EventTypeImportOpenApiIn>,
) -> Result<Json<EventTypeImportOpenApiOut>> {
    let wanted = read(&document(&input)?)?;
    let existing: BTreeMap<String, EventType> =
        catalog::all_types(&ctx, &org).await?.into_iter().map(|e| (e.name.clone(), e)).collect();
    let now = now_ms();
    // What changes: each type whose fields differ (or that is archived) and, with `replaceAll`, every live type
    // the document leaves out.
    let mut changes: Vec<(EventType, bool)> = Vec::new();
    for w in &wanted {
        let old = existing.get(&w.name);
        if old.is_some_and(|o| !o.archived && as_imported(o) == *w) {
            continue;
        }
        let mut et = old.cloned().unwrap_or_else(|| EventType {
            org_id: org.clone(),
            name: w.name.clone(),
            description: String::new(),
            archived: false,
            deprecated: false,
            schemas: None,
            feature_flag: None,
            feature_flags: Vec::new(),
            group_name: None,
            enforce_schema: false,
            created_at: now,
            updated_at: now,
        });
        et.description = w.description.clone();
        et.schemas = w.schemas.clone();
        et.deprecated = w.deprecated;
        et.group_name = w.group_name.clone();
        et.feature_flag = None;
        et.feature_flags = w.feature_flags.clone().unwrap_or_default();
        et.archived = false;
        et.updated_at = now;
        changes.push((et, old.is_none()));
    }
    if input.replace_all {
        for old in existing.values().filter(|e| !e.archived && !wanted.iter().any(|w| w.name == e.name)) {
            let mut et = old.clone();
            et.archived = true;
            et.updated_at = now;
            changes.push((et, false));
        }
    }
    if input.dry_run {
        let to_modify = changes.iter().map(|(et, _)| as_imported(et)).collect();
        return Ok(Json(EventTypeImportOpenApiOut {
            data: EventTypeImportOpenApiOutData { modified: Vec::new(), to_modify: Some(to_modify) },
        }));
    }
    let mut modified = Vec::with_capacity(changes.len());
    for (et, created) in &changes {
        save(&ctx, et, *created).await?;
        modified.push(et.name.clone());
    }
    Ok(Json(EventTypeImportOpenApiOut { data: EventTypeImportOpenApiOutData { modified, to_modify: None } }))
}

/// Svix answers a background task that builds SDK code; hookd answers the document itself.
#[utoipa::path(
    post, path = "/api/v1/event-type/export/openapi", tag = "Event Type",
    responses(
        (status = 200, description = "An OpenAPI 3.1 document of the event types as `webhooks`", body = Object),
        ClientError,
    ),
)]
async fn export_openapi(State(ctx): State<ApiContext>, OrgId(org): OrgId) -> Result<Json<Value>> {
    Ok(Json(catalog::openapi_document(&catalog::all_types(&ctx, &org).await?, "Webhooks")))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(import_openapi)).routes(routes!(export_openapi))
}

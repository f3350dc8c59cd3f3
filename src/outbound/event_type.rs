//! Event types: the catalogue of what an organization's messages can be. Deleting archives unless `expunge`.
//! Their schemas may be imported from (and exported as) an OpenAPI document's `webhooks` ([`openapi`]); a portal
//! token sees only the types without feature flags or with one of its own.

mod openapi;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::schema::PayloadSchemas;
use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, page, ListResponse, Ordering};
use crate::api::portal::PortalGrant;
use crate::api::time::ts;
use crate::api::validate::{check_ident, double_option};
use crate::api::ApiContext;
use crate::engine::model::EventType;
use crate::error::{ClientError, Error, Result};
use crate::store::{now_ms, Millis, Page};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct EventTypeIn {
    name: String,
    #[serde(flatten)]
    rest: EventTypeUpdate,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventTypeUpdate {
    description: String,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    deprecated: bool,
    #[serde(default)]
    schemas: Option<serde_json::Value>,
    /// Older clients' single flag; `featureFlags` wins when both are sent.
    #[serde(default)]
    feature_flag: Option<String>,
    #[serde(default)]
    feature_flags: Option<Vec<String>>,
    #[serde(default)]
    group_name: Option<String>,
    /// hookd's own: publishing a payload that does not match the latest schema is refused with a 422.
    #[serde(default)]
    enforce_schema: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventTypePatch {
    description: Option<String>,
    archived: Option<bool>,
    deprecated: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    schemas: Option<Option<serde_json::Value>>,
    #[serde(default, deserialize_with = "double_option")]
    feature_flag: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    feature_flags: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    group_name: Option<Option<String>>,
    enforce_schema: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventTypeOut {
    name: String,
    description: String,
    archived: bool,
    deprecated: bool,
    schemas: Option<serde_json::Value>,
    feature_flags: Option<Vec<String>>,
    feature_flag: Option<String>,
    group_name: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    enforce_schema: bool,
    created_at: String,
    updated_at: String,
}

impl From<&EventType> for EventTypeOut {
    fn from(e: &EventType) -> Self {
        let flags = e.flags();
        EventTypeOut {
            name: e.name.clone(),
            description: e.description.clone(),
            archived: e.archived,
            deprecated: e.deprecated,
            schemas: e.schemas.clone(),
            feature_flag: flags.first().cloned(),
            feature_flags: Some(flags).filter(|f| !f.is_empty()),
            group_name: e.group_name.clone(),
            enforce_schema: e.enforce_schema,
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

fn validate(et: &EventType) -> Result<()> {
    check_ident(&["body", "name"], &et.name, 256)?;
    for flag in &et.feature_flags {
        check_ident(&["body", "featureFlags"], flag, 256)?;
    }
    if let Some(group) = &et.group_name {
        check_ident(&["body", "groupName"], group, 256)?;
    }
    if let Some(schemas) = &et.schemas {
        let versions = schemas.as_object().ok_or_else(|| Error::invalid(&["body", "schemas"], SCHEMAS_SHAPE))?;
        for (version, schema) in versions {
            if !schema.is_object() {
                return Err(Error::invalid(&["body", "schemas", version], SCHEMAS_SHAPE));
            }
            super::schema::compile(schema)
                .map_err(|e| Error::invalid(&["body", "schemas", version], format!("not a valid JSON Schema: {e}")))?;
        }
    }
    Ok(())
}

const SCHEMAS_SHAPE: &str = "must be an object of versions to JSON schemas, as {\"1\": {\"type\": \"object\"}}";

/// `featureFlags` if sent, else the older `featureFlag`, as one list without repeats.
fn flags(list: Option<Vec<String>>, single: Option<String>) -> Vec<String> {
    let mut flags = list.unwrap_or_else(|| single.into_iter().collect());
    flags.sort();
    flags.dedup();
    flags
}

fn event_type(org: String, name: String, input: EventTypeUpdate, created_at: Millis) -> EventType {
    EventType {
        org_id: org,
        name,
        description: input.description,
        archived: input.archived,
        deprecated: input.deprecated,
        schemas: input.schemas,
        feature_flag: None,
        feature_flags: flags(input.feature_flags, input.feature_flag),
        group_name: input.group_name,
        enforce_schema: input.enforce_schema,
        created_at,
        updated_at: now_ms(),
    }
}

/// Stores a new or changed type, and forgets what publishing knew of it.
async fn save(ctx: &ApiContext, et: &EventType, created: bool) -> Result<()> {
    validate(et)?;
    if created {
        ctx.store.insert(et).await?;
    } else {
        ctx.store.update(et).await?;
    }
    ctx.parts.get::<PayloadSchemas>().invalidate(&et.org_id, &et.name);
    Ok(())
}

/// Whether the caller may see `et`: a portal token only if the type is released to its feature flags.
fn visible(et: &EventType, grant: Option<&PortalGrant>) -> bool {
    grant.is_none_or(|g| et.released_to(&g.token.feature_flags))
}

#[utoipa::path(
    post, path = "/api/v1/event-type", tag = "Event Type",
    request_body = EventTypeIn,
    responses(
        (status = 201, body = EventTypeOut),
        ClientError,
    ),
)]
async fn create_type(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    ValidJson(input): ValidJson<EventTypeIn>,
) -> Result<(StatusCode, Json<EventTypeOut>)> {
    let et = event_type(org, input.name, input.rest, now_ms());
    save(&ctx, &et, true).await?;
    Ok((StatusCode::CREATED, Json((&et).into())))
}

/// The listing's query, flat: serde_urlencoded types a number or a boolean only in a struct's own fields (through
/// `#[serde(flatten)]` every value arrives as a string, and `limit=250` was refused).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListTypesQuery {
    limit: Option<u64>,
    iterator: Option<String>,
    #[param(inline)]
    order: Option<Ordering>,
    /// When `true` archived (deleted but not expunged) types are included.
    #[serde(default)]
    include_archived: bool,
    /// When `true` each type's `schemas` are included (as svix-server, `null` otherwise).
    #[serde(default)]
    with_content: bool,
}

#[utoipa::path(
    get, path = "/api/v1/event-type", tag = "Event Type",
    params(ListTypesQuery),
    responses(
        (status = 200, body = ListResponse<EventTypeOut>),
        ClientError,
    ),
)]
async fn list_types(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    grant: Option<Extension<PortalGrant>>,
    Query(q): Query<ListTypesQuery>,
) -> Result<Json<ListResponse<EventTypeOut>>> {
    let grant = grant.map(|Extension(g)| g);
    let descending = q.order.is_some_and(|o| o == Ordering::Descending);
    let page = page(q.limit, q.iterator.as_deref(), descending);
    // Archived types are left out before the page is cut, so that a page holds `limit` live types and `done`
    // and the iterator are right: the store is walked on past archived ones.
    let mut rows: Vec<EventType> = Vec::new();
    let mut walk = Page { limit: page.limit, iterator: page.iterator.clone(), reverse: page.reverse, descending };
    loop {
        let mut batch = ctx.store.list::<EventType>(&org, "", &walk).await?;
        let exhausted = batch.len() <= walk.limit;
        batch.truncate(walk.limit);
        walk.iterator = batch.last().map(|e| e.name.clone());
        rows.extend(batch.into_iter().filter(|e| (q.include_archived || !e.archived) && visible(e, grant.as_ref())));
        if exhausted || rows.len() > page.limit {
            break;
        }
    }
    rows.truncate(page.limit + 1);
    Ok(Json(list_response(
        rows,
        &page,
        |e| e.name.clone(),
        |e| {
            let mut out = EventTypeOut::from(&e);
            if !q.with_content {
                out.schemas = None;
            }
            out
        },
    )))
}

async fn load(ctx: &ApiContext, org: &str, name: &str) -> Result<EventType> {
    ctx.store.get::<EventType>(org, "", name).await?.ok_or_else(|| Error::missing("event type", name))
}

#[utoipa::path(
    get, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    responses(
        (status = 200, body = EventTypeOut),
        ClientError,
    ),
)]
async fn get_type(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    grant: Option<Extension<PortalGrant>>,
    Path(name): Path<String>,
) -> Result<Json<EventTypeOut>> {
    let et = load(&ctx, &org, &name).await?;
    if !visible(&et, grant.as_deref()) {
        return Err(Error::missing("event type", &name));
    }
    Ok(Json((&et).into()))
}

#[utoipa::path(
    put, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    request_body = EventTypeUpdate,
    responses(
        (status = 200, description = "Updated", body = EventTypeOut),
        (status = 201, description = "Created", body = EventTypeOut),
        ClientError,
    ),
)]
async fn update_type(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(name): Path<String>,
    ValidJson(input): ValidJson<EventTypeUpdate>,
) -> Result<(StatusCode, Json<EventTypeOut>)> {
    let existing = ctx.store.get::<EventType>(&org, "", &name).await?;
    let created = existing.is_none();
    let et = event_type(org, name, input, existing.map_or(now_ms(), |e| e.created_at));
    save(&ctx, &et, created).await?;
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json((&et).into())))
}

#[utoipa::path(
    patch, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path)),
    request_body = EventTypePatch,
    responses(
        (status = 200, body = EventTypeOut),
        ClientError,
    ),
)]
async fn patch_type(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(name): Path<String>,
    ValidJson(p): ValidJson<EventTypePatch>,
) -> Result<Json<EventTypeOut>> {
    let mut et = load(&ctx, &org, &name).await?;
    if let Some(v) = p.description {
        et.description = v;
    }
    if let Some(v) = p.archived {
        et.archived = v;
    }
    if let Some(v) = p.deprecated {
        et.deprecated = v;
    }
    if let Some(v) = p.schemas {
        et.schemas = v;
    }
    if p.feature_flags.is_some() || p.feature_flag.is_some() {
        et.feature_flag = None;
        et.feature_flags = flags(p.feature_flags.flatten(), p.feature_flag.flatten());
    }
    if let Some(v) = p.group_name {
        et.group_name = v;
    }
    if let Some(v) = p.enforce_schema {
        et.enforce_schema = v;
    }
    et.updated_at = now_ms();
    save(&ctx, &et, false).await?;
    Ok(Json((&et).into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteQuery {
    #[serde(default)]
    expunge: bool,
}

#[utoipa::path(
    delete, path = "/api/v1/event-type/{event_type_name}", tag = "Event Type",
    params(("event_type_name" = String, Path), DeleteQuery),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete_type(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode> {
    let mut et = load(&ctx, &org, &name).await?;
    if q.expunge {
        ctx.store.delete::<EventType>(&org, &et.name).await?;
        ctx.parts.get::<PayloadSchemas>().invalidate(&org, &et.name);
    } else {
        et.archived = true;
        et.updated_at = now_ms();
        save(&ctx, &et, false).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().merge(openapi::router()).routes(routes!(list_types, create_type)).routes(routes!(
        get_type,
        update_type,
        patch_type,
        delete_type
    ))
}

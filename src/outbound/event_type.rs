//! Event types: the catalogue of what an organization's messages can be. Deleting archives unless `expunge`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, page, ListResponse, Ordering};
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
    #[serde(default)]
    feature_flag: Option<String>,
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
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct EventTypeOut {
    name: String,
    description: String,
    archived: bool,
    deprecated: bool,
    schemas: Option<serde_json::Value>,
    feature_flag: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<&EventType> for EventTypeOut {
    fn from(e: &EventType) -> Self {
        EventTypeOut {
            name: e.name.clone(),
            description: e.description.clone(),
            archived: e.archived,
            deprecated: e.deprecated,
            schemas: e.schemas.clone(),
            feature_flag: e.feature_flag.clone(),
            created_at: ts(e.created_at),
            updated_at: ts(e.updated_at),
        }
    }
}

fn validate(et: &EventType) -> Result<()> {
    check_ident(&["body", "name"], &et.name, 256)?;
    if let Some(ff) = &et.feature_flag {
        check_ident(&["body", "featureFlag"], ff, 256)?;
    }
    if et.schemas.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(Error::invalid(&["body", "schemas"], "must be an object of versions to JSON schemas"));
    }
    Ok(())
}

fn event_type(org: String, name: String, input: EventTypeUpdate, created_at: Millis) -> EventType {
    EventType {
        org_id: org,
        name,
        description: input.description,
        archived: input.archived,
        deprecated: input.deprecated,
        schemas: input.schemas,
        feature_flag: input.feature_flag,
        created_at,
        updated_at: now_ms(),
    }
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
    validate(&et)?;
    ctx.store.insert(&et).await?;
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
    Query(q): Query<ListTypesQuery>,
) -> Result<Json<ListResponse<EventTypeOut>>> {
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
        rows.extend(batch.into_iter().filter(|e| q.include_archived || !e.archived));
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
    Path(name): Path<String>,
) -> Result<Json<EventTypeOut>> {
    Ok(Json((&load(&ctx, &org, &name).await?).into()))
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
    validate(&et)?;
    if created {
        ctx.store.insert(&et).await?;
    } else {
        ctx.store.update(&et).await?;
    }
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
    if let Some(v) = p.feature_flag {
        et.feature_flag = v;
    }
    et.updated_at = now_ms();
    validate(&et)?;
    ctx.store.update(&et).await?;
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
    } else {
        et.archived = true;
        et.updated_at = now_ms();
        ctx.store.update(&et).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(list_types, create_type)).routes(routes!(
        get_type,
        update_type,
        patch_type,
        delete_type
    ))
}

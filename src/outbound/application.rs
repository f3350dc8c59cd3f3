//! Applications: one per customer of the user, holding that customer's endpoints.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::extract::ValidJson;
use crate::api::pagination::{list_response, ListQuery, ListResponse};
use crate::api::time::ts;
use crate::api::validate::{check_ident, double_option};
use crate::api::{load_app, not_internal, user_apps, ApiContext};
use crate::engine::model::{is_internal_uid, Application, Metadata};
use crate::error::{ClientError, Error, Result};
use crate::store::now_ms;

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u16>,
    #[serde(default)]
    pub metadata: Metadata,
    /// hookd extension: days this application's messages are kept (with their deliveries and attempts),
    /// replacing the server's `HOOKD_RETENTION`.
    #[serde(default)]
    pub message_retention_period: Option<i64>,
    /// hookd extension: every message's payload must match its event type's latest schema, where it has one.
    #[serde(default)]
    pub enforce_schemas: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub uid: Option<Option<String>>,
    #[serde(default, alias = "rateLimit", deserialize_with = "double_option")]
    pub throttle_rate: Option<Option<u16>>,
    pub metadata: Option<Metadata>,
    /// hookd extension (see [`ApplicationIn`]); `null` goes back to the server's retention.
    #[serde(default, deserialize_with = "double_option")]
    pub message_retention_period: Option<Option<i64>>,
    /// hookd extension (see [`ApplicationIn`]).
    pub enforce_schemas: Option<bool>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    pub id: String,
    pub uid: Option<String>,
    pub name: String,
    pub throttle_rate: Option<u16>,
    pub metadata: Metadata,
    /// hookd extension, present when set (see [`ApplicationIn`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_retention_period: Option<i64>,
    /// hookd extension, present when on (see [`ApplicationIn`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enforce_schemas: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Application> for ApplicationOut {
    fn from(a: &Application) -> Self {
        ApplicationOut {
            id: a.id.clone(),
            uid: a.uid.clone(),
            name: a.name.clone(),
            throttle_rate: a.throttle_rate,
            metadata: a.metadata.clone(),
            message_retention_period: a.retention_days,
            enforce_schemas: a.enforce_schemas,
            created_at: ts(a.created_at),
            updated_at: ts(a.updated_at),
        }
    }
}

/// The longest `messageRetentionPeriod`: ten years, so that days never overflow as milliseconds.
const MAX_RETENTION_DAYS: i64 = 3650;

fn validate(app: &Application) -> Result<()> {
    let (name, uid, throttle) = (&app.name, app.uid.as_deref(), app.throttle_rate);
    if name.trim().is_empty() {
        return Err(Error::invalid(&["body", "name"], "must not be empty"));
    }
    if let Some(uid) = uid {
        check_ident(&["body", "uid"], uid, 256)?;
        if crate::ids::has_prefix(uid, crate::ids::APP) {
            return Err(Error::invalid(&["body", "uid"], "must not look like an application id"));
        }
        if is_internal_uid(uid) {
            return Err(Error::invalid(&["body", "uid"], "is kept for hookd's own applications (timers, bots)"));
        }
    }
    if throttle == Some(0) {
        return Err(Error::invalid(&["body", "throttleRate"], "must be at least 1"));
    }
    if let Some(days) = app.retention_days {
        if !(1..=MAX_RETENTION_DAYS).contains(&days) {
            return Err(Error::invalid(
                &["body", "messageRetentionPeriod"],
                format!("must be between 1 and {MAX_RETENTION_DAYS} days"),
            ));
        }
    }
    Ok(())
}

/// Creates an application from `input` in `org` (also used by message creation with an inline application).
pub async fn create(ctx: &ApiContext, org: &str, input: ApplicationIn) -> Result<Application> {
    let app = Application {
        throttle_rate: input.throttle_rate,
        metadata: input.metadata,
        retention_days: input.message_retention_period,
        enforce_schemas: input.enforce_schemas,
        ..Application::new(org, input.uid, input.name)
    };
    validate(&app)?;
    ctx.store.insert(&app).await?;
    Ok(app)
}

/// The application `key` (id or uid) of `org`; when there is none and `inline` is given, it is created, with
/// the uid in the path unless it names its own (a message's or a portal link's `application`). 404 otherwise.
pub async fn load_or_create(
    ctx: &ApiContext,
    org: &str,
    key: &str,
    inline: Option<ApplicationIn>,
) -> Result<Arc<Application>> {
    if let Some(app) = ctx.engine.app(org, key).await? {
        return Ok(app);
    }
    let Some(app_in) = inline else { return Err(Error::missing("application", key)) };
    let uid = app_in.uid.clone().or_else(|| (!crate::ids::has_prefix(key, crate::ids::APP)).then(|| key.to_string()));
    match create(ctx, org, ApplicationIn { uid, ..app_in }).await {
        Ok(app) => Ok(Arc::new(app)),
        // Created at the same moment by another request.
        Err(Error::Http { status: StatusCode::CONFLICT, .. }) => load_app(ctx, org, key).await,
        Err(e) => Err(e),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CreateQuery {
    #[serde(default)]
    get_if_exists: bool,
}

#[utoipa::path(
    post, path = "/api/v1/app", tag = "Application",
    params(CreateQuery),
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "Found, with `get_if_exists`", body = ApplicationOut),
        (status = 201, description = "Created", body = ApplicationOut),
        ClientError,
    ),
)]
async fn create_app(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Query(q): Query<CreateQuery>,
    ValidJson(input): ValidJson<ApplicationIn>,
) -> Result<(StatusCode, Json<ApplicationOut>)> {
    if q.get_if_exists {
        if let Some(uid) = &input.uid {
            if let Some(app) = ctx.engine.app(&org, uid).await? {
                return Ok((StatusCode::OK, Json((&*app).into())));
            }
        }
    }
    let app = create(&ctx, &org, input).await?;
    Ok((StatusCode::CREATED, Json((&app).into())))
}

#[utoipa::path(
    get, path = "/api/v1/app", tag = "Application",
    params(ListQuery),
    responses(
        (status = 200, body = ListResponse<ApplicationOut>),
        ClientError,
    ),
)]
async fn list_apps(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Query(q): Query<ListQuery>,
) -> Result<Json<ListResponse<ApplicationOut>>> {
    let page = q.page(false);
    let rows = user_apps(&ctx, &org, &page).await?;
    Ok(Json(list_response(rows, &page, |a| a.id.clone(), |a| (&a).into())))
}

#[utoipa::path(
    get, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path)),
    responses(
        (status = 200, body = ApplicationOut),
        ClientError,
    ),
)]
async fn get_app(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
) -> Result<Json<ApplicationOut>> {
    Ok(Json((&*load_app(&ctx, &org, &app_id).await?).into()))
}

/// Why the API leaves an internal application alone: its timers or bot rely on it (the timers on its key).
const CHANGED_BY_ITS_FACE: &str = "it changes only with its timers or bot";

async fn save(ctx: &ApiContext, app: &Application) -> Result<()> {
    validate(app)?;
    if !ctx.store.update(app).await? {
        return Err(Error::missing("application", &app.id));
    }
    ctx.engine.invalidate(&app.id);
    Ok(())
}

#[utoipa::path(
    put, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path)),
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "Updated", body = ApplicationOut),
        (status = 201, description = "Created", body = ApplicationOut),
        ClientError,
    ),
)]
async fn update_app(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    ValidJson(input): ValidJson<ApplicationIn>,
) -> Result<(StatusCode, Json<ApplicationOut>)> {
    match ctx.engine.app(&org, &app_id).await? {
        Some(existing) => {
            not_internal(&existing, CHANGED_BY_ITS_FACE)?;
            let mut app = (*existing).clone();
            app.name = input.name;
            // Addressed by uid, the body may leave the uid out and keep it.
            app.uid = input.uid.or_else(|| (!crate::ids::has_prefix(&app_id, crate::ids::APP)).then(|| app_id.clone()));
            app.throttle_rate = input.throttle_rate;
            app.metadata = input.metadata;
            app.retention_days = input.message_retention_period;
            app.enforce_schemas = input.enforce_schemas;
            app.updated_at = now_ms();
            save(&ctx, &app).await?;
            Ok((StatusCode::OK, Json((&app).into())))
        }
        // PUT on an unknown uid creates the application with that uid, as svix-server does.
        None if !crate::ids::has_prefix(&app_id, crate::ids::APP) => {
            let app = create(&ctx, &org, ApplicationIn { uid: Some(app_id), ..input }).await?;
            Ok((StatusCode::CREATED, Json((&app).into())))
        }
        None => Err(Error::missing("application", &app_id)),
    }
}

#[utoipa::path(
    patch, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path)),
    request_body = ApplicationPatch,
    responses(
        (status = 200, body = ApplicationOut),
        ClientError,
    ),
)]
async fn patch_app(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
    ValidJson(patch): ValidJson<ApplicationPatch>,
) -> Result<Json<ApplicationOut>> {
    let mut app = (*load_app(&ctx, &org, &app_id).await?).clone();
    not_internal(&app, CHANGED_BY_ITS_FACE)?;
    if let Some(name) = patch.name {
        app.name = name;
    }
    if let Some(uid) = patch.uid {
        app.uid = uid;
    }
    if let Some(rate) = patch.throttle_rate {
        app.throttle_rate = rate;
    }
    if let Some(metadata) = patch.metadata {
        app.metadata = metadata;
    }
    if let Some(days) = patch.message_retention_period {
        app.retention_days = days;
    }
    if let Some(on) = patch.enforce_schemas {
        app.enforce_schemas = on;
    }
    app.updated_at = now_ms();
    save(&ctx, &app).await?;
    Ok(Json((&app).into()))
}

#[utoipa::path(
    delete, path = "/api/v1/app/{app_id}", tag = "Application",
    params(("app_id" = String, Path)),
    responses(
        (status = 204),
        ClientError,
    ),
)]
async fn delete_app(
    State(ctx): State<ApiContext>,
    OrgId(org): OrgId,
    Path(app_id): Path<String>,
) -> Result<StatusCode> {
    let app = load_app(&ctx, &org, &app_id).await?;
    not_internal(&app, CHANGED_BY_ITS_FACE)?;
    ctx.store.delete::<Application>(&org, &app.id).await?;
    ctx.engine.invalidate(&app.id);
    Ok(StatusCode::NO_CONTENT)
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app, update_app, patch_app, delete_app))
}

//! `POST /api/v1/filter/test`: tries a payload filter on a sample message before it is saved on an endpoint,
//! saying which condition failed when it does not match (as the dashboard's and portal's editors show).

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::auth::OrgId;
use crate::api::endpoints::parse_filter;
use crate::api::extract::ValidJson;
use crate::api::ApiContext;
use crate::engine::filter::Subject;
use crate::error::{ClientError, Error, Result};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FilterTestIn {
    #[schema(value_type = Object)]
    filter: serde_json::Value,
    event_type: String,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FilterTestOut {
    matches: bool,
    /// The first condition the message fails, as `payload.amount $gte 100`.
    reason: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/filter/test", tag = "Endpoint",
    request_body = FilterTestIn,
    responses(
        (status = 200, body = FilterTestOut),
        ClientError,
    ),
)]
async fn test_filter(_org: OrgId, ValidJson(input): ValidJson<FilterTestIn>) -> Result<Json<FilterTestOut>> {
    if input.filter.is_null() {
        return Err(Error::invalid(&["body", "filter"], "a filter is required"));
    }
    let filter = parse_filter(Some(input.filter))?.expect("a filter that is not null");
    let subject =
        Subject { event_type: &input.event_type, channels: input.channels.as_deref(), payload: Some(&input.payload) };
    let reason = filter.explain(&subject);
    Ok(Json(FilterTestOut { matches: reason.is_none(), reason }))
}

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new().routes(routes!(test_filter))
}

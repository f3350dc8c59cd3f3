//! The outbound face: the Svix server API (`/api/v1/…`), so that the official Svix SDKs work against hookd
//! unchanged. Each resource file ends in `pub fn router()`; what they share with the other faces (JSON input
//! with 4xx errors, cursor pagination, timestamps, path lookups, the idempotency layer) is in [`crate::api`].

pub mod application;
pub mod attempt;
pub mod auth;
pub mod background_task;
pub mod destination;
pub mod endpoint;
pub mod event_type;
pub mod filter;
pub mod message;
pub mod operational_webhook;
pub mod poller;
pub mod schema;
pub mod transformation;

use utoipa_axum::router::OpenApiRouter;

use crate::api::ApiContext;

pub fn router() -> OpenApiRouter<ApiContext> {
    OpenApiRouter::new()
        .merge(application::router())
        .merge(endpoint::router())
        .merge(destination::router())
        .merge(poller::router())
        .merge(transformation::router())
        .merge(event_type::router())
        .merge(filter::router())
        .merge(message::router())
        .merge(attempt::router())
        .merge(operational_webhook::router())
        .merge(background_task::router())
        .merge(auth::router())
}

//! Changes to an endpoint that the faces make (the outbound API, the Ingest API's endpoints, the dashboard):
//! checks, creating and storing, rotating the secret, custom headers, the transformation, and the example payload
//! of an event type.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};

use crate::api::validate::check_ident;
use crate::api::ApiContext;
use crate::engine::filter::Filter;
use serde::Serialize;

use crate::engine::model::{Application, Endpoint, EndpointSecret, EventType};
use crate::engine::signing;
use crate::engine::transform::{sandbox, Preset, Transformation};
use crate::error::{Error, Result};
use crate::store::now_ms;

/// Each item of an event type or channel list; `invoice.*` and `*` match by prefix. The message names the item
/// refused, which a list of several needs.
fn check_list(field: &str, items: &Option<Vec<String>>, max_len: usize) -> Result<()> {
    for item in items.iter().flatten().filter(|i| *i != "*") {
        check_ident(&["body", field], item.trim_end_matches('*').trim_end_matches('.'), max_len).map_err(
            |e| match e {
                Error::Validation(mut items) => {
                    items.iter_mut().for_each(|i| i.msg = format!("“{item}”: {}", i.msg));
                    Error::Validation(items)
                }
                other => other,
            },
        )?;
    }
    Ok(())
}

pub fn check_secret(secret: &str) -> Result<()> {
    match signing::standard_key(secret) {
        Some(key) if (24..=75).contains(&key.len()) => Ok(()),
        _ => Err(Error::invalid(
            &["body", "secret"],
            "must be base64 of 24 to 75 bytes, optionally prefixed with whsec_",
        )),
    }
}

pub fn check_headers(headers: &BTreeMap<String, Option<String>>) -> Result<()> {
    for (k, v) in headers {
        HeaderName::try_from(k.as_str())
            .map_err(|_| Error::invalid(&["body", "headers"], format!("invalid header name: {k}")))?;
        if let Some(v) = v {
            HeaderValue::try_from(v.as_str())
                .map_err(|_| Error::invalid(&["body", "headers"], format!("invalid value for {k}")))?;
        }
    }
    Ok(())
}

pub fn parse_schedule(s: Option<Vec<String>>) -> Result<Option<Vec<u64>>> {
    s.map(|items| {
        if items.len() > 20 {
            return Err(Error::invalid(&["body", "retrySchedule"], "at most 20 retries"));
        }
        items
            .iter()
            .map(|d| {
                humantime::parse_duration(d)
                    .map(|d| d.as_millis() as u64)
                    .map_err(|_| Error::invalid(&["body", "retrySchedule"], format!("invalid duration: {d}")))
            })
            .collect()
    })
    .transpose()
}

/// Compiles a payload filter as written (`null` or absent: none); a refusal names the offending key's path
/// under `body.filter`.
pub fn parse_filter(v: Option<serde_json::Value>) -> Result<Option<Filter>> {
    v.filter(|v| !v.is_null())
        .map(|v| {
            Filter::parse(v).map_err(|e| {
                let mut loc = vec!["body", "filter"];
                loc.extend(e.path.iter().map(String::as_str));
                Error::invalid(&loc, e.msg)
            })
        })
        .transpose()
}

/// A new endpoint's signing key: the one given (checked; `whsec_` added when missing), or a new random one.
pub fn initial_secret(secret: Option<String>) -> Result<String> {
    match secret {
        Some(s) => {
            check_secret(&s)?;
            Ok(if s.starts_with("whsec_") { s } else { format!("whsec_{s}") })
        }
        None => Ok(signing::new_secret()),
    }
}

/// A new endpoint of `app` sending to `url`, signed with `secret` (see [`initial_secret`]), with custom `headers`
/// and everything else as the Svix API defaults it; the caller sets what its request gives before [`insert`].
pub fn new_endpoint(
    app: &Application,
    url: String,
    secret: Option<String>,
    headers: BTreeMap<String, String>,
) -> Result<Endpoint> {
    let secret = initial_secret(secret)?;
    check_headers(&headers.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect())?;
    let now = now_ms();
    Ok(Endpoint {
        id: crate::ids::new(crate::ids::EP),
        org_id: app.org_id.clone(),
        app_id: app.id.clone(),
        uid: None,
        url,
        description: String::new(),
        filter_types: None,
        channels: None,
        disabled: false,
        metadata: Default::default(),
        headers,
        secrets: vec![EndpointSecret { key: secret, expires_at: None }],
        throttle_rate: None,
        signature: None,
        retry_schedule: None,
        filter: None,
        transformation: None,
        created_at: now,
        updated_at: now,
    })
}

/// Checks and stores a new endpoint; the next message of its application routes by it.
pub async fn insert(ctx: &ApiContext, ep: &Endpoint) -> Result<()> {
    validate(ctx, ep).await?;
    ctx.store.insert(ep).await?;
    ctx.engine.invalidate(&ep.app_id);
    Ok(())
}

/// An endpoint's custom headers as the API shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeadersOut {
    headers: BTreeMap<String, String>,
    sensitive: Vec<String>,
}

/// Headers whose values are named but not shown.
const SENSITIVE: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-api-key"];

impl From<&Endpoint> for HeadersOut {
    /// Sensitive headers are named but their values are not shown.
    fn from(ep: &Endpoint) -> Self {
        let (sensitive, headers): (Vec<_>, Vec<_>) =
            ep.headers.iter().partition(|(k, _)| SENSITIVE.contains(&k.to_ascii_lowercase().as_str()));
        HeadersOut {
            headers: headers.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            sensitive: sensitive.into_iter().map(|(k, _)| k.clone()).collect(),
        }
    }
}

/// Replaces every custom header of `ep` (`PUT …/headers`) and stores it.
pub async fn put_headers(ctx: &ApiContext, ep: &mut Endpoint, headers: BTreeMap<String, String>) -> Result<()> {
    check_headers(&headers.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect())?;
    ep.headers = headers;
    save(ctx, ep).await
}

/// Sets or removes (`null`) the named custom headers of `ep` (`PATCH …/headers`) and stores it.
pub async fn patch_headers(
    ctx: &ApiContext,
    ep: &mut Endpoint,
    headers: BTreeMap<String, Option<String>>,
) -> Result<()> {
    check_headers(&headers)?;
    for (k, v) in headers {
        match v {
            Some(v) => ep.headers.insert(k, v),
            None => ep.headers.remove(&k),
        };
    }
    save(ctx, ep).await
}

const MAX_VARIABLES: usize = 100;

/// Refuses a transformation too large to keep.
pub fn check_transformation(t: &Transformation) -> Result<()> {
    if t.code.as_ref().is_some_and(|c| c.len() > sandbox::MAX_CODE_BYTES) {
        let msg = format!("at most {} KiB", sandbox::MAX_CODE_BYTES >> 10);
        return Err(Error::invalid(&["body", "code"], msg));
    }
    if t.variables.len() > MAX_VARIABLES || t.variables.iter().any(|(k, v)| k.len() > 256 || v.len() > 8192) {
        return Err(Error::invalid(
            &["body", "variables"],
            "at most 100 variables, names up to 256 bytes, values up to 8 KiB",
        ));
    }
    Ok(())
}

/// A change to an endpoint's transformation (Svix's `EndpointTransformationPatch`): absent fields are kept,
/// `Some(None)` clears.
#[derive(Debug, Default)]
pub struct TransformationChange {
    pub code: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub variables: Option<Option<BTreeMap<String, String>>>,
    pub template: Option<Option<Preset>>,
}

/// Applies `p` to the endpoint's transformation and stores it. A new one with code or a template is enabled unless
/// `enabled: false` is given. Code that does not compile would fail every delivery: new code (or variables) is
/// compiled before it is saved, while a broken transformation can still be turned off.
pub async fn patch_transformation(ctx: &ApiContext, ep: &mut Endpoint, p: TransformationChange) -> Result<()> {
    let is_new = ep.transformation.is_none();
    let recompile = p.code.is_some() || p.variables.is_some();
    let mut t = ep.transformation.clone().unwrap_or_default();
    if let Some(code) = p.code {
        t.code = code.filter(|c| !c.trim().is_empty());
    }
    if let Some(template) = p.template {
        t.template = template;
    }
    if let Some(vars) = p.variables {
        t.variables = vars.unwrap_or_default();
    }
    t.enabled = p.enabled.unwrap_or(t.enabled || (is_new && (t.code.is_some() || t.template.is_some())));
    check_transformation(&t)?;
    if recompile {
        ctx.engine.transformer.check(&t).await.map_err(|e| Error::invalid(&["body", "code"], e))?;
    }
    t.updated_at = Some(now_ms());
    ep.transformation = Some(t);
    crate::api::store_endpoint(ctx, ep).await
}

/// Checks an endpoint as a whole before it is stored. Its URL's name is resolved, so that one pointing at a
/// private address is refused now rather than failing every attempt.
pub async fn validate(ctx: &ApiContext, ep: &Endpoint) -> Result<()> {
    if ep.url.len() > 65536 {
        return Err(Error::invalid(&["body", "url"], "too long"));
    }
    ctx.engine.egress.check_destination(&ep.url).await.map_err(|e| Error::invalid(&["body", "url"], e))?;
    if let Some(uid) = &ep.uid {
        check_ident(&["body", "uid"], uid, 256)?;
        if crate::ids::has_prefix(uid, crate::ids::EP) {
            return Err(Error::invalid(&["body", "uid"], "must not look like an endpoint id"));
        }
    }
    check_list("eventTypes", &ep.filter_types, 256)?;
    check_list("channels", &ep.channels, 128)?;
    if ep.throttle_rate == Some(0) {
        return Err(Error::invalid(&["body", "throttleRate"], "must be at least 1"));
    }
    Ok(())
}

/// Checks and stores a changed endpoint (see [`crate::api::store_endpoint`]).
pub async fn save(ctx: &ApiContext, ep: &mut Endpoint) -> Result<()> {
    validate(ctx, ep).await?;
    crate::api::store_endpoint(ctx, ep).await
}

/// Rotates `ep`'s signing key to `key` (a new random one when None); answers with the new key. The old key keeps
/// signing beside the new one for the grace period (24 h unless said otherwise, 7 days at most).
pub async fn rotate_secret(
    ctx: &ApiContext,
    ep: &mut Endpoint,
    key: Option<String>,
    grace_period_seconds: Option<u32>,
) -> Result<String> {
    let grace = grace_period_seconds.unwrap_or(86_400);
    if grace > 7 * 86_400 {
        return Err(Error::invalid(&["body", "gracePeriodSeconds"], "at most 7 days"));
    }
    let new_key = initial_secret(key)?;
    crate::engine::model::rotate_secrets(&mut ep.secrets, new_key.clone(), grace as i64 * 1000, now_ms());
    save(ctx, ep).await?;
    Ok(new_key)
}

/// What send-example sends for `event_type`: its latest schema's first example, else one made from the schema
/// (so that it passes the schema when publishing enforces it), or `{}`.
pub async fn example_payload(ctx: &ApiContext, org: &str, event_type: &str) -> Result<serde_json::Value> {
    let et = ctx.store.get::<EventType>(org, "", event_type).await?;
    Ok(et.as_ref().and_then(EventType::latest_schema).map_or_else(|| serde_json::json!({}), super::catalog::example))
}

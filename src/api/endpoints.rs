//! Changes to an endpoint that the API and the dashboard both make: checks, storing, rotating the secret, and
//! the example payload of an event type.

use std::collections::BTreeMap;

use axum::http::{HeaderName, HeaderValue};

use crate::api::validate::check_ident;
use crate::api::ApiContext;
use crate::engine::filter::Filter;
use crate::engine::model::{Endpoint, EventType};
use crate::engine::signing;
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
    let new_key = match key {
        Some(k) => {
            check_secret(&k)?;
            if k.starts_with("whsec_") {
                k
            } else {
                format!("whsec_{k}")
            }
        }
        None => signing::new_secret(),
    };
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

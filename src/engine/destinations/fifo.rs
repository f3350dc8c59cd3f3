//! A `fifoEndpoint`: each batch is one HTTP POST, signed like any webhook, and the next leaves only once the
//! receiver answered 2xx.
//!
//! The body (`application/json`):
//!
//! ```json
//! {"destinationId": "dst_…", "data": [
//!   {"id": "msg_…", "eventType": "invoice.paid", "eventId": null, "payload": {…}, "channels": [],
//!    "timestamp": "2026-01-01T00:00:00.000Z", "position": 42}, …]}
//! ```
//!
//! in log order. The headers: Standard Webhooks (`svix-*` or `webhook-*` as `HOOKD_SIGNATURE_HEADERS` says), signed
//! with the destination's `key`, whose id is `{destinationId}_{first position}_{last position}` (the same on every
//! retry of the same batch), the config's own `headers`, and `hookd-destination-id`, `hookd-first-msg-id`,
//! `hookd-last-msg-id`, `hookd-batch-size`. A transformation replaces the body by its `requestBody`.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Destination, FifoConfig};
use crate::config::HeaderStyle;
use crate::engine::sinks::Event;
use crate::engine::Engine;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventOut<'a> {
    id: &'a str,
    event_type: &'a str,
    event_id: Option<&'a str>,
    payload: &'a RawValue,
    channels: &'a [String],
    timestamp: String,
    position: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchOut<'a> {
    destination_id: &'a str,
    data: Vec<EventOut<'a>>,
}

/// What a destination's transformation gets and returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TransformEvent<'a> {
    payload: &'a RawValue,
    event_type: &'a str,
}

/// Most of a receiver's answer kept in an attempt's text.
const ANSWER_KEPT: usize = 512;

impl Engine {
    /// Sends the batch; the receiver's status when it answered 2xx, else (status or 0, why).
    pub(super) async fn send_fifo(
        &self,
        dest: &Destination,
        cfg: &FifoConfig,
        events: &[Event],
    ) -> Result<i64, (i64, String)> {
        let body = match &dest.transformation {
            Some(code) => self.transform_batch(dest, code, events).await.map_err(|why| (0, why))?,
            None => batch_body(&dest.id, events),
        };
        let url = self.egress.check_url(&cfg.url).map_err(|why| (0, why))?;
        let (first, last) = (&events[0], &events[events.len() - 1]);
        let webhook_id = format!("{}_{}_{}", dest.id, first.position, last.position);
        let mut h = HeaderMap::new();
        for (k, v) in &cfg.headers {
            if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v.as_str())) {
                h.insert(k, v);
            }
        }
        let value = |s: &str| HeaderValue::try_from(s).unwrap_or(HeaderValue::from_static(""));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let ts = chrono::Utc::now().timestamp();
        let sig = crate::engine::signing::standard_signature(&webhook_id, ts, &body, std::iter::once(cfg.key.as_str()));
        let (id_h, ts_h, sig_h) = match self.cfg.header_style {
            HeaderStyle::Svix => ("svix-id", "svix-timestamp", "svix-signature"),
            HeaderStyle::Webhook => ("webhook-id", "webhook-timestamp", "webhook-signature"),
        };
        h.insert(id_h, value(&webhook_id));
        h.insert(ts_h, HeaderValue::from(ts));
        h.insert(sig_h, value(&sig));
        h.insert("hookd-destination-id", value(&dest.id));
        h.insert("hookd-first-msg-id", value(&first.msg_id));
        h.insert("hookd-last-msg-id", value(&last.msg_id));
        h.insert("hookd-batch-size", HeaderValue::from(events.len()));
        let resp = match self.http.post(url).headers(h).body(body).send().await {
            Ok(r) => r,
            Err(e) => return Err((0, crate::engine::dispatcher::describe(&e))),
        };
        let code = resp.status().as_u16() as i64;
        if resp.status().is_success() {
            return Ok(code);
        }
        let answer = resp.text().await.unwrap_or_default();
        let answer: String = answer.chars().take(ANSWER_KEPT).collect();
        Err((code, format!("HTTP {code}: {answer}")))
    }

    async fn transform_batch(&self, dest: &Destination, code: &str, events: &[Event]) -> Result<Vec<u8>, String> {
        let input = serde_json::json!({
            "events": events
                .iter()
                .map(|e| TransformEvent { payload: &e.payload, event_type: &e.event_type })
                .collect::<Vec<_>>(),
        });
        let out = self.transformer.run_json(Some(&dest.id), code, input.to_string()).await?;
        let out: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("transformation returned {e}"))?;
        match out.get("requestBody") {
            Some(serde_json::Value::String(s)) => Ok(s.clone().into_bytes()),
            Some(v) => Ok(v.to_string().into_bytes()),
            None => Err("the transformation returned no requestBody".into()),
        }
    }
}

/// The batch's JSON body (see the module's documentation).
pub fn batch_body(destination_id: &str, events: &[Event]) -> Vec<u8> {
    let data = events
        .iter()
        .map(|e| EventOut {
            id: &e.msg_id,
            event_type: &e.event_type,
            event_id: e.event_id.as_deref(),
            payload: &e.payload,
            channels: &e.channels,
            timestamp: crate::api::time::ts(e.timestamp),
            position: e.position,
        })
        .collect();
    serde_json::to_vec(&BatchOut { destination_id, data }).unwrap_or_default()
}

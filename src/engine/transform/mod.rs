//! Transformations: change what a delivery sends — its payload, URL and method — or cancel it, with JavaScript
//! (Svix's `function handler(webhook)`, run in [`sandbox`]) or a ready-made shape ([`presets`]). Outbound
//! endpoints apply them at delivery time (the stored message keeps its payload), timers shape their events with
//! a preset, inbound registrations transform the normalised event before forwarding it.
//!
//! The handler gets `webhook = {method, url, eventType, payload}` and the global `variables` (the
//! transformation's string map, e.g. a token); it returns the webhook, changed, or with `cancel: true`.

pub mod presets;
pub mod sandbox;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use presets::Preset;
pub use sandbox::Limits;

use crate::store::Millis;

/// A transformation as an endpoint or a registration keeps it. `code` wins over `template` when both are set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transformation {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub template: Option<Preset>,
    #[serde(default)]
    pub enabled: bool,
    /// Sealed at rest like the endpoint's custom headers (`store::sealed`): a receiver's token may live here.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub updated_at: Option<Millis>,
}

impl Transformation {
    /// Whether it changes anything when applied.
    pub fn active(&self) -> bool {
        self.enabled && (self.code.is_some() || self.template.is_some())
    }
}

/// What a transformation is given.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookIn<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub event_type: &'a str,
    pub payload: &'a RawValue,
}

/// What it gave back.
#[derive(Debug, Clone)]
pub enum Outcome {
    Send {
        method: reqwest::Method,
        url: String,
        /// The new event type (inbound forwarding uses it).
        event_type: String,
        /// The body's JSON.
        payload: Box<RawValue>,
    },
    /// The handler returned `cancel: true`: nothing is sent.
    Cancel,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookOut {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    event_type: Option<String>,
    #[serde(default)]
    payload: Option<Box<RawValue>>,
    #[serde(default)]
    cancel: Option<bool>,
}

impl Transformer {
    /// Compiles `t`'s code, if it has any, on a worker: the error a delivery would fail with, before it is saved.
    pub async fn check(&self, t: &Transformation) -> Result<(), String> {
        let Some(code) = &t.code else { return Ok(()) };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let call = Call {
            owner: None,
            code: code.clone(),
            input: None,
            variables: serde_json::to_string(&t.variables).map_err(|e| e.to_string())?,
            limits: self.limits,
            reply,
        };
        self.calls().send(call).map_err(|_| "the transformation workers stopped".to_string())?;
        answer.await.map_err(|_| "the transformation stopped".to_string())?.map(drop).map_err(|e| e.to_string())
    }

    /// Applies `t` (as if enabled) to an example and checks the URL it ends with against `egress`, sending nothing:
    /// the API's `…/transformation/simulate` and the dashboard's "Try it".
    pub async fn dry_run(
        &self,
        t: &Transformation,
        input: WebhookIn<'_>,
        egress: &super::egress::EgressPolicy,
    ) -> Result<Outcome, String> {
        let t = Transformation { enabled: true, ..t.clone() };
        let out = self.apply(None, &t, input).await?;
        if let Outcome::Send { url, .. } = &out {
            egress.check_url(url).map_err(|why| format!("the changed URL: {why}"))?;
        }
        Ok(out)
    }
}

/// Runs transformations off the async reactor, on one worker thread per core that takes calls from a shared
/// queue. Each worker keeps its own warm contexts ([`sandbox`]); a slow transformation holds one worker for at
/// most its time limit while the others go on, and never a dispatcher task's thread. Under load a worker runs
/// call after call without parking: handing each call to a pooled thread of its own cost more than QuickJS did.
pub struct Transformer {
    calls: OnceLock<crossbeam_channel::Sender<Call>>,
    pub limits: Limits,
}

/// One JavaScript call for a worker.
struct Call {
    owner: Option<String>,
    code: String,
    /// None: compile the code only ([`sandbox::check`]).
    input: Option<String>,
    variables: String,
    limits: Limits,
    reply: tokio::sync::oneshot::Sender<Result<String, sandbox::SandboxError>>,
}

impl Default for Transformer {
    fn default() -> Self {
        Transformer { calls: OnceLock::new(), limits: Limits::default() }
    }
}

impl Transformer {
    /// The queue, with its workers started on first use (a server without transformations has none).
    fn calls(&self) -> &crossbeam_channel::Sender<Call> {
        self.calls.get_or_init(|| {
            let (tx, rx) = crossbeam_channel::unbounded::<Call>();
            let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
            for i in 0..workers {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("hookd-js-{i}"))
                    .spawn(move || {
                        // Ends when the Transformer (the queue's only sender) is dropped. A panic fails its call
                        // (the reply is dropped) and leaves the worker serving.
                        for c in rx {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                let out = match &c.input {
                                    Some(input) => {
                                        sandbox::run(c.owner.as_deref(), &c.code, input, &c.variables, &c.limits)
                                    }
                                    None => sandbox::check(&c.code, &c.variables, &c.limits).map(|()| String::new()),
                                };
                                let _ = c.reply.send(out);
                            }));
                        }
                    })
                    .expect("starting a transformation worker");
            }
            tx
        })
    }

    /// Runs `code`'s `handler` on the JSON `input` with no variables and answers the JSON it returned: for
    /// callers with their own shapes (a destination's batch). `owner` keeps the code warm, as in [`Self::apply`].
    pub async fn run_json(&self, owner: Option<&str>, code: &str, input: String) -> Result<String, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let call = Call {
            owner: owner.map(str::to_string),
            code: code.to_string(),
            input: Some(input),
            variables: "{}".to_string(),
            limits: self.limits,
            reply,
        };
        self.calls().send(call).map_err(|_| "the transformation workers stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the transformation stopped".to_string())?
            .map_err(|e| format!("transformation failed: {e}"))
    }

    /// Applies `t` to `input`. `owner`, the id of the endpoint or registration `t` belongs to, keeps the compiled
    /// code warm for its next call ([`sandbox`]); without one the code runs in a fresh context. An error says why
    /// in words fit for an attempt's record.
    pub async fn apply(
        &self,
        owner: Option<&str>,
        t: &Transformation,
        input: WebhookIn<'_>,
    ) -> Result<Outcome, String> {
        let out = match (&t.code, t.template) {
            (Some(code), _) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                let call = Call {
                    owner: owner.map(str::to_string),
                    code: code.clone(),
                    input: Some(serde_json::to_string(&input).map_err(|e| e.to_string())?),
                    variables: serde_json::to_string(&t.variables).map_err(|e| e.to_string())?,
                    limits: self.limits,
                    reply,
                };
                self.calls().send(call).map_err(|_| "the transformation workers stopped".to_string())?;
                let out = answer
                    .await
                    .map_err(|_| "the transformation stopped".to_string())?
                    .map_err(|e| format!("transformation failed: {e}"))?;
                serde_json::from_str::<WebhookOut>(&out).map_err(|e| format!("transformation returned {e}"))?
            }
            (None, Some(preset)) => {
                let payload: serde_json::Value =
                    serde_json::from_str(input.payload.get()).map_err(|e| e.to_string())?;
                let shaped = preset.apply(input.event_type, &payload, &t.variables)?;
                WebhookOut {
                    method: None,
                    url: None,
                    event_type: None,
                    payload: Some(serde_json::value::to_raw_value(&shaped).map_err(|e| e.to_string())?),
                    cancel: None,
                }
            }
            (None, None) => WebhookOut {
                method: None,
                url: None,
                event_type: None,
                payload: Some(input.payload.to_owned()),
                cancel: None,
            },
        };
        if out.cancel == Some(true) {
            return Ok(Outcome::Cancel);
        }
        let method = match out.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("POST") => reqwest::Method::POST,
            Some("PUT") => reqwest::Method::PUT,
            Some(m) => return Err(format!("transformation returned method {m:?}: only POST and PUT")),
        };
        let payload = out.payload.ok_or("transformation returned no payload (return the webhook, or cancel it)")?;
        Ok(Outcome::Send {
            method,
            url: out.url.unwrap_or_else(|| input.url.to_string()),
            event_type: out.event_type.unwrap_or_else(|| input.event_type.to_string()),
            payload,
        })
    }
}

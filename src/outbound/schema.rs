//! Payloads checked against their event type's JSON Schema when publishing, where the event type
//! (`enforceSchema`) or the application (`enforceSchemas`) asks for it; off by default, as in Svix.
//!
//! Each event type's compiled validator is cached for a few seconds (every publish would otherwise read its
//! event type): a change made through this node is seen at once, one made through another within [`TTL`].

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::api::ApiContext;
use crate::engine::model::{Application, EventType};
use crate::error::{Error, Result, ValidationItem};

const TTL: Duration = Duration::from_secs(5);

/// What publishing a type needs to know of it.
struct Rule {
    enforce: bool,
    validator: Option<jsonschema::Validator>,
}

/// Registered in `AppState::parts`.
pub struct PayloadSchemas(moka::sync::Cache<String, Arc<Rule>>);

impl Default for PayloadSchemas {
    fn default() -> Self {
        PayloadSchemas(moka::sync::Cache::builder().max_capacity(100_000).time_to_live(TTL).build())
    }
}

fn key(org: &str, event_type: &str) -> String {
    format!("{org}\n{event_type}")
}

/// Compiles a schema as saved on an event type; the error says why it is not one.
pub fn compile(schema: &serde_json::Value) -> std::result::Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

impl PayloadSchemas {
    /// Forgets what is known of a type (after it changed through this node).
    pub fn invalidate(&self, org: &str, event_type: &str) {
        self.0.invalidate(&key(org, event_type));
    }

    /// Refuses `payload` with a 422 naming each failing JSON pointer and rule, if its type or `app` asks for
    /// schemas to be enforced and it does not match.
    pub async fn check(ctx: &ApiContext, app: &Application, event_type: &str, payload: &RawValue) -> Result<()> {
        let me = ctx.parts.get::<PayloadSchemas>();
        let k = key(&app.org_id, event_type);
        let rule = match me.0.get(&k) {
            Some(rule) => rule,
            None => {
                let et = ctx.store.get::<EventType>(&app.org_id, "", event_type).await?;
                let rule = Arc::new(Rule {
                    enforce: et.as_ref().is_some_and(|e| e.enforce_schema),
                    // A schema that no longer compiles (saved before checks existed) checks nothing.
                    validator: et.as_ref().and_then(EventType::latest_schema).and_then(|s| compile(s).ok()),
                });
                me.0.insert(k, rule.clone());
                rule
            }
        };
        let Some(validator) = rule.validator.as_ref().filter(|_| rule.enforce || app.enforce_schemas) else {
            return Ok(());
        };
        let value: serde_json::Value = serde_json::from_str(payload.get()).map_err(anyhow::Error::from)?;
        let items: Vec<ValidationItem> = validator
            .iter_errors(&value)
            .take(20)
            .map(|e| {
                let mut loc = vec!["body".to_string(), "payload".to_string()];
                loc.extend(e.instance_path().as_str().split('/').skip(1).map(unescape));
                ValidationItem {
                    loc,
                    msg: format!("{e} (schema rule {})", e.schema_path().as_str()),
                    kind: format!("schema.{}", e.kind().keyword()),
                }
            })
            .collect();
        if items.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(items))
        }
    }
}

/// A JSON pointer's segment as the key it names.
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

//! Request extractors whose rejections are the API's JSON errors.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result, ValidationItem};

/// The largest request body the server takes (`HOOKD_MAX_BODY_BYTES`), put in each request's extensions so
/// that a 413 can say what the limit is and how to raise it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The 413 answer: the limit and the setting that raises it.
pub fn payload_too_large(limit: Option<BodyLimit>) -> Error {
    let detail = match limit {
        Some(BodyLimit(n)) => format!(
            "Request body is larger than the limit of {n} bytes; raise it with HOOKD_MAX_BODY_BYTES (--max-body-bytes)"
        ),
        None => "Request body is too large; raise the limit with HOOKD_MAX_BODY_BYTES (--max-body-bytes)".into(),
    };
    Error::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail)
}

/// A JSON body: malformed JSON is a 400, the wrong shape a 422, too large a 413 — each with a JSON body.
/// An empty body reads as `{}`. A field sent in the other case style than the API's (`event_type` for
/// `eventType`, or `webhookUrl` for the bots' `webhook_url`) is a 422 that says which was meant, rather than
/// ignored: an ignored `event_types` would send an endpoint every event.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ValidJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().copied();
        let bytes = bytes::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                payload_too_large(limit)
            } else {
                Error::bad_request(e.body_text())
            }
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let mut ignored = Vec::new();
        let parsed = parse::<T>(body, &mut ignored);
        let failed = parsed.as_ref().err().filter(|e| e.classify() == serde_json::error::Category::Data);
        let hint = misnamed_field::<T>(body, &ignored, failed);
        match (parsed, hint) {
            (Ok(v), None) => Ok(ValidJson(v)),
            (Ok(_), Some(hint)) => Err(Error::Validation(vec![hint])),
            (Err(e), hint) => Err(match e.classify() {
                serde_json::error::Category::Data => {
                    let text = e.to_string();
                    let hint = hint.or_else(|| unknown_field_hint(&text));
                    // "missing field `eventType`" says nothing the hint does not.
                    let said = hint.as_ref().is_some_and(|h| {
                        h.loc
                            .last()
                            .and_then(|k| twin(k))
                            .is_some_and(|m| text.starts_with(&format!("missing field `{m}`")))
                    });
                    let (loc, msg) = located::<T>(body, &text);
                    let error = ValidationItem { loc, msg, kind: "value_error".into() };
                    Error::Validation(hint.into_iter().chain((!said).then_some(error)).collect())
                }
                _ => Error::new(StatusCode::BAD_REQUEST, "invalid_json", format!("Malformed JSON body: {e}")),
            }),
        }
    }
}

/// Where in `body` deserializing failed (`["body", "rateLimit"]`, the missing field's own name for a missing
/// one) and serde's `text` without its line and column, which a path says better. Parsed again for it: only a
/// refused body pays.
fn located<T: DeserializeOwned>(body: &[u8], text: &str) -> (Vec<String>, String) {
    use serde_path_to_error::Segment;
    let mut loc = vec!["body".to_string()];
    let mut de = serde_json::Deserializer::from_slice(body);
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(&mut de) {
        loc.extend(e.path().iter().filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            _ => None,
        }));
    }
    if let Some(field) = text.strip_prefix("missing field `").and_then(|t| t.split('`').next()) {
        loc.push(field.to_string());
    }
    let msg = text.rsplit_once(" at line ").map_or(text, |(m, _)| m).to_string();
    (loc, msg)
}

/// One step of the path to a JSON value: an object's key or an array's index.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &serde_ignored::Path, out: &mut Vec<Seg>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            segments(parent, out);
            out.push(Seg::Index(*index));
        }
        Path::Map { parent, key } => {
            segments(parent, out);
            out.push(Seg::Key(key.clone()));
        }
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            segments(parent, out)
        }
    }
}

/// Deserializes `body`, noting the paths of the object keys no field took.
fn parse<T: DeserializeOwned>(body: &[u8], ignored: &mut Vec<Vec<Seg>>) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let v = serde_ignored::deserialize(&mut de, |path| {
        let mut segs = Vec::new();
        segments(&path, &mut segs);
        ignored.push(segs);
    })?;
    de.end()?;
    Ok(v)
}

/// `event_type` → `eventType`; `webhookUrl` → `webhook_url`; None for a name in neither style.
fn twin(key: &str) -> Option<String> {
    if key.contains('_') && key.chars().any(|c| c.is_ascii_lowercase()) {
        let mut out = String::new();
        let mut upper = false;
        for c in key.chars() {
            match c {
                '_' if !out.is_empty() => upper = true,
                c if upper => {
                    out.extend(c.to_uppercase());
                    upper = false;
                }
                c => out.push(c),
            }
        }
        (out != key && !out.contains('_')).then_some(out)
    } else if key.starts_with(|c: char| c.is_ascii_lowercase()) && key.chars().any(|c| c.is_ascii_uppercase()) {
        let mut out = String::new();
        for c in key.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        Some(out)
    } else {
        None
    }
}

/// The first ignored key whose twin in the other case style is a field there, as a 422 item naming both.
/// Checked by renaming the key and parsing again (for the first few such keys only: each costs a parse), so it
/// holds for every body, nested objects included: the twin is a field when it is no longer ignored, and either
/// the body now parses or it fails otherwise than before (`failed`) or only for a missing field (every key seen).
fn misnamed_field<T: DeserializeOwned>(
    body: &[u8],
    ignored: &[Vec<Seg>],
    failed: Option<&serde_json::Error>,
) -> Option<ValidationItem> {
    let candidates = ignored.iter().filter_map(|path| match path.split_last() {
        Some((Seg::Key(key), parent)) => twin(key).map(|meant| (key, meant, parent)),
        _ => None,
    });
    for (key, meant, parent) in candidates.take(8) {
        let mut value: Value = serde_json::from_slice(body).ok()?;
        let Some(Value::Object(obj)) = lookup(&mut value, parent) else { continue };
        if obj.contains_key(&meant) {
            continue;
        }
        let moved = obj.remove(key.as_str())?;
        obj.insert(meant.clone(), moved);
        let renamed = serde_json::to_vec(&value).ok()?;
        let mut still = Vec::new();
        let outcome = parse::<T>(&renamed, &mut still);
        let mut meant_path = parent.to_vec();
        meant_path.push(Seg::Key(meant.clone()));
        let is_field = !still.contains(&meant_path)
            && match (failed, &outcome) {
                (None, _) | (Some(_), Ok(_)) => true,
                (Some(before), Err(after)) => {
                    before.to_string() != after.to_string() || before.to_string().starts_with("missing field")
                }
            };
        if !is_field {
            continue;
        }
        let mut loc = vec!["body".to_string()];
        loc.extend(parent.iter().map(|s| match s {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        }));
        loc.push(key.clone());
        return Some(ValidationItem { loc, msg: did_you_mean(key, &meant), kind: "value_error".into() });
    }
    None
}

fn did_you_mean(key: &str, meant: &str) -> String {
    let style = if meant.contains('_') { "snake_case" } else { "camelCase" };
    format!("unknown field `{key}`: did you mean `{meant}`? (this API's fields are {style})")
}

fn lookup<'a>(value: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |v, seg| match seg {
        Seg::Key(k) => v.get_mut(k.as_str()),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// A strict body's "unknown field `event_type`, expected one of `eventType`, …" with its twin among the expected.
fn unknown_field_hint(text: &str) -> Option<ValidationItem> {
    let key = text.strip_prefix("unknown field `")?.split('`').next()?;
    let meant = twin(key)?;
    text.contains(&format!("`{meant}`")).then(|| ValidationItem {
        loc: vec!["body".into(), key.into()],
        msg: did_you_mean(key, &meant),
        kind: "value_error".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twins() {
        assert_eq!(twin("event_type").as_deref(), Some("eventType"));
        assert_eq!(twin("filter_types").as_deref(), Some("filterTypes"));
        assert_eq!(twin("webhookUrl").as_deref(), Some("webhook_url"));
        assert_eq!(twin("url"), None);
        assert_eq!(twin("X_SIG"), None);
        assert_eq!(twin("_private"), None);
    }
}

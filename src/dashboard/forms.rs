//! How the dashboard's forms create, change and delete. Each goes through the HTTP API called in process
//! ([`crate::api::console::Api`]), so a form accepts and refuses exactly what the API does, and stores the same.
//! A refused form is drawn again with what was typed and each message beside its field (the API's 422 `loc`
//! names it); what names no field of the form is shown above it. Destructive buttons carry `data-confirm` and ask
//! first (`assets/app.js`).

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{render, Session, UiError};
use crate::api::ApiContext;
use crate::error::Error;

/// A posted form as sent (lines ending in LF): names may repeat (checkboxes), order is kept.
pub struct Fields(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<crate::api::extract::BodyLimit>().copied();
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(|e| {
            let error = match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => crate::api::extract::payload_too_large(limit),
                _ => Error::bad_request(format!("The form could not be read: {}", e.body_text())),
            };
            UiError(error).into_response()
        })?;
        // Browsers send a textarea's lines ending in CRLF: stored as typed, code and lists would carry the CRs.
        Ok(Fields(pairs.into_iter().map(|(k, v)| (k, v.replace("\r\n", "\n"))).collect()))
    }
}

impl Fields {
    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.trim())
    }

    /// The first value of `name` unless it is blank.
    pub fn text(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// Every non-blank value of `name` (checkboxes), and the comma- or line-separated items of each (a text box
    /// of several).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split([',', '\n']))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// `name: value` lines (headers) or `name=value` lines (metadata) as a JSON object, or the line that is
    /// neither.
    pub fn pairs(&self, name: &str, sep: char) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for line in self.get(name).lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(sep).ok_or_else(|| format!("“{line}” is not of the form name{sep} value"))?;
            out.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
        }
        Ok(out)
    }

    /// The whole number in `name` (None when blank), or a message for the field.
    pub fn number(&self, name: &str, errors: &mut FormErrors) -> Option<i64> {
        let text = self.get(name);
        if text.is_empty() {
            return None;
        }
        text.parse().map_err(|_| errors.field(name, "Enter a whole number.")).ok()
    }

    /// The JSON typed in `name` (None when blank), or a message for the field.
    pub fn json(&self, name: &str, errors: &mut FormErrors) -> Option<Value> {
        let text = self.get(name);
        if text.is_empty() {
            return None;
        }
        serde_json::from_str(text).map_err(|e| errors.field(name, format!("This is not JSON: {e}."))).ok()
    }

    pub fn check_csrf(&self, session: &Session) -> Result<(), UiError> {
        session.check_csrf(self.get("csrf"))
    }

    /// What was typed, for drawing the form again: each name's value, or its values when it repeats.
    pub fn values(&self) -> BTreeMap<String, Value> {
        let mut out: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in self.0.iter().filter(|(k, _)| k != "csrf") {
            match out.get_mut(k) {
                Some(Value::Array(items)) => items.push(v.clone().into()),
                Some(one) => *one = Value::Array(vec![one.take(), v.clone().into()]),
                None => {
                    out.insert(k.clone(), v.clone().into());
                }
            }
        }
        out
    }
}

/// Why a form was refused: messages by the field they belong to, and those that belong to none of the form's.
#[derive(Debug, Default, Serialize)]
pub struct FormErrors {
    pub fields: BTreeMap<String, String>,
    pub general: Vec<String>,
}

impl FormErrors {
    pub fn field(&mut self, name: &str, msg: impl Into<String>) {
        self.fields.entry(name.to_string()).or_insert_with(|| msg.into());
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.general.is_empty()
    }

    /// The API's refusal placed on the form: a 422's item goes to the form field its `loc` names (`body.url` →
    /// `url`; `body.transformation.code` → `transformation.code`, or `transformation` when that is the field),
    /// anything else above the form.
    fn of(error: Error, form_fields: &[&str]) -> Result<FormErrors, Error> {
        let mut errors = FormErrors::default();
        match error {
            Error::Validation(items) => {
                for item in items {
                    let path: Vec<&str> = item.loc.iter().map(String::as_str).skip_while(|s| *s == "body").collect();
                    // The longest start of the path that is a field; the rest of it (inside a JSON field) says
                    // where in the field.
                    let field = (1..=path.len())
                        .rev()
                        .map(|n| (n, path[..n].join(".")))
                        .find(|(_, f)| form_fields.contains(&f.as_str()));
                    match field {
                        Some((n, f)) if n < path.len() => {
                            errors.field(&f, format!("{}: {}", path[n..].join("."), item.msg))
                        }
                        Some((_, f)) => errors.field(&f, item.msg),
                        None if path.is_empty() => errors.general.push(item.msg),
                        None => errors.general.push(format!("{}: {}", path.join("."), item.msg)),
                    }
                }
            }
            Error::Http { status, detail, .. }
                if status.is_client_error()
                    && status != StatusCode::UNAUTHORIZED
                    && status != StatusCode::TOO_MANY_REQUESTS =>
            {
                errors.general.push(detail)
            }
            other => return Err(other),
        }
        Ok(errors)
    }
}

/// Calls the API as the session's organization, unless the form's own checks refused something already
/// (`errors`). A refusal of what was typed comes back as the form's errors; anything else (a 500, the store down)
/// is the page's error.
pub async fn submit(
    ctx: &ApiContext,
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
    form_fields: &[&str],
    errors: FormErrors,
) -> Result<Result<Value, FormErrors>, UiError> {
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    match crate::api::console::api(ctx).call(ctx, &session.org, method, path, body).await {
        Ok(v) => Ok(Ok(v)),
        Err(e) => Ok(Err(FormErrors::of(e, form_fields)?)),
    }
}

/// Calls the API as the session's organization, for a button rather than a form: any refusal is the page's.
pub async fn request(ctx: &ApiContext, session: &Session, method: Method, path: &str) -> Result<Value, UiError> {
    Ok(crate::api::console::api(ctx).call(ctx, &session.org, method, path, None).await?)
}

/// The form page `template`, filled with `values` (the API's JSON names) and what else it shows.
pub fn form(template: &str, session: &Session, values: impl Serialize, extra: minijinja::Value) -> Response {
    draw(StatusCode::OK, template, session, values, &FormErrors::default(), extra)
}

/// The form page `template` again, 422, with what was typed and why it was refused.
pub fn refused(
    template: &str,
    session: &Session,
    fields: &Fields,
    errors: FormErrors,
    extra: minijinja::Value,
) -> Response {
    draw(StatusCode::UNPROCESSABLE_ENTITY, template, session, fields.values(), &errors, extra)
}

fn draw(
    status: StatusCode,
    template: &str,
    session: &Session,
    values: impl Serialize,
    errors: &FormErrors,
    extra: minijinja::Value,
) -> Response {
    let context = minijinja::context! {
        csrf => session.csrf.clone(),
        values => minijinja::Value::from(minijinja::value::Serde(values)),
        errors => minijinja::Value::from(minijinja::value::Serde(errors)),
        ..extra
    };
    render(status, template, context)
}

/// `text` as one segment of an API path: an id typed into a URL cannot reach another route.
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// After a change: to `path`, whose `done` code shows what happened once.
pub fn done(path: &str, code: &str) -> Response {
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}done={code}")).into_response()
}

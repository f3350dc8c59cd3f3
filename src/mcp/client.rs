//! The MCP face's way into hookd: its own HTTP API, with the caller's token. Both transports use it — `hookd mcp`
//! (stdio) against a hookd anywhere, and `/mcp` inside `hookd serve` against itself on loopback — so every tool
//! goes through the same validation, tenancy and error bodies as any other client, and the face holds no logic
//! of its own that could drift from the API's.

use reqwest::Method;
use serde_json::Value;

/// A failed call, worded for an agent to act on: what was asked, what hookd answered, and its explanation.
#[derive(Debug)]
pub struct ApiError(pub String);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
}

impl ApiClient {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .expect("an HTTP client with defaults builds");
        ApiClient { http, base: base.trim_end_matches('/').to_string() }
    }

    /// Calls `method path` with `token`; the JSON answer, `null` for an empty one (204).
    pub async fn call(&self, token: &str, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(body) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| ApiError(format!("hookd at {} did not answer: {e}", self.base)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ApiError(format!("reading hookd's answer: {e}")))?;
        let answer: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(answer);
        }
        let why = match (answer.get("detail"), answer.get("message"), answer.get("error")) {
            (Some(d), _, _) => d.to_string(),
            (_, Some(m), _) => m.to_string(),
            (_, _, Some(e)) => e.to_string(),
            _ => String::from_utf8_lossy(&bytes).into_owned(),
        };
        let hint = match status.as_u16() {
            401 => " (the token is missing or not valid)",
            404 => " (no such object in this organization: check the id)",
            409 => " (the object is not in a state that allows this)",
            422 | 400 => " (fix the arguments and call again)",
            429 => " (rate limited: wait and retry)",
            _ => "",
        };
        Err(ApiError(format!("{method} {path} answered {status}{hint}: {why}")))
    }
}

/// `s` as one path segment: ids and uids may hold characters a path cannot.
pub fn seg(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

//! `sqs`: Amazon SQS through its JSON protocol (`AmazonSQS.SendMessageBatch`, at most 10 entries a call, sent
//! one call after the other so that order holds), signed with SigV4. A batch is taken once no entry came back
//! `Failed`. For a FIFO queue (`….fifo`) every message carries `MessageGroupId` = the application's id (one
//! ordered log per application) and `MessageDeduplicationId` = its msg id, so a batch sent twice within SQS's
//! five-minute window is stored once.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::sigv4::{self, Credentials};
use super::{metadata, Batch, ConfigError, ConnectContext, Fields, Sink, SinkError, SEND_TIMEOUT};

/// `sqs {queueUrl, region?, accessKeyId, secretAccessKey, endpointUrl?}` (`roleArn` is not supported: it needs STS).
#[derive(Clone)]
pub struct SqsConfig {
    pub queue_url: String,
    pub region: String,
    pub access_key_id: String,
    secret_access_key: String,
    pub endpoint_url: Option<String>,
    /// Where requests go: `endpointUrl`, else `https://sqs.{region}.amazonaws.com`.
    endpoint: url::Url,
}

impl std::fmt::Debug for SqsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsConfig").field("queue_url", &self.queue_url).field("region", &self.region).finish()
    }
}

impl SqsConfig {
    pub(crate) fn parse(f: &Fields) -> Result<Self, ConfigError> {
        let queue_url = f.required("queueUrl")?;
        let queue = super::parse_url("queueUrl", &queue_url, &["https", "http"])?;
        if queue.path_segments().is_none_or(|s| s.filter(|p| !p.is_empty()).count() < 2) {
            return Err(ConfigError::at(
                &["queueUrl"],
                "queueUrl must be a queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/QUEUE)",
            ));
        }
        // sqs.us-east-1.amazonaws.com or us-east-1.queue.amazonaws.com
        let host = queue.host_str().unwrap_or_default();
        let from_host = host
            .strip_prefix("sqs.")
            .and_then(|h| h.split('.').next())
            .or_else(|| host.split_once(".queue.amazonaws.com").map(|(r, _)| r))
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let region = match f.optional("region")?.or(from_host) {
            Some(r) => r,
            None => return Err(ConfigError::at(&["region"], "region is required")),
        };
        if !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConfigError::at(&["region"], "region must be an AWS region name (us-east-1)"));
        }
        if f.optional("roleArn")?.is_some() {
            return Err(ConfigError::at(
                &["roleArn"],
                "roleArn is not supported by hookd; give accessKeyId and secretAccessKey",
            ));
        }
        let access_key_id = f.required("accessKeyId")?;
        let secret_access_key = f.required("secretAccessKey")?;
        let endpoint_url = f.optional("endpointUrl")?;
        let endpoint = match &endpoint_url {
            Some(raw) => super::parse_url("endpointUrl", raw, &["https", "http"])?,
            None => url::Url::parse(&format!("https://sqs.{region}.amazonaws.com/"))
                .map_err(|e| ConfigError::at(&["region"], format!("region: {e}")))?,
        };
        Ok(SqsConfig { queue_url, region, access_key_id, secret_access_key, endpoint_url, endpoint })
    }

    pub(crate) fn redacted(&self) -> Value {
        let mut out = json!({"queueUrl": self.queue_url, "region": self.region, "accessKeyId": self.access_key_id});
        if let Some(e) = &self.endpoint_url {
            out["endpointUrl"] = e.clone().into();
        }
        out
    }

    pub(crate) fn host(&self) -> String {
        super::host_of(&self.endpoint)
    }

    /// Calls `AmazonSQS.{action}` with `body`, signed; the answer, or why it failed (SQS's error type and message).
    /// Shared by the sink and the queue source (`engine::sources`).
    pub(crate) async fn call(&self, http: &reqwest::Client, action: &str, body: &Value) -> Result<Value, SinkError> {
        let body = serde_json::to_vec(body).expect("JSON");
        let url = &self.endpoint;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let content_type = "application/x-amz-json-1.0";
        let target = format!("AmazonSQS.{action}");
        let creds = Credentials {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            region: &self.region,
            service: "sqs",
        };
        let signed = sigv4::sign(
            &creds,
            "POST",
            url.path(),
            "",
            &[("content-type", content_type), ("host", &host), ("x-amz-target", &target)],
            &body,
            chrono::Utc::now(),
        );
        let mut req = http
            .post(url.clone())
            .header("content-type", content_type)
            .header("x-amz-target", target)
            .timeout(SEND_TIMEOUT)
            .body(body);
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let resp = req.send().await.map_err(|e| {
            SinkError::new(format!("SQS at {}: {}", self.host(), crate::engine::sinks::http_reason(&e)))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !status.is_success() {
            let kind = answer["__type"].as_str().unwrap_or("").rsplit('#').next().unwrap_or("");
            let message = answer["message"].as_str().or(answer["Message"].as_str()).unwrap_or(text.trim());
            return Err(SinkError::new(format!(
                "SQS at {} answered {status}: {kind}{}{}",
                self.host(),
                if kind.is_empty() { "" } else { ": " },
                message.chars().take(300).collect::<String>()
            )));
        }
        Ok(answer)
    }

    fn is_fifo(&self) -> bool {
        self.queue_url.trim_end_matches('/').ends_with(".fifo")
    }
}

pub(super) struct SqsSink {
    cfg: SqsConfig,
    http: reqwest::Client,
}

impl SqsSink {
    pub(super) fn new(cfg: &SqsConfig, ctx: &ConnectContext) -> Result<Self, SinkError> {
        let http = match &ctx.http {
            Some(http) => http.clone(),
            None => reqwest::Client::builder()
                .connect_timeout(super::CONNECT_TIMEOUT)
                .build()
                .map_err(|e| SinkError::new(format!("HTTP client: {e}")))?,
        };
        Ok(SqsSink { cfg: cfg.clone(), http })
    }

    async fn send_chunk(&self, batch: &Batch<'_>, chunk: &[super::Event]) -> Result<(), SinkError> {
        let fifo = self.cfg.is_fifo();
        let entries: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let attrs: serde_json::Map<String, Value> = metadata(batch, e)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), json!({"DataType": "String", "StringValue": v})))
                    .collect();
                let mut entry =
                    json!({"Id": i.to_string(), "MessageBody": e.payload.get(), "MessageAttributes": attrs});
                if fifo {
                    entry["MessageGroupId"] = batch.app_id.into();
                    entry["MessageDeduplicationId"] = e.msg_id.clone().into();
                }
                entry
            })
            .collect();
        let body = json!({"QueueUrl": self.cfg.queue_url, "Entries": entries});
        let answer = self.cfg.call(&self.http, "SendMessageBatch", &body).await?;
        if let Some(failed) = answer["Failed"].as_array().filter(|f| !f.is_empty()) {
            let first = &failed[0];
            let idx: usize = first["Id"].as_str().and_then(|i| i.parse().ok()).unwrap_or(0);
            return Err(SinkError::new(format!(
                "SQS at {} refused {} of {} messages, first {}: {} {}",
                self.cfg.host(),
                failed.len(),
                chunk.len(),
                chunk.get(idx).map(|e| e.msg_id.as_str()).unwrap_or("?"),
                first["Code"].as_str().unwrap_or(""),
                first["Message"].as_str().unwrap_or("")
            )));
        }
        let taken = answer["Successful"].as_array().map(Vec::len).unwrap_or(0);
        if taken != chunk.len() {
            return Err(SinkError::new(format!(
                "SQS at {} confirmed {taken} of {} messages",
                self.cfg.host(),
                chunk.len()
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for SqsSink {
    async fn send(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        for chunk in batch.events.chunks(10) {
            self.send_chunk(batch, chunk).await?;
        }
        Ok(())
    }
}

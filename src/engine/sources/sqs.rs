//! `sqs`: Amazon SQS through its JSON protocol, signed as the sink signs (`SqsConfig::call`): `ReceiveMessage` long
//! polls (up to 10 messages, every message attribute), the messages are handed to the handler together (their
//! commits grouped by the store; one by one after a failure), and the committed ones deleted with one
//! `DeleteMessageBatch`. One that was not committed is made visible again at once (`ChangeMessageVisibilityBatch`,
//! 0 s after a pause), to be received again; one whose delete was lost comes back after the queue's visibility timeout and is recognised by its
//! `MessageId`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{Handler, SourceError, SourceMessage, SourceStatus};
use crate::engine::sinks::SqsConfig;
use crate::shutdown::Shutdown;

/// How long one receive waits for messages (SQS's long poll, at most 20).
const WAIT_SECONDS: u64 = 2;
const RETURN_AFTER: Duration = Duration::from_millis(500);

pub(super) async fn consume(
    cfg: &SqsConfig,
    http: reqwest::Client,
    handler: Arc<dyn Handler>,
    status: Arc<SourceStatus>,
    stop: Shutdown,
) -> Result<(), SourceError> {
    let fail = |e: crate::engine::sinks::SinkError| SourceError(e.reason);
    let receive = json!({
        "QueueUrl": cfg.queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": WAIT_SECONDS,
        "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"], "AttributeNames": ["All"],
    });
    // After a receive that was not all committed, the next ones are handed over one by one (`handle_all`).
    let mut one_by_one = false;
    while !stop.is_set() {
        let answer = tokio::select! {
            a = cfg.call(&http, "ReceiveMessage", &receive) => a.map_err(fail)?,
            _ = stop.wait() => break,
        };
        status.connected.store(true, Ordering::Relaxed);
        status.set_error(None);
        let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            continue;
        }
        let handled = super::handle_all(&handler, messages.iter().map(message).collect(), one_by_one).await;
        one_by_one = handled.contains(&false);
        let entries = |committed: bool| -> Vec<Value> {
            messages
                .iter()
                .zip(&handled)
                .enumerate()
                .filter(|(_, (_, ok))| **ok == committed)
                .map(|(i, (m, _))| json!({"Id": i.to_string(), "ReceiptHandle": m["ReceiptHandle"]}))
                .collect()
        };
        for ok in &handled {
            status.commit(*ok);
        }
        let done = entries(true);
        if !done.is_empty() {
            let body = json!({"QueueUrl": cfg.queue_url, "Entries": done});
            cfg.call(&http, "DeleteMessageBatch", &body).await.map_err(fail)?;
        }
        let mut back = entries(false);
        if !back.is_empty() {
            tokio::time::sleep(super::jittered(RETURN_AFTER)).await;
            for e in &mut back {
                e["VisibilityTimeout"] = 0.into();
            }
            let body = json!({"QueueUrl": cfg.queue_url, "Entries": back});
            cfg.call(&http, "ChangeMessageVisibilityBatch", &body).await.map_err(fail)?;
        }
    }
    Ok(())
}

fn message(m: &Value) -> SourceMessage {
    let mut headers = Map::new();
    if let Some(attrs) = m["MessageAttributes"].as_object() {
        for (k, v) in attrs {
            if let Some(s) = v["StringValue"].as_str() {
                headers.insert(k.clone(), Value::String(s.to_string()));
            }
        }
    }
    SourceMessage {
        id: m["MessageId"].as_str().map(str::to_string),
        headers,
        body: m["Body"].as_str().unwrap_or_default().as_bytes().to_vec(),
        type_property: None,
    }
}

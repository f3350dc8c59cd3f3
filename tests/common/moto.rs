//! moto's SQS server (PyPI `moto[server]`, from the suite's virtualenv) on a free port, for the tests of the SQS
//! sink and source.

use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use super::{eventually, python};

/// `moto_server` on a free port, stopped when dropped.
pub struct Moto {
    child: Child,
    pub base: String,
}

impl Moto {
    pub async fn start() -> Moto {
        let port = super::free_port();
        let bin = std::path::Path::new(&python()).with_file_name("moto_server");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts (PyPI moto[server], tests/requirements.txt): {e}", bin.display()));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually("moto_server answering", || {
            let (http, base) = (http.clone(), base.clone());
            async move { http.get(format!("{base}/moto-api/")).send().await.ok().map(|_| ()) }
        })
        .await;
        Moto { child, base }
    }

    pub async fn call(&self, action: &str, body: Value) -> Value {
        let resp = reqwest::Client::new()
            .post(&self.base)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{action}: {}", resp.status());
        resp.json().await.unwrap()
    }

    pub async fn create_queue(&self, name: &str) -> String {
        let mut attrs = json!({});
        if name.ends_with(".fifo") {
            attrs = json!({"FifoQueue": "true"});
        }
        let out = self.call("CreateQueue", json!({"QueueName": name, "Attributes": attrs})).await;
        out["QueueUrl"].as_str().unwrap().to_string()
    }

    /// Every message in the queue, as received (up to 10 a call), deleted after reading.
    pub async fn drain(&self, queue_url: &str) -> Vec<Value> {
        let mut all = vec![];
        loop {
            let out = self
                .call(
                    "ReceiveMessage",
                    json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"], "VisibilityTimeout": 60}),
                )
                .await;
            let msgs = out["Messages"].as_array().cloned().unwrap_or_default();
            if msgs.is_empty() {
                return all;
            }
            for m in &msgs {
                self.call("DeleteMessage", json!({"QueueUrl": queue_url, "ReceiptHandle": m["ReceiptHandle"]})).await;
            }
            all.extend(msgs);
        }
    }

    pub fn config(&self, queue_url: &str) -> Value {
        json!({"queueUrl": queue_url, "region": "us-east-1", "accessKeyId": "AKIDTEST", "secretAccessKey": "s3cret", "endpointUrl": self.base})
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

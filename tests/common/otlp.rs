//! The OTLP receiver (`tests/py/otlp_receiver.py`, decoding with the OpenTelemetry project's own protobuf
//! classes) that hookd's traces and the `otelTracing` destination export to.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{eventually, python, script};

/// The OTLP receiver: its port, and the spans it printed so far.
pub struct Collector {
    child: Child,
    pub port: u16,
    pub spans: Arc<Mutex<Vec<Value>>>,
}

impl Collector {
    pub fn start() -> Collector {
        let mut child = Command::new(python())
            .arg(script("py/otlp_receiver.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the OTLP receiver starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first: Value = serde_json::from_str(&lines.next().expect("the receiver's port").unwrap()).unwrap();
        let port = first["port"].as_u64().expect("a port") as u16;
        let spans = Arc::new(Mutex::new(vec![]));
        let sink = spans.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(serde_json::from_str::<Value>(&line).unwrap());
            }
        });
        Collector { child, port, spans }
    }

    /// Waits for spans for which `want` holds, until `n` of them have arrived.
    pub async fn wait_for(&self, what: &str, n: usize, want: impl Fn(&Value) -> bool) -> Vec<Value> {
        eventually(what, || {
            let found: Vec<Value> = self.spans.lock().unwrap().iter().filter(|s| want(s)).cloned().collect();
            async move { (found.len() >= n).then_some(found) }
        })
        .await
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

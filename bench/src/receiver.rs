//! The webhook receiver: a bare hyper HTTP/1.1 server that answers `200` with an empty body and, for
//! each POST, records the body's `seq` in a dedup bitmap and `now - sent_ns` in a latency histogram. A FIFO
//! destination's batch (`{"destinationId", "data": [{payload, position, …}, …]}`) counts as each of its events,
//! and a position not after the last one seen counts as out of order.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::util::{new_hist, now_ns, record_us, Bitmap};

/// What the receiver has seen so far. Counters are atomics; latency histograms are kept per
/// connection (an uncontended mutex each) and merged on demand.
pub struct ReceiverState {
    seen: Bitmap,
    posts: AtomicU64,
    distinct: AtomicU64,
    duplicates: AtomicU64,
    /// POSTs whose body had no usable `seq`, or a `seq` beyond the bitmap.
    bad: AtomicU64,
    last_delivery_ns: AtomicU64,
    /// The highest FIFO batch position seen, and how many events came at or before it.
    last_position: AtomicU64,
    out_of_order: AtomicU64,
    conns: AtomicU64,
    hists: Mutex<Vec<Arc<Mutex<Histogram<u64>>>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    New,
    Duplicate,
    Bad,
}

#[derive(Deserialize)]
struct Fields {
    seq: Option<u64>,
    sent_ns: Option<u64>,
}

/// A FIFO destination's batch: only what the receiver counts by.
#[derive(Deserialize)]
struct Batch {
    data: Vec<BatchEvent>,
}

#[derive(Deserialize)]
struct BatchEvent {
    payload: Fields,
    position: u64,
}

/// The body is expected to be the message payload itself (Svix delivers it verbatim). Tolerate it
/// being wrapped in `payload` or `data` too.
#[derive(Deserialize)]
struct Body {
    seq: Option<u64>,
    sent_ns: Option<u64>,
    payload: Option<Fields>,
    data: Option<Fields>,
}

pub fn parse_body(b: &[u8]) -> Option<(u64, Option<u64>)> {
    let body: Body = serde_json::from_slice(b).ok()?;
    if let Some(seq) = body.seq {
        return Some((seq, body.sent_ns));
    }
    let inner = body.payload.or(body.data)?;
    Some((inner.seq?, inner.sent_ns))
}

impl ReceiverState {
    /// `capacity`: seqs `0..capacity` are tracked; anything else counts as bad.
    pub fn new(capacity: u64) -> Arc<Self> {
        Arc::new(ReceiverState {
            seen: Bitmap::new(capacity),
            posts: AtomicU64::new(0),
            distinct: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            last_position: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            conns: AtomicU64::new(0),
            hists: Mutex::new(Vec::new()),
        })
    }

    /// Records one delivered body received at `now` (unix ns) into the connection's histogram: a message, or
    /// a FIFO batch of them (the outcome of its last event).
    pub fn record(&self, body: &[u8], now: u64, hist: &Mutex<Histogram<u64>>) -> Outcome {
        self.posts.fetch_add(1, Ordering::Relaxed);
        if let Some((seq, sent_ns)) = parse_body(body) {
            return self.record_one(seq, sent_ns, now, hist);
        }
        let Ok(batch) = serde_json::from_slice::<Batch>(body) else {
            self.bad.fetch_add(1, Ordering::Relaxed);
            return Outcome::Bad;
        };
        let mut outcome = Outcome::Bad;
        for e in batch.data {
            if self.last_position.fetch_max(e.position, Ordering::Relaxed) >= e.position {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            outcome = match e.payload.seq {
                Some(seq) => self.record_one(seq, e.payload.sent_ns, now, hist),
                None => {
                    self.bad.fetch_add(1, Ordering::Relaxed);
                    Outcome::Bad
                }
            };
        }
        outcome
    }

    /// Records one message, by its payload's `seq` and `sent_ns`.
    pub fn record_one(&self, seq: u64, sent_ns: Option<u64>, now: u64, hist: &Mutex<Histogram<u64>>) -> Outcome {
        match self.seen.set(seq) {
            None => {
                self.bad.fetch_add(1, Ordering::Relaxed);
                Outcome::Bad
            }
            Some(true) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
                Outcome::Duplicate
            }
            Some(false) => {
                if let Some(sent) = sent_ns {
                    let us = now.saturating_sub(sent) / 1000;
                    record_us(&mut hist.lock().unwrap(), us);
                }
                self.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
                // Counted last, so whoever sees the count also sees the bitmap bit and timestamps.
                self.distinct.fetch_add(1, Ordering::Release);
                Outcome::New
            }
        }
    }

    pub fn seen(&self) -> &Bitmap {
        &self.seen
    }
    pub fn posts(&self) -> u64 {
        self.posts.load(Ordering::Relaxed)
    }
    pub fn distinct(&self) -> u64 {
        self.distinct.load(Ordering::Acquire)
    }
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
    pub fn bad(&self) -> u64 {
        self.bad.load(Ordering::Relaxed)
    }
    /// FIFO batch events whose position was not after every one seen before (redelivered or out of order).
    pub fn out_of_order(&self) -> u64 {
        self.out_of_order.load(Ordering::Relaxed)
    }
    pub fn connections(&self) -> u64 {
        self.conns.load(Ordering::Relaxed)
    }
    /// Unix ns of the last first-time delivery, if any.
    pub fn last_delivery_ns(&self) -> Option<u64> {
        let v = self.last_delivery_ns.load(Ordering::Relaxed);
        (v != 0).then_some(v)
    }

    fn new_conn_hist(&self) -> Arc<Mutex<Histogram<u64>>> {
        let h = Arc::new(Mutex::new(new_hist()));
        self.hists.lock().unwrap().push(h.clone());
        self.conns.fetch_add(1, Ordering::Relaxed);
        h
    }

    /// Delivery latency (µs) over all connections so far.
    pub fn latency(&self) -> Histogram<u64> {
        let mut total = new_hist();
        for h in self.hists.lock().unwrap().iter() {
            let _ = total.add(&*h.lock().unwrap());
        }
        total
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<ReceiverState>,
    hist: Arc<Mutex<Histogram<u64>>>,
) -> Result<Response<Empty<Bytes>>, Infallible> {
    if req.method() == Method::POST {
        match req.into_body().collect().await {
            Ok(collected) => {
                let now = now_ns();
                state.record(&collected.to_bytes(), now, &hist);
            }
            Err(_) => {
                state.posts.fetch_add(1, Ordering::Relaxed);
                state.bad.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(Response::new(Empty::new()))
}

/// Binds `addr` and serves in a background task. Returns the bound address.
pub async fn start(addr: SocketAddr, state: Arc<ReceiverState>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(accept_loop(listener, state));
    Ok(local)
}

async fn accept_loop(listener: TcpListener, state: Arc<ReceiverState>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // E.g. out of file descriptors: back off briefly instead of spinning.
                eprintln!("receiver: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let hist = state.new_conn_hist();
            let svc = service_fn(move |req| handle(req, state.clone(), hist.clone()));
            // Connection errors (peer resets, etc.) are not interesting to the benchmark.
            let _ = http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

/// `hookd-bench receiver`: serve until Ctrl-C, printing counts every second.
pub async fn run_standalone(addr: SocketAddr, capacity: u64) -> std::io::Result<()> {
    let state = ReceiverState::new(capacity);
    let local = start(addr, state.clone()).await?;
    println!("receiver listening on http://{local}/hook (tracking seq 0..{capacity}); Ctrl-C to stop");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last_posts = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let posts = state.posts();
                let lat = state.latency();
                println!(
                    "posts {posts} (+{}/s)  distinct {}  duplicates {}  bad {}  conns {}  latency p50 {:.3} ms p99 {:.3} ms",
                    posts - last_posts,
                    state.distinct(),
                    state.duplicates(),
                    state.bad(),
                    state.connections(),
                    crate::util::q_ms(&lat, 0.5),
                    crate::util::q_ms(&lat, 0.99),
                );
                last_posts = posts;
            }
            _ = &mut ctrl_c => break,
        }
    }
    println!(
        "final: posts {}  distinct {}  duplicates {}  bad {}",
        state.posts(),
        state.distinct(),
        state.duplicates(),
        state.bad()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_wrapped_bodies() {
        assert_eq!(parse_body(br#"{"seq":3,"sent_ns":9,"pad":"xx"}"#), Some((3, Some(9))));
        assert_eq!(parse_body(br#"{"payload":{"seq":4,"sent_ns":1}}"#), Some((4, Some(1))));
        assert_eq!(parse_body(br#"{"data":{"seq":5}}"#), Some((5, None)));
        assert_eq!(parse_body(br#"{"x":1}"#), None);
        assert_eq!(parse_body(b"not json"), None);
    }

    #[test]
    fn record_counts_new_duplicate_bad() {
        let st = ReceiverState::new(10);
        let h = Mutex::new(new_hist());
        let now = 5_000_000;
        assert_eq!(st.record(br#"{"seq":1,"sent_ns":3000000}"#, now, &h), Outcome::New);
        assert_eq!(st.record(br#"{"seq":1,"sent_ns":3000000}"#, now, &h), Outcome::Duplicate);
        assert_eq!(st.record(br#"{"seq":10,"sent_ns":0}"#, now, &h), Outcome::Bad);
        assert_eq!(st.record(b"{}", now, &h), Outcome::Bad);
        assert_eq!((st.posts(), st.distinct(), st.duplicates(), st.bad()), (4, 1, 1, 2));
        let hist = h.lock().unwrap();
        assert_eq!(hist.len(), 1);
        // 2 ms, within histogram precision.
        assert!((hist.value_at_quantile(0.5) as i64 - 2000).abs() <= 2);
        assert_eq!(st.last_delivery_ns(), Some(now));
    }

    #[test]
    fn a_fifo_batch_counts_each_event_and_positions_out_of_order() {
        let st = ReceiverState::new(10);
        let h = Mutex::new(new_hist());
        let batch = br#"{"destinationId":"d","data":[{"position":1,"payload":{"seq":0,"sent_ns":1}},{"position":2,"payload":{"seq":1,"sent_ns":1}}]}"#;
        assert_eq!(st.record(batch, 5, &h), Outcome::New);
        assert_eq!((st.posts(), st.distinct(), st.out_of_order()), (1, 2, 0));
        assert_eq!(st.record(batch, 5, &h), Outcome::Duplicate);
        assert_eq!((st.duplicates(), st.out_of_order()), (2, 2));
    }
}

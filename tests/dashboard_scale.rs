//! The dashboard with a million messages: loads 1,000,000 messages (with their deliveries and attempts, spread
//! over a week) into a SQLite store through the store's bulk import (the path `hookd store copy` writes with),
//! then times the overview, the application's, the endpoint's, the message search's and a message's pages. Each
//! must answer in well under a second: every dashboard query is an index range (the plans are checked by the
//! unit tests in `src/store/sqlite.rs`).
//!
//! The charts read the per-minute `activity` counts (loaded here as the writer would have kept them), so their
//! cost is the window's minutes, not its traffic.
//!
//! Ignored by default (the load takes a minute or two): `cargo test --release --test dashboard_scale -- --ignored
//! --nocapture`. `HOOKD_SCALE_MESSAGES` changes the count.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::ui::*;
use common::*;
use hookd::ids;
use hookd::store::copy::{Cell, Tables, TABLES};
use hookd::store::MINUTE_MS;
use serde_json::json;
use std::collections::HashMap;

const DAY_MS: i64 = 86_400_000;
/// Rows written per import batch.
const BATCH: usize = 20_000;
/// What "well under a second" is held to.
const BUDGET: Duration = Duration::from_millis(500);

fn cols(table: &str) -> &'static [&'static str] {
    TABLES.iter().find(|(t, _)| *t == table).expect("a copied table").1
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "loads a million messages: run it on its own with --ignored"]
async fn dashboard_pages_stay_fast_with_a_million_messages() {
    if on_postgres() {
        eprintln!("the scale check loads a SQLite store; skipped on PostgreSQL");
        return;
    }
    let total: usize = std::env::var("HOOKD_SCALE_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let app = spawn_app().await;
    // The overview looks at the 50 newest applications: make more, each with an endpoint.
    for i in 0..60 {
        let (_, _) = app.app_with_endpoint(&format!("http://127.0.0.1:9/app-{i}"), json!({})).await;
    }
    let big = app.post("/api/v1/app", json!({"name": "Big"})).await.body["id"].as_str().unwrap().to_string();
    let ep_a = app.post(&format!("/api/v1/app/{big}/endpoint"), json!({"url": "http://127.0.0.1:9/a"})).await.body
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ep_b = app.post(&format!("/api/v1/app/{big}/endpoint"), json!({"url": "http://127.0.0.1:9/b"})).await.body
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let org = app.ctx.store.default_org().await.unwrap();

    // A second handle on the same file, as `hookd store copy` would open it: bulk rows, no dispatching (imported
    // deliveries have no jobs).
    let path = app.dir.path().join("hookd.db");
    let store =
        hookd::store::sqlite::SqliteStore::open(path.to_str().unwrap(), hookd::config::Durability::Normal, false)
            .unwrap();
    let started = Instant::now();
    let now = chrono::Utc::now().timestamp_millis();
    let first = now - 7 * DAY_MS;
    let step = (7 * DAY_MS) / total as i64;
    let payload = r#"{"invoice":{"id":"in_1042","amount":4999,"currency":"EUR","lines":[{"sku":"A-1","qty":2}]}}"#;
    let mut delivery_id = 0i64;
    let msg_id = |i: usize| ids::at(ids::MSG, first + i as i64 * step, i as u64);
    // The per-minute counts the writer keeps as it commits: (endpoint or "", minute) -> [messages, attempts, ok].
    let mut activity: HashMap<(String, i64), [i64; 3]> = HashMap::new();
    for chunk in (0..total).collect::<Vec<_>>().chunks(BATCH) {
        let (mut msgs, mut deliveries, mut attempts) = (vec![], vec![], vec![]);
        for &i in chunk {
            let at = first + i as i64 * step;
            let id = msg_id(i);
            let minute = at.div_euclid(MINUTE_MS);
            activity.entry((String::new(), minute)).or_default()[0] += 1;
            let failed = i % 50 == 7;
            let kind = ["invoice.paid", "invoice.sent", "user.created", "order.shipped"][i % 4];
            msgs.push(vec![
                Cell::Text(id.clone()),
                Cell::Text(org.clone()),
                Cell::Text(big.clone()),
                Cell::Text(kind.into()),
                Cell::Text(format!("evt-{i}")),
                Cell::Null,
                Cell::Int(at),
                Cell::Text(payload.into()),
                Cell::Int(at + 90 * DAY_MS),
            ]);
            for (ep, status) in [(&ep_a, if failed { 2 } else { 0 }), (&ep_b, 0)] {
                if ep == &ep_b && i % 10 != 0 {
                    continue;
                }
                delivery_id += 1;
                deliveries.push(vec![
                    Cell::Int(delivery_id),
                    Cell::Text(org.clone()),
                    Cell::Text(big.clone()),
                    Cell::Text(id.clone()),
                    Cell::Text(ep.clone()),
                    Cell::Int(status),
                    Cell::Int(1),
                    Cell::Null,
                    Cell::Int(at + 40),
                    if status == 2 { Cell::Int(at + 40) } else { Cell::Null },
                ]);
                for key in [String::new(), ep.clone()] {
                    let n = activity.entry((key, minute)).or_default();
                    n[1] += 1;
                    n[2] += (status == 0) as i64;
                }
                attempts.push(vec![
                    Cell::Text(ids::at(ids::ATTEMPT, at + 40, delivery_id as u64)),
                    Cell::Text(org.clone()),
                    Cell::Text(big.clone()),
                    Cell::Text(id.clone()),
                    Cell::Text(ep.clone()),
                    Cell::Text("http://127.0.0.1:9/a".into()),
                    Cell::Int(if status == 0 { 200 } else { 500 }),
                    Cell::Int(status),
                    Cell::Int(0),
                    Cell::Int(35),
                    Cell::Int(at + 40),
                    Cell::Text(if status == 0 { "ok" } else { "database is down" }.into()),
                ]);
            }
        }
        store.import("messages", cols("messages"), msgs).await.unwrap();
        store.import("deliveries", cols("deliveries"), deliveries).await.unwrap();
        store.import("attempts", cols("attempts"), attempts).await.unwrap();
    }
    let rows = activity
        .into_iter()
        .map(|((ep, minute), [m, a, ok])| {
            let cells = [Cell::Int(minute), Cell::Text(String::new()), Cell::Int(m), Cell::Int(a), Cell::Int(ok)];
            [vec![Cell::Text(org.clone()), Cell::Text(ep)], cells.to_vec()].concat()
        })
        .collect::<Vec<_>>();
    for chunk in rows.chunks(BATCH) {
        store.import("activity", cols("activity"), chunk.to_vec()).await.unwrap();
    }
    eprintln!("loaded {total} messages, {delivery_id} deliveries and attempts in {:.1?}", started.elapsed());

    let (cookie, _) = log_in(&app, &app.token).await;
    let mid = total / 2;
    let since = chrono::DateTime::from_timestamp_millis(now - 2 * DAY_MS).unwrap().format("%Y-%m-%dT%H:%M");
    let until = chrono::DateTime::from_timestamp_millis(now - DAY_MS).unwrap().format("%Y-%m-%dT%H:%M");
    let msgs = format!("/ui/apps/{big}/messages");
    let pages = [
        ("overview", "/ui/".to_string()),
        ("applications", "/ui/apps".to_string()),
        ("application", format!("/ui/apps/{big}")),
        ("endpoint", format!("/ui/apps/{big}/endpoints/{ep_a}")),
        (
            "endpoint, an old page",
            format!("/ui/apps/{big}/endpoints/{ep_a}?iterator={}", ids::at(ids::ATTEMPT, first + DAY_MS, 0)),
        ),
        ("messages", msgs.clone()),
        ("messages, an old page", format!("{msgs}?iterator={}", msg_id(total / 4))),
        ("messages of a type", format!("{msgs}?event_type=user.created")),
        ("messages failed", format!("{msgs}?status=failed")),
        ("messages delivered", format!("{msgs}?status=delivered")),
        ("messages pending", format!("{msgs}?status=pending")),
        ("messages of a day", format!("{msgs}?since={since}&until={until}")),
        ("messages of a type and a day", format!("{msgs}?event_type=order.shipped&since={since}&until={until}")),
        ("an eventId", format!("{msgs}?q=evt-{mid}")),
        ("a message", format!("/ui/apps/{big}/messages/{}", msg_id(mid))),
    ];
    let mut slow = vec![];
    for (what, path) in pages {
        let mut times = vec![];
        for _ in 0..3 {
            let t = Instant::now();
            let r = client().get(format!("{}{path}", app.base)).header("cookie", &cookie).send().await.unwrap();
            let status = r.status();
            let body = r.text().await.unwrap();
            times.push(t.elapsed());
            assert!(status == StatusCode::OK || status == StatusCode::SEE_OTHER, "{what}: {status} {body}");
        }
        let worst = *times.iter().max().unwrap();
        eprintln!("{what:32} {:>8.1?} (first {:.1?})", worst, times[0]);
        if worst > BUDGET {
            slow.push(format!("{what}: {worst:?}"));
        }
    }
    assert!(slow.is_empty(), "pages slower than {BUDGET:?}: {slow:?}");
}

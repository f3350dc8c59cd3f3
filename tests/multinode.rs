//! Several hookd nodes on one PostgreSQL database: no node is special, a killed node's work is taken over,
//! changes and uniqueness hold across nodes, and limits hold for the cluster. These need PostgreSQL:
//! `scripts/test.sh` runs them in its PostgreSQL pass (`HOOKD_TEST_STORE=postgres … -- --include-ignored`).

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A killed node's leases are freed within ~20 s; this leaves room for the deliveries after that.
const TAKEOVER_WAIT: Duration = Duration::from_secs(60);

/// An application with one endpoint at `url` (extra endpoint fields in `extra`), created through node 0.
async fn app_with_endpoint(cluster: &Cluster, url: &str, extra: Value) -> (String, String) {
    let app = cluster.post(0, "/api/v1/app", json!({"name": "cluster"})).await;
    assert_eq!(app.status, 201, "{:?}", app.body);
    let app_id = app.body["id"].as_str().unwrap().to_string();
    let mut ep = json!({"url": url});
    if let Value::Object(m) = extra {
        for (k, v) in m {
            ep[k] = v;
        }
    }
    let ep = cluster.post(0, &format!("/api/v1/app/{app_id}/endpoint"), ep).await;
    assert_eq!(ep.status, 201, "{:?}", ep.body);
    (app_id, ep.body["id"].as_str().unwrap().to_string())
}

/// Waits until every `seq` in `want` has arrived at `recv`, within `limit`.
async fn wait_for_seqs(recv: &Receiver, want: &[u64], limit: Duration) -> HashMap<u64, usize> {
    let deadline = Instant::now() + limit;
    loop {
        let mut seen: HashMap<u64, usize> = HashMap::new();
        for r in recv.received() {
            if let Some(seq) = r.json()["seq"].as_u64() {
                *seen.entry(seq).or_default() += 1;
            }
        }
        let missing = want.iter().filter(|s| !seen.contains_key(s)).count();
        if missing == 0 {
            return seen;
        }
        assert!(Instant::now() < deadline, "{missing} of {} accepted messages never arrived", want.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn a_node_killed_mid_load_loses_nothing_and_duplicates_stay_within_its_in_flight_work() {
    const CONCURRENCY: usize = 16;
    let concurrency = CONCURRENCY.to_string();
    let mut cluster = Cluster::start(3, &[("HOOKD_DISPATCH_CONCURRENCY", &concurrency)]).await;
    let recv = Receiver::start().await;
    // A slow receiver keeps deliveries in flight and queued when the kill comes.
    recv.set_delay(Duration::from_millis(200));
    let (app_id, _) = app_with_endpoint(&cluster, &recv.url, json!({})).await;

    let accepted = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut publishers = Vec::new();
    for p in 0..8u64 {
        let (base, accepted, sent, stop) =
            (cluster.base((p % 2) as usize), accepted.clone(), sent.clone(), stop.clone());
        let path = format!("{base}/api/v1/app/{app_id}/msg");
        publishers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seq = p;
            while !stop.load(Ordering::Relaxed) && seq < 8 * 100 {
                let body = json!({"eventType": "load", "payload": {"seq": seq}});
                let resp = client.post(&path).bearer_auth("cluster-token").json(&body).send().await;
                if resp.is_ok_and(|r| r.status() == 202) {
                    accepted.lock().unwrap().push(seq);
                }
                sent.fetch_add(1, Ordering::Relaxed);
                seq += 8;
            }
        }));
    }
    let started = Instant::now();
    while sent.load(Ordering::Relaxed) < 300 {
        assert!(started.elapsed() < Duration::from_secs(60), "publishing stalled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster.kill(1);
    for p in publishers {
        p.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() >= 300, "the publishes before the kill were accepted: {}", accepted.len());

    let seen = wait_for_seqs(&recv, &accepted, TAKEOVER_WAIT).await;
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    eprintln!("accepted {}, delivered {}, duplicates {duplicates}", accepted.len(), seen.len());
    // A delivery is sent twice only if the killed node had it in flight (sent, not yet recorded).
    assert!(duplicates <= 2 * CONCURRENCY, "{duplicates} duplicates: more than the killed node had in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn a_timer_created_through_a_node_that_is_then_killed_fires_once() {
    let mut cluster = Cluster::start(3, &[]).await;
    let recv = Receiver::start().await;
    let body = json!({"name": "orphan", "duration": "2s", "events": {"on_expire": {"webhook": recv.url}}});
    let resp = reqwest::Client::new()
        .post(format!("{}/timers", cluster.base(2)))
        .header("x-api-key", cluster.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let id = resp.json::<Value>().await.unwrap()["timer"]["id"].as_str().unwrap().to_string();
    cluster.kill(2);

    let got = recv.wait_for(1).await;
    assert_eq!(got[0].json()["timer"]["id"], id.as_str());
    let status = eventually("the timer to read as expired", || {
        let cluster = &cluster;
        let id = id.clone();
        async move {
            let r = cluster.call(0, Method::GET, &format!("/timers/{id}"), None).await;
            (r.body["timer"]["status"] == "expired").then_some(r.body)
        }
    })
    .await;
    assert_eq!(status["timer"]["id"], id.as_str());
    assert_eq!(recv.received().len(), 1, "fired once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn an_endpoint_disabled_through_one_node_gets_nothing_published_through_another_a_second_later() {
    let cluster = Cluster::start(3, &[]).await;
    let (off, control) = (Receiver::start().await, Receiver::start().await);
    let (app_id, ep_id) = app_with_endpoint(&cluster, &off.url, json!({})).await;
    let ctl = cluster.post(0, &format!("/api/v1/app/{app_id}/endpoint"), json!({"url": control.url})).await;
    assert_eq!(ctl.status, 201);
    // Node 1 has both endpoints in its cache.
    assert_eq!(
        cluster.post(1, &format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "a", "payload": {}})).await.status,
        202
    );
    off.wait_for(1).await;
    control.wait_for(1).await;

    let patched = cluster
        .call(0, Method::PATCH, &format!("/api/v1/app/{app_id}/endpoint/{ep_id}"), Some(json!({"disabled": true})))
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    // The promise under test: a change applies on every node within one second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = cluster.post(1, &format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "b", "payload": {}})).await;
    assert_eq!(sent.status, 202);
    control.wait_for(2).await;
    let msg_id = sent.body["id"].as_str().unwrap();
    // Its attempt is recorded once the control endpoint has answered.
    let attempts = eventually("the control endpoint's attempt to be recorded", || {
        let (cluster, path) = (&cluster, format!("/api/v1/app/{app_id}/attempt/msg/{msg_id}"));
        async move {
            let r = cluster.call(2, Method::GET, &path, None).await;
            let data = r.body["data"].as_array().cloned().unwrap_or_default();
            (!data.is_empty()).then_some(data)
        }
    })
    .await;
    assert_eq!(attempts.len(), 1, "only the enabled endpoint was attempted: {attempts:?}");
    let deliveries = cluster.call(2, Method::GET, &format!("/api/v1/app/{app_id}/msg/{msg_id}/endpoint"), None).await;
    assert_eq!(deliveries.body["data"].as_array().map(Vec::len), Some(1), "one delivery: {:?}", deliveries.body);
    assert_eq!(off.received().len(), 1, "the disabled endpoint got nothing more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn the_same_event_id_sent_to_two_nodes_at_once_is_accepted_once() {
    let cluster = Cluster::start(3, &[]).await;
    let recv = Receiver::start().await;
    let (app_id, _) = app_with_endpoint(&cluster, &recv.url, json!({})).await;
    for round in 0..10 {
        let body = json!({"eventType": "a", "eventId": format!("evt-{round}"), "payload": {"round": round}});
        let path = format!("/api/v1/app/{app_id}/msg");
        let (a, b) = tokio::join!(cluster.post(0, &path, body.clone()), cluster.post(1, &path, body));
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [202, 409], "round {round}: {:?} / {:?}", a.body, b.body);
    }
    let got = recv.wait_for(10).await;
    assert_eq!(got.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn the_same_idempotency_key_sent_to_two_nodes_at_once_runs_once() {
    let cluster = Cluster::start(3, &[]).await;
    let recv = Receiver::start().await;
    let (app_id, _) = app_with_endpoint(&cluster, &recv.url, json!({})).await;
    let path = format!("/api/v1/app/{app_id}/msg");
    for round in 0..10 {
        let send = |node: usize| {
            let url = format!("{}{path}", cluster.base(node));
            async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(cluster.token)
                    .header("idempotency-key", format!("key-{round}"))
                    .json(&json!({"eventType": "a", "payload": {"round": round}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202, "round {round}");
                r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
            }
        };
        let (a, b) = tokio::join!(send(0), send(1));
        assert_eq!(a, b, "round {round}: both nodes answer with the one message");
    }
    let got = recv.wait_for(10).await;
    assert_eq!(got.len(), 10);
    let listed = cluster.call(2, Method::GET, &path, None).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 10, "ten messages, one per key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn a_throttle_rate_holds_for_the_cluster_with_publishers_on_every_node() {
    let cluster = Cluster::start(3, &[]).await;
    let recv = Receiver::start().await;
    let (app_id, _) = app_with_endpoint(&cluster, &recv.url, json!({"throttleRate": 10})).await;
    let path = format!("/api/v1/app/{app_id}/msg");
    let publishes = (0..45u64).map(|seq| {
        let (cluster, path) = (&cluster, path.clone());
        async move { cluster.post((seq % 3) as usize, &path, json!({"eventType": "t", "payload": {"seq": seq}})).await }
    });
    for r in futures::future::join_all(publishes).await {
        assert_eq!(r.status, 202);
    }
    let got = recv.wait_for(45).await;
    let times: Vec<Instant> = got.iter().map(|r| r.at).collect();
    // In any one-second window at most 10, give or take the limiter's burst of one.
    for (i, start) in times.iter().enumerate() {
        let within = times[i..].iter().take_while(|t| t.duration_since(*start) < Duration::from_secs(1)).count();
        assert!(within <= 11, "{within} deliveries within one second starting at #{i}");
    }
    let span = times.last().unwrap().duration_since(times[0]);
    assert!(span >= Duration::from_millis(3_400), "45 deliveries at 10/s take over 3.4 s, not {span:?}");
}

/// The dashboard's live tail on one node shows the attempts another node makes: the watching node announces
/// that it watches, and the other then announces its attempts through the store (LISTEN/NOTIFY).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn the_live_tail_on_one_node_shows_the_attempts_of_another() {
    let cluster = Cluster::start(2, &[]).await;
    let rx = Receiver::start().await;
    let (app_id, _) = app_with_endpoint(&cluster, &rx.url, json!({})).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let login =
        client.post(format!("{}/ui/login", cluster.base(0))).form(&[("token", cluster.token)]).send().await.unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let mut stream = client
        .get(format!("{}/ui/live/events?app={app_id}", cluster.base(0)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // Node 1 starts announcing once it has heard node 0's `watching`: publish through node 1 (whose dispatcher
    // sends what it publishes) until one of its attempts shows on node 0.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut published, mut seen) = (Vec::new(), String::new());
    while !published.iter().any(|id: &String| seen.contains(id.as_str())) {
        assert!(
            Instant::now() < deadline,
            "no attempt of node 1 on node 0's tail: published {published:?}, seen {seen}"
        );
        let msg = cluster.post(1, &format!("/api/v1/app/{app_id}/msg"), json!({"eventType": "e", "payload": {}})).await;
        assert_eq!(msg.status, 202);
        published.push(msg.body["id"].as_str().unwrap().to_string());
        if let Ok(chunk) = tokio::time::timeout(Duration::from_secs(1), stream.chunk()).await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
        }
    }
    assert!(seen.contains("event: attempt"), "{seen}");
}

/// A dashboard session belongs to the cluster: signed in through one node, it works on the others (no sticky load
/// balancing), and logging out through one ends it on every node within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn a_dashboard_session_works_on_every_node_and_a_logout_ends_it_everywhere() {
    let cluster = Cluster::start(2, &[]).await;
    let client = ui::client();
    let login =
        client.post(format!("{}/ui/login", cluster.base(0))).form(&[("token", cluster.token)]).send().await.unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let apps = |node: usize| client.get(format!("{}/ui/apps", cluster.base(node))).header("cookie", &cookie).send();
    // Both nodes know the session (and now hold it in their caches).
    assert_eq!(apps(0).await.unwrap().status(), 200);
    let on_1 = apps(1).await.unwrap();
    assert_eq!(on_1.status(), 200, "the session signed in through node 0 works on node 1");
    let csrf = ui::csrf_of(&on_1.text().await.unwrap());

    let logout = client
        .post(format!("{}/ui/logout", cluster.base(1)))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    // The promise under test: a change applies on every node within one second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let on_0 = apps(0).await.unwrap();
    assert_eq!(on_0.status(), 303, "logged out through node 1, still signed in on node 0");
    assert_eq!(on_0.headers()["location"], "/ui/login");
}

/// A cron source (Svix Ingest) is a timer in the due-time queue: each tick is claimed by one node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: scripts/test.sh runs it in its PostgreSQL pass"]
async fn a_cron_source_ticks_once_per_tick_across_three_nodes() {
    let cluster = Cluster::start(3, &[]).await;
    let recv = Receiver::start().await;
    let config = json!({"schedule": "* * * * * *", "payload": "{\"tick\": 1}"});
    let r = cluster.post(0, "/ingest/api/v1/source", json!({"name": "c", "type": "cron", "config": config})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let source = r.body["id"].as_str().unwrap().to_string();
    let r =
        cluster.post(1, &format!("/ingest/api/v1/source/{source}/endpoint"), json!({"url": recv.url.clone()})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // Every node's scheduler sees the timer; one claims each tick. Had each node fired it, three messages a second.
    let first = recv.wait_for(1).await;
    let started = std::time::Instant::now();
    let got = eventually_within("six ticks", std::time::Duration::from_secs(30), || {
        let n = recv.received().len();
        async move { (n >= 6).then_some(n) }
    })
    .await;
    let seconds = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(got <= seconds + 2, "{got} deliveries in {seconds} s after the first: ticks fired more than once");
    let ids: std::collections::HashSet<String> =
        recv.received().iter().map(|r| r.header("svix-id").to_string()).collect();
    assert_eq!(ids.len(), recv.received().len(), "each tick is one message, delivered once");
    assert_eq!(first[0].json(), json!({"tick": 1}));
}

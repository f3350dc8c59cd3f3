//! The PostgreSQL store with several nodes on one database: what the end-to-end suite (one node) cannot see.
//! Needs the machine's PostgreSQL (127.0.0.1:5432, user postgres, trust): when it does not answer these tests
//! fail under CI (`CI` set) and are skipped with a notice otherwise.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd::store::postgres::{PgOptions, PgStore, NODE_TIMEOUT};
use hookd::store::{
    now_ms, AttemptRecord, DocKind, DocRecord, DueJob, Failing, MessageRecord, NewDelivery, NextStep, Store,
    StoreError, StoreEvent,
};

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const LEASE_MS: i64 = 60_000;

/// A fresh database, dropped with the guard.
struct Db {
    name: String,
}

impl Db {
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

/// Drops a test database, closed first to the store's reconnecting connections.
async fn drop_database(admin: &tokio_postgres::Client, name: &str) {
    let _ = admin.batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    for _ in 0..5 {
        if admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(ADMIN_URL, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    drop_database(&c, &name).await;
                }
            });
        })
        .join();
    }
}

async fn fresh_db() -> Option<Db> {
    let connected =
        tokio::time::timeout(Duration::from_secs(3), tokio_postgres::connect(ADMIN_URL, tokio_postgres::NoTls)).await;
    let client = match connected {
        Ok(Ok((client, conn))) => {
            tokio::spawn(conn);
            client
        }
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL does not answer at {ADMIN_URL}: {why}");
            }
            eprintln!("SKIPPED: PostgreSQL does not answer at {ADMIN_URL} ({why})");
            return None;
        }
    };
    let name = format!("hookd_test_{}", hookd::ids::random_token(12).to_lowercase());
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    Some(Db { name })
}

/// A node whose heartbeat the test drives itself ([`PgStore::tick`]).
async fn node(db: &Db) -> Arc<PgStore> {
    Arc::new(PgStore::open(&db.url(), PgOptions { heartbeat: false, ..Default::default() }).await.unwrap())
}

/// The node as the engine sees it: the queries written once are methods of `dyn Store`.
fn store(node: &Arc<PgStore>) -> Arc<dyn Store> {
    node.clone()
}

fn message(event_id: Option<&str>) -> Arc<MessageRecord> {
    let now = now_ms();
    Arc::new(MessageRecord {
        id: hookd::ids::new(hookd::ids::MSG),
        org_id: "org_test".into(),
        app_id: "app_test".into(),
        event_type: "a.b".into(),
        event_id: event_id.map(str::to_string),
        channels: None,
        payload: Some(Arc::from("{\"x\":1}")),
        created_at: now,
        payload_expires_at: now + 86_400_000,
        traceparent: None,
    })
}

fn due_now(leased_until: i64) -> Vec<NewDelivery> {
    vec![NewDelivery { endpoint_id: "ep_test".into(), run_at: now_ms(), leased_until }]
}

fn job_ids(jobs: &[DueJob]) -> Vec<i64> {
    jobs.iter()
        .map(|j| match j {
            DueJob::Delivery(d) => d.job_id,
            DueJob::Timer(t) => t.job_id,
        })
        .collect()
}

async fn claim(store: &PgStore, limit: usize) -> Vec<DueJob> {
    let now = now_ms();
    store.claim_due(now, now + LEASE_MS, limit, 0).await.unwrap()
}

#[tokio::test]
async fn a_job_claimed_by_one_node_is_not_claimed_by_another() {
    let Some(db) = fresh_db().await else { return };
    let (a, b) = (node(&db).await, node(&db).await);
    assert_ne!(a.node_id(), b.node_id());

    a.publish(message(None), due_now(0)).await.unwrap();
    let got = claim(&a, 10).await;
    assert_eq!(got.len(), 1);
    assert!(claim(&b, 10).await.is_empty(), "the other node must not claim a leased job");

    // Many jobs, both nodes claiming at once: every job exactly once.
    for _ in 0..60 {
        b.publish(message(None), due_now(0)).await.unwrap();
    }
    let claimer = |s: Arc<PgStore>| async move {
        let mut mine = vec![];
        loop {
            let jobs = claim(&s, 7).await;
            if jobs.is_empty() {
                return mine;
            }
            mine.extend(job_ids(&jobs));
        }
    };
    let (ja, jb) = tokio::join!(claimer(a.clone()), claimer(b.clone()));
    let mut all: Vec<i64> = ja.iter().chain(&jb).copied().collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(n, 60, "every job claimed ({} by one node, {} by the other)", ja.len(), jb.len());
    assert_eq!(all.len(), n, "no job claimed twice");
}

#[tokio::test]
async fn a_dead_nodes_leases_are_freed_and_taken_over() {
    let Some(db) = fresh_db().await else { return };
    let (a, b) = (node(&db).await, node(&db).await);

    // A claims one job and publishes another leased at birth (sent from its memory).
    a.publish(message(None), due_now(0)).await.unwrap();
    let claimed = job_ids(&claim(&a, 10).await);
    assert_eq!(claimed.len(), 1);
    let born = a.publish(message(None), due_now(now_ms() + LEASE_MS)).await.unwrap();
    assert!(claim(&b, 10).await.is_empty());

    // Both alive: nothing is freed.
    let now = now_ms();
    a.tick(now).await.unwrap();
    assert_eq!(b.tick(now + 1000).await.unwrap(), 0);
    assert!(claim(&b, 10).await.is_empty());

    // A's heartbeat stops; B's next heartbeat after the timeout frees A's leases, and B takes the work.
    let mut events = b.events().expect("a node has events");
    let freed = b.tick(now + NODE_TIMEOUT.as_millis() as i64 + 1000).await.unwrap();
    assert_eq!(freed, 2);
    assert!(matches!(events.try_recv(), Ok(StoreEvent::Due(_))), "the reaper wakes its own node");
    let mut taken = job_ids(&claim(&b, 10).await);
    taken.sort_unstable();
    let mut expected = vec![claimed[0], born[0].1];
    expected.sort_unstable();
    assert_eq!(taken, expected);
    assert!(claim(&a, 10).await.is_empty(), "B holds them now");

    // A comes back (its heartbeat resumes): it is a node again, and B's leases are B's.
    a.tick(now_ms()).await.unwrap();
    assert_eq!(a.tick(now_ms()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_node_that_stops_gracefully_leaves_its_work_to_the_others_at_once() {
    let Some(db) = fresh_db().await else { return };
    let (a, b) = (node(&db).await, node(&db).await);
    a.publish(message(None), due_now(0)).await.unwrap();
    let claimed = job_ids(&claim(&a, 10).await);
    let born = a.publish(message(None), due_now(now_ms() + LEASE_MS)).await.unwrap();
    assert!(claim(&b, 10).await.is_empty());
    assert_eq!(b.nodes_seen_since(0).await.unwrap(), 2);

    // A leaves: no node timeout to wait for. B hears that work is due, and takes it.
    let mut events = b.events().unwrap();
    a.leave().await.unwrap();
    assert!(matches!(next_event(&mut events, "due").await, StoreEvent::Due(_)));
    let mut taken = job_ids(&claim(&b, 10).await);
    taken.sort_unstable();
    let mut expected = vec![claimed[0], born[0].1];
    expected.sort_unstable();
    assert_eq!(taken, expected);
    assert_eq!(b.nodes_seen_since(0).await.unwrap(), 1, "A is no longer a node");
}

async fn next_event(rx: &mut tokio::sync::broadcast::Receiver<StoreEvent>, what: &str) -> StoreEvent {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no {what} event within 5 s"))
        .unwrap()
}

#[tokio::test]
async fn changes_through_one_node_are_events_on_the_other() {
    let Some(db) = fresh_db().await else { return };
    let (a, b) = (node(&db).await, node(&db).await);
    let mut on_b = b.events().unwrap();
    let mut on_a = a.events().unwrap();

    let rec = DocRecord {
        kind: DocKind::Endpoint,
        org_id: "org_1".into(),
        parent: "app_1".into(),
        id: "ep_1".into(),
        uid: None,
        created_at: now_ms(),
        data: "{}".into(),
    };
    store(&a).doc_insert(rec.clone()).await.unwrap();
    match next_event(&mut on_b, "doc").await {
        StoreEvent::Changed { kind, org_id, parent, id } => {
            assert_eq!(
                (kind, org_id.as_str(), parent.as_str(), id.as_str()),
                (DocKind::Endpoint, "org_1", "app_1", "ep_1")
            )
        }
        other => panic!("expected a change, got {other:?}"),
    }
    store(&a).doc_update(DocRecord { data: "{\"disabled\":true}".into(), ..rec.clone() }).await.unwrap();
    assert!(matches!(next_event(&mut on_b, "doc").await, StoreEvent::Changed { .. }));
    store(&a).doc_delete(DocKind::Endpoint, "org_1", "ep_1").await.unwrap();
    assert!(matches!(next_event(&mut on_b, "doc").await, StoreEvent::Changed { .. }));

    store(&a).token_insert([7; 32], "org_1", "t").await.unwrap();
    assert!(matches!(next_event(&mut on_b, "tokens").await, StoreEvent::Tokens));

    // Work queued for later wakes the other node for that time.
    let at = now_ms() + 30_000;
    let later = vec![NewDelivery { endpoint_id: "ep_test".into(), run_at: at, leased_until: 0 }];
    a.publish(message(None), later).await.unwrap();
    match next_event(&mut on_b, "due").await {
        StoreEvent::Due(t) => assert_eq!(t, at),
        other => panic!("expected due work, got {other:?}"),
    }

    // A node is not told about its own changes.
    assert!(tokio::time::timeout(Duration::from_millis(300), on_a.recv()).await.is_err());
}

#[tokio::test]
async fn one_event_id_through_two_nodes_is_accepted_once() {
    let Some(db) = fresh_db().await else { return };
    let (a, b) = (node(&db).await, node(&db).await);
    for i in 0..20 {
        let event_id = format!("evt-{i}");
        let (ra, rb) = tokio::join!(
            a.publish(message(Some(&event_id)), due_now(0)),
            b.publish(message(Some(&event_id)), due_now(0))
        );
        let oks = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        let conflicts = [&ra, &rb].iter().filter(|r| matches!(r, Err(StoreError::Conflict(_)))).count();
        assert_eq!((oks, conflicts), (1, 1), "{ra:?} {rb:?}");
    }
}

#[tokio::test]
async fn attempts_recorded_in_one_batch_follow_each_other() {
    let Some(db) = fresh_db().await else { return };
    let a = node(&db).await;
    // Two deliveries to one endpoint; a failure then a success recorded together, and a lone failure.
    let ids = a
        .publish(
            message(None),
            vec![
                NewDelivery { endpoint_id: "ep_x".into(), run_at: now_ms(), leased_until: 0 },
                NewDelivery { endpoint_id: "ep_y".into(), run_at: now_ms(), leased_until: 0 },
            ],
        )
        .await
        .unwrap();
    let attempt = |ep: &str, status: i64, at: i64| AttemptRecord {
        id: hookd::ids::new(hookd::ids::ATTEMPT),
        org_id: "org_test".into(),
        app_id: "app_test".into(),
        msg_id: "msg".into(),
        endpoint_id: ep.into(),
        url: "http://x".into(),
        status_code: if status == 0 { 200 } else { 500 },
        status: if status == 0 { hookd::store::status::SUCCESS } else { hookd::store::status::FAIL },
        manual: false,
        duration_ms: 1,
        response: String::new(),
        created_at: at,
    };
    let (r1, r2) = tokio::join!(
        a.record_attempt(ids[0].1, ids[0].0, attempt("ep_y", 1, 1000), NextStep::RetryAt(now_ms() + 60_000)),
        a.record_attempt(ids[1].1, ids[1].0, attempt("ep_y", 1, 2000), NextStep::GiveUp),
    );
    let failing = |since, consecutive| Some(Failing { since, consecutive });
    assert_eq!(r1.unwrap(), failing(1000, 1));
    assert_eq!(r2.unwrap(), failing(1000, 2), "failing since the first failure, counted in a row");
    assert_eq!(store(&a).endpoint_failing("ep_y").await.unwrap(), failing(1000, 2), "as stored");
    let r3 = a.record_attempt(ids[0].1, ids[0].0, attempt("ep_y", 0, 3000), NextStep::Done).await.unwrap();
    assert_eq!(r3, None);
    let r4 = a.record_attempt(ids[1].1, ids[1].0, attempt("ep_y", 1, 4000), NextStep::GiveUp).await.unwrap();
    assert_eq!(r4, failing(4000, 1), "a success starts the count again");
}

#[tokio::test]
async fn an_unreachable_database_fails_fast() {
    let started = std::time::Instant::now();
    let r = PgStore::open("postgres://postgres@127.0.0.1:1/none", PgOptions::default()).await;
    assert!(r.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn admin() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(ADMIN_URL, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Takes the database away from its clients (new connections refused, open ones ended), or gives it back.
async fn set_away(db: &Db, away: bool) {
    let c = admin().await;
    c.batch_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS {}", db.name, !away)).await.unwrap();
    if away {
        c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", &[&db.name])
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn while_the_database_is_away_requests_fail_fast_and_then_everything_resumes() {
    let Some(db) = fresh_db().await else { return };
    let a = node(&db).await;
    let app = common::spawn_app_with(|c| c.database_url = db.url()).await;
    let (app_id, _) = app.app_with_endpoint("http://127.0.0.1:9/", serde_json::json!({})).await;
    a.publish(message(None), due_now(0)).await.unwrap();

    let mut events = a.events().unwrap();
    set_away(&db, true).await;
    let started = Instant::now();
    assert!(matches!(a.publish(message(None), due_now(0)).await, Err(StoreError::Unavailable)));
    assert!(matches!(store(&a).token_count().await, Err(StoreError::Unavailable)));
    let health = app.get("/api/v1/health").await;
    assert_eq!(health.status, 503, "{:?}", health.body);
    assert_eq!(health.body["code"], "unavailable");
    assert_eq!(health.headers.get("retry-after").unwrap(), "1");
    let publish =
        app.post(&format!("/api/v1/app/{app_id}/msg"), serde_json::json!({"eventType": "a.b", "payload": {}})).await;
    assert_eq!(publish.status, 503, "{:?}", publish.body);
    assert!(started.elapsed() < Duration::from_secs(8), "503s come at once, not after a hang: {:?}", started.elapsed());

    set_away(&db, false).await;
    common::eventually("the store to write again", || async { a.publish(message(None), due_now(0)).await.ok() }).await;
    common::eventually("the server to answer again", || async {
        (app.get("/api/v1/health").await.status == 204).then_some(())
    })
    .await;
    app.publish(&app_id, "a.b", serde_json::json!({})).await;

    // The LISTEN connection came back by itself (saying so: what was missed meanwhile may be due, and every
    // cache must go), and another node's change arrives.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Ok(StoreEvent::Missed)) => break,
            Ok(_) => continue,
            Err(_) => panic!("the LISTEN connection did not come back"),
        }
    }
    let b = node(&db).await;
    let rec = DocRecord {
        kind: DocKind::Application,
        org_id: "org_1".into(),
        parent: String::new(),
        id: "app_after".into(),
        uid: None,
        created_at: now_ms(),
        data: "{}".into(),
    };
    store(&b).doc_insert(rec).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Ok(StoreEvent::Changed { id, .. })) if id == "app_after" => break,
            Ok(_) => continue,
            Err(_) => panic!("no change event after the database came back"),
        }
    }
}

/// Two nodes deleting old messages at once (each node's retention pass) share the work: neither fails, every row
/// is counted once, a message whose delivery is pending stays, and publishing meanwhile is not disturbed.
#[tokio::test]
async fn two_nodes_pruning_at_once_count_each_row_once() {
    let Some(db) = fresh_db().await else { return };
    let (a, b) = (node(&db).await, node(&db).await);
    let published = futures::future::join_all((0..400).map(|i| {
        let a = a.clone();
        async move {
            let msg = message(None);
            if i % 4 != 0 {
                return a.publish(msg, vec![]).await.unwrap();
            }
            let ids = a.publish(msg.clone(), due_now(0)).await.unwrap();
            let attempt = AttemptRecord {
                id: hookd::ids::new(hookd::ids::ATTEMPT),
                org_id: "org_test".into(),
                app_id: "app_test".into(),
                msg_id: msg.id.clone(),
                endpoint_id: "ep_test".into(),
                url: "http://x".into(),
                status_code: 200,
                status: hookd::store::status::SUCCESS,
                manual: false,
                duration_ms: 1,
                response: "a body".into(),
                created_at: now_ms(),
            };
            a.record_attempt(ids[0].1, ids[0].0, attempt, NextStep::Done).await.unwrap();
            ids
        }
    }));
    published.await;
    let pending = message(None);
    a.publish(pending.clone(), due_now(0)).await.unwrap();

    let scope = hookd::store::PruneScope::AllExcept(Default::default());
    let cutoff = now_ms() + 1000;
    let (sa, sb) = (store(&a), store(&b));
    // Publishing goes on meanwhile, in the same group commits: nothing of it fails, and its messages, pending,
    // stay.
    let publishing = futures::future::join_all((0..100).map(|_| {
        let b = b.clone();
        async move { b.publish(message(None), due_now(0)).await }
    }));
    let (ra, rb, ca, cb, published) = tokio::join!(
        sa.prune_messages(&scope, cutoff, 25),
        sb.prune_messages(&scope, cutoff, 25),
        sa.clear_responses(cutoff, 25),
        sb.clear_responses(cutoff, 25),
        publishing,
    );
    assert!(published.iter().all(Result::is_ok), "{published:?}");
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        (ra.messages + rb.messages, ra.deliveries + rb.deliveries, ra.attempts + rb.attempts),
        (400, 100, 100),
        "{ra:?} {rb:?}"
    );
    assert!(ra.kept_pending + rb.kept_pending >= 1);
    assert!(ca.unwrap() + cb.unwrap() <= 100, "a body is emptied once at most");
    assert!(sa.message_get("org_test", "app_test", &pending.id).await.unwrap().is_some(), "pending: kept");
    let left = sa.prune_messages(&scope, cutoff, 25).await.unwrap();
    assert_eq!((left.messages, left.kept_pending), (0, 101));
}

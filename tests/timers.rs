//! Durable timers (seed 001): progress and expiry webhooks on time, signed as the seed shows and checked with
//! its own recipe, retried on failure, cancellation (exactly one of expired or cancelled at the deadline), and
//! survival of SIGKILL.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

fn timer_body(name: &str, duration: Value, recv: &Receiver, progress: Option<Value>) -> Value {
    let mut events = json!({"on_expire": {"webhook": recv.url, "message": "done!", "data": {"buildId": "123"}}});
    if let Some(intervals) = progress {
        events["on_progress"] = json!({"webhook": recv.url, "intervals": intervals});
    }
    json!({"name": name, "duration": duration, "agent_id": "agent-7", "projectId": "proj-1", "events": events})
}

async fn create(app: &TestApp, body: Value) -> Value {
    let resp =
        app.http.post(format!("{}/timers", app.base)).header("x-api-key", &app.token).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    resp.json::<Value>().await.unwrap()["timer"].clone()
}

fn recipe_input(got: &Received, secret: &str) -> Value {
    let headers: serde_json::Map<String, Value> =
        got.headers.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_str().unwrap().to_string()))).collect();
    json!({"body": String::from_utf8(got.body.to_vec()).unwrap(), "headers": headers, "secret": secret})
}

#[tokio::test]
async fn progress_and_expiry_webhooks_fire_on_time_signed_as_the_seed_shows() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let started = Instant::now();
    let timer = create(&app, timer_body("Build Process", json!("1s"), &recv, Some(json!(["25%", "50%", "75%"])))).await;
    assert_eq!(timer["status"], "running");
    assert_eq!(timer["duration"], 1000);
    let id = timer["id"].as_str().unwrap();
    assert!(id.starts_with("timer_"));

    let got = recv.wait_for(4).await;
    let events: Vec<Value> = got.iter().map(|g| g.json()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["timer_progress", "timer_progress", "timer_progress", "timer_expired"]);
    let progress: Vec<&str> = events[..3].iter().map(|e| e["progress"].as_str().unwrap()).collect();
    assert_eq!(progress, ["25%", "50%", "75%"]);

    // The seed's timer_expired payload.
    let expired = &events[3];
    assert_eq!(expired["timer"]["id"], id);
    assert_eq!(expired["timer"]["name"], "Build Process");
    assert_eq!(expired["timer"]["status"], "expired");
    assert_eq!(expired["timer"]["duration"], 1000);
    assert!(expired["timer"]["createdAt"].is_string() && expired["timer"]["expiredAt"].is_string());
    assert_eq!(expired["message"], "done!");
    assert_eq!(expired["data"], json!({"buildId": "123"}));
    assert!(expired["timestamp"].is_string());
    assert_eq!(expired["late"], false);

    // On time: each milestone at its moment (the 10 ms p99 figure is a benchmark; this is a sanity bound).
    let expiry_at = got[3].at.duration_since(started);
    assert!(
        expiry_at >= Duration::from_millis(990) && expiry_at < Duration::from_millis(1500),
        "expired after {expiry_at:?}"
    );
    let half_at = got[1].at.duration_since(started);
    assert!(half_at >= Duration::from_millis(490) && half_at < Duration::from_millis(1000), "50% after {half_at:?}");

    // Signed as the seed shows: its own verifyWebhookSignature accepts every one, with the org's timer secret.
    let secret = app.get("/timers/webhook-secret").await.body["secret"].as_str().unwrap().to_string();
    for g in &got {
        let (ok, out) = run_script("node", &script("recipes/minoots_verify.js"), &recipe_input(g, &secret));
        assert!(ok, "the seed's recipe refused a timer webhook: {out}");
        assert_eq!(g.header("x-minoots-attempt"), "1");
        assert!(g.header("svix-signature").starts_with("v1,"), "Standard Webhooks headers beside it");
    }
    assert!(!run_script("node", &script("recipes/minoots_verify.js"), &recipe_input(&got[0], "whsec_other")).0);

    let now = app.get(&format!("/timers/{id}")).await.body["timer"].clone();
    assert_eq!(
        (now["status"].as_str(), now["timeRemaining"].as_i64(), now["progress"].as_f64()),
        (Some("expired"), Some(0), Some(1.0))
    );
}

#[tokio::test]
async fn a_failed_timer_webhook_is_retried_and_visible_as_attempts() {
    let app =
        spawn_app_with(|c| c.timer_retry_schedule = vec![Duration::from_millis(100), Duration::from_millis(200)]).await;
    let recv = Receiver::start().await;
    recv.answer(500, 1);
    create(&app, timer_body("retry", json!(200), &recv, None)).await;
    let got = recv.wait_for(2).await;
    assert_eq!((got[0].header("x-minoots-attempt"), got[1].header("x-minoots-attempt")), ("1", "2"));
    assert_eq!(got[0].header("svix-id"), got[1].header("svix-id"), "the same message, attempted twice");
    // The timer's deliveries are attempts like any other (the per-organization "hookd-timers" application).
    let msg_id = got[0].header("svix-id").to_string();
    let attempts = eventually("two attempts", || async {
        let r = app.get(&format!("/api/v1/app/hookd-timers/attempt/msg/{msg_id}")).await;
        (r.body["data"].as_array().map_or(0, |a| a.len()) == 2).then_some(r.body)
    })
    .await;
    assert_eq!(attempts["data"][0]["responseStatusCode"], 200);
    assert_eq!(attempts["data"][1]["responseStatusCode"], 500);
}

#[tokio::test]
async fn cancelling_sends_timer_cancelled_and_a_deadline_race_ends_one_way_only() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let timer = create(&app, timer_body("long", json!("10m"), &recv, None)).await;
    let id = timer["id"].as_str().unwrap();
    let r = app
        .call(
            reqwest::Method::DELETE,
            &format!("/timers/{id}"),
            Some(&app.token),
            Some(json!({"reason": "Build completed early"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["timer"]["status"], "cancelled");
    let got = recv.wait_for(1).await;
    let cancelled = got[0].json();
    assert_eq!(cancelled["event"], "timer_cancelled");
    assert_eq!(
        cancelled["timer"],
        json!({"id": id, "name": "long", "status": "cancelled", "reason": "Build completed early"})
    );
    assert_eq!(app.delete(&format!("/timers/{id}")).await.status, 409, "already cancelled");

    // Cancel 20 timers right at their deadline: each ends expired or cancelled, never both, and its webhook says which.
    let recv = Receiver::start().await;
    let mut ids = vec![];
    for i in 0..20 {
        ids.push(
            create(&app, timer_body(&format!("race-{i}"), json!(300), &recv, None)).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    tokio::time::sleep_until(tokio::time::Instant::now() + Duration::from_millis(290)).await; // up to the deadline
    let mut outcomes = HashMap::new();
    for id in &ids {
        let r = app.delete(&format!("/timers/{id}")).await;
        outcomes.insert(id.clone(), r.status.as_u16());
    }
    let got = recv.wait_for(20).await;
    let mut webhook_of: HashMap<String, Vec<String>> = HashMap::new();
    for g in &got {
        let e = g.json();
        webhook_of
            .entry(e["timer"]["id"].as_str().unwrap().to_string())
            .or_default()
            .push(e["event"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let final_status =
            app.get(&format!("/timers/{id}")).await.body["timer"]["status"].as_str().unwrap().to_string();
        let events = &webhook_of[id];
        assert_eq!(events.len(), 1, "{id}: exactly one webhook, got {events:?}");
        match outcomes[id] {
            200 => assert_eq!((final_status.as_str(), events[0].as_str()), ("cancelled", "timer_cancelled")),
            409 => assert_eq!((final_status.as_str(), events[0].as_str()), ("expired", "timer_expired")),
            other => panic!("cancel answered {other}"),
        }
    }
}

#[tokio::test]
async fn listing_filters_and_bad_input() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    create(&app, timer_body("a", json!("1h"), &recv, None)).await;
    let mut other = timer_body("b", json!("2h"), &recv, None);
    other["agent_id"] = json!("agent-9");
    create(&app, other).await;
    assert_eq!(app.get("/timers").await.body["timers"].as_array().unwrap().len(), 2);
    let by_agent = app.get("/timers?agent_id=agent-9").await.body;
    assert_eq!(by_agent["timers"][0]["name"], "b");
    assert_eq!(by_agent["timers"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/timers?status=running&projectId=proj-1").await.body["timers"].as_array().unwrap().len(), 2);
    assert_eq!(app.get("/timers?status=expired").await.body["timers"].as_array().unwrap().len(), 0);
    let quick = app.post("/quick/wait", json!({"duration": "10m", "webhook": recv.url})).await;
    assert_eq!((quick.status.as_u16(), quick.body["timer"]["name"].as_str()), (201, Some("quick-wait")));

    for (body, what) in [
        (json!({"name": "x", "duration": "soon"}), "unparseable duration"),
        (json!({"name": "x", "duration": -5}), "negative duration"),
        (json!({"name": "x", "duration": "400d"}), "too long"),
        (json!({"name": "x"}), "no duration"),
        (
            json!({"name": "x", "duration": "1m", "events": {"on_progress": {"webhook": "http://127.0.0.1:9/p", "intervals": ["150%"]}}}),
            "bad interval",
        ),
        (json!({"name": "x", "duration": "1m", "events": {"on_expire": {"webhook": "ftp://x"}}}), "bad webhook"),
    ] {
        let r = app.post("/timers", body).await;
        assert_eq!(r.status, 422, "{what}: {:?}", r.body);
    }
    assert_eq!(app.get("/timers/timer_nope").await.status, 404);
    assert_eq!(app.call(reqwest::Method::POST, "/timers", None, Some(json!({"duration": "1m"}))).await.status, 401);
    assert_eq!(app.get("/timers?status=sleeping").await.status, 422);
    let other_org = app.other_org_token().await;
    assert_eq!(
        app.call(reqwest::Method::GET, "/timers", Some(&other_org), None).await.body["timers"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_survive_sigkill_and_one_that_passed_while_down_fires_late() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database_url(dir.path());
    let port = free_port();
    let env = [("HOOKD_ADMIN_TOKEN", "t"), ("HOOKD_ALLOW_PRIVATE_NETWORKS", "true")];
    let recv = Receiver::start().await;
    let hookd = HookdProcess::start(&db, port, &env).await;
    let created = Instant::now();
    let resp: Value = reqwest::Client::new()
        .post(format!("{}/timers", hookd.base))
        .header("x-api-key", "t")
        .json(&timer_body("survivor", json!("1500ms"), &recv, None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = resp["timer"]["id"].as_str().unwrap().to_string();
    let mut hookd = hookd;
    assert!(Command::new("kill").args(["-9", &hookd.child.id().to_string()]).status().unwrap().success());
    let _ = hookd.child.wait();
    // Stay down past the deadline (this waits for the clock, which is the point), then restart.
    tokio::time::sleep_until(tokio::time::Instant::from_std(created + Duration::from_millis(2800))).await;
    assert!(recv.received().is_empty(), "nothing fired while hookd was down");
    let _restarted = HookdProcess::start(&db, port, &env).await;
    let got = recv.wait_for(1).await;
    let e = got[0].json();
    assert_eq!((e["event"].as_str(), e["timer"]["id"].as_str()), (Some("timer_expired"), Some(id.as_str())));
    assert_eq!(e["late"], true, "it says it is late: {e}");
    assert!(e["lateByMs"].as_i64().unwrap() >= 1000);
}

#[tokio::test]
async fn pausing_moves_the_expiry_and_the_milestones_later() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let started = Instant::now();
    let timer = create(&app, timer_body("paused", json!(800), &recv, Some(json!(["50%"])))).await;
    let id = timer["id"].as_str().unwrap();
    let paused = app.post(&format!("/timers/{id}/pause"), json!({})).await;
    assert_eq!(paused.status, 200, "{:?}", paused.body);
    assert_eq!(paused.body["timer"]["status"], "paused");
    assert_eq!(app.post(&format!("/timers/{id}/pause"), json!({})).await.status, 409);
    assert_eq!(app.get("/timers?status=paused").await.body["timers"].as_array().unwrap().len(), 1);
    // Stay paused for 600 ms of wall-clock time (the pause is what is measured).
    tokio::time::sleep_until(tokio::time::Instant::from_std(started + Duration::from_millis(600))).await;
    assert!(recv.received().is_empty(), "nothing fires while paused");
    let frozen = app.get(&format!("/timers/{id}")).await.body["timer"]["timeRemaining"].as_i64().unwrap();
    assert!(frozen > 700, "time remaining is frozen while paused: {frozen}");
    let resumed = app.post(&format!("/timers/{id}/resume"), json!({})).await;
    assert_eq!((resumed.status.as_u16(), resumed.body["timer"]["status"].as_str()), (200, Some("running")));
    assert_eq!(app.post(&format!("/timers/{id}/resume"), json!({})).await.status, 409);
    let got = recv.wait_for(2).await;
    let (half, expired) = (got[0].at.duration_since(started), got[1].at.duration_since(started));
    assert_eq!(
        (got[0].json()["progress"].as_str(), got[1].json()["event"].as_str()),
        (Some("50%"), Some("timer_expired"))
    );
    // Paused ~600 ms from the start: 50% at ~1 s, expiry at ~1.4 s.
    assert!(half >= Duration::from_millis(950) && half < Duration::from_millis(1350), "50% after {half:?}");
    assert!(
        expired >= Duration::from_millis(1350) && expired < Duration::from_millis(1800),
        "expired after {expired:?}"
    );
}

#[tokio::test]
async fn a_recurring_timer_fires_every_cycle_with_its_milestones_until_max_runs() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let started = Instant::now();
    let mut body = timer_body("heartbeat", Value::Null, &recv, Some(json!(["50%"])));
    body.as_object_mut().unwrap().remove("duration");
    body["every"] = json!("1s");
    body["max_runs"] = json!(3);
    let timer = create(&app, body).await;
    assert_eq!(
        (timer["every"].as_i64(), timer["runs"].as_i64(), timer["duration"].as_i64()),
        (Some(1000), Some(0), Some(1000))
    );
    let id = timer["id"].as_str().unwrap();

    let got = recv.wait_for(6).await;
    let events: Vec<Value> = got.iter().map(|g| g.json()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["timer_progress", "timer_expired"].repeat(3));
    for (run, pair) in events.chunks(2).enumerate() {
        let expired = &pair[1];
        assert_eq!(expired["run"], run as i64 + 1);
        assert_eq!(expired["timer"]["id"], id);
        assert_eq!(expired["message"], "done!");
        let last = run == 2;
        assert_eq!(expired["timer"]["status"], if last { "expired" } else { "running" });
        assert_eq!(expired["nextExpiresAt"].is_null(), last, "{expired}");
    }
    // Each cycle counts from the last one's scheduled end, so the schedule does not drift.
    for (k, g) in got.iter().enumerate() {
        let moment = Duration::from_millis(500 * (k as u64 + 1));
        let at = g.at.duration_since(started);
        assert!(
            at >= moment - Duration::from_millis(10) && at < moment + Duration::from_millis(400),
            "#{k} after {at:?}"
        );
    }
    let now = app.get(&format!("/timers/{id}")).await.body["timer"].clone();
    assert_eq!((now["status"].as_str(), now["runs"].as_i64()), (Some("expired"), Some(3)));
}

#[tokio::test]
async fn a_cron_timer_follows_its_expression_in_its_time_zone() {
    let app = spawn_app().await;
    let recv = Receiver::start().await;
    let mut body = timer_body("tick", Value::Null, &recv, None);
    body.as_object_mut().unwrap().remove("duration");
    // Every second (six fields: seconds first), in a zone half an hour off UTC.
    body["cron"] = json!("* * * * * *");
    body["timezone"] = json!("Asia/Kolkata");
    body["max_runs"] = json!(2);
    let timer = create(&app, body).await;
    assert_eq!((timer["cron"].as_str(), timer["timezone"].as_str()), (Some("* * * * * *"), Some("Asia/Kolkata")));
    let got = recv.wait_for(2).await;
    let (first, second) = (got[0].json(), got[1].json());
    assert_eq!((first["run"].as_i64(), second["run"].as_i64()), (Some(1), Some(2)));
    // The second expiry was planned for the whole second after the first.
    let at = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_millis();
    let planned = at(&first["nextExpiresAt"]);
    assert_eq!(planned % 1000, 0, "cron moments fall on whole seconds");
    assert!(at(&second["timer"]["expiredAt"]) >= planned);
    assert_eq!(second["timer"]["status"], "expired");

    // A daily 09:00 in Paris is 08:00 UTC in winter: the expiry shown falls at a 08:00Z or 07:00Z (summer).
    let mut daily = timer_body("standup", Value::Null, &recv, None);
    daily.as_object_mut().unwrap().remove("duration");
    daily["cron"] = json!("0 9 * * *");
    daily["timezone"] = json!("Europe/Paris");
    let expires = create(&app, daily).await["expiresAt"].as_str().unwrap().to_string();
    assert!(expires.contains("T08:00:00") || expires.contains("T07:00:00"), "{expires}");

    for (extra, what) in [
        (json!({"cron": "every tuesday"}), "bad expression"),
        (json!({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}), "unknown zone"),
        (json!({"every": "500ms"}), "under a second"),
        (json!({"every": "1m", "cron": "0 9 * * *"}), "both"),
        (json!({"every": "1m", "max_runs": 0}), "zero runs"),
        (json!({"duration": "1m", "max_runs": 2}), "max_runs on a one-shot timer"),
        (json!({"duration": "1m", "timezone": "UTC"}), "a zone without cron"),
    ] {
        let mut body = json!({"name": "x"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = app.post("/timers", body).await;
        assert_eq!(r.status, 422, "{what}: {:?}", r.body);
        assert!(r.body["detail"][0]["loc"].is_array(), "{what}: {:?}", r.body);
    }
}

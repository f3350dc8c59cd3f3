//! The plans SQLite makes of the store's queries: index range scans, whatever the tables hold.

use super::*;

/// SQLite's plan for `sql`, one line per step.
fn plan<P: rusqlite::ToSql>(c: &Connection, sql: &str, args: &[P]) -> Vec<String> {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    stmt.query_map(params_from_iter(args.iter()), |r| r.get::<_, String>(3)).unwrap().map(Result::unwrap).collect()
}

fn migrated() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    migrate(&mut c).unwrap();
    c
}

/// Every table the query reads is searched through an index (no `SCAN` of a table or a whole index), and rows
/// come in the wanted order without a sort, unless `sorts` allows one.
fn assert_indexed(what: &str, steps: &[String], sorts: bool) {
    for s in steps {
        assert!(!s.starts_with("SCAN"), "{what}: a full scan in {steps:#?}");
        if !sorts {
            assert!(!s.contains("FOR ORDER BY"), "{what}: a sort in {steps:#?}");
        }
    }
    assert!(steps.iter().any(|s| s.starts_with("SEARCH")), "{what}: no index search in {steps:#?}");
}

#[test]
fn pausing_or_cancelling_a_timer_finds_its_job_by_index() {
    let c = migrated();
    let steps = plan(&c, &super::super::timers::delete_timer_job(7).text, &[Value::Integer(7)]);
    assert!(steps.iter().any(|s| s.contains("jobs_timer")), "{steps:#?}");
}

#[test]
fn the_dashboards_message_searches_use_indexes() {
    let c = migrated();
    let first = Page { limit: 50, iterator: None, reverse: false, descending: true };
    let next = Page { iterator: Some("msg_2".into()), ..first.clone() };
    let back = Page { reverse: true, ..next.clone() };
    let some_type = Some("invoice.paid".to_string());
    let cases = [
        ("everything", MessageSearch::default(), "messages_app "),
        ("an event type", MessageSearch { event_type: some_type.clone(), ..Default::default() }, "messages_app "),
        ("a time range", MessageSearch { since: Some(1), until: Some(2), ..Default::default() }, "messages_app "),
        (
            "an event type in a time range",
            MessageSearch { event_type: some_type.clone(), since: Some(1), until: Some(2), ..Default::default() },
            "messages_app ",
        ),
        ("delivered", MessageSearch { state: Some(MessageState::Delivered), ..Default::default() }, "messages_app "),
        ("failed", MessageSearch { state: Some(MessageState::Failed), ..Default::default() }, "deliveries_failed"),
        (
            "failed of a type in a time range",
            MessageSearch { state: Some(MessageState::Failed), event_type: some_type, since: Some(1), until: Some(2) },
            "deliveries_failed",
        ),
        ("pending", MessageSearch { state: Some(MessageState::Pending), ..Default::default() }, "jobs_kind_run_at"),
    ];
    for (what, search, index) in cases {
        for page in [&first, &next, &back] {
            let q = super::super::messages::search_sql(db::Dialect::Sqlite, "org_1", "app_1", &search, page);
            let steps = plan(&c, &q.text, &q.args);
            // Pending messages are sorted: the queue's deliveries of the application, not its messages.
            assert_indexed(what, &steps, search.state == Some(MessageState::Pending));
            assert!(steps.iter().any(|s| s.contains(index)), "{what}: {index} not used in {steps:#?}");
        }
    }
}

#[test]
fn an_endpoints_attempts_page_by_id_through_its_index() {
    let c = migrated();
    let f = AttemptFilter { endpoint_id: Some("ep_1".into()), ..Default::default() };
    for iterator in [None, Some("atmpt_2".to_string())] {
        let page = Page { limit: 25, iterator, reverse: false, descending: true };
        let q = super::super::deliveries::attempt_sql(db::Dialect::Sqlite, "org_1", "app_1", &f, &page);
        let steps = plan(&c, &q.text, &q.args);
        assert_indexed("an endpoint's attempts", &steps, false);
        assert!(steps.iter().any(|s| s.contains("attempts_endpoint ")), "{steps:#?}");
    }
}

#[test]
fn an_endpoints_dead_letters_and_failed_attempts_through_indexes_of_their_own() {
    let c = migrated();
    for iterator in [None, Some("msg_2".to_string())] {
        let page = Page { limit: 25, iterator, reverse: false, descending: true };
        let of = ["org_1", "app_1", "ep_1"];
        let mf = MessageFilter::default();
        let q = super::super::deliveries::endpoint_messages_sql(db::Dialect::Sqlite, of, Some(2), &mf, &page);
        let steps = plan(&c, &q.text, &q.args);
        assert_indexed("an endpoint's dead letters", &steps, false);
        assert!(steps.iter().any(|s| s.contains("deliveries_endpoint_failed")), "{steps:#?}");
        // Other states walk the endpoint's deliveries.
        let q = super::super::deliveries::endpoint_messages_sql(db::Dialect::Sqlite, of, Some(0), &mf, &page);
        assert!(plan(&c, &q.text, &q.args).iter().any(|s| s.contains("deliveries_endpoint ")));

        let f = AttemptFilter { endpoint_id: Some("ep_1".into()), status: Some(2), ..Default::default() };
        let page = Page { iterator: page.iterator.map(|_| "atmpt_2".to_string()), ..page };
        let q = super::super::deliveries::attempt_sql(db::Dialect::Sqlite, "org_1", "app_1", &f, &page);
        let steps = plan(&c, &q.text, &q.args);
        assert_indexed("an endpoint's failed attempts", &steps, false);
        assert!(steps.iter().any(|s| s.contains("attempts_endpoint_failed")), "{steps:#?}");
    }
}

#[test]
fn activity_counts_read_one_range_of_minutes() {
    let c = migrated();
    for of in [ActivityOf::Org, ActivityOf::Endpoint("ep_1")] {
        let q = super::super::activity::activity_sql("org_1", of, 0, 3_600_000);
        let steps = plan(&c, &q.text, &q.args);
        assert_indexed(&q.text, &steps, true);
        let range = "PRIMARY KEY (org_id=? AND endpoint_id=? AND minute>? AND minute<?)";
        assert!(steps.iter().any(|s| s.contains(range)), "{steps:#?}");
    }
}

#[test]
fn retention_walks_ids_through_indexes() {
    use super::super::retention::*;
    let c = migrated();
    let ids = vec!["msg_1".to_string(), "msg_2".to_string(), "msg_3".to_string()];
    let all = PruneScope::AllExcept(Default::default());
    let one = PruneScope::App("app_1".into());
    let cases = [
        ("old messages", candidates_sql(&all, "msg_0", "msg_9", 5, 200), "sqlite_autoindex_messages_1"),
        ("an application's old messages", candidates_sql(&one, "msg_0", "msg_9", 5, 200), "messages_app"),
        (
            "their pending deliveries",
            by_msg("SELECT DISTINCT msg_id FROM deliveries WHERE status IN (?, ?)", &ids),
            "deliveries_msg",
        ),
        ("their deliveries", by_msg("DELETE FROM deliveries WHERE status NOT IN (?, ?)", &ids), "deliveries_msg"),
        ("the messages", delete_messages_sql(&ids), "deliveries_msg"),
        ("their attempts", delete_attempts_sql(&ids), "attempts_msg"),
        (
            "old attempts",
            attempts_after_sql(db::Dialect::Sqlite, "atmpt_0", "atmpt_9", 500),
            "sqlite_autoindex_attempts_1",
        ),
    ];
    for (what, q, index) in cases {
        let steps = plan(&c, &q.text, &q.args);
        assert_indexed(what, &steps, false);
        assert!(steps.iter().any(|s| s.contains(index)), "{what}: {index} not used in {steps:#?}");
    }
}

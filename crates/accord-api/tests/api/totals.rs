//! §1.7: list totals stay exact. The inbox's common views (by project, status and request
//! type) are counted from counters kept by the database; these tests write concurrently
//! (creates, transitions, erasures, a project's requests) and then compare every
//! counter-backed total with a plain count of the same rows, and check that a page and
//! its total are read from one snapshot.
use crate::both;
use crate::common::*;
use serde_json::Value;
use uuid::Uuid;

both!(
    counted_totals_equal_plain_counts_after_concurrent_writes,
    page_and_total_come_from_one_snapshot,
    overdue_totals_equal_plain_counts,
    counts_alone_equal_list_totals,
);

const REQUESTS: [&str; 4] = ["view", "delete", "change", "do_not_sell"];
const STATUSES: [&str; 4] = [
    "pending_verification",
    "submitted",
    "acknowledged",
    "resolved",
];

fn total(list: &Value) -> i64 {
    list["total"]
        .as_i64()
        .unwrap_or_else(|| panic!("no total: {list}"))
}

/// Reads a list's total through the counters (`query` filters by status and request type
/// only) and through a plain count of the same rows (the same query with a `startDate`
/// that every request passes, which the counters cannot answer), and returns both with the
/// number of items paged through.
async fn three_ways(s: &Server, path: &str, query: &str) -> (i64, i64, i64) {
    let sep = if query.is_empty() { "" } else { "&" };
    let (status, counted) = s.get(&format!("{path}?{query}{sep}limit=1")).await;
    assert_eq!(status, 200, "{counted}");
    let (status, plain) = s
        .get(&format!(
            "{path}?{query}{sep}startDate=1970-01-01T00:00:00.000Z&limit=1"
        ))
        .await;
    assert_eq!(status, 200, "{plain}");
    let mut seen = 0;
    let mut offset = 0;
    loop {
        let (status, page) = s
            .get(&format!("{path}?{query}{sep}limit=100&offset={offset}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let n = page["items"].as_array().unwrap().len() as i64;
        seen += n;
        offset += 100;
        if n < 100 {
            break;
        }
    }
    (total(&counted), total(&plain), seen)
}

async fn counted_totals_equal_plain_counts_after_concurrent_writes(b: accord_store::Backend) {
    let s = std::sync::Arc::new(start(b).await);
    let (status, second) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Shop", "domains": ["shop.example"]}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    let second: Uuid = second["id"].as_str().unwrap().parse().unwrap();

    // Eight writers at once: batches of mixed types and states in both projects, each
    // batch's submitted requests then moved on, and erasures of the pending ones'
    // identities (which rewrite requests without changing their status).
    let mut writers = Vec::new();
    for w in 0..8usize {
        let s = s.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..3usize {
                let project = if (w + round) % 2 == 0 {
                    s.project
                } else {
                    second
                };
                let base = format!("/privacy-v1/organizations/{}/projects/{project}", s.org);
                let batch: Vec<Value> = (0..10usize)
                    .map(|i| {
                        json!({
                            "request": REQUESTS[(w + i) % 4],
                            "userEmail": format!("w{w}-r{round}-{i}@example.com"),
                            "preverified": i % 3 != 0,
                        })
                    })
                    .collect();
                let (status, created) = s
                    .post(&format!("{base}/compliance-requests"), json!(batch))
                    .await;
                assert_eq!(status, 201, "{created}");
                for (i, cr) in created["items"].as_array().unwrap().iter().enumerate() {
                    let path = format!("{base}/compliance-requests/{}", cr["id"].as_str().unwrap());
                    if cr["status"] == "submitted" && i % 2 == 0 {
                        let (st, body) = s.patch(&path, json!({"status": "acknowledged"})).await;
                        assert_eq!(st, 200, "{body}");
                        if i % 4 == 0 {
                            let (st, body) = s
                                .patch(
                                    &path,
                                    json!({"status": "resolved", "resolutionStatus": "completed"}),
                                )
                                .await;
                            assert_eq!(st, 200, "{body}");
                        }
                    } else if cr["status"] == "pending_verification" {
                        let concord = cr["concordId"].as_str().unwrap();
                        let (st, body) = s
                            .delete(&format!(
                                "{base}/identities/{concord}?includeComplianceRequests=true"
                            ))
                            .await;
                        assert_eq!(st, 200, "{body}");
                    }
                }
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }

    let project_path = s.project_path("/compliance-requests");
    let org_path = format!("/privacy-v1/organizations/{}/compliance-requests", s.org);
    let mut grand = 0;
    for path in [&project_path, &org_path] {
        let (counted, plain, seen) = three_ways(&s, path, "").await;
        assert_eq!((counted, plain), (seen, seen), "{path}");
        if path == &org_path {
            assert_eq!(seen, 8 * 3 * 10, "every request created is listed once");
        }
        for status in STATUSES {
            let q = format!("status={status}");
            let (counted, plain, seen) = three_ways(&s, path, &q).await;
            assert_eq!((counted, plain), (seen, seen), "{path}?{q}");
            if path == &org_path {
                grand += seen;
            }
            for request in REQUESTS {
                let q = format!("status={status}&request={request}");
                let (counted, plain, seen) = three_ways(&s, path, &q).await;
                assert_eq!((counted, plain), (seen, seen), "{path}?{q}");
            }
        }
        for q in [
            "status=submitted&status=resolved&request=view&request=change",
            "overdue=false",
            "overdue=false&status=submitted",
            "overdue=true",
        ] {
            let (counted, plain, seen) = three_ways(&s, path, q).await;
            assert_eq!((counted, plain), (seen, seen), "{path}?{q}");
        }
    }
    assert_eq!(grand, 240, "the statuses partition the requests");
    // The event lists, by project and event type, count from their own counters.
    let project_events = s.project_path("/compliance-requests-events");
    let org_events = format!(
        "/privacy-v1/organizations/{}/compliance-requests-events",
        s.org
    );
    for path in [&project_events, &org_events] {
        for q in [
            "",
            "event=created",
            "event=status_changed",
            "event=created&event=status_changed&event=verification_sent",
        ] {
            let (counted, plain, seen) = three_ways(&s, path, q).await;
            assert_eq!((counted, plain), (seen, seen), "{path}?{q}");
            assert!(q != "event=created" || path != &org_events || seen == 240);
        }
    }
    let q = format!("projectIds={second}");
    let (counted, plain, seen) = three_ways(&s, &org_path, &q).await;
    assert_eq!(
        (counted, plain),
        (seen, seen),
        "one project of the organization"
    );
    assert!(seen > 0 && seen < 240);

    // On PostgreSQL the counters of ended database sessions are folded together from time
    // to time; totals are unchanged by it.
    if b == accord_store::Backend::Postgres {
        sqlx::query("SELECT compliance_request_counts_fold()")
            .execute(&s.store.db.write)
            .await
            .unwrap();
        let (counted, _, seen) = three_ways(&s, &org_path, "status=submitted").await;
        assert_eq!(counted, seen);
    }

    // Deleting the organization deletes its requests, and its counts with them.
    let (status, body) = s
        .delete(&format!("/privacy-v1/organizations/{}", s.org))
        .await;
    assert_eq!(status, 200, "{body}");
    for table in [
        "compliance_request_counts",
        "compliance_request_due_counts",
        "compliance_request_event_counts",
    ] {
        let left: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM {table}"
        ))
        .fetch_one(&s.store.db.read)
        .await
        .unwrap();
        assert_eq!(left, 0, "{table}");
    }
}

async fn page_and_total_come_from_one_snapshot(b: accord_store::Backend) {
    let s = std::sync::Arc::new(start(b).await);
    let path = s.project_path("/compliance-requests");
    let writer = {
        let s = s.clone();
        tokio::spawn(async move {
            for i in 0..90 {
                s.create_request(json!({
                    "request": "view",
                    "userEmail": format!("snap{i}@example.com"),
                    "preverified": true,
                }))
                .await;
            }
        })
    };
    // While the writer adds requests, every page that can hold all of them holds exactly
    // as many as its total says, on the counted view and on a counted-by-scan view.
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        for query in [
            "limit=100",
            "limit=100&status=submitted",
            "limit=100&userEmail=snap",
        ] {
            let (status, list) = s.get(&format!("{path}?{query}")).await;
            assert_eq!(status, 200, "{list}");
            let items = list["items"].as_array().unwrap().len() as i64;
            assert_eq!(items, total(&list), "{query}: {list}");
        }
        reads += 1;
    }
    writer.await.unwrap();
    let (_, list) = s.get(&format!("{path}?limit=100")).await;
    assert_eq!(total(&list), 90);
}

/// `overdue` totals come from open requests counted per day of their due date plus today's
/// requests due before now: with due dates moved to a year ago, yesterday, earlier today,
/// later today and tomorrow, some requests resolved, one extended and one erased, every
/// counted total equals a plain count and the items listed, as the clock moves on.
async fn overdue_totals_equal_plain_counts(b: accord_store::Backend) {
    const DAY: i64 = 86_400_000;
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let batch: Vec<Value> = (0..24usize)
        .map(|i| {
            json!({
                "request": REQUESTS[i % 4],
                "userEmail": format!("due{i}@example.com"),
                "preverified": i % 6 != 0,
            })
        })
        .collect();
    let (status, created) = s.post(&path, json!(batch)).await;
    assert_eq!(status, 201, "{created}");
    let items = created["items"].as_array().unwrap().clone();
    let now = accord_core::time::now_ms();
    let today = now.div_euclid(DAY) * DAY;
    // Due a year ago, yesterday, at the start of today, a second ago, in a minute,
    // tomorrow (the first or last two may fall on another day than named: the totals are
    // compared with plain counts, whatever the day).
    let dues = [
        now - 365 * DAY,
        today - 1,
        today,
        now - 1_000,
        now + 60_000,
        now + DAY,
    ];
    for (i, cr) in items.iter().enumerate() {
        let id = cr["id"].as_str().unwrap();
        let due = dues[i % dues.len()];
        let sql = format!("UPDATE compliance_requests SET due_date = {due} WHERE id = '{id}'");
        sqlx::query(&sql).execute(&s.store.db.write).await.unwrap();
    }
    for (i, cr) in items.iter().enumerate() {
        let one = format!("{path}/{}", cr["id"].as_str().unwrap());
        if cr["status"] == "submitted" && i % 4 == 1 {
            let (st, body) = s.patch(&one, json!({"status": "acknowledged"})).await;
            assert_eq!(st, 200, "{body}");
            let (st, body) = s
                .patch(
                    &one,
                    json!({"status": "resolved", "resolutionStatus": "completed"}),
                )
                .await;
            assert_eq!(st, 200, "{body}");
        } else if cr["status"] == "submitted" && i % 4 == 2 {
            let (st, body) = s.patch(&one, json!({"extendDueDate": true})).await;
            assert_eq!(st, 200, "{body}");
        }
    }
    let erased = items
        .iter()
        .find(|cr| cr["status"] == "pending_verification")
        .unwrap();
    let (st, body) = s
        .delete(&s.project_path(&format!(
            "/identities/{}?includeComplianceRequests=true",
            erased["concordId"].as_str().unwrap()
        )))
        .await;
    assert_eq!(st, 200, "{body}");

    let org_path = format!("/privacy-v1/organizations/{}/compliance-requests", s.org);
    let mut overdue_seen = 0;
    for list in [&path, &org_path] {
        for query in [
            "overdue=true",
            "overdue=false",
            "overdue=true&status=submitted",
            "overdue=true&status=resolved",
            "overdue=false&status=resolved",
            "overdue=true&request=view&request=delete",
            "overdue=false&status=submitted&status=acknowledged&request=change",
        ] {
            let (counted, plain, seen) = three_ways(&s, list, query).await;
            assert_eq!((counted, plain), (seen, seen), "{list}?{query}");
            if list == &path && query == "overdue=true" {
                overdue_seen = seen;
            }
        }
        let (all, _, _) = three_ways(&s, list, "").await;
        let (yes, _, _) = three_ways(&s, list, "overdue=true").await;
        let (no, _, _) = three_ways(&s, list, "overdue=false").await;
        assert_eq!(yes + no, all, "{list}: overdue partitions the requests");
    }
    assert!(overdue_seen > 0, "some requests are overdue");

    // A minute later the requests due in a minute are overdue too: the total follows the
    // clock, not the moment of the write.
    let sql = format!(
        "UPDATE compliance_requests SET due_date = due_date - 120000 WHERE due_date = {}",
        dues[4]
    );
    sqlx::query(&sql).execute(&s.store.db.write).await.unwrap();
    let (counted, plain, seen) = three_ways(&s, &path, "overdue=true").await;
    assert_eq!((counted, plain), (seen, seen));
    assert!(
        seen > overdue_seen,
        "{seen} after moving due dates, {overdue_seen} before"
    );
    if b == accord_store::Backend::Postgres {
        sqlx::query("SELECT compliance_request_counts_fold()")
            .execute(&s.store.db.write)
            .await
            .unwrap();
        let (counted, _, after) = three_ways(&s, &path, "overdue=true").await;
        assert_eq!((counted, after), (seen, seen), "after the fold");
    }
}

/// The store's count of a filter (the console inbox's counts per status) equals the total
/// of the same list, for counter-backed views, overdue, contradictory and searched ones.
async fn counts_alone_equal_list_totals(b: accord_store::Backend) {
    use accord_core::compliance::RequestFilter;
    use accord_core::query::Page;
    let s = start(b).await;
    for i in 0..6 {
        s.create_request(json!({
            "request": REQUESTS[i % 4],
            "userEmail": format!("count{i}@example.com"),
            "preverified": i % 3 != 0,
        }))
        .await;
    }
    let base = RequestFilter {
        organization_id: s.org,
        project_ids: vec![s.project],
        now: accord_core::time::now_ms() + 400 * 86_400_000,
        ..RequestFilter::default()
    };
    let page = Page {
        offset: 0,
        limit: 1,
        sort: "dateCreated".into(),
        desc: true,
    };
    let filters = [
        base.clone(),
        RequestFilter {
            status: vec!["submitted".into()],
            ..base.clone()
        },
        RequestFilter {
            status: vec!["resolved".into()],
            overdue: Some(true),
            ..base.clone()
        },
        RequestFilter {
            status: vec!["submitted".into()],
            overdue: Some(true),
            ..base.clone()
        },
        RequestFilter {
            text: Some("count1".into()),
            ..base.clone()
        },
        RequestFilter {
            user_email: Some("count2@example.com".into()),
            ..base.clone()
        },
    ];
    let mut nonzero = 0;
    for f in &filters {
        let (total, _) = s.store.list_compliance_requests(f, &page).await.unwrap();
        let n = s.store.count_compliance_requests(f).await.unwrap();
        assert_eq!(n, total, "{f:?}");
        nonzero += usize::from(n > 0);
    }
    assert_eq!(nonzero, 5, "only the resolved-and-overdue view is empty");
}

/// SQLite's migration 18 rebuilds the counter tables as WITHOUT ROWID tables: every counter
/// row of a database at migration 17 is still there afterwards, and the triggers that keep
/// them are back, so a new request is counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_counter_tables_keep_their_rows_and_triggers() {
    use accord_store::{Backend, SqlStore};
    use sqlx::Executor;
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(Backend::Sqlite, dir.path()).await;
    let store = SqlStore::connect(&url).await.unwrap();
    store.db.migrate_up_to(17).await.unwrap();
    let mut conn = store.db.write.acquire().await.unwrap();
    for sql in [
        "INSERT INTO compliance_request_counts VALUES ('p1', 'submitted', 'view', 0, 7)",
        "INSERT INTO compliance_request_counts VALUES ('p1', 'resolved', 'delete', 0, 3)",
        "INSERT INTO compliance_request_due_counts VALUES ('p1', 20000, 'submitted', 'view', 0, 5)",
        "INSERT INTO compliance_request_event_counts VALUES ('p1', 'created', 0, 10)",
    ] {
        conn.execute(sql).await.unwrap();
    }
    drop(conn);
    // Each table as one text, rows in key order.
    let reads = [
        "SELECT group_concat(project_id || ' ' || status || ' ' || request || ' ' || slot || ' ' || n, '; ') FROM (SELECT * FROM compliance_request_counts ORDER BY 1, 2, 3)",
        "SELECT group_concat(project_id || ' ' || due_day || ' ' || status || ' ' || request || ' ' || n, '; ') FROM (SELECT * FROM compliance_request_due_counts ORDER BY 1, 2, 3, 4)",
        "SELECT group_concat(project_id || ' ' || event || ' ' || n, '; ') FROM (SELECT * FROM compliance_request_event_counts ORDER BY 1, 2)",
        "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name)",
        "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'compliance_request%counts' AND sql LIKE '%WITHOUT ROWID' ORDER BY name)",
    ];
    let read = |sql: &'static str| {
        let pool = store.db.write.clone();
        async move {
            let (text,): (Option<String>,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
            text.unwrap_or_default()
        }
    };
    let mut before = Vec::new();
    for sql in reads {
        before.push(read(sql).await);
    }
    assert_eq!(before[0], "p1 resolved delete 0 3; p1 submitted view 0 7");
    assert_eq!(before[3].split(' ').count(), 12, "{}", before[3]);
    assert_eq!(before[4], "");
    assert_eq!(store.db.migrate_up_to(18).await.unwrap(), 1);
    for (sql, was) in reads.iter().zip(&before).take(4) {
        assert_eq!(&read(sql).await, was, "{sql}");
    }
    assert_eq!(
        read(reads[4]).await,
        "compliance_request_counts compliance_request_due_counts compliance_request_event_counts"
    );
    store.db.close().await;

    // A server over the migrated database counts what it writes.
    let s = start_on(Backend::Sqlite, dir, url).await;
    let path = s.project_path("/compliance-requests");
    for i in 0..3 {
        let (status, body) = s
            .post(
                &path,
                json!({"request": "view", "userEmail": format!("k{i}@example.com"), "preverified": true}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let counts = three_ways(&s, &path, "status=submitted&request=view").await;
    assert_eq!(counts, (3, 3, 3));
}

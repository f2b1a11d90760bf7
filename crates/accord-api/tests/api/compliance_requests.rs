//! §3: creating, listing, reading and PATCHing compliance requests, their events, due dates
//! and who may do what.
use crate::both;
use crate::common::*;
use accord_core::auth::Role;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    seed_example_creates_a_schema_valid_request,
    preverified_request_is_submitted,
    array_create_is_all_or_nothing,
    identity_is_resolved_and_reused,
    create_validation_messages,
    create_media_type_and_size,
    transitions_follow_the_status_machine,
    patch_rules_by_state,
    resolution_and_notes_events,
    reopen_and_verify_need_admin,
    due_dates_and_overdue,
    lists_filter_sort_and_page,
    substring_search_pages_and_totals,
    searches_follow_changed_text_only,
    repeated_lists_read_fresh_rows,
    date_ranges_keep_every_sort_order,
    list_query_validation,
    organization_list_and_project_scope,
    cross_organization_access_is_forbidden,
    viewer_cannot_write,
    event_lists,
    archived_project_rejects_creates,
    unknown_concord_id_is_422,
    concurrent_creates_share_one_identity,
    concurrent_creates_fail_alone,
    a_create_that_panics_writes_nothing,
);

fn events_of(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

async fn events_for(s: &Server, id: &str) -> Vec<String> {
    let (_, list) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&order=asc"
        )))
        .await;
    events_of(&list)
}

fn request_schema() -> Value {
    accord_api::openapi::compliance_request_schema()
}

async fn seed_example_creates_a_schema_valid_request(b: accord_store::Backend) {
    let s = start(b).await;
    // The request body of the reference page (002), every documented field.
    let body = json!({
        "captureUrl": "https://www.example.com/privacy",
        "domain": "example.com",
        "notes": "Called support first",
        "preverified": false,
        "projectUserId": "p-1",
        "request": "change",
        "requestDetails": {"field": "address", "value": "1 Main St"},
        "userEmail": "user@example.com",
        "userFirstName": "Jane",
        "userId": "u-1",
        "userLastName": "Doe",
        "userPhoneNumber": "+1 (555) 010-1234"
    });
    let cr = s.create_request(body).await;
    check_schema(&request_schema(), &cr, "response").unwrap();
    assert_eq!(cr["status"], "pending_verification");
    assert_eq!(
        cr["requestDetails"],
        "{\"field\":\"address\",\"value\":\"1 Main St\"}"
    );
    assert_eq!(
        cr["user"],
        json!({"email": "user@example.com", "firstName": "Jane", "lastName": "Doe", "phoneNumber": "+1 (555) 010-1234"})
    );
    assert_eq!(cr["domain"], "example.com");
    assert_eq!(cr["organization"], s.org.to_string());
    assert_eq!(cr["project"], s.project.to_string());
    assert_eq!(cr["dataSystemTasks"], json!([]));
    assert_eq!(cr["files"], json!([]));
    assert!(cr.get("dueDate").is_none(), "deadline only on request");
    assert!(cr.get("verifiedDate").is_none());
    assert_eq!(cr["requestDate"], cr["dateCreated"]);
    // A string requestDetails is returned as is; the domain defaults to the capture URL host.
    let cr = s.create_request(json!({"request": "view", "userEmail": "a@example.com", "requestDetails": "plain text", "captureUrl": "https://shop.example.org/x"})).await;
    assert_eq!(cr["requestDetails"], "plain text");
    assert_eq!(cr["domain"], "shop.example.org");
    // `created` is written with the request; the verification message follows on its own.
    let events = events_for(&s, cr["id"].as_str().unwrap()).await;
    assert_eq!(events[0], "created");
    assert!(
        events[1..].iter().all(|e| e == "verification_sent"),
        "{events:?}"
    );
    let (_, list) = s
        .get(&s.project_path("/compliance-requests-events?event=created&limit=1"))
        .await;
    assert_eq!(list["items"][0]["details"]["source"], "privacy-v1");
}

async fn preverified_request_is_submitted(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s
        .create_request(json!({"request": "do_not_sell", "userId": "u-9", "preverified": true}))
        .await;
    assert_eq!(cr["status"], "submitted");
    assert_eq!(cr["verifiedDate"], cr["requestDate"]);
    let id = cr["id"].as_str().unwrap();
    assert_eq!(events_for(&s, id).await, ["created", "verified"]);
    let (_, list) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&event=verified"
        )))
        .await;
    assert_eq!(
        list["items"][0]["details"],
        json!({"method": "preverified"})
    );
}

async fn array_create_is_all_or_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let (status, body) = s.post(&path, json!([{"request": "view", "userEmail": "a@example.com"}, {"request": "delete", "userId": "x"}])).await;
    assert_eq!(status, 201);
    assert_eq!(body["count"], 2);
    assert_eq!(body["items"][0]["request"], "view");
    assert_eq!(body["items"][1]["request"], "delete");
    let got = s.post(&path, json!([{"request": "view", "userEmail": "b@example.com"}, {"request": "view", "userEmail": "not-an-email"}])).await;
    assert_error(&got, 400, "body/1/userEmail must match format \"email\"");
    let missing = Uuid::new_v4();
    let got = s.post(&path, json!([{"request": "view", "userEmail": "c@example.com"}, {"request": "view", "concordId": missing}])).await;
    assert_error(&got, 422, "concordId not found in this project");
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 2, "nothing of the failed calls was stored");
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"request": "view", "userId": format!("u{i}")}))
        .collect();
    assert_error(
        &s.post(&path, Value::Array(many)).await,
        400,
        "body must NOT have more than 100 items",
    );
    assert_error(
        &s.post(&path, json!([])).await,
        400,
        "body must NOT have fewer than 1 items",
    );
}

async fn identity_is_resolved_and_reused(b: accord_store::Backend) {
    let s = start(b).await;
    let a = s
        .create_request(json!({"request": "view", "userEmail": "Same@Example.com"}))
        .await;
    let b2 = s.create_request(json!({"request": "delete", "userEmail": "same@example.com", "userPhoneNumber": "+1 555 0100"})).await;
    assert_eq!(a["concordId"], b2["concordId"]);
    // The phone was added to that identity, so a phone-only request finds it.
    let c = s
        .create_request(json!({"request": "view", "userPhoneNumber": "+1-555-0100"}))
        .await;
    assert_eq!(c["concordId"], a["concordId"]);
    let d = s
        .create_request(json!({"request": "view", "concordId": a["concordId"]}))
        .await;
    assert_eq!(d["concordId"], a["concordId"]);
    assert_eq!(
        d["user"],
        json!({}),
        "user stores exactly what was submitted"
    );
    let other = s
        .create_request(json!({"request": "view", "userEmail": "other@example.com"}))
        .await;
    assert_ne!(other["concordId"], a["concordId"]);
}

async fn concurrent_creates_share_one_identity(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let calls = (0..16).map(|_| {
        s.post(
            &path,
            json!({"request": "view", "userEmail": "race@example.com"}),
        )
    });
    let results = futures::future::join_all(calls).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 201, "{body}");
            body["concordId"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one identity for one email");
}

async fn create_validation_messages(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let cases = [
        (json!({"userEmail": "a@example.com"}), "body must have required property 'request'"),
        (json!({"request": "erase", "userEmail": "a@example.com"}), "body/request must be equal to one of the allowed values: change, delete, view, do_not_sell"),
        (json!({"request": "view"}), "body must have at least one of the properties: concordId, userEmail, userPhoneNumber, projectUserId, userId"),
        (json!({"request": "view", "userEmail": "a@example.com", "foo": 1}), "body must NOT have additional properties: 'foo'"),
        (json!({"request": "view", "userEmail": null}), "body/userEmail must be string"),
        (json!({"request": "view", "userEmail": "a@example.com", "preverified": "yes"}), "body/preverified must be boolean"),
        (json!({"request": "view", "userEmail": "a@example.com", "notes": "n".repeat(2049)}), "body/notes must NOT have more than 2048 characters"),
        (json!({"request": "view", "userEmail": "a@example.com", "domain": "d".repeat(257)}), "body/domain must NOT have more than 256 characters"),
        (json!({"request": "view", "concordId": "123"}), "body/concordId must match format \"uuid\""),
        (json!({"request": "view", "userEmail": "a@example.com", "requestDetails": null}), "body/requestDetails must be array, boolean, number, object or string"),
        (json!({"request": "view", "userEmail": "a@example.com", "requestDetails": "x".repeat(65537)}), "body/requestDetails must NOT have more than 65536 characters"),
        (json!({"request": "view", "userId": "u".repeat(257)}), "body/userId must NOT have more than 256 characters"),
        (json!("text"), "body must be object or array"),
    ];
    for (body, message) in cases {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    let bad_json = s
        .req(Method::POST, &path)
        .header("content-type", "application/json")
        .body("{\"request\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    assert_eq!(
        bad_json.json::<Value>().await.unwrap()["message"],
        "body must be valid JSON"
    );
    // A code-point count, not bytes: 2048 multi-byte characters fit.
    let cr = s
        .create_request(
            json!({"request": "view", "userEmail": "a@example.com", "notes": "é".repeat(2048)}),
        )
        .await;
    assert_eq!(cr["notes"].as_str().unwrap().chars().count(), 2048);
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 1);
}

async fn create_media_type_and_size(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let got = send(
        s.req(Method::POST, &path)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_error(&got, 415, "Content-Type must be application/json");
    let got = send(
        s.req(Method::POST, &path)
            .header("content-type", "application/json; charset=utf-8")
            .body(r#"{"request":"view","userId":"u"}"#),
    )
    .await;
    assert_eq!(got.0, 201);
    // Declared too large: answered from the headers, before any byte of the body is read.
    // (A raw connection, so the test does not race the server closing an unread upload.)
    let got = raw_post(&s, &path, "content-length: 16777217\r\n", b"").await;
    assert_error(&got, 413, "body exceeds the maximum size of 16777216 bytes");
    // Streamed without a length: cut off once the limit is passed.
    let mut chunk = format!("{:x}\r\n", 16 * 1024 * 1024 + 1).into_bytes();
    chunk.extend(std::iter::repeat_n(b'x', 16 * 1024 * 1024 + 1));
    chunk.extend(b"\r\n0\r\n\r\n");
    let got = raw_post(&s, &path, "transfer-encoding: chunked\r\n", &chunk).await;
    assert_error(&got, 413, "body exceeds the maximum size of 16777216 bytes");
    // Within the size limit, but dense: more JSON values than a body may parse into.
    let dense = format!(
        r#"{{"request":"view","userId":"dense","requestDetails":[{}0]}}"#,
        "0,".repeat(1 << 20)
    );
    let got = send(
        s.req(Method::POST, &path)
            .header("content-type", "application/json")
            .body(dense),
    )
    .await;
    assert_error(&got, 413, "body exceeds the maximum of 1048576 JSON values");
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 1, "only the first request is stored");
}

async fn transitions_follow_the_status_machine(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s
        // No email or phone: no verification message, so the event list is only the PATCHes'.
        .create_request(json!({"request": "view", "userId": "t-1"}))
        .await;
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        cr["id"].as_str().unwrap()
    ));
    assert_error(
        &s.patch(&path, json!({"status": "acknowledged"})).await,
        422,
        "illegal status transition from pending_verification to acknowledged",
    );
    assert_error(
        &s.patch(&path, json!({"status": "resolved"})).await,
        422,
        "illegal status transition from pending_verification to resolved",
    );
    let (status, same) = s
        .patch(&path, json!({"status": "pending_verification"}))
        .await;
    assert_eq!(
        (status, &same["dateUpdated"]),
        (200, &cr["dateUpdated"]),
        "patching the current status is a no-op"
    );
    let (status, v) = s.patch(&path, json!({"status": "submitted"})).await;
    assert_eq!(status, 200);
    assert_eq!(v["status"], "submitted");
    assert!(v["verifiedDate"].is_i64());
    assert_error(
        &s.patch(&path, json!({"status": "pending_verification"}))
            .await,
        422,
        "illegal status transition from submitted to pending_verification",
    );
    let (_, a) = s.patch(&path, json!({"status": "acknowledged"})).await;
    assert_eq!(a["status"], "acknowledged");
    assert!(a["acknowledgedDate"].is_i64());
    assert_error(
        &s.patch(&path, json!({"status": "submitted"})).await,
        422,
        "illegal status transition from acknowledged to submitted",
    );
    let (status, r) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolutionStatus": "no_records_found"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["resolutionStatus"], "no_records_found");
    assert!(accord_core::time::parse_rfc3339(r["resolvedDate"].as_str().unwrap()).is_some());
    assert!(r["resolvedDate"].as_str().unwrap().ends_with('Z'));
    assert_error(
        &s.patch(&path, json!({"status": "submitted"})).await,
        422,
        "illegal status transition from resolved to submitted",
    );
    let (_, o) = s.patch(&path, json!({"status": "acknowledged"})).await;
    assert_eq!(o["status"], "acknowledged");
    assert!(o.get("resolvedDate").is_none() && o.get("resolutionStatus").is_none());
    assert_eq!(
        o["acknowledgedDate"], a["acknowledgedDate"],
        "kept when already set"
    );
    assert_eq!(
        events_for(&s, cr["id"].as_str().unwrap()).await,
        [
            "created",
            "status_changed",
            "verified",
            "status_changed",
            "acknowledged",
            "resolution_updated",
            "status_changed",
            "resolved",
            "status_changed",
            "reopened"
        ]
    );
    // Submitted can go straight to resolved.
    let direct = s.submitted_request().await;
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        direct["id"].as_str().unwrap()
    ));
    let (status, _) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolutionStatus": "denied"}),
        )
        .await;
    assert_eq!(status, 200);
}

async fn patch_rules_by_state(b: accord_store::Backend) {
    let s = start(b).await;
    let pending = s
        .create_request(json!({"request": "view", "userEmail": "p@example.com"}))
        .await;
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        pending["id"].as_str().unwrap()
    ));
    for body in [
        json!({"notes": "x"}),
        json!({"resolution": "x"}),
        json!({"extendDueDate": true}),
        json!({"status": "submitted", "notes": "x"}),
    ] {
        assert_error(
            &s.patch(&path, body).await,
            422,
            "compliance request must be verified before it can be edited",
        );
    }
    assert_error(
        &s.patch(&path, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&path, json!({"extendDueDate": false})).await,
        400,
        "body/extendDueDate must be equal to constant",
    );
    assert_error(&s.patch(&path, json!({"status": "done"})).await, 400, "body/status must be equal to one of the allowed values: pending_verification, submitted, acknowledged, resolved");
    assert_error(
        &s.patch(&path, json!({"dataSystemTasks": []})).await,
        400,
        "body/dataSystemTasks must NOT have fewer than 1 items",
    );
    assert_error(
        &s.patch(&path, json!({"dataSystemTasks": [{"completed": true}]}))
            .await,
        400,
        "body/dataSystemTasks/0 must have required property 'dataSystem'",
    );
    let missing = s.project_path(&format!("/compliance-requests/{}", Uuid::new_v4()));
    assert_error(
        &s.patch(&missing, json!({"notes": "x"})).await,
        404,
        "Not Found",
    );

    let done = s.submitted_request().await;
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        done["id"].as_str().unwrap()
    ));
    let task = Uuid::new_v4();
    assert_error(
        &s.patch(
            &path,
            json!({"dataSystemTasks": [{"dataSystem": task, "completed": true}]}),
        )
        .await,
        422,
        "dataSystemTasks/0/dataSystem is not a task of this compliance request",
    );
    assert_error(
        &s.patch(&path, json!({"status": "resolved"})).await,
        422,
        "resolutionStatus is required to resolve a compliance request",
    );
    let (_, r) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolution": "All data deleted"}),
        )
        .await;
    assert_eq!(
        r["resolutionStatus"], "completed",
        "defaults to completed with a resolution text"
    );
    for body in [
        json!({"resolution": "y"}),
        json!({"resolutionStatus": "denied"}),
        json!({"extendDueDate": true}),
    ] {
        assert_error(
            &s.patch(&path, body).await,
            422,
            "compliance request is resolved; reopen it before editing",
        );
    }
    let (status, n) = s.patch(&path, json!({"notes": "closed by phone"})).await;
    assert_eq!(
        (status, n["notes"].as_str()),
        (200, Some("closed by phone"))
    );
    let (_, ev) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={}&event=resolved",
            done["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(
        ev["items"][0]["details"],
        json!({"resolutionStatus": "completed", "notified": true}),
        "the subject has an email address, so the resolution is sent"
    );
}

async fn resolution_and_notes_events(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let path = s.project_path(&format!("/compliance-requests/{id}"));
    let (_, a) = s.patch(&path, json!({"notes": "first", "resolution": "draft", "resolutionStatus": "partially_completed"})).await;
    assert!(a["dateUpdated"].as_i64() >= cr["dateUpdated"].as_i64());
    // Nothing changes: no event and no dateUpdated change.
    let (status, same) = s
        .patch(&path, json!({"notes": "first", "resolution": "draft"}))
        .await;
    assert_eq!((status, &same["dateUpdated"]), (200, &a["dateUpdated"]));
    let (_, cleared) = s.patch(&path, json!({"notes": ""})).await;
    assert!(
        cleared.get("notes").is_none(),
        "an empty string clears the field"
    );
    assert_eq!(
        events_for(&s, id).await,
        [
            "created",
            "verified",
            "notes_updated",
            "resolution_updated",
            "notes_updated"
        ]
    );
    let (_, ev) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&event=resolution_updated"
        )))
        .await;
    assert_eq!(
        ev["items"][0]["details"],
        json!({"fields": ["resolution", "resolutionStatus"]})
    );
    assert_eq!(
        ev["items"][0]["accountId"]
            .as_str()
            .map(accord_core::ids::is_uuid),
        Some(true)
    );
}

async fn reopen_and_verify_need_admin(b: accord_store::Backend) {
    let s = start(b).await;
    let limited = s.key_with(Role::Limited, vec![]).await;
    let pending = s
        .create_request(json!({"request": "view", "userId": "v-1"}))
        .await;
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        pending["id"].as_str().unwrap()
    ));
    assert_error(
        &send(
            s.req_as(&limited, Method::PATCH, &path)
                .json(&json!({"status": "submitted"})),
        )
        .await,
        403,
        "Forbidden",
    );
    let (_, list) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={}",
            pending["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(list["total"], 1, "a refused PATCH writes nothing");
    let done = s.submitted_request().await;
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        done["id"].as_str().unwrap()
    ));
    let got = send(
        s.req_as(&limited, Method::PATCH, &path)
            .json(&json!({"status": "resolved", "resolutionStatus": "completed"})),
    )
    .await;
    assert_eq!(got.0, 200, "limited may resolve");
    assert_error(
        &send(
            s.req_as(&limited, Method::PATCH, &path)
                .json(&json!({"status": "acknowledged"})),
        )
        .await,
        403,
        "Forbidden",
    );
    let (status, _) = s.patch(&path, json!({"status": "acknowledged"})).await;
    assert_eq!(status, 200, "owner may reopen");
}

async fn due_dates_and_overdue(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let path = s.project_path(&format!("/compliance-requests/{id}"));
    let (_, with) = s.get(&format!("{path}?include=deadline")).await;
    let day = 86_400_000i64;
    assert_eq!(
        with["dueDate"].as_i64().unwrap(),
        cr["requestDate"].as_i64().unwrap() + 30 * day
    );
    assert_eq!(with["dueDateExtended"], false);
    check_schema(&request_schema(), &with, "get").unwrap();
    assert_error(
        &s.get(&format!("{path}?include=secrets")).await,
        400,
        "querystring/include must be equal to one of the allowed values: deadline",
    );
    let (_, ext) = s
        .patch(
            &format!("{path}?include=deadline"),
            json!({"extendDueDate": true}),
        )
        .await;
    assert_eq!(
        ext["dueDate"].as_i64().unwrap(),
        cr["requestDate"].as_i64().unwrap() + 90 * day
    );
    assert_eq!(ext["dueDateExtended"], true);
    assert_error(
        &s.patch(&path, json!({"extendDueDate": true})).await,
        422,
        "due date has already been extended",
    );
    let (_, ev) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&event=due_date_extended"
        )))
        .await;
    assert_eq!(ev["items"][0]["details"]["to"], ext["dueDate"]);
    let (_, overdue) = s
        .get(&s.project_path("/compliance-requests?overdue=true"))
        .await;
    assert_eq!(overdue["total"], 0);
    let (_, not_overdue) = s
        .get(&s.project_path("/compliance-requests?overdue=false"))
        .await;
    assert_eq!(not_overdue["total"], 1);
    assert_error(
        &s.get(&s.project_path("/compliance-requests?overdue=maybe"))
            .await,
        400,
        "querystring/overdue must be boolean",
    );
}

async fn lists_filter_sort_and_page(b: accord_store::Backend) {
    let s = start(b).await;
    let base = s.project_path("/compliance-requests");
    let a = s.create_request(json!({"request": "view", "userEmail": "alice@example.com", "userFirstName": "Alice", "notes": "VIP customer", "captureUrl": "https://a.example.com/p"})).await;
    let b2 = s.create_request(json!({"request": "delete", "userEmail": "bob@example.com", "preverified": true, "requestDetails": {"reason": "moving_away"}})).await;
    let c = s
        .create_request(
            json!({"request": "do_not_sell", "userPhoneNumber": "555 0199", "preverified": true}),
        )
        .await;
    let ids = item_ids;
    let id = |v: &Value| v["id"].as_str().unwrap().to_string();
    let (_, all) = s.get(&base).await;
    assert_eq!(
        ids(&all),
        [id(&c), id(&b2), id(&a)],
        "newest first by default"
    );
    assert_eq!(
        (
            all["offset"].clone(),
            all["count"].clone(),
            all["total"].clone()
        ),
        (json!(0), json!(3), json!(3))
    );
    let (_, asc) = s.get(&format!("{base}?order=asc&limit=2&offset=1")).await;
    assert_eq!(ids(&asc), [id(&b2), id(&c)]);
    assert_eq!(
        (
            asc["offset"].clone(),
            asc["count"].clone(),
            asc["total"].clone()
        ),
        (json!(1), json!(2), json!(3))
    );
    let check = |q: &str, expect: Vec<String>| {
        let s = &s;
        let base = base.clone();
        let q = q.to_string();
        async move {
            let (status, v) = s.get(&format!("{base}?{q}")).await;
            assert_eq!(status, 200, "{q}: {v}");
            let mut got = ids(&v);
            got.sort();
            let mut expect = expect;
            expect.sort();
            assert_eq!(v["total"], json!(expect.len()), "{q}");
            assert_eq!(got, expect, "{q}");
        }
    };
    check("status=submitted", vec![id(&b2), id(&c)]).await;
    check(
        "status=submitted&status=pending_verification",
        vec![id(&a), id(&b2), id(&c)],
    )
    .await;
    check("status[]=pending_verification", vec![id(&a)]).await;
    check("request=delete&request=view", vec![id(&a), id(&b2)]).await;
    check("userEmail=ALICE", vec![id(&a)]).await;
    check("userEmail=%25", vec![]).await;
    check("text=alice", vec![id(&a)]).await;
    check("text=moving_away", vec![id(&b2)]).await;
    check("text=0199", vec![id(&c)]).await;
    check("text=al", vec![id(&a)]).await;
    check("text=e_c", vec![]).await;
    check("text=vIp%20Cust", vec![id(&a)]).await;
    check("notes=vip", vec![id(&a)]).await;
    check("requestDetails=MOVING", vec![id(&b2)]).await;
    check("domain=A.EXAMPLE.COM", vec![id(&a)]).await;
    // The substring filters again with a date range every request passes: SQLite then
    // tests an ASCII needle on the rows of the range rather than through its trigram
    // table, with the same rows as the answer.
    for (q, expect) in [
        ("userEmail=ALICE", vec![id(&a)]),
        ("userEmail=alice@example.com", vec![id(&a)]),
        ("userEmail=%25", vec![]),
        ("text=al", vec![id(&a)]),
        ("text=e_c", vec![]),
        ("text=vIp%20Cust", vec![id(&a)]),
        ("text=0199", vec![id(&c)]),
        ("notes=vip&text=alice", vec![id(&a)]),
        ("notes=vip&text=bob", vec![]),
        ("requestDetails=MOVING", vec![id(&b2)]),
    ] {
        // A one-sided range (SQLite's narrowing), then a bounded one (PostgreSQL's too).
        for range in [
            "&startDate=1970-01-01T00:00:00Z",
            "&startDate=1970-01-01T00:00:00Z&endDate=2999-01-01T00:00:00Z",
        ] {
            check(&format!("{q}{range}"), expect.clone()).await;
        }
    }
    let q = format!("complianceRequestId={}", id(&c));
    let (_, one) = s.get(&format!("{base}?{q}")).await;
    assert_eq!(ids(&one), [id(&c)]);
    let (_, by_concord) = s
        .get(&format!(
            "{base}?concordId={}",
            a["concordId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ids(&by_concord), [id(&a)]);
    let start = accord_core::time::to_rfc3339(b2["requestDate"].as_i64().unwrap());
    let end = accord_core::time::to_rfc3339(c["requestDate"].as_i64().unwrap() + 1);
    let (_, range) = s
        .get(&format!("{base}?startDate={start}&endDate={end}"))
        .await;
    assert!(ids(&range).contains(&id(&c)) && ids(&range).contains(&id(&b2)));
    let (_, by_status) = s.get(&format!("{base}?sort=status&order=asc")).await;
    let statuses: Vec<&str> = by_status["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses[0], "pending_verification");
    let (_, by_email) = s.get(&format!("{base}?sort=userEmail&order=desc")).await;
    assert_eq!(
        ids(&by_email).last().unwrap(),
        &id(&c),
        "missing values sort last in either direction"
    );
    let (_, by_email) = s.get(&format!("{base}?sort=userEmail&order=asc")).await;
    assert_eq!(ids(&by_email), [id(&a), id(&b2), id(&c)]);
    let (_, verified) = s.get(&format!("{base}?sort=verifiedDate&order=asc")).await;
    assert_eq!(ids(&verified).last().unwrap(), &id(&a));
    for item in all["items"].as_array().unwrap() {
        check_schema(&request_schema(), item, "list").unwrap();
    }
}

/// A list asked again answers from the rows as they are then, whatever the server reuses
/// between the two (the rendered statement of the same filters and page, the trigram a
/// search starts from). Every trigram of the needle's local part is then added to many
/// rows that do not match, and the search still finds every match and only those; creates
/// and a status change show in the next answer.
async fn repeated_lists_read_fresh_rows(b: accord_store::Backend) {
    let s = start(b).await;
    let base = s.project_path("/compliance-requests");
    let list = |q: String| {
        let (s, base) = (&s, &base);
        async move {
            let (status, v) = s.get(&format!("{base}?{q}")).await;
            assert_eq!(status, 200, "{q}: {v}");
            v
        }
    };
    let emails = |v: &Value| -> Vec<String> {
        let mut out: Vec<String> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["user"]["email"].as_str().unwrap_or("").to_lowercase())
            .collect();
        out.sort();
        out
    };
    let first = s
        .create_request(
            json!({"request": "view", "userEmail": "kim.rare@example.com", "preverified": true}),
        )
        .await;
    s.create_request(
        json!({"request": "delete", "userEmail": "lee@example.com", "preverified": true}),
    )
    .await;
    let search = "userEmail=kim.rare%40example.com&limit=50".to_string();
    let v = list(search.clone()).await;
    assert_eq!(v["total"], 1, "{v}");
    let v = list("status=submitted&limit=50".into()).await;
    assert_eq!(v["total"], 2, "{v}");
    // Every trigram of the needle's local part in more rows, none of them a match.
    let filler = ["kim", "im.", "m.r", ".ra", "rar", "are"];
    let bodies: Vec<Value> = (0..80)
        .map(|i| {
            let local = format!("z{}{i}", filler[i % filler.len()]);
            json!({"request": "view", "userEmail": format!("{local}@example.com"), "preverified": true})
        })
        .collect();
    let (status, v) = s.post(&base, Value::Array(bodies)).await;
    assert_eq!(status, 201, "{v}");
    s.create_request(
        json!({"request": "view", "userEmail": "KIM.RARE@example.com.au", "preverified": true}),
    )
    .await;
    let v = list(search.clone()).await;
    assert_eq!(v["total"], 2, "{v}");
    assert_eq!(
        emails(&v),
        ["kim.rare@example.com", "kim.rare@example.com.au"],
        "{v}"
    );
    // A page past the end still counts the matches.
    let v = list("userEmail=kim.rare%40example.com&limit=1&offset=5".into()).await;
    assert_eq!((v["total"].as_i64(), emails(&v).len()), (Some(2), 0), "{v}");
    // The same list before and after a transition.
    let v = list("status=submitted&limit=50".into()).await;
    assert_eq!(v["total"], 83, "{v}");
    let path = format!("{base}/{}", first["id"].as_str().unwrap());
    let (status, v) = s.patch(&path, json!({"status": "acknowledged"})).await;
    assert_eq!(status, 200, "{v}");
    let v = list("status=submitted&limit=50".into()).await;
    assert_eq!(v["total"], 82, "{v}");
    let v = list("status=acknowledged&limit=50".into()).await;
    assert_eq!(emails(&v), ["kim.rare@example.com"], "{v}");
    let v = list(format!("{search}&status=submitted")).await;
    assert_eq!(emails(&v), ["kim.rare@example.com.au"], "{v}");
}

/// What a request's substring filters find follows its searched text through changes: a
/// status change leaves it as it was, a note replaced is found by its new words only. On
/// SQLite a change that leaves the searched text as it was writes nothing to the trigram
/// index (its structure record, which every write of the index rewrites, stays the same),
/// and the index agrees with the table afterwards (FTS5's `integrity-check`).
async fn searches_follow_changed_text_only(b: accord_store::Backend) {
    let s = start(b).await;
    let base = s.project_path("/compliance-requests");
    let r = s
        .create_request(json!({"request": "view", "userEmail": "sam@example.com", "notes": "alpha customer", "preverified": true}))
        .await;
    let path = format!("{base}/{}", r["id"].as_str().unwrap());
    let found = |q: &'static str| {
        let (s, base) = (&s, &base);
        async move {
            let (status, v) = s.get(&format!("{base}?{q}")).await;
            assert_eq!(status, 200, "{q}: {v}");
            v["total"].as_i64().unwrap()
        }
    };
    let structure = || search_structure(&s);
    let before = structure().await;
    let (status, v) = s.patch(&path, json!({"status": "acknowledged"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        structure().await,
        before,
        "a status change wrote to the trigram index"
    );
    assert_eq!(found("notes=alpha").await, 1);
    assert_eq!(found("userEmail=sam@").await, 1);
    assert_eq!(found("status=acknowledged&text=alpha").await, 1);
    let (status, v) = s.patch(&path, json!({"notes": "bravo customer"})).await;
    assert_eq!(status, 200, "{v}");
    if b == accord_store::Backend::Sqlite {
        assert_ne!(structure().await, before, "new notes were not indexed");
    }
    assert_eq!(found("notes=alpha").await, 0);
    assert_eq!(found("text=alpha").await, 0);
    assert_eq!(found("notes=bravo").await, 1);
    assert_eq!(found("text=bravo").await, 1);
    assert_eq!(found("userEmail=sam@").await, 1);
    // A searched column from no value to one, and back: the index follows both.
    let (status, v) = s
        .patch(&path, json!({"status": "resolved", "resolutionStatus": "completed", "resolution": "charlie sent"}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(found("resolution=charlie").await, 1);
    let (status, v) = s.patch(&path, json!({"notes": ""})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(found("notes=bravo").await, 0);
    assert_eq!(found("text=bravo").await, 0);
    assert_eq!(found("resolution=charlie").await, 1);
    if b == accord_store::Backend::Sqlite {
        sqlx::query(
            "INSERT INTO compliance_requests_search (compliance_requests_search, rank) VALUES ('integrity-check', 1)",
        )
        .execute(&s.store.db.write)
        .await
        .expect("the trigram index agrees with the requests");
    }
}

/// A substring search (on SQLite: candidates from the trigram table, counted while they
/// are sorted) pages through exactly the matching requests of the listed projects in every
/// sort, with a `total` equal to their number on every page, past the end included.
async fn substring_search_pages_and_totals(b: accord_store::Backend) {
    let s = start(b).await;
    let second = second_project(&s).await;
    let base = s.project_path("/compliance-requests");
    let second_base = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests",
        s.org, second.id
    );
    let org_base = format!("/privacy-v1/organizations/{}/compliance-requests", s.org);
    // Which requests each needle finds, by id.
    let (mut by_text, mut by_email) = (Vec::new(), Vec::new());
    for i in 0..26 {
        let request = ["view", "delete"][i % 2];
        let mut body = json!({"request": request, "preverified": i % 5 != 0});
        // Every fourth request has no email (it sorts last by `userEmail`).
        if i % 4 == 3 {
            body["userId"] = json!(format!("user-{i}"));
        } else {
            body["userEmail"] = json!(format!(
                "p{i:02}.{}@example.com",
                ["okafor", "smith"][i % 2]
            ));
        }
        match i % 3 {
            0 => body["userLastName"] = json!("Okafor"),
            1 => body["notes"] = json!(format!("called back, see OKAFOR-{i}")),
            _ => body["userLastName"] = json!("Smith"),
        }
        let target = if i % 6 == 5 { &second_base } else { &base };
        let (status, v) = s.post(target, body.clone()).await;
        assert_eq!(status, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let in_first = target == &base;
        // `text` searches the email too.
        let okafor_email = i % 4 != 3 && i % 2 == 0;
        if i % 3 != 2 || okafor_email {
            by_text.push((id.clone(), in_first));
        }
        if okafor_email {
            by_email.push((id, in_first));
        }
    }
    // A bounded range that leaves out the four earliest and four latest requests: its
    // matches are tested on the range's rows rather than through the trigram index on
    // PostgreSQL, and the expected ones come from the same range without a needle.
    let (_, everything) = s.get(&format!("{org_base}?limit=100")).await;
    let mut dates: Vec<i64> = everything["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["requestDate"].as_i64().unwrap())
        .collect();
    dates.sort();
    let at = accord_core::time::to_rfc3339;
    let range = format!(
        "&startDate={}&endDate={}",
        at(dates[4]),
        at(dates[dates.len() - 4])
    );
    // A range with one end: on PostgreSQL the trigram indexes still find the matches.
    let since = format!("&startDate={}", at(dates[4]));
    for (path, first_only) in [(&base, true), (&org_base, false)] {
        for (needle, found) in [("text=okafor", &by_text), ("userEmail=okafor", &by_email)] {
            let wanted: Vec<&String> = found
                .iter()
                .filter(|(_, in_first)| *in_first || !first_only)
                .map(|(id, _)| id)
                .collect();
            for extra in ["", "&status=submitted", range.as_str(), since.as_str()] {
                for sort in [
                    "",
                    "&sort=userEmail&order=asc",
                    "&sort=userEmail&order=desc",
                    "&sort=requestDate&order=asc",
                ] {
                    // The order the server gives every request in this sort, narrowed to
                    // the wanted ones (and to submitted ones where the status is asked).
                    let (_, all) = s.get(&format!("{path}?limit=100{extra}{sort}")).await;
                    let expect: Vec<String> = item_ids(&all)
                        .into_iter()
                        .filter(|id| wanted.contains(&id))
                        .collect();
                    assert!(expect.len() >= 4, "{needle}{extra}{sort}: {expect:?}");
                    let mut got = Vec::new();
                    for offset in (0..=expect.len() + 4).step_by(4) {
                        let q = format!("{path}?{needle}{extra}{sort}&limit=4&offset={offset}");
                        let (status, v) = s.get(&q).await;
                        assert_eq!(status, 200, "{q}: {v}");
                        assert_eq!(v["total"], json!(expect.len()), "{q}");
                        assert_eq!(v["count"], json!(item_ids(&v).len()), "{q}");
                        got.extend(item_ids(&v));
                    }
                    assert_eq!(got, expect, "{path}?{needle}{extra}{sort}");
                }
            }
        }
    }
    // A needle nothing holds: no items and a total of 0, on the first page and past it.
    for offset in [0, 8] {
        let (_, none) = s.get(&format!("{base}?text=okafox&offset={offset}")).await;
        assert_eq!(
            (none["total"].clone(), none["count"].clone()),
            (json!(0), json!(0))
        );
    }
}

/// A list narrowed by a date range (on PostgreSQL read from the request-date index and
/// sorted on its own) pages in the same order as the whole list, in every sort.
async fn date_ranges_keep_every_sort_order(b: accord_store::Backend) {
    let s = start(b).await;
    let base = s.project_path("/compliance-requests");
    for i in 0..14 {
        let request = ["view", "delete", "do_not_sell"][i % 3];
        let mut body = json!({"request": request, "preverified": i % 4 != 0});
        if i % 5 != 4 {
            // Two requests share each address, so the id decides between them.
            body["userEmail"] = json!(format!(
                "{}@example.com",
                ["zed", "Amy", "bob", "amy"][i / 2 % 4]
            ));
        } else {
            body["userId"] = json!(format!("user-{i}"));
        }
        let (status, v) = s.post(&base, body).await;
        assert_eq!(status, 201, "{v}");
    }
    let (_, all) = s.get(&format!("{base}?limit=100")).await;
    let dates: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["requestDate"].as_i64().unwrap())
        .collect();
    let (first, last) = (*dates.iter().min().unwrap(), *dates.iter().max().unwrap());
    let at = accord_core::time::to_rfc3339;
    // (range, its first and last request date included): the whole span, each end open,
    // and one that leaves out the first and the last requests.
    let ranges = [
        (format!("startDate={}", at(first)), first, last),
        (format!("endDate={}", at(last + 1)), first, last),
        (
            "startDate=1970-01-01T00:00:00Z&endDate=2999-01-01T00:00:00Z".to_string(),
            first,
            last,
        ),
        (
            format!("startDate={}&endDate={}", at(first + 1), at(last)),
            first + 1,
            last - 1,
        ),
    ];
    let org_base = format!("/privacy-v1/organizations/{}/compliance-requests", s.org);
    for sort in [
        "",
        "&order=asc",
        "&sort=status&order=asc",
        "&sort=request&order=desc",
        "&sort=userEmail&order=asc",
        "&sort=userEmail&order=desc",
        "&sort=dueDate&order=asc",
        "&sort=requestDate&order=desc",
        "&sort=verifiedDate&order=asc",
        "&sort=dateUpdated",
    ] {
        for path in [&base, &org_base] {
            let (_, whole) = s.get(&format!("{path}?limit=100{sort}")).await;
            assert_eq!(whole["count"], json!(14), "{sort}");
            for (range, from, to) in &ranges {
                let expect: Vec<String> = whole["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|i| (*from..=*to).contains(&i["requestDate"].as_i64().unwrap()))
                    .map(|i| i["id"].as_str().unwrap().to_string())
                    .collect();
                let mut got = Vec::new();
                for offset in (0..16).step_by(5) {
                    let q = format!("{path}?{range}{sort}&limit=5&offset={offset}");
                    let (status, v) = s.get(&q).await;
                    assert_eq!(status, 200, "{q}: {v}");
                    assert_eq!(v["total"], json!(expect.len()), "{q}");
                    got.extend(item_ids(&v));
                }
                assert_eq!(got, expect, "{path}?{range}{sort}");
            }
        }
    }
}

async fn list_query_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let base = s.project_path("/compliance-requests");
    let cases = [
        ("limit=0", "querystring/limit must be >= 1"),
        ("limit=1001", "querystring/limit must be <= 1000"),
        ("limit=ten", "querystring/limit must be integer"),
        ("offset=-1", "querystring/offset must be >= 0"),
        ("order=up", "querystring/order must be equal to one of the allowed values: asc, desc"),
        ("sort=notes", "querystring/sort must be equal to one of the allowed values: dateCreated, dateUpdated, requestDate, verifiedDate, acknowledgedDate, resolvedDate, dueDate, status, request, userEmail"),
        ("status=open", "querystring/status must be equal to one of the allowed values: pending_verification, submitted, acknowledged, resolved"),
        ("startDate=2024-01-01", "querystring/startDate must match format \"date-time\""),
        ("startDate=2024-01-01T00:00:00", "querystring/startDate must match format \"date-time\""),
        ("complianceRequestId=abc", "querystring/complianceRequestId must match format \"uuid\""),
        ("startDate=2024-02-01T00:00:00Z&endDate=2024-01-01T00:00:00%2B02:00", "querystring/startDate must be before querystring/endDate"),
    ];
    for (q, message) in cases {
        assert_error(&s.get(&format!("{base}?{q}")).await, 400, message);
    }
    let long = "x".repeat(129);
    assert_error(
        &s.get(&format!("{base}?text={long}")).await,
        400,
        "querystring/text must NOT have more than 128 characters",
    );
    assert_eq!(
        s.get(&format!("{base}?unknownParam=1&limit=1000")).await.0,
        200
    );
}

async fn organization_list_and_project_scope(b: accord_store::Backend) {
    let s = start(b).await;
    let second = second_project(&s).await;
    s.create_request(json!({"request": "view", "userId": "one"}))
        .await;
    let path = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests",
        s.org, second.id
    );
    let (status, _) = s
        .post(&path, json!({"request": "view", "userId": "two"}))
        .await;
    assert_eq!(status, 201);
    let org_path = format!("/privacy-v1/organizations/{}/compliance-requests", s.org);
    let (_, all) = s.get(&org_path).await;
    assert_eq!(all["total"], 2);
    let (_, only) = s.get(&format!("{org_path}?projectIds={}", second.id)).await;
    assert_eq!(only["total"], 1);
    assert_eq!(only["items"][0]["project"], second.id.to_string());
    // A key that can read only the first project sees only it, and is refused the second.
    let scoped = s
        .key_with(Role::None, vec![(s.org, Some(s.project), Role::Viewer)])
        .await;
    let (_, mine) = send(s.req_as(&scoped, Method::GET, &org_path)).await;
    assert_eq!(mine["total"], 1);
    assert_error(
        &send(s.req_as(
            &scoped,
            Method::GET,
            &format!("{org_path}?projectIds={}", second.id),
        ))
        .await,
        403,
        "Forbidden",
    );
    assert_error(
        &send(s.req_as(&scoped, Method::GET, &path)).await,
        403,
        "Forbidden",
    );
    // An unknown project: 404 for an organization reader, 403 for a project-only key.
    let ghost = format!(
        "/privacy-v1/organizations/{}/projects/{}/compliance-requests",
        s.org,
        Uuid::new_v4()
    );
    assert_error(&s.get(&ghost).await, 404, "Not Found");
    assert_error(
        &send(s.req_as(&scoped, Method::GET, &ghost)).await,
        403,
        "Forbidden",
    );
    let (_, events) = s
        .get(&format!(
            "/privacy-v1/organizations/{}/compliance-requests-events",
            s.org
        ))
        .await;
    assert_eq!(events["total"], 2);
}

async fn cross_organization_access_is_forbidden(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let other = bootstrap_other(&s).await;
    let id = cr["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, s.project_path("/compliance-requests")),
        (
            Method::GET,
            s.project_path(&format!("/compliance-requests/{id}")),
        ),
        (
            Method::PATCH,
            s.project_path(&format!("/compliance-requests/{id}")),
        ),
        (Method::POST, s.project_path("/compliance-requests")),
        (Method::GET, s.project_path("/compliance-requests-events")),
        (
            Method::GET,
            format!("/privacy-v1/organizations/{}/compliance-requests", s.org),
        ),
        (
            Method::GET,
            format!(
                "/privacy-v1/organizations/{}/compliance-requests-events",
                s.org
            ),
        ),
        (
            Method::GET,
            format!(
                "/privacy-v1/organizations/{}/compliance-requests",
                Uuid::new_v4()
            ),
        ),
    ] {
        let got = send(
            s.req_as(&other, method.clone(), &path)
                .json(&json!({"notes": "x"})),
        )
        .await;
        assert_error(&got, 403, "Forbidden");
    }
    let (_, unchanged) = s
        .get(&s.project_path(&format!("/compliance-requests/{id}")))
        .await;
    assert!(unchanged.get("notes").is_none());
}

async fn bootstrap_other(s: &Server) -> String {
    let b = accord_core::store::bootstrap(s.store.as_ref(), "Other", "Other site", vec![], "other")
        .await
        .unwrap();
    b.secret
}

async fn viewer_cannot_write(b: accord_store::Backend) {
    let s = start(b).await;
    let viewer = s.key_with(Role::Viewer, vec![]).await;
    let path = s.project_path("/compliance-requests");
    assert_error(
        &send(
            s.req_as(&viewer, Method::POST, &path)
                .json(&json!({"request": "view", "userId": "u"})),
        )
        .await,
        403,
        "Forbidden",
    );
    let cr = s.submitted_request().await;
    let one = s.project_path(&format!(
        "/compliance-requests/{}",
        cr["id"].as_str().unwrap()
    ));
    assert_error(
        &send(
            s.req_as(&viewer, Method::PATCH, &one)
                .json(&json!({"notes": "x"})),
        )
        .await,
        403,
        "Forbidden",
    );
    assert_eq!(send(s.req_as(&viewer, Method::GET, &one)).await.0, 200);
    // 403 comes before body validation.
    assert_error(
        &send(
            s.req_as(&viewer, Method::POST, &path)
                .json(&json!({"bogus": true})),
        )
        .await,
        403,
        "Forbidden",
    );
    // A project permission overrides the organization role upwards.
    let promoted = s
        .key_with(Role::Viewer, vec![(s.org, Some(s.project), Role::Limited)])
        .await;
    assert_eq!(
        send(
            s.req_as(&promoted, Method::POST, &path)
                .json(&json!({"request": "view", "userId": "u"}))
        )
        .await
        .0,
        201
    );
}

async fn event_lists(b: accord_store::Backend) {
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let base = s.project_path("/compliance-requests-events");
    let (_, list) = s
        .get(&format!(
            "{base}?complianceRequestId={id}&sort=event&order=asc"
        ))
        .await;
    assert_eq!(events_of(&list), ["created", "verified"]);
    let first = &list["items"][0];
    assert_eq!(first["dateCreated"], first["dateUpdated"]);
    assert!(first["dateCreated"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["complianceRequestId"], id);
    assert_eq!(first["projectId"], s.project.to_string());
    let event_id = first["id"].as_str().unwrap();
    let (_, single) = s
        .get(&format!("{base}?complianceRequestEventId={event_id}"))
        .await;
    assert_eq!(single["total"], 1);
    let account = first["accountId"].as_str().unwrap();
    let (_, by_account) = s.get(&format!("{base}?accountId={account}")).await;
    assert_eq!(by_account["total"], 2);
    assert_error(
        &s.get(&format!("{base}?event=deleted")).await,
        400,
        &format!(
            "querystring/event must be equal to one of the allowed values: {}",
            accord_core::compliance::EVENT_NAMES.join(", ")
        ),
    );
    assert_error(
        &s.get(&format!("{base}?sort=status")).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, event",
    );
}

async fn archived_project_rejects_creates(b: accord_store::Backend) {
    let s = start(b).await;
    let mut p = s
        .store
        .get_project(s.org, s.project)
        .await
        .unwrap()
        .unwrap();
    p.status = "archived".into();
    s.store.update_project(&p).await.unwrap();
    assert_error(
        &s.post(
            &s.project_path("/compliance-requests"),
            json!({"request": "view", "userId": "u"}),
        )
        .await,
        422,
        "project is archived",
    );
}

async fn unknown_concord_id_is_422(b: accord_store::Backend) {
    let s = start(b).await;
    let got = s
        .post(
            &s.project_path("/compliance-requests"),
            json!({"request": "view", "concordId": Uuid::new_v4()}),
        )
        .await;
    assert_error(&got, 422, "concordId not found in this project");
    let (_, list) = s.get(&s.project_path("/compliance-requests")).await;
    assert_eq!(list["total"], 0);
}

/// POSTs with hand-written framing headers on a raw connection and reads the JSON answer.
async fn raw_post(s: &Server, path: &str, framing: &str, body: &[u8]) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = s.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nx-api-key: {}\r\ncontent-type: application/json\r\n{framing}connection: close\r\n\r\n",
        s.key
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let _ = conn.write_all(body).await;
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // The body may be chunked: take the JSON object inside.
    let start = json.find('{').unwrap_or(0);
    let end = json.rfind('}').map(|i| i + 1).unwrap_or(json.len());
    (
        status,
        serde_json::from_str(&json[start..end]).unwrap_or(Value::Null),
    )
}

/// Creates arriving together (SQLite writes them in one transaction; when one fails, that
/// transaction is rolled back and the others are written again without it, after a second
/// failure with a savepoint each): a create that fails after part of its rows is written
/// (its identity, two requests with their events, counters and search rows, one challenge,
/// then a second challenge with the first one's id) leaves none of them behind and answers
/// its error; every create around it is stored whole and answered.
async fn concurrent_creates_fail_alone(b: accord_store::Backend) {
    use accord_core::compliance::{self, Actor, CreateComplianceRequest, NewRequestContext};
    use accord_core::consent::Identifiers;
    use accord_core::lifecycle::start_verification;
    use accord_core::store::{ComplianceStore, CreateFacts, NewRequest, TenancyStore};
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let (status, body) = s
        .post(
            &path,
            json!({"request": "view", "userEmail": "first@example.com"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let project = s
        .store
        .get_project(s.org, s.project)
        .await
        .unwrap()
        .unwrap();
    let leaves_before = search_leaves_written(&s).await;
    let calls = (0..48).map(|i| {
        let store = s.store.clone();
        let project = project.clone();
        async move {
            let input: CreateComplianceRequest = serde_json::from_value(
                json!({"request": "delete", "userEmail": format!("c{i}@example.com")}),
            )
            .unwrap();
            let identities = vec![Identifiers::of_request(&input)];
            let fails = i % 3 == 1;
            let now = accord_core::time::now_ms();
            let (org, id, regulation) = (project.organization_id, project.id, project.regulation());
            let plan = Box::new(move |facts: CreateFacts| {
                let ctx = NewRequestContext {
                    organization_id: org,
                    project_id: id,
                    concord_id: facts.concord_ids[0],
                    tasks: facts.data_systems,
                    regulation: regulation.clone(),
                    now,
                    source: "privacy-v1",
                    session: None,
                };
                let (request, events) = compliance::new_request(&input, &ctx);
                let mut planned = vec![NewRequest {
                    request,
                    events,
                    challenge: None,
                    messages: vec![],
                }];
                if fails {
                    let started = start_verification(&mut planned[0].request, now).unwrap();
                    let (mut second, events) = compliance::new_request(&input, &ctx);
                    second.verification_request_id =
                        planned[0].request.verification_request_id.clone();
                    planned[0].challenge = Some(started.challenge.clone());
                    planned.push(NewRequest {
                        request: second,
                        events,
                        challenge: Some(started.challenge),
                        messages: vec![],
                    });
                }
                Ok(planned)
            });
            let actor = Actor { account_id: None };
            let result = store
                .create_compliance_requests(&project, identities, actor, now, plan)
                .await;
            (i, fails, result)
        }
    });
    let results = futures::future::join_all(calls.map(tokio::spawn)).await;
    let mut stored = 1;
    for r in results {
        let (i, fails, result) = r.unwrap();
        let email = format!("c{i}@example.com");
        let (status, list) = s.get(&format!("{path}?userEmail={email}")).await;
        assert_eq!(status, 200, "{list}");
        // A part of the address: a substring search (the trigram index on SQLite).
        let (status, found) = s.get(&format!("{path}?userEmail=c{i}@exam")).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["total"], list["total"], "c{i}@exam: {found}");
        let identities: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM identities WHERE email_lower = '{email}'"
        ))
        .fetch_one(&s.store.db.read)
        .await
        .unwrap();
        if fails {
            assert!(result.is_err(), "create {i} reused a challenge id");
            assert_eq!(list["total"], 0, "{email}: {list}");
            assert_eq!(identities, 0, "{email}: its identity was rolled back");
        } else {
            let created = result.unwrap_or_else(|e| panic!("create {i}: {e}"));
            assert_eq!(created.len(), 1);
            assert_eq!(list["total"], 1, "{email}: {list}");
            assert_eq!(list["items"][0]["id"], created[0].id.to_string());
            assert_eq!(identities, 1, "{email}");
            let (status, body) = s.get(&format!("{path}/{}", created[0].id)).await;
            assert_eq!(status, 200, "{body}");
            stored += 1;
        }
    }
    assert_eq!(stored, 33);
    let (status, list) = s.get(&format!("{path}?limit=100")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], stored, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), stored);
    // Counter-backed totals: the failed creates' counter rows were rolled back with them.
    for (query, total) in [
        ("request=delete", stored - 1),
        ("status=pending_verification", stored),
        ("status=pending_verification&request=delete", stored - 1),
    ] {
        let (status, list) = s.get(&format!("{path}?{query}&limit=1")).await;
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["total"], total, "{query}: {list}");
    }
    let events_path = s.project_path("/compliance-requests-events");
    let (status, events) = s.get(&format!("{events_path}?event=created&limit=1")).await;
    assert_eq!(status, 200, "{events}");
    assert_eq!(
        events["total"], stored,
        "one `created` event per stored request"
    );
    if b == accord_store::Backend::Sqlite {
        let (batches, creates) = s.store.create_batches();
        assert_eq!(creates, 33, "every stored create went through the writer");
        assert!(
            batches < creates,
            "creates shared commits: {batches} batches"
        );
        let failed = s.store.create_failures_in_batches();
        assert!(
            (1..=16).contains(&failed),
            "failed creates were taken out of their batches: {failed}"
        );
        // A batch's index entries are written once, before its commit: FTS5 wrote fewer
        // leaves than there were creates (a segment per create is a leaf per create at
        // least).
        let leaves = search_leaves_written(&s).await.unwrap() - leaves_before.unwrap();
        assert!(
            leaves < creates - 1,
            "{leaves} trigram index leaves for {} creates in {batches} batches",
            creates - 1
        );
        sqlx::query(
            "INSERT INTO compliance_requests_search (compliance_requests_search, rank) VALUES ('integrity-check', 1)",
        )
        .execute(&s.store.db.write)
        .await
        .expect("the trigram index agrees with the requests");
    }
}

/// On SQLite, the leaves FTS5 has written to the trigram index's first level so far: the
/// write counter of its structure record (a 4-byte cookie, a 4-byte version mark, then
/// SQLite varints: levels, segments, write counter).
async fn search_leaves_written(s: &Server) -> Option<u64> {
    let block = search_structure(s).await?;
    let mut at = 4;
    if block[4..8] == [0xff, 0, 0, 1] {
        at = 8;
    }
    let mut varint = || {
        let mut v = 0u64;
        loop {
            let b = block[at];
            at += 1;
            v = (v << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                return v;
            }
        }
    };
    let (_levels, _segments) = (varint(), varint());
    Some(varint())
}

/// A create whose planning panics (a bug) answers an error and writes nothing, not even the
/// identity resolved before it; the creates filed at the same time, and after it, are written
/// as usual (on SQLite, the writer that commits them goes on).
async fn a_create_that_panics_writes_nothing(b: accord_store::Backend) {
    use accord_core::compliance::{Actor, CreateComplianceRequest};
    use accord_core::consent::Identifiers;
    use accord_core::store::{ComplianceStore, CreateFacts, TenancyStore};
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let project = s
        .store
        .get_project(s.org, s.project)
        .await
        .unwrap()
        .unwrap();
    let input: CreateComplianceRequest =
        serde_json::from_value(json!({"request": "view", "userEmail": "panic@example.com"}))
            .unwrap();
    let store = s.store.clone();
    let panicking = tokio::spawn(async move {
        let plan = Box::new(|_: CreateFacts| -> accord_core::Result<_> { panic!("a bug") });
        store
            .create_compliance_requests(
                &project,
                vec![Identifiers::of_request(&input)],
                Actor { account_id: None },
                accord_core::time::now_ms(),
                plan,
            )
            .await
    });
    let alongside = (0..8).map(|i| {
        s.post(
            &path,
            json!({"request": "view", "userEmail": format!("with{i}@example.com")}),
        )
    });
    let (outcome, answers) = tokio::join!(panicking, futures::future::join_all(alongside));
    let outcome = outcome.expect("the caller does not panic");
    assert!(outcome.is_err(), "{outcome:?}");
    for (status, body) in answers {
        assert_eq!(status, 201, "{body}");
    }
    let identities: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM identities WHERE email_lower = 'panic@example.com'",
    )
    .fetch_one(&s.store.db.read)
    .await
    .unwrap();
    assert_eq!(identities, 0);
    for i in 0..3 {
        let (status, body) = s
            .post(
                &path,
                json!({"request": "view", "userEmail": format!("after{i}@example.com")}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, list) = s.get(&format!("{path}?limit=20")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 11, "{list}");
}

/// The ids of a list answer's items, in order.
fn item_ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// A second project in the server's organization.
async fn second_project(s: &Server) -> accord_core::store::Project {
    s.store
        .create_project(
            s.org,
            accord_core::store::NewProject {
                name: "Second".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// On SQLite, the trigram index's structure record, rewritten by every write of the index.
async fn search_structure(s: &Server) -> Option<Vec<u8>> {
    if s.backend != accord_store::Backend::Sqlite {
        return None;
    }
    let block: Vec<u8> =
        sqlx::query_scalar("SELECT block FROM compliance_requests_search_data WHERE id = 10")
            .fetch_one(&s.store.db.read)
            .await
            .unwrap();
    Some(block)
}

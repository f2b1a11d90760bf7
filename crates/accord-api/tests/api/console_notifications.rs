//! The team is told (web console): a new verified request reaches the project's
//! `contactEmails` and the Users who opted in on their notifications page; the daily digest
//! of requests overdue or due in seven days goes at most once a day per person and
//! organization.
use crate::both;
use crate::common::*;
use crate::console::{member, notice_of, owner, owner_tab};
use crate::lifecycle::outbox_message;
use accord_api::mail::MailConfig;
use accord_api::ApiConfig;
use accord_core::notifications::{queue_due_digests, run_due_digests, DAY_MS};
use accord_core::store::NotificationStore;
use accord_core::store::{bootstrap, Bootstrapped};
use reqwest::Method;
use serde_json::{json, Value};

both!(
    a_verified_request_reaches_the_contacts_and_opted_in_users,
    the_due_date_digest_goes_once_a_day_per_person,
    the_digest_serves_every_organization_with_exact_counts,
    a_batch_of_preverified_requests_sends_one_email_per_address,
    the_digest_job_does_its_day_once,
    the_notifications_page_works_in_a_browser
);

fn config() -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        console_url: Some("https://console.acme.test".into()),
        mail: MailConfig {
            poll_ms: 50,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The recipients of the queued messages of `kind` (about request `id` when given).
async fn recipients(s: &Server, kind: &str, id: Option<&str>) -> Vec<String> {
    let mut sql = format!("SELECT recipient FROM outgoing_messages WHERE kind = '{kind}'");
    if let Some(id) = id {
        sql.push_str(&format!(" AND compliance_request_id = '{id}'"));
    }
    sql.push_str(" ORDER BY recipient");
    let rows: Vec<(String,)> = sqlx::query_as(&sql)
        .fetch_all(&s.store.db.write)
        .await
        .unwrap();
    rows.into_iter().map(|(r,)| r).collect()
}

/// The project's contact address, the owner opted in, a viewer who did not.
async fn team(s: &Server) -> (crate::console::Browser<'_>, crate::console::Browser<'_>) {
    let (status, p) = s
        .patch(
            &format!("/privacy-v1/organizations/{}/projects/{}", s.org, s.project),
            json!({"contactEmails": ["privacy@acme.test"]}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    let mut owner = owner(s).await;
    let path = format!("/console/o/{}/settings/notifications", s.org);
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains(" checked"), "off until turned on");
    let a = owner.submit(&path, &[("team_emails", "on")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Saved: you get the team"), "{}", a.body);
    assert!(a.body.contains(" checked"));
    // Without the session's token nothing changes.
    let a = owner.post(&path, &[("csrf", "forged")]).await;
    assert_eq!(a.status, 403);
    assert!(owner.get(&path).await.body.contains(" checked"));
    let viewer = member(s, "quiet@example.com", "viewer").await;
    (owner, viewer)
}

async fn a_verified_request_reaches_the_contacts_and_opted_in_users(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (mut owner, _viewer) = team(&s).await;
    // A User with no role in the project who opted in hears nothing about it (§2.3).
    let mut outsider = member(&s, "outsider@example.com", "none").await;
    let a = outsider
        .submit(
            &format!("/console/o/{}/settings/notifications", s.org),
            &[("team_emails", "on")],
        )
        .await;
    assert!(a.body.contains("Saved: you get the team"), "{}", a.body);
    // Filed preverified: verified at once.
    let cr = s
        .create_request(
            json!({"request": "view", "userEmail": "ada@example.com", "preverified": true}),
        )
        .await;
    let id = cr["id"].as_str().unwrap();
    assert_eq!(
        recipients(&s, "team_request", Some(id)).await,
        ["owner@example.com", "privacy@acme.test"],
        "the contact address and the User who opted in; not the viewer who did not"
    );
    let mail = outbox_message(&s, "privacy@acme.test", "eml").await;
    assert!(mail.contains("New verified view request"), "{mail}");
    let link = format!(
        "https://console.acme.test/console/o/{}/p/{}/requests/{id}",
        s.org, s.project
    );
    assert!(
        mail.contains(&link),
        "the email links to the request page: {mail}"
    );
    assert!(!mail.contains("ada@example.com"), "no subject data: {mail}");
    outbox_message(&s, "owner@example.com", "eml").await;
    // Filed for verification: nothing yet; verified from the console: the team is told.
    let pending = s
        .create_request(json!({"request": "delete", "userEmail": "bob@example.com"}))
        .await;
    let pid = pending["id"].as_str().unwrap();
    assert_eq!(pending["status"], "pending_verification");
    assert!(recipients(&s, "team_request", Some(pid)).await.is_empty());
    let path = format!("/console/o/{}/p/{}/requests/{pid}", s.org, s.project);
    let a = owner.submit(&path, &[("action", "verify")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        recipients(&s, "team_request", Some(pid)).await,
        ["owner@example.com", "privacy@acme.test"]
    );
    // Verified by the subject's code through the Site API: the team is told.
    let cr = s
        .create_request(json!({"request": "change", "userEmail": "carl@example.com"}))
        .await;
    let cid = cr["id"].as_str().unwrap();
    let code = crate::lifecycle::code_in(&outbox_message(&s, "carl@example.com", "eml").await);
    let (status, session) = send(
        s.client
            .post(s.url(&format!("/site-v1/{}/session", s.project)))
            .json(&json!({"concordId": cr["concordId"]})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let (status, verified) = send(
        s.client
            .post(s.url(&format!(
                "/site-v1/{}/compliance-requests/{cid}/verify",
                s.project
            )))
            .header("x-session", session["session"].as_str().unwrap())
            .json(&json!({"code": code})),
    )
    .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(
        recipients(&s, "team_request", Some(cid)).await,
        ["owner@example.com", "privacy@acme.test"]
    );
    // Later changes of a verified request tell nobody again.
    let a = owner.submit(&path, &[("action", "acknowledge")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(recipients(&s, "team_request", Some(pid)).await.len(), 2);
    // Turned off: the next verified request goes to the contact address only.
    let a = owner
        .submit(&format!("/console/o/{}/settings/notifications", s.org), &[])
        .await;
    assert!(
        a.body.contains("Saved: you get no team emails."),
        "{}",
        a.body
    );
    let cr = s.submitted_request().await;
    assert_eq!(
        recipients(&s, "team_request", cr["id"].as_str()).await,
        ["privacy@acme.test"]
    );
    assert!(recipients(&s, "team_request", None)
        .await
        .iter()
        .all(|r| r != "quiet@example.com" && r != "outsider@example.com"));
}

/// The text of the digest email to `to`, once the sender delivered it to the outbox.
async fn digest_to(s: &Server, to: &str) -> String {
    let dir = s.dir.path().join("outbox");
    for _ in 0..200 {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let raw = std::fs::read_to_string(e.path()).unwrap_or_default();
            let text = quoted_printable::decode(&raw, quoted_printable::ParseMode::Robust)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or(raw);
            if text.contains(&format!("To: {to}")) && text.contains("Subject: Privacy requests:") {
                return text;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no digest to {to} arrived");
}

async fn set_due(s: &Server, id: &str, due: i64) {
    sqlx::query(&format!(
        "UPDATE compliance_requests SET due_date = {due} WHERE id = '{id}'"
    ))
    .execute(&s.store.db.write)
    .await
    .unwrap();
}

async fn the_due_date_digest_goes_once_a_day_per_person(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (_owner, _viewer) = team(&s).await;
    let now = accord_core::time::now_ms();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let late = s.submitted_request().await;
    let soon = s.submitted_request().await;
    let later = s.submitted_request().await;
    let resolved = s.submitted_request().await;
    let (late_id, soon_id) = (late["id"].as_str().unwrap(), soon["id"].as_str().unwrap());
    set_due(&s, late_id, now - 2 * DAY_MS).await;
    set_due(&s, soon_id, today + 7 * DAY_MS + 3_600_000).await;
    set_due(&s, later["id"].as_str().unwrap(), today + 3 * DAY_MS).await;
    let rid = resolved["id"].as_str().unwrap();
    let path = s.project_path(&format!("/compliance-requests/{rid}"));
    s.patch(&path, json!({"status": "acknowledged"})).await;
    let (status, _) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolutionStatus": "completed"}),
        )
        .await;
    assert_eq!(status, 200);
    set_due(&s, rid, now - 3 * DAY_MS).await;

    queue_due_digests(s.store.as_ref(), now).await.unwrap();
    assert_eq!(
        recipients(&s, "team_digest", None).await,
        ["owner@example.com", "privacy@acme.test"],
        "one digest per person; none for the User who did not opt in"
    );
    let mail = digest_to(&s, "privacy@acme.test").await;
    assert!(mail.contains("Overdue (1)"), "{mail}");
    assert!(mail.contains("Due in 7 days (1)"), "{mail}");
    for id in [late_id, soon_id] {
        let link = format!(
            "https://console.acme.test/console/o/{}/p/{}/requests/{id}",
            s.org, s.project
        );
        assert!(mail.contains(&link), "{mail}");
    }
    assert!(
        !mail.contains(rid),
        "a resolved request is not listed: {mail}"
    );
    assert!(
        !mail.contains(later["id"].as_str().unwrap()),
        "due in 3 days: not in today's digest: {mail}"
    );
    let payload: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM outgoing_messages WHERE kind = 'team_digest'")
            .fetch_all(&s.store.db.write)
            .await
            .unwrap();
    let p: Value = serde_json::from_str(&payload[0].0).unwrap();
    assert_eq!(p["overdueCount"], 1);
    assert_eq!(p["soonCount"], 1);
    // The same day again (another run, a restart): nothing more.
    assert_eq!(
        queue_due_digests(s.store.as_ref(), now + 60_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(recipients(&s, "team_digest", None).await.len(), 2);
    // The next day, the overdue request is told again.
    assert_eq!(
        queue_due_digests(s.store.as_ref(), now + DAY_MS)
            .await
            .unwrap(),
        2
    );
    assert_eq!(recipients(&s, "team_digest", None).await.len(), 4);
}

/// A second organization whose project's contact addresses are `contacts`.
async fn other_org(s: &Server, contacts: &[&str]) -> Bootstrapped {
    let o = bootstrap(s.store.as_ref(), "Other", "Other site", vec![], "other")
        .await
        .unwrap();
    let (status, p) = call(
        s,
        &o.secret,
        Method::PATCH,
        &format!(
            "/privacy-v1/organizations/{}/projects/{}",
            o.organization.id, o.project.id
        ),
        Some(json!({"contactEmails": contacts})),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    o
}

/// Files `n` preverified requests in one call of the Privacy API with `key`; their ids.
async fn file_batch(s: &Server, key: &str, org: &str, project: &str, n: usize) -> Vec<String> {
    let body: Vec<Value> = (0..n)
        .map(|i| json!({"request": "view", "userEmail": format!("p{i}@example.com"), "preverified": true}))
        .collect();
    let (status, batch) = call(
        s,
        key,
        Method::POST,
        &format!("/privacy-v1/organizations/{org}/projects/{project}/compliance-requests"),
        Some(Value::Array(body)),
    )
    .await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["count"], n);
    batch["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The digests queued, as (organization, recipient, payload), by organization name.
async fn digests(s: &Server) -> Vec<(String, String, Value)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT o.name, m.recipient, m.payload FROM outgoing_messages m \
         JOIN organizations o ON o.id = m.organization_id \
         WHERE m.kind = 'team_digest' ORDER BY o.name, m.recipient",
    )
    .fetch_all(&s.store.db.write)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(o, r, p)| (o, r, serde_json::from_str(&p).unwrap()))
        .collect()
}

async fn the_digest_serves_every_organization_with_exact_counts(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (status, p) = s
        .patch(
            &format!("/privacy-v1/organizations/{}/projects/{}", s.org, s.project),
            json!({"contactEmails": ["privacy@acme.test"]}),
        )
        .await;
    assert_eq!(status, 200, "{p}");
    // The same person hears about both organizations; another only about the second.
    let other = other_org(&s, &["privacy@acme.test", "dpo@other.test"]).await;
    let (org, project) = (s.org.to_string(), s.project.to_string());
    let now = accord_core::time::now_ms();
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    // Acme has a backlog of old overdue requests, more than a digest lists.
    let mut acme = Vec::new();
    for _ in 0..3 {
        acme.extend(file_batch(&s, &s.key, &org, &project, 40).await);
    }
    for (i, id) in acme.iter().enumerate() {
        set_due(&s, id, now - 400 * DAY_MS + i as i64).await;
    }
    // The other organization's requests became overdue just now, one is due in 7 days.
    let (oorg, oproject) = (
        other.organization.id.to_string(),
        other.project.id.to_string(),
    );
    let theirs = file_batch(&s, &other.secret, &oorg, &oproject, 3).await;
    set_due(&s, &theirs[0], now - 60_000).await;
    set_due(&s, &theirs[1], now - 1).await;
    set_due(&s, &theirs[2], today + 7 * DAY_MS + 60_000).await;

    assert_eq!(queue_due_digests(s.store.as_ref(), now).await.unwrap(), 3);
    let d = digests(&s).await;
    let who: Vec<(&str, &str)> = d.iter().map(|(o, r, _)| (o.as_str(), r.as_str())).collect();
    assert_eq!(
        who,
        [
            ("Acme", "privacy@acme.test"),
            ("Other", "dpo@other.test"),
            ("Other", "privacy@acme.test")
        ],
        "one digest per person and organization, sent from that organization"
    );
    let acme_digest = &d[0].2;
    assert_eq!(acme_digest["overdueCount"], 120, "exact, beyond the list");
    assert_eq!(acme_digest["overdue"].as_array().unwrap().len(), 50);
    assert_eq!(acme_digest["soonCount"], 0);
    assert!(
        acme_digest["overdue"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with(&acme[0]),
        "the oldest first: {acme_digest}"
    );
    for (_, _, p) in &d[1..] {
        assert_eq!(p["overdueCount"], 2, "{p}");
        assert_eq!(p["soonCount"], 1, "{p}");
        let text = p.to_string();
        assert!(theirs.iter().all(|id| text.contains(id.as_str())), "{p}");
        assert!(!text.contains(acme[0].as_str()), "nothing of Acme: {p}");
    }
    let mail = digest_to(&s, "dpo@other.test").await;
    assert!(mail.contains("Overdue (2)"), "{mail}");
    // The same day again: nothing more.
    assert_eq!(
        queue_due_digests(s.store.as_ref(), now + 60_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(digests(&s).await.len(), 3);
    let late = s.submitted_request().await;
    set_due(&s, late["id"].as_str().unwrap(), now - 1).await;
    let next = queue_due_digests(s.store.as_ref(), now + DAY_MS).await;
    assert_eq!(next.unwrap(), 3, "the next day, each digest again");
    let d = digests(&s).await;
    assert_eq!(d.len(), 6);
    assert!(d
        .iter()
        .any(|(o, _, p)| o == "Acme" && p["overdueCount"] == 121));
}

/// The digest job of the server (started with it) recorded today as done: its later runs
/// today read that and stop, queuing nothing even for a request overdue since.
async fn the_digest_job_does_its_day_once(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let now = accord_core::time::now_ms();
    let today = now.div_euclid(DAY_MS);
    let mut done = false;
    for _ in 0..100 {
        done = s.store.digest_day_done(today).await.unwrap();
        if done {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(done, "the job's first run did the day");
    assert!(!s.store.digest_day_done(today + 1).await.unwrap());
    let (status, _) = s
        .patch(
            &format!("/privacy-v1/organizations/{}/projects/{}", s.org, s.project),
            json!({"contactEmails": ["privacy@acme.test"]}),
        )
        .await;
    assert_eq!(status, 200);
    let late = s.submitted_request().await;
    set_due(&s, late["id"].as_str().unwrap(), now - DAY_MS).await;
    assert_eq!(run_due_digests(s.store.as_ref(), now).await.unwrap(), 0);
    assert!(recipients(&s, "team_digest", None).await.is_empty());
    // The next day the job runs again, and marks that day.
    assert_eq!(
        run_due_digests(s.store.as_ref(), now + DAY_MS)
            .await
            .unwrap(),
        1
    );
    assert!(s.store.digest_day_done(today + 1).await.unwrap());
    assert_eq!(
        run_due_digests(s.store.as_ref(), now + DAY_MS + 60_000)
            .await
            .unwrap(),
        0
    );
}

async fn a_batch_of_preverified_requests_sends_one_email_per_address(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (_owner, _viewer) = team(&s).await;
    let (org, project) = (s.org.to_string(), s.project.to_string());
    let ids = file_batch(&s, &s.key, &org, &project, 3).await;
    assert_eq!(
        recipients(&s, "team_request", None).await,
        ["owner@example.com", "privacy@acme.test"],
        "one email per address for the whole call"
    );
    let mail = outbox_message(&s, "privacy@acme.test", "eml").await;
    assert!(mail.contains("3 new verified requests"), "{mail}");
    for id in &ids {
        let link = format!("https://console.acme.test/console/o/{org}/p/{project}/requests/{id}");
        assert!(mail.contains(&link), "{mail}");
    }
    assert!(
        mail.contains(&format!(
            "https://console.acme.test/console/o/{org}/requests"
        )),
        "{mail}"
    );
    assert!(!mail.contains("p0@example.com"), "no subject data: {mail}");
    // Filed for verification: no team email.
    let pending = file_batch_pending(&s, &org, &project).await;
    assert!(recipients(&s, "team_request", Some(&pending))
        .await
        .is_empty());
}

async fn file_batch_pending(s: &Server, org: &str, project: &str) -> String {
    let (status, batch) = call(
        s,
        &s.key,
        Method::POST,
        &format!("/privacy-v1/organizations/{org}/projects/{project}/compliance-requests"),
        Some(json!([{"request": "view", "userEmail": "q@example.com"}])),
    )
    .await;
    assert_eq!(status, 201, "{batch}");
    batch["items"][0]["id"].as_str().unwrap().to_string()
}

async fn the_notifications_page_works_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start_with(b, config()).await;
    let tab = owner_tab(&browser, &s).await;
    // Linked from the home page.
    let path = format!("/console/o/{}/settings/notifications", s.org);
    let href = tab
        .eval(&format!(
            "document.querySelector('a[href=\\'{path}\\']') !== null"
        ))
        .await;
    assert_eq!(
        href,
        json!(true),
        "the home page links the notifications page"
    );
    tab.goto(&s.url(&path)).await;
    crate::console::no_serious_violations(&tab, &axe_js, "notifications").await;
    crate::console::submit_and_wait(
        &tab,
        "document.getElementById('team_emails').click(); \
         document.querySelector('main form').requestSubmit();",
        &path,
    )
    .await;
    let notice = notice_of(&tab).await;
    assert_eq!(notice, "Saved: you get the team's emails.");
    assert_eq!(
        tab.eval("document.getElementById('team_emails').checked")
            .await,
        json!(true)
    );
    crate::console::look(
        &tab,
        &axe_js,
        "notifications saved",
        "console-notifications",
    )
    .await;
    browser.close().await;
}

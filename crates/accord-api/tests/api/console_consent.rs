//! The web console's consent pages, in a real server (and headless Chromium where they run in one).
use crate::both;
use crate::common::*;
use crate::console::{
    csrf_of, fits, look, member, narrow, no_serious_violations, owner, owner_tab, Browser,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

both!(
    the_charts_count_the_events_of_each_day_by_state_and_type,
    the_acceptance_rate_counts_people_by_their_current_state,
    consent_types_are_created_and_edited_with_the_api_rules,
    a_person_is_found_by_each_identifier_with_state_and_paged_history,
    erasure_needs_its_confirmation_and_then_the_person_is_gone,
    viewers_cannot_change_consent_and_strangers_see_nothing,
    the_consent_pages_work_in_a_browser
);

fn days_ago(n: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(n)
}

fn at(n: i64) -> String {
    days_ago(n).to_rfc3339()
}

fn day(n: i64) -> String {
    days_ago(n).format("%Y-%m-%d").to_string()
}

/// An event of the default `analytics` type.
fn analytics(email: &str, state: &str, when: String) -> Value {
    json!({"email": email, "consentState": state, "consentAction": "user_click",
        "category": "privacy_setting", "subcategory": ["analytics"], "label": "analytics",
        "consentDate": when})
}

fn advertising(email: &str, state: &str, when: String) -> Value {
    json!({"email": email, "consentState": state, "consentAction": "user_click",
        "category": "privacy_setting", "subcategory": ["advertising"], "label": "advertising",
        "consentDate": when})
}

async fn type_id(s: &Server, label: &str) -> String {
    let (_, list) = s
        .get(&s.project_path(&format!("/consent-types?label={label}")))
        .await;
    list["items"][0]["id"].as_str().unwrap().to_string()
}

/// The numbers of one day in a chart's table: series label → count (and "Total").
fn day_row(html: &str, chart: &str, date: &str) -> HashMap<String, i64> {
    let start = html
        .find(&format!(r#"id="{chart}-h""#))
        .unwrap_or_else(|| panic!("no chart {chart} in:\n{html}"));
    let section = &html[start..start + html[start..].find("</section>").unwrap()];
    let Some(head) = section.find("<thead>") else {
        return HashMap::new();
    };
    let head = &section[head..section.find("</thead>").unwrap()];
    let labels: Vec<String> = head
        .split(r#"<th scope="col">"#)
        .skip(2)
        .map(|c| c.split('<').next().unwrap().to_string())
        .collect();
    let Some(at) = section.find(&format!(r#"<th scope="row">{date}</th>"#)) else {
        return HashMap::new();
    };
    let row = &section[at..at + section[at..].find("</tr>").unwrap()];
    let counts: Vec<i64> = row
        .split("<td>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(labels.len(), counts.len(), "{row}");
    labels.into_iter().zip(counts).collect()
}

async fn the_charts_count_the_events_of_each_day_by_state_and_type(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    record_consent(
        &s,
        vec![
            analytics("a@example.com", "accepted", at(0)),
            analytics("b@example.com", "accepted", at(0)),
            analytics("c@example.com", "declined", at(0)),
            advertising("a@example.com", "declined", at(0)),
            analytics("a@example.com", "implied", at(3)),
            advertising("d@example.com", "accepted", at(3)),
            analytics("e@example.com", "accepted", at(40)),
            // Outside both periods.
            analytics("e@example.com", "declined", at(120)),
        ],
    )
    .await;
    let path = format!("/console/o/{}/consent", s.org);
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let html = &page.body;
    let today = day_row(html, "by-state", &day(0));
    assert_eq!(today["accepted"], 2, "{today:?}");
    assert_eq!(today["declined"], 2);
    assert_eq!(today["implied"], 0);
    assert_eq!(today["Total"], 4);
    let earlier = day_row(html, "by-state", &day(3));
    assert_eq!(earlier["implied"], 1, "{earlier:?}");
    assert_eq!(earlier["accepted"], 1);
    assert_eq!(earlier["Total"], 2);
    assert_eq!(day_row(html, "by-state", &day(1))["Total"], 0);
    let today = day_row(html, "by-type", &day(0));
    assert_eq!(today["Analytics"], 3, "{today:?}");
    assert_eq!(today["Advertising"], 1);
    let earlier = day_row(html, "by-type", &day(3));
    assert_eq!(earlier["Analytics"], 1, "{earlier:?}");
    assert_eq!(earlier["Advertising"], 1);
    // 30 days: 40 days ago is not shown; 90 days: it is, 120 days ago is not.
    assert!(day_row(html, "by-state", &day(40)).is_empty());
    assert!(html.contains("6 events;"), "the 30 days' total");
    assert!(html.contains(r#"role="img""#) && html.contains("<title id=\"by-state-t\">"));
    let page = owner.get(&format!("{path}?days=90")).await;
    assert_eq!(page.status, 200);
    let old = day_row(&page.body, "by-state", &day(40));
    assert_eq!(old["accepted"], 1, "{old:?}");
    assert!(day_row(&page.body, "by-state", &day(120)).is_empty());
    assert!(page.body.contains("7 events;"), "the 90 days' total");
    // The project picker names the project; another project's charts are its own.
    let (status, other) = s
        .post(
            &format!("/privacy-v1/organizations/{}/projects", s.org),
            json!({"name": "Second site"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let page = owner
        .get(&format!("{path}?project={}", other["id"].as_str().unwrap()))
        .await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains(r#"<select id="project" name="project">"#));
    assert!(day_row(&page.body, "by-state", &day(0)).is_empty());
}

/// The acceptance row of a consent type: known, accepted, declined, other, rate.
fn acceptance_row(html: &str, type_id: &str) -> Vec<String> {
    let at = html
        .find(&format!("/types/{type_id}\">"))
        .unwrap_or_else(|| panic!("no row of {type_id}"));
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    row.split("<td")
        .skip(2)
        .map(|c| {
            let c = &c[c.find('>').unwrap() + 1..];
            c.split('<').next().unwrap().to_string()
        })
        .collect()
}

async fn the_acceptance_rate_counts_people_by_their_current_state(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let mut expired = analytics("erin@example.com", "accepted", at(40));
    expired["expirationDate"] = json!(at(10));
    record_consent(
        &s,
        vec![
            analytics("alice@example.com", "accepted", at(2)),
            analytics("bob@example.com", "declined", at(2)),
            // Carol accepted, then declined: she counts as declined.
            analytics("carol@example.com", "accepted", at(5)),
            analytics("carol@example.com", "declined", at(1)),
            // Dave declined, then accepted.
            analytics("dave@example.com", "declined", at(6)),
            analytics("dave@example.com", "accepted", at(1)),
            analytics("fay@example.com", "implied", at(1)),
            // An expired consent is no current state.
            expired,
            advertising("alice@example.com", "accepted", at(1)),
            // Gina accepted as one identity and declined later as another, merged into
            // the first: one person, declined.
            analytics("gina@example.com", "accepted", at(4)),
            analytics("gina.other@example.com", "declined", at(2)),
        ],
    )
    .await;
    let id_of = |email: &'static str| {
        let path = s.project_path(&format!("/identities?email={email}"));
        let s = &s;
        async move {
            s.get(&path).await.1["items"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (gina, other) = (
        id_of("gina@example.com").await,
        id_of("gina.other@example.com").await,
    );
    sqlx::query(&format!(
        "UPDATE identities SET merged_into = '{gina}' WHERE id = '{other}'"
    ))
    .execute(&s.store.db.write)
    .await
    .unwrap();
    let overview = owner.get(&format!("/console/o/{}/consent", s.org)).await;
    let path = format!("/console/o/{}/consent/p/{}/acceptance", s.org, s.project);
    assert!(overview.body.contains(&format!(r#"href="{path}""#)));
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200);
    let row = acceptance_row(&page.body, &type_id(&s, "analytics").await);
    // alice, dave accepted; bob, carol, gina declined; fay implied: 2 of 6.
    assert_eq!(row, ["6", "2", "3", "1", "33.3 %"], "{row:?}");
    let row = acceptance_row(&page.body, &type_id(&s, "advertising").await);
    assert_eq!(row, ["1", "1", "0", "0", "100.0 %"]);
    let row = acceptance_row(&page.body, &type_id(&s, "personalization").await);
    assert_eq!(row, ["0", "0", "0", "0", "—"]);
    assert!(page.body.contains("Counts people, not events"));
    // The same folding as the consent-state look-up of one person.
    let (_, st) = s
        .get(&s.project_path("/consent-state?email=carol@example.com"))
        .await;
    let analytics_state = st["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "analytics")
        .unwrap();
    assert_eq!(analytics_state["consentState"], "declined");
}

async fn consent_types_are_created_and_edited_with_the_api_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let id = type_id(&s, "analytics").await;
    let api = s.project_path(&format!("/consent-types/{id}"));
    let path = format!("/console/o/{}/consent/p/{}/types/{id}", s.org, s.project);
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"value="Analytics""#));
    // A bad value: the contract's message next to its field, what was typed kept,
    // nothing stored.
    let a = owner
        .submit(
            &path,
            &[
                ("name", "Site analytics"),
                ("status", "active"),
                ("consentDuration", "soon"),
                ("validStates", "accepted"),
                ("validStates", "declined"),
            ],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body.contains(r#"<p class="field-error" id="consentDuration-error">body/consentDuration must match pattern"#),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"value="soon""#));
    assert!(a.body.contains(r#"value="Site analytics""#));
    let (_, t) = s.get(&api).await;
    assert_eq!(t["name"], "Analytics");
    assert_eq!(t["consentDuration"], "P12M");
    // An empty name: the schema's minimum length, next to the name.
    let a = owner
        .submit(&path, &[("name", ""), ("status", "active")])
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a
        .body
        .contains(r#"id="name-error">body/name must NOT have fewer than 1 characters"#));
    // A good change is stored as the PATCH stores it; a new url raises the version.
    let a = owner
        .submit(
            &path,
            &[
                ("name", "Site analytics"),
                ("description", "Counting visits"),
                ("url", "https://example.com/analytics"),
                ("status", "archived"),
                ("consentDuration", "P6M"),
                ("validStates", "accepted"),
                ("validStates", "declined"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Saved."));
    let (_, t) = s.get(&api).await;
    assert_eq!(t["name"], "Site analytics");
    assert_eq!(t["description"], "Counting visits");
    assert_eq!(t["status"], "archived");
    assert_eq!(t["consentDuration"], "P6M");
    assert_eq!(t["validStates"], json!(["accepted", "declined"]));
    assert_eq!(t["version"], 2);
    assert_eq!(t["required"], false);
    // An explicit version must be greater than the current one (the use case's 422).
    let a = owner
        .submit(
            &path,
            &[
                ("name", "Site analytics"),
                ("url", "https://example.com/analytics"),
                ("status", "archived"),
                ("consentDuration", "P6M"),
                ("version", "2"),
            ],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a
        .body
        .contains("version must be greater than the current version"));
    let a = owner
        .submit(
            &path,
            &[
                ("name", "Site analytics"),
                ("document", "We count visits."),
                ("url", "https://example.com/analytics"),
                ("status", "archived"),
                ("consentDuration", "P6M"),
                ("version", "5"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, t) = s.get(&api).await;
    assert_eq!(t["version"], 5);
    assert_eq!(t["document"], "We count visits.");
    // Create: the create schema's messages, then a type.
    let types = format!("/console/o/{}/consent/p/{}/types", s.org, s.project);
    let a = owner
        .submit(
            &types,
            &[
                ("category", "communication"),
                ("label", "News Letter"),
                ("name", "Newsletter"),
            ],
        )
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(
        a.body
            .contains(r#"id="label-error">body/label must match pattern"#),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"value="News Letter""#));
    let more = [("status", "active"), ("required", "true")];
    let a = email_type(&mut owner, &types, ("newsletter", "Newsletter"), &more).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.body.contains("Consent type Newsletter created."));
    let list = newsletters(&s).await;
    assert_eq!(list["items"][0]["name"], "Newsletter");
    assert_eq!(list["items"][0]["subcategory"], json!(["email"]));
    assert_eq!(list["items"][0]["required"], true);
    // The same key again: the store's 422.
    let a = email_type(&mut owner, &types, ("newsletter", "Newsletter 2"), &[]).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("consent type already exists"));
    let list = newsletters(&s).await;
    assert_eq!(list["count"], 1);
}

/// The consent types form at `types` sent for the email communication type `label`
/// named `name`, with the fields `more`.
async fn email_type(
    owner: &mut Browser<'_>,
    types: &str,
    (label, name): (&str, &str),
    more: &[(&str, &str)],
) -> crate::console::Answer {
    let mut fields = vec![
        ("category", "communication"),
        ("subcategory", "email"),
        ("label", label),
        ("name", name),
    ];
    fields.extend_from_slice(more);
    owner.submit(types, &fields).await
}

/// The project's consent types labelled `newsletter`, from the Privacy API.
async fn newsletters(s: &Server) -> Value {
    s.get(&s.project_path("/consent-types?label=newsletter"))
        .await
        .1
}

async fn a_person_is_found_by_each_identifier_with_state_and_paged_history(
    b: accord_store::Backend,
) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let mut first = analytics("Pat@Example.com", "accepted", at(1));
    first["phoneNumber"] = json!("+1 555 0100");
    first["userId"] = json!("user-7");
    first["projectUserId"] = json!("pu-7");
    let made = record_consent(&s, vec![first]).await;
    let concord = made["items"][0]["concordId"].as_str().unwrap().to_string();
    // 29 more events: 30 in all, two pages of history.
    let more: Vec<Value> = (2..31)
        .map(|n| {
            let mut e = analytics("pat@example.com", "declined", at(n));
            e["consentState"] = json!(if n % 2 == 0 { "declined" } else { "implied" });
            e
        })
        .collect();
    record_consent(&s, more).await;
    let people = format!("/console/o/{}/consent/p/{}/people", s.org, s.project);
    let person = format!("{people}/{concord}");
    for (kind, value) in [
        ("email", "pat@example.com"),
        ("phoneNumber", "+15550100"),
        ("userId", "user-7"),
        ("projectUserId", "pu-7"),
        ("concordId", concord.as_str()),
    ] {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("kind", kind)
            .append_pair("value", value)
            .finish();
        let a = owner.get(&format!("{people}?{q}")).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{kind}: {}", a.body);
        assert_eq!(a.location.as_deref(), Some(person.as_str()), "{kind}");
    }
    let a = owner
        .get(&format!("{people}?kind=email&value=nobody%40example.com"))
        .await;
    assert_eq!(a.status, 404);
    assert!(a.body.contains("No one in this project has this email."));
    assert!(a.body.contains(r#"value="nobody@example.com""#));
    // A value the consent-state query refuses: its message, next to the field.
    let long = "x".repeat(300);
    let a = owner
        .get(&format!("{people}?kind=userId&value={long}"))
        .await;
    assert_eq!(a.status, 422);
    assert!(
        a.body.contains(r#"id="value-error" role="alert">querystring/userId must NOT have more than 256 characters"#),
        "{}",
        a.body
    );
    // The person: current state as the Privacy API folds it, history newest first.
    let page = owner.get(&person).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("pu-7") && page.body.contains("user-7"));
    let current = &page.body[page.body.find(r#"id="state-h""#).unwrap()..];
    assert!(
        current
            .contains(r#"<th scope="row">Analytics</th><td class="state-accepted">accepted</td>"#),
        "{current}"
    );
    assert!(page.body.contains("30 events, newest first"));
    let history = |html: &str| html.matches("<tr><td>").count();
    assert_eq!(history(&page.body), 25);
    assert!(page
        .body
        .contains(&format!(r#"href="{person}?offset=25" rel="next""#)));
    let second = owner.get(&format!("{person}?offset=25")).await;
    assert_eq!(history(&second.body), 5);
    assert!(second.body.contains(r#"rel="prev""#));
    assert!(!second.body.contains(r#"rel="next""#));
    assert!(
        page.body.find(&day(1)).unwrap() < page.body.find(&day(2)).unwrap(),
        "newest first"
    );
}

async fn erasure_needs_its_confirmation_and_then_the_person_is_gone(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let made = record_consent(&s, vec![analytics("gone@example.com", "accepted", at(1))]).await;
    let concord = made["items"][0]["concordId"].as_str().unwrap().to_string();
    let person = format!(
        "/console/o/{}/consent/p/{}/people/{concord}",
        s.org, s.project
    );
    let page = owner.get(&person).await;
    assert!(page.body.contains(&format!(r#"href="{person}/erase""#)));
    let erase = format!("{person}/erase");
    let page = owner.get(&erase).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("What is deleted") && page.body.contains("cannot be undone"));
    let state = s.project_path("/consent-state?email=gone@example.com");
    // Without the tick: nothing is erased.
    let a = owner
        .submit(&erase, &[("includeComplianceRequests", "true")])
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a
        .body
        .contains(r#"id="confirm-error">confirm: tick the box"#));
    assert!(a.body.contains(r#"value="true" checked"#), "the tick kept");
    assert_eq!(s.get(&state).await.0, 200);
    // With a forged token: nothing either.
    let a = owner
        .post(&erase, &[("csrf", "forged"), ("confirm", "erase")])
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(s.get(&state).await.0, 200);
    let a = owner.submit(&erase, &[("confirm", "erase")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body
            .contains("Erased: identifiers removed, 1 consent events"),
        "{}",
        a.body
    );
    // Gone through the Privacy API: no one has the email; the record is pseudonymous.
    let (status, body) = s.get(&state).await;
    assert_eq!(status, 404, "{body}");
    let (_, identity) = s
        .get(&s.project_path(&format!("/identities/{concord}")))
        .await;
    assert!(!identity["erasedDate"].is_null(), "{identity}");
    assert!(identity.get("email").is_none(), "{identity}");
    let a = owner
        .get(&format!(
            "/console/o/{}/consent/p/{}/people?kind=email&value=gone%40example.com",
            s.org, s.project
        ))
        .await;
    assert_eq!(a.status, 404);
}

async fn viewers_cannot_change_consent_and_strangers_see_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let made = record_consent(&s, vec![analytics("kept@example.com", "accepted", at(1))]).await;
    let concord = made["items"][0]["concordId"].as_str().unwrap().to_string();
    let id = type_id(&s, "analytics").await;
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let base = format!("/console/o/{}/consent", s.org);
    let p = format!("{base}/p/{}", s.project);
    // Reads work.
    let page = viewer.get(&base).await;
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.body);
    let ty = viewer.get(&format!("{p}/types/{id}")).await;
    assert_eq!(ty.status, 200);
    assert!(!ty.body.contains(r#"<button type="submit">Save</button>"#));
    assert_eq!(viewer.get(&format!("{p}/acceptance")).await.status, 200);
    let types = viewer.get(&format!("{p}/types")).await;
    assert!(!types.body.contains("New consent type"));
    let person = viewer.get(&format!("{p}/people/{concord}")).await;
    assert_eq!(person.status, 200);
    assert!(!person.body.contains("/erase"));
    // Posting the forms by hand is refused and changes nothing.
    let a = viewer
        .post(
            &format!("{p}/types/{id}"),
            &[("csrf", &csrf), ("name", "Hijacked"), ("status", "active")],
        )
        .await;
    assert_eq!(a.status, 403);
    let a = viewer
        .post(
            &format!("{p}/types"),
            &[
                ("csrf", &csrf),
                ("category", "custom"),
                ("label", "sneaky"),
                ("name", "Sneaky"),
            ],
        )
        .await;
    assert_eq!(a.status, 403);
    let a = viewer
        .post(
            &format!("{p}/people/{concord}/erase"),
            &[("csrf", &csrf), ("confirm", "erase")],
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        viewer
            .get(&format!("{p}/people/{concord}/erase"))
            .await
            .status,
        403
    );
    let (_, t) = s
        .get(&s.project_path(&format!("/consent-types/{id}")))
        .await;
    assert_eq!(t["name"], "Analytics");
    let (_, list) = s.get(&s.project_path("/consent-types?label=sneaky")).await;
    assert_eq!(list["count"], 0);
    let (status, _) = s
        .get(&s.project_path("/consent-state?email=kept@example.com"))
        .await;
    assert_eq!(status, 200);
    // Another organization's consent pages are closed, whatever the URL.
    let (status, other) = s
        .post("/privacy-v1/organizations", json!({"name": "Other"}))
        .await;
    assert_eq!(status, 201, "{other}");
    let other_org = other["id"].as_str().unwrap();
    for path in [
        format!("/console/o/{other_org}/consent"),
        format!("/console/o/{other_org}/consent/p/{}/types", s.project),
        format!("/console/o/{other_org}/consent/p/{}/acceptance", s.project),
        format!(
            "/console/o/{other_org}/consent/p/{}/people/{concord}",
            s.project
        ),
        format!("{base}?project={}", uuid::Uuid::new_v4()),
    ] {
        assert_eq!(viewer.get(&path).await.status, 403, "{path}");
    }
    // Signed out: the sign-in page.
    let mut anon = Browser::new(&s);
    assert_eq!(anon.get(&base).await.status, StatusCode::SEE_OTHER);
}

async fn the_consent_pages_work_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start(b).await;
    let mut items = Vec::new();
    for n in 0..30 {
        for (i, state) in ["accepted", "declined", "accepted", "implied"]
            .iter()
            .enumerate()
        {
            if (n + i as i64) % 3 == 0 {
                continue;
            }
            let email = format!("p{}@example.com", (n * 7 + i as i64) % 23);
            items.push(analytics(&email, state, at(n)));
            if n % 4 == i as i64 {
                items.push(advertising(&email, state, at(n)));
            }
        }
    }
    let mut pat = analytics("pat@example.com", "accepted", at(0));
    pat["phoneNumber"] = json!("+1 555 0100");
    items.push(pat);
    items.push(advertising("pat@example.com", "declined", at(2)));
    let made = record_consent(&s, items).await;
    let concord = made["items"].as_array().unwrap().last().unwrap()["concordId"]
        .as_str()
        .unwrap()
        .to_string();
    let tab = owner_tab(&browser, &s).await;
    let overview = format!("/console/o/{}/consent", s.org);
    tab.goto(&s.url(&overview)).await;
    let bars = tab
        .eval("document.querySelectorAll('svg.chart rect').length")
        .await;
    assert!(bars.as_i64().unwrap() > 30, "{bars}");
    let name = tab
        .eval("document.querySelector('svg.chart title').textContent")
        .await;
    assert!(name.as_str().unwrap().contains("accepted"), "{name}");
    look(&tab, &axe_js, "consent", "console-consent").await;
    tab.eval("document.getElementById('by-type-h').scrollIntoView(); true")
        .await;
    tab.screenshot("console-consent-by-type").await;
    tab.goto(&s.url(&format!(
        "/console/o/{}/consent/p/{}/acceptance",
        s.org, s.project
    )))
    .await;
    look(
        &tab,
        &axe_js,
        "consent acceptance",
        "console-consent-acceptance",
    )
    .await;
    tab.goto(&s.url(&overview)).await;
    // The look-up form leads to the person.
    crate::console::submit_and_wait(
        &tab,
        &crate::console::fill_and_send(
            &[("kind", "phoneNumber"), ("value", "+1 555 0100")],
            "form[action$='/people']",
        ),
        &format!(
            "/console/o/{}/consent/p/{}/people/{concord}",
            s.org, s.project
        ),
    )
    .await;
    let text = tab.eval("document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("pat@example.com"), "{text}");
    look(&tab, &axe_js, "consent person", "console-consent-person").await;
    tab.goto(&s.url(&format!(
        "/console/o/{}/consent/p/{}/people/{concord}/erase",
        s.org, s.project
    )))
    .await;
    look(&tab, &axe_js, "consent erase", "console-consent-erase").await;
    let types = format!("/console/o/{}/consent/p/{}/types", s.org, s.project);
    tab.goto(&s.url(&types)).await;
    look(&tab, &axe_js, "consent types", "console-consent-types").await;
    // A refused create shows the message by its field, in the browser too.
    crate::console::submit_and_wait(
        &tab,
        &crate::console::fill_and_send(
            &[("label", "Bad Label"), ("name", "Bad")],
            ".type-form form",
        ),
        &types,
    )
    .await;
    let err = tab
        .eval("document.getElementById('label-error').innerText")
        .await;
    assert!(
        err.as_str()
            .unwrap()
            .contains("body/label must match pattern"),
        "{err}"
    );
    no_serious_violations(&tab, &axe_js, "consent types refused").await;
    let id = type_id(&s, "analytics").await;
    tab.goto(&s.url(&format!("{types}/{id}"))).await;
    look(&tab, &axe_js, "consent type", "console-consent-type").await;
    // Narrow screens: nothing wider than the viewport.
    narrow(&tab).await;
    tab.goto(&s.url(&overview)).await;
    let wide = fits(&tab).await;
    assert_eq!(wide, json!(true), "the overview fits 390 px");
    look(&tab, &axe_js, "consent, narrow", "console-consent-narrow").await;
    tab.eval("document.getElementById('by-state-h').scrollIntoView(); true")
        .await;
    tab.screenshot("console-consent-narrow-chart").await;
    tab.goto(&s.url(&format!(
        "/console/o/{}/consent/p/{}/people/{concord}",
        s.org, s.project
    )))
    .await;
    let wide = fits(&tab).await;
    assert_eq!(wide, json!(true), "the person page fits 390 px");
    look(
        &tab,
        &axe_js,
        "consent person, narrow",
        "console-consent-person-narrow",
    )
    .await;
    browser.close().await;
}

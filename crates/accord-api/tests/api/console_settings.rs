//! The web console's Settings pages, in a real server (and headless Chromium where they run
//! in one): invitations that reach the outbox and let the invited admin sign in, role,
//! status and project roles changed, users removed, the owner rule, API keys whose secret
//! is shown once and works against the Privacy API, and members below admin refused.
use crate::both;
use crate::common::*;
use crate::console::{
    created, csrf_of, fill_and_send, fits, link_token, look, member, narrow, notice_of, owner,
    owner_tab, refused, submit_and_wait, Browser, PASSWORD,
};
use accord_core::console::LinkKind;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both!(
    an_admin_invited_from_the_console_signs_in,
    roles_statuses_and_removal_follow_the_api_rules,
    a_new_key_secret_is_shown_once_and_works,
    members_below_admin_cannot_change_settings,
    send_from_emails_are_added_and_deleted,
    policies_are_created_and_edited_with_their_html_shown,
    the_settings_work_in_a_browser
);

fn org_path(s: &Server, rest: &str) -> String {
    format!("/privacy-v1/organizations/{}{rest}", s.org)
}

async fn user_by_email(s: &Server, email: &str) -> Option<Value> {
    let (status, list) = s.get(&org_path(s, "/users?limit=1000")).await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}

async fn an_admin_invited_from_the_console_signs_in(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let settings = format!("/console/o/{}/settings", s.org);
    let users = format!("{settings}/users");
    // A bad email: the API's message next to the field, what was typed kept, no user.
    let page = owner.get(&settings).await;
    let csrf = csrf_of(&page.body);
    let a = owner
        .post(
            &users,
            &[
                ("csrf", &csrf),
                ("email", "ada at example"),
                ("name", "Ada"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains(r#"id="email-error""#), "{}", a.body);
    assert!(a.body.contains(r#"value="ada at example""#));
    assert!(user_by_email(&s, "ada at example").await.is_none());
    // The invitation.
    let a = owner
        .post(
            &users,
            &[
                ("csrf", &csrf),
                ("email", "ada@example.com"),
                ("name", "Ada"),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains("ada@example.com is invited as admin"),
        "{}",
        a.body
    );
    let u = user_by_email(&s, "ada@example.com").await.unwrap();
    assert_eq!(u["status"], "pending");
    assert_eq!(u["role"], "admin");
    assert_eq!(u["name"], "Ada");
    // A second invitation of the same email: the API's 422.
    let a = owner
        .post(
            &users,
            &[
                ("csrf", &csrf),
                ("email", "ADA@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let api = s
        .post(
            &org_path(&s, "/users"),
            json!({"email": "ADA@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(api.0, 422);
    assert!(
        a.body.contains(api.1["message"].as_str().unwrap()),
        "{}",
        a.body
    );
    // The invited admin reads the invitation from the outbox and signs in.
    let token = link_token(&s, "ada@example.com", LinkKind::Invitation).await;
    let mut ada = Browser::new(&s);
    let a = ada
        .submit(
            &format!("/console/invitation/{token}"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = ada.get(&settings).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Invite a user"),
        "an admin manages users"
    );
    assert!(page.body.contains("owner@example.com"));
    assert_eq!(
        user_by_email(&s, "ada@example.com").await.unwrap()["status"],
        "active"
    );
    // Signed out and in again with the new password.
    let mut again = Browser::new(&s);
    let a = again.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}

async fn roles_statuses_and_removal_follow_the_api_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let mut admin = member(&s, "ada@example.com", "admin").await;
    let _viewer = member(&s, "vera@example.com", "viewer").await;
    let vera = user_by_email(&s, "vera@example.com").await.unwrap();
    let vera_id = vera["id"].as_str().unwrap();
    let page = format!("/console/o/{}/settings/users/{vera_id}", s.org);
    let project = format!("project-{}", s.project);
    // The owner makes Vera limited, admin of the project, and disables her.
    let a = owner
        .submit(
            &page,
            &[
                ("action", "save"),
                ("role", "limited"),
                ("status", "disabled"),
                (&project, "admin"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Saved."));
    let vera = user_by_email(&s, "vera@example.com").await.unwrap();
    assert_eq!(vera["role"], "limited");
    assert_eq!(vera["status"], "disabled");
    assert_eq!(
        vera["permissions"],
        json!([{"projectId": s.project, "projectName": "Website", "role": "admin"}])
    );
    // An admin cannot make anyone owner (§2.3): 403, nothing changed.
    let a = admin
        .submit(
            &page,
            &[("action", "save"), ("role", "owner"), ("status", "active")],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("Only an owner"), "{}", a.body);
    assert_eq!(
        user_by_email(&s, "vera@example.com").await.unwrap()["role"],
        "limited"
    );
    // Nor remove the owner.
    let owner_user = user_by_email(&s, "owner@example.com").await.unwrap();
    let owner_page = format!(
        "/console/o/{}/settings/users/{}",
        s.org,
        owner_user["id"].as_str().unwrap()
    );
    let a = admin.submit(&owner_page, &[("action", "remove")]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(user_by_email(&s, "owner@example.com").await.is_some());
    // The admin removes Vera.
    let a = admin.submit(&page, &[("action", "remove")]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("vera@example.com was removed"));
    assert!(user_by_email(&s, "vera@example.com").await.is_none());
    assert_eq!(admin.get(&page).await.status, 403);
}

/// The secret shown on the answer page.
fn secret_of(html: &str) -> String {
    let marker = r#"<code id="new-secret">"#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no secret in:\n{html}"))
        + marker.len();
    html[start..].split('<').next().unwrap().to_string()
}

async fn a_new_key_secret_is_shown_once_and_works(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let keys = format!("/console/o/{}/settings/api-keys", s.org);
    let a = owner
        .submit(
            &keys,
            &[
                ("action", "create"),
                ("name", "Reporting"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let secret = secret_of(&a.body);
    assert!(secret.starts_with("ak_"), "{secret}");
    // It works against the Privacy API, with the role given.
    let (status, list) = send(s.req_as(&secret, Method::GET, &org_path(&s, "/data-systems"))).await;
    assert_eq!(status, 200, "{list}");
    let (status, _) = send(
        s.req_as(&secret, Method::POST, &org_path(&s, "/data-systems"))
            .json(&json!({"name": "X", "status": "active"})),
    )
    .await;
    assert_eq!(status, 403, "a viewer key");
    // Never shown again: the list has it masked.
    let page = owner.get(&keys).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&secret));
    assert!(page.body.contains("Reporting"));
    assert!(
        page.body.contains(&format!("{}****", &secret[..7])),
        "{}",
        page.body
    );
    // The API lists it too.
    let (_, api) = s.get(&org_path(&s, "/api-keys?name=Reporting")).await;
    assert_eq!(api["total"], 1, "{api}");
    let id = api["items"][0]["id"].as_str().unwrap().to_string();
    // Revoked: the secret no longer works.
    let a = owner
        .submit(&keys, &[("action", "revoke"), ("id", &id)])
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("was revoked"));
    let (status, _) = send(s.req_as(&secret, Method::GET, &org_path(&s, "/data-systems"))).await;
    assert_eq!(status, 401);
    // A bad role: the API's message, nothing created.
    let a = owner
        .submit(
            &keys,
            &[("action", "create"), ("name", "Bad"), ("role", "boss")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("role"), "{}", a.body);
    let (_, api) = s.get(&org_path(&s, "/api-keys?name=Bad")).await;
    assert_eq!(api["total"], 0);
}

async fn members_below_admin_cannot_change_settings(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let settings = format!("/console/o/{}/settings", s.org);
    let page = viewer.get(&settings).await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("Only the organization's admins and owners"));
    assert!(!page.body.contains("owner@example.com</a>"), "no user list");
    let csrf = csrf_of(&page.body);
    let keys = format!("{settings}/api-keys");
    assert_eq!(viewer.get(&keys).await.status, 403);
    let owner_user = user_by_email(&s, "owner@example.com").await.unwrap();
    let user_page = format!("{settings}/users/{}", owner_user["id"].as_str().unwrap());
    assert_eq!(viewer.get(&user_page).await.status, 403);
    refused(
        &mut viewer,
        &csrf,
        [
            (
                format!("{settings}/users"),
                vec![("email", "x@example.com"), ("role", "owner")],
            ),
            (
                keys.clone(),
                vec![("action", "create"), ("name", "X"), ("role", "owner")],
            ),
            (user_page.clone(), vec![("action", "remove")]),
        ],
    )
    .await;
    assert!(user_by_email(&s, "x@example.com").await.is_none());
    let (_, api) = s.get(&org_path(&s, "/api-keys?name=X")).await;
    assert_eq!(api["total"], 0);
    assert!(user_by_email(&s, "owner@example.com").await.is_some());
    // A stranger's organization stays closed.
    let (status, other) = s
        .post("/privacy-v1/organizations", json!({"name": "Other"}))
        .await;
    assert_eq!(status, 201, "{other}");
    let other_org = other["id"].as_str().unwrap();
    let a = viewer
        .get(&format!("/console/o/{other_org}/settings"))
        .await;
    assert_eq!(a.status, 403);
}

async fn send_from_emails_are_added_and_deleted(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let path = format!("/console/o/{}/settings/emails", s.org);
    let a = owner
        .submit(
            &path,
            &[
                ("action", "add"),
                ("email", "not-an-address"),
                ("name", "Acme"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains(r#"id="email-error""#), "{}", a.body);
    assert!(a.body.contains(r#"value="not-an-address""#));
    let (_, list) = s.get(&org_path(&s, "/emails")).await;
    assert_eq!(list["total"], 0, "nothing stored");
    let a = owner
        .submit(
            &path,
            &[
                ("action", "add"),
                ("email", "privacy@acme.example"),
                ("name", "Acme Privacy"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("privacy@acme.example"));
    assert!(a.body.contains("verified"));
    let (_, list) = s.get(&org_path(&s, "/emails")).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["name"], "Acme Privacy");
    assert_eq!(list["items"][0]["status"], "verified");
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    // The same address again: the API's 422.
    let a = owner
        .submit(
            &path,
            &[("action", "add"), ("email", "privacy@acme.example")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let api = s
        .post(
            &org_path(&s, "/emails"),
            json!({"email": "privacy@acme.example"}),
        )
        .await;
    assert_eq!(api.0, 422);
    assert!(
        a.body.contains(api.1["message"].as_str().unwrap()),
        "{}",
        a.body
    );
    // A viewer reads the list, without its forms, and cannot delete by hand.
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let page = viewer.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("privacy@acme.example"));
    assert!(!page.body.contains(r#"value="delete""#));
    let csrf = csrf_of(&page.body);
    let a = viewer
        .post(&path, &[("csrf", &csrf), ("action", "delete"), ("id", &id)])
        .await;
    assert_eq!(a.status, 403);
    // The owner deletes it.
    let a = owner
        .submit(&path, &[("action", "delete"), ("id", &id)])
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, list) = s.get(&org_path(&s, "/emails")).await;
    assert_eq!(list["total"], 0);
}

async fn policies_are_created_and_edited_with_their_html_shown(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let path = format!("/console/o/{}/settings/policies", s.org);
    let project = s.project.to_string();
    // No name: the API's message, what was typed kept, nothing stored.
    let a = owner
        .submit(
            &path,
            &[
                ("type", "privacyPolicy"),
                ("name", ""),
                ("status", "draft"),
                ("questionId", "intro"),
                ("answer", "Kept answer"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains("name"), "{}", a.body);
    assert!(a.body.contains("Kept answer"));
    let (_, list) = s.get(&org_path(&s, "/policies")).await;
    assert_eq!(list["total"], 0);
    let a = owner
        .submit(
            &path,
            &[
                ("type", "privacyPolicy"),
                ("name", "Privacy <notice>"),
                ("status", "active"),
                ("description", "The main one"),
                ("questionId", "intro"),
                ("answer", "We care.\n<script>alert(1)</script>"),
                ("questionId", ""),
                ("answer", ""),
                ("associatedProjects", &project),
            ],
        )
        .await;
    let (page_path, id, api) = created(&s, a, "/policies").await;
    assert_eq!(api["name"], "Privacy <notice>");
    assert_eq!(
        api["answers"],
        json!([{"questionId": "intro", "answer": "We care.\n<script>alert(1)</script>"}])
    );
    assert_eq!(api["associatedProjects"], json!([project]));
    // The page shows the server's html as it is: escaped, no script element.
    let page = owner.get(&page_path).await;
    assert_eq!(page.status, 200);
    let html = api["html"].as_str().unwrap();
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(page.body.contains(html), "{}", page.body);
    assert!(!page.body.contains("<script>alert"));
    // Edited: a new status and a second answer.
    let a = owner
        .submit(
            &page_path,
            &[
                ("type", "privacyPolicy"),
                ("name", "Privacy notice"),
                ("status", "archived"),
                ("questionId", "intro"),
                ("answer", "We care."),
                ("questionId", "contact"),
                ("answer", "Write to us."),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let (_, api) = s.get(&org_path(&s, &format!("/policies/{id}"))).await;
    assert_eq!(api["name"], "Privacy notice");
    assert_eq!(api["status"], "archived");
    assert_eq!(api["answers"][1]["answer"], "Write to us.");
    assert_eq!(api["associatedProjects"], json!([]));
    assert!(a.body.contains(api["html"].as_str().unwrap()));
    // A viewer reads, and cannot change.
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let page = viewer.get(&page_path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Save policy"));
    let list = viewer.get(&path).await;
    assert!(list.body.contains("Privacy notice"));
    let csrf = csrf_of(&list.body);
    let a = viewer
        .post(
            &page_path,
            &[
                ("csrf", &csrf),
                ("type", "privacyPolicy"),
                ("name", "X"),
                ("status", "active"),
            ],
        )
        .await;
    assert_eq!(a.status, 403);
    let (_, api) = s.get(&org_path(&s, &format!("/policies/{id}"))).await;
    assert_eq!(api["name"], "Privacy notice");
}

async fn the_settings_work_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start(b).await;
    crate::console::invite(&s, "vera@example.com", "viewer").await;
    let tab = owner_tab(&browser, &s).await;
    let settings = format!("/console/o/{}/settings", s.org);
    tab.goto(&s.url(&settings)).await;
    // Invite through the form.
    submit_and_wait(
        &tab,
        &fill_and_send(
            &[("email", "ada@example.com"), ("role", "admin")],
            "form.invite",
        ),
        &format!("{settings}/users"),
    )
    .await;
    let notice = notice_of(&tab).await;
    assert!(
        notice.as_str().unwrap().contains("ada@example.com"),
        "{notice}"
    );
    assert_eq!(
        user_by_email(&s, "ada@example.com").await.unwrap()["role"],
        "admin"
    );
    tab.goto(&s.url(&settings)).await;
    look(&tab, &axe_js, "settings", "console-settings").await;
    // A key through the form: its secret on the answer page.
    let keys = format!("{settings}/api-keys");
    tab.goto(&s.url(&keys)).await;
    submit_and_wait(
        &tab,
        &fill_and_send(&[("name", "Reporting")], "form[aria-labelledby=new-key-h]"),
        &keys,
    )
    .await;
    let secret = tab
        .eval("document.getElementById('new-secret').innerText")
        .await;
    let secret = secret.as_str().unwrap().to_string();
    let (status, _) = send(s.req_as(&secret, Method::GET, &org_path(&s, "/data-systems"))).await;
    assert_eq!(status, 200);
    look(&tab, &axe_js, "api keys", "console-settings-keys").await;
    let vera = user_by_email(&s, "vera@example.com").await.unwrap();
    tab.goto(&s.url(&format!(
        "{settings}/users/{}",
        vera["id"].as_str().unwrap()
    )))
    .await;
    look(&tab, &axe_js, "user", "console-settings-user").await;
    let (status, _) = s
        .post(
            &org_path(&s, "/emails"),
            json!({"email": "privacy@acme.example", "name": "Acme Privacy"}),
        )
        .await;
    assert_eq!(status, 201);
    tab.goto(&s.url(&format!("{settings}/emails"))).await;
    look(&tab, &axe_js, "emails", "console-settings-emails").await;
    let (status, policy) = s
        .post(
            &org_path(&s, "/policies"),
            json!({"type": "privacyPolicy", "name": "Privacy notice", "status": "active",
                "organizationId": s.org, "answers": [
                    {"questionId": "intro", "answer": "We keep little.\nWe sell nothing."}]}),
        )
        .await;
    assert_eq!(status, 201, "{policy}");
    tab.goto(&s.url(&format!(
        "{settings}/policies/{}",
        policy["id"].as_str().unwrap()
    )))
    .await;
    look(&tab, &axe_js, "policy", "console-settings-policy").await;
    // Narrow screens: no page wider than the viewport.
    narrow(&tab).await;
    for path in [
        settings.clone(),
        keys.clone(),
        format!("{settings}/emails"),
        format!("{settings}/policies"),
    ] {
        tab.goto(&s.url(&path)).await;
        let fits = fits(&tab).await;
        assert_eq!(fits, true, "{path} fits 390 px");
    }
    tab.goto(&s.url(&settings)).await;
    tab.screenshot("console-settings-narrow").await;
    browser.close().await;
}

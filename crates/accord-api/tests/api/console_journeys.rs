//! The console's journeys in headless Chromium against the real server: each drives the
//! pages as a person does (fields filled, buttons clicked, links followed) and checks what
//! the page shows and what the server stored, through the Privacy and Site APIs.
use crate::both;
use crate::browser::{Browser, Tab};
use crate::common::*;
use crate::console::{
    fill_and_send, invite, link_token, look, no_serious_violations, owner_link, PASSWORD,
};
use accord_core::console::LinkKind;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both!(
    an_admin_invited_from_settings_sets_a_password_and_signs_in,
    a_viewer_sees_no_buttons_and_a_form_made_by_hand_is_refused,
    a_request_is_worked_from_the_inbox_to_resolved_with_a_file,
    the_record_of_processing_is_exported_as_the_api_csv,
    wrong_passwords_throttle_the_sign_in,
    a_form_with_a_changed_token_is_refused
);

/// Chromium, axe-core and a started server; `None` when Chromium is missing outside CI.
async fn journey(b: accord_store::Backend) -> Option<(Browser, String, Server)> {
    let browser = Browser::launch().await?;
    Some((browser, crate::browser::axe_source(), start(b).await))
}

/// Runs `script` (which sends a form or follows a link) and waits for the next document
/// at `path` to load; answers its HTTP status.
async fn send(tab: &Tab, script: &str, path: &str) -> u64 {
    tab.eval(&format!(
        "window.journeyOld = true; setTimeout(() => {{ {script} }}, 0); true"
    ))
    .await;
    let probe = "[location.pathname, document.readyState, !!window.journeyOld, \
                 performance.getEntriesByType('navigation')[0].responseStatus]";
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Evaluations fail while the next document replaces this one: try again.
        if let Ok(v) = tab.page.evaluate(probe).await {
            let v: Value = v.into_value().unwrap_or_default();
            if v[0] == path && v[1] == "complete" && v[2] == false {
                return v[3].as_u64().unwrap();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no page at {path} after: {script}\nthe tab shows {}",
            text(tab).await
        );
    }
}

/// What the page shows.
async fn text(tab: &Tab) -> String {
    let v = tab
        .eval("document.body ? document.body.innerText : ''")
        .await;
    v.as_str().unwrap_or_default().to_string()
}

/// The text of the first element matching `selector`.
async fn text_of(tab: &Tab, selector: &str) -> String {
    let v = tab
        .eval(&format!(
            "document.querySelector({}).textContent.trim()",
            json!(selector)
        ))
        .await;
    v.as_str().unwrap().to_string()
}

/// A script clicking the button of the form that holds `selector`.
fn click_in(selector: &str) -> String {
    format!(
        "document.querySelector({}).closest('form').querySelector('button').click();",
        json!(selector)
    )
}

/// A tab signed in as the owner, through the first-account link.
async fn owner_tab(s: &Server, browser: &Browser) -> Tab {
    let tab = browser
        .open(&s.url(&format!("/console/setup/{}", owner_link(s).await)))
        .await;
    let fields = [
        ("email", "owner@example.com"),
        ("name", "Olive Owner"),
        ("password", PASSWORD),
    ];
    send(&tab, &fill_and_send(&fields, "main form"), "/console").await;
    tab
}

/// Opens the invitation emailed to `email` in `tab` and sets a password: signed in.
async fn accept_invitation(s: &Server, tab: &Tab, email: &str) {
    let token = link_token(s, email, LinkKind::Invitation).await;
    tab.goto(&s.url(&format!("/console/invitation/{token}")))
        .await;
    let fill = fill_and_send(&[("password", PASSWORD)], "main form");
    assert_eq!(send(tab, &fill, "/console").await, 200);
}

/// The Privacy API's view of the organization's User `email`.
async fn api_user(s: &Server, email: &str) -> Option<Value> {
    let (status, users) = s
        .get(&format!("/privacy-v1/organizations/{}/users", s.org))
        .await;
    assert_eq!(status, 200, "{users}");
    users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .cloned()
}

fn request_page(s: &Server, id: &str) -> String {
    format!("/console/o/{}/p/{}/requests/{id}", s.org, s.project)
}

async fn api_request(s: &Server, id: &str) -> Value {
    s.get(&format!("{}/{id}", s.project_path("/compliance-requests")))
        .await
        .1
}

async fn an_admin_invited_from_settings_sets_a_password_and_signs_in(b: accord_store::Backend) {
    let Some((browser, axe_js, s)) = journey(b).await else {
        return;
    };
    let owner = owner_tab(&s, &browser).await;
    let settings = format!("/console/o/{}/settings", s.org);
    owner.goto(&s.url(&settings)).await;
    let fields = [
        ("email", "ada@example.com"),
        ("name", "Ada"),
        ("role", "admin"),
    ];
    let status = send(
        &owner,
        &fill_and_send(&fields, "form.invite"),
        &format!("{settings}/users"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        text_of(&owner, ".notice").await,
        "ada@example.com is invited as admin: the invitation email is on its way."
    );
    let ada = api_user(&s, "ada@example.com").await.expect("invited");
    assert_eq!(
        (&ada["role"], &ada["status"]),
        (&json!("admin"), &json!("pending"))
    );
    // The invitation link, opened in another person's browser.
    let tab = browser.private_tab().await;
    accept_invitation(&s, &tab, "ada@example.com").await;
    let home = text(&tab).await;
    assert!(
        home.contains("ada@example.com") && home.contains("Acme"),
        "{home}"
    );
    assert!(
        !home.contains("owner@example.com"),
        "not the owner's session: {home}"
    );
    look(&tab, &axe_js, "invited home", "console-journey-invited").await;
    assert_eq!(
        api_user(&s, "ada@example.com").await.unwrap()["status"],
        "active"
    );
    // Ada reaches the organization's pages as the admin she is.
    tab.goto(&s.url(&settings)).await;
    assert!(text(&tab).await.contains("Invite a user"));
    browser.close().await;
}

async fn a_viewer_sees_no_buttons_and_a_form_made_by_hand_is_refused(b: accord_store::Backend) {
    let Some((browser, axe_js, s)) = journey(b).await else {
        return;
    };
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    invite(&s, "vera@example.com", "viewer").await;
    let tab = browser.tab().await;
    accept_invitation(&s, &tab, "vera@example.com").await;
    let path = request_page(&s, id);
    tab.goto(&s.url(&path)).await;
    let page = text(&tab).await;
    assert!(
        page.contains(cr["user"]["email"].as_str().unwrap()),
        "{page}"
    );
    let changes = tab
        .eval(
            "document.querySelectorAll('main form, main input[name=action], main input[type=file]').length",
        )
        .await;
    assert_eq!(changes, 0, "no change buttons or forms for a viewer");
    look(&tab, &axe_js, "viewer request", "console-journey-viewer").await;
    tab.resize(390, 844, true).await;
    tab.goto(&s.url(&path)).await;
    let fits = tab
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, true, "the request page fits 390 px");
    // A form built in the page, with the viewer's real token, is refused.
    let forged = "const f = document.createElement('form'); f.method = 'post'; \
        f.action = location.pathname; \
        for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], \
                              ['action', 'acknowledge']]) { \
          const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; \
          f.appendChild(i); } \
        document.body.appendChild(f); f.requestSubmit();";
    assert_eq!(send(&tab, forged, &path).await, 403);
    assert_eq!(text(&tab).await, "You do not have access to this page.");
    assert_eq!(api_request(&s, id).await["status"], "submitted");
    browser.close().await;
}

async fn a_request_is_worked_from_the_inbox_to_resolved_with_a_file(b: accord_store::Backend) {
    let Some((browser, axe_js, s)) = journey(b).await else {
        return;
    };
    let (cr, session) = crate::console_files::request_with_session(&s).await;
    let id = cr["id"].as_str().unwrap();
    let path = request_page(&s, id);
    let tab = owner_tab(&s, &browser).await;
    tab.goto(&s.url(&format!("/console/o/{}/requests", s.org)))
        .await;
    let open = format!("document.querySelector('table.inbox a[href$=\"{id}\"]').click();");
    assert_eq!(send(&tab, &open, &path).await, 200);
    let email = cr["user"]["email"].as_str().unwrap();
    assert!(text(&tab).await.contains(email));
    let acknowledge = click_in("input[name=action][value=acknowledge]");
    assert_eq!(send(&tab, &acknowledge, &path).await, 200);
    assert_eq!(text_of(&tab, ".notice").await, "Saved.");
    assert_eq!(text_of(&tab, "#state .status").await, "acknowledged");
    assert_eq!(api_request(&s, id).await["status"], "acknowledged");
    // A file chosen in the browser's file input, sent with the Upload button.
    let bytes = b"Your orders: 2024-01-03 tea; 2024-02-11 cups.\n".to_vec();
    let local = s.dir.path().join("your-data.txt");
    std::fs::write(&local, &bytes).unwrap();
    tab.choose_files("#file", &[&local]).await;
    let upload = send(&tab, &click_in("#file"), &format!("{path}/files")).await;
    assert_eq!(upload, 200);
    assert_eq!(text_of(&tab, ".notice").await, "Uploaded 1 file.");
    // Resolved with an outcome and a message.
    let resolve = format!(
        "document.getElementById('resolutionStatus').value = 'completed'; \
         document.getElementById('resolution').value = 'Attached: everything we hold.'; {}",
        click_in("#resolution")
    );
    assert_eq!(send(&tab, &resolve, &path).await, 200);
    assert_eq!(text_of(&tab, "#state .status").await, "resolved");
    assert!(text(&tab).await.contains("your-data.txt"));
    no_serious_violations(&tab, &axe_js, "resolved request").await;
    // Tall enough to show the status, the files and the timeline together.
    tab.resize(1280, 1500, false).await;
    tab.screenshot("console-journey-resolved").await;
    let got = api_request(&s, id).await;
    assert_eq!(got["status"], "resolved");
    assert_eq!(got["resolutionStatus"], "completed");
    assert_eq!(got["resolution"], "Attached: everything we hold.");
    assert_eq!(got["files"][0]["fileName"], "your-data.txt");
    let mail = crate::lifecycle::outbox_message(&s, email, "eml").await;
    assert!(mail.contains("available for you to download"), "{mail}");
    // The person downloads the same bytes through the Site API.
    let res = s
        .client
        .get(s.url(&format!(
            "/site-v1/{}/compliance-requests/{id}/files/your-data.txt",
            s.project
        )))
        .header("x-session", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), &bytes[..]);
    browser.close().await;
}

async fn the_record_of_processing_is_exported_as_the_api_csv(b: accord_store::Backend) {
    let Some((browser, _, s)) = journey(b).await else {
        return;
    };
    let org = |rest: &str| format!("/privacy-v1/organizations/{}{rest}", s.org);
    let mut system = json!({"name": "Ledger, \"main\"", "status": "active", "crossBorder": true,
        "projectIds": [s.project]});
    for (kind, field, name) in [
        (
            "data-categories",
            "dataSystemDataCategories",
            "Email address",
        ),
        ("processing-activities", "processingActivities", "Billing"),
        (
            "processing-purposes",
            "dataSystemProcessingPurposes",
            "Contract",
        ),
    ] {
        let mut body = json!({"name": name, "status": "active"});
        if kind == "data-categories" {
            body["pIIType"] = json!("standard");
        }
        let (status, a) = s.post(&org(&format!("/data-system-{kind}")), body).await;
        assert_eq!(status, 201, "{a}");
        system[field] = json!([a["id"]]);
    }
    let (status, sys) = s.post(&org("/data-systems"), system).await;
    assert_eq!(status, 201, "{sys}");
    let downloads = tempfile::tempdir().unwrap();
    browser.download_to(downloads.path()).await;
    let tab = owner_tab(&s, &browser).await;
    tab.goto(&s.url(&format!(
        "/console/o/{}/data-map/record-of-processing",
        s.org
    )))
    .await;
    assert!(text(&tab).await.contains("Billing"));
    tab.eval("[...document.querySelectorAll('a[download]')].find(a => a.innerText === 'Export CSV').click(); true")
        .await;
    let start = Instant::now();
    let file = loop {
        let done: Vec<_> = std::fs::read_dir(downloads.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x != "crdownload"))
            .collect();
        if let [one] = &done[..] {
            break one.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no download");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let api = s
        .req(
            reqwest::Method::GET,
            &org("/records-of-processing?format=csv"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let api = api.bytes().await.unwrap();
    let got = std::fs::read(&file).unwrap();
    assert_eq!(
        got,
        &api[..],
        "the download is the API's CSV, byte for byte"
    );
    assert!(String::from_utf8(got).unwrap().contains("Billing"));
    browser.close().await;
}

async fn wrong_passwords_throttle_the_sign_in(b: accord_store::Backend) {
    let Some((browser, axe_js, s)) = journey(b).await else {
        return;
    };
    let _owner = crate::console::owner(&s).await;
    let tab = browser.open(&s.url("/console/sign-in")).await;
    let attempt = |password: &str| {
        fill_and_send(
            &[("email", "owner@example.com"), ("password", password)],
            "main form",
        )
    };
    for _ in 0..5 {
        let status = send(&tab, &attempt("wrong password!"), "/console/sign-in").await;
        assert_eq!(status, 401);
        assert_eq!(
            text_of(&tab, "#form-error").await,
            "The email address or the password is not right."
        );
    }
    // The right password, too soon: refused with the throttling message.
    let status = send(&tab, &attempt(PASSWORD), "/console/sign-in").await;
    assert_eq!(status, 429);
    assert_eq!(
        text_of(&tab, "#form-error").await,
        "Too many failed sign-ins. Try again in 15 minutes."
    );
    let kept = tab.eval("document.getElementById('email').value").await;
    assert_eq!(kept, "owner@example.com");
    look(
        &tab,
        &axe_js,
        "throttled sign-in",
        "console-journey-throttled",
    )
    .await;
    // No session was opened: the console sends the browser back to sign in.
    tab.goto(&s.url("/console")).await;
    let at = tab.eval("location.pathname").await;
    assert_eq!(at, "/console/sign-in");
    browser.close().await;
}

async fn a_form_with_a_changed_token_is_refused(b: accord_store::Backend) {
    let Some((browser, _, s)) = journey(b).await else {
        return;
    };
    let tab = owner_tab(&s, &browser).await;
    let settings = format!("/console/o/{}/settings", s.org);
    tab.goto(&s.url(&settings)).await;
    let forged = format!(
        "document.querySelector('form.invite input[name=csrf]').value = 'changed'; {}",
        fill_and_send(&[("email", "mallory@example.com")], "form.invite")
    );
    let status = send(&tab, &forged, &format!("{settings}/users")).await;
    assert_eq!(status, 403);
    assert_eq!(
        text(&tab).await,
        "This form has expired or was sent from another site. Go back, reload the page and try again."
    );
    assert!(api_user(&s, "mallory@example.com").await.is_none());
    // Still signed in: the same form with its own token works.
    tab.goto(&s.url(&settings)).await;
    let fill = fill_and_send(&[("email", "mallory@example.com")], "form.invite");
    assert_eq!(send(&tab, &fill, &format!("{settings}/users")).await, 200);
    assert!(api_user(&s, "mallory@example.com").await.is_some());
    browser.close().await;
}

//! The life of a compliance request for its subject: site requests (§5.3), verification by
//! code and by link (§3.6), outgoing messages through the outbox, an SMS webhook and a real
//! SMTP server (§9.6), send-from emails (§7.6), subject downloads and the file purge (§3.8).
use crate::both;
use crate::common::*;
use accord_api::mail::MailConfig;
use accord_api::{ApiConfig, AppState};
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use reqwest::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

both!(
    site_request_verified_by_code,
    wrong_codes_exhaust_the_challenge,
    link_verifies_once,
    site_requests_are_private_to_their_identity,
    site_create_rules_and_limits,
    sms_goes_to_the_webhook_or_the_outbox,
    resolution_is_notified,
    smtp_delivery_from_the_project_sender,
    smtp_outage_is_retried,
    send_from_emails_crud,
    subject_downloads_files,
    purge_removes_due_files,
    two_servers_purge_once,
    erasure_forgets_messages,
);

fn config() -> ApiConfig {
    ApiConfig {
        rate_limit_privacy: 0,
        rate_limit_site: 0,
        mail: MailConfig {
            poll_ms: 50,
            retry_base_ms: 200,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn site(s: &Server, rest: &str) -> String {
    format!("/site-v1/{}{}", s.project, rest)
}

async fn full(rb: reqwest::RequestBuilder) -> (u16, String, HeaderMap) {
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, res.text().await.unwrap_or_default(), headers)
}

/// A fresh session, optionally for an existing identity: (token, concordId).
async fn mint(s: &Server, concord_id: Option<&str>) -> (String, String) {
    let mut rb = s.client.post(s.url(&site(s, "/session")));
    if let Some(c) = concord_id {
        rb = rb.json(&json!({"concordId": c}));
    }
    let (status, body) = send(rb).await;
    assert_eq!(status, 201, "{body}");
    (
        body["session"].as_str().unwrap().to_string(),
        body["concordId"].as_str().unwrap().to_string(),
    )
}

fn sreq(s: &Server, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    s.client
        .request(method, s.url(path))
        .header("x-session", token)
}

async fn spost(s: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(sreq(s, Method::POST, path, token).json(&body)).await
}

async fn sget(s: &Server, path: &str, token: &str) -> (u16, Value) {
    send(sreq(s, Method::GET, path, token)).await
}

fn unique_email() -> String {
    format!("{}@example.com", Uuid::new_v4().simple())
}

/// Files a site request and returns it.
async fn site_request(s: &Server, token: &str, email: &str) -> Value {
    let (status, cr) = spost(
        s,
        &site(s, "/compliance-requests"),
        token,
        json!({"request": "view", "userEmail": email, "captureUrl": "https://localhost/privacy",
               "userFirstName": "Jane", "requestDetails": {"note": "all of it"}}),
    )
    .await;
    assert_eq!(status, 201, "{cr}");
    cr
}

/// Files of the outbox with the given extension, oldest first.
fn outbox_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A message as a reader sees it: headers as sent, a quoted-printable body decoded.
fn readable(raw: &str) -> String {
    let Some((head, body)) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
    else {
        return raw.to_string();
    };
    if !head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return raw.to_string();
    }
    let body = quoted_printable::decode(body, quoted_printable::ParseMode::Robust)
        .expect("quoted-printable body");
    format!("{head}\n\n{}", String::from_utf8(body).expect("utf-8 body"))
}

/// Waits until a message to `to` shows up among the files `list` returns; returns its text.
async fn wait_for_message(list: impl Fn() -> Vec<PathBuf>, to: &str) -> String {
    for _ in 0..200 {
        for p in list() {
            let text = readable(&std::fs::read_to_string(&p).unwrap_or_default());
            if text.contains(to) {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message to {to} arrived");
}

pub(crate) async fn outbox_message(s: &Server, to: &str, ext: &str) -> String {
    let dir = s.dir.path().join("outbox");
    let ext = ext.to_string();
    wait_for_message(move || outbox_files(&dir, &ext), to).await
}

/// The six-digit code of a message.
pub(crate) fn code_in(text: &str) -> String {
    let re = regex_lite(text);
    re.unwrap_or_else(|| panic!("no code in message:\n{text}"))
}

fn regex_lite(text: &str) -> Option<String> {
    let marker = "verification code";
    let start = text.find(marker)?;
    let digits: String = text[start..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (digits.len() == 6).then_some(digits)
}

/// Events of one request, oldest first.
async fn events_of(s: &Server, id: &str) -> Vec<Value> {
    let (status, body) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={id}&limit=100&order=asc"
        )))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn wait_for_event(s: &Server, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        if let Some(e) = events_of(s, id).await.into_iter().find(&pred) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected event never written on {id}: {:?}",
        events_of(s, id).await
    );
}

async fn privacy_get(s: &Server, id: &str) -> Value {
    let (status, cr) = s
        .get(&s.project_path(&format!("/compliance-requests/{id}")))
        .await;
    assert_eq!(status, 200, "{cr}");
    cr
}

async fn site_request_verified_by_code(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (token, cid) = mint(&s, None).await;
    let email = unique_email();
    let cr = site_request(&s, &token, &email).await;
    let id = cr["id"].as_str().unwrap().to_string();
    assert_eq!(cr["status"], "pending_verification");
    assert_eq!(cr["concordId"], cid.as_str());
    assert_eq!(cr["preverified"], false);
    assert_eq!(cr["verificationMethod"], "email");
    assert_eq!(cr["domain"], "localhost");
    assert_eq!(cr["user"]["email"], email.as_str());
    assert_eq!(cr["files"], json!([]));
    for absent in ["notes", "dataSystemTasks", "verificationRequestId"] {
        assert!(
            cr.get(absent).is_none(),
            "site variant has no {absent}: {cr}"
        );
    }
    assert!(cr["session"]["id"].is_string(), "{cr}");
    // The Privacy API shows the challenge id.
    let full = privacy_get(&s, &id).await;
    assert!(full["verificationRequestId"].is_string(), "{full}");

    let mail = outbox_message(&s, &email, "eml").await;
    assert!(mail.contains("From: Accord <no-reply@localhost>"), "{mail}");
    assert!(mail.contains(&format!("To: {email}")), "{mail}");
    assert!(
        !mail.contains("/verify/"),
        "no link without ACCORD_PUBLIC_URL"
    );
    let code = code_in(&mail);
    // The index line follows the message file.
    let mut index = String::new();
    for _ in 0..100 {
        index =
            std::fs::read_to_string(s.dir.path().join("outbox/index.jsonl")).unwrap_or_default();
        if index.contains(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(index.contains(&id), "the index names the request: {index}");

    let verify = site(&s, &format!("/compliance-requests/{id}/verify"));
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_error(
        &spost(&s, &verify, &token, json!({"code": wrong})).await,
        422,
        "invalid verification code",
    );
    assert_error(
        &spost(&s, &verify, &token, json!({"code": "12345"})).await,
        400,
        "body/code must match pattern \"^[0-9]{6}$\"",
    );
    // Any session of the project may submit the code: the code is the proof.
    let (other, _) = mint(&s, None).await;
    let (status, done) = spost(&s, &verify, &other, json!({"code": code})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["status"], "submitted");
    assert!(done["verifiedDate"].as_i64().unwrap() > 0);
    assert_error(
        &spost(&s, &verify, &token, json!({"code": code})).await,
        422,
        "compliance request is not pending verification",
    );
    let unknown = site(
        &s,
        &format!("/compliance-requests/{}/verify", Uuid::new_v4()),
    );
    assert_eq!(
        spost(&s, &unknown, &token, json!({"code": code})).await.0,
        404
    );

    let events = events_of(&s, &id).await;
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["created", "verification_sent", "status_changed", "verified"],
        "{events:?}"
    );
    assert_eq!(
        events[0]["details"],
        json!({"source": "site-v1", "request": "view", "preverified": false})
    );
    let local = &email[..1];
    assert_eq!(
        events[1]["details"],
        json!({"method": "email", "destination": format!("{local}***@example.com"), "delivered": true})
    );
    assert_eq!(
        events[2]["details"],
        json!({"from": "pending_verification", "to": "submitted"})
    );
    assert_eq!(events[3]["details"], json!({"method": "email"}));
    assert!(events.iter().all(|e| e["accountId"].is_null()));
}

async fn wrong_codes_exhaust_the_challenge(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (token, _) = mint(&s, None).await;
    let email = unique_email();
    let cr = site_request(&s, &token, &email).await;
    let id = cr["id"].as_str().unwrap();
    let code = code_in(&outbox_message(&s, &email, "eml").await);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let verify = site(&s, &format!("/compliance-requests/{id}/verify"));
    for _ in 0..5 {
        assert_error(
            &spost(&s, &verify, &token, json!({"code": wrong})).await,
            422,
            "invalid verification code",
        );
    }
    assert_error(
        &spost(&s, &verify, &token, json!({"code": code})).await,
        422,
        "verification code expired",
    );
    assert_eq!(privacy_get(&s, id).await["status"], "pending_verification");
    // An expired challenge: the request stays pending and an admin can still verify it.
    let (status, patched) = s
        .patch(
            &s.project_path(&format!("/compliance-requests/{id}")),
            json!({"status": "submitted"}),
        )
        .await;
    assert_eq!(
        (status, patched["status"].as_str()),
        (200, Some("submitted"))
    );

    // A challenge past its 72 hours is expired too.
    let cr = site_request(&s, &token, &unique_email()).await;
    let id = cr["id"].as_str().unwrap();
    let (sql, _) = (
        format!(
            "UPDATE verification_challenges SET expires_at = 1 WHERE compliance_request_id = '{id}'"
        ),
        (),
    );
    sqlx::query(&sql).execute(&s.store.db.write).await.unwrap();
    assert_error(
        &spost(
            &s,
            &site(&s, &format!("/compliance-requests/{id}/verify")),
            &token,
            json!({"code": "123456"}),
        )
        .await,
        422,
        "verification code expired",
    );
}

async fn link_verifies_once(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            public_url: Some("https://privacy.example.com".into()),
            ..config()
        },
    )
    .await;
    let (token, _) = mint(&s, None).await;
    let email = unique_email();
    let cr = site_request(&s, &token, &email).await;
    let id = cr["id"].as_str().unwrap();
    let mail = outbox_message(&s, &email, "eml").await;
    let prefix = format!("https://privacy.example.com/site-v1/{}/verify/", s.project);
    let at = mail.find(&prefix).unwrap_or_else(|| panic!("{mail}")) + prefix.len();
    let link_token: String = mail[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(link_token.len(), 43, "32 bytes in base64url");
    let path = site(&s, &format!("/verify/{link_token}"));

    let (status, html, headers) = full(s.client.get(s.url(&path))).await;
    assert_eq!(status, 200);
    assert!(html.contains("<form method=\"post\">") && html.contains("Confirm"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        privacy_get(&s, id).await["status"],
        "pending_verification",
        "a GET never verifies"
    );

    let (status, html, headers) = full(
        s.client
            .post(s.url(&path))
            .header("origin", "https://mail.example.net")
            .body("ignored=1"),
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Your request has been verified"));
    assert_eq!(headers["cache-control"], "no-store");
    let cr = privacy_get(&s, id).await;
    assert_eq!(cr["status"], "submitted");
    let verified = wait_for_event(&s, id, |e| e["event"] == "verified").await;
    assert_eq!(verified["details"], json!({"method": "email"}));

    let (status, html, _) = full(s.client.post(s.url(&path))).await;
    assert_eq!(status, 410);
    assert!(html.contains("This link is invalid or has expired"));
    let (status, _, _) = full(s.client.post(s.url(&site(&s, "/verify/not-a-token")))).await;
    assert_eq!(status, 410);
    let (status, _, _) = full(
        s.client
            .get(s.url(&format!("/site-v1/{}/verify/{link_token}", Uuid::new_v4()))),
    )
    .await;
    assert_eq!(status, 404, "unknown project");
}

async fn site_requests_are_private_to_their_identity(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (alice, alice_id) = mint(&s, None).await;
    let (bob, _) = mint(&s, None).await;
    let a1 = site_request(&s, &alice, &unique_email()).await;
    let a2 = site_request(&s, &alice, &unique_email()).await;
    let b1 = site_request(&s, &bob, &unique_email()).await;

    let (status, list) = sget(&s, &site(&s, "/compliance-requests"), &alice).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 2);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&a1["id"].as_str().unwrap()) && ids.contains(&a2["id"].as_str().unwrap()));
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["concordId"] == alice_id.as_str() && c.get("notes").is_none()));
    let (_, filtered) = sget(
        &s,
        &site(&s, "/compliance-requests?status=submitted"),
        &alice,
    )
    .await;
    assert_eq!(filtered["total"], 0);
    assert_error(
        &sget(&s, &site(&s, "/compliance-requests?sort=userEmail"), &alice).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, requestDate, status",
    );

    let own = site(
        &s,
        &format!("/compliance-requests/{}", a1["id"].as_str().unwrap()),
    );
    let (status, got) = sget(&s, &own, &alice).await;
    assert_eq!((status, &got["id"]), (200, &a1["id"]));
    let foreign = site(
        &s,
        &format!("/compliance-requests/{}", b1["id"].as_str().unwrap()),
    );
    assert_eq!(
        sget(&s, &foreign, &alice).await.0,
        404,
        "another identity's request"
    );
    assert_eq!(sget(&s, &own, &bob).await.0, 404);
    assert_error(
        &send(s.client.get(s.url(&own))).await,
        401,
        "Missing x-session header",
    );
}

async fn site_create_rules_and_limits(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let (token, cid) = mint(&s, None).await;
    let path = site(&s, "/compliance-requests");
    let cases = [
        (
            json!({"request": "view", "userEmail": "a@example.com"}),
            "body must have required property 'captureUrl'",
        ),
        (
            json!({"request": "view", "captureUrl": "https://localhost/"}),
            "body must have required property 'userEmail'",
        ),
        (
            json!({"request": "view", "userEmail": "nope", "captureUrl": "https://localhost/"}),
            "body/userEmail must match format \"email\"",
        ),
        (
            json!({"request": "view", "userEmail": "a@example.com", "captureUrl": "ftp://x/"}),
            "body/captureUrl must match format \"uri\"",
        ),
        (
            json!({"request": "erase", "userEmail": "a@example.com", "captureUrl": "https://localhost/"}),
            "body/request must be equal to one of the allowed values: change, delete, view, do_not_sell",
        ),
        (
            json!({"request": "view", "userEmail": "a@example.com", "captureUrl": "https://localhost/", "preverified": true}),
            "body must NOT have additional properties: 'preverified'",
        ),
        (
            json!([{"request": "view"}]),
            "body must be object",
        ),
    ];
    for (body, message) in cases {
        assert_error(&spost(&s, &path, &token, body).await, 400, message);
    }
    // Nothing was stored by the rejected bodies.
    let (_, list) = s.get(&s.project_path("/compliance-requests")).await;
    assert_eq!(list["total"], 0);

    // The email joins the session identity, which had none.
    let email = unique_email();
    site_request(&s, &token, &email).await;
    let (_, ident) = s.get(&s.project_path(&format!("/identities/{cid}"))).await;
    assert_eq!(ident["email"], email.as_str(), "{ident}");

    // 3 per hour per email and project.
    site_request(&s, &token, &email).await;
    site_request(&s, &token, &email).await;
    let res = sreq(&s, Method::POST, &path, &token)
        .json(&json!({"request": "view", "userEmail": email.to_uppercase(), "captureUrl": "https://localhost/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["message"],
        format!("Rate limit exceeded, retry in {retry} seconds")
    );
    // 10 per hour per client IP, whatever the email.
    for _ in 0..7 {
        site_request(&s, &token, &unique_email()).await;
    }
    let (status, body) = spost(
        &s,
        &path,
        &token,
        json!({"request": "view", "userEmail": unique_email(), "captureUrl": "https://localhost/"}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
}

/// A one-route HTTP server that records what the SMS webhook receives.
async fn webhook(status: u16) -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let seen: Arc<std::sync::Mutex<Vec<Value>>> = Arc::default();
    let sink = seen.clone();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/sms"), seen)
}

async fn sms_goes_to_the_webhook_or_the_outbox(b: accord_store::Backend) {
    let (url, seen) = webhook(200).await;
    let s = start_with(
        b,
        ApiConfig {
            mail: MailConfig {
                sms_webhook_url: Some(url),
                ..config().mail
            },
            public_url: Some("https://privacy.example.com".into()),
            ..config()
        },
    )
    .await;
    let cr = s
        .create_request(json!({"request": "delete", "userPhoneNumber": "+1 555 010 4567"}))
        .await;
    let id = cr["id"].as_str().unwrap();
    assert_eq!(cr["status"], "pending_verification");
    assert_eq!(cr["verificationMethod"], "sms");
    let sent = wait_for_event(&s, id, |e| e["event"] == "verification_sent").await;
    assert_eq!(
        sent["details"],
        json!({"method": "sms", "destination": "***4567", "delivered": true})
    );
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["to"], "+1 555 010 4567");
    let body = got[0]["body"].as_str().unwrap();
    let code: String = body.chars().filter(|c| c.is_ascii_digit()).collect();
    assert_eq!(code.len(), 6, "{body}");
    assert!(
        !body.contains("http"),
        "an SMS carries the code only: {body}"
    );

    // Without a webhook, SMS goes to the outbox as text.
    let s = start_with(b, config()).await;
    let cr = s
        .create_request(json!({"request": "view", "userPhoneNumber": "+44 20 7946 0018"}))
        .await;
    let text = outbox_message(&s, "+44 20 7946 0018", "txt").await;
    assert!(text.contains("verification code is"), "{text}");
    // A request with no email and no phone waits for an admin.
    let cr2 = s
        .create_request(json!({"request": "view", "userId": "u-1"}))
        .await;
    assert!(cr2.get("verificationMethod").is_none(), "{cr2}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let names: Vec<Value> = events_of(&s, cr2["id"].as_str().unwrap())
        .await
        .into_iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(names, [json!("created")]);
    let _ = cr;

    // A webhook that fails records delivered: false and the request is unaffected.
    let (url, _) = webhook(500).await;
    let s = start_with(
        b,
        ApiConfig {
            mail: MailConfig {
                sms_webhook_url: Some(url),
                retry_base_ms: 60_000,
                ..config().mail
            },
            ..config()
        },
    )
    .await;
    let cr = s
        .create_request(json!({"request": "view", "userPhoneNumber": "+1 555 010 9999"}))
        .await;
    let sent = wait_for_event(&s, cr["id"].as_str().unwrap(), |e| {
        e["event"] == "verification_sent"
    })
    .await;
    assert_eq!(sent["details"]["delivered"], false);
    assert_eq!(
        privacy_get(&s, cr["id"].as_str().unwrap()).await["status"],
        "pending_verification"
    );
}

async fn resolution_is_notified(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let email = unique_email();
    let cr = s
        .create_request(json!({"request": "delete", "userEmail": email, "preverified": true}))
        .await;
    let id = cr["id"].as_str().unwrap();
    let path = s.project_path(&format!("/compliance-requests/{id}"));
    assert_eq!(
        s.patch(&path, json!({"status": "acknowledged"})).await.0,
        200
    );
    let (status, done) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolutionStatus": "completed", "resolution": "All records were erased on request."}),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let mail = outbox_message(&s, &email, "eml").await;
    assert!(mail.contains("has been resolved"), "{mail}");
    assert!(mail.contains("completed"), "{mail}");
    assert!(
        mail.contains("All records were erased on request."),
        "{mail}"
    );
    assert!(mail.contains("delete your personal data"), "{mail}");
    let resolved = wait_for_event(&s, id, |e| e["event"] == "resolved").await;
    assert_eq!(
        resolved["details"],
        json!({"resolutionStatus": "completed", "notified": true})
    );
    // Only the resolution was sent: a preverified request needs no verification.
    let dir = s.dir.path().join("outbox");
    assert_eq!(outbox_files(&dir, "eml").len(), 1);
}

/// An SMTP server process (aiosmtpd) that stores what it receives in a maildir.
struct SmtpSink {
    child: std::process::Child,
    maildir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn smtp_sink(port: u16, dir: &Path) -> SmtpSink {
    let maildir = dir.join(format!("maildir-{port}"));
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            maildir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (pip install aiosmtpd) runs the SMTP test server");
    let mut sink = SmtpSink { child, maildir };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return sink;
        }
        if let Ok(Some(status)) = sink.child.try_wait() {
            panic!("the SMTP test server exited: {status}; is aiosmtpd installed?");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the SMTP test server did not start");
}

fn maildir_files(maildir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(maildir.join("new"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn smtp_config(port: u16) -> ApiConfig {
    ApiConfig {
        mail: MailConfig {
            smtp_url: Some(format!("smtp://127.0.0.1:{port}")),
            ..config().mail
        },
        public_url: Some("https://privacy.example.com".into()),
        ..config()
    }
}

async fn smtp_delivery_from_the_project_sender(b: accord_store::Backend) {
    let port = free_port();
    let s = start_with(b, smtp_config(port)).await;
    let sink = smtp_sink(port, s.dir.path()).await;
    // The project sends from its own address.
    let (status, sender) = s
        .post(
            &format!("/privacy-v1/organizations/{}/emails", s.org),
            json!({"email": "privacy@acme.test", "name": "Acme Privacy"}),
        )
        .await;
    assert_eq!(status, 201, "{sender}");
    let (status, project) = s
        .patch(
            &s.project_path(""),
            json!({"sendFromEmailId": sender["id"]}),
        )
        .await;
    assert_eq!(status, 200, "{project}");

    let (token, _) = mint(&s, None).await;
    let email = unique_email();
    let cr = site_request(&s, &token, &email).await;
    let maildir = sink.maildir.clone();
    let mail = wait_for_message(move || maildir_files(&maildir), &email).await;
    assert!(mail.contains("X-MailFrom: privacy@acme.test"), "{mail}");
    assert!(mail.contains(&format!("X-RcptTo: {email}")), "{mail}");
    assert!(
        mail.contains("From: \"Acme Privacy\" <privacy@acme.test>"),
        "{mail}"
    );
    assert!(mail.contains("Subject: Your verification code: "), "{mail}");
    let code = code_in(&mail);
    assert!(mail.contains(&format!(
        "https://privacy.example.com/site-v1/{}/verify/",
        s.project
    )));
    let (status, done) = spost(
        &s,
        &site(
            &s,
            &format!("/compliance-requests/{}/verify", cr["id"].as_str().unwrap()),
        ),
        &token,
        json!({"code": code}),
    )
    .await;
    assert_eq!((status, done["status"].as_str()), (200, Some("submitted")));
    // The resolution notice arrives the same way, with the resolution text.
    let path = s.project_path(&format!(
        "/compliance-requests/{}",
        cr["id"].as_str().unwrap()
    ));
    assert_eq!(
        s.patch(&path, json!({"status": "acknowledged"})).await.0,
        200
    );
    let (status, _) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolutionStatus": "completed", "resolution": "Your export is attached to your request."}),
        )
        .await;
    assert_eq!(status, 200);
    let maildir = sink.maildir.clone();
    let notice = wait_for_message(
        move || {
            maildir_files(&maildir)
                .into_iter()
                .filter(|p| {
                    std::fs::read_to_string(p)
                        .unwrap_or_default()
                        .contains("has been resolved")
                })
                .collect()
        },
        &email,
    )
    .await;
    assert!(notice.contains("X-MailFrom: privacy@acme.test"), "{notice}");
    assert!(
        notice.contains("Subject: Your privacy request has been resolved"),
        "{notice}"
    );
    assert!(notice.contains("Resolution status: completed"), "{notice}");
    assert!(
        notice.contains("Your export is attached to your request."),
        "{notice}"
    );
    // Nothing went to the outbox.
    assert!(outbox_files(&s.dir.path().join("outbox"), "eml").is_empty());
}

async fn smtp_outage_is_retried(b: accord_store::Backend) {
    let port = free_port();
    let s = start_with(b, smtp_config(port)).await;
    let (token, _) = mint(&s, None).await;
    let email = unique_email();
    // The mail server is down: the request is stored all the same.
    let cr = site_request(&s, &token, &email).await;
    let id = cr["id"].as_str().unwrap();
    let failed = wait_for_event(&s, id, |e| e["event"] == "verification_sent").await;
    assert_eq!(failed["details"]["delivered"], false, "{failed}");
    assert_eq!(privacy_get(&s, id).await["status"], "pending_verification");
    // It comes back: the retry delivers, and the delivery is recorded.
    let sink = smtp_sink(port, s.dir.path()).await;
    let maildir = sink.maildir.clone();
    let mail = wait_for_message(move || maildir_files(&maildir), &email).await;
    assert!(mail.contains("X-MailFrom: no-reply@localhost"), "{mail}");
    let code = code_in(&mail);
    wait_for_event(&s, id, |e| {
        e["event"] == "verification_sent" && e["details"]["delivered"] == true
    })
    .await;
    let (status, _) = spost(
        &s,
        &site(&s, &format!("/compliance-requests/{id}/verify")),
        &token,
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, 200);
}

async fn send_from_emails_crud(b: accord_store::Backend) {
    let s = start(b).await;
    let base = format!("/privacy-v1/organizations/{}/emails", s.org);
    let (status, e) = s
        .post(
            &base,
            json!({"email": "Support@Acme.test", "name": "Support"}),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["status"], "verified");
    assert_eq!(e["projects"], json!([]));
    assert_eq!(e["organizationId"], s.org.to_string());
    let id = e["id"].as_str().unwrap().to_string();
    assert_error(
        &s.post(&base, json!({"email": "support@acme.TEST"})).await,
        422,
        "email already exists in this organization",
    );
    assert_error(
        &s.post(&base, json!({"email": "not-an-email"})).await,
        400,
        "body/email must match format \"email\"",
    );
    assert_error(
        &s.post(&base, json!({"name": "x"})).await,
        400,
        "body must have required property 'email'",
    );
    s.post(&base, json!({"email": "legal@acme.test"})).await;
    let (_, list) = s.get(&format!("{base}?email=SUPPORT")).await;
    assert_eq!(list["total"], 1);
    let (_, list) = s.get(&format!("{base}?sort=email&order=asc")).await;
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["legal@acme.test", "Support@Acme.test"]);

    let (status, renamed) = s
        .patch(&format!("{base}/{id}"), json!({"name": "Help"}))
        .await;
    assert_eq!((status, renamed["name"].as_str()), (200, Some("Help")));
    assert_error(
        &s.patch(&format!("{base}/{id}"), json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );

    // A project that sends from it.
    let (status, p) = s
        .patch(&s.project_path(""), json!({"sendFromEmailId": id}))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        p["sendFromEmail"],
        json!({"id": id, "email": "Support@Acme.test", "name": "Help"})
    );
    let (_, got) = s.get(&format!("{base}/{id}")).await;
    assert_eq!(got["projects"][0]["id"], s.project.to_string());
    assert_error(
        &s.patch(
            &s.project_path(""),
            json!({"sendFromEmailId": Uuid::new_v4()}),
        )
        .await,
        422,
        "sendFromEmailId not found in this organization",
    );
    let (_, projects) = s
        .get(&format!(
            "/privacy-v1/organizations/{}/projects?sendFromEmail=support@",
            s.org
        ))
        .await;
    assert_eq!(projects["total"], 1);

    // A viewer reads but cannot write.
    let viewer = s.key_with(accord_core::auth::Role::Viewer, vec![]).await;
    assert_eq!(send(s.req_as(&viewer, Method::GET, &base)).await.0, 200);
    assert_eq!(
        send(
            s.req_as(&viewer, Method::POST, &base)
                .json(&json!({"email": "v@acme.test"}))
        )
        .await
        .0,
        403
    );

    // Deleting it returns the project to the server sender.
    let (status, deleted) = s.delete(&format!("{base}/{id}")).await;
    assert_eq!((status, deleted["id"].as_str()), (200, Some(id.as_str())));
    let (_, p) = s.get(&s.project_path("")).await;
    assert_eq!(p["sendFromEmailId"], "default");
    assert_eq!(
        p["sendFromEmail"],
        json!({"id": "default", "email": "no-reply@localhost", "name": "Accord"})
    );
    assert_eq!(s.get(&format!("{base}/{id}")).await.0, 404);
    assert_error(
        &s.get(&format!("{base}/not-a-uuid")).await,
        400,
        "params/emailId must match format \"uuid\"",
    );
}

async fn upload(s: &Server, id: &str, name: &str, bytes: &'static [u8]) {
    let form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str("text/plain")
            .unwrap(),
    );
    let (status, body) = send(
        s.req(
            Method::POST,
            &s.project_path(&format!("/compliance-requests/{id}/files")),
        )
        .multipart(form),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn subject_downloads_files(b: accord_store::Backend) {
    let s = start_with(b, config()).await;
    let email = unique_email();
    let cr = s
        .create_request(json!({"request": "view", "userEmail": email, "preverified": true}))
        .await;
    let id = cr["id"].as_str().unwrap();
    let (token, cid) = mint(&s, Some(cr["concordId"].as_str().unwrap())).await;
    assert_eq!(cid, cr["concordId"].as_str().unwrap());
    upload(&s, id, "export.txt", b"your data").await;
    let file_path = site(&s, &format!("/compliance-requests/{id}/files/export.txt"));
    let own = site(&s, &format!("/compliance-requests/{id}"));
    let (_, got) = sget(&s, &own, &token).await;
    assert_eq!(got["files"], json!([]), "files are listed once resolved");
    assert_eq!(
        sget(&s, &file_path, &token).await.0,
        404,
        "not yet resolved"
    );

    let path = s.project_path(&format!("/compliance-requests/{id}"));
    s.patch(&path, json!({"status": "acknowledged"})).await;
    let (status, _) = s
        .patch(
            &path,
            json!({"status": "resolved", "resolutionStatus": "completed"}),
        )
        .await;
    assert_eq!(status, 200);
    let mail = outbox_message(&s, &email, "eml").await;
    assert!(
        mail.contains("available for you to download"),
        "the resolution mentions the files: {mail}"
    );

    let (_, got) = sget(&s, &own, &token).await;
    let files = got["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["filePath"], file_path.as_str());
    let keys: Vec<&String> = files[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["fileName", "fileSize", "date", "dateCreated", "filePath"]
    );

    let (other, _) = mint(&s, None).await;
    assert_eq!(
        sget(&s, &file_path, &other).await.0,
        404,
        "another identity"
    );
    assert_eq!(
        sget(
            &s,
            &site(&s, &format!("/compliance-requests/{id}/files/nope.txt")),
            &token
        )
        .await
        .0,
        404
    );
    let (status, bytes, headers) = full(sreq(&s, Method::GET, &file_path, &token)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, "your data");
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"export.txt\""));

    let after = privacy_get(&s, id).await;
    let downloaded = after["downloadDate"].as_i64().expect("downloadDate set");
    assert_eq!(
        after["filePurgeDate"].as_i64().unwrap(),
        downloaded + 30 * 86_400_000
    );
    let ev = wait_for_event(&s, id, |e| e["event"] == "files_downloaded").await;
    assert!(ev["accountId"].is_null());
    assert_eq!(ev["details"]["fileName"], "export.txt");
    assert_eq!(ev["details"]["downloadedFilesCount"], 1);
    // A second download keeps the first date.
    tokio::time::sleep(Duration::from_millis(5)).await;
    full(sreq(&s, Method::GET, &file_path, &token)).await;
    assert_eq!(privacy_get(&s, id).await["downloadDate"], downloaded);
}

/// A submitted request with one uploaded file whose purge date has passed.
async fn due_request(s: &Server) -> String {
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap().to_string();
    upload(s, &id, "answer.txt", b"bytes to purge").await;
    let sql = format!("UPDATE compliance_requests SET file_purge_date = 1000 WHERE id = '{id}'");
    sqlx::query(&sql).execute(&s.store.db.write).await.unwrap();
    id
}

fn stored_files(s: &Server) -> usize {
    fn walk(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| {
                        if e.path().is_dir() {
                            walk(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&s.dir.path().join("files"))
}

async fn purge_removes_due_files(b: accord_store::Backend) {
    let s = start_with(
        b,
        ApiConfig {
            purge_interval_ms: 100,
            ..config()
        },
    )
    .await;
    let keep = s.submitted_request().await;
    upload(&s, keep["id"].as_str().unwrap(), "keep.txt", b"not due").await;
    let id = due_request(&s).await;
    let ev = wait_for_event(&s, &id, |e| e["event"] == "files_purged").await;
    assert_eq!(ev["details"], json!({"purgedFilesCount": 1}));
    assert!(ev["accountId"].is_null());
    let cr = privacy_get(&s, &id).await;
    assert_eq!(cr["files"], json!([]));
    assert_eq!(cr["filePurgeDate"], 1000, "the purge date is kept");
    assert_eq!(stored_files(&s), 1, "only the file that is not due remains");
    let kept = privacy_get(&s, keep["id"].as_str().unwrap()).await;
    assert_eq!(kept["files"].as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let purges = events_of(&s, &id)
        .await
        .into_iter()
        .filter(|e| e["event"] == "files_purged")
        .count();
    assert_eq!(purges, 1, "later runs find nothing to purge");
}

async fn two_servers_purge_once(b: accord_store::Backend) {
    let s = start(b).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(due_request(&s).await);
    }
    // Two servers on the same database, each with its own connections, purge at once.
    let mut states = Vec::new();
    for _ in 0..2 {
        let store = Arc::new(accord_store::SqlStore::connect(&s.url).await.unwrap());
        let files = Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(s.dir.path().join("files"))
                .unwrap(),
        );
        states.push(AppState::new(store, files, config()));
    }
    let (a, b2) = tokio::join!(
        accord_api::jobs::purge_due_files(&states[0]),
        accord_api::jobs::purge_due_files(&states[1])
    );
    assert_eq!(
        a.unwrap() + b2.unwrap(),
        6,
        "every request purged once in all"
    );
    for id in &ids {
        let purges = events_of(&s, id)
            .await
            .into_iter()
            .filter(|e| e["event"] == "files_purged")
            .count();
        assert_eq!(purges, 1, "request {id}");
    }
    assert_eq!(stored_files(&s), 0);

    // The hourly run itself is claimed by one server.
    let now = accord_core::time::now_ms();
    let (x, y) = tokio::join!(
        states[0]
            .store
            .claim_job("daily_report", now, 3_600_000, "a"),
        states[1]
            .store
            .claim_job("daily_report", now, 3_600_000, "b")
    );
    assert_eq!([x.unwrap(), y.unwrap()].iter().filter(|c| **c).count(), 1);
}

async fn messages_of(s: &Server, request: &str) -> i64 {
    let sql =
        format!("SELECT COUNT(*) FROM outgoing_messages WHERE compliance_request_id = '{request}'");
    sqlx::query_scalar::<_, i64>(&sql)
        .fetch_one(&s.store.db.write)
        .await
        .unwrap()
}

async fn erasure_forgets_messages(b: accord_store::Backend) {
    // A mail server that never answers: the message stays queued.
    let s = start_with(b, smtp_config(free_port())).await;
    let email = unique_email();
    let cr = s
        .create_request(json!({"request": "delete", "userEmail": email}))
        .await;
    let id = cr["id"].as_str().unwrap();
    assert_eq!(messages_of(&s, id).await, 1);
    let concord = cr["concordId"].as_str().unwrap();
    let (status, erased) = s
        .delete(&s.project_path(&format!(
            "/identities/{concord}?includeComplianceRequests=true"
        )))
        .await;
    assert_eq!(status, 200, "{erased}");
    assert_eq!(
        messages_of(&s, id).await,
        0,
        "the subject's address is gone from the queue too"
    );
}

//! The web console's sign-in: the owner's first-account link, invitations read from the
//! outbox, passwords (argon2id), sessions in the database, cookie flags, session fixation,
//! sign-out, throttling, CSRF, password resets and single-use, expiring links.
use crate::both;
use crate::common::*;
use accord_core::console::LinkKind;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;

both!(
    the_owner_link_creates_the_owner_once,
    an_invited_user_sets_a_password_and_signs_in,
    sign_in_failures_are_throttled_per_account_and_address,
    disabled_users_cannot_sign_in,
    forms_need_their_token_and_this_site,
    sessions_are_renewed_at_sign_in_and_ended_at_sign_out,
    cookies_are_secure_behind_https,
    password_resets_work_once_and_end_other_sessions,
    expired_and_unknown_links_are_refused,
    bad_passwords_keep_what_was_typed
);

/// A browser: no redirects followed, cookies kept by hand.
pub(crate) struct Browser<'a> {
    s: &'a Server,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
    origin: Option<String>,
}

pub(crate) struct Answer {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl<'a> Browser<'a> {
    pub fn new(s: &'a Server) -> Browser<'a> {
        Browser {
            s,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            origin: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, rb: reqwest::RequestBuilder) -> Answer {
        let rb = if self.cookies.is_empty() {
            rb
        } else {
            rb.header(COOKIE, self.cookie_header())
        };
        let rb = match &self.origin {
            Some(o) => rb.header("origin", o),
            None => rb,
        };
        let res = rb.send().await.unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let set_cookies: Vec<String> = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &set_cookies {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let body = res.text().await.unwrap();
        Answer {
            status,
            location,
            set_cookies,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let rb = self.http.get(self.s.url(path));
        self.answer(rb).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let rb = self.http.post(self.s.url(path)).form(form);
        self.answer(rb).await
    }

    /// Posts a `multipart/form-data` form (an upload).
    pub async fn multipart(&mut self, path: &str, form: reqwest::multipart::Form) -> Answer {
        let rb = self.http.post(self.s.url(path)).multipart(form);
        self.answer(rb).await
    }

    /// A GET with the browser's cookies whose whole response (headers, bytes) is kept.
    pub async fn fetch(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.s.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap()
    }

    /// Opens a form page and sends the form with the page's token.
    pub async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let page = self.get(path).await;
        let csrf = csrf_of(&page.body);
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(path, &form).await
    }

    /// Sends a form to a page that shows none (a used link): with the browser's form
    /// token, as a script would.
    async fn force(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.get(path).await;
        let csrf = self.cookies["accord_form"].clone();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(path, &form).await
    }

    /// Posts the owner's credentials with the form token `csrf`.
    async fn owner_sign_in(&mut self, csrf: &str) -> Answer {
        let form = [
            ("csrf", csrf),
            ("email", "owner@example.com"),
            ("password", PASSWORD),
        ];
        self.post("/console/sign-in", &form).await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Answer {
        self.submit(
            "/console/sign-in",
            &[("email", email), ("password", password)],
        )
        .await
    }

    fn session(&self) -> Option<String> {
        self.cookies.get("accord_session").cloned()
    }
}

pub(crate) fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no form token in:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The token of the link of `kind` in the last message to `to`.
pub(crate) async fn link_token(s: &Server, to: &str, kind: LinkKind) -> String {
    let text = crate::lifecycle::outbox_message(s, to, "eml").await;
    let start = text
        .find(kind.path())
        .unwrap_or_else(|| panic!("no {} link in:\n{text}", kind.as_str()))
        + kind.path().len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

pub(crate) async fn owner_link(s: &Server) -> String {
    accord_core::usecases::console::setup_link(s.store.as_ref(), s.org, accord_core::time::now_ms())
        .await
        .unwrap()
}

pub(crate) const PASSWORD: &str = "correct horse battery";

/// The owner of the test organization, signed in.
pub(crate) async fn owner(s: &Server) -> Browser<'_> {
    let token = owner_link(s).await;
    let mut b = Browser::new(s);
    let a = b
        .submit(
            &format!("/console/setup/{token}"),
            &[
                ("email", "owner@example.com"),
                ("name", "Olive Owner"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    b
}

pub(crate) async fn invite(s: &Server, email: &str, role: &str) -> String {
    let (status, user) = s
        .post(
            &format!("/privacy-v1/organizations/{}/users", s.org),
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["status"], "pending");
    user["id"].as_str().unwrap().to_string()
}

async fn the_owner_link_creates_the_owner_once(b: accord_store::Backend) {
    let s = start(b).await;
    let token = owner_link(&s).await;
    let path = format!("/console/setup/{token}");
    let mut browser = Browser::new(&s);
    let page = browser.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Create the owner account"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Acme"), "names the organization");
    let a = browser
        .submit(
            &path,
            &[
                ("email", "Owner@Example.com"),
                ("name", "Olive Owner"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location.as_deref(), Some("/console"));
    let home = browser.get("/console").await;
    assert_eq!(home.status, 200);
    for text in ["Owner@Example.com", "Acme", "Website", "owner"] {
        assert!(
            home.body.contains(text),
            "home shows {text}:\n{}",
            home.body
        );
    }
    // The owner is a User of the organization, active, with the owner role.
    let (_, users) = s
        .get(&format!("/privacy-v1/organizations/{}/users", s.org))
        .await;
    let owner = &users["items"][0];
    assert_eq!(owner["email"], "Owner@Example.com");
    assert_eq!(owner["role"], "owner");
    assert_eq!(owner["status"], "active");
    assert_eq!(owner["name"], "Olive Owner");
    // The link works once.
    let mut other = Browser::new(&s);
    let again = other.get(&path).await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already been used"), "{}", again.body);
    assert!(!again
        .body
        .contains("<form method=\"post\" action=\"/console/setup"));
}

async fn an_invited_user_sets_a_password_and_signs_in(b: accord_store::Backend) {
    let s = start(b).await;
    let user = invite(&s, "ada@example.com", "admin").await;
    let token = link_token(&s, "ada@example.com", LinkKind::Invitation).await;
    let text = crate::lifecycle::outbox_message(&s, "ada@example.com", "eml").await;
    assert!(
        text.contains("Subject: You are invited to Acme on Accord"),
        "{text}"
    );
    let mut ada = Browser::new(&s);
    let path = format!("/console/invitation/{token}");
    let page = ada.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page
        .body
        .contains("You are invited to the organization Acme."));
    let a = ada.submit(&path, &[("password", PASSWORD)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(ada.get("/console").await.body.contains("ada@example.com"));
    let (_, u) = s
        .get(&format!("/privacy-v1/organizations/{}/users/{user}", s.org))
        .await;
    assert_eq!(u["status"], "active");
    assert!(u.get("inviteCode").is_none());
    // Signing in again later with the password set.
    let mut later = Browser::new(&s);
    let a = later.sign_in("ADA@example.com", PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(later.get("/console").await.status, 200);
    // The invitation cannot be used again.
    let mut thief = Browser::new(&s);
    let again = thief
        .force(&path, &[("password", "another long password")])
        .await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
    assert!(thief.session().is_none());
}

async fn sign_in_failures_are_throttled_per_account_and_address(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let mut b = Browser::new(&s);
    for _ in 0..5 {
        let a = b.sign_in("owner@example.com", "wrong password!").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(a
            .body
            .contains("The email address or the password is not right."));
        assert!(
            a.body.contains(r#"value="owner@example.com""#),
            "keeps the address"
        );
    }
    // The right password no longer opens the account for a while.
    let a = b.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(
        a.body
            .contains("Too many failed sign-ins. Try again in 15 minutes."),
        "{}",
        a.body
    );
    assert!(b.session().is_none());
    // Unknown addresses count against the client address: 20 failures stop it entirely.
    for i in 0..15 {
        let a = b
            .sign_in(&format!("nobody{i}@example.com"), "whatever it is")
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let a = b
        .sign_in("someone-else@example.com", "whatever it is")
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    // When the window has passed, the account signs in again.
    sqlx::query("UPDATE sign_in_failures SET window_start = 0")
        .execute(&s.store.db.write)
        .await
        .unwrap();
    let a = b.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}

async fn disabled_users_cannot_sign_in(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let (_, users) = s
        .get(&format!("/privacy-v1/organizations/{}/users", s.org))
        .await;
    let id = users["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _) = s
        .patch(
            &format!("/privacy-v1/organizations/{}/users/{id}", s.org),
            json!({"status": "disabled"}),
        )
        .await;
    assert_eq!(status, 200);
    let mut b = Browser::new(&s);
    let a = b.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.body.contains("This account is disabled"), "{}", a.body);
    assert!(b.session().is_none());
    // A browser signed in before sees no organization of a disabled membership.
    let home = owner.get("/console").await;
    assert!(!home.body.contains("Website"), "{}", home.body);
}

async fn forms_need_their_token_and_this_site(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let form = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("email", "owner@example.com"),
            ("password", PASSWORD),
        ]
    };
    // No form cookie at all (a forged cross-site post carries none).
    let mut b = Browser::new(&s);
    let a = b.post("/console/sign-in", &form("anything")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a
        .body
        .contains("This form has expired or was sent from another site."));
    // The cookie, but not its token.
    let page = b.get("/console/sign-in").await;
    assert_eq!(page.status, 200);
    assert!(b.cookies.contains_key("accord_form"));
    let a = b.post("/console/sign-in", &form("not-the-token")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The right token from another site.
    let csrf = csrf_of(&page.body);
    b.origin = Some("https://evil.example".into());
    let a = b.owner_sign_in(&csrf).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(b.session().is_none());
    // From this site, it works.
    b.origin = Some(s.base.clone());
    let a = b.owner_sign_in(&csrf).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // Signed in, forms carry the session's token: the old one is refused.
    let a = b.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(b.get("/console").await.status, 200, "still signed in");
}

async fn sessions_are_renewed_at_sign_in_and_ended_at_sign_out(b: accord_store::Backend) {
    let s = start(b).await;
    let owner = owner(&s).await;
    let first = owner.session().unwrap();
    // Signing in from a browser that holds a session (or a planted id) gives a new
    // session id, and the one it had stops working.
    let mut again = Browser::new(&s);
    let page = again.get("/console/sign-in").await;
    let csrf = csrf_of(&page.body);
    again.cookies.insert("accord_session".into(), first.clone());
    let a = again.owner_sign_in(&csrf).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let second = again.session().unwrap();
    assert_ne!(first, second);
    let mut chosen = Browser::new(&s);
    let page = chosen.get("/console/sign-in").await;
    let csrf = csrf_of(&page.body);
    chosen
        .cookies
        .insert("accord_session".into(), "cs_chosen-by-an-attacker".into());
    chosen.owner_sign_in(&csrf).await;
    assert_ne!(
        chosen.session().as_deref(),
        Some("cs_chosen-by-an-attacker")
    );
    let mut planted = Browser::new(&s);
    planted
        .cookies
        .insert("accord_session".into(), first.clone());
    let a = planted.get("/console").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location.as_deref(), Some("/console/sign-in"));
    // The cookie: HttpOnly, SameSite, scoped to the console, not Secure over http.
    let cookie = a_session_cookie(&mut Browser::new(&s)).await;
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    // Sign-out ends the session on the server: the old cookie is worth nothing.
    let mut owner = again;
    let home = owner.get("/console").await;
    let csrf = csrf_of(&home.body);
    let a = owner.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a
        .set_cookies
        .iter()
        .any(|c| c.starts_with("accord_session=;")));
    let mut replay = Browser::new(&s);
    replay
        .cookies
        .insert("accord_session".into(), second.clone());
    assert_eq!(replay.get("/console").await.status, StatusCode::SEE_OTHER);
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM console_sessions WHERE digest = $1")
        .bind(accord_core::auth::digest(&second))
        .fetch_one(&s.store.db.read)
        .await
        .unwrap();
    assert_eq!(n, 0, "the session is gone from the database");
    // Pages carry the console's headers.
    let page = Browser::new(&s).get("/console/sign-in").await;
    assert_eq!(page.status, 200);
}

async fn a_session_cookie(b: &mut Browser<'_>) -> String {
    let a = b.sign_in("owner@example.com", PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    a.set_cookies
        .into_iter()
        .find(|c| c.starts_with("accord_session="))
        .expect("a session cookie")
}

async fn cookies_are_secure_behind_https(b: accord_store::Backend) {
    let s = start_with(
        b,
        accord_api::ApiConfig {
            rate_limit_privacy: 0,
            rate_limit_site: 0,
            public_url: Some("https://privacy.example.com".into()),
            ..Default::default()
        },
    )
    .await;
    let _ = owner(&s).await;
    let cookie = a_session_cookie(&mut Browser::new(&s)).await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    let res = s
        .client
        .get(s.url("/console/sign-in"))
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert_eq!(
        h["content-security-policy"],
        accord_api::console::CONTENT_SECURITY_POLICY
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert!(h["set-cookie"]
        .to_str()
        .unwrap()
        .contains("SameSite=Strict"));
}

async fn password_resets_work_once_and_end_other_sessions(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let mut anon = Browser::new(&s);
    let a = anon
        .submit("/console/password-reset", &[("email", "owner@example.com")])
        .await;
    assert_eq!(a.status, 200);
    assert!(
        a.body
            .contains("If owner@example.com has an Accord account"),
        "{}",
        a.body
    );
    // An unknown address gets the same answer and no message.
    let a = anon
        .submit(
            "/console/password-reset",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert!(a
        .body
        .contains("If nobody@example.com has an Accord account"));
    let token = link_token(&s, "owner@example.com", LinkKind::PasswordReset).await;
    let path = format!("/console/password-reset/{token}");
    let a = anon
        .submit(&path, &[("password", "a brand new password")])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // The browser signed in with the old password is signed out.
    assert_eq!(owner.get("/console").await.status, StatusCode::SEE_OTHER);
    // The old password no longer works; the new one does.
    let mut b = Browser::new(&s);
    assert_eq!(
        b.sign_in("owner@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.sign_in("owner@example.com", "a brand new password")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    // Used twice: refused, nothing changes.
    let mut thief = Browser::new(&s);
    let a = thief
        .force(&path, &[("password", "the thief's password")])
        .await;
    assert_eq!(a.status, StatusCode::GONE);
    assert!(a.body.contains("This link has already been used."));
    assert_eq!(
        thief
            .sign_in("owner@example.com", "the thief's password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let outbox = std::fs::read_to_string(s.dir.path().join("outbox/index.jsonl")).unwrap();
    assert!(!outbox.contains("nobody@example.com"), "{outbox}");
}

async fn expired_and_unknown_links_are_refused(b: accord_store::Backend) {
    let s = start(b).await;
    invite(&s, "late@example.com", "viewer").await;
    let token = link_token(&s, "late@example.com", LinkKind::Invitation).await;
    sqlx::query("UPDATE console_links SET expires_at = 1")
        .execute(&s.store.db.write)
        .await
        .unwrap();
    let path = format!("/console/invitation/{token}");
    let mut b = Browser::new(&s);
    let page = b.get(&path).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("This link has expired."));
    let a = b
        .post(&path, &[("csrf", "x"), ("password", PASSWORD)])
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no form token yet");
    let a = b
        .post(
            &path,
            &[
                ("csrf", &b.cookies["accord_form"].clone()),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::GONE);
    assert!(b.session().is_none());
    let unknown = b.get("/console/invitation/not-a-token").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("This link is not valid."));
}

async fn bad_passwords_keep_what_was_typed(b: accord_store::Backend) {
    let s = start(b).await;
    let token = owner_link(&s).await;
    let path = format!("/console/setup/{token}");
    let mut b = Browser::new(&s);
    let a = b
        .submit(
            &path,
            &[
                ("email", "olive@example.com"),
                ("name", "Olive"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        a.body.contains("password must be at least 12 characters"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains(r#"value="olive@example.com""#),
        "{}",
        a.body
    );
    assert!(a.body.contains(r#"value="Olive""#));
    let a = b
        .submit(
            &path,
            &[("email", "not an address"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("email must be an email address"));
    // Nothing was stored, and the link still works.
    let (_, users) = s
        .get(&format!("/privacy-v1/organizations/{}/users", s.org))
        .await;
    assert_eq!(users["count"], 0, "{users}");
    let a = b
        .submit(
            &path,
            &[("email", "olive@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}

both!(
    the_inbox_lists_counts_filters_and_marks_overdue_requests,
    a_request_is_worked_to_resolved_from_its_page,
    viewers_read_but_cannot_change_and_strangers_see_nothing
);

/// A signed-in User of the test organization with `role`, through an invitation.
pub(crate) async fn member<'a>(s: &'a Server, email: &str, role: &str) -> Browser<'a> {
    invite(s, email, role).await;
    let token = link_token(s, email, LinkKind::Invitation).await;
    let mut b = Browser::new(s);
    let a = b
        .submit(
            &format!("/console/invitation/{token}"),
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    b
}

async fn the_inbox_lists_counts_filters_and_marks_overdue_requests(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let a = s.submitted_request().await;
    let late = s.submitted_request().await;
    s.create_request(
        json!({"request": "view", "userEmail": "erin@example.com", "preverified": true}),
    )
    .await;
    let late_id = late["id"].as_str().unwrap();
    sqlx::query(&format!(
        "UPDATE compliance_requests SET due_date = 1000 WHERE id = '{late_id}'"
    ))
    .execute(&s.store.db.write)
    .await
    .unwrap();
    let inbox = format!("/console/o/{}/requests", s.org);
    let page = owner.get(&inbox).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"<span class="n">3</span> submitted"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("3 requests, nearest due date first."));
    assert!(page.body.contains("erin@example.com"));
    assert!(page.body.contains(a["user"]["email"].as_str().unwrap()));
    // The overdue one comes first (nearest due date) and is marked.
    let first_row = page.body.split("<tbody>").nth(1).unwrap();
    let first_row = first_row.split("</tr>").next().unwrap();
    assert!(first_row.contains(r#"class="overdue""#), "{first_row}");
    assert!(
        first_row.contains(late["user"]["email"].as_str().unwrap()),
        "{first_row}"
    );
    // Filters: type, overdue, free text; empty fields of the form are no filter.
    let page = owner
        .get(&format!("{inbox}?text=&request=view&startDate=&endDate="))
        .await;
    assert!(
        page.body.contains("1 request, nearest due date first."),
        "{}",
        page.body
    );
    assert!(page.body.contains("erin@example.com"));
    let page = owner.get(&format!("{inbox}?overdue=true")).await;
    assert!(page.body.contains("1 request,"), "{}", page.body);
    let page = owner.get(&format!("{inbox}?text=erin")).await;
    assert!(page.body.contains("1 request,"));
    // A search narrows the table; the counts stay those of the view, and say so.
    assert!(
        page.body.contains(r#"<span class="n">3</span> submitted"#),
        "{}",
        page.body
    );
    assert!(page.body.contains("your search narrows the table"));
    // A type view counts its own requests.
    let page = owner.get(&format!("{inbox}?request=view")).await;
    assert!(
        page.body.contains(r#"<span class="n">1</span> submitted"#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("your search narrows the table"));
    // A bad filter names the parameter and the rule.
    let page = owner.get(&format!("{inbox}?startDate=yesterday")).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("startDate"), "{}", page.body);
}

async fn a_request_is_worked_to_resolved_from_its_page(b: accord_store::Backend) {
    let s = start(b).await;
    let mut owner = owner(&s).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let path = format!("/console/o/{}/p/{}/requests/{id}", s.org, s.project);
    let page = owner.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(cr["user"]["email"].as_str().unwrap()));
    assert!(page.body.contains(r#"value="acknowledge""#));
    assert!(
        !page.body.contains(r#"value="reopen""#),
        "only the transitions §3.7 allows"
    );
    let csrf = csrf_of(&page.body);
    let a = owner
        .post(&path, &[("csrf", &csrf), ("action", "acknowledge")])
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("Saved."));
    let api = format!("{}/{id}", s.project_path("/compliance-requests"));
    assert_eq!(s.get(&api).await.1["status"], "acknowledged");
    // Notes, then resolution with an outcome and a message.
    let a = owner
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "notes"),
                ("notes", "called the shop"),
            ],
        )
        .await;
    assert_eq!(a.status, 200);
    let a = owner
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "resolve"),
                ("resolutionStatus", "no_records_found"),
                ("resolution", "We hold nothing about you."),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let got = s.get(&api).await.1;
    assert_eq!(got["status"], "resolved");
    assert_eq!(got["resolutionStatus"], "no_records_found");
    assert_eq!(got["notes"], "called the shop");
    assert!(a.body.contains(r#"value="reopen""#));
    // The timeline shows what happened; an illegal transition is refused with the
    // contract's message, and nothing changes.
    assert!(a.body.contains("acknowledged"), "{}", a.body);
    let a = owner
        .post(&path, &[("csrf", &csrf), ("action", "acknowledge")])
        .await;
    assert_eq!(
        a.status, 200,
        "acknowledging a resolved request reopens it: {}",
        a.body
    );
    let a = owner
        .post(&path, &[("csrf", &csrf), ("action", "verify")])
        .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(s.get(&api).await.1["status"], "acknowledged");
    // Without the session's token, nothing is done.
    let a = owner
        .post(&path, &[("csrf", "forged"), ("action", "extend")])
        .await;
    assert_eq!(a.status, 403);
    assert_ne!(s.get(&api).await.1["dueDateExtended"], json!(true));
}

async fn viewers_read_but_cannot_change_and_strangers_see_nothing(b: accord_store::Backend) {
    let s = start(b).await;
    let _owner = owner(&s).await;
    let cr = s.submitted_request().await;
    let id = cr["id"].as_str().unwrap();
    let mut viewer = member(&s, "vera@example.com", "viewer").await;
    let path = format!("/console/o/{}/p/{}/requests/{id}", s.org, s.project);
    let page = viewer.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains(r#"value="acknowledge""#),
        "no buttons for a viewer"
    );
    // The session's form token, from a page that has a form (sign-out).
    let inbox = viewer.get(&format!("/console/o/{}/requests", s.org)).await;
    let csrf = csrf_of(&inbox.body);
    // Posting the form by hand is refused.
    let a = viewer
        .post(&path, &[("csrf", &csrf), ("action", "acknowledge")])
        .await;
    assert_eq!(a.status, 403);
    let api = format!("{}/{id}", s.project_path("/compliance-requests"));
    assert_eq!(s.get(&api).await.1["status"], "submitted");
    assert_eq!(
        viewer
            .get(&format!("/console/o/{}/requests", s.org))
            .await
            .status,
        200
    );
    // Another organization's pages are closed to this User, whatever the URL.
    let (status, other) = s
        .post("/privacy-v1/organizations", json!({"name": "Other"}))
        .await;
    assert_eq!(status, 201, "{other}");
    let other_org = other["id"].as_str().unwrap();
    let a = viewer
        .get(&format!("/console/o/{other_org}/requests"))
        .await;
    assert_eq!(a.status, 403);
    let a = viewer
        .get(&format!(
            "/console/o/{other_org}/p/{}/requests/{id}",
            s.project
        ))
        .await;
    assert_eq!(a.status, 403);
    // Signed out: back to the sign-in page.
    let mut anon = Browser::new(&s);
    let a = anon.get(&path).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

both!(the_console_works_in_a_browser);

/// Runs `submit` (a script that sends a form) and waits until the tab has loaded a page
/// at `path`.
pub(crate) async fn submit_and_wait(tab: &crate::browser::Tab, submit: &str, path: &str) {
    tab.eval(&format!("setTimeout(() => {{ {submit} }}, 0); true"))
        .await;
    let start = std::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        // Evaluations fail while the next document replaces this one: try again.
        if let Ok(v) = tab
            .page
            .evaluate("location.pathname + '|' + document.readyState")
            .await
        {
            if v.into_value::<String>().ok().as_deref() == Some(&format!("{path}|complete")) {
                return;
            }
        }
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let now = tab
                .page
                .evaluate("location.href + '\\n' + document.body.innerText")
                .await
                .ok()
                .and_then(|v| v.into_value::<String>().ok());
            panic!("no page at {path} after the form was sent; the tab shows {now:?}");
        }
    }
}

/// Fills the fields (`id` → value) of the page's form and sends it.
pub(crate) fn fill_and_send(fields: &[(&str, &str)], form: &str) -> String {
    let mut js = String::new();
    for (id, value) in fields {
        js.push_str(&format!(
            "document.getElementById({}).value = {};",
            json!(id),
            json!(value)
        ));
    }
    js.push_str(&format!(
        "document.querySelector({}).requestSubmit();",
        json!(form)
    ));
    js
}

/// Each form (path and fields) posted by `who` with the form token `csrf` is refused: 403.
pub(crate) async fn refused<P: AsRef<str>>(
    who: &mut Browser<'_>,
    csrf: &str,
    forms: impl IntoIterator<Item = (P, Vec<(&str, &str)>)>,
) {
    for (path, fields) in forms {
        let path = path.as_ref();
        let mut form = vec![("csrf", csrf)];
        form.extend_from_slice(&fields);
        let a = who.post(path, &form).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{path}: {}", a.body);
    }
}

/// The object a console form created, its answer a 303 to the object's page: that page,
/// the object's id, and the Privacy API's view of it (`{kind}/{id}` in the organization).
pub(crate) async fn created(
    s: &Server,
    a: Answer,
    kind: &str,
) -> (String, String, serde_json::Value) {
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = a.location.unwrap();
    let id = page.rsplit('/').next().unwrap().to_string();
    let path = format!("/privacy-v1/organizations/{}{kind}/{id}", s.org);
    let (status, api) = s.get(&path).await;
    assert_eq!(status, 200, "{api}");
    (page, id, api)
}

/// The text of the page's notice (`.notice`).
pub(crate) async fn notice_of(tab: &crate::browser::Tab) -> serde_json::Value {
    tab.eval("document.querySelector('.notice').innerText")
        .await
}

pub(crate) async fn no_serious_violations(tab: &crate::browser::Tab, axe_js: &str, page: &str) {
    let found = crate::browser::axe(tab, axe_js).await;
    assert!(found.is_empty(), "{page}: {found:#?}");
}

/// Sets up the owner's account on the first-start page open in `tab` (name, email and
/// [`PASSWORD`]) and waits for the console's home.
pub(crate) async fn set_up_owner(tab: &crate::browser::Tab) {
    submit_and_wait(
        tab,
        &fill_and_send(
            &[
                ("email", "owner@example.com"),
                ("name", "Olive Owner"),
                ("password", PASSWORD),
            ],
            "main form",
        ),
        "/console",
    )
    .await;
}

/// A Chromium tab signed in as the organization's owner through the first-start link.
pub(crate) async fn owner_tab(
    browser: &crate::browser::Browser,
    s: &Server,
) -> crate::browser::Tab {
    let token = owner_link(s).await;
    let tab = browser
        .open(&s.url(&format!("/console/setup/{token}")))
        .await;
    set_up_owner(&tab).await;
    tab
}

/// axe-core finds no serious or critical violation on the page (`name`), and its
/// screenshot is saved as `shot`.
pub(crate) async fn look(tab: &crate::browser::Tab, axe_js: &str, name: &str, shot: &str) {
    no_serious_violations(tab, axe_js, name).await;
    tab.screenshot(shot).await;
}

/// Gives the tab a phone's screen: 390 × 844 CSS pixels.
pub(crate) async fn narrow(tab: &crate::browser::Tab) {
    tab.page
        .execute(
            chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams::new(
                390, 844, 2.0, true,
            ),
        )
        .await
        .unwrap();
}

/// Whether the page is no wider than the viewport (`true` when it fits).
pub(crate) async fn fits(tab: &crate::browser::Tab) -> serde_json::Value {
    tab.eval("document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await
}

async fn the_console_works_in_a_browser(b: accord_store::Backend) {
    let Some(browser) = crate::browser::Browser::launch().await else {
        return;
    };
    let axe_js = crate::browser::axe_source();
    let s = start(b).await;
    let cr = s.submitted_request().await;
    let late = s.submitted_request().await;
    sqlx::query(&format!(
        "UPDATE compliance_requests SET due_date = 1000 WHERE id = '{}'",
        late["id"].as_str().unwrap()
    ))
    .execute(&s.store.db.write)
    .await
    .unwrap();
    // The owner's first-start link, in the browser.
    let token = owner_link(&s).await;
    let tab = browser
        .open(&s.url(&format!("/console/setup/{token}")))
        .await;
    look(&tab, &axe_js, "setup", "console-setup").await;
    set_up_owner(&tab).await;
    let text = tab.eval("document.body.innerText").await;
    assert!(text.as_str().unwrap().contains("Acme"), "{text}");
    look(&tab, &axe_js, "home", "console-home").await;
    // The inbox: the overdue request first and marked.
    tab.goto(&s.url(&format!("/console/o/{}/requests", s.org)))
        .await;
    let first = tab
        .eval("document.querySelector('table.inbox tbody tr').innerText")
        .await;
    assert!(first.as_str().unwrap().contains("overdue"), "{first}");
    look(&tab, &axe_js, "inbox", "console-inbox").await;
    // The request page: acknowledge with its button.
    let id = cr["id"].as_str().unwrap();
    let path = format!("/console/o/{}/p/{}/requests/{id}", s.org, s.project);
    tab.goto(&s.url(&path)).await;
    look(&tab, &axe_js, "request", "console-request").await;
    submit_and_wait(
        &tab,
        "document.querySelector('input[name=action][value=acknowledge]').form.requestSubmit();",
        &path,
    )
    .await;
    let notice = notice_of(&tab).await;
    assert_eq!(notice, "Saved.");
    let api = format!("{}/{id}", s.project_path("/compliance-requests"));
    assert_eq!(s.get(&api).await.1["status"], "acknowledged");
    // Readable on a narrow screen: nothing wider than the viewport.
    narrow(&tab).await;
    tab.goto(&s.url(&format!("/console/o/{}/requests", s.org)))
        .await;
    tab.screenshot("console-inbox-narrow").await;
    // Sign out, then sign in through the form.
    submit_and_wait(
        &tab,
        "document.querySelector('form[action=\"/console/sign-out\"]').requestSubmit();",
        "/console/sign-in",
    )
    .await;
    look(&tab, &axe_js, "sign-in", "console-sign-in").await;
    submit_and_wait(
        &tab,
        &fill_and_send(
            &[("email", "owner@example.com"), ("password", PASSWORD)],
            "main form",
        ),
        "/console",
    )
    .await;
    browser.close().await;
}

//! The web console under `/console`: server-rendered pages (askama templates, checked at
//! compile time, in `templates/console/`) for the privacy team. This part signs Users in:
//! email and password, sessions kept in the database (any replica serves them), invitation,
//! password-reset and first-owner links, sign-in throttling, CSRF tokens on every form.
//! Every decision is made by `accord_core::usecases::console`.
// A console step that cannot go on answers the page to show (a redirect, 403, 500): the
// `Err` of its `Result` is that `Response`, as large as any other.
#![allow(clippy::result_large_err)]
use crate::site::client;
use crate::AppState;
use accord_core::auth::Role;
use accord_core::console::{token_digest, ConsoleSession, LinkKind, SESSION_MAX_MS};
use accord_core::time::now_ms;
use accord_core::usecases::console as usecase;
use accord_core::Error;
use askama::Template;
use axum::extract::{Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

/// The `Ok` value of a console step, or its `Err` answered at once (the sign-in page, 403,
/// a refusal, 500): the start of every page and form handler.
macro_rules! or_answer {
    ($step:expr) => {
        match $step {
            Ok(v) => v,
            Err(answer) => return answer,
        }
    };
}

mod consent;
mod datamap;
mod notifications;
pub mod org;
mod request_files;
mod requests;
mod settings;
mod site;

/// The session cookie (HttpOnly, SameSite=Lax, Secure behind https, path `/console`).
pub const SESSION_COOKIE: &str = "accord_session";
/// The form token of a browser that is not signed in (double-submit, SameSite=Strict).
pub const FORM_COOKIE: &str = "accord_form";

/// The console's Content-Security-Policy: this server only, no scripts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("../../assets/console/console.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .route(
            "/password-reset",
            get(reset_request_page).post(reset_request),
        )
        .route(
            "/password-reset/{token}",
            link_routes(LinkKind::PasswordReset),
        )
        .route("/invitation/{token}", link_routes(LinkKind::Invitation))
        .route("/setup/{token}", link_routes(LinkKind::Setup))
        .route("/assets/console.css", get(css))
        .route("/o/{org}/requests", get(requests::inbox))
        .route(
            "/o/{org}/p/{project}/requests/{id}",
            get(requests::request_page).post(requests::change),
        )
        .merge(consent::router())
        .merge(datamap::router())
        .merge(site::router())
        .merge(settings::router())
        .merge(request_files::router())
        .merge(notifications::router())
}

// ---------------------------------------------------------------------------------------
// Responses

/// A rendered page with the console's security headers: nothing cached, not framed, no
/// referrer to other sites (link tokens are in paths), scripts refused.
pub(crate) fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut res = (status, html).into_response();
            secure(res.headers_mut());
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            res
        }
        Err(e) => internal(e),
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console page failed");
    let mut res = (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong; the error is in the server's log.",
    )
        .into_response();
    secure(res.headers_mut());
    res
}

pub(crate) fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Same-origin: link tokens in paths never reach another site, and the browser still
    // sends this site's Origin on form posts (`no-referrer` makes it `null`).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

pub(crate) fn see_other(to: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    secure(res.headers_mut());
    res
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        CSS,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// Cookies, the browser's form token and the signed-in session

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn set_cookie(
    res: &mut Response,
    name: &str,
    value: &str,
    max_age_s: i64,
    same_site: &str,
    secure: bool,
) {
    let v = format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite={same_site}; Max-Age={max_age_s}{}",
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// What every console request knows about its browser.
pub struct Browser {
    /// The signed-in session, if its cookie names a live one.
    pub session: Option<ConsoleSession>,
    /// The form token of a browser that is not signed in, and whether it must be set.
    form_token: String,
    new_form_token: bool,
    secure: bool,
    address: Option<std::net::IpAddr>,
    /// Whether the request says it comes from another site (`Sec-Fetch-Site`, `Origin`).
    cross_site: bool,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let now = now_ms();
        let who = client(state, parts);
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        // Cookies get `Secure` when the browser reaches the server over https: the base
        // the site client is served with says so (the public URL, or a trusted proxy's
        // forwarded scheme).
        let secure = crate::routes::site_client::api_base(state, &parts.headers, peer)
            .is_ok_and(|base| base.starts_with("https://"));
        let mut session = None;
        if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) {
            let digest = token_digest(secret);
            match state.store.console_session(&digest).await {
                Ok(Some(s)) if s.is_live(now) => {
                    if let Some(expires) = s.touched(now) {
                        if let Err(e) = state
                            .store
                            .touch_console_session(&digest, now, expires)
                            .await
                        {
                            return Err(internal(e));
                        }
                    }
                    session = Some(s);
                }
                Ok(_) => {}
                Err(e) => return Err(internal(e)),
            }
        }
        let (form_token, new_form_token) = match cookie(&parts.headers, FORM_COOKIE) {
            Some(t) => (t.to_string(), false),
            None => (accord_core::auth::generate_secret("").secret, true),
        };
        let site = parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_elsewhere = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|o| {
                o == "null"
                    || o.split_once("://")
                        .is_none_or(|(_, rest)| !rest.eq_ignore_ascii_case(host))
            });
        Ok(Browser {
            session,
            form_token,
            new_form_token,
            secure,
            address: who.ip,
            cross_site: site == "cross-site" || origin_elsewhere,
        })
    }
}

impl Browser {
    /// The token of forms shown to a browser that is not signed in (sign-in, links,
    /// password reset): the browser's own, kept in its form cookie.
    fn form_csrf(&self) -> &str {
        &self.form_token
    }

    /// The token of a signed-in session's forms.
    fn session_csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.csrf.as_str())
    }

    pub(crate) fn forbidden() -> Response {
        let mut res = (
            StatusCode::FORBIDDEN,
            "This form has expired or was sent from another site. Go back, reload the page and try again.",
        )
            .into_response();
        secure(res.headers_mut());
        res
    }

    /// A form of a browser that is not signed in is accepted only from this site, with
    /// the token of the browser's form cookie: the refusal otherwise.
    fn refuse_form(&self, sent: &str) -> Option<Response> {
        let ok = !self.cross_site
            && !self.new_form_token
            && accord_core::auth::digests_equal(
                &token_digest(sent),
                &token_digest(&self.form_token),
            );
        (!ok).then(Self::forbidden)
    }

    /// A signed-in form is accepted only from this site, with the session's token.
    pub(crate) fn refuse_session(&self, sent: &str) -> Option<Response> {
        let ok = !self.cross_site
            && self.session.as_ref().is_some_and(|s| {
                accord_core::auth::digests_equal(&token_digest(sent), &token_digest(&s.csrf))
            });
        (!ok).then(Self::forbidden)
    }

    /// Adds the form-token cookie when the browser had none.
    fn finish(&self, mut res: Response) -> Response {
        if self.new_form_token {
            set_cookie(
                &mut res,
                FORM_COOKIE,
                &self.form_token,
                SESSION_MAX_MS / 1000,
                "Strict",
                self.secure,
            );
        }
        res
    }

    /// Signs the browser in: the old session (if any) ends and a new one begins, so a
    /// session id planted before sign-in is worth nothing after it.
    async fn signed_in(&self, state: &AppState, new: (ConsoleSession, String)) -> Response {
        if let Some(old) = &self.session {
            if let Err(e) = state.store.delete_console_session(&old.digest).await {
                return internal(e);
            }
        }
        let mut res = see_other("/console");
        set_cookie(
            &mut res,
            SESSION_COOKIE,
            &new.1,
            SESSION_MAX_MS / 1000,
            "Lax",
            self.secure,
        );
        res
    }
}

// ---------------------------------------------------------------------------------------
// Pages

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn sign_in_page(browser: Browser) -> Response {
    if browser.session.is_some() {
        return see_other("/console");
    }
    let p = SignInPage {
        csrf: browser.form_csrf(),
        email: "",
        error: None,
        notice: None,
    };
    browser.finish(page(StatusCode::OK, &p))
}

async fn sign_in(
    State(state): State<AppState>,
    browser: Browser,
    Form(f): Form<SignInForm>,
) -> Response {
    if let Some(r) = browser.refuse_form(&f.csrf) {
        return r;
    }
    let email = f.email.trim();
    let refused = |status: StatusCode, message: String| {
        let p = SignInPage {
            csrf: browser.form_csrf(),
            email,
            error: Some(message),
            notice: None,
        };
        page(status, &p)
    };
    if email.is_empty() || f.password.is_empty() {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Give your email address and your password.".into(),
        );
    }
    match usecase::sign_in(
        state.store.as_ref(),
        email,
        &f.password,
        browser.address,
        now_ms(),
    )
    .await
    {
        Ok(Ok(new)) => browser.signed_in(&state, new).await,
        Ok(Err(why)) => {
            let status = match why {
                usecase::Refused::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                usecase::Refused::Disabled => StatusCode::FORBIDDEN,
                usecase::Refused::Credentials => StatusCode::UNAUTHORIZED,
            };
            refused(status, why.message())
        }
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    browser: Browser,
    Form(f): Form<CsrfForm>,
) -> Response {
    let Some(s) = &browser.session else {
        return see_other("/console/sign-in");
    };
    if let Some(r) = browser.refuse_session(&f.csrf) {
        return r;
    }
    if let Err(e) = state.store.delete_console_session(&s.digest).await {
        return internal(e);
    }
    let mut res = see_other("/console/sign-in");
    set_cookie(&mut res, SESSION_COOKIE, "", 0, "Lax", browser.secure);
    res
}

#[derive(Template)]
#[template(path = "console/reset_request.html")]
struct ResetRequestPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<String>,
    notice: Option<String>,
}

async fn reset_request_page(browser: Browser) -> Response {
    let p = ResetRequestPage {
        csrf: browser.form_csrf(),
        email: "",
        error: None,
        notice: None,
    };
    browser.finish(page(StatusCode::OK, &p))
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

async fn reset_request(
    State(state): State<AppState>,
    browser: Browser,
    Form(f): Form<EmailForm>,
) -> Response {
    if let Some(r) = browser.refuse_form(&f.csrf) {
        return r;
    }
    let email = f.email.trim();
    if !accord_core::schema::is_email(email) {
        let p = ResetRequestPage {
            csrf: browser.form_csrf(),
            email,
            error: Some("email must be an email address".into()),
            notice: None,
        };
        return page(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    if let Err(e) = usecase::request_password_reset(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        email,
        now_ms(),
    )
    .await
    {
        return internal(e);
    }
    let p = ResetRequestPage {
        csrf: browser.form_csrf(),
        email: "",
        error: None,
        notice: Some(format!(
            "If {email} has an Accord account, a link to reset its password is on its way. It is valid for one hour."
        )),
    };
    page(StatusCode::OK, &p)
}

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage<'a> {
    heading: &'a str,
    intro: String,
    action: String,
    button: &'a str,
    csrf: &'a str,
    usable: bool,
    ask_email: bool,
    email: &'a str,
    name: &'a str,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// The page of a link, with the link's state: a form when it can be used, else why not.
async fn link_page(
    state: &AppState,
    browser: &Browser,
    kind: LinkKind,
    token: &str,
    form: Option<&PasswordForm>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (heading, button) = match kind {
        LinkKind::Invitation => ("Join your team on Accord", "Set password and sign in"),
        LinkKind::PasswordReset => ("Choose a new password", "Set password and sign in"),
        LinkKind::Setup => ("Create the owner account", "Create account and sign in"),
    };
    let mut intro = String::new();
    let (usable, mut status, mut message) =
        match usecase::usable_link(state.store.as_ref(), token, kind, now_ms()).await {
            Ok(link) => {
                if let Some(org) = link.organization_id {
                    if let Ok(Some(o)) = state.store.get_organization(org).await {
                        intro = match kind {
                            LinkKind::Setup => format!(
                                "This account will own the organization {} in Accord.",
                                o.name
                            ),
                            _ => format!("You are invited to the organization {}.", o.name),
                        };
                    }
                }
                (true, StatusCode::OK, None)
            }
            Err(Error::NotFound(m)) => (false, StatusCode::NOT_FOUND, Some(m)),
            Err(Error::Unprocessable(m)) => (false, StatusCode::GONE, Some(m)),
            Err(e) => return internal(e),
        };
    // A refused form of a link that still works shows why; a link that no longer works
    // shows that instead.
    if let (Some((s, m)), true) = (error, usable) {
        status = s;
        message = Some(m);
    }
    let p = PasswordPage {
        heading,
        intro,
        action: format!("{}{token}", kind.path()),
        button,
        csrf: browser.form_csrf(),
        usable,
        ask_email: kind == LinkKind::Setup,
        email: form.map_or("", |f| f.email.trim()),
        name: form.map_or("", |f| f.name.trim()),
        error: message,
        notice: None,
    };
    browser.finish(page(status, &p))
}

async fn redeem(
    state: AppState,
    browser: Browser,
    kind: LinkKind,
    token: String,
    f: PasswordForm,
) -> Response {
    if let Some(r) = browser.refuse_form(&f.csrf) {
        return r;
    }
    let now = now_ms();
    let store = state.store.as_ref();
    let done = match kind {
        LinkKind::Setup => {
            let name = Some(f.name.trim().to_string()).filter(|n| !n.is_empty() && n.len() <= 256);
            usecase::set_up_owner(store, &token, &f.email, name, &f.password, now).await
        }
        _ => usecase::set_password(store, &token, kind, &f.password, now).await,
    };
    match done {
        Ok(new) => browser.signed_in(&state, new).await,
        Err(Error::Unprocessable(m)) => {
            link_page(
                &state,
                &browser,
                kind,
                &token,
                Some(&f),
                Some((StatusCode::UNPROCESSABLE_ENTITY, m)),
            )
            .await
        }
        Err(Error::NotFound(m)) => {
            link_page(
                &state,
                &browser,
                kind,
                &token,
                Some(&f),
                Some((StatusCode::NOT_FOUND, m)),
            )
            .await
        }
        Err(e) => internal(e),
    }
}

/// The page of a kind of single-use link (`GET …/{token}`) and its form (`POST`).
fn link_routes(kind: LinkKind) -> axum::routing::MethodRouter<AppState> {
    get(
        move |State(state): State<AppState>, browser: Browser, Path(token): Path<String>| async move {
            link_page(&state, &browser, kind, &token, None, None).await
        },
    )
    .post(
        move |State(state): State<AppState>,
              browser: Browser,
              Path(token): Path<String>,
              Form(f): Form<PasswordForm>| async move {
            redeem(state, browser, kind, token, f).await
        },
    )
}

// ---------------------------------------------------------------------------------------
// Home: the organizations and projects the signed-in User can open

struct OrgView {
    id: uuid::Uuid,
    name: String,
    role: &'static str,
    projects: Vec<ProjectView>,
}

struct ProjectView {
    name: String,
    role: &'static str,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage<'a> {
    email: &'a str,
    csrf: &'a str,
    organizations: Vec<OrgView>,
}

async fn home(State(state): State<AppState>, browser: Browser) -> Response {
    let Some(session) = &browser.session else {
        return see_other("/console/sign-in");
    };
    let store = state.store.as_ref();
    let build = async {
        let account = store
            .account(session.account_id)
            .await?
            .ok_or_else(Error::not_found)?;
        let mut organizations = Vec::new();
        for u in store.account_users(account.id).await? {
            if u.status == "disabled" {
                continue;
            }
            let Some(org) = store.get_organization(u.organization_id).await? else {
                continue;
            };
            let mut projects = Vec::new();
            for p in store.list_projects(org.id).await? {
                let role = u
                    .permissions
                    .iter()
                    .find(|(pid, _)| *pid == p.id)
                    .map_or(u.role, |(_, r)| *r);
                if role >= Role::Viewer {
                    projects.push(ProjectView {
                        name: p.name,
                        role: role.as_str(),
                    });
                }
            }
            organizations.push(OrgView {
                id: org.id,
                name: org.name,
                role: u.role.as_str(),
                projects,
            });
        }
        Ok::<_, Error>((account, organizations))
    };
    match build.await {
        Ok((account, organizations)) => {
            let p = HomePage {
                email: &account.email,
                csrf: browser.session_csrf(),
                organizations,
            };
            page(StatusCode::OK, &p)
        }
        Err(e) => internal(e),
    }
}

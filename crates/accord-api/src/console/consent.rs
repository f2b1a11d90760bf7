//! The console's Consent section of an organization: per project, consent events per day
//! (by state and by consent type) as server-drawn SVG charts with their numbers as tables,
//! the current acceptance rate per consent type, the consent types (created and changed
//! by the Privacy API routes' own `routes::consent_types::{create_type, update_type}`,
//! §4.2), a person found by one
//! identifier (§4.4, §4.5) with their consent state and history, and their erasure behind
//! a confirmation (the erasure of `DELETE …/identities/{concordId}`).
use super::org::{field_of, forbidden, refusal, Fields, Member, OrgNav};
use super::requests::{fmt_date, fmt_time, label};
use super::{internal, page, see_other, Browser};
use crate::routes::{consent_types, identities};
use crate::AppState;
use accord_core::auth::Role;
use accord_core::compliance::Actor;
use accord_core::consent::{
    self, ConsentEventFilter, ConsentType, DaySplit, Identity, CATEGORIES, DAY_MS, STATES,
    TYPE_STATUSES,
};
use accord_core::query::{self, Page};
use accord_core::store::Project;
use accord_core::time::now_ms;
use askama::Template;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Events of one page of a person's history.
const HISTORY_PAGE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org}/consent", get(index))
        .route(
            "/o/{org}/consent/p/{project}/types",
            get(types_page).post(create_type),
        )
        .route(
            "/o/{org}/consent/p/{project}/types/{id}",
            get(type_page).post(change_type),
        )
        .route(
            "/o/{org}/consent/p/{project}/acceptance",
            get(acceptance_page),
        )
        .route("/o/{org}/consent/p/{project}/people", get(look_up))
        .route("/o/{org}/consent/p/{project}/people/{id}", get(person))
        .route(
            "/o/{org}/consent/p/{project}/people/{id}/erase",
            get(erase_page).post(erase),
        )
}

fn not_found(what: &str) -> Response {
    let mut res = (StatusCode::NOT_FOUND, format!("{what} was not found.")).into_response();
    super::secure(res.headers_mut());
    res
}

/// The project's consent types by id (the store's shared list).
async fn type_map(
    state: &AppState,
    p: &Project,
) -> Result<(Arc<Vec<ConsentType>>, HashMap<Uuid, usize>), Response> {
    let types = state
        .store
        .project_consent_types(p.organization_id, p.id)
        .await
        .map_err(internal)?;
    let index = types.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    Ok((types, index))
}

// ---------------------------------------------------------------------------------------
// Overview: charts and acceptance

/// Colours of the states (dark enough on white for their bars and swatches).
fn state_colour(state: &str) -> &'static str {
    match state {
        "accepted" => "#1a7f37",
        "declined" => "#c62828",
        "viewed" => "#1f5fbf",
        _ => "#8a6d00",
    }
}

const PALETTE: [&str; 8] = [
    "#1f5fbf", "#b35900", "#6f42c1", "#1a7f37", "#c62828", "#00838f", "#8a6d00", "#ad1457",
];

struct Series {
    label: String,
    colour: &'static str,
    total: i64,
}

struct Bar {
    x: i64,
    y: i64,
    h: i64,
    colour: &'static str,
    title: String,
}

struct TableRow {
    date: String,
    counts: Vec<i64>,
    total: i64,
}

/// A stacked-bar chart of daily counts, its legend and its table.
pub struct Chart {
    id: &'static str,
    title: String,
    series: Vec<Series>,
    bars: Vec<Bar>,
    rows: Vec<TableRow>,
    width: i64,
    peak: i64,
    total: i64,
}

const SLOT: i64 = 10;
const PLOT: i64 = 120;

/// `keys` are the series in order (their stored key, label and colour); `counts` the
/// store's rows; `first` the first UTC day of `days`.
fn chart(
    id: &'static str,
    title: String,
    keys: Vec<(Option<String>, String, &'static str)>,
    counts: &[consent::DayCount],
    first: i64,
    days: i64,
) -> Chart {
    let mut grid = vec![vec![0i64; keys.len()]; days as usize];
    for c in counts {
        let d = c.day - first;
        if !(0..days).contains(&d) {
            continue;
        }
        if let Some(k) = keys.iter().position(|(key, _, _)| *key == c.key) {
            grid[d as usize][k] += c.n;
        }
    }
    let peak = grid
        .iter()
        .map(|r| r.iter().sum::<i64>())
        .max()
        .unwrap_or(0);
    let mut bars = Vec::new();
    let mut rows = Vec::new();
    for (d, row) in grid.iter().enumerate() {
        let date = fmt_date((first + d as i64) * DAY_MS);
        let mut top = PLOT;
        for (k, n) in row.iter().enumerate() {
            if *n == 0 || peak == 0 {
                continue;
            }
            let h = (n * PLOT / peak).max(1);
            top -= h;
            bars.push(Bar {
                x: d as i64 * SLOT + 1,
                y: top,
                h,
                colour: keys[k].2,
                title: format!("{date}: {n} {}", keys[k].1),
            });
        }
        rows.push(TableRow {
            date,
            total: row.iter().sum(),
            counts: row.clone(),
        });
    }
    let series: Vec<Series> = keys
        .into_iter()
        .enumerate()
        .map(|(k, (_, label, colour))| Series {
            label,
            colour,
            total: grid.iter().map(|r| r[k]).sum(),
        })
        .collect();
    Chart {
        id,
        title,
        total: series.iter().map(|s| s.total).sum(),
        series,
        bars,
        rows,
        width: days * SLOT,
        peak,
    }
}

struct Acceptance {
    name: String,
    href: String,
    status: String,
    known: i64,
    accepted: i64,
    declined: i64,
    other: i64,
    rate: String,
}

struct ProjectChoice {
    id: Uuid,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/consent.html")]
struct IndexPage {
    nav: OrgNav,
    projects: Vec<ProjectChoice>,
    project: Option<(Uuid, String)>,
    days: i64,
    from: String,
    to: String,
    charts: Vec<Chart>,
    base: String,
}

#[derive(serde::Deserialize, Default)]
struct IndexQuery {
    project: Option<String>,
    days: Option<String>,
}

async fn index(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    Query(q): Query<IndexQuery>,
) -> Response {
    let m = or_answer!(Member::of(&state, &browser, org).await);
    let readable = or_answer!(m.readable_projects(&state).await);
    let days = match q.days.as_deref() {
        Some("90") => 90,
        _ => 30,
    };
    let chosen = match q.project.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => match Uuid::parse_str(p) {
            Ok(id) => match m.project(&state, id, Role::Viewer).await {
                Ok(p) => Some(p),
                Err(r) => return r,
            },
            Err(_) => return forbidden(),
        },
        None => readable.first().cloned(),
    };
    let now = now_ms();
    let today = now.div_euclid(DAY_MS);
    let first = today - days + 1;
    let mut charts = Vec::new();
    if let Some(p) = &chosen {
        let (types, index) = or_answer!(type_map(&state, p).await);
        let (start, end) = (first * DAY_MS, (today + 1) * DAY_MS);
        let store = &state.store;
        let by_state = store.consent_event_days(org, p.id, start, end, DaySplit::State);
        let by_type = store.consent_event_days(org, p.id, start, end, DaySplit::ConsentType);
        let (by_state, by_type) = match tokio::try_join!(by_state, by_type) {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
        let state_keys = STATES
            .iter()
            .map(|s| (Some(s.to_string()), label(s), state_colour(s)))
            .collect();
        charts.push(chart(
            "by-state",
            "Consent events per day by state".into(),
            state_keys,
            &by_state,
            first,
            days,
        ));
        // The types that have events in the range, in the project's order, then events
        // recorded without a type.
        let mut seen: Vec<usize> = by_type
            .iter()
            .filter_map(|c| {
                c.key
                    .as_deref()
                    .and_then(|k| Uuid::parse_str(k).ok())
                    .and_then(|id| index.get(&id).copied())
            })
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let mut type_keys: Vec<(Option<String>, String, &'static str)> = seen
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let t = &types[*i];
                (
                    Some(t.id.to_string()),
                    t.name.clone(),
                    PALETTE[n % PALETTE.len()],
                )
            })
            .collect();
        if by_type.iter().any(|c| c.key.is_none()) {
            type_keys.push((None, "No consent type".into(), "#5f6b7a"));
        }
        charts.push(chart(
            "by-type",
            "Consent events per day by consent type".into(),
            type_keys,
            &by_type,
            first,
            days,
        ));
    }
    let pid = chosen.as_ref().map(|p| p.id);
    let page_ = IndexPage {
        nav: m.nav("consent"),
        projects: readable
            .iter()
            .map(|p| ProjectChoice {
                id: p.id,
                name: p.name.clone(),
                selected: Some(p.id) == pid,
            })
            .collect(),
        base: match pid {
            Some(p) => format!("/console/o/{org}/consent?project={p}&"),
            None => format!("/console/o/{org}/consent?"),
        },
        project: chosen.map(|p| (p.id, p.name)),
        days,
        from: fmt_date(first * DAY_MS),
        to: fmt_date(today * DAY_MS),
        charts,
    };
    page(StatusCode::OK, &page_)
}

#[derive(Template)]
#[template(path = "console/consent_acceptance.html")]
struct AcceptancePage {
    nav: OrgNav,
    project: String,
    project_id: Uuid,
    acceptance: Vec<Acceptance>,
    at: String,
}

/// The current acceptance per consent type. A page of its own: it folds every unexpired
/// event of the project (one grouped query), so its cost grows with the ledger, while
/// the overview reads only the days it charts.
async fn acceptance_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
) -> Response {
    let (m, p) =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    let (types, _) = or_answer!(type_map(&state, &p).await);
    let now = now_ms();
    let current = match state.store.current_state_counts(org, p.id, now).await {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let mut acceptance = Vec::new();
    for t in types.iter() {
        let of_type = current.iter().filter(|c| c.consent_type == t.id);
        let (mut accepted, mut declined, mut other) = (0, 0, 0);
        for c in of_type {
            match c.state.as_str() {
                "accepted" => accepted += c.people,
                "declined" => declined += c.people,
                _ => other += c.people,
            }
        }
        let known = accepted + declined + other;
        acceptance.push(Acceptance {
            name: t.name.clone(),
            href: format!("/console/o/{org}/consent/p/{}/types/{}", p.id, t.id),
            status: t.status.clone(),
            known,
            accepted,
            declined,
            other,
            rate: if known == 0 {
                "—".into()
            } else {
                format!("{:.1} %", accepted as f64 * 100.0 / known as f64)
            },
        });
    }
    let page_ = AcceptancePage {
        nav: m.nav("consent"),
        project: p.name.clone(),
        project_id: p.id,
        acceptance,
        at: fmt_time(now),
    };
    page(StatusCode::OK, &page_)
}

// ---------------------------------------------------------------------------------------
// Consent types

/// What a consent-type form holds, as typed.
#[derive(Default, Clone)]
struct TypeForm {
    category: String,
    subcategory: String,
    label: String,
    name: String,
    description: String,
    document: String,
    url: String,
    status: String,
    consent_duration: String,
    required: bool,
    require_reaccept_version: String,
    valid_states: Vec<String>,
    /// PATCH only: an explicit new version.
    version: String,
    /// Create only.
    read_only: bool,
}

/// A number as a number; anything else as typed, for the schema to name.
fn int_or_text(v: &str) -> Value {
    v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))
}

impl TypeForm {
    fn of(t: &ConsentType) -> TypeForm {
        TypeForm {
            category: t.category.clone(),
            subcategory: t.subcategory.join(", "),
            label: t.label.clone(),
            name: t.name.clone(),
            description: t.description.clone().unwrap_or_default(),
            document: t.document.clone().unwrap_or_default(),
            url: t.url.clone().unwrap_or_default(),
            status: t.status.clone(),
            consent_duration: t.consent_duration.clone(),
            required: t.required,
            require_reaccept_version: t
                .require_reaccept_version
                .map(|v| v.to_string())
                .unwrap_or_default(),
            valid_states: t.valid_states.clone(),
            version: String::new(),
            read_only: t.read_only,
        }
    }

    fn from_fields(f: &Fields) -> TypeForm {
        TypeForm {
            category: f.one("category"),
            subcategory: f.one("subcategory"),
            label: f.one("label"),
            name: f.one("name"),
            description: f.one("description"),
            document: f.one("document"),
            url: f.one("url").trim().to_string(),
            status: f.one("status"),
            consent_duration: f.one("consentDuration").trim().to_string(),
            required: f.one("required") == "true",
            require_reaccept_version: f.one("requireReacceptVersion").trim().to_string(),
            valid_states: f.all("validStates"),
            version: f.one("version").trim().to_string(),
            read_only: f.one("readOnly") == "true",
        }
    }

    fn has_state(&self, s: &str) -> bool {
        self.valid_states.iter().any(|v| v == s)
    }

    /// The fields both bodies share.
    fn common(&self, body: &mut Map<String, Value>, before: Option<&ConsentType>) {
        body.insert("name".into(), json!(self.name));
        let had = |f: fn(&ConsentType) -> bool| before.is_some_and(f);
        if !self.description.is_empty() || had(|t| t.description.is_some()) {
            body.insert("description".into(), json!(self.description));
        }
        if !self.document.is_empty() || had(|t| t.document.is_some()) {
            body.insert("document".into(), json!(self.document));
        }
        if !self.url.is_empty() || had(|t| t.url.is_some()) {
            body.insert("url".into(), json!(self.url));
        }
        if !self.status.is_empty() {
            body.insert("status".into(), json!(self.status));
        }
        if !self.consent_duration.is_empty() || before.is_some() {
            body.insert("consentDuration".into(), json!(self.consent_duration));
        }
        body.insert("required".into(), json!(self.required));
        body.insert("validStates".into(), json!(self.valid_states));
        if !self.require_reaccept_version.is_empty() {
            body.insert(
                "requireReacceptVersion".into(),
                int_or_text(&self.require_reaccept_version),
            );
        }
    }

    /// The Privacy API's create body (§4.2) this form stands for.
    fn create_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("category".into(), json!(self.category));
        let subs: Vec<&str> = self
            .subcategory
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if !subs.is_empty() {
            body.insert("subcategory".into(), json!(subs));
        }
        body.insert("label".into(), json!(self.label));
        if self.read_only {
            body.insert("readOnly".into(), json!(true));
        }
        self.common(&mut body, None);
        Value::Object(body)
    }

    /// The Privacy API's PATCH body (§4.2) this form stands for.
    fn patch_body(&self, before: &ConsentType) -> Value {
        let mut body = Map::new();
        self.common(&mut body, Some(before));
        if !self.version.is_empty() {
            body.insert("version".into(), int_or_text(&self.version));
        }
        Value::Object(body)
    }
}

struct TypeRow {
    href: String,
    name: String,
    category: String,
    label: String,
    status: String,
    version: i64,
    read_only: bool,
}

#[derive(Template)]
#[template(path = "console/consent_types.html")]
struct TypesPage {
    nav: OrgNav,
    project: String,
    project_id: Uuid,
    action: String,
    rows: Vec<TypeRow>,
    can_admin: bool,
    form: TypeForm,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
    categories: &'static [&'static str],
    statuses: &'static [&'static str],
    states: &'static [&'static str],
}

async fn render_types(
    state: &AppState,
    (m, p): (Member, Project),
    status: StatusCode,
    form: TypeForm,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let org = m.org.id;
    let filter = consent::ConsentTypeFilter {
        organization_id: org,
        project_id: p.id,
        ..Default::default()
    };
    let page_q = Page {
        offset: 0,
        limit: 500,
        sort: "name".into(),
        desc: false,
    };
    let items = match state.store.list_consent_types(&filter, &page_q).await {
        Ok((_, items)) => items,
        Err(e) => return internal(e),
    };
    let rows = items
        .iter()
        .map(|t| TypeRow {
            href: format!("/console/o/{org}/consent/p/{}/types/{}", p.id, t.id),
            name: t.name.clone(),
            category: label(&t.category),
            label: t.label.clone(),
            status: t.status.clone(),
            version: t.version,
            read_only: t.read_only,
        })
        .collect();
    let error_field = error
        .as_deref()
        .map(field_of)
        .unwrap_or_default()
        .to_string();
    let page_ = TypesPage {
        nav: m.nav("consent"),
        can_admin: m.project_role(p.id) >= Role::Admin,
        action: format!("/console/o/{org}/consent/p/{}/types", p.id),
        project: p.name.clone(),
        project_id: p.id,
        rows,
        form,
        error,
        error_field,
        notice,
        categories: CATEGORIES,
        statuses: TYPE_STATUSES,
        states: STATES,
    };
    page(status, &page_)
}

async fn types_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
) -> Response {
    match Member::of_project(&state, &browser, (org, project), Role::Viewer).await {
        Ok(found) => {
            let form = TypeForm {
                category: "privacy_setting".into(),
                status: "active".into(),
                ..Default::default()
            };
            render_types(&state, found, StatusCode::OK, form, None, None).await
        }
        Err(r) => r,
    }
}

async fn create_type(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let f = Fields::parse(&raw);
    // The role of `POST …/consent-types`.
    let (m, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), f.csrf(), Role::Admin).await
    );
    let form = TypeForm::from_fields(&f);
    match consent_types::create_type(&state, Ok(&p), &form.create_body()).await {
        Ok(t) => {
            let notice = Some(format!("Consent type {} created.", t.name));
            let form = TypeForm {
                category: "privacy_setting".into(),
                status: "active".into(),
                ..Default::default()
            };
            render_types(&state, (m, p), StatusCode::CREATED, form, None, notice).await
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_types(&state, (m, p), status, form, Some(message), None).await
            }
            Err(r) => r,
        },
    }
}

#[derive(Template)]
#[template(path = "console/consent_type.html")]
struct TypePage {
    nav: OrgNav,
    project: String,
    types_href: String,
    action: String,
    t: ConsentType,
    can_edit: bool,
    form: TypeForm,
    error: Option<String>,
    error_field: String,
    notice: Option<String>,
    statuses: &'static [&'static str],
    states: &'static [&'static str],
    updated: String,
}

fn render_type(
    (m, p): (Member, Project),
    t: ConsentType,
    status: StatusCode,
    form: Option<TypeForm>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let org = m.org.id;
    let error_field = error
        .as_deref()
        .map(field_of)
        .unwrap_or_default()
        .to_string();
    let page_ = TypePage {
        nav: m.nav("consent"),
        can_edit: m.project_role(p.id) >= Role::Admin && !t.read_only,
        types_href: format!("/console/o/{org}/consent/p/{}/types", p.id),
        action: format!("/console/o/{org}/consent/p/{}/types/{}", p.id, t.id),
        project: p.name,
        form: form.unwrap_or_else(|| TypeForm::of(&t)),
        updated: fmt_time(t.date_updated),
        t,
        error,
        error_field,
        notice,
        statuses: TYPE_STATUSES,
        states: STATES,
    };
    page(status, &page_)
}

async fn load_type(
    state: &AppState,
    org: Uuid,
    project: Uuid,
    id: Uuid,
) -> Result<ConsentType, Response> {
    match state.store.get_consent_type(org, project, id).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(not_found("This consent type")),
        Err(e) => Err(internal(e)),
    }
}

async fn type_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
) -> Response {
    let found =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    match load_type(&state, org, project, id).await {
        Ok(t) => render_type(found, t, StatusCode::OK, None, None, None),
        Err(r) => r,
    }
}

async fn change_type(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let f = Fields::parse(&raw);
    // The role of `PATCH …/consent-types/{id}`.
    let found = or_answer!(
        Member::writing_project(&state, &browser, (org, project), f.csrf(), Role::Admin).await
    );
    let before = or_answer!(load_type(&state, org, project, id).await);
    let form = TypeForm::from_fields(&f);
    let body = form.patch_body(&before);
    match consent_types::update_type(&state, Ok(&found.1), id, &body).await {
        Ok(Some(t)) => render_type(found, t, StatusCode::OK, None, None, Some("Saved.".into())),
        Ok(None) => not_found("This consent type"),
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_type(found, before, status, Some(form), Some(message), None)
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// A person: look-up, consent state, history, erasure

/// The identifiers a person is looked up by, as the consent-state query names them.
const KINDS: [(&str, &str); 5] = [
    ("email", "Email"),
    ("phoneNumber", "Phone number"),
    ("userId", "User id"),
    ("projectUserId", "Project user id"),
    ("concordId", "Concord id"),
];

#[derive(Template)]
#[template(path = "console/consent_lookup.html")]
struct LookupPage {
    nav: OrgNav,
    project: String,
    action: String,
    kinds: &'static [(&'static str, &'static str)],
    kind: String,
    value: String,
    error: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct LookupQuery {
    kind: Option<String>,
    value: Option<String>,
}

async fn look_up(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    Query(q): Query<LookupQuery>,
) -> Response {
    let (m, p) =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    let kind = q.kind.unwrap_or_else(|| "email".into());
    let value = q.value.unwrap_or_default();
    let refused = |status: StatusCode, error: Option<String>, m: Member, p: Project| {
        let page_ = LookupPage {
            nav: m.nav("consent"),
            action: format!("/console/o/{org}/consent/p/{}/people", p.id),
            project: p.name,
            kinds: &KINDS,
            kind: kind.clone(),
            value: value.clone(),
            error,
        };
        page(status, &page_)
    };
    if value.trim().is_empty() {
        return refused(StatusCode::OK, None, m, p);
    }
    if !KINDS.iter().any(|(k, _)| *k == kind) {
        let message = format!("kind must be one of {}", KINDS.map(|(k, _)| k).join(", "));
        return refused(StatusCode::UNPROCESSABLE_ENTITY, Some(message), m, p);
    }
    // The consent-state query of the Privacy API (§4.4), with its rules and messages.
    let raw: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(&kind, &value)
        .finish();
    let lookup = match query::parse(Some(&raw), identities::state_params())
        .and_then(|q| identities::single_lookup(&q))
    {
        Ok(l) => l,
        Err(e) => {
            return refused(StatusCode::UNPROCESSABLE_ENTITY, Some(e.to_string()), m, p);
        }
    };
    match state.store.find_identity(org, p.id, &lookup).await {
        Ok(Some(identity)) => see_other(&format!(
            "/console/o/{org}/consent/p/{}/people/{}",
            p.id, identity.id
        )),
        Ok(None) => {
            let name = KINDS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("identifier", |(_, n)| n)
                .to_lowercase();
            let message = format!("No one in this project has this {name}.");
            refused(StatusCode::NOT_FOUND, Some(message), m, p)
        }
        Err(e) => internal(e),
    }
}

struct StateRow {
    name: String,
    state: String,
    when: String,
    version: String,
}

struct HistoryRow {
    when: String,
    name: String,
    state: String,
    action: String,
    version: String,
}

#[derive(Template)]
#[template(path = "console/consent_person.html")]
struct PersonPage {
    nav: OrgNav,
    project: String,
    identity: Identity,
    erased: String,
    states: Vec<StateRow>,
    history: Vec<HistoryRow>,
    total: i64,
    next: Option<String>,
    previous: Option<String>,
    erase_href: Option<String>,
    lookup_href: String,
    notice: Option<String>,
}

async fn render_person(
    state: &AppState,
    (m, p): (Member, Project),
    identity: Identity,
    offset: i64,
    notice: Option<String>,
) -> Response {
    let org = m.org.id;
    let (types, index) = or_answer!(type_map(state, &p).await);
    let name_of = |id: Option<Uuid>, label: Option<&str>| {
        id.and_then(|id| index.get(&id))
            .map(|i| types[*i].name.clone())
            .or_else(|| label.map(|l| format!("{l} (no type)")))
            .unwrap_or_else(|| "(no type)".into())
    };
    let current = match state
        .store
        .consent_state(org, p.id, identity.id, false)
        .await
    {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
    let filter = ConsentEventFilter {
        organization_id: org,
        project_id: p.id,
        concord_id: Some(identity.id.to_string()),
        ..Default::default()
    };
    let page_q = Page {
        offset,
        limit: HISTORY_PAGE,
        sort: "consentDate".into(),
        desc: true,
    };
    let (total, events) = match state.store.list_consent_events(&filter, &page_q).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let base = format!("/console/o/{org}/consent/p/{}/people/{}", p.id, identity.id);
    let page_ = PersonPage {
        nav: m.nav("consent"),
        erase_href: (m.project_role(p.id) >= Role::Admin && identity.erased_date.is_none())
            .then(|| format!("{base}/erase")),
        lookup_href: format!("/console/o/{org}/consent/p/{}/people", p.id),
        project: p.name.clone(),
        erased: identity.erased_date.map(fmt_time).unwrap_or_default(),
        states: current
            .iter()
            .map(|i| StateRow {
                name: name_of(i.event.consent_type, i.event.label.as_deref()),
                state: i.event.consent_state.clone(),
                when: fmt_time(i.event.consent_date),
                version: i.event.version.map(|v| v.to_string()).unwrap_or_default(),
            })
            .collect(),
        history: events
            .iter()
            .map(|e| HistoryRow {
                when: fmt_time(e.consent_date),
                name: name_of(e.consent_type, e.label.as_deref()),
                state: e.consent_state.clone(),
                action: label(&e.consent_action),
                version: e.version.map(|v| v.to_string()).unwrap_or_default(),
            })
            .collect(),
        total,
        next: (offset + HISTORY_PAGE < total)
            .then(|| format!("{base}?offset={}", offset + HISTORY_PAGE)),
        previous: (offset > 0).then(|| format!("{base}?offset={}", (offset - HISTORY_PAGE).max(0))),
        identity,
        notice,
    };
    page(StatusCode::OK, &page_)
}

async fn load_person(
    state: &AppState,
    org: Uuid,
    project: Uuid,
    id: &str,
) -> Result<Identity, Response> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Err(not_found("This person"));
    };
    match state.store.get_identity(org, project, id).await {
        Ok(Some(i)) => Ok(i),
        Ok(None) => Err(not_found("This person")),
        Err(e) => Err(internal(e)),
    }
}

#[derive(serde::Deserialize, Default)]
struct OffsetQuery {
    offset: Option<i64>,
}

async fn person(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, String)>,
    Query(q): Query<OffsetQuery>,
) -> Response {
    let found =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    match load_person(&state, org, project, &id).await {
        Ok(identity) => {
            let offset = q.offset.unwrap_or(0).clamp(0, i64::MAX / 2);
            render_person(&state, found, identity, offset, None).await
        }
        Err(r) => r,
    }
}

#[derive(Template)]
#[template(path = "console/consent_erase.html")]
struct ErasePage {
    nav: OrgNav,
    project: String,
    identity: Identity,
    action: String,
    back: String,
    include: bool,
    error: Option<String>,
}

fn render_erase(
    (m, p): (Member, Project),
    identity: Identity,
    status: StatusCode,
    include: bool,
    error: Option<String>,
) -> Response {
    let org = m.org.id;
    let back = format!("/console/o/{org}/consent/p/{}/people/{}", p.id, identity.id);
    let page_ = ErasePage {
        nav: m.nav("consent"),
        project: p.name,
        action: format!("{back}/erase"),
        back,
        identity,
        include,
        error,
    };
    page(status, &page_)
}

async fn erase_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, String)>,
) -> Response {
    // The role of `DELETE …/identities/{concordId}`.
    let found = or_answer!(Member::of_project(&state, &browser, (org, project), Role::Admin).await);
    match load_person(&state, org, project, &id).await {
        Ok(identity) => render_erase(found, identity, StatusCode::OK, false, None),
        Err(r) => r,
    }
}

/// The confirmation the erasure form needs ticked.
const CONFIRM: &str = "erase";

async fn erase(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let f = Fields::parse(&raw);
    let (m, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), f.csrf(), Role::Admin).await
    );
    let identity = or_answer!(load_person(&state, org, project, &id).await);
    let include = f.one("includeComplianceRequests") == "true";
    if f.one("confirm") != CONFIRM {
        return render_erase(
            (m, p),
            identity,
            StatusCode::UNPROCESSABLE_ENTITY,
            include,
            Some("confirm: tick the box to confirm the erasure; nothing was erased".into()),
        );
    }
    let done = identities::erase_identity(
        &state,
        (org, p.id, identity.id),
        include,
        Actor {
            account_id: Some(m.who.key_id),
        },
    )
    .await;
    match done {
        Ok(Some(e)) => {
            let identity =
                or_answer!(load_person(&state, org, p.id, &identity.id.to_string()).await);
            let notice = format!(
                "Erased: identifiers removed, {} consent events and {} sessions redacted, {} compliance requests cleared.",
                e.consent_events_redacted, e.sessions_redacted, e.compliance_requests_redacted
            );
            render_person(&state, (m, p), identity, 0, Some(notice)).await
        }
        Ok(None) => not_found("This person"),
        Err(e) => internal(e),
    }
}

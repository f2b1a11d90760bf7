//! The requests inbox and the request page of the console. The inbox reads with the
//! Privacy API's list parameters and store query (§3.9), over the projects the User can
//! read; the request page changes a request through the same PATCH schema, role check and
//! use case as `PATCH …/compliance-requests/{id}` (§3.7).
use super::org::{forbidden, refuse_write, Fields, Member, OrgNav};
use super::{internal, page, Browser};
use crate::routes::compliance_requests::{filter_from, list_params};
use crate::AppState;
use accord_core::auth::Role;
use accord_core::compliance::{
    self, Actor, ComplianceRequest, EventFilter, PatchComplianceRequest, RequestFilter,
};
use accord_core::query::{self, Page};
use accord_core::store::Project;
use accord_core::time::now_ms;
use accord_core::usecases::compliance_requests as usecase;
use accord_core::Error;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// Rows of one inbox page.
const PAGE_SIZE: i64 = 50;

pub(crate) fn fmt_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

pub(crate) fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

pub(crate) fn label(s: &str) -> String {
    s.replace('_', " ")
}

struct Row {
    href: String,
    email: String,
    request: String,
    status: String,
    project: String,
    received: String,
    due: String,
    overdue: bool,
}

struct StatusCount {
    label: String,
    count: i64,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/inbox.html")]
struct InboxPage {
    nav: OrgNav,
    /// A search or date filter is on: the counts per status are of all requests of the
    /// type and overdue view, the table of the search.
    searched: bool,
    counts: Vec<StatusCount>,
    rows: Vec<Row>,
    total: i64,
    text: String,
    request: String,
    overdue: bool,
    start: String,
    end: String,
    error: Option<String>,
    next: Option<String>,
    previous: Option<String>,
}

/// Drops the empty fields a GET form sends (`text=&…`): an empty filter is no filter here.
fn without_empty(raw: Option<&str>) -> String {
    raw.unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.ends_with('='))
        .collect::<Vec<_>>()
        .join("&")
}

fn with_param(raw: &str, key: &str, value: Option<&str>) -> String {
    let mut parts: Vec<String> = raw
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(key))
        .map(str::to_string)
        .collect();
    if let Some(v) = value {
        parts.push(format!("{key}={v}"));
    }
    parts.join("&")
}

pub async fn inbox(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    RawQuery(raw): RawQuery,
) -> Response {
    let m = or_answer!(Member::of(&state, &browser, org).await);
    let (who, org) = (&m.who, &m.org);
    let projects = match crate::extract::readable_projects(&state, who, org.id).await {
        Ok(p) => p,
        Err(_) => return forbidden(),
    };
    let raw = without_empty(raw.as_deref());
    // The inbox's order: the nearest due date first.
    let mut with_defaults = raw.clone();
    if !raw.split('&').any(|kv| kv.starts_with("sort=")) {
        with_defaults = with_param(&with_defaults, "sort", Some("dueDate"));
        with_defaults = with_param(&with_defaults, "order", Some("asc"));
    }
    with_defaults = with_param(&with_defaults, "limit", Some(&PAGE_SIZE.to_string()));
    let (q, error) = match query::parse(Some(&with_defaults), list_params(true)) {
        Ok(q) => (q, None),
        Err(e) => (
            query::parse(Some("sort=dueDate&order=asc&limit=50"), list_params(true))
                .expect("the inbox's default query is valid"),
            Some(e.to_string()),
        ),
    };
    let names: HashMap<Uuid, String> = match state.store.list_projects(org.id).await {
        Ok(ps) => ps.into_iter().map(|p| (p.id, p.name)).collect(),
        Err(e) => return internal(e),
    };
    let page_q = Page::from_query(&q, "dueDate");
    let filter = filter_from(&q, org.id, projects.clone());
    let (total, items) = if projects.is_empty() {
        (0, vec![])
    } else {
        match state.store.list_compliance_requests(&filter, &page_q).await {
            Ok(r) => r,
            Err(e) => return internal(e),
        }
    };
    // Counts per status under the filters the status counters answer (projects, type,
    // overdue): a free-text or date search narrows the table, not the counts, so every
    // inbox page costs one search at most.
    let counted = RequestFilter {
        organization_id: filter.organization_id,
        project_ids: filter.project_ids.clone(),
        request: filter.request.clone(),
        overdue: filter.overdue,
        now: filter.now,
        ..RequestFilter::default()
    };
    let searched = counted
        != RequestFilter {
            status: vec![],
            ..filter.clone()
        };
    let mut counts = Vec::new();
    let current: Vec<String> = q.list("status").map(<[String]>::to_vec).unwrap_or_default();
    for status in compliance::STATUSES {
        let mut f = counted.clone();
        f.status = vec![status.to_string()];
        let n = if projects.is_empty() {
            0
        } else {
            match state.store.count_compliance_requests(&f).await {
                Ok(n) => n,
                Err(e) => return internal(e),
            }
        };
        counts.push(StatusCount {
            label: label(status),
            count: n,
            href: format!(
                "/console/o/{}/requests?{}",
                org.id,
                with_param(&with_param(&raw, "status", Some(status)), "offset", None)
            ),
            current: current.len() == 1 && current[0] == *status,
        });
    }
    let now = now_ms();
    let rows = items
        .iter()
        .map(|c| Row {
            href: format!("/console/o/{}/p/{}/requests/{}", org.id, c.project_id, c.id),
            email: c.user_email.clone().unwrap_or_else(|| "(no email)".into()),
            request: label(&c.request),
            status: label(&c.status),
            project: names.get(&c.project_id).cloned().unwrap_or_default(),
            received: fmt_date(c.request_date),
            due: fmt_date(c.due_date),
            overdue: c.due_date < now && c.status != "resolved",
        })
        .collect();
    let offset = page_q.offset;
    let base = format!("/console/o/{}/requests?", org.id);
    let next = (offset + PAGE_SIZE < total).then(|| {
        base.clone() + &with_param(&raw, "offset", Some(&(offset + PAGE_SIZE).to_string()))
    });
    let previous = (offset > 0).then(|| {
        base.clone()
            + &with_param(
                &raw,
                "offset",
                Some(&(offset - PAGE_SIZE).max(0).to_string()),
            )
    });
    let p = InboxPage {
        nav: m.nav("requests"),
        searched,
        counts,
        rows,
        total,
        text: q.str("text").unwrap_or("").to_string(),
        request: q
            .list("request")
            .and_then(|l| l.first().cloned())
            .unwrap_or_default(),
        overdue: q.bool("overdue") == Some(true),
        start: q.str("startDate").unwrap_or("").to_string(),
        end: q.str("endDate").unwrap_or("").to_string(),
        error,
        next,
        previous,
    };
    page(
        if p.error.is_some() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        &p,
    )
}

// ---------------------------------------------------------------------------------------
// The request page

struct EventRow {
    when: String,
    event: String,
}

pub(crate) struct FileRow {
    name: String,
    size: String,
    media_type: String,
    date: String,
    href: String,
    delete: String,
}

/// A size for people: bytes, KB or MB (powers of 1024, one decimal).
pub(crate) fn fmt_size(bytes: i64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KB {
        format!("{bytes} B")
    } else if b < KB * KB {
        format!("{:.1} KB", b / KB)
    } else {
        format!("{:.1} MB", b / KB / KB)
    }
}

struct TaskRow {
    id: Uuid,
    name: String,
    completed: bool,
}

#[derive(Template)]
#[template(path = "console/request.html")]
struct RequestPage {
    nav: OrgNav,
    project: String,
    action: String,
    cr: ComplianceRequest,
    status: String,
    due: String,
    overdue: bool,
    received: String,
    events: Vec<EventRow>,
    tasks: Vec<TaskRow>,
    files: Vec<FileRow>,
    files_action: String,
    /// Why the last upload or deletion was refused, shown in the files card.
    files_error: Option<String>,
    max_files: usize,
    max_file_mb: u64,
    can_work: bool,
    can_admin: bool,
    error: Option<String>,
    notice: Option<String>,
    resolution_statuses: &'static [&'static str],
}

pub(crate) async fn load(
    state: &AppState,
    browser: &Browser,
    org: Uuid,
    project: Uuid,
    id: Uuid,
) -> Result<(Member, Project, ComplianceRequest), Response> {
    let m = Member::of(state, browser, org).await?;
    let p = m.project(state, project, Role::Viewer).await?;
    match state.store.get_compliance_request(org, project, id).await {
        Ok(Some(cr)) => Ok((m, p, cr)),
        Ok(None) => Err(forbidden()),
        Err(e) => Err(internal(e)),
    }
}

async fn render_request(
    state: &AppState,
    found: (Member, Project, ComplianceRequest),
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    render_request_page(state, found, status, (error, notice, None)).await
}

/// The request page; `(error, notice, files_error)` are the messages it shows.
pub(crate) async fn render_request_page(
    state: &AppState,
    (m, project, cr): (Member, Project, ComplianceRequest),
    status: StatusCode,
    (error, notice, files_error): (Option<String>, Option<String>, Option<String>),
) -> Response {
    let org = &m.org;
    let filter = EventFilter {
        organization_id: org.id,
        project_ids: vec![project.id],
        start_date: None,
        end_date: None,
        account_id: None,
        compliance_request_id: Some(cr.id),
        event_id: None,
        events: vec![],
    };
    let events = match state
        .store
        .list_request_events(
            &filter,
            &Page {
                offset: 0,
                limit: 1000,
                sort: "dateCreated".into(),
                desc: false,
            },
        )
        .await
    {
        Ok((_, e)) => e,
        Err(e) => return internal(e),
    };
    let ids: Vec<Uuid> = cr.tasks.iter().map(|t| t.data_system).collect();
    let names = match state.store.data_system_summaries(org.id, &ids).await {
        Ok(n) => n,
        Err(e) => return internal(e),
    };
    let role = m.project_role(project.id);
    let now = now_ms();
    let action = format!("/console/o/{}/p/{}/requests/{}", org.id, project.id, cr.id);
    let files = cr
        .files
        .iter()
        .map(|f| {
            let href = format!("{action}/files/{}", compliance::percent_encode(&f.name));
            FileRow {
                name: f.name.clone(),
                size: fmt_size(f.size),
                media_type: f.media_type.clone(),
                date: fmt_time(f.date),
                delete: format!("{href}/delete"),
                href,
            }
        })
        .collect();
    let p = RequestPage {
        project: project.name.clone(),
        files,
        files_action: format!("{action}/files"),
        files_error,
        max_files: compliance::MAX_FILES_PER_UPLOAD,
        max_file_mb: compliance::MAX_FILE_BYTES / 1024 / 1024,
        action,
        nav: m.nav("requests"),
        status: label(&cr.status),
        due: fmt_date(cr.due_date),
        overdue: cr.due_date < now && cr.status != "resolved",
        received: fmt_time(cr.request_date),
        events: events
            .iter()
            .map(|e| EventRow {
                when: fmt_time(e.date_created),
                event: label(&e.event),
            })
            .collect(),
        tasks: cr
            .tasks
            .iter()
            .map(|t| TaskRow {
                id: t.data_system,
                name: names
                    .get(&t.data_system)
                    .map(|d| d.name.clone())
                    .unwrap_or_else(|| t.data_system.to_string()),
                completed: t.completed,
            })
            .collect(),
        can_work: role >= Role::Limited,
        can_admin: role >= Role::Admin,
        error,
        notice,
        resolution_statuses: compliance::RESOLUTION_STATUSES,
        cr,
    };
    page(status, &p)
}

pub async fn request_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
) -> Response {
    match load(&state, &browser, org, project, id).await {
        Ok(found) => render_request(&state, found, StatusCode::OK, None, None).await,
        Err(r) => r,
    }
}

/// A change from the request page: one action and its fields.
pub struct ChangeForm {
    csrf: String,
    action: String,
    notes: String,
    resolution: String,
    resolution_status: String,
    /// The `dataSystem` of each task whose box is ticked.
    done: Vec<String>,
}

/// The PATCH body (§3.7) an action of the page stands for.
fn patch_of(f: &ChangeForm, cr: &ComplianceRequest) -> Result<Value, String> {
    let mut body = Map::new();
    match f.action.as_str() {
        "verify" => {
            body.insert("status".into(), json!("submitted"));
        }
        "acknowledge" => {
            body.insert("status".into(), json!("acknowledged"));
        }
        "reopen" => {
            body.insert("status".into(), json!("acknowledged"));
        }
        "resolve" => {
            body.insert("status".into(), json!("resolved"));
            if !f.resolution_status.is_empty() {
                body.insert("resolutionStatus".into(), json!(f.resolution_status));
            }
            if !f.resolution.is_empty() {
                body.insert("resolution".into(), json!(f.resolution));
            }
        }
        "notes" => {
            body.insert("notes".into(), json!(f.notes));
        }
        "extend" => {
            body.insert("extendDueDate".into(), json!(true));
        }
        "tasks" => {
            let tasks: Vec<Value> = cr
                .tasks
                .iter()
                .map(|t| {
                    let id = t.data_system.to_string();
                    json!({"dataSystem": id, "completed": f.done.contains(&id)})
                })
                .collect();
            if tasks.is_empty() {
                return Err("This request has no data-system tasks.".into());
            }
            body.insert("dataSystemTasks".into(), Value::Array(tasks));
        }
        other => return Err(format!("action must be one of verify, acknowledge, resolve, reopen, notes, extend, tasks (got {other:?})")),
    }
    Ok(Value::Object(body))
}

pub async fn change(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
    axum::extract::RawForm(raw): axum::extract::RawForm,
) -> Response {
    // Repeated `done` fields need the raw form: serde_urlencoded takes no sequences.
    let fields = Fields::parse(&raw);
    let f = ChangeForm {
        csrf: fields.one("csrf"),
        action: fields.one("action"),
        notes: fields.one("notes"),
        resolution: fields.one("resolution"),
        resolution_status: fields.one("resolutionStatus"),
        done: fields.all("done"),
    };
    if let Some(r) = refuse_write(&browser, &f.csrf) {
        return r;
    }
    let (m, p, cr) = or_answer!(load(&state, &browser, org, project, id).await);
    let role = m.project_role(p.id);
    if role < Role::Limited {
        return forbidden();
    }
    let refused = |found, status, message: String| {
        let state = state.clone();
        async move { render_request(&state, found, status, Some(message), None).await }
    };
    let body = match patch_of(&f, &cr) {
        Ok(b) => b,
        Err(why) => return refused((m, p, cr), StatusCode::UNPROCESSABLE_ENTITY, why).await,
    };
    let patch: PatchComplianceRequest =
        match accord_core::schema::parse(&body, compliance::patch_schema()) {
            Ok(patch) => patch,
            Err(e) => {
                return refused((m, p, cr), StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).await
            }
        };
    let regulation = p.regulation();
    let done = usecase::update(
        state.store.as_ref(),
        state.mail_wake.as_ref(),
        (m.org.id, p.id, cr.id),
        Actor {
            account_id: Some(m.who.key_id),
        },
        move |cr| {
            compliance::check_patch_role(cr, &patch, role)?;
            compliance::apply_patch(cr, &patch, &regulation, now_ms())
        },
    )
    .await;
    match done {
        Ok(Some(updated)) => {
            let notice = Some("Saved.".to_string());
            render_request(&state, (m, p, updated), StatusCode::OK, None, notice).await
        }
        Ok(None) => forbidden(),
        Err(Error::Forbidden(_)) => forbidden(),
        Err(Error::Unprocessable(why)) | Err(Error::BadRequest(why)) => {
            refused((m, p, cr), StatusCode::UNPROCESSABLE_ENTITY, why).await
        }
        Err(e) => internal(e),
    }
}

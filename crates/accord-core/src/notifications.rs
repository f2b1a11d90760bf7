//! The privacy team is told (web console): an email to the project's `contactEmails` and
//! to the organization's Users who opted in, when a request becomes verified, and a daily
//! digest of the requests due in seven days or overdue. A User hears only about the
//! projects they can read (§2.3); every address gets one email per event, and at most one
//! digest a day. The emails link to the request's page in the console.
use crate::auth::Role;
use crate::compliance::{ComplianceRequest, PENDING, SUBMITTED};
use crate::lifecycle::{Channel, MessageKind, OutgoingMessage, Rendered};
use crate::store::{DueRequest, Project, Store};
use crate::users::User;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

pub const DAY_MS: i64 = 86_400_000;
/// A request is in the digest on the day it is this many days from its due date.
pub const DUE_SOON_DAYS: i64 = 7;
/// Requests listed in one digest; the others are counted.
pub const DIGEST_MAX_ITEMS: usize = 50;
/// Requests the digest job reads of each kind (overdue, due soon) per run.
const DIGEST_SCAN: u64 = 10_000;

/// The console page of a request.
pub fn request_path(org: Uuid, project: Uuid, id: Uuid) -> String {
    format!("/console/o/{org}/p/{project}/requests/{id}")
}

/// Who hears about `project`'s requests: its `contactEmails`, and each User of `users`
/// who opted in (`optins`), is not disabled, and can read the project. Each address once,
/// compared case-insensitively, in that order.
pub fn recipients(project: &Project, users: &[User], optins: &[Uuid]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |e: &str| {
        let e = e.trim();
        if !e.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(e)) {
            out.push(e.to_string());
        }
    };
    for e in &project.contact_emails {
        add(e);
    }
    for u in users {
        if optins.contains(&u.id)
            && u.status != "disabled"
            && u.principal()
                .project_role(project.organization_id, project.id)
                >= Role::Viewer
        {
            add(&u.email);
        }
    }
    out
}

/// The project and who hears about its requests; `None` for a project that is gone.
pub async fn team_of(
    store: &dyn Store,
    org: Uuid,
    project: Uuid,
) -> crate::Result<Option<(Project, Vec<String>)>> {
    let Some(p) = store.get_project(org, project).await? else {
        return Ok(None);
    };
    let to = team(store, &p).await?;
    Ok(Some((p, to)))
}

/// Who hears about `project`'s requests ([`recipients`]), read from the store.
pub async fn team(store: &dyn Store, project: &Project) -> crate::Result<Vec<String>> {
    let optins = store.team_optins(project.organization_id).await?;
    if optins.is_empty() {
        return Ok(recipients(project, &[], &[]));
    }
    let users = store.list_users(project.organization_id).await?;
    Ok(recipients(project, &users, &optins))
}

/// True when a change took the request from verification to `submitted`.
pub fn became_verified(status_before: &str, cr: &ComplianceRequest) -> bool {
    status_before == PENDING && cr.status == SUBMITTED
}

/// The emails about a new verified request, one per address of `to`. They hold no personal
/// data of the subject: the type, the due date and the link.
pub fn new_request_messages(
    cr: &ComplianceRequest,
    to: &[String],
    now: i64,
) -> Vec<OutgoingMessage> {
    to.iter()
        .map(|r| {
            OutgoingMessage::new(
                cr,
                MessageKind::TeamRequest,
                Channel::Email,
                r.clone(),
                json!({
                    "request": cr.request,
                    "dueDate": cr.due_date,
                    "path": request_path(cr.organization_id, cr.project_id, cr.id),
                }),
                now,
            )
        })
        .collect()
}

fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn link(base: Option<&str>, path: &str) -> String {
    format!("{}{path}", base.unwrap_or("").trim_end_matches('/'))
}

fn label(request: &str) -> String {
    request.replace('_', " ")
}

/// Renders a team message; `base` is the console's public address (`console_base`).
pub fn render(msg: &OutgoingMessage, project_name: &str, base: Option<&str>) -> Rendered {
    let p = &msg.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let footer = "\r\nYou get this email as a contact of the project, or because you turned on \
                  the team's emails in the Accord console (Notifications).\r\n";
    if msg.kind == MessageKind::TeamRequest {
        let due = p.get("dueDate").and_then(Value::as_i64).unwrap_or(0);
        return Rendered {
            subject: format!(
                "New verified {} request ({project_name})",
                label(&s("request"))
            ),
            body: format!(
                "A new {} request to {project_name} is verified and waits for the team.\r\n\
                 It is due on {}.\r\n\r\nOpen it in the console:\r\n{}\r\n{footer}",
                label(&s("request")),
                date(due),
                link(base, &s("path")),
            ),
        };
    }
    let list = |k: &str| {
        p.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (overdue, soon) = (list("overdue"), list("soon"));
    let count = |k: &str, shown: usize| {
        p.get(k)
            .and_then(Value::as_u64)
            .map_or(shown, |n| n as usize)
    };
    let (n_overdue, n_soon) = (
        count("overdueCount", overdue.len()),
        count("soonCount", soon.len()),
    );
    let mut body = String::new();
    for (title, items, total) in [
        ("Overdue", &overdue, n_overdue),
        ("Due in 7 days", &soon, n_soon),
    ] {
        if total == 0 {
            continue;
        }
        body.push_str(&format!("{title} ({total}):\r\n"));
        for i in items {
            let t = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            body.push_str(&format!(
                "- {} request, {}, due {}: {}\r\n",
                label(&t("request")),
                t("project"),
                date(i.get("dueDate").and_then(Value::as_i64).unwrap_or(0)),
                link(base, &t("path")),
            ));
        }
        if total > items.len() {
            body.push_str(&format!(
                "- and {} more: see the requests inbox.\r\n",
                total - items.len()
            ));
        }
        body.push_str("\r\n");
    }
    Rendered {
        subject: format!("Privacy requests: {n_overdue} overdue, {n_soon} due in 7 days"),
        body: body + footer,
    }
}

/// What one person's digest lists.
#[derive(Default)]
struct Digest {
    organization: Option<Uuid>,
    overdue: Vec<Value>,
    soon: Vec<Value>,
    overdue_count: usize,
    soon_count: usize,
}

/// Queues the day's digest of `now` for everyone who hears about a request that is overdue
/// or due in [`DUE_SOON_DAYS`] days (that UTC day), at most one a day per person (the store
/// keeps which were queued, across restarts and servers). Returns how many were queued.
pub async fn queue_due_digests(store: &dyn Store, now: i64) -> crate::Result<usize> {
    let today = now.div_euclid(DAY_MS);
    let soon_from = (today + DUE_SOON_DAYS) * DAY_MS;
    let overdue = store.open_requests_due(i64::MIN, now, DIGEST_SCAN).await?;
    let soon = store
        .open_requests_due(soon_from, soon_from + DAY_MS, DIGEST_SCAN)
        .await?;
    if overdue.is_empty() && soon.is_empty() {
        return Ok(0);
    }
    let mut teams: HashMap<Uuid, Option<(Project, Vec<String>)>> = HashMap::new();
    // Keyed by the lowercased address: one digest per person.
    let mut digests: BTreeMap<String, (String, Digest)> = BTreeMap::new();
    for (is_overdue, rows) in [(true, &overdue), (false, &soon)] {
        for r in rows.iter() {
            let r: &DueRequest = r;
            if let std::collections::hash_map::Entry::Vacant(slot) = teams.entry(r.project_id) {
                slot.insert(team_of(store, r.organization_id, r.project_id).await?);
            }
            let Some((project, to)) = teams.get(&r.project_id).and_then(Option::as_ref) else {
                continue;
            };
            for address in to {
                let (_, d) = digests
                    .entry(address.to_lowercase())
                    .or_insert_with(|| (address.clone(), Digest::default()));
                d.organization.get_or_insert(r.organization_id);
                let item = json!({
                    "request": r.request,
                    "project": project.name,
                    "dueDate": r.due_date,
                    "path": request_path(r.organization_id, r.project_id, r.id),
                });
                let (list, n) = if is_overdue {
                    (&mut d.overdue, &mut d.overdue_count)
                } else {
                    (&mut d.soon, &mut d.soon_count)
                };
                *n += 1;
                if list.len() < DIGEST_MAX_ITEMS {
                    list.push(item);
                }
            }
        }
    }
    let mut queued = 0;
    for (key, (address, d)) in digests {
        let message = OutgoingMessage {
            id: crate::ids::new_id(),
            organization_id: d.organization.unwrap_or_default(),
            project_id: Uuid::nil(),
            compliance_request_id: Uuid::nil(),
            kind: MessageKind::TeamDigest,
            channel: Channel::Email,
            recipient: address,
            payload: json!({
                "overdue": d.overdue,
                "soon": d.soon,
                "overdueCount": d.overdue_count,
                "soonCount": d.soon_count,
            }),
            attempts: 0,
            next_attempt_at: now,
            date_created: now,
        };
        if store.queue_digest(&key, today, &message).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

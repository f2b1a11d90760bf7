//! The privacy team is told (web console): an email to the project's `contactEmails` and
//! to the organization's Users who opted in, when a request becomes verified, and a daily
//! digest of the requests due in seven days or overdue. A User hears only about the
//! projects they can read (§2.3); every address gets one email per event (one for all the
//! preverified requests filed together), and at most one digest a day per organization. The
//! emails link to the request's page in the console.
use crate::auth::Role;
use crate::compliance::{ComplianceRequest, PENDING, SUBMITTED};
use crate::lifecycle::{Channel, MessageKind, OutgoingMessage, Rendered};
use crate::store::{DueRequest, Project, Store};
use crate::users::User;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

pub const DAY_MS: i64 = 86_400_000;
/// A request is in the digest on the day it is this many days from its due date.
pub const DUE_SOON_DAYS: i64 = 7;
/// Requests listed in one digest; the others are counted.
pub const DIGEST_MAX_ITEMS: usize = 50;

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

/// The console's requests inbox of an organization.
pub fn inbox_path(org: Uuid) -> String {
    format!("/console/o/{org}/requests")
}

/// The emails about the new verified requests `crs` filed together (one project, one
/// call): for one request, [`new_request_messages`]; for several, one email per address
/// listing them (the first [`DIGEST_MAX_ITEMS`]) with the link to the requests inbox.
pub fn new_requests_messages(
    crs: &[&ComplianceRequest],
    to: &[String],
    now: i64,
) -> Vec<OutgoingMessage> {
    let (first, rest) = match crs {
        [] => return vec![],
        [one] => return new_request_messages(one, to, now),
        [first, rest @ ..] => (*first, rest),
    };
    let items: Vec<Value> = std::iter::once(first)
        .chain(rest.iter().copied())
        .take(DIGEST_MAX_ITEMS)
        .map(|cr| {
            json!({
                "request": cr.request,
                "dueDate": cr.due_date,
                "path": request_path(cr.organization_id, cr.project_id, cr.id),
            })
        })
        .collect();
    to.iter()
        .map(|r| {
            OutgoingMessage::new(
                first,
                MessageKind::TeamRequest,
                Channel::Email,
                r.clone(),
                json!({
                    "count": crs.len(),
                    "requests": items,
                    "path": inbox_path(first.organization_id),
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
        if let Some(n) = p.get("count").and_then(Value::as_u64) {
            let mut body =
                format!("{n} new verified requests to {project_name} wait for the team.\r\n\r\n");
            let items = p.get("requests").and_then(Value::as_array);
            for i in items.into_iter().flatten() {
                let t = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                body.push_str(&format!(
                    "- {} request, due {}: {}\r\n",
                    label(&t("request")),
                    date(i.get("dueDate").and_then(Value::as_i64).unwrap_or(0)),
                    link(base, &t("path")),
                ));
            }
            let shown = items.map_or(0, Vec::len) as u64;
            if n > shown {
                body.push_str(&format!("- and {} more.\r\n", n - shown));
            }
            body.push_str(&format!(
                "\r\nOpen the requests inbox in the console:\r\n{}\r\n{footer}",
                link(base, &s("path"))
            ));
            return Rendered {
                subject: format!("{n} new verified requests ({project_name})"),
                body,
            };
        }
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

/// What one person's digest of one organization lists.
#[derive(Default)]
struct Digest {
    overdue: Vec<Value>,
    soon: Vec<Value>,
    overdue_count: u64,
    soon_count: u64,
}

/// Queues the day's digest of `now` for everyone who hears about a request that is overdue
/// or due in [`DUE_SOON_DAYS`] days (that UTC day): one per person and organization, sent
/// from that organization, at most one a day (the store keeps which were queued, across
/// restarts and servers). Each project is read on its own (a count and the nearest
/// [`DIGEST_MAX_ITEMS`]), so counts are exact and no organization waits for another's
/// backlog. Returns how many were queued.
pub async fn queue_due_digests(store: &dyn Store, now: i64) -> crate::Result<usize> {
    let today = now.div_euclid(DAY_MS);
    let soon_from = (today + DUE_SOON_DAYS) * DAY_MS;
    let soon_before = soon_from + DAY_MS;
    let limit = DIGEST_MAX_ITEMS as u64;
    // Keyed by (organization, lowercased address): one digest per person and organization.
    let mut digests: BTreeMap<(Uuid, String), (String, Digest)> = BTreeMap::new();
    for (org, project_id) in store.projects_with_open_requests_due(soon_before).await? {
        let (n_overdue, overdue) = store
            .open_requests_due(project_id, i64::MIN, now, limit)
            .await?;
        let (n_soon, soon) = store
            .open_requests_due(project_id, soon_from, soon_before, limit)
            .await?;
        if n_overdue == 0 && n_soon == 0 {
            continue;
        }
        let Some((project, to)) = team_of(store, org, project_id).await? else {
            continue;
        };
        let item = |r: &DueRequest| {
            json!({
                "request": r.request,
                "project": project.name,
                "dueDate": r.due_date,
                "path": request_path(r.organization_id, r.project_id, r.id),
            })
        };
        for address in &to {
            let (_, d) = digests
                .entry((org, address.to_lowercase()))
                .or_insert_with(|| (address.clone(), Digest::default()));
            d.overdue_count += n_overdue;
            d.soon_count += n_soon;
            for (list, rows) in [(&mut d.overdue, &overdue), (&mut d.soon, &soon)] {
                list.extend(rows.iter().map(item));
            }
        }
    }
    let mut queued = 0;
    for ((org, key), (address, mut d)) in digests {
        // The nearest due dates first across the organization's projects.
        for list in [&mut d.overdue, &mut d.soon] {
            list.sort_by_key(|i| i.get("dueDate").and_then(Value::as_i64).unwrap_or(0));
            list.truncate(DIGEST_MAX_ITEMS);
        }
        let message = OutgoingMessage {
            id: crate::ids::new_id(),
            organization_id: org,
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
        if store.queue_digest(&key, org, today, &message).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// The digest job's run ([`queue_due_digests`]): once all the digests of a UTC day are
/// queued, the store records the day as done and the later runs of that day read that one
/// row and stop (a request overdue later in the day is in the next day's digest).
pub async fn run_due_digests(store: &dyn Store, now: i64) -> crate::Result<usize> {
    let today = now.div_euclid(DAY_MS);
    if store.digest_day_done(today).await? {
        return Ok(0);
    }
    let queued = queue_due_digests(store, now).await?;
    store.set_digest_day_done(today).await?;
    Ok(queued)
}

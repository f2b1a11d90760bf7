//! Trackers of a project (§8.2): the create and PATCH bodies and their rules, the stored
//! tracker and its published view, the list filters, the create plan (matching a tracker of
//! the project, the `(type, name, domain)` key), and the matching of detected trackers that
//! site reports (§5.7) and scans (§8.3) share.
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;
use uuid::Uuid;

pub const TRACKER_TYPES: &[&str] = &[
    "cookie",
    "script",
    "iframe",
    "image",
    "link",
    "local_storage",
    "session_storage",
];
pub const CATEGORIES: &[&str] = &[
    "analytics",
    "functional",
    "marketing",
    "strictly_necessary",
    "unclassified",
    "ignored",
    "malicious",
];
pub const ORIGINS: &[&str] = &["manual", "autoscan"];
pub const MATCH_TYPES: &[&str] = &["new", "project", "global"];
/// The tracker fields an `overrideFields` entry may name.
pub const OVERRIDE_FIELDS: &[&str] = &[
    "name",
    "type",
    "category",
    "origin",
    "company",
    "description",
    "domain",
    "pattern",
    "expiration",
    "detectedName",
];
pub const TRACKER_SORTS: &[&str] = &[
    "dateCreated",
    "dateUpdated",
    "dateDetected",
    "name",
    "category",
    "type",
];
/// Most items of one create call.
pub const MAX_ITEMS: usize = 1000;

/// The 422 of a second tracker with the same `(type, name, domain)` in a project.
pub const TRACKER_EXISTS: &str = "tracker already exists";

crate::body! {
    /// One tracker of a create body (§8.2).
    pub struct TrackerBody {
        /// Name of the tracker (1 to 256 characters): the cookie or storage key, or host and
        /// path of a script, iframe, image or link. Required.
        name: Option<String> => "name": string().min(1).max(256).non_empty().s(),
        /// Kind of tracker: `cookie`, `script`, `iframe`, `image`, `link`, `local_storage` or
        /// `session_storage`. Required.
        tracker_type: Option<String> => "type": string().one_of(TRACKER_TYPES).s(),
        /// What the tracker is for: `analytics`, `functional`, `marketing`,
        /// `strictly_necessary`, `unclassified`, `ignored` or `malicious`; the site client
        /// blocks a tracker until consent for its category (`ignored` and `strictly_necessary`
        /// are never held back). Default `unclassified`.
        category: Option<String> => "category": string().one_of(CATEGORIES).s(),
        /// `manual` (the default) or `autoscan`.
        origin: Option<String> => "origin": string().one_of(ORIGINS).s(),
        /// Company behind the tracker (at most 256 characters).
        company: Option<String> => "company": string().max(256).s(),
        /// Description of the tracker (at most 2048 characters).
        description: Option<String> => "description": string().max(2048).s(),
        /// Host the tracker comes from (RFC 1123).
        domain: Option<String> => "domain": string().max(253).format(Format::Hostname).s(),
        /// Pattern its URL or name is matched by (at most 256 characters).
        pattern: Option<String> => "pattern": string()
            .max(256)
            .describe("`*` matches any sequence of characters; matching is case-sensitive")
            .s(),
        /// Lifetime of the tracker in seconds, e.g. a cookie's.
        expiration: Option<i64> => "expiration": Schema::Int { min: Some(0), max: None },
        /// The name a scan detected it under (at most 256 characters); stored, not answered.
        detected_name: Option<String> => "detectedName": string().max(256).s(),
        /// `new` (the default), `project` (update the tracker `matchedTrackerId` instead of
        /// creating one) or `global` (treated as `new`: Accord has no global library).
        match_type: Option<String> => "matchType": string().one_of(MATCH_TYPES).s(),
        /// The tracker of the project to update when `matchType` is `project`.
        matched_tracker_id: Option<Uuid> => "matchedTrackerId": string()
            .format(Format::Uuid)
            .non_empty()
            .describe("with matchType project: a tracker of the project (422 otherwise)")
            .s(),
        /// With `matchType: project`: the fields to write over the matched tracker; empty or
        /// absent writes every field given.
        override_fields: Option<Vec<String>> => "overrideFields": Schema::Array {
            items: Box::new(string().one_of(OVERRIDE_FIELDS).s()),
            min: None,
            max: None,
            unique: false,
        },
    }
}

crate::body! {
    /// The PATCH body of a tracker (§8.2).
    pub struct TrackerPatch {
        /// Name of the tracker (1 to 256 characters): the cookie or storage key, or host and
        /// path of a script, iframe, image or link.
        name: Option<String> => "name": string().min(1).max(256).non_empty().s(),
        /// Kind of tracker: `cookie`, `script`, `iframe`, `image`, `link`, `local_storage` or
        /// `session_storage`.
        tracker_type: Option<String> => "type": string().one_of(TRACKER_TYPES).s(),
        /// What the tracker is for: `analytics`, `functional`, `marketing`,
        /// `strictly_necessary`, `unclassified`, `ignored` or `malicious`; the site client
        /// blocks a tracker until consent for its category (`ignored` and `strictly_necessary`
        /// are never held back).
        category: Option<String> => "category": string().one_of(CATEGORIES).s(),
        /// Company behind the tracker (at most 256 characters).
        company: Option<String> => "company": string().max(256).s(),
        /// Description of the tracker (at most 2048 characters).
        description: Option<String> => "description": string().max(2048).s(),
        /// Host the tracker comes from (RFC 1123).
        domain: Option<String> => "domain": string().max(253).format(Format::Hostname).s(),
        /// Pattern its URL or name is matched by (at most 256 characters).
        pattern: Option<String> => "pattern": string()
            .max(256)
            .describe("`*` matches any sequence of characters; matching is case-sensitive")
            .s(),
        /// Lifetime of the tracker in seconds, e.g. a cookie's.
        expiration: Option<i64> => "expiration": Schema::Int { min: Some(0), max: None },
    }
}

crate::body! {
    /// The batch form of a create body.
    pub struct TrackerItems {
        /// The trackers to create (1 to 1000), all validated first; answered in the same order.
        items: Vec<TrackerBody> => "items": Schema::Array {
            items: Box::new(item_schema().clone()),
            min: Some(1),
            max: Some(MAX_ITEMS),
            unique: false,
        },
    }
}

fn item_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: TrackerBody::props(),
            required: vec!["name", "type"],
            ..Default::default()
        })
    })
}

fn items_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: TrackerItems::props(),
            required: vec!["items"],
            ..Default::default()
        })
    })
}

/// `PATCH …/trackers/{trackerId}`.
pub fn patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: TrackerPatch::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// The published create body: one tracker, or `{items}` of 1..1000 trackers.
pub fn create_json_schema() -> Value {
    serde_json::json!({"anyOf": [item_schema().json_schema(), items_schema().json_schema()]})
}

/// One tracker of a create call, with its location in the body for messages.
#[derive(Debug, Clone)]
pub struct CreateItem {
    /// `""` for a single object, `items/3/` for the fourth item of a batch.
    pub loc: String,
    pub body: TrackerBody,
}

fn lower_domain(b: &mut Option<String>) {
    if let Some(d) = b {
        *d = d.to_ascii_lowercase();
    }
}

/// Validates a create body: an object with `items` is the batch form, any other value is
/// one tracker. Domains are kept lowercase.
pub fn parse_create(raw: &Value) -> Result<Vec<CreateItem>> {
    let batch = raw.as_object().is_some_and(|o| o.contains_key("items"));
    let mut items: Vec<CreateItem> = if batch {
        let b: TrackerItems = crate::schema::parse(raw, items_schema())?;
        b.items
            .into_iter()
            .enumerate()
            .map(|(i, body)| CreateItem {
                loc: format!("items/{i}/"),
                body,
            })
            .collect()
    } else {
        vec![CreateItem {
            loc: String::new(),
            body: crate::schema::parse(raw, item_schema())?,
        }]
    };
    for it in &mut items {
        lower_domain(&mut it.body.domain);
    }
    Ok(items)
}

/// Validates a PATCH body; the domain is kept lowercase.
pub fn parse_patch(raw: &Value) -> Result<TrackerPatch> {
    let mut b: TrackerPatch = crate::schema::parse(raw, patch_schema())?;
    lower_domain(&mut b.domain);
    Ok(b)
}

/// A stored tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub tracker_type: String,
    pub category: String,
    pub origin: String,
    pub company: Option<String>,
    pub description: Option<String>,
    pub domain: Option<String>,
    pub pattern: Option<String>,
    pub expiration: Option<i64>,
    /// Stored, never emitted (§8.2).
    pub detected_name: Option<String>,
    pub date_detected: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl Tracker {
    /// The unique key within a project (§8.2).
    pub fn key(&self) -> (&str, &str, &str) {
        (
            &self.tracker_type,
            &self.name,
            self.domain.as_deref().unwrap_or(""),
        )
    }
}

/// The Tracker object of §8.2.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TrackerView {
    /// Tracker id (UUID).
    pub id: Uuid,
    /// The organization of the project.
    pub organization: Uuid,
    /// The project the tracker belongs to.
    pub project: Uuid,
    /// Name of the tracker (1 to 256 characters): the cookie or storage key, or host and path
    /// of a script, iframe, image or link.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Kind of tracker: `cookie`, `script`, `iframe`, `image`, `link`, `local_storage` or
    /// `session_storage`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["cookie", "script", "iframe", "image", "link", "local_storage", "session_storage"]))]
    pub tracker_type: String,
    /// What the tracker is for: `analytics`, `functional`, `marketing`, `strictly_necessary`,
    /// `unclassified`, `ignored` or `malicious`; the site client blocks a tracker until consent
    /// for its category (`ignored` and `strictly_necessary` are never held back).
    #[schemars(extend("enum" = ["analytics", "functional", "marketing", "strictly_necessary", "unclassified", "ignored", "malicious"]))]
    pub category: String,
    /// `manual` (created through the API) or `autoscan` (found by a scan or reported by the
    /// site client).
    #[schemars(extend("enum" = ["manual", "autoscan"]))]
    pub origin: String,
    /// Company behind the tracker.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub company: Option<String>,
    /// Description of the tracker.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub description: Option<String>,
    /// Host the tracker comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub domain: Option<String>,
    /// Pattern its URL or name is matched by: `*` matches any sequence of characters,
    /// case-sensitively.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub pattern: Option<String>,
    /// Lifetime of the tracker in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub expiration: Option<i64>,
    /// When a scan or the site client last detected the tracker, in epoch milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_detected: Option<i64>,
    /// When the tracker was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the tracker last changed, in epoch milliseconds.
    pub date_updated: i64,
}

impl From<&Tracker> for TrackerView {
    fn from(t: &Tracker) -> Self {
        TrackerView {
            id: t.id,
            organization: t.organization_id,
            project: t.project_id,
            name: t.name.clone(),
            tracker_type: t.tracker_type.clone(),
            category: t.category.clone(),
            origin: t.origin.clone(),
            company: t.company.clone(),
            description: t.description.clone(),
            domain: t.domain.clone(),
            pattern: t.pattern.clone(),
            expiration: t.expiration,
            date_detected: t.date_detected,
            date_created: t.date_created,
            date_updated: t.date_updated,
        }
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|v| !v.is_empty())
}

/// What a create call writes, in input order: new trackers and updated matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Insert(Tracker),
    Update(Tracker),
}

impl Write {
    pub fn tracker(&self) -> &Tracker {
        match self {
            Write::Insert(t) | Write::Update(t) => t,
        }
    }
}

/// Sets the fields of `b` that `fields` lists (every provided field when it is empty).
fn apply_fields(t: &mut Tracker, b: &TrackerBody, fields: &[String]) {
    let take = |f: &str| fields.is_empty() || fields.iter().any(|x| x == f);
    if take("name") {
        if let Some(v) = &b.name {
            t.name = v.clone();
        }
    }
    if take("type") {
        if let Some(v) = &b.tracker_type {
            t.tracker_type = v.clone();
        }
    }
    if take("category") {
        if let Some(v) = &b.category {
            t.category = v.clone();
        }
    }
    if take("origin") {
        if let Some(v) = &b.origin {
            t.origin = v.clone();
        }
    }
    if take("company") && b.company.is_some() {
        t.company = non_empty(&b.company);
    }
    if take("description") && b.description.is_some() {
        t.description = non_empty(&b.description);
    }
    if take("domain") && b.domain.is_some() {
        t.domain = non_empty(&b.domain);
    }
    if take("pattern") && b.pattern.is_some() {
        t.pattern = non_empty(&b.pattern);
    }
    if take("expiration") {
        if let Some(v) = b.expiration {
            t.expiration = Some(v);
        }
    }
    if take("detectedName") && b.detected_name.is_some() {
        t.detected_name = non_empty(&b.detected_name);
    }
}

/// The writes of a create call (§8.2), checked against the project's trackers `existing`
/// and against each other: `matchType: "project"` updates the tracker `matchedTrackerId`
/// names (422 when the project has none such), anything else creates a tracker; a key
/// `(type, name, domain)` held by another tracker is 422 `tracker already exists`. The
/// first refusal refuses the whole call.
pub fn plan_create(
    items: &[CreateItem],
    existing: &[Tracker],
    org: Uuid,
    project: Uuid,
    now: i64,
    mut new_id: impl FnMut() -> Uuid,
) -> Result<Vec<Write>> {
    let mut current: Vec<Tracker> = existing.to_vec();
    let mut writes = Vec::with_capacity(items.len());
    for it in items {
        let b = &it.body;
        let (t, insert) = if b.match_type.as_deref() == Some("project") {
            let Some(mid) = b.matched_tracker_id else {
                return Err(Error::unprocessable(format!(
                    "{}matchedTrackerId is required with matchType project",
                    it.loc
                )));
            };
            let Some(found) = current.iter().find(|t| t.id == mid) else {
                return Err(Error::unprocessable(format!(
                    "{}matchedTrackerId not found in this project",
                    it.loc
                )));
            };
            let mut t = found.clone();
            apply_fields(&mut t, b, b.override_fields.as_deref().unwrap_or_default());
            t.date_updated = now.max(t.date_updated);
            (t, false)
        } else {
            let t = Tracker {
                id: new_id(),
                organization_id: org,
                project_id: project,
                name: b.name.clone().unwrap_or_default(),
                tracker_type: b.tracker_type.clone().unwrap_or_default(),
                category: b.category.clone().unwrap_or_else(|| "unclassified".into()),
                origin: b.origin.clone().unwrap_or_else(|| "manual".into()),
                company: non_empty(&b.company),
                description: non_empty(&b.description),
                domain: non_empty(&b.domain),
                pattern: non_empty(&b.pattern),
                expiration: b.expiration,
                detected_name: non_empty(&b.detected_name),
                date_detected: None,
                date_created: now,
                date_updated: now,
            };
            (t, true)
        };
        if current.iter().any(|o| o.id != t.id && o.key() == t.key()) {
            return Err(Error::unprocessable(TRACKER_EXISTS));
        }
        match current.iter_mut().find(|o| o.id == t.id) {
            Some(slot) => *slot = t.clone(),
            None => current.push(t.clone()),
        }
        writes.push(if insert {
            Write::Insert(t)
        } else {
            Write::Update(t)
        });
    }
    Ok(writes)
}

/// Applies a validated PATCH body; `""` clears the optional texts.
pub fn apply_patch(t: &mut Tracker, b: &TrackerPatch, now: i64) {
    if let Some(v) = &b.name {
        t.name = v.clone();
    }
    if let Some(v) = &b.tracker_type {
        t.tracker_type = v.clone();
    }
    if let Some(v) = &b.category {
        t.category = v.clone();
    }
    if b.company.is_some() {
        t.company = non_empty(&b.company);
    }
    if b.description.is_some() {
        t.description = non_empty(&b.description);
    }
    if b.domain.is_some() {
        t.domain = non_empty(&b.domain);
    }
    if b.pattern.is_some() {
        t.pattern = non_empty(&b.pattern);
    }
    if let Some(v) = b.expiration {
        t.expiration = Some(v);
    }
    t.date_updated = now.max(t.date_updated);
}

/// The filters of the tracker list (§8.2).
#[derive(Debug, Clone, Default)]
pub struct TrackerFilter {
    pub project_id: Uuid,
    /// Case-insensitive substring.
    pub name: Option<String>,
    /// Case-insensitive substring.
    pub company: Option<String>,
    /// Exact (domains are stored lowercase; the filter is lowercased).
    pub domain: Option<String>,
    pub category: Option<Vec<String>>,
    pub tracker_type: Option<Vec<String>>,
    pub origin: Option<String>,
}

/// Whether `text` matches `pattern`, where `*` matches any sequence (possibly empty) and
/// every other character matches itself, case-sensitively (§8.2).
pub fn pattern_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A tracker seen on a site, by the site client (§5.7) or a scan (§8.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub name: String,
    pub tracker_type: String,
    pub domain: Option<String>,
    pub pattern: Option<String>,
}

/// Whether tracker `t` is the tracker of detection `d`: the same type and name, or the
/// same type with `t.pattern` matching the name, on `t.domain` when `t` names a domain.
pub fn is_match(t: &Tracker, d: &Detection) -> bool {
    if t.tracker_type != d.tracker_type {
        return false;
    }
    if t.name == d.name {
        return true;
    }
    match &t.pattern {
        Some(p) => {
            pattern_matches(p, &d.name)
                && t.domain
                    .as_deref()
                    .is_none_or(|td| d.domain.as_deref() == Some(td))
        }
        None => false,
    }
}

/// The tracker of `existing` that `d` is: an exact key first, then the first other match
/// (oldest first).
pub fn find_match<'a>(existing: &'a [Tracker], d: &Detection) -> Option<&'a Tracker> {
    let key = (
        d.tracker_type.as_str(),
        d.name.as_str(),
        d.domain.as_deref().unwrap_or(""),
    );
    existing
        .iter()
        .find(|t| t.key() == key)
        .or_else(|| existing.iter().find(|t| is_match(t, d)))
}

/// What recording detections writes: trackers seen again get `dateDetected`, the others
/// are created as `autoscan`, `unclassified`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectionPlan {
    pub seen: Vec<Uuid>,
    pub new: Vec<Tracker>,
    /// For each detection in order: the tracker it is, and whether it is new.
    pub outcome: Vec<(Uuid, bool)>,
}

/// Matches each detection against the project's trackers and the ones created before it
/// in the same call (§8.3 matching).
pub fn plan_detections(
    detections: &[Detection],
    existing: &[Tracker],
    org: Uuid,
    project: Uuid,
    now: i64,
    mut new_id: impl FnMut() -> Uuid,
) -> DetectionPlan {
    let mut plan = DetectionPlan::default();
    for d in detections {
        if let Some(t) = find_match(existing, d).or_else(|| find_match(&plan.new, d)) {
            let id = t.id;
            let created = plan.new.iter().any(|n| n.id == id);
            if !created && !plan.seen.contains(&id) {
                plan.seen.push(id);
            }
            plan.outcome.push((id, created));
            continue;
        }
        let t = Tracker {
            id: new_id(),
            organization_id: org,
            project_id: project,
            name: d.name.clone(),
            tracker_type: d.tracker_type.clone(),
            category: "unclassified".into(),
            origin: "autoscan".into(),
            company: None,
            description: None,
            domain: d.domain.clone(),
            pattern: d.pattern.clone(),
            expiration: None,
            detected_name: Some(d.name.clone()),
            date_detected: Some(now),
            date_created: now,
            date_updated: now,
        };
        plan.outcome.push((t.id, true));
        plan.new.push(t);
    }
    plan
}

/// A lifetime in seconds as the cookie table of a policy shows it (§7.9): `session` for 0,
/// otherwise the largest whole unit.
pub fn lifetime_text(seconds: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (365 * 86_400, "year"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    if seconds <= 0 {
        return "session".into();
    }
    let (size, unit) = UNITS
        .iter()
        .find(|(size, _)| seconds >= *size)
        .copied()
        .unwrap_or((1, "second"));
    let n = seconds / size;
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// The cookie-table entries of a policy (§7.9) from the associated projects' trackers:
/// every tracker except the `ignored` ones.
pub fn cookie_entries(trackers: &[Tracker]) -> Vec<crate::policies::CookieEntry> {
    let mut entries: Vec<&Tracker> = trackers
        .iter()
        .filter(|t| t.category != "ignored")
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    entries
        .into_iter()
        .map(|t| crate::policies::CookieEntry {
            category: t.category.clone(),
            name: t.name.clone(),
            company: t.company.clone(),
            domain: t.domain.clone(),
            kind: Some(t.tracker_type.clone()),
            expiration: t.expiration.map(lifetime_text),
        })
        .collect()
}

crate::body! {
    /// One tracker a site client reports (§5.7).
    pub struct SiteTrackerBody {
        /// Name of the tracker seen (1 to 256 characters).
        name: String => "name": string().min(1).max(256).non_empty().s(),
        /// Kind of tracker: `cookie`, `script`, `iframe`, `image`, `link`, `local_storage` or
        /// `session_storage`.
        tracker_type: String => "type": string().one_of(TRACKER_TYPES).s(),
        /// Host the tracker came from.
        domain: Option<String> => "domain": string().max(253).format(Format::Hostname).s(),
        /// Pattern the tracker matches by (at most 256 characters).
        pattern: Option<String> => "pattern": string()
            .max(256)
            .describe("`*` matches any sequence of characters; matching is case-sensitive")
            .s(),
    }
}

crate::body! {
    /// `POST /site-v1/{projectId}/trackers` (§5.7).
    pub struct SiteReport {
        /// URL of the page the trackers were seen on (at most 2048 characters).
        url: Option<String> => "url": string().max(2048).s(),
        /// The trackers seen (1 to 100).
        items: Vec<SiteTrackerBody> => "items": Schema::Array {
            items: Box::new(Schema::Object(Object {
                props: SiteTrackerBody::props(),
                required: vec!["name", "type"],
                ..Default::default()
            })),
            min: Some(1),
            max: Some(100),
            unique: false,
        },
    }
}

/// The site report body.
pub fn site_report_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: SiteReport::props(),
            required: vec!["items"],
            ..Default::default()
        })
    })
}

/// Validates a site report; its items as detections (domains lowercase, `""` as absent).
pub fn parse_site_report(raw: &Value) -> Result<Vec<Detection>> {
    let b: SiteReport = crate::schema::parse(raw, site_report_schema())?;
    Ok(b.items
        .into_iter()
        .map(|i| Detection {
            name: i.name,
            tracker_type: i.tracker_type,
            domain: non_empty(&i.domain).map(|d| d.to_ascii_lowercase()),
            pattern: non_empty(&i.pattern),
        })
        .collect())
}

/// The answer of a site report (§5.7).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SiteReportAnswer {
    /// Always `true`.
    #[schemars(extend("const" = true))]
    pub success: bool,
    /// Items processed: 0 when the project's `settings.trackers.realTimeScan` is off.
    #[schemars(range(min = 0, max = 100))]
    pub count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracker(name: &str, ty: &str, domain: Option<&str>) -> Tracker {
        Tracker {
            id: Uuid::now_v7(),
            organization_id: Uuid::nil(),
            project_id: Uuid::nil(),
            name: name.into(),
            tracker_type: ty.into(),
            category: "unclassified".into(),
            origin: "manual".into(),
            company: None,
            description: None,
            domain: domain.map(str::to_string),
            pattern: None,
            expiration: None,
            detected_name: None,
            date_detected: None,
            date_created: 0,
            date_updated: 0,
        }
    }

    #[test]
    fn patterns_match_any_sequence_case_sensitively() {
        assert!(pattern_matches("_ga*", "_ga"));
        assert!(pattern_matches("_ga*", "_ga_XYZ"));
        assert!(pattern_matches("*.js", "cdn.example.com/a.js"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxbyy"));
        assert!(!pattern_matches("_GA*", "_ga_1"));
        assert!(pattern_matches("exact", "exact"));
        assert!(!pattern_matches("exact", "exactly"));
        assert!(pattern_matches("*", ""));
    }

    #[test]
    fn body_forms_and_messages() {
        let one = parse_create(&json!({"name": "_ga", "type": "cookie", "domain": "Google.COM"}))
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].body.domain.as_deref(), Some("google.com"));
        let err = |v: Value| parse_create(&v).unwrap_err().public_message();
        assert_eq!(
            err(json!({"items": []})),
            "body/items must NOT have fewer than 1 items"
        );
        assert_eq!(
            err(json!({"items": [{"name": "a", "type": "cookie"}, {"name": "b"}]})),
            "body/items/1 must have required property 'type'"
        );
        assert_eq!(
            err(json!({"items": [], "name": "x"})),
            "body must NOT have additional properties: 'name'"
        );
        assert_eq!(err(json!([])), "body must be object");
        assert_eq!(
            err(json!({"name": "a", "type": "cookie", "overrideFields": ["id"]})),
            "body/overrideFields/0 must be equal to one of the allowed values: name, type, category, origin, company, description, domain, pattern, expiration, detectedName"
        );
    }

    #[test]
    fn create_plan_matches_and_keeps_keys_unique() {
        let mut n = 0u128;
        let mut ids = || {
            n += 1;
            Uuid::from_u128(n)
        };
        let existing = vec![tracker("_ga", "cookie", Some("google.com"))];
        let items = parse_create(&json!({"items": [
            {"name": "_gid", "type": "cookie", "domain": "google.com"},
            {"name": "_ga", "type": "cookie", "matchType": "project", "matchedTrackerId": existing[0].id, "category": "analytics", "company": "Google", "overrideFields": ["category"]},
        ]}))
        .unwrap();
        let w = plan_create(&items, &existing, Uuid::nil(), Uuid::nil(), 5, &mut ids).unwrap();
        assert!(
            matches!(&w[0], Write::Insert(t) if t.name == "_gid" && t.category == "unclassified" && t.origin == "manual")
        );
        assert!(
            matches!(&w[1], Write::Update(t) if t.category == "analytics" && t.company.is_none() && t.date_updated == 5)
        );
        let dup = parse_create(&json!({"items": [
            {"name": "x", "type": "script"}, {"name": "x", "type": "script"}
        ]}))
        .unwrap();
        assert_eq!(
            plan_create(&dup, &[], Uuid::nil(), Uuid::nil(), 0, &mut ids)
                .unwrap_err()
                .public_message(),
            TRACKER_EXISTS
        );
        let other_domain = parse_create(&json!({"name": "_ga", "type": "cookie"})).unwrap();
        assert!(plan_create(
            &other_domain,
            &existing,
            Uuid::nil(),
            Uuid::nil(),
            0,
            &mut ids
        )
        .is_ok());
        let unknown = parse_create(&json!({"items": [{"name": "a", "type": "cookie", "matchType": "project", "matchedTrackerId": Uuid::nil()}]}))
            .unwrap();
        assert_eq!(
            plan_create(&unknown, &existing, Uuid::nil(), Uuid::nil(), 0, &mut ids)
                .unwrap_err()
                .public_message(),
            "items/0/matchedTrackerId not found in this project"
        );
    }

    #[test]
    fn detections_match_by_name_or_pattern_and_domain() {
        let mut ga = tracker("Google Analytics", "cookie", Some("example.com"));
        ga.pattern = Some("_ga*".into());
        let script = tracker("cdn.example.net/a.js", "script", Some("cdn.example.net"));
        let existing = vec![ga.clone(), script.clone()];
        let d = |name: &str, ty: &str, domain: Option<&str>| Detection {
            name: name.into(),
            tracker_type: ty.into(),
            domain: domain.map(str::to_string),
            pattern: None,
        };
        let mut n = 100u128;
        let plan = plan_detections(
            &[
                d("_ga_123", "cookie", Some("example.com")),
                d("_ga_123", "cookie", Some("other.com")),
                d("cdn.example.net/a.js", "script", None),
                d("_ga_123", "cookie", Some("other.com")),
            ],
            &existing,
            Uuid::nil(),
            Uuid::nil(),
            7,
            || {
                n += 1;
                Uuid::from_u128(n)
            },
        );
        assert_eq!(plan.seen, vec![ga.id, script.id]);
        assert_eq!(plan.new.len(), 1);
        assert_eq!(plan.new[0].origin, "autoscan");
        assert_eq!(plan.new[0].date_detected, Some(7));
        assert_eq!(
            plan.outcome,
            vec![
                (ga.id, false),
                (plan.new[0].id, true),
                (script.id, false),
                (plan.new[0].id, true)
            ]
        );
    }

    #[test]
    fn lifetimes_read_as_whole_units() {
        assert_eq!(lifetime_text(0), "session");
        assert_eq!(lifetime_text(1), "1 second");
        assert_eq!(lifetime_text(90), "1 minute");
        assert_eq!(lifetime_text(7200), "2 hours");
        assert_eq!(lifetime_text(86_400 * 30), "30 days");
        assert_eq!(lifetime_text(63_072_000), "2 years");
    }
}

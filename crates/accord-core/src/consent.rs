//! The consent ledger (§4): consent types and their versioning, append-only consent events
//! and the rules that resolve them against a type, the consent-state fold, and the
//! project-scoped identities they belong to. The Privacy API and the Site API both go
//! through [`build_event`], so a rule about events lives here once.
use crate::compliance::{normalize_phone, CreateComplianceRequest, SessionInfo};
use crate::schema::{string, Format, Object, Schema};
use crate::time::to_rfc3339;
use crate::{Error, Result};
use chrono::{DateTime, Months, TimeDelta, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;
use uuid::Uuid;

pub const CATEGORIES: &[&str] = &["disclosure", "communication", "privacy_setting", "custom"];
pub const STATES: &[&str] = &["implied", "viewed", "accepted", "declined"];
pub const ACTIONS: &[&str] = &["implied", "user_click", "import"];
pub const TYPE_STATUSES: &[&str] = &["active", "archived", "obsolete", "test"];
pub const SUBCATEGORY_PATTERN: &str = "^[a-z0-9_]{1,128}$";
pub const LABEL_PATTERN: &str = "^[a-z0-9_*]{1,128}$";
/// `P[nY][nM][nW][nD]` with at least one component (§1.3).
pub const DURATION_PATTERN: &str = "^P(?:[0-9]+Y(?:[0-9]+M)?(?:[0-9]+W)?(?:[0-9]+D)?|[0-9]+M(?:[0-9]+W)?(?:[0-9]+D)?|[0-9]+W(?:[0-9]+D)?|[0-9]+D)$";
pub const DEFAULT_DURATION: &str = "P12M";
pub const MAX_SUBCATEGORIES: usize = 10;
pub const MAX_EVENTS_PRIVACY: usize = 1000;
pub const MAX_EVENTS_SITE: usize = 100;
/// How far in the future a client-supplied `consentDate` may lie.
pub const FUTURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;

pub const TYPE_SORTS: &[&str] = &[
    "dateCreated",
    "dateUpdated",
    "name",
    "category",
    "label",
    "version",
    "status",
];
pub const EVENT_SORTS: &[&str] = &[
    "dateCreated",
    "consentDate",
    "expirationDate",
    "consentState",
    "consentAction",
    "category",
    "label",
];
pub const IDENTITY_SORTS: &[&str] = &["dateCreated", "dateUpdated"];

pub const TYPE_EXISTS: &str = "consent type already exists";
pub const READ_ONLY: &str = "read-only consent type cannot be modified";
pub const HAS_EVENTS: &str = "consent type has consent events; archive it instead";
pub const TYPE_NOT_FOUND: &str = "consentType not found in this project";
pub const TYPE_MISMATCH: &str = "consentType does not match category/subcategory/label";
pub const SITE_TYPE_NOT_FOUND: &str = "consent type not found";
pub const SITE_TYPE_INACTIVE: &str = "consent type is not active";
pub const SITE_IMPORT: &str = "consentAction 'import' is only accepted on the Privacy API";
pub const FUTURE_CONSENT_DATE: &str = "consentDate must not be more than 5 minutes in the future";
pub const EXPIRATION_BEFORE_CONSENT: &str = "expirationDate must be after consentDate";
pub const VERSION_NOT_GREATER: &str = "version must be greater than the current version";
pub const REACCEPT_ABOVE_VERSION: &str = "requireReacceptVersion must not be greater than version";

fn put<T: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(k.into(), v.into());
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Integers may arrive as `2.0`; the schema has already checked they are whole.
fn de_opt_int<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    let n = Option::<serde_json::Number>::deserialize(d)?;
    Ok(n.and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))))
}

// ---------------------------------------------------------------------------------------
// Subcategories and durations

/// Stored form of a subcategory list: lowercased, deduplicated, sorted (§4.2).
pub fn normalize_subcategory(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.trim().to_lowercase()).collect();
    out.sort();
    out.dedup();
    out
}

/// Before schema validation: a single string `subcategory` becomes a one-item array, and
/// items are lowercased, so the pattern applies to the stored form.
pub fn prepare_subcategory(obj: &mut Value) {
    let Some(v) = obj.as_object_mut().and_then(|m| m.get_mut("subcategory")) else {
        return;
    };
    match v {
        Value::String(s) => *v = json!([s.to_lowercase()]),
        Value::Array(items) => {
            for item in items {
                if let Value::String(s) = item {
                    *s = s.to_lowercase();
                }
            }
        }
        _ => {}
    }
}

/// An ISO 8601 date duration `P[nY][nM][nW][nD]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IsoDuration {
    pub years: u32,
    pub months: u32,
    pub weeks: u32,
    pub days: u32,
}

/// Parses `P[nY][nM][nW][nD]` with at least one component, in that order.
pub fn parse_duration(s: &str) -> Option<IsoDuration> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let mut d = IsoDuration::default();
    let mut num = String::new();
    let mut last = 0u8;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let rank = match c {
            'Y' => 1,
            'M' => 2,
            'W' => 3,
            'D' => 4,
            _ => return None,
        };
        if num.is_empty() || rank <= last {
            return None;
        }
        // Digits only, so a parse failure is an overflow: saturate.
        let n = num.parse::<u32>().unwrap_or(u32::MAX);
        match c {
            'Y' => d.years = n,
            'M' => d.months = n,
            'W' => d.weeks = n,
            _ => d.days = n,
        }
        num.clear();
        last = rank;
    }
    num.is_empty().then_some(d)
}

/// The latest instant Accord stores (9999-12-31T23:59:59.999Z); durations saturate there.
pub const MAX_DATE_MS: i64 = 253_402_300_799_999;

/// `ms` plus a duration: calendar months first (the day is clamped to the month's last
/// day, so 31 January + P1M is 28 or 29 February), then weeks and days.
pub fn add_duration(ms: i64, d: &IsoDuration) -> i64 {
    let Some(start) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return MAX_DATE_MS;
    };
    let months = d.years as u64 * 12 + d.months as u64;
    let days = d.weeks as i64 * 7 + d.days as i64;
    u32::try_from(months)
        .ok()
        .and_then(|m| start.checked_add_months(Months::new(m)))
        .and_then(|t| t.checked_add_signed(TimeDelta::try_days(days)?))
        .map(|t| t.timestamp_millis().min(MAX_DATE_MS))
        .unwrap_or(MAX_DATE_MS)
}

/// `ms` plus a stored duration string; an unparsable one counts as the default 12 months.
pub fn add_duration_str(ms: i64, s: &str) -> i64 {
    let d = parse_duration(s).unwrap_or(IsoDuration {
        months: 12,
        ..Default::default()
    });
    add_duration(ms, &d)
}

// ---------------------------------------------------------------------------------------
// Consent types

/// A consent type as stored (§4.2). Dates are epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentType {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub category: String,
    pub subcategory: Vec<String>,
    pub label: String,
    pub name: String,
    pub description: Option<String>,
    pub document: Option<String>,
    pub url: Option<String>,
    pub read_only: bool,
    pub valid_states: Vec<String>,
    pub status: String,
    pub consent_duration: String,
    pub required: bool,
    pub require_reaccept_version: Option<i64>,
    pub version: i64,
    pub date_created: i64,
    pub date_updated: i64,
}

impl ConsentType {
    /// The wire form; dates are date-time strings (§1.3).
    pub fn to_wire(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("organization".into(), json!(self.organization_id));
        m.insert("project".into(), json!(self.project_id));
        m.insert("category".into(), json!(self.category));
        m.insert("subcategory".into(), json!(self.subcategory));
        m.insert("label".into(), json!(self.label));
        m.insert("name".into(), json!(self.name));
        put(&mut m, "description", self.description.clone());
        put(&mut m, "document", self.document.clone());
        put(&mut m, "url", self.url.clone());
        m.insert("readOnly".into(), json!(self.read_only));
        m.insert("validStates".into(), json!(self.valid_states));
        m.insert("status".into(), json!(self.status));
        m.insert("consentDuration".into(), json!(self.consent_duration));
        m.insert("required".into(), json!(self.required));
        put(
            &mut m,
            "requireReacceptVersion",
            self.require_reaccept_version,
        );
        m.insert("version".into(), json!(self.version));
        m.insert("dateCreated".into(), json!(to_rfc3339(self.date_created)));
        m.insert("dateUpdated".into(), json!(to_rfc3339(self.date_updated)));
        Value::Object(m)
    }

    /// True when the type matches the `(category, subcategory, label)` key of an event.
    pub fn has_key(&self, category: &str, subcategory: &[String], label: Option<&str>) -> bool {
        self.category == category && self.subcategory == subcategory && Some(&*self.label) == label
    }

    /// Whether `state` may be recorded against this type (§4.3 rule 3).
    pub fn accepts_state(&self, state: &str) -> bool {
        self.valid_states.is_empty() || self.valid_states.iter().any(|s| s == state)
    }
}

/// Create body (§4.2).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateConsentType {
    pub category: String,
    #[serde(default)]
    pub subcategory: Vec<String>,
    pub label: String,
    pub name: String,
    pub description: Option<String>,
    pub document: Option<String>,
    pub url: Option<String>,
    pub read_only: Option<bool>,
    pub valid_states: Option<Vec<String>>,
    pub status: Option<String>,
    pub consent_duration: Option<String>,
    pub required: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_int")]
    pub require_reaccept_version: Option<i64>,
}

/// PATCH body (§4.2). `category`, `subcategory`, `label` and `readOnly` are immutable and
/// therefore unknown properties here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchConsentType {
    pub name: Option<String>,
    pub description: Option<String>,
    pub document: Option<String>,
    pub url: Option<String>,
    pub valid_states: Option<Vec<String>>,
    pub status: Option<String>,
    pub consent_duration: Option<String>,
    pub required: Option<bool>,
    #[serde(default, deserialize_with = "de_opt_int")]
    pub require_reaccept_version: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_int")]
    pub version: Option<i64>,
}

fn subcategory_schema() -> Schema {
    Schema::Array {
        items: Box::new(string().max(128).pattern(SUBCATEGORY_PATTERN).s()),
        min: None,
        max: Some(MAX_SUBCATEGORIES),
        unique: false,
    }
}

fn valid_states_schema() -> Schema {
    Schema::Array {
        items: Box::new(string().one_of(STATES).s()),
        min: None,
        max: None,
        unique: true,
    }
}

/// Properties shared by the create and PATCH bodies, in validation order.
fn mutable_props() -> Vec<(&'static str, Schema)> {
    vec![
        ("name", string().min(1).max(100).s()),
        ("description", string().max(2000).s()),
        ("document", string().max(5_000_000).s()),
        ("url", string().format(Format::Uri).s()),
        ("validStates", valid_states_schema()),
        ("status", string().one_of(TYPE_STATUSES).s()),
        (
            "consentDuration",
            string().max(64).pattern(DURATION_PATTERN).s(),
        ),
        ("required", Schema::Bool),
        (
            "requireReacceptVersion",
            Schema::Int {
                min: Some(1),
                max: None,
            },
        ),
    ]
}

pub fn type_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let mut props = vec![
            ("category", string().one_of(CATEGORIES).s()),
            ("subcategory", subcategory_schema()),
            ("label", string().max(128).pattern(LABEL_PATTERN).s()),
        ];
        props.extend(mutable_props());
        props.push(("readOnly", Schema::Bool));
        Schema::Object(Object {
            props,
            required: vec!["category", "label", "name"],
            ..Default::default()
        })
    })
}

pub fn type_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let mut props = mutable_props();
        props.push((
            "version",
            Schema::Int {
                min: Some(1),
                max: None,
            },
        ));
        Schema::Object(Object {
            props,
            min_props: 1,
            ..Default::default()
        })
    })
}

/// The published schema of a subcategory input: one string or an array of them.
pub fn subcategory_input_json_schema() -> Value {
    let item = json!({"type": "string", "maxLength": 128, "pattern": SUBCATEGORY_PATTERN});
    json!({"anyOf": [item, {"type": "array", "items": item, "maxItems": MAX_SUBCATEGORIES}]})
}

/// Replaces `properties.subcategory` of a rendered object schema by the string-or-array form.
pub fn publish_subcategory(mut schema: Value) -> Value {
    if let Some(p) = schema.pointer_mut("/properties/subcategory") {
        *p = subcategory_input_json_schema();
    }
    schema
}

/// Checks that an array of strings holds no empty item (an empty string passes patterns in
/// the generic schema, where it means "clear the field").
fn no_empty_items(v: Option<&Value>, loc: &str, pattern: &str) -> Result<()> {
    if let Some(Value::Array(items)) = v {
        for (i, item) in items.iter().enumerate() {
            if item.as_str().is_some_and(|s| s.is_empty()) {
                return Err(Error::bad(format!(
                    "{loc}/{i} must match pattern \"{pattern}\""
                )));
            }
        }
    }
    Ok(())
}

fn required_text(map: &Map<String, Value>, key: &str, loc: &str, message: &str) -> Result<()> {
    if map.get(key).and_then(Value::as_str) == Some("") {
        return Err(Error::bad(format!("{loc}/{key} {message}")));
    }
    Ok(())
}

fn deserialize<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::bad(format!("body is invalid: {e}")))
}

/// Validates and reads a create body (400 messages of §1.5).
pub fn parse_type_create(raw: &Value) -> Result<CreateConsentType> {
    let mut v = raw.clone();
    prepare_subcategory(&mut v);
    type_create_schema()
        .validate(&v, "body")
        .map_err(Error::BadRequest)?;
    let map = v.as_object().expect("validated object");
    no_empty_items(
        map.get("subcategory"),
        "body/subcategory",
        SUBCATEGORY_PATTERN,
    )?;
    required_text(
        map,
        "label",
        "body",
        &format!("must match pattern \"{LABEL_PATTERN}\""),
    )?;
    required_text(map, "name", "body", "must NOT have fewer than 1 characters")?;
    deserialize(v)
}

/// Validates and reads a PATCH body.
pub fn parse_type_patch(raw: &Value) -> Result<PatchConsentType> {
    type_patch_schema()
        .validate(raw, "body")
        .map_err(Error::BadRequest)?;
    let map = raw.as_object().expect("validated object");
    required_text(map, "name", "body", "must NOT have fewer than 1 characters")?;
    deserialize(raw.clone())
}

fn duration_or_default(s: &Option<String>) -> String {
    non_empty(s).unwrap_or_else(|| DEFAULT_DURATION.to_string())
}

/// A new type from its create body (422 when `requireReacceptVersion` exceeds version 1).
pub fn new_consent_type(
    input: &CreateConsentType,
    organization_id: Uuid,
    project_id: Uuid,
    now: i64,
) -> Result<ConsentType> {
    if input.require_reaccept_version.is_some_and(|r| r > 1) {
        return Err(Error::unprocessable(REACCEPT_ABOVE_VERSION));
    }
    Ok(ConsentType {
        id: crate::ids::new_id(),
        organization_id,
        project_id,
        category: input.category.clone(),
        subcategory: normalize_subcategory(&input.subcategory),
        label: input.label.clone(),
        name: input.name.clone(),
        description: non_empty(&input.description),
        document: input.document.clone().filter(|s| !s.is_empty()),
        url: non_empty(&input.url),
        read_only: input.read_only.unwrap_or(false),
        valid_states: input.valid_states.clone().unwrap_or_default(),
        status: input.status.clone().unwrap_or_else(|| "active".into()),
        consent_duration: duration_or_default(&input.consent_duration),
        required: input.required.unwrap_or(false),
        require_reaccept_version: input.require_reaccept_version,
        version: 1,
        date_created: now,
        date_updated: now,
    })
}

/// Applies a PATCH (§4.2 rules). `dateUpdated` moves only when something changed.
pub fn apply_type_patch(t: &mut ConsentType, p: &PatchConsentType, now: i64) -> Result<()> {
    if t.read_only {
        return Err(Error::unprocessable(READ_ONLY));
    }
    let before = t.clone();
    if let Some(n) = &p.name {
        t.name = n.clone();
    }
    if let Some(d) = &p.description {
        t.description = Some(d.clone()).filter(|s| !s.trim().is_empty());
    }
    let mut new_version = false;
    if let Some(d) = &p.document {
        let d = Some(d.clone()).filter(|s| !s.is_empty());
        new_version |= d != t.document;
        t.document = d;
    }
    if let Some(u) = &p.url {
        let u = Some(u.trim().to_string()).filter(|s| !s.is_empty());
        new_version |= u != t.url;
        t.url = u;
    }
    if let Some(v) = &p.valid_states {
        t.valid_states = v.clone();
    }
    if let Some(s) = &p.status {
        t.status = s.clone();
    }
    if p.consent_duration.is_some() {
        t.consent_duration = duration_or_default(&p.consent_duration);
    }
    if let Some(r) = p.required {
        t.required = r;
    }
    if let Some(r) = p.require_reaccept_version {
        t.require_reaccept_version = Some(r);
    }
    match p.version {
        Some(v) if v <= before.version => {
            return Err(Error::unprocessable(VERSION_NOT_GREATER));
        }
        Some(v) => t.version = v,
        None if new_version => t.version = before.version + 1,
        None => {}
    }
    if t.require_reaccept_version.is_some_and(|r| r > t.version) {
        return Err(Error::unprocessable(REACCEPT_ABOVE_VERSION));
    }
    if *t != before {
        t.date_updated = now;
    }
    Ok(())
}

/// The change a caller makes to a loaded type inside the store's transaction.
pub type ConsentTypeUpdateFn = Box<dyn FnOnce(&mut ConsentType) -> Result<()> + Send>;

/// DELETE is refused for read-only types; the store also refuses types with events.
pub fn check_deletable(t: &ConsentType) -> Result<()> {
    if t.read_only {
        return Err(Error::unprocessable(READ_ONLY));
    }
    Ok(())
}

/// The consent types created in every new project (§4.2 table).
pub fn default_types(
    organization_id: Uuid,
    project_id: Uuid,
    privacy_policy_url: Option<&str>,
    terms_of_service_url: Option<&str>,
    now: i64,
) -> Vec<ConsentType> {
    let url = |u: Option<&str>| u.map(str::trim).filter(|u| !u.is_empty()).map(String::from);
    let make = |category: &str, label: &str, name: &str, states: &[&str]| ConsentType {
        id: crate::ids::new_id(),
        organization_id,
        project_id,
        category: category.into(),
        subcategory: vec![label.into()],
        label: label.into(),
        name: name.into(),
        description: None,
        document: None,
        url: None,
        read_only: false,
        valid_states: states.iter().map(|s| s.to_string()).collect(),
        status: "active".into(),
        consent_duration: DEFAULT_DURATION.into(),
        required: false,
        require_reaccept_version: None,
        version: 1,
        date_created: now,
        date_updated: now,
    };
    let mut out = Vec::new();
    let mut privacy = make(
        "disclosure",
        "privacy_policy",
        "Privacy Policy",
        &["implied", "viewed", "accepted"],
    );
    privacy.url = url(privacy_policy_url);
    out.push(privacy);
    if let Some(tos) = url(terms_of_service_url) {
        let mut t = make(
            "disclosure",
            "terms_of_service",
            "Terms of Service",
            &["implied", "viewed", "accepted"],
        );
        t.url = Some(tos);
        out.push(t);
    }
    let mut necessary = make(
        "privacy_setting",
        "strictly_necessary",
        "Strictly Necessary",
        &["implied", "accepted"],
    );
    necessary.required = true;
    out.push(necessary);
    for (label, name) in [
        ("analytics", "Analytics"),
        ("advertising", "Advertising"),
        ("personalization", "Personalization"),
    ] {
        out.push(make(
            "privacy_setting",
            label,
            name,
            &["implied", "accepted", "declined"],
        ));
    }
    out
}

/// Filters of the consent-type list (§4.2).
#[derive(Debug, Clone, Default)]
pub struct ConsentTypeFilter {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub category: Option<String>,
    /// Types whose subcategory holds any of these (already normalised).
    pub subcategory: Vec<String>,
    pub label: Option<String>,
    /// Case-insensitive substring.
    pub name: Option<String>,
    /// Case-insensitive substring.
    pub url: Option<String>,
    pub version: Option<i64>,
    pub status: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Consent events

/// A consent event as stored (§4.3). Append-only.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentEvent {
    pub id: Uuid,
    pub concord_id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub consent_type: Option<Uuid>,
    pub category: String,
    pub subcategory: Vec<String>,
    pub label: Option<String>,
    pub consent_state: String,
    pub consent_action: String,
    pub consent_date: i64,
    pub expiration_date: i64,
    pub version: Option<i64>,
    pub session: Option<SessionInfo>,
    pub submitter: Option<Uuid>,
    pub date_created: i64,
}

/// The embedded `session.ipAddress` is IPv4 only (§5.2): IPv4-mapped IPv6 addresses are
/// shown in dotted form, other IPv6 addresses are omitted.
pub fn wire_ipv4(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(v4.to_string()),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(|v4| v4.to_string()),
    }
}

/// The embedded session object of ConsentEvent and ComplianceRequest.
pub fn session_wire(s: &SessionInfo) -> Value {
    let mut o = Map::new();
    put(&mut o, "id", s.id.clone());
    put(
        &mut o,
        "ipAddress",
        s.ip_address.as_deref().and_then(wire_ipv4),
    );
    put(&mut o, "domain", s.domain.clone());
    put(&mut o, "geography", s.geography.clone());
    put(&mut o, "userAgent", s.user_agent.clone());
    Value::Object(o)
}

impl ConsentEvent {
    /// The wire form; all dates are date-time strings and `dateUpdated = dateCreated`.
    pub fn to_wire(&self) -> Value {
        let created = to_rfc3339(self.date_created);
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("concordId".into(), json!(self.concord_id));
        m.insert("organization".into(), json!(self.organization_id));
        m.insert("project".into(), json!(self.project_id));
        put(&mut m, "consentType", self.consent_type.map(|t| json!(t)));
        m.insert("category".into(), json!(self.category));
        m.insert("subcategory".into(), json!(self.subcategory));
        put(&mut m, "label", self.label.clone());
        m.insert("consentState".into(), json!(self.consent_state));
        m.insert("consentAction".into(), json!(self.consent_action));
        m.insert("consentDate".into(), json!(to_rfc3339(self.consent_date)));
        m.insert(
            "expirationDate".into(),
            json!(to_rfc3339(self.expiration_date)),
        );
        if self.consent_type.is_some() {
            put(&mut m, "version", self.version);
        }
        if let Some(s) = &self.session {
            m.insert("session".into(), session_wire(s));
        }
        put(&mut m, "submitter", self.submitter.map(|s| json!(s)));
        m.insert("dateCreated".into(), json!(created));
        m.insert("dateUpdated".into(), json!(created));
        Value::Object(m)
    }
}

/// One item of a create body. Site items use the same type with the identity and date
/// fields absent (the schema refuses them there).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentEventInput {
    pub consent_state: String,
    pub consent_action: String,
    pub concord_id: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
    pub consent_type: Option<String>,
    pub category: Option<String>,
    pub subcategory: Option<Vec<String>>,
    pub label: Option<String>,
    pub consent_date: Option<String>,
    pub expiration_date: Option<String>,
}

/// How an event names its consent type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    Id(Uuid),
    Key {
        category: String,
        subcategory: Vec<String>,
        label: Option<String>,
    },
}

impl ConsentEventInput {
    /// The type reference of rules 1 and 2 of §4.3.
    pub fn type_ref(&self) -> TypeRef {
        match non_empty(&self.consent_type).and_then(|s| Uuid::parse_str(&s).ok()) {
            Some(id) => TypeRef::Id(id),
            None => TypeRef::Key {
                category: self.category.clone().unwrap_or_default(),
                subcategory: normalize_subcategory(self.subcategory.as_deref().unwrap_or(&[])),
                label: non_empty(&self.label),
            },
        }
    }
}

/// Finds the type an event refers to among the project's types.
pub fn find_type<'a>(types: &'a [ConsentType], r: &TypeRef) -> Option<&'a ConsentType> {
    match r {
        TypeRef::Id(id) => types.iter().find(|t| t.id == *id),
        TypeRef::Key {
            category,
            subcategory,
            label,
        } => types
            .iter()
            .find(|t| t.has_key(category, subcategory, label.as_deref())),
    }
}

/// Which API records the event; the Site API has stricter rules (§4.3 rules 2 and 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Privacy,
    Site,
}

const PRIVACY_IDENTITY: &[&str] = &[
    "concordId",
    "email",
    "phoneNumber",
    "userId",
    "projectUserId",
];

fn event_item_schema(api: Api) -> Schema {
    let mut props: Vec<(&'static str, Schema)> = Vec::new();
    if api == Api::Privacy {
        props.extend([
            ("projectUserId", string().max(256).s()),
            ("userId", string().max(256).s()),
            ("email", string().format(Format::Email).s()),
            ("phoneNumber", string().max(128).s()),
            ("concordId", string().format(Format::Uuid).s()),
        ]);
    }
    props.extend([
        ("consentType", string().format(Format::Uuid).s()),
        ("category", string().one_of(CATEGORIES).s()),
        ("subcategory", subcategory_schema()),
        ("label", string().max(128).pattern(LABEL_PATTERN).s()),
        ("consentState", string().one_of(STATES).s()),
        ("consentAction", string().one_of(ACTIONS).s()),
    ]);
    if api == Api::Privacy {
        props.extend([
            ("consentDate", string().format(Format::DateTime).s()),
            ("expirationDate", string().format(Format::DateTime).s()),
        ]);
    }
    Schema::Object(Object {
        props,
        required: vec!["consentState", "consentAction"],
        any_of: if api == Api::Privacy {
            PRIVACY_IDENTITY.to_vec()
        } else {
            vec![]
        },
        min_props: 0,
    })
}

/// The create body `{items: [...]}`: 1..1000 items on the Privacy API, 1..100 on the Site API.
pub fn events_body_schema(api: Api) -> &'static Schema {
    static PRIVACY: OnceLock<Schema> = OnceLock::new();
    static SITE: OnceLock<Schema> = OnceLock::new();
    let build = move || {
        Schema::Object(Object {
            props: vec![(
                "items",
                Schema::Array {
                    items: Box::new(event_item_schema(api)),
                    min: Some(1),
                    max: Some(match api {
                        Api::Privacy => MAX_EVENTS_PRIVACY,
                        Api::Site => MAX_EVENTS_SITE,
                    }),
                    unique: false,
                },
            )],
            required: vec!["items"],
            ..Default::default()
        })
    };
    match api {
        Api::Privacy => PRIVACY.get_or_init(build),
        Api::Site => SITE.get_or_init(build),
    }
}

/// The published request schema, with `subcategory` as string or array.
pub fn events_body_json_schema(api: Api) -> Value {
    let mut s = events_body_schema(api).json_schema();
    if let Some(item) = s.pointer_mut("/properties/items/items") {
        *item = publish_subcategory(item.take());
    }
    s
}

/// Validates and reads a create body: every item is checked before any is used.
pub fn parse_events_body(raw: &Value, api: Api) -> Result<Vec<ConsentEventInput>> {
    let mut v = raw.clone();
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            prepare_subcategory(item);
        }
    }
    events_body_schema(api)
        .validate(&v, "body")
        .map_err(Error::BadRequest)?;
    let items = v["items"].as_array().expect("validated array");
    for (i, item) in items.iter().enumerate() {
        let loc = format!("body/items/{i}");
        let present = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !present("consentType") && !present("category") {
            return Err(Error::bad(format!(
                "{loc} must have at least one of the properties: consentType, category"
            )));
        }
        no_empty_items(
            item.get("subcategory"),
            &format!("{loc}/subcategory"),
            SUBCATEGORY_PATTERN,
        )?;
    }
    match v {
        Value::Object(mut m) => deserialize(m.remove("items").unwrap_or_default()),
        _ => unreachable!("validated object"),
    }
}

/// What an event gets from outside its body.
#[derive(Debug, Clone)]
pub struct EventContext {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub concord_id: Uuid,
    /// The API key that records it (Privacy API).
    pub submitter: Option<Uuid>,
    /// The site session that records it (Site API).
    pub session: Option<SessionInfo>,
    pub now: i64,
}

/// Builds one event from its body and the type it refers to, applying rules 1–5 of §4.3.
/// `ty` is the result of [`find_type`] for [`ConsentEventInput::type_ref`]. Errors are 422.
pub fn build_event(
    input: &ConsentEventInput,
    ty: Option<&ConsentType>,
    api: Api,
    ctx: &EventContext,
) -> Result<ConsentEvent> {
    let by_id = non_empty(&input.consent_type).is_some();
    let sent_sub = input.subcategory.as_deref().map(normalize_subcategory);
    let sent_label = non_empty(&input.label);
    // Rules 1 and 2.
    let ty = match ty {
        None if by_id => return Err(Error::unprocessable(TYPE_NOT_FOUND)),
        None if api == Api::Site => return Err(Error::unprocessable(SITE_TYPE_NOT_FOUND)),
        None => None,
        Some(t) => {
            let differs = input.category.as_deref().is_some_and(|c| c != t.category)
                || sent_sub.as_ref().is_some_and(|s| *s != t.subcategory)
                || sent_label.as_ref().is_some_and(|l| *l != t.label);
            if differs {
                return Err(Error::unprocessable(TYPE_MISMATCH));
            }
            Some(t)
        }
    };
    if api == Api::Site && ty.is_some_and(|t| t.status != "active") {
        return Err(Error::unprocessable(SITE_TYPE_INACTIVE));
    }
    // Rule 3.
    if let Some(t) = ty {
        if !t.accepts_state(&input.consent_state) {
            return Err(Error::unprocessable(format!(
                "consentState '{}' is not valid for this consent type",
                input.consent_state
            )));
        }
    }
    // Rule 5.
    if api == Api::Site && input.consent_action == "import" {
        return Err(Error::unprocessable(SITE_IMPORT));
    }
    let parse = |s: &Option<String>| non_empty(s).and_then(|s| crate::time::parse_rfc3339(&s));
    let consent_date = match api {
        Api::Site => ctx.now,
        Api::Privacy => parse(&input.consent_date).unwrap_or(ctx.now),
    };
    if consent_date > ctx.now + FUTURE_TOLERANCE_MS {
        return Err(Error::unprocessable(FUTURE_CONSENT_DATE));
    }
    let expiration_date = match parse(&input.expiration_date).filter(|_| api == Api::Privacy) {
        Some(e) if e <= consent_date => {
            return Err(Error::unprocessable(EXPIRATION_BEFORE_CONSENT));
        }
        Some(e) => e,
        None => add_duration_str(
            consent_date,
            ty.map(|t| t.consent_duration.as_str())
                .unwrap_or(DEFAULT_DURATION),
        ),
    };
    let (category, subcategory, label) = match ty {
        Some(t) => (
            t.category.clone(),
            t.subcategory.clone(),
            Some(t.label.clone()),
        ),
        None => (
            input.category.clone().unwrap_or_default(),
            sent_sub.unwrap_or_default(),
            sent_label,
        ),
    };
    Ok(ConsentEvent {
        id: crate::ids::new_id(),
        concord_id: ctx.concord_id,
        organization_id: ctx.organization_id,
        project_id: ctx.project_id,
        consent_type: ty.map(|t| t.id),
        category,
        subcategory,
        label,
        consent_state: input.consent_state.clone(),
        consent_action: input.consent_action.clone(),
        consent_date,
        expiration_date,
        // Rule 4.
        version: ty.map(|t| t.version),
        session: ctx.session.clone(),
        submitter: ctx.submitter,
        date_created: ctx.now,
    })
}

/// Filters of the consent-event lists (§4.3).
#[derive(Debug, Clone, Default)]
pub struct ConsentEventFilter {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    /// Bound `consentDate`: inclusive start, exclusive end.
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub category: Vec<String>,
    /// Events whose subcategory holds any of these (already normalised).
    pub subcategory: Vec<String>,
    pub label: Option<String>,
    pub consent_state: Vec<String>,
    pub consent_action: Vec<String>,
    pub consent_type: Option<Uuid>,
    pub concord_id: Option<String>,
    pub submitter: Option<String>,
    pub session_id: Option<String>,
    pub domain: Option<String>,
    pub geography: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Consent state

/// The winning event of one consent type, with the type's `url` (§4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentStateItem {
    pub event: ConsentEvent,
    pub url: Option<String>,
}

impl ConsentStateItem {
    /// The reduced shape of §4.4. `concord_id` is the identity asked about, so events of
    /// identities merged into it are shown as its own.
    pub fn to_wire(&self, concord_id: Uuid) -> Value {
        let e = &self.event;
        let mut m = Map::new();
        m.insert("id".into(), json!(e.id));
        m.insert("concordId".into(), json!(concord_id));
        put(&mut m, "consentType", e.consent_type.map(|t| json!(t)));
        m.insert("consentState".into(), json!(e.consent_state));
        m.insert("consentDate".into(), json!(to_rfc3339(e.consent_date)));
        m.insert("category".into(), json!(e.category));
        m.insert("subcategory".into(), json!(e.subcategory));
        put(&mut m, "label", e.label.clone());
        put(&mut m, "version", e.version);
        put(&mut m, "url", self.url.clone());
        Value::Object(m)
    }
}

/// Folds an identity's events into its consent state (§4.4). Only events whose type is in
/// `types` count (so the caller chooses which statuses are visible); an event counts while
/// `expirationDate > now` and its version reaches the type's `requireReacceptVersion`. Per
/// type the latest `consentDate` wins, then the latest `dateCreated`, then the greatest id.
/// The result is sorted by `consentDate` descending.
pub fn fold_state(
    events: &[ConsentEvent],
    types: &HashMap<Uuid, ConsentType>,
    now: i64,
) -> Vec<ConsentStateItem> {
    let rank = |e: &ConsentEvent| (e.consent_date, e.date_created, e.id);
    let mut best: HashMap<Uuid, &ConsentEvent> = HashMap::new();
    for e in events {
        let Some(tid) = e.consent_type else { continue };
        let Some(t) = types.get(&tid) else { continue };
        if e.expiration_date <= now {
            continue;
        }
        if let Some(min) = t.require_reaccept_version {
            if e.version.unwrap_or(0) < min {
                continue;
            }
        }
        match best.get(&tid) {
            Some(b) if rank(b) >= rank(e) => {}
            _ => {
                best.insert(tid, e);
            }
        }
    }
    let mut out: Vec<ConsentStateItem> = best
        .into_iter()
        .map(|(tid, e)| ConsentStateItem {
            event: e.clone(),
            url: types.get(&tid).and_then(|t| t.url.clone()),
        })
        .collect();
    out.sort_by_key(|i| std::cmp::Reverse(rank(&i.event)));
    out
}

// ---------------------------------------------------------------------------------------
// Identities

/// A project-scoped identity (§4.5); its id is the `concordId`.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<Value>,
    pub merged_into: Option<Uuid>,
    pub erased_date: Option<i64>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl Identity {
    /// The wire form; dates are epoch integers (§1.3).
    pub fn to_wire(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("organization".into(), json!(self.organization_id));
        m.insert("project".into(), json!(self.project_id));
        put(&mut m, "email", self.email.clone());
        put(&mut m, "phoneNumber", self.phone_number.clone());
        put(&mut m, "userId", self.user_id.clone());
        put(&mut m, "projectUserId", self.project_user_id.clone());
        put(&mut m, "firstName", self.first_name.clone());
        put(&mut m, "middleName", self.middle_name.clone());
        put(&mut m, "lastName", self.last_name.clone());
        put(&mut m, "address", self.address.clone());
        put(&mut m, "mergedInto", self.merged_into.map(|i| json!(i)));
        put(&mut m, "erasedDate", self.erased_date);
        m.insert("dateCreated".into(), json!(self.date_created));
        m.insert("dateUpdated".into(), json!(self.date_updated));
        Value::Object(m)
    }
}

/// The identifiers a Privacy API submission carries, for identity resolution (§3.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Identifiers {
    pub concord_id: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
}

impl Identifiers {
    pub fn of_request(r: &CreateComplianceRequest) -> Identifiers {
        Identifiers {
            concord_id: r.concord_id.clone(),
            email: r.user_email.clone(),
            phone_number: r.user_phone_number.clone(),
            user_id: r.user_id.clone(),
            project_user_id: r.project_user_id.clone(),
        }
    }

    pub fn of_event(e: &ConsentEventInput) -> Identifiers {
        Identifiers {
            concord_id: e.concord_id.clone(),
            email: e.email.clone(),
            phone_number: e.phone_number.clone(),
            user_id: e.user_id.clone(),
            project_user_id: e.project_user_id.clone(),
        }
    }
}

/// One identifier naming an identity (consent-state query, §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityLookup {
    ConcordId(String),
    Email(String),
    PhoneNumber(String),
    UserId(String),
    ProjectUserId(String),
}

impl IdentityLookup {
    /// The stored column and the value to compare with it.
    pub fn column_value(&self) -> (&'static str, String) {
        match self {
            IdentityLookup::ConcordId(v) => ("id", v.trim().to_lowercase()),
            IdentityLookup::Email(v) => ("email_lower", v.trim().to_lowercase()),
            IdentityLookup::PhoneNumber(v) => ("phone_normalized", normalize_phone(v)),
            IdentityLookup::UserId(v) => ("user_id", v.trim().to_string()),
            IdentityLookup::ProjectUserId(v) => ("project_user_id", v.trim().to_string()),
        }
    }
}

/// Filters of the identity list (§4.5); all exact.
#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
    pub concord_id: Option<String>,
}

/// What an erasure did (§4.5). `file_keys` are the object-store keys of the deleted
/// compliance-request files, for the caller to remove after commit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Erasure {
    pub concord_id: Uuid,
    pub consent_events_redacted: i64,
    pub sessions_redacted: i64,
    pub compliance_requests_redacted: i64,
    pub file_keys: Vec<String>,
}

impl Erasure {
    pub fn to_wire(&self) -> Value {
        json!({
            "concordId": self.concord_id,
            "consentEventsRedacted": self.consent_events_redacted,
            "sessionsRedacted": self.sessions_redacted,
            "complianceRequestsRedacted": self.compliance_requests_redacted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn ms(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn ty(id: Uuid) -> ConsentType {
        let mut t = default_types(Uuid::nil(), Uuid::nil(), None, None, 0).remove(1);
        t.id = id;
        t
    }

    fn ev(ty: Option<Uuid>, state: &str, consent: i64, created: i64) -> ConsentEvent {
        ConsentEvent {
            id: crate::ids::new_id(),
            concord_id: Uuid::nil(),
            organization_id: Uuid::nil(),
            project_id: Uuid::nil(),
            consent_type: ty,
            category: "privacy_setting".into(),
            subcategory: vec!["analytics".into()],
            label: Some("analytics".into()),
            consent_state: state.into(),
            consent_action: "user_click".into(),
            consent_date: consent,
            expiration_date: consent + 1_000_000,
            version: ty.map(|_| 1),
            session: None,
            submitter: None,
            date_created: created,
        }
    }

    #[test]
    fn durations_parse_in_order_with_one_component() {
        assert_eq!(
            parse_duration("P12M"),
            Some(IsoDuration {
                months: 12,
                ..Default::default()
            })
        );
        assert_eq!(
            parse_duration("P1Y2M3W4D"),
            Some(IsoDuration {
                years: 1,
                months: 2,
                weeks: 3,
                days: 4
            })
        );
        for bad in ["P", "", "12M", "P1M1Y", "PT1H", "P1", "P1Y1Y", "PM"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let re = regex::Regex::new(DURATION_PATTERN).unwrap();
        for good in ["P12M", "P2Y", "P30D", "P1W", "P1Y2M3W4D", "P1M4D"] {
            assert!(re.is_match(good), "{good}");
            assert!(parse_duration(good).is_some());
        }
        for bad in ["P", "P1D1M", "P1H", "p1m"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn months_are_calendar_months() {
        let d = |s| parse_duration(s).unwrap();
        assert_eq!(
            add_duration(ms("2024-01-31T10:00:00Z"), &d("P1M")),
            ms("2024-02-29T10:00:00Z")
        );
        assert_eq!(
            add_duration(ms("2023-01-31T10:00:00Z"), &d("P1M")),
            ms("2023-02-28T10:00:00Z")
        );
        assert_eq!(
            add_duration(ms("2024-05-20T10:13:20.123Z"), &d("P12M")),
            ms("2025-05-20T10:13:20.123Z")
        );
        assert_eq!(
            add_duration(ms("2024-02-29T00:00:00Z"), &d("P1Y")),
            ms("2025-02-28T00:00:00Z")
        );
        assert_eq!(
            add_duration(ms("2024-01-01T00:00:00Z"), &d("P1W2D")),
            ms("2024-01-10T00:00:00Z")
        );
        assert_eq!(
            add_duration(0, &d("P99999999999999Y")),
            MAX_DATE_MS,
            "saturates"
        );
    }

    #[test]
    fn subcategories_are_normalised() {
        assert_eq!(
            normalize_subcategory(&["b".into(), "A".into(), "b".into()]),
            ["a", "b"]
        );
        let mut v = json!({"subcategory": "Analytics"});
        prepare_subcategory(&mut v);
        assert_eq!(v, json!({"subcategory": ["analytics"]}));
    }

    #[test]
    fn type_bodies_are_strict() {
        let e = parse_type_create(&json!({"category": "custom", "label": "x", "name": "X", "readOnly": true, "subcategory": ["ok", ""]})).unwrap_err();
        assert_eq!(
            e,
            Error::bad(format!(
                "body/subcategory/1 must match pattern \"{SUBCATEGORY_PATTERN}\""
            ))
        );
        let e = parse_type_create(&json!({"category": "custom", "label": "x", "name": ""}))
            .unwrap_err();
        assert_eq!(
            e,
            Error::bad("body/name must NOT have fewer than 1 characters")
        );
        let e = parse_type_patch(&json!({"label": "x"})).unwrap_err();
        assert_eq!(
            e,
            Error::bad("body must NOT have additional properties: 'label'")
        );
        let e = parse_type_patch(&json!({})).unwrap_err();
        assert_eq!(e, Error::bad("body must NOT have fewer than 1 properties"));
        let c = parse_type_create(&json!({"category": "custom", "label": "x", "name": "X", "subcategory": "B", "requireReacceptVersion": 1.0})).unwrap();
        assert_eq!(c.subcategory, ["b"]);
        assert_eq!(c.require_reaccept_version, Some(1));
    }

    #[test]
    fn versioning_rules() {
        let mut t = ty(Uuid::nil());
        let patch = |v: Value| parse_type_patch(&v).unwrap();
        apply_type_patch(&mut t, &patch(json!({"name": "New"})), 5).unwrap();
        assert_eq!((t.version, t.date_updated), (1, 5));
        apply_type_patch(&mut t, &patch(json!({"url": "https://x.example/p"})), 6).unwrap();
        assert_eq!(t.version, 2);
        // The same value again is no change.
        apply_type_patch(&mut t, &patch(json!({"url": "https://x.example/p"})), 7).unwrap();
        assert_eq!((t.version, t.date_updated), (2, 6));
        apply_type_patch(&mut t, &patch(json!({"document": "v3", "version": 7})), 8).unwrap();
        assert_eq!(t.version, 7, "explicit version replaces the increment");
        let err = apply_type_patch(&mut t.clone(), &patch(json!({"version": 7})), 9).unwrap_err();
        assert_eq!(err, Error::unprocessable(VERSION_NOT_GREATER));
        let err = apply_type_patch(
            &mut t.clone(),
            &patch(json!({"requireReacceptVersion": 8})),
            9,
        )
        .unwrap_err();
        assert_eq!(err, Error::unprocessable(REACCEPT_ABOVE_VERSION));
        apply_type_patch(
            &mut t,
            &patch(json!({"requireReacceptVersion": 8, "version": 8})),
            9,
        )
        .unwrap();
        assert_eq!(t.require_reaccept_version, Some(8));
        t.read_only = true;
        assert_eq!(
            apply_type_patch(&mut t, &patch(json!({"name": "x"})), 10).unwrap_err(),
            Error::unprocessable(READ_ONLY)
        );
        assert_eq!(check_deletable(&t), Err(Error::unprocessable(READ_ONLY)));
        let c = parse_type_create(
            &json!({"category": "custom", "label": "x", "name": "X", "requireReacceptVersion": 2}),
        )
        .unwrap();
        assert_eq!(
            new_consent_type(&c, Uuid::nil(), Uuid::nil(), 0).unwrap_err(),
            Error::unprocessable(REACCEPT_ABOVE_VERSION)
        );
    }

    #[test]
    fn default_types_follow_the_table() {
        let all = default_types(Uuid::nil(), Uuid::nil(), Some("https://p"), None, 0);
        let labels: Vec<_> = all.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "privacy_policy",
                "strictly_necessary",
                "analytics",
                "advertising",
                "personalization"
            ]
        );
        assert_eq!(all[0].url.as_deref(), Some("https://p"));
        assert!(all[1].required);
        let with_tos = default_types(Uuid::nil(), Uuid::nil(), None, Some("https://t"), 0);
        assert_eq!(with_tos.len(), 6);
        assert_eq!(with_tos[1].url.as_deref(), Some("https://t"));
    }

    fn ctx(now: i64) -> EventContext {
        EventContext {
            organization_id: Uuid::nil(),
            project_id: Uuid::nil(),
            concord_id: Uuid::nil(),
            submitter: None,
            session: None,
            now,
        }
    }

    fn input(v: Value) -> ConsentEventInput {
        parse_events_body(&json!({"items": [v]}), Api::Privacy)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn event_rules() {
        let now = ms("2024-05-20T10:00:00Z");
        let t = ty(crate::ids::new_id());
        let types = vec![t.clone()];
        let build = |v: Value, api: Api| {
            let i = input(v);
            build_event(&i, find_type(&types, &i.type_ref()), api, &ctx(now))
        };
        // Rule 1: copied from the type; a differing label is refused.
        let e = build(json!({"userId": "u", "consentType": t.id, "consentState": "accepted", "consentAction": "user_click"}), Api::Privacy).unwrap();
        assert_eq!(
            (e.category.as_str(), e.label.as_deref(), e.version),
            ("privacy_setting", Some("strictly_necessary"), Some(1))
        );
        assert_eq!(e.expiration_date, ms("2025-05-20T10:00:00Z"));
        assert_eq!(
            build(json!({"userId": "u", "consentType": t.id, "label": "other", "consentState": "accepted", "consentAction": "user_click"}), Api::Privacy).unwrap_err(),
            Error::unprocessable(TYPE_MISMATCH)
        );
        assert_eq!(
            build(json!({"userId": "u", "consentType": Uuid::nil(), "consentState": "accepted", "consentAction": "user_click"}), Api::Privacy).unwrap_err(),
            Error::unprocessable(TYPE_NOT_FOUND)
        );
        // Rule 2: matched by key, or stored without a type on the Privacy API only.
        let e = build(json!({"userId": "u", "category": "privacy_setting", "subcategory": "Strictly_Necessary", "label": "strictly_necessary", "consentState": "implied", "consentAction": "implied"}), Api::Privacy).unwrap();
        assert_eq!(e.consent_type, Some(t.id));
        let free = json!({"userId": "u", "category": "custom", "subcategory": ["b", "a"], "label": "x", "consentState": "declined", "consentAction": "import"});
        let e = build(free.clone(), Api::Privacy).unwrap();
        assert_eq!((e.consent_type, e.version), (None, None));
        assert_eq!(e.subcategory, ["a", "b"]);
        assert!(e.to_wire().get("version").is_none());
        assert_eq!(
            build(free, Api::Site).unwrap_err(),
            Error::unprocessable(SITE_TYPE_NOT_FOUND)
        );
        // Rule 3.
        assert_eq!(
            build(json!({"userId": "u", "consentType": t.id, "consentState": "declined", "consentAction": "user_click"}), Api::Privacy).unwrap_err(),
            Error::unprocessable("consentState 'declined' is not valid for this consent type")
        );
        // Rule 5 and dates.
        assert_eq!(
            build(json!({"userId": "u", "consentType": t.id, "consentState": "accepted", "consentAction": "import"}), Api::Site).unwrap_err(),
            Error::unprocessable(SITE_IMPORT)
        );
        assert_eq!(
            build(json!({"userId": "u", "consentType": t.id, "consentState": "accepted", "consentAction": "import", "consentDate": "2024-05-20T10:06:00Z"}), Api::Privacy).unwrap_err(),
            Error::unprocessable(FUTURE_CONSENT_DATE)
        );
        let e = build(json!({"userId": "u", "consentType": t.id, "consentState": "accepted", "consentAction": "import", "consentDate": "2024-05-20T12:04:00+02:00"}), Api::Privacy).unwrap();
        assert_eq!(e.consent_date, ms("2024-05-20T10:04:00Z"));
        assert_eq!(
            build(json!({"userId": "u", "consentType": t.id, "consentState": "accepted", "consentAction": "import", "consentDate": "2024-01-01T00:00:00Z", "expirationDate": "2024-01-01T00:00:00Z"}), Api::Privacy).unwrap_err(),
            Error::unprocessable(EXPIRATION_BEFORE_CONSENT)
        );
        let mut inactive = t.clone();
        inactive.status = "archived".into();
        let i = input(
            json!({"userId": "u", "consentType": t.id, "consentState": "accepted", "consentAction": "user_click"}),
        );
        assert!(build_event(&i, Some(&inactive), Api::Privacy, &ctx(now)).is_ok());
        assert_eq!(
            build_event(&i, Some(&inactive), Api::Site, &ctx(now)).unwrap_err(),
            Error::unprocessable(SITE_TYPE_INACTIVE)
        );
    }

    #[test]
    fn event_bodies_need_an_identity_and_a_type_or_category() {
        let e = parse_events_body(
            &json!({"items": [{"userId": "u", "consentState": "accepted", "consentAction": "import"}]}),
            Api::Privacy,
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::bad(
                "body/items/0 must have at least one of the properties: consentType, category"
            )
        );
        let e = parse_events_body(
            &json!({"items": [{"category": "custom", "consentState": "accepted", "consentAction": "import"}]}),
            Api::Privacy,
        )
        .unwrap_err();
        assert_eq!(e, Error::bad("body/items/0 must have at least one of the properties: concordId, email, phoneNumber, userId, projectUserId"));
        let e = parse_events_body(
            &json!({"items": [{"userId": "u", "category": "custom", "consentState": "accepted", "consentAction": "import"}]}),
            Api::Site,
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::bad("body/items/0 must NOT have additional properties: 'userId'")
        );
        let e = parse_events_body(&json!({"items": []}), Api::Privacy).unwrap_err();
        assert_eq!(e, Error::bad("body/items must NOT have fewer than 1 items"));
    }

    #[test]
    fn state_folds_latest_unexpired_typed_events() {
        let (a, b) = (crate::ids::new_id(), crate::ids::new_id());
        let mut types: HashMap<Uuid, ConsentType> = [(a, ty(a)), (b, ty(b))].into();
        types.get_mut(&b).unwrap().url = Some("https://b".into());
        let now = 10_000;
        let old = ev(Some(a), "accepted", 1000, 1000);
        let newer = ev(Some(a), "declined", 2000, 2000);
        let mut expired = ev(Some(a), "implied", 3000, 3000);
        expired.expiration_date = now;
        let untyped = ev(None, "accepted", 5000, 5000);
        let on_b = ev(Some(b), "viewed", 1500, 1500);
        let unknown_type = ev(Some(crate::ids::new_id()), "accepted", 9000, 9000);
        let events = vec![
            old.clone(),
            newer.clone(),
            expired,
            untyped,
            on_b.clone(),
            unknown_type,
        ];
        let state = fold_state(&events, &types, now);
        assert_eq!(state.len(), 2);
        assert_eq!(state[0].event.id, newer.id, "sorted by consentDate desc");
        assert_eq!(state[1].event.id, on_b.id);
        assert_eq!(state[1].url.as_deref(), Some("https://b"));
        let w = state[0].to_wire(Uuid::max());
        assert_eq!(w["concordId"], json!(Uuid::max()));
        assert_eq!(w["consentState"], "declined");
        assert!(w.get("url").is_none());

        // Ties on consentDate: the later dateCreated wins, then the greater id.
        let first = ev(Some(a), "accepted", 2000, 2100);
        let tie_late = ev(Some(a), "declined", 2000, 2200);
        let state = fold_state(&[tie_late.clone(), first.clone()], &types, now);
        assert_eq!(state[0].event.id, tie_late.id);
        let x = ev(Some(a), "accepted", 2000, 2000);
        let y = ev(Some(a), "declined", 2000, 2000);
        let winner = if x.id > y.id { &x } else { &y };
        let state = fold_state(&[x.clone(), y.clone()], &types, now);
        assert_eq!(state[0].event.id, winner.id);
        let state = fold_state(&[y.clone(), x.clone()], &types, now);
        assert_eq!(state[0].event.id, winner.id);

        // requireReacceptVersion hides events of older versions.
        types.get_mut(&a).unwrap().require_reaccept_version = Some(2);
        let state = fold_state(&[old.clone(), newer.clone()], &types, now);
        assert!(state.is_empty());
        let mut v2 = ev(Some(a), "accepted", 500, 500);
        v2.version = Some(2);
        let state = fold_state(&[old, newer, v2.clone()], &types, now);
        assert_eq!(state.len(), 1);
        assert_eq!(state[0].event.id, v2.id);
    }

    #[test]
    fn session_ip_is_ipv4_only() {
        assert_eq!(wire_ipv4("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(wire_ipv4("::ffff:10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(wire_ipv4("2001:db8::1"), None);
    }
}

//! The consent ledger (§4): consent types and their versioning, append-only consent events
//! and the rules that resolve them against a type, the consent-state fold, and the
//! project-scoped identities they belong to, with the request bodies and the answered forms
//! of each. The Privacy API and the Site API both go through [`build_event`], so a rule
//! about events lives here once.
use crate::compliance::{normalize_phone, CreateComplianceRequest, SessionInfo};
use crate::schema::{string, Format, Loc, Object, Schema};
use crate::time::to_rfc3339;
use crate::{Error, Result};
use chrono::{DateTime, Months, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;
use uuid::Uuid;

mod bytes;

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
/// A change of `document` or `url` at the largest version: no greater one exists
/// (**Accord decision**).
pub const VERSION_AT_MAXIMUM: &str =
    "version is at its maximum (9223372036854775807) and cannot be incremented";

/// Epoch milliseconds on the wire as a date-time string (§1.3).
fn date_time<S: Serializer>(ms: &i64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&to_rfc3339(*ms))
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

/// A consent type (§4.2), as stored and as answered. Dates are epoch milliseconds, answered
/// as date-time strings (§1.3).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ConsentType {
    /// Consent type id (UUID).
    pub id: Uuid,
    /// The organization of the project.
    #[serde(rename = "organization")]
    pub organization_id: Uuid,
    /// The project the consent type belongs to.
    #[serde(rename = "project")]
    pub project_id: Uuid,
    /// Kind of consent: `disclosure`, `communication`, `privacy_setting` or `custom`.
    /// Immutable.
    #[schemars(extend("enum" = CATEGORIES))]
    pub category: String,
    /// Subcategories, e.g. `["analytics"]` (at most 10, each `^[a-z0-9_]{1,128}$`), lowercased,
    /// deduplicated and sorted. Immutable.
    #[schemars(length(max = MAX_SUBCATEGORIES), inner(regex(pattern = SUBCATEGORY_PATTERN)), extend("uniqueItems" = true))]
    pub subcategory: Vec<String>,
    /// Label of the type (`^[a-z0-9_*]{1,128}$`), e.g. `analytics`; (category, subcategory,
    /// label) is unique in the project. Events without a `consentType` find their type by it.
    /// Immutable.
    #[schemars(regex(pattern = LABEL_PATTERN))]
    pub label: String,
    /// Display name (1 to 100 characters).
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// Description shown to visitors (at most 2000 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub description: Option<String>,
    /// The text consented to, e.g. the policy itself (at most 5000000 characters). Changing it
    /// increments `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5_000_000))]
    pub document: Option<String>,
    /// URL of the document consented to. Changing it increments `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(url)]
    pub url: Option<String>,
    /// `true` when the type can no longer be changed or deleted (set on create only).
    pub read_only: bool,
    /// The states events of this type may record (`implied`, `viewed`, `accepted`, `declined`);
    /// empty allows any state.
    #[schemars(extend("items" = {"type": "string", "enum": STATES}, "uniqueItems" = true))]
    pub valid_states: Vec<String>,
    /// `active`, `archived`, `obsolete` or `test`. Only active types are offered on the Site
    /// API; the Privacy API records events for every status.
    #[schemars(extend("enum" = TYPE_STATUSES))]
    pub status: String,
    /// How long a consent lasts, as an ISO 8601 date duration (`P12M`, `P2Y`, `P30D`): an
    /// event's default `expirationDate` is its `consentDate` plus this. Default `P12M`.
    #[schemars(length(max = 64), regex(pattern = DURATION_PATTERN))]
    pub consent_duration: String,
    /// Whether the consent is required (e.g. strictly necessary cookies).
    pub required: bool,
    /// Events recorded at an older `version` than this no longer count in the consent state:
    /// visitors are asked again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub require_reaccept_version: Option<i64>,
    /// Version of the type, from 1; incremented when `document` or `url` changes. Events record
    /// the version they were given at.
    #[schemars(range(min = 1))]
    pub version: i64,
    /// When the type was created, as an RFC 3339 date-time in UTC.
    #[serde(serialize_with = "date_time")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub date_created: i64,
    /// When the type last changed, as an RFC 3339 date-time in UTC.
    #[serde(serialize_with = "date_time")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub date_updated: i64,
}

impl ConsentType {
    /// True when the type matches the `(category, subcategory, label)` key of an event.
    pub fn has_key(&self, category: &str, subcategory: &[String], label: Option<&str>) -> bool {
        self.category == category && self.subcategory == subcategory && Some(&*self.label) == label
    }

    /// Whether `state` may be recorded against this type (§4.3 rule 3).
    pub fn accepts_state(&self, state: &str) -> bool {
        self.valid_states.is_empty() || self.valid_states.iter().any(|s| s == state)
    }
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

fn version_schema() -> Schema {
    Schema::Int {
        min: Some(1),
        max: None,
    }
}

crate::body! {
    /// The fields of the consent-type bodies (§4.2), declared once in validation order. The
    /// create body takes all but `version`; the PATCH body all but the immutable `category`,
    /// `subcategory`, `label` and `readOnly`, which are unknown properties there.
    pub struct ConsentTypeBody {
        /// Kind of consent: `disclosure`, `communication`, `privacy_setting` or `custom`
        /// (required on create, immutable).
        category: String => "category": string().one_of(CATEGORIES).s(),
        /// Subcategories, e.g. `analytics` (create only, immutable; default none).
        subcategory: Vec<String> => "subcategory": subcategory_schema(),
        /// Label of the type (required on create, immutable), e.g. `analytics`: events without
        /// a `consentType` find the type by (category, subcategory, label).
        label: String => "label": string().max(128).pattern(LABEL_PATTERN).non_empty().s(),
        /// Display name (1 to 100 characters; required on create).
        name: Option<String> => "name": string().min(1).max(100).non_empty().s(),
        /// Description shown to visitors (at most 2000 characters).
        description: Option<String> => "description": string().max(2000).s(),
        /// The text consented to (at most 5000000 characters). Changing it increments
        /// `version`.
        document: Option<String> => "document": string().max(5_000_000).s(),
        /// URL of the document consented to (a URI). Changing it increments `version`.
        url: Option<String> => "url": string().format(Format::Uri).s(),
        /// The states events of this type may record, without duplicates; empty allows any
        /// state.
        valid_states: Option<Vec<String>> => "validStates": valid_states_schema(),
        /// `active` (default), `archived`, `obsolete` or `test`. Archive a type that has events
        /// instead of deleting it.
        status: Option<String> => "status": string().one_of(TYPE_STATUSES).s(),
        /// How long a consent lasts: an ISO 8601 date duration `P[nY][nM][nW][nD]` with at
        /// least one part; default `P12M`.
        consent_duration: Option<String> =>
            "consentDuration": string().max(64).pattern(DURATION_PATTERN).s(),
        /// Whether the consent is required; default `false`.
        required: Option<bool> => "required": Schema::Bool,
        /// The oldest version whose events still count in the consent state (from 1 to the
        /// type's version, 422 above it).
        #[serde(deserialize_with = "de_opt_int")]
        require_reaccept_version: Option<i64> => "requireReacceptVersion": version_schema(),
        /// `true` makes the type impossible to change or delete afterwards (create only;
        /// default `false`).
        read_only: Option<bool> => "readOnly": Schema::Bool,
        /// A new version, greater than the current one (422 otherwise); it replaces the
        /// increment of a `document` or `url` change (PATCH only).
        #[serde(deserialize_with = "de_opt_int")]
        version: Option<i64> => "version": version_schema(),
    }
}

/// Create body (§4.2).
pub type CreateConsentType = ConsentTypeBody;

/// PATCH body (§4.2).
pub type PatchConsentType = ConsentTypeBody;

const IMMUTABLE: &[&str] = &["category", "subcategory", "label", "readOnly"];

pub fn type_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let mut props = ConsentTypeBody::props();
        props.retain(|(k, _)| *k != "version");
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
        let mut props = ConsentTypeBody::props();
        props.retain(|(k, _)| !IMMUTABLE.contains(k));
        Schema::Object(Object {
            props,
            min_props: 1,
            ..Default::default()
        })
    })
}

/// A subcategory as sent: [`SUBCATEGORY_PATTERN`] once lowercased.
pub const SUBCATEGORY_INPUT_PATTERN: &str = "^[A-Za-z0-9_]{1,128}$";

/// The published schema of a subcategory input: one string or an array of them, in any case.
pub fn subcategory_input_json_schema() -> Value {
    let item = json!({"type": "string", "maxLength": 128, "pattern": SUBCATEGORY_INPUT_PATTERN});
    json!({"anyOf": [item, {"type": "array", "items": item, "maxItems": MAX_SUBCATEGORIES}],
        "description": format!("One string is a one-item array. Items are lowercased, and then match {SUBCATEGORY_PATTERN}.")})
}

/// Replaces `properties.subcategory` of a rendered object schema by the string-or-array form.
pub fn publish_subcategory(mut schema: Value) -> Value {
    if let Some(p) = schema.pointer_mut("/properties/subcategory") {
        // What the property means, from its declaration, before the rule of this form.
        let meaning = p
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut published = subcategory_input_json_schema();
        if let Some(meaning) = meaning {
            let rule = published["description"].as_str().unwrap_or_default();
            published["description"] = json!(format!("{meaning} {rule}"));
        }
        *p = published;
    }
    schema
}

/// Adds `text` as the description of property `prop` of a rendered object schema: how the
/// rules checked after the schema (422s) are published.
pub(crate) fn describe(schema: &mut Value, prop: &str, text: String) {
    if let Some(Value::Object(p)) = schema.pointer_mut(&format!("/properties/{prop}")) {
        // After what the property means, from its declaration, when it has one.
        let text = match p.get("description").and_then(Value::as_str) {
            Some(meaning) => format!("{meaning} {text}"),
            None => text,
        };
        p.insert("description".into(), Value::String(text));
    }
}

/// The published create body: the validated schema, `subcategory` as string or array, and
/// the rules checked after it.
pub fn type_create_json_schema() -> Value {
    let mut s = publish_subcategory(type_create_schema().json_schema());
    s["description"] = json!(format!(
        "(category, subcategory, label) is unique within the project; a duplicate gives 422 `{TYPE_EXISTS}`. Subcategories are compared after normalisation."
    ));
    describe(
        &mut s,
        "subcategory",
        "They are stored deduplicated and sorted.".into(),
    );
    describe(
        &mut s,
        "requireReacceptVersion",
        format!("At most the version of a new type, 1 (422 `{REACCEPT_ABOVE_VERSION}`)."),
    );
    describe(
        &mut s,
        "consentDuration",
        format!("An empty string means the default `{DEFAULT_DURATION}`."),
    );
    s
}

/// The published PATCH body: the validated schema and the rules checked after it.
pub fn type_patch_json_schema() -> Value {
    let mut s = type_patch_schema().json_schema();
    s["description"] = json!(format!(
        "A read-only type cannot be patched (422 `{READ_ONLY}`). A change of `document` or `url` increments `version`."
    ));
    describe(
        &mut s,
        "version",
        format!("Greater than the current version (422 `{VERSION_NOT_GREATER}`); replaces the increment."),
    );
    describe(
        &mut s,
        "requireReacceptVersion",
        format!("At most the type's version after this change (422 `{REACCEPT_ABOVE_VERSION}`)."),
    );
    describe(
        &mut s,
        "consentDuration",
        format!("An empty string means the default `{DEFAULT_DURATION}`."),
    );
    s
}

/// Checks that an array of strings holds no empty item (an empty string passes patterns in
/// the generic schema, where it means "clear the field").
fn no_empty_items(
    v: Option<&Value>,
    loc: &(impl std::fmt::Display + ?Sized),
    pattern: &str,
) -> Result<()> {
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

/// The value in its canonical form (integers as integers, emails trimmed).
fn canonical(schema: &Schema, v: Value) -> Value {
    let changed = match schema.canonical(&v) {
        std::borrow::Cow::Owned(c) => Some(c),
        std::borrow::Cow::Borrowed(_) => None,
    };
    changed.unwrap_or(v)
}

/// Validates and reads a create body (400 messages of §1.5). An empty `label` or `name`, or
/// an empty subcategory item, fails as the published pattern and minimum length say.
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
    deserialize(canonical(type_create_schema(), v))
}

/// Validates and reads a PATCH body.
pub fn parse_type_patch(raw: &Value) -> Result<PatchConsentType> {
    type_patch_schema()
        .validate(raw, "body")
        .map_err(Error::BadRequest)?;
    let map = raw.as_object().expect("validated object");
    required_text(map, "name", "body", "must NOT have fewer than 1 characters")?;
    crate::schema::read(raw, type_patch_schema())
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
        name: input.name.clone().unwrap_or_default(),
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
        None if new_version => {
            t.version = before
                .version
                .checked_add(1)
                .ok_or_else(|| Error::unprocessable(VERSION_AT_MAXIMUM))?;
        }
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

/// The events of one create request on their way to the store, appended all or none
/// (§4.3).
#[derive(Debug, Clone)]
pub struct NewEvents {
    pub events: Vec<ConsentEvent>,
    /// Present when an item names a person the project does not know yet, or gives an
    /// identity identifiers it lacks (§3.5). Those identities are then resolved in the
    /// transaction that appends the events, so that a failure or a crash leaves neither.
    pub identities: Option<PendingIdentities>,
}

/// What the identities of a [`NewEvents`] are resolved from, in the order of its events.
#[derive(Debug, Clone)]
pub struct PendingIdentities {
    pub project: crate::store::Project,
    /// The identifiers of each event's item, one per event.
    pub items: Vec<Identifiers>,
}

impl NewEvents {
    /// Events whose identities are all known.
    pub fn resolved(events: Vec<ConsentEvent>) -> NewEvents {
        NewEvents {
            events,
            identities: None,
        }
    }
}

/// The embedded `session.ipAddress` is IPv4 only (§5.2): IPv4-mapped IPv6 addresses are
/// shown in dotted form, other IPv6 addresses are omitted.
pub fn wire_ipv4(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => Some(v4.to_string()),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(|v4| v4.to_string()),
    }
}

/// The embedded `session` object of a consent event (§4.3, §5.2) as answered.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EmbeddedSession {
    /// Id of the site session the event was recorded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "uuid"))]
    pub id: Option<String>,
    /// The visitor's IPv4 address (an IPv4-mapped IPv6 address in dotted form; other IPv6
    /// addresses are omitted). Removed by an identity erasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(ipv4)]
    pub ip_address: Option<String>,
    /// Host of the page the session was minted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The visitor's location, `CC` or `CC-SUB`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    /// The browser's `User-Agent` (at most 512 characters). Removed by an identity erasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl From<&SessionInfo> for EmbeddedSession {
    fn from(s: &SessionInfo) -> Self {
        EmbeddedSession {
            id: s.id.clone(),
            ip_address: s.ip_address.as_deref().and_then(wire_ipv4),
            domain: s.domain.clone(),
            geography: s.geography.clone(),
            user_agent: s.user_agent.clone(),
        }
    }
}

/// A consent event as answered (§4.3): dates are date-time strings, `dateUpdated` equals
/// `dateCreated` (events are append-only), and `version` is shown only with a `consentType`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ConsentEventView {
    /// Consent event id (UUID).
    pub id: Uuid,
    /// The identity whose consent this is (its survivor after a merge).
    pub concord_id: Uuid,
    /// The organization of the project.
    pub organization: Uuid,
    /// The project the event belongs to.
    pub project: Uuid,
    /// The consent type the event records, given or found by (category, subcategory, label);
    /// absent when none matched (Privacy API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_type: Option<Uuid>,
    /// Kind of consent: `disclosure`, `communication`, `privacy_setting` or `custom`; the
    /// type's when there is one.
    #[schemars(extend("enum" = CATEGORIES))]
    pub category: String,
    /// Subcategories, as on the consent type.
    #[schemars(length(max = MAX_SUBCATEGORIES), inner(regex(pattern = SUBCATEGORY_PATTERN)))]
    pub subcategory: Vec<String>,
    /// Label of the consent type, when given or known from the type.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), regex(pattern = LABEL_PATTERN))]
    pub label: Option<String>,
    /// The state recorded: `implied`, `viewed`, `accepted` or `declined`.
    #[schemars(extend("enum" = STATES))]
    pub consent_state: String,
    /// How it was given: `implied`, `user_click` or `import`.
    #[schemars(extend("enum" = ACTIONS))]
    pub consent_action: String,
    /// When consent was given, as an RFC 3339 date-time in UTC (default: when recorded).
    #[schemars(extend("format" = "date-time"))]
    pub consent_date: String,
    /// When the consent lapses, as an RFC 3339 date-time in UTC: by default `consentDate` plus
    /// the type's `consentDuration`, or 12 months without a type.
    #[schemars(extend("format" = "date-time"))]
    pub expiration_date: String,
    /// The consent type's version when the event was recorded; absent without a type.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub version: Option<i64>,
    /// The site session the event was recorded in (Site API events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<EmbeddedSession>,
    /// Id of the API key that recorded the event (Privacy API events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitter: Option<Uuid>,
    /// When the event was recorded, as an RFC 3339 date-time in UTC.
    #[schemars(extend("format" = "date-time"))]
    pub date_created: String,
    /// Same as `dateCreated`: events are never updated.
    #[schemars(extend("format" = "date-time"))]
    pub date_updated: String,
}

impl From<&ConsentEvent> for ConsentEventView {
    fn from(e: &ConsentEvent) -> Self {
        let created = to_rfc3339(e.date_created);
        ConsentEventView {
            id: e.id,
            concord_id: e.concord_id,
            organization: e.organization_id,
            project: e.project_id,
            consent_type: e.consent_type,
            category: e.category.clone(),
            subcategory: e.subcategory.clone(),
            label: e.label.clone(),
            consent_state: e.consent_state.clone(),
            consent_action: e.consent_action.clone(),
            consent_date: to_rfc3339(e.consent_date),
            expiration_date: to_rfc3339(e.expiration_date),
            version: e.version.filter(|_| e.consent_type.is_some()),
            session: e.session.as_ref().map(EmbeddedSession::from),
            submitter: e.submitter,
            date_created: created.clone(),
            date_updated: created,
        }
    }
}

/// An event as answered: what [`ConsentEventView`] serializes to, written from the event
/// itself. The view stays the published schema; this writes the same fields in the same
/// order without copying the event's strings or allocating its dates (a create answers up
/// to a thousand events).
#[derive(Debug, Clone)]
pub struct EventAnswer(pub ConsentEvent);

impl Serialize for EventAnswer {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use crate::time::Stamp;
        use serde::ser::SerializeStruct;
        let e = &self.0;
        let version = e.version.filter(|_| e.consent_type.is_some());
        let optional = [
            e.consent_type.is_some(),
            e.label.is_some(),
            version.is_some(),
            e.session.is_some(),
            e.submitter.is_some(),
        ];
        let len = 12 + optional.iter().filter(|given| **given).count();
        let mut m = s.serialize_struct("ConsentEventView", len)?;
        m.serialize_field("id", &e.id)?;
        m.serialize_field("concordId", &e.concord_id)?;
        m.serialize_field("organization", &e.organization_id)?;
        m.serialize_field("project", &e.project_id)?;
        match &e.consent_type {
            Some(t) => m.serialize_field("consentType", t)?,
            None => m.skip_field("consentType")?,
        }
        m.serialize_field("category", &e.category)?;
        m.serialize_field("subcategory", &e.subcategory)?;
        match &e.label {
            Some(l) => m.serialize_field("label", l)?,
            None => m.skip_field("label")?,
        }
        m.serialize_field("consentState", &e.consent_state)?;
        m.serialize_field("consentAction", &e.consent_action)?;
        m.serialize_field("consentDate", &Stamp(e.consent_date))?;
        m.serialize_field("expirationDate", &Stamp(e.expiration_date))?;
        match version {
            Some(v) => m.serialize_field("version", &v)?,
            None => m.skip_field("version")?,
        }
        match &e.session {
            Some(info) => m.serialize_field("session", &EmbeddedSession::from(info))?,
            None => m.skip_field("session")?,
        }
        match &e.submitter {
            Some(k) => m.serialize_field("submitter", k)?,
            None => m.skip_field("submitter")?,
        }
        m.serialize_field("dateCreated", &Stamp(e.date_created))?;
        m.serialize_field("dateUpdated", &Stamp(e.date_created))?;
        m.end()
    }
}

/// `{count, items}`: the unpaged answers of an event create (in input order) and of a
/// consent-state query (§4.3, §4.4).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Counted<T> {
    /// The number of `items`.
    pub count: usize,
    /// The items, in the order of the request (or of the state, newest `consentDate` first).
    pub items: Vec<T>,
}

impl<T> From<Vec<T>> for Counted<T> {
    fn from(items: Vec<T>) -> Self {
        Counted {
            count: items.len(),
            items,
        }
    }
}

/// The wire names of the item fields only the Privacy API accepts: who the event is about
/// (§3.5) and its dates. The Site API takes them from the session and the clock.
const PRIVACY_ONLY: &[&str] = &[
    "projectUserId",
    "userId",
    "email",
    "phoneNumber",
    "concordId",
    "consentDate",
    "expirationDate",
];

crate::body! {
    /// One item of an event create body (§4.3), declared once in validation order. Site
    /// items (§5.4) accept the fields not in [`PRIVACY_ONLY`].
    pub struct ConsentEventInput {
        /// The subject's id in this project (at most 256 characters; Privacy API only).
        project_user_id: Option<String> => "projectUserId": string().max(256).s(),
        /// The subject's user id in your systems (at most 256 characters; Privacy API only).
        user_id: Option<String> => "userId": string().max(256).s(),
        /// The subject's email address (Privacy API only).
        email: Option<String> => "email": string().format(Format::Email).s(),
        /// The subject's phone number (at most 128 characters; Privacy API only).
        phone_number: Option<String> => "phoneNumber": string().max(128).s(),
        /// The subject's identity (Privacy API only). One of `concordId`, `email`,
        /// `phoneNumber`, `userId` and `projectUserId` is required there: the identity is found
        /// or made from them (§3.5); the Site API uses the session's.
        concord_id: Option<String> => "concordId": string().format(Format::Uuid).s(),
        /// Id of the consent type consented to. Either `consentType` or `category` is required.
        consent_type: Option<String> => "consentType": string().format(Format::Uuid).s(),
        /// Kind of consent: `disclosure`, `communication`, `privacy_setting` or `custom`. With
        /// `subcategory` and `label`, names the consent type when `consentType` is absent.
        category: Option<String> => "category": string().one_of(CATEGORIES).s(),
        /// Subcategories of the consent type, default none.
        subcategory: Option<Vec<String>> => "subcategory": subcategory_schema(),
        /// Label of the consent type, e.g. `analytics`. Without `consentType`, the type is
        /// found by (category, subcategory, label): an event without a label matches no type,
        /// not even the default ones (whose labels equal their subcategory), and is stored
        /// without a type on the Privacy API.
        label: Option<String> => "label": string().max(128).pattern(LABEL_PATTERN).s(),
        /// The state recorded: `implied`, `viewed`, `accepted` or `declined`.
        consent_state: String => "consentState": string().one_of(STATES).s(),
        /// How it was given: `implied`, `user_click` or `import`.
        consent_action: String => "consentAction": string().one_of(ACTIONS).s(),
        /// When consent was given (an RFC 3339 date-time; Privacy API only; the Site API uses
        /// now).
        consent_date: Option<String> => "consentDate": string().format(Format::DateTime).s(),
        /// When the consent lapses (an RFC 3339 date-time; Privacy API only).
        expiration_date: Option<String> =>
            "expirationDate": string().format(Format::DateTime).s(),
    }
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

/// An event names its type by id or by key (§4.3 rules 1 and 2).
const TYPE_OR_CATEGORY: &[&str] = &["consentType", "category"];

fn event_item_schema(api: Api) -> Schema {
    let mut props = ConsentEventInput::props();
    if api == Api::Site {
        props.retain(|(k, _)| !PRIVACY_ONLY.contains(k));
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
                }
                .doc("The events to record, all validated before any is stored: one failure stores none. Answered in the same order."),
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

/// "At least one of `keys`, not empty", as JSON Schema.
fn one_of_present(keys: &[&str]) -> Value {
    let alternatives: Vec<Value> = keys
        .iter()
        .map(|k| json!({"required": [k], "properties": {*k: {"minLength": 1, "description": format!("`{k}` is present and not empty.")}}}))
        .collect();
    json!({ "anyOf": alternatives })
}

/// The published request schema: `subcategory` as string or array, the item rules checked
/// after the schema (an identity on the Privacy API, a type or category on both, neither
/// empty), and the 422 rules of §4.3 as descriptions.
pub fn events_body_json_schema(api: Api) -> Value {
    let mut s = events_body_schema(api).json_schema();
    let Some(item) = s.pointer_mut("/properties/items/items") else {
        return s;
    };
    let mut item = publish_subcategory(item.take());
    if let Value::Object(m) = &mut item {
        m.remove("anyOf");
        let mut all = vec![one_of_present(TYPE_OR_CATEGORY)];
        if api == Api::Privacy {
            all.insert(0, one_of_present(PRIVACY_IDENTITY));
        }
        m.insert("allOf".into(), Value::Array(all));
    }
    let mut type_rule = format!(
        "A consent type of the project (422 `{TYPE_NOT_FOUND}`); `category`, `subcategory` and `label`, when also sent, must equal the type's (422 `{TYPE_MISMATCH}`)."
    );
    let key_rule = match api {
        Api::Privacy => "Without `consentType` the type is looked up by (category, subcategory, label); when none matches, the event is stored without a type.".to_string(),
        Api::Site => {
            type_rule.push_str(&format!(" The type must be active (422 `{SITE_TYPE_INACTIVE}`)."));
            format!("Without `consentType`, (category, subcategory, label) must name a consent type of the project (422 `{SITE_TYPE_NOT_FOUND}`).")
        }
    };
    describe(&mut item, "consentType", type_rule);
    describe(&mut item, "category", key_rule);
    describe(
        &mut item,
        "consentState",
        "One of the type's `validStates` when it has any (422 `consentState '…' is not valid for this consent type`).".into(),
    );
    match api {
        Api::Privacy => {
            describe(
                &mut item,
                "concordId",
                "An identity of the project (422 `concordId not found in this project`).".into(),
            );
            describe(
                &mut item,
                "consentDate",
                format!(
                    "Default now; at most 5 minutes in the future (422 `{FUTURE_CONSENT_DATE}`)."
                ),
            );
            describe(&mut item, "expirationDate", format!("After `consentDate` (422 `{EXPIRATION_BEFORE_CONSENT}`); default `consentDate` plus the type's `consentDuration`, or 12 months without a type."));
        }
        Api::Site => describe(
            &mut item,
            "consentAction",
            format!("`import` is refused (422 `{SITE_IMPORT}`)."),
        ),
    }
    s["properties"]["items"]["items"] = item;
    s
}

/// Reads a create body from its bytes: straight into the events when it is plainly valid
/// (see [`bytes`]), otherwise through the JSON value and [`parse_events_body`], which words
/// the 400 of what is wrong.
pub fn parse_events_json(raw: &[u8], api: Api) -> Result<Vec<ConsentEventInput>> {
    let Some(items) = bytes::read(raw, api) else {
        return parse_events_body(crate::json::parse_body(raw)?, api);
    };
    #[cfg(debug_assertions)]
    {
        let checked = crate::json::parse_body(raw).and_then(|v| parse_events_body(v, api));
        assert_eq!(
            format!("{checked:?}"),
            format!("{:?}", Ok::<_, Error>(&items)),
            "the body read from its bytes differs from the validated one"
        );
    }
    Ok(items)
}

/// Validates and reads a create body: every item is checked before any is used. The
/// type-or-category and non-empty subcategory rules run once every item has passed the
/// schema, so the first schema violation of any item is the one answered.
pub fn parse_events_body(raw: Value, api: Api) -> Result<Vec<ConsentEventInput>> {
    let mut v = raw;
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for item in items {
            prepare_subcategory(item);
        }
    }
    events_body_schema(api)
        .validate(&v, "body")
        .map_err(Error::BadRequest)?;
    let items = v["items"].as_array().expect("validated array");
    let body = Loc::At("body");
    let listed = Loc::Key(&body, "items");
    for (i, item) in items.iter().enumerate() {
        // Written out only for a message.
        let loc = Loc::Index(&listed, i);
        let present = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        };
        if !TYPE_OR_CATEGORY.iter().any(|k| present(k)) {
            return Err(Error::bad(format!(
                "{loc} must have at least one of the properties: {}",
                TYPE_OR_CATEGORY.join(", ")
            )));
        }
        no_empty_items(
            item.get("subcategory"),
            &Loc::Key(&loc, "subcategory"),
            SUBCATEGORY_PATTERN,
        )?;
    }
    match canonical(events_body_schema(api), v) {
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

/// One item of a consent state as answered: the reduced shape of §4.4.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ConsentStateView {
    /// The winning event: the latest `consentDate` among the identity's unexpired events of the
    /// type (ties: latest `dateCreated`, then `id`).
    pub id: Uuid,
    /// The identity asked about (events of identities merged into it count as its own).
    pub concord_id: Uuid,
    /// The consent type.
    pub consent_type: Uuid,
    /// The current state: `implied`, `viewed`, `accepted` or `declined`.
    #[schemars(extend("enum" = STATES))]
    pub consent_state: String,
    /// When that consent was given, as an RFC 3339 date-time in UTC.
    #[schemars(extend("format" = "date-time"))]
    pub consent_date: String,
    /// Kind of consent of the type.
    #[schemars(extend("enum" = CATEGORIES))]
    pub category: String,
    /// Subcategories of the type.
    #[schemars(length(max = MAX_SUBCATEGORIES), inner(regex(pattern = SUBCATEGORY_PATTERN)))]
    pub subcategory: Vec<String>,
    /// Label of the type.
    #[schemars(length(max = 128), regex(pattern = LABEL_PATTERN))]
    pub label: String,
    /// The type's version the winning event was recorded at.
    #[schemars(range(min = 1))]
    pub version: i64,
    /// The type's `url`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl ConsentStateView {
    /// `concord_id` is the identity asked about, so events of identities merged into it are
    /// shown as its own. Only events recorded against a type can win a state ([`fold_state`]),
    /// and those carry the type's label and version; `None` for any other.
    pub fn new(item: &ConsentStateItem, concord_id: Uuid) -> Option<ConsentStateView> {
        let e = &item.event;
        Some(ConsentStateView {
            id: e.id,
            concord_id,
            consent_type: e.consent_type?,
            consent_state: e.consent_state.clone(),
            consent_date: to_rfc3339(e.consent_date),
            category: e.category.clone(),
            subcategory: e.subcategory.clone(),
            label: e.label.clone()?,
            version: e.version?,
            url: item.url.clone(),
        })
    }

    /// The `{count, items}` answer of a consent-state query.
    pub fn answer(items: &[ConsentStateItem], concord_id: Uuid) -> Counted<ConsentStateView> {
        items
            .iter()
            .filter_map(|i| ConsentStateView::new(i, concord_id))
            .collect::<Vec<_>>()
            .into()
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

/// One UTC day's count of a project's consent events with one value of what they are
/// split by (the console's charts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// The UTC day: whole days since 1970-01-01.
    pub day: i64,
    /// The state, or the consent type's id (`None`: events recorded without a type).
    pub key: Option<String>,
    pub n: i64,
}

/// What daily counts of consent events are split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaySplit {
    /// `consentState`.
    State,
    /// The consent type.
    ConsentType,
}

/// Milliseconds of a day.
pub const DAY_MS: i64 = 86_400_000;

/// How many people currently hold one state of one consent type: per identity (with the
/// identities merged into it) the event that [`fold_state`] makes its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentStateCount {
    pub consent_type: Uuid,
    pub state: String,
    pub people: i64,
}

// ---------------------------------------------------------------------------------------
// Identities

/// A project-scoped identity (§4.5), as stored and as answered; its id is the `concordId`.
/// Dates are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Identity {
    /// The identity's id: its `concordId`.
    pub id: Uuid,
    /// The organization of the project.
    #[serde(rename = "organization")]
    pub organization_id: Uuid,
    /// The project the identity belongs to.
    #[serde(rename = "project")]
    pub project_id: Uuid,
    /// Email address, unique in the project (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number, unique in the project (compared on its digits and a leading `+`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// User id in your systems, unique in the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Id in this project, unique in the project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_user_id: Option<String>,
    /// First name (set by the Site API profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Middle name (set by the Site API profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Last name (set by the Site API profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Postal address (set by the Site API profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<crate::site::Address>")]
    pub address: Option<Value>,
    /// The identity this one was merged into by an identify call (§5.6); its events and
    /// requests now belong to that one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Uuid>,
    /// When the identity's identifiers were erased, in epoch milliseconds; absent until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_date: Option<i64>,
    /// When the identity was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the identity last changed, in epoch milliseconds.
    pub date_updated: i64,
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

/// What an erasure did (§4.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Erasure {
    /// The erased identity.
    pub concord_id: Uuid,
    /// Consent events of the identity whose `session.ipAddress` and `session.userAgent` were
    /// removed.
    #[schemars(range(min = 0))]
    pub consent_events_redacted: i64,
    /// Session records of the identity whose address and user agent were removed.
    #[schemars(range(min = 0))]
    pub sessions_redacted: i64,
    /// Compliance requests of the identity cleared of personal data and files (only with
    /// `includeComplianceRequests=true`, otherwise 0).
    #[schemars(range(min = 0))]
    pub compliance_requests_redacted: i64,
    /// The object-store keys of the deleted compliance-request files, for the caller to
    /// remove after commit; not answered.
    #[serde(skip)]
    pub file_keys: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn ms(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    /// An event is answered exactly as its view serializes, with and without each optional
    /// field, and with dates chrono would write with a sign.
    #[test]
    fn event_answers_are_written_as_their_views() {
        let base = ConsentEvent {
            id: crate::ids::new_id(),
            concord_id: crate::ids::new_id(),
            organization_id: crate::ids::new_id(),
            project_id: crate::ids::new_id(),
            consent_type: None,
            category: "disclosure".into(),
            subcategory: vec![],
            label: None,
            consent_state: "accepted".into(),
            consent_action: "user_click".into(),
            consent_date: ms("2024-05-20T10:13:20.123Z"),
            expiration_date: ms("2025-05-20T10:13:20.123Z"),
            version: Some(3),
            session: None,
            submitter: None,
            date_created: ms("2024-05-20T10:13:21.001Z"),
        };
        let mut typed = base.clone();
        typed.consent_type = Some(crate::ids::new_id());
        typed.subcategory = vec!["a\"b".into(), "privacy_policy".into()];
        typed.label = Some("analytics \u{e9}".into());
        typed.submitter = Some(crate::ids::new_id());
        let mut site = typed.clone();
        site.version = None;
        site.submitter = None;
        site.session = Some(SessionInfo {
            id: Some("s-1".into()),
            ip_address: Some("::ffff:10.1.2.3".into()),
            domain: Some("shop.example".into()),
            geography: None,
            user_agent: Some("Mozilla/5.0 \"x\"".into()),
        });
        let mut far = base.clone();
        far.expiration_date = 253_402_300_800_000 + 5;
        far.consent_date = -62_167_219_200_001;
        for e in [base, typed, site, far] {
            assert_eq!(
                serde_json::to_string(&EventAnswer(e.clone())).unwrap(),
                serde_json::to_string(&ConsentEventView::from(&e)).unwrap()
            );
        }
    }

    /// A plain body is read from its bytes, and every other one through the validating
    /// path; either way the answer is the validating path's (events or 400 message).
    #[test]
    fn bodies_read_from_bytes_match_the_validated_reading() {
        let ev = r#""consentState":"implied","consentAction":"implied""#;
        let cases: &[(&str, Api, bool)] = &[
            // Read from the bytes.
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","subcategory":["privacy_policy"],"label":"privacy_policy",{ev}}}]}}"#
                ),
                Api::Privacy,
                true,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"  B@Example.com ","category":"custom","subcategory":"Marketing","label":"x",{ev}}}]}}"#
                ),
                Api::Privacy,
                true,
            ),
            (
                &format!(
                    r#"{{"items":[{{"userId":"u\u00e9\n","consentType":"{}","consentDate":"2024-01-02T03:04:05Z","expirationDate":"2025-01-02T03:04:05+02:00",{ev}}}]}}"#,
                    Uuid::nil()
                ),
                Api::Privacy,
                true,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"","phoneNumber":"+1 555","category":"disclosure","subcategory":[],"label":"",{ev}}}]}}"#
                ),
                Api::Privacy,
                true,
            ),
            (
                &format!(
                    r#" {{ "items" : [ {{"category":"privacy_setting","subcategory":["B","a","b"],{ev}}} ] }} "#
                ),
                Api::Site,
                true,
            ),
            // Read through the JSON value, which words the 400.
            (
                &format!(r#"{{"items":[{{"category":"disclosure",{ev}}}]}}"#),
                Api::Privacy,
                false,
            ),
            (
                &format!(r#"{{"items":[{{"email":"a@example.com",{ev}}}]}}"#),
                Api::Privacy,
                false,
            ),
            (
                &format!(r#"{{"items":[{{"email":"a@example.com","category":"",{ev}}}]}}"#),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","label":null,{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","extra":1,{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","email":"b@example.com","category":"disclosure",{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(r#"{{"items":[{{"email":"a@example","category":"disclosure",{ev}}}]}}"#),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","label":"a\u0000b",{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","subcategory":["ok",""],{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","subcategory":"",{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","subcategory":[1],{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","subcategory":["has space"],{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                &format!(r#"{{"items":[{{"email":"a@example.com","category":"nope",{ev}}}]}}"#),
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure","consentDate":"2024-01-02 03:04:05Z",{ev}}}]}}"#
                ),
                Api::Privacy,
                false,
            ),
            (
                r#"{"items":[{"email":"a@example.com","category":"disclosure","consentState":"implied"}]}"#,
                Api::Privacy,
                false,
            ),
            (
                &format!(
                    r#"{{"items":[{{"email":"a@example.com","category":"disclosure",{ev}}}]}}"#
                ),
                Api::Site,
                false,
            ),
            (r#"{"items":[]}"#, Api::Privacy, false),
            (
                &format!(r#"{{"items":[{{"category":"disclosure",{ev}}}],"more":true}}"#),
                Api::Site,
                false,
            ),
            (
                &format!(r#"{{"items":[{{"category":"disclosure",{ev}}}]}} x"#),
                Api::Site,
                false,
            ),
            ("[]", Api::Privacy, false),
            // Arrays where objects are declared: a derived struct would read them by position.
            (
                &format!(r#"[[{{"category":"disclosure",{ev}}}]]"#),
                Api::Site,
                false,
            ),
            (
                &format!(r#"[[{{"projectUserId":"u-1","category":"disclosure",{ev}}}]]"#),
                Api::Privacy,
                false,
            ),
            (
                r#"{"items":[["u-1","","","","","","disclosure",[],"","accepted","user_click"]]}"#,
                Api::Privacy,
                false,
            ),
            (
                r#"{"items":[["disclosure","accepted","user_click"]]}"#,
                Api::Site,
                false,
            ),
            ("{", Api::Privacy, false),
        ];
        for (body, api, plain) in cases {
            assert_eq!(
                bytes::read(body.as_bytes(), *api).is_some(),
                *plain,
                "{body}"
            );
            let validated =
                crate::json::parse_body(body.as_bytes()).and_then(|v| parse_events_body(v, *api));
            assert_eq!(
                format!("{:?}", parse_events_json(body.as_bytes(), *api)),
                format!("{validated:?}"),
                "{body}"
            );
        }
        let many = |n: usize| {
            let item = format!(r#"{{"category":"disclosure",{ev}}}"#);
            format!(r#"{{"items":[{}]}}"#, vec![item; n].join(","))
        };
        assert!(bytes::read(many(MAX_EVENTS_SITE).as_bytes(), Api::Site).is_some());
        let over = many(MAX_EVENTS_SITE + 1);
        assert!(bytes::read(over.as_bytes(), Api::Site).is_none());
        let e = parse_events_json(over.as_bytes(), Api::Site).unwrap_err();
        assert!(e.to_string().contains("must NOT have more than"), "{e}");
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
        parse_events_body(json!({"items": [v]}), Api::Privacy)
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
        assert!(serde_json::to_value(ConsentEventView::from(&e))
            .unwrap()
            .get("version")
            .is_none());
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
            json!({"items": [{"userId": "u", "consentState": "accepted", "consentAction": "import"}]}),
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
            json!({"items": [{"category": "custom", "consentState": "accepted", "consentAction": "import"}]}),
            Api::Privacy,
        )
        .unwrap_err();
        assert_eq!(e, Error::bad("body/items/0 must have at least one of the properties: concordId, email, phoneNumber, userId, projectUserId"));
        let e = parse_events_body(
            json!({"items": [{"userId": "u", "category": "custom", "consentState": "accepted", "consentAction": "import"}]}),
            Api::Site,
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::bad("body/items/0 must NOT have additional properties: 'userId'")
        );
        let e = parse_events_body(json!({"items": []}), Api::Privacy).unwrap_err();
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
        let w = serde_json::to_value(ConsentStateView::new(&state[0], Uuid::max())).unwrap();
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

    /// The derived response schemas are strict and carry the contract's rules.
    #[test]
    fn derived_schemas_publish_the_rules() {
        use crate::schema::published;
        let t = published::<ConsentType>();
        assert_eq!(t["additionalProperties"], false);
        assert_eq!(
            t["required"],
            json!([
                "id",
                "organization",
                "project",
                "category",
                "subcategory",
                "label",
                "name",
                "readOnly",
                "validStates",
                "status",
                "consentDuration",
                "required",
                "version",
                "dateCreated",
                "dateUpdated"
            ])
        );
        assert_eq!(t["properties"]["category"]["enum"], json!(CATEGORIES));
        assert_eq!(
            t["properties"]["validStates"]["items"]["enum"],
            json!(STATES)
        );
        assert_eq!(
            t["properties"]["subcategory"]["items"]["pattern"],
            SUBCATEGORY_PATTERN
        );
        assert_eq!(
            t["properties"]["subcategory"]["maxItems"],
            MAX_SUBCATEGORIES
        );
        assert_eq!(t["properties"]["label"]["pattern"], LABEL_PATTERN);
        assert_eq!(t["properties"]["name"]["maxLength"], 100);
        assert_eq!(t["properties"]["dateCreated"]["format"], "date-time");
        assert_eq!(t["properties"]["requireReacceptVersion"]["minimum"], 1);
        let e = published::<ConsentEventView>();
        assert_eq!(e["properties"]["session"]["additionalProperties"], false);
        assert_eq!(
            e["properties"]["session"]["properties"]["ipAddress"]["format"],
            "ipv4"
        );
        assert_eq!(e["properties"]["consentAction"]["enum"], json!(ACTIONS));
        assert!(e["required"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r != "version" && r != "consentType"));
        let state = published::<Counted<ConsentStateView>>();
        let item = &state["properties"]["items"]["items"];
        assert_eq!(
            item["required"],
            json!([
                "id",
                "concordId",
                "consentType",
                "consentState",
                "consentDate",
                "category",
                "subcategory",
                "label",
                "version"
            ])
        );
        let identity = published::<Identity>();
        let address = &identity["properties"]["address"];
        assert_eq!(address["additionalProperties"], false);
        assert_eq!(address["properties"]["postalCode"]["maxLength"], 256);
        let erasure = published::<Erasure>();
        assert!(erasure["properties"].get("fileKeys").is_none());
        let body = events_body_json_schema(Api::Privacy);
        let item = &body["properties"]["items"]["items"];
        assert_eq!(item["allOf"].as_array().unwrap().len(), 2);
        assert!(item["properties"]["consentDate"]["description"]
            .as_str()
            .unwrap()
            .contains(FUTURE_CONSENT_DATE));
    }

    #[test]
    fn session_ip_is_ipv4_only() {
        assert_eq!(wire_ipv4("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(wire_ipv4("::ffff:10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(wire_ipv4("2001:db8::1"), None);
    }
}

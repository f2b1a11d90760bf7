//! Request-body schemas. One declaration per body serves twice: it validates incoming JSON
//! with the contract's messages (§1.5) and renders the JSON Schema published in the OpenAPI
//! documents, so what is published is exactly what is enforced.
use regex::Regex;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::sync::OnceLock;

/// String formats of §1.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Uuid,
    Email,
    Hostname,
    Uri,
    HttpUrl,
    DateTime,
    /// A location code of a Region (§7.8), in any case.
    LocationCode,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Uuid => "uuid",
            Format::Email => "email",
            Format::Hostname => "hostname",
            Format::Uri | Format::HttpUrl => "uri",
            Format::DateTime => "date-time",
            Format::LocationCode => "location-code",
        }
    }

    pub fn check(self, s: &str) -> bool {
        match self {
            Format::Uuid => crate::ids::is_uuid(s),
            Format::Email => is_email(s.trim()),
            Format::Hostname => is_hostname(s),
            Format::Uri => fluent_uri::Uri::parse(s).is_ok(),
            Format::HttpUrl => is_http_url(s),
            Format::DateTime => crate::time::parse_rfc3339(s).is_some(),
            Format::LocationCode => crate::regions::normalize_code(s).is_some(),
        }
    }
}

/// §1.4 email (checked on the trimmed value, which is the one kept): dot-atom local part, a domain of two or more labels, at most 254 characters.
pub fn is_email(s: &str) -> bool {
    if s.chars().count() > 254 {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let local_ok = !local.is_empty()
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    // Two labels or more.
    local_ok && domain.contains('.') && domain.split('.').all(is_label)
}

fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// §1.4 hostname (RFC 1123), whose labels with `--` in the third and fourth places are
/// IDNA A-labels (RFC 5891 §4.2.3.1), as JSON Schema's `hostname` format reads them.
pub fn is_hostname(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(|l| is_label(l) && is_a_label_if_tagged(l))
}

/// A label `??--…` must be an `xn--` A-label: its Punycode decodes to a label that IDNA
/// encodes back to the same A-label, that starts with no combining mark (both checked by
/// UTS 46), and that holds none of the characters whose use depends on their neighbours
/// (RFC 5892 CONTEXTJ and CONTEXTO) or that IDNA 2008 disallows while UTS 46 maps them.
fn is_a_label_if_tagged(l: &str) -> bool {
    if l.get(2..4) != Some("--") {
        return true;
    }
    let Some(payload) = l.strip_prefix("xn--") else {
        return false;
    };
    let Some(decoded) = idna::punycode::decode_to_string(payload) else {
        return false;
    };
    let contextual = |c: char| {
        matches!(c, '\u{200C}' | '\u{200D}' | '\u{00B7}' | '\u{0375}' | '\u{05F3}' | '\u{05F4}'
            | '\u{30FB}' | '\u{0660}'..='\u{0669}' | '\u{06F0}'..='\u{06F9}' | '\u{0640}'
            | '\u{07FA}' | '\u{302E}' | '\u{302F}' | '\u{3031}'..='\u{3035}' | '\u{303B}')
    };
    !decoded.is_empty()
        && !decoded.chars().any(contextual)
        && idna::domain_to_ascii_strict(&decoded).is_ok_and(|a| a == l)
}

/// An absolute RFC 3986 URI whose scheme is http or https and whose host is not empty.
pub fn is_http_url(s: &str) -> bool {
    fluent_uri::Uri::parse(s).is_ok_and(|u| {
        let scheme = u.scheme().as_str();
        (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
            && u.authority().is_some_and(|a| !a.host().is_empty())
    })
}

/// The §1.4 email rule as a regular expression, without anchors.
macro_rules! email_rule {
    () => {
        concat!(
            r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
            r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
        )
    };
}

/// White space as `str::trim` reads it (Unicode `White_Space`).
macro_rules! white_space {
    () => {
        r"[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*"
    };
}

/// §1.4 email as a JSON Schema pattern, published instead of `format: email` (whose RFC
/// 5321 reading differs: quoted local parts, one-label domains). The white space around the
/// value is what `str::trim` removes, since the trimmed value is the one checked and kept.
pub const EMAIL_PATTERN: &str = concat!("^", white_space!(), email_rule!(), white_space!(), "$");

/// An email as answered: stored trimmed, so without the surrounding white space.
pub const STORED_EMAIL_PATTERN: &str = concat!("^", email_rule!(), "$");

/// A string field's rules.
#[derive(Debug, Clone, Default)]
pub struct Str {
    pub min: Option<usize>,
    pub max: Option<usize>,
    pub format: Option<Format>,
    pub pattern: Option<&'static str>,
    pub one_of: Option<&'static [&'static str]>,
    /// `""` is checked like any other value instead of clearing the field (§1.1): for
    /// names, references and list entries that cannot be empty. Published as `minLength`.
    pub non_empty: bool,
    /// A rule the server applies that JSON Schema cannot state, published with the property.
    pub description: Option<&'static str>,
}

/// The shape a JSON value must have.
#[derive(Debug, Clone)]
pub enum Schema {
    Str(Str),
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Bool,
    /// `true` only (`extendDueDate`).
    ConstTrue,
    /// Any of array, boolean, number, object or string, whose compact serialisation holds at
    /// most `max_serialized` characters. `None` where the length is checked on the text
    /// kept rather than on the parsed value (`requestDetails`).
    AnyValue {
        max_serialized: Option<usize>,
    },
    Array {
        items: Box<Schema>,
        min: Option<usize>,
        max: Option<usize>,
        unique: bool,
    },
    Object(Object),
    /// An object whose keys are free and whose values all follow one schema, with at most
    /// `max` keys (translation tables).
    Map {
        values: Box<Schema>,
        max: Option<usize>,
    },
    /// One object, or an array of `min..=max` such objects (bulk create).
    ObjectOrArray {
        object: Box<Schema>,
        min: usize,
        max: usize,
    },
    /// A schema with what it means for its readers: validated as `schema`, published with
    /// `text` as its `description` (before the rule of a string field, when it has one).
    Doc {
        text: &'static str,
        schema: Box<Schema>,
    },
    /// A schema published with the defaults of its properties: `values` is shaped like the
    /// objects `schema` declares, and each value becomes the `default` of its property.
    Defaults {
        values: Value,
        schema: Box<Schema>,
    },
}

/// An object with `additionalProperties: false`.
#[derive(Debug, Clone, Default)]
pub struct Object {
    pub props: Vec<(&'static str, Schema)>,
    pub required: Vec<&'static str>,
    /// At least one of these must be present (and not empty).
    pub any_of: Vec<&'static str>,
    /// Minimum number of properties (1 for PATCH bodies).
    pub min_props: usize,
}

/// Builders that keep body declarations short.
pub fn string() -> Str {
    Str::default()
}
impl Str {
    pub fn max(mut self, n: usize) -> Self {
        self.max = Some(n);
        self
    }
    pub fn min(mut self, n: usize) -> Self {
        self.min = Some(n);
        self
    }
    pub fn format(mut self, f: Format) -> Self {
        self.format = Some(f);
        self
    }
    pub fn pattern(mut self, p: &'static str) -> Self {
        self.pattern = Some(p);
        self
    }
    pub fn one_of(mut self, v: &'static [&'static str]) -> Self {
        self.one_of = Some(v);
        self
    }
    pub fn non_empty(mut self) -> Self {
        self.non_empty = true;
        self
    }
    pub fn describe(mut self, rule: &'static str) -> Self {
        self.description = Some(rule);
        self
    }
    pub fn s(self) -> Schema {
        Schema::Str(self)
    }
}

/// The longest string accepted where the contract names no maximum (§1.4).
pub const UNBOUNDED: usize = 4096;

/// What a JSON value is as an integer field. JSON Schema counts `1e2` and `30.0` as
/// integers; beyond the 64-bit range a whole number is out of range, not a non-integer.
enum Integer {
    Fits(i64),
    Above,
    Below,
    Not,
}

fn integer(v: &Value) -> Integer {
    let Value::Number(n) = v else {
        return Integer::Not;
    };
    if let Some(i) = n.as_i64() {
        return Integer::Fits(i);
    }
    if n.is_u64() {
        return Integer::Above;
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 => {
            // 2^63 is the first whole float past i64::MAX; -2^63 is i64::MIN itself.
            if f >= 9_223_372_036_854_775_808.0 {
                Integer::Above
            } else if f < -9_223_372_036_854_775_808.0 {
                Integer::Below
            } else {
                Integer::Fits(f as i64)
            }
        }
        _ => Integer::Not,
    }
}

/// Checks an integer field; `loc` names it in the message.
fn check_int(
    v: &Value,
    min: Option<i64>,
    max: Option<i64>,
    loc: &(impl std::fmt::Display + ?Sized),
) -> Result<(), String> {
    let above = |m: i64| format!("{loc} must be <= {m}");
    let below = |m: i64| format!("{loc} must be >= {m}");
    let n = match integer(v) {
        Integer::Fits(n) => n,
        Integer::Above => return Err(above(max.unwrap_or(i64::MAX))),
        Integer::Below => return Err(below(min.unwrap_or(i64::MIN))),
        Integer::Not => return Err(format!("{loc} must be integer")),
    };
    if let Some(m) = min.filter(|m| n < *m) {
        return Err(below(m));
    }
    if let Some(m) = max.filter(|m| n > *m) {
        return Err(above(m));
    }
    Ok(())
}

/// The compiled regex of a declared pattern, compiled once and kept for the life of the
/// process (the patterns are the declarations' own, a fixed set). The regex is shared, not
/// cloned: a clone starts with empty search caches, and rebuilding them on every string
/// checked cost about a tenth of the server's time on consent batches.
/// Each thread finds it through a map of its own, keyed by the pattern's address: a
/// string of a batch of consent events checked without taking a lock or hashing the
/// pattern's text.
fn regex_for(p: &'static str) -> &'static Regex {
    static CACHE: OnceLock<
        std::sync::Mutex<std::collections::HashMap<&'static str, &'static Regex>>,
    > = OnceLock::new();
    thread_local! {
        static SEEN: std::cell::RefCell<std::collections::HashMap<(usize, usize), &'static Regex>> =
            Default::default();
    }
    let key = (p.as_ptr() as usize, p.len());
    if let Some(r) = SEEN.with(|m| m.borrow().get(&key).copied()) {
        return r;
    }
    let shared = {
        let cache = CACHE.get_or_init(Default::default);
        let mut g = cache.lock().unwrap_or_else(|e| e.into_inner());
        *g.entry(p)
            .or_insert_with(|| Box::leak(Box::new(Regex::new(p).expect("valid pattern"))))
    };
    SEEN.with(|m| m.borrow_mut().insert(key, shared));
    shared
}

/// Checks one string against its rules; `loc` names the field in the message.
pub fn check_str(
    rule: &Str,
    s: &str,
    loc: &(impl std::fmt::Display + ?Sized),
) -> Result<(), String> {
    let len = s.chars().count();
    if let Some(values) = rule.one_of {
        if !values.contains(&s) {
            return Err(format!(
                "{loc} must be equal to one of the allowed values: {}",
                values.join(", ")
            ));
        }
    }
    if let Some(max) = rule.max.or(if rule.one_of.is_none() {
        Some(UNBOUNDED)
    } else {
        None
    }) {
        if len > max {
            return Err(format!("{loc} must NOT have more than {max} characters"));
        }
    }
    // An empty string clears an optional field and passes format, pattern and minimum length.
    if s.is_empty() && !rule.non_empty {
        return Ok(());
    }
    if let Some(min) = rule.min {
        if len < min {
            return Err(format!("{loc} must NOT have fewer than {min} characters"));
        }
    }
    if let Some(f) = rule.format {
        if !f.check(s) {
            return Err(format!("{loc} must match format \"{}\"", f.name()));
        }
    }
    if let Some(p) = rule.pattern {
        if !regex_for(p).is_match(s) {
            return Err(format!("{loc} must match pattern \"{p}\""));
        }
    }
    Ok(())
}

/// Where a value is in a body, written out only for an error message: validating a body
/// builds no path strings.
#[derive(Clone, Copy)]
pub enum Loc<'a> {
    /// The location given by the caller (`body`, `body/items`).
    At(&'a str),
    /// A property of the value at a location.
    Key(&'a Loc<'a>, &'a str),
    /// An item of the array at a location.
    Index(&'a Loc<'a>, usize),
}

impl std::fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loc::At(s) => f.write_str(s),
            Loc::Key(parent, key) => write!(f, "{parent}/{key}"),
            Loc::Index(parent, i) => write!(f, "{parent}/{i}"),
        }
    }
}

impl Schema {
    /// Validates `v`; the error is the 400 message of the first violation found.
    pub fn validate(&self, v: &Value, loc: &str) -> Result<(), String> {
        self.validate_at(v, &Loc::At(loc))
    }

    /// [`Schema::validate`] of the value at `loc`.
    fn validate_at(&self, v: &Value, loc: &Loc<'_>) -> Result<(), String> {
        match self {
            Schema::Str(rule) => match v {
                Value::String(s) => check_str(rule, s, loc),
                _ => Err(format!("{loc} must be string")),
            },
            Schema::Int { min, max } => check_int(v, *min, *max, loc),
            Schema::Bool => match v {
                Value::Bool(_) => Ok(()),
                _ => Err(format!("{loc} must be boolean")),
            },
            Schema::ConstTrue => match v {
                Value::Bool(true) => Ok(()),
                Value::Bool(false) => Err(format!("{loc} must be equal to constant")),
                _ => Err(format!("{loc} must be boolean")),
            },
            Schema::AnyValue { max_serialized } => {
                if v.is_null() {
                    return Err(format!(
                        "{loc} must be array, boolean, number, object or string"
                    ));
                }
                let Some(max_serialized) = max_serialized else {
                    return Ok(());
                };
                let len = match v {
                    Value::String(s) => s.chars().count(),
                    other => other.to_string().chars().count(),
                };
                if len > *max_serialized {
                    return Err(format!(
                        "{loc} must NOT have more than {max_serialized} characters"
                    ));
                }
                Ok(())
            }
            Schema::Array {
                items,
                min,
                max,
                unique,
            } => {
                let Value::Array(arr) = v else {
                    return Err(format!("{loc} must be array"));
                };
                if let Some(m) = min.filter(|m| arr.len() < *m) {
                    return Err(format!("{loc} must NOT have fewer than {m} items"));
                }
                if let Some(m) = max.filter(|m| arr.len() > *m) {
                    return Err(format!("{loc} must NOT have more than {m} items"));
                }
                for (i, item) in arr.iter().enumerate() {
                    items.validate_at(item, &Loc::Index(loc, i))?;
                }
                if *unique {
                    for (i, a) in arr.iter().enumerate() {
                        if arr[..i].contains(a) {
                            return Err(format!("{loc} must NOT have duplicate items"));
                        }
                    }
                }
                Ok(())
            }
            Schema::Object(o) => o.validate_at(v, loc),
            Schema::Map { values, max } => {
                let Value::Object(map) = v else {
                    return Err(format!("{loc} must be object"));
                };
                if let Some(m) = max.filter(|m| map.len() > *m) {
                    return Err(format!("{loc} must NOT have more than {m} properties"));
                }
                for (k, item) in map {
                    values.validate_at(item, &Loc::Key(loc, k))?;
                }
                Ok(())
            }
            Schema::ObjectOrArray { object, min, max } => match v {
                Value::Object(_) => object.validate_at(v, loc),
                Value::Array(arr) => {
                    if arr.len() < *min {
                        return Err(format!("{loc} must NOT have fewer than {min} items"));
                    }
                    if arr.len() > *max {
                        return Err(format!("{loc} must NOT have more than {max} items"));
                    }
                    for (i, item) in arr.iter().enumerate() {
                        object.validate_at(item, &Loc::Index(loc, i))?;
                    }
                    Ok(())
                }
                _ => Err(format!("{loc} must be object or array")),
            },
            Schema::Doc { schema, .. } | Schema::Defaults { schema, .. } => {
                schema.validate_at(v, loc)
            }
        }
    }

    /// This schema published with `values` as the defaults of its properties (see
    /// [`with_defaults`]).
    pub fn defaults(self, values: Value) -> Schema {
        Schema::Defaults {
            values,
            schema: Box::new(self),
        }
    }

    /// This schema described as `text` (what the value means and its rule), published as its
    /// `description`. An empty text leaves the schema as it is.
    pub fn doc(self, text: &'static str) -> Schema {
        let text = text.trim();
        if text.is_empty() {
            return self;
        }
        Schema::Doc {
            text,
            schema: Box::new(self),
        }
    }

    /// A validated value in the form it is kept in: integers written `1e2` or `30.0` as
    /// `100` and `30`, and emails trimmed (§1.4). Borrowed when nothing changes, which is
    /// the usual case, so a body is copied only when it has something to rewrite.
    pub fn canonical<'v>(&self, v: &'v Value) -> Cow<'v, Value> {
        match (self, v) {
            (Schema::Int { .. }, Value::Number(n)) if !n.is_i64() => match integer(v) {
                Integer::Fits(i) => Cow::Owned(Value::from(i)),
                _ => Cow::Borrowed(v),
            },
            (Schema::Str(rule), Value::String(s))
                if rule.format == Some(Format::Email) && s.trim().len() != s.len() =>
            {
                Cow::Owned(Value::String(s.trim().to_string()))
            }
            (Schema::Array { items, .. }, Value::Array(a))
            | (Schema::ObjectOrArray { object: items, .. }, Value::Array(a)) => {
                let mut out: Option<Vec<Value>> = None;
                for (i, item) in a.iter().enumerate() {
                    if let Cow::Owned(c) = items.canonical(item) {
                        out.get_or_insert_with(|| a.clone())[i] = c;
                    }
                }
                out.map_or(Cow::Borrowed(v), |a| Cow::Owned(Value::Array(a)))
            }
            (Schema::ObjectOrArray { object, .. }, Value::Object(_)) => object.canonical(v),
            (Schema::Doc { schema, .. }, _) | (Schema::Defaults { schema, .. }, _) => {
                schema.canonical(v)
            }
            (Schema::Map { values, .. }, Value::Object(map)) => {
                let mut out: Option<Map<String, Value>> = None;
                for (k, child) in map {
                    if let Cow::Owned(c) = values.canonical(child) {
                        out.get_or_insert_with(|| map.clone()).insert(k.clone(), c);
                    }
                }
                out.map_or(Cow::Borrowed(v), |m| Cow::Owned(Value::Object(m)))
            }
            (Schema::Object(o), Value::Object(map)) => {
                let mut out: Option<Map<String, Value>> = None;
                for (k, schema) in &o.props {
                    if let Some(Cow::Owned(c)) = map.get(*k).map(|child| schema.canonical(child)) {
                        out.get_or_insert_with(|| map.clone())
                            .insert((*k).to_string(), c);
                    }
                }
                out.map_or(Cow::Borrowed(v), |m| Cow::Owned(Value::Object(m)))
            }
            _ => Cow::Borrowed(v),
        }
    }

    /// The JSON Schema (draft 2020-12, as OpenAPI 3.1 uses) of this declaration.
    pub fn json_schema(&self) -> Value {
        match self {
            Schema::Str(r) => {
                let mut m = Map::new();
                m.insert("type".into(), json!("string"));
                if let Some(v) = r.one_of {
                    m.insert("enum".into(), json!(v));
                } else {
                    m.insert("maxLength".into(), json!(r.max.unwrap_or(UNBOUNDED)));
                }
                let min = if r.non_empty {
                    Some(r.min.unwrap_or(1).max(1))
                } else {
                    r.min
                };
                if let Some(v) = min {
                    m.insert("minLength".into(), json!(v));
                }
                match r.format {
                    Some(Format::Email) => {
                        m.insert("pattern".into(), json!(EMAIL_PATTERN));
                    }
                    Some(f) => {
                        m.insert("format".into(), json!(f.name()));
                    }
                    None => {}
                }
                if let Some(p) = r.pattern {
                    m.insert("pattern".into(), json!(p));
                }
                // `""` clears the field and passes its other rules (§1.1): published as the
                // alternative it is wherever those rules alone would refuse it.
                let refuses_empty = min.is_some_and(|n| n > 0)
                    || r.format.is_some()
                    || r.pattern.is_some_and(|p| !regex_for(p).is_match(""));
                let mut schema = if r.one_of.is_none() && !r.non_empty && refuses_empty {
                    let mut outer = Map::new();
                    outer.insert("anyOf".into(), json!([m, {"const": ""}]));
                    outer
                } else {
                    m
                };
                if let Some(d) = r.description {
                    schema.insert("description".into(), json!(d));
                }
                Value::Object(schema)
            }
            Schema::Int { min, max } => int_json_schema(*min, *max),
            Schema::Bool => json!({"type": "boolean"}),
            Schema::ConstTrue => json!({"type": "boolean", "const": true}),
            Schema::AnyValue { .. } => json!({"oneOf": [
                {"type": "array", "items": {}}, {"type": "boolean"}, {"type": "number"},
                {"type": "object"}, {"type": "string"}]}),
            Schema::Array {
                items,
                min,
                max,
                unique,
            } => {
                let mut m = Map::new();
                m.insert("type".into(), json!("array"));
                m.insert("items".into(), items.json_schema());
                if let Some(v) = min {
                    m.insert("minItems".into(), json!(v));
                }
                if let Some(v) = max {
                    m.insert("maxItems".into(), json!(v));
                }
                if *unique {
                    m.insert("uniqueItems".into(), json!(true));
                }
                Value::Object(m)
            }
            Schema::Object(o) => o.json_schema(),
            Schema::Map { values, max } => {
                let mut m = Map::new();
                m.insert("type".into(), json!("object"));
                m.insert("additionalProperties".into(), values.json_schema());
                if let Some(n) = max {
                    m.insert("maxProperties".into(), json!(n));
                }
                Value::Object(m)
            }
            Schema::ObjectOrArray { object, min, max } => json!({"oneOf": [
                object.json_schema(),
                {"type": "array", "items": object.json_schema(), "minItems": min, "maxItems": max}
            ]}),
            Schema::Doc { text, schema } => {
                let mut published = schema.json_schema();
                if let Value::Object(m) = &mut published {
                    let described = match m.get("description").and_then(Value::as_str) {
                        Some(rule) => format!("{text} Rule: {rule}."),
                        None => (*text).to_string(),
                    };
                    m.insert("description".into(), Value::String(described));
                }
                published
            }
            Schema::Defaults { values, schema } => {
                let mut published = schema.json_schema();
                with_defaults(&mut published, values);
                published
            }
        }
    }
}

/// Publishes `defaults` (a tree of values shaped like the objects `schema` declares) as the
/// `default` of each property they give a value, however deep.
pub fn with_defaults(schema: &mut Value, defaults: &Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (key, prop) in props.iter_mut() {
        match defaults.get(key) {
            Some(d) if d.is_object() => with_defaults(prop, d),
            Some(d) => {
                if let Some(m) = prop.as_object_mut() {
                    m.insert("default".into(), d.clone());
                }
            }
            None => {}
        }
    }
}

/// The JSON Schema of an integer: always bounded, by the 64-bit range where the field
/// declares no bound, because that is what is stored and enforced.
pub fn int_json_schema(min: Option<i64>, max: Option<i64>) -> Value {
    json!({"type": "integer", "minimum": min.unwrap_or(i64::MIN), "maximum": max.unwrap_or(i64::MAX)})
}

impl Object {
    pub fn validate(&self, v: &Value, loc: &str) -> Result<(), String> {
        self.validate_at(v, &Loc::At(loc))
    }

    fn validate_at(&self, v: &Value, loc: &Loc<'_>) -> Result<(), String> {
        let Value::Object(map) = v else {
            return Err(format!("{loc} must be object"));
        };
        for key in map.keys() {
            if !self.props.iter().any(|(k, _)| k == key) {
                return Err(format!(
                    "{loc} must NOT have additional properties: '{key}'"
                ));
            }
        }
        for r in &self.required {
            if !map.contains_key(*r) {
                return Err(format!("{loc} must have required property '{r}'"));
            }
        }
        if map.len() < self.min_props {
            return Err(format!(
                "{loc} must NOT have fewer than {} properties",
                self.min_props
            ));
        }
        for (k, schema) in &self.props {
            if let Some(val) = map.get(*k) {
                schema.validate_at(val, &Loc::Key(loc, k))?;
            }
        }
        if !self.any_of.is_empty()
            && !self
                .any_of
                .iter()
                .any(|k| map.get(*k).is_some_and(|v| v.as_str() != Some("")))
        {
            return Err(format!(
                "{loc} must have at least one of the properties: {}",
                self.any_of.join(", ")
            ));
        }
        Ok(())
    }

    pub fn json_schema(&self) -> Value {
        let mut props = Map::new();
        for (k, s) in &self.props {
            props.insert((*k).into(), s.json_schema());
        }
        let mut m = Map::new();
        m.insert("type".into(), json!("object"));
        m.insert("properties".into(), Value::Object(props));
        if !self.required.is_empty() {
            m.insert("required".into(), json!(self.required));
        }
        m.insert("additionalProperties".into(), json!(false));
        if self.min_props > 0 {
            m.insert("minProperties".into(), json!(self.min_props));
        }
        if !self.any_of.is_empty() {
            // Present and not the clearing `""`.
            let alts: Vec<Value> = self
                .any_of
                .iter()
                .map(|k| json!({"required": [k], "properties": {*k: {"not": {"const": ""}, "description": format!("`{k}` is present and not `\"\"`.")}}}))
                .collect();
            m.insert("anyOf".into(), Value::Array(alts));
        }
        Value::Object(m)
    }
}

/// Declares a request body once. Each field is written a single time, with its Rust type,
/// its wire name, its rule and its `///` description (what it means, for the reader of the
/// published document); the macro derives the struct the validated JSON deserializes into
/// and [`props`](#method.props), the property list an [`Object`] schema validates with (§1.5
/// messages) and publishes, each property described by its field's `///` text. A field's
/// serde attributes follow its description. Object-level rules (required, at least one of,
/// minimum properties) are given where the object is built from `props()`.
///
/// ```ignore
/// body! {
///     pub struct DomainBody {
///         /// The host name visitors reach the site on.
///         domain: Option<String> => "domain": string().max(253).format(Format::Hostname).s(),
///     }
/// }
/// ```
#[macro_export]
macro_rules! body {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $(#[serde($($serde:tt)*)])*
                $field:ident : $ty:ty => $wire:literal : $rule:expr
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        $vis struct $name {
            $(
                $(#[doc = $doc])*
                $(#[serde($($serde)*)])*
                #[serde(rename = $wire, default)] pub $field: $ty,
            )*
        }
        impl $name {
            /// The declared properties with their rules and descriptions, in declaration order.
            pub fn props() -> Vec<(&'static str, $crate::schema::Schema)> {
                vec![ $( ($wire, ($rule).doc(concat!($($doc),*))) ),* ]
            }
        }
    };
}

/// Validates `raw` against `schema` (the §1.5 message of the first violation is the 400)
/// and deserializes it into the body type declared with [`body!`].
pub fn parse<T: serde::de::DeserializeOwned>(raw: &Value, schema: &Schema) -> crate::Result<T> {
    schema
        .validate(raw, "body")
        .map_err(crate::Error::BadRequest)?;
    read(raw, schema)
}

/// Deserializes a validated value in its [canonical](Schema::canonical) form.
pub fn read<T: serde::de::DeserializeOwned>(valid: &Value, schema: &Schema) -> crate::Result<T> {
    T::deserialize(schema.canonical(valid).as_ref())
        .map_err(|e| crate::Error::bad(format!("body is invalid: {e}")))
}

/// The published JSON Schema of a response type, derived from its `Serialize` shape: every
/// subschema inline, no titles, and no `null` (absent values are omitted, §1.1) except on
/// the fields the contract declares nullable, marked `#[schemars(extend("nullable" = true))]`
/// (the marker itself is not published).
pub fn published<T: schemars::JsonSchema>() -> Value {
    use schemars::generate::{Contract, SchemaSettings};
    use schemars::transform::RecursiveTransform;
    let mut settings = SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
        s.contract = Contract::Serialize;
    });
    settings
        .transforms
        .push(Box::new(RecursiveTransform(|s: &mut schemars::Schema| {
            s.remove("title");
            // Answered emails are the stored ones, which passed the §1.4 rule.
            if s.get("format").and_then(Value::as_str) == Some("email") {
                s.remove("format");
                s.insert("pattern".into(), json!(STORED_EMAIL_PATTERN));
            }
            if s.remove("nullable") == Some(Value::Bool(true)) {
                return;
            }
            if let Some(Value::Array(types)) = s.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    s.insert("type".into(), only);
                }
            }
        })));
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

/// The schema of a field the contract marks *nullable* (§1.1): its type, or `null`. For
/// `#[schemars(schema_with = "nullable::<T>")]` on an `Option<T>` that is always emitted.
pub fn nullable<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    schemars::json_schema!({"anyOf": [generator.subschema_for::<T>(), {"type": "null"}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_the_contract() {
        assert!(is_email("jane.doe+x@example.co.uk"));
        assert!(!is_email("jane..doe@example.com"));
        assert!(!is_email("jane@localhost"));
        assert!(!is_email("jane@-example.com"));
        assert!(!is_email("@example.com"));
    }

    /// The published email pattern accepts exactly what the server's rule does.
    #[test]
    fn the_email_pattern_is_the_email_rule() {
        let pattern = regex_for(EMAIL_PATTERN);
        let long_label = "a".repeat(64);
        for s in [
            "jane.doe+x@example.co.uk",
            " jane@example.com\u{3000}\n",
            "\u{85}j@a-b.io",
            "jane..doe@example.com",
            "jane@localhost",
            "jane@-example.com",
            "jane@example-.com",
            "@example.com",
            "jane.@example.com",
            "\"jane\"@example.com",
            "jane@exa_mple.com",
            "ja ne@example.com",
            "\u{1c}jane@example.com",
            "jane@example.com\u{feff}",
            "jané@example.com",
            &format!("j@{long_label}.com"),
        ] {
            assert_eq!(pattern.is_match(s), is_email(s.trim()), "{s:?}");
            let stored = regex_for(STORED_EMAIL_PATTERN);
            assert_eq!(stored.is_match(s), is_email(s) && s.trim() == s, "{s:?}");
        }
    }

    #[test]
    fn hostnames_with_idna_tags_are_a_labels() {
        assert!(is_hostname("localhost"));
        assert!(is_hostname("xn--bcher-kva.example"));
        assert!(is_hostname("a-b--c.example"));
        assert!(!is_hostname("ab--cd.example"));
        assert!(!is_hostname("XN--bcher-kva.example"));
        assert!(!is_hostname("xn--.example"));
        assert!(!is_hostname("xn--zz-.example"));
        // U+00B7 MIDDLE DOT between two `l` is allowed by RFC 5892; it is refused all the same.
        let middle_dot = idna::punycode::encode_str("l\u{b7}l").expect("encodes");
        assert!(!is_hostname(&format!("xn--{middle_dot}.example")));
    }

    #[test]
    fn uris_follow_rfc_3986() {
        assert!(Format::Uri.check("urn:isbn:0451450523"));
        assert!(Format::Uri.check("https://example.com/a%20b?q#f"));
        assert!(!Format::Uri.check("https://example.com/a b"));
        assert!(!Format::Uri.check("https://example.com/%zz"));
        assert!(!Format::Uri.check("//example.com/path"));
        assert!(!Format::Uri.check("https:\\\\example.com"));
        assert!(is_http_url("HTTPS://example.com"));
        assert!(!is_http_url("https:///path"));
        assert!(!is_http_url("ftp://example.com"));
        assert!(!is_http_url("https://exa mple.com"));
    }

    /// `""` clears an optional field unless the field is declared non-empty; then it meets
    /// the field's rules like any other value, and the minimum length is published.
    #[test]
    fn non_empty_strings_do_not_clear() {
        let id = string().format(Format::Uuid);
        assert_eq!(check_str(&id, "", "body/id"), Ok(()));
        let id = id.non_empty();
        assert_eq!(
            check_str(&id, "", "body/id"),
            Err("body/id must match format \"uuid\"".into())
        );
        let name = string().min(2).non_empty();
        assert_eq!(
            check_str(&name, "", "body/name"),
            Err("body/name must NOT have fewer than 2 characters".into())
        );
        assert_eq!(Schema::Str(id).json_schema()["minLength"], 1);
        assert_eq!(Schema::Str(name).json_schema()["minLength"], 2);
        // The clearing `""` is published where the field's own rules would refuse it.
        let cleared = Schema::Str(string().format(Format::Uuid)).json_schema();
        assert_eq!(cleared["anyOf"][0]["format"], "uuid");
        assert_eq!(cleared["anyOf"][1], json!({"const": ""}));
        let free = Schema::Str(string().max(10).pattern("^[a-z]*$")).json_schema();
        assert!(free.get("anyOf").is_none());
        let described = string().describe("a rule").s().json_schema();
        assert_eq!(described["description"], "a rule");
        assert!(described.get("minLength").is_none());
    }

    crate::body! {
        struct Described {
            /// What the field means,
            /// over two lines.
            a: Option<String> => "a": string().max(3).describe("its rule").s(),
            n: Option<i64> => "n": Schema::Int { min: Some(1), max: None },
        }
    }

    /// A field's `///` text is published as its description, before the rule of a string;
    /// a field without one has none, and the description changes nothing of the validation.
    #[test]
    fn body_fields_publish_their_descriptions() {
        let o = Object {
            props: Described::props(),
            ..Default::default()
        };
        let published = o.json_schema();
        assert_eq!(
            published["properties"]["a"]["description"],
            "What the field means, over two lines. Rule: its rule."
        );
        assert_eq!(published["properties"]["a"]["maxLength"], 3);
        assert!(published["properties"]["n"].get("description").is_none());
        assert_eq!(
            o.validate(&json!({"a": "abcd"}), "body"),
            Err("body/a must NOT have more than 3 characters".into())
        );
        let d: Described = parse(&json!({"a": "ab", "n": 2}), &Schema::Object(o)).unwrap();
        assert_eq!((d.a.as_deref(), d.n), (Some("ab"), Some(2)));
        let int = Schema::Int {
            min: Some(1),
            max: None,
        }
        .doc("A count.");
        assert_eq!(int.json_schema()["description"], "A count.");
        assert_eq!(
            int.validate(&json!(0), "body/n"),
            Err("body/n must be >= 1".into())
        );
        assert!(matches!(Schema::Bool.doc("  "), Schema::Bool));
        // Defaults are published on their properties, however deep, and validate nothing.
        let tree = Schema::Object(Object {
            props: vec![(
                "banner",
                Schema::Object(Object {
                    props: vec![("on", Schema::Bool), ("size", string().s())],
                    ..Default::default()
                }),
            )],
            ..Default::default()
        })
        .defaults(json!({"banner": {"on": true}}));
        let published = tree.json_schema();
        assert_eq!(
            published["properties"]["banner"]["properties"]["on"]["default"],
            true
        );
        assert!(published["properties"]["banner"]["properties"]["size"]
            .get("default")
            .is_none());
        assert!(published["properties"]["banner"].get("default").is_none());
        assert_eq!(
            tree.validate(&json!({"banner": {"on": 1}}), "body"),
            Err("body/banner/on must be boolean".into())
        );
    }

    #[test]
    fn integers_are_whole_numbers_in_range() {
        let days = Schema::Int {
            min: Some(1),
            max: Some(3650),
        };
        let version = Schema::Int {
            min: Some(1),
            max: None,
        };
        let at =
            |s: &Schema, text: &str| s.validate(&serde_json::from_str(text).unwrap(), "body/n");
        assert_eq!(at(&days, "1e2"), Ok(()));
        assert_eq!(at(&days, "30.0"), Ok(()));
        assert_eq!(at(&days, "1.5"), Err("body/n must be integer".into()));
        assert_eq!(at(&days, "\"3\""), Err("body/n must be integer".into()));
        assert_eq!(at(&days, "1e30"), Err("body/n must be <= 3650".into()));
        assert_eq!(at(&days, "-1e30"), Err("body/n must be >= 1".into()));
        assert_eq!(
            at(&version, "9223372036854775808"),
            Err("body/n must be <= 9223372036854775807".into())
        );
        assert_eq!(at(&version, "9223372036854775807"), Ok(()));
        assert_eq!(
            version.json_schema(),
            json!({"type": "integer", "minimum": 1, "maximum": i64::MAX})
        );
    }

    /// Integers and emails are kept in one form, and an untouched value is not copied.
    #[test]
    fn canonical_values() {
        let o = Schema::Object(Object {
            props: vec![
                (
                    "n",
                    Schema::Int {
                        min: None,
                        max: None,
                    },
                ),
                ("e", string().format(Format::Email).s()),
                (
                    "list",
                    Schema::Array {
                        items: Box::new(string().format(Format::Email).s()),
                        min: None,
                        max: None,
                        unique: false,
                    },
                ),
                (
                    "free",
                    Schema::AnyValue {
                        max_serialized: None,
                    },
                ),
            ],
            ..Default::default()
        });
        let raw: Value = serde_json::from_str(
            r#"{"n": 1e2, "e": " a@example.com ", "list": ["b@example.com", "\tc@example.com"], "free": 2.0}"#,
        )
        .unwrap();
        assert_eq!(o.validate(&raw, "body"), Ok(()));
        let kept = o.canonical(&raw).into_owned();
        assert_eq!(
            kept.to_string(),
            r#"{"n":100,"e":"a@example.com","list":["b@example.com","c@example.com"],"free":2.0}"#
        );
        assert!(matches!(o.canonical(&kept), Cow::Borrowed(_)));
    }

    #[test]
    fn object_messages_name_location_and_rule() {
        let o = Object {
            props: vec![("a", string().max(3).s()), ("b", Schema::Bool)],
            required: vec!["a"],
            ..Default::default()
        };
        assert_eq!(
            o.validate(&json!({"a": "x", "c": 1}), "body"),
            Err("body must NOT have additional properties: 'c'".into())
        );
        assert_eq!(
            o.validate(&json!({}), "body"),
            Err("body must have required property 'a'".into())
        );
        assert_eq!(
            o.validate(&json!({"a": "abcd"}), "body"),
            Err("body/a must NOT have more than 3 characters".into())
        );
        assert_eq!(
            o.validate(&json!({"a": null}), "body"),
            Err("body/a must be string".into())
        );
        assert_eq!(
            o.validate(&json!({"a": "", "b": 1}), "body"),
            Err("body/b must be boolean".into())
        );
    }
}

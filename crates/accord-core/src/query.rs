//! Query-string parameters (§1.7): declared per endpoint, validated in declaration order with
//! the contract's `querystring/...` messages. Unknown parameters are ignored.
use crate::json::NUL_RULE;
use crate::schema::{check_str, Format, Str};
use crate::{Error, Result};
use std::borrow::Cow;
use std::collections::HashMap;
use std::num::IntErrorKind;

/// What one parameter accepts.
#[derive(Debug, Clone)]
pub enum Kind {
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    Bool,
    Str(Str),
    /// Repeated key or `key[]`; every value must be one of the list.
    EnumList(&'static [&'static str]),
    /// Repeated key or `key[]`; every value must be a uuid.
    UuidList,
    DateTime,
    /// A date-time string or an integer of epoch milliseconds (metrics, §7.10); `epoch`
    /// names the documented form, whose message a value of neither form gets.
    Instant {
        epoch: bool,
    },
    /// Comma-separated names out of the list (`include`).
    Include(&'static [&'static str]),
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    /// What the parameter does and its rule, published as its `description`.
    pub description: Cow<'static, str>,
}

/// A parameter, to be described with [`Param::doc`].
pub fn p(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        kind,
        description: Cow::Borrowed(""),
    }
}

impl Param {
    /// Describes the parameter for the published document.
    pub fn doc(mut self, text: impl Into<Cow<'static, str>>) -> Param {
        self.description = text.into();
        self
    }
}

/// A validated parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Bool(bool),
    Str(String),
    List(Vec<String>),
    Date(i64),
}

/// The validated query of one request.
#[derive(Debug, Default, Clone)]
pub struct Query {
    values: HashMap<&'static str, Val>,
}

impl Query {
    pub fn int(&self, k: &str) -> Option<i64> {
        match self.values.get(k) {
            Some(Val::Int(n)) => Some(*n),
            _ => None,
        }
    }
    pub fn bool(&self, k: &str) -> Option<bool> {
        match self.values.get(k) {
            Some(Val::Bool(b)) => Some(*b),
            _ => None,
        }
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.values.get(k) {
            Some(Val::Str(s)) => Some(s),
            _ => None,
        }
    }
    pub fn list(&self, k: &str) -> Option<&[String]> {
        match self.values.get(k) {
            Some(Val::List(v)) => Some(v),
            _ => None,
        }
    }
    pub fn date(&self, k: &str) -> Option<i64> {
        match self.values.get(k) {
            Some(Val::Date(d)) => Some(*d),
            _ => None,
        }
    }
    pub fn has_include(&self, name: &str) -> bool {
        self.list("include")
            .is_some_and(|l| l.iter().any(|x| x == name))
    }
}

/// Splits a raw query string into name → values, folding `name[]` into `name`.
pub fn split(raw: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let k = k
            .strip_suffix("[]")
            .map(str::to_string)
            .unwrap_or_else(|| k.into_owned());
        out.entry(k).or_default().push(v.into_owned());
    }
    out
}

/// Validates `raw` against `spec`, in the order of `spec`.
pub fn parse(raw: Option<&str>, spec: &[Param]) -> Result<Query> {
    let mut raw = split(raw);
    let mut q = Query::default();
    for param in spec {
        let Some(values) = raw.remove(param.name) else {
            continue;
        };
        let loc = format!("querystring/{}", param.name);
        if values.iter().any(|v| v.contains('\0')) {
            return Err(Error::bad(format!("{loc} {NUL_RULE}")));
        }
        let single = |ty: &str| -> Result<String> {
            if values.len() != 1 {
                return Err(Error::bad(format!("{loc} must be {ty}")));
            }
            Ok(values[0].clone())
        };
        let val = match &param.kind {
            Kind::Int { min, max } => {
                let s = single("integer")?;
                let above = |m: i64| Error::bad(format!("{loc} must be <= {m}"));
                let below = |m: i64| Error::bad(format!("{loc} must be >= {m}"));
                let n: i64 = match s.trim().parse::<i64>() {
                    Ok(n) => n,
                    // Whole numbers past the 64-bit range are out of range, not non-integers.
                    Err(e) => match e.kind() {
                        IntErrorKind::PosOverflow => return Err(above(max.unwrap_or(i64::MAX))),
                        IntErrorKind::NegOverflow => return Err(below(min.unwrap_or(i64::MIN))),
                        _ => return Err(Error::bad(format!("{loc} must be integer"))),
                    },
                };
                if let Some(m) = min.filter(|m| n < *m) {
                    return Err(below(m));
                }
                if let Some(m) = max.filter(|m| n > *m) {
                    return Err(above(m));
                }
                Val::Int(n)
            }
            Kind::Bool => match single("boolean")?.as_str() {
                "true" => Val::Bool(true),
                "false" => Val::Bool(false),
                _ => return Err(Error::bad(format!("{loc} must be boolean"))),
            },
            Kind::Str(rule) => {
                let s = single("string")?;
                check_str(rule, &s, &loc).map_err(Error::BadRequest)?;
                Val::Str(s)
            }
            Kind::EnumList(allowed) => {
                for v in &values {
                    if !allowed.contains(&v.as_str()) {
                        return Err(Error::bad(format!(
                            "{loc} must be equal to one of the allowed values: {}",
                            allowed.join(", ")
                        )));
                    }
                }
                Val::List(values.clone())
            }
            Kind::UuidList => {
                for v in &values {
                    if !crate::ids::is_uuid(v) {
                        return Err(Error::bad(format!("{loc} must match format \"uuid\"")));
                    }
                }
                Val::List(values.iter().map(|v| v.to_ascii_lowercase()).collect())
            }
            Kind::DateTime => {
                let s = single("string")?;
                let d = crate::time::parse_rfc3339(&s)
                    .ok_or_else(|| Error::bad(format!("{loc} must match format \"date-time\"")))?;
                Val::Date(d)
            }
            Kind::Instant { epoch } => {
                let s = single(if *epoch { "integer" } else { "string" })?;
                let t = s.trim();
                let digits = t.strip_prefix('-').unwrap_or(t);
                let d = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    let (min, max) = (crate::metrics::MIN_INSTANT, crate::metrics::MAX_INSTANT);
                    match t.parse::<i64>() {
                        Ok(n) if n < min => {
                            return Err(Error::bad(format!("{loc} must be >= {min}")))
                        }
                        Ok(n) if n > max => {
                            return Err(Error::bad(format!("{loc} must be <= {max}")))
                        }
                        Ok(n) => n,
                        Err(_) if t.starts_with('-') => {
                            return Err(Error::bad(format!("{loc} must be >= {min}")))
                        }
                        Err(_) => return Err(Error::bad(format!("{loc} must be <= {max}"))),
                    }
                } else {
                    match crate::time::parse_rfc3339(&s) {
                        Some(d) => d,
                        None if *epoch => return Err(Error::bad(format!("{loc} must be integer"))),
                        None => {
                            return Err(Error::bad(format!(
                                "{loc} must match format \"date-time\""
                            )))
                        }
                    }
                };
                Val::Date(d)
            }
            Kind::Include(allowed) => {
                let s = single("string")?;
                let mut names = Vec::new();
                for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if !allowed.contains(&name) {
                        return Err(Error::bad(format!(
                            "{loc} must be equal to one of the allowed values: {}",
                            allowed.join(", ")
                        )));
                    }
                    names.push(name.to_string());
                }
                Val::List(names)
            }
        };
        q.values.insert(param.name, val);
    }
    if let (Some(s), Some(e)) = (q.date("startDate"), q.date("endDate")) {
        if s >= e {
            return Err(Error::bad(
                "querystring/startDate must be before querystring/endDate",
            ));
        }
    }
    Ok(q)
}

/// The paging parameters every list takes, with `sort` limited to `sorts` (first = default).
pub fn paging(sorts: &'static [&'static str]) -> Vec<Param> {
    vec![
        p(
            "offset",
            Kind::Int {
                min: Some(0),
                max: None,
            },
        )
        .doc("How many matching items to skip before the first one answered; default 0."),
        p(
            "limit",
            Kind::Int {
                min: Some(1),
                max: Some(1000),
            },
        )
        .doc("How many items to answer at most, 1 to 1000; default 100."),
        p("sort", Kind::Str(Str::default().one_of(sorts))).doc(format!(
            "The field the items are ordered by; default `{}`. Ties are broken by `id` in the same direction; items without a value come last.",
            sorts.first().copied().unwrap_or("dateCreated")
        )),
        p("order", Kind::Str(Str::default().one_of(&["asc", "desc"])))
            .doc("`asc` (smallest first) or `desc` (largest first); default `desc`."),
    ]
}

/// Paging values with the defaults of §1.7.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
    pub sort: String,
    pub desc: bool,
}

impl Page {
    pub fn from_query(q: &Query, default_sort: &str) -> Page {
        Page {
            offset: q.int("offset").unwrap_or(0),
            limit: q.int("limit").unwrap_or(100),
            sort: q.str("sort").unwrap_or(default_sort).to_string(),
            desc: q.str("order") != Some("asc"),
        }
    }
}

/// A uuid filter. An empty value is a malformed uuid, not an absent filter: in a query
/// string `""` does not clear anything.
pub fn uuid_param() -> Kind {
    Kind::Str(Str::default().format(Format::Uuid).non_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_repeat_or_use_brackets() {
        let spec = vec![p("status", Kind::EnumList(&["a", "b"]))];
        let q = parse(Some("status=a&status[]=b&x=1"), &spec).unwrap();
        assert_eq!(
            q.list("status").unwrap(),
            &["a".to_string(), "b".to_string()]
        );
        let e = parse(Some("status=c"), &spec).unwrap_err();
        assert_eq!(
            e,
            Error::bad("querystring/status must be equal to one of the allowed values: a, b")
        );
    }

    #[test]
    fn limit_is_bounded() {
        let e = parse(Some("limit=1001"), &paging(&["dateCreated"])).unwrap_err();
        assert_eq!(e, Error::bad("querystring/limit must be <= 1000"));
        let e = parse(
            Some("limit=99999999999999999999"),
            &paging(&["dateCreated"]),
        )
        .unwrap_err();
        assert_eq!(e, Error::bad("querystring/limit must be <= 1000"));
        let e = parse(
            Some("offset=99999999999999999999"),
            &paging(&["dateCreated"]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::bad("querystring/offset must be <= 9223372036854775807")
        );
        let e = parse(
            Some("offset=-99999999999999999999"),
            &paging(&["dateCreated"]),
        )
        .unwrap_err();
        assert_eq!(e, Error::bad("querystring/offset must be >= 0"));
        let e = parse(Some("limit=1e2"), &paging(&["dateCreated"])).unwrap_err();
        assert_eq!(e, Error::bad("querystring/limit must be integer"));
    }

    #[test]
    fn known_parameters_are_validated_when_empty_or_holding_nul() {
        let spec = vec![
            p("id", uuid_param()),
            p("text", Kind::Str(Str::default().max(8))),
        ];
        let e = parse(Some("id="), &spec).unwrap_err();
        assert_eq!(e, Error::bad("querystring/id must match format \"uuid\""));
        assert_eq!(parse(Some("text="), &spec).unwrap().str("text"), Some(""));
        let e = parse(Some("text=a%00b"), &spec).unwrap_err();
        assert_eq!(
            e,
            Error::bad("querystring/text must NOT contain the NUL character")
        );
        assert!(parse(Some("other=%00"), &spec).is_ok());
    }
}

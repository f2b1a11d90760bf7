//! A consent-event create body read straight from its bytes (DESIGN principle 4). A body of
//! a thousand events is otherwise a tree of JSON values, an object per event with a hashed
//! key per property, checked against the schema and then copied into the events: a fifth
//! of the server's work during ingestion.
//!
//! [`read`] takes the body only when it is plainly valid: objects where objects are
//! declared, known properties, each once, of
//! the declared types, each string passing the rule the schema declares for it (the same
//! [`Str`] rules, checked by [`check_str`]), no NUL character, and the item rules of
//! [`super::parse_events_body`]. Anything else gives `None`, and the caller reads the body
//! through the JSON value and the schema, which answers what the 400 says. So this path
//! decides nothing about invalid bodies, and where it answers, it answers what the
//! validating path gives (debug builds check that at every call).
use super::{
    Api, ConsentEventInput, MAX_EVENTS_PRIVACY, MAX_EVENTS_SITE, PRIVACY_IDENTITY, TYPE_OR_CATEGORY,
};
use crate::schema::{check_str, Format, Schema, Str};
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body<'a> {
    #[serde(borrow)]
    items: Vec<Object<Item<'a>>>,
}

/// A struct read from a JSON object only. A derived struct also reads an array, its
/// values taken by position, which the schema refuses.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Map<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Map<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Map(std::marker::PhantomData)).map(Object)
    }
}

/// An item as written; a property given twice or not declared fails the read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Item<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    project_user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    email: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    phone_number: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    concord_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    consent_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    category: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "texts")]
    subcategory: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default, deserialize_with = "text")]
    label: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    consent_state: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    consent_action: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    consent_date: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    expiration_date: Option<Cow<'a, str>>,
}

/// A JSON string, borrowed from the body when it has no escapes. `null` and every other
/// type fail.
struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

struct OneText<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for OneText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Text).map(OneText)
    }
}

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_str(Text).map(Some)
}

/// `subcategory`: one string or an array of strings.
struct Texts;

impl<'de> Visitor<'de> for Texts {
    type Value = Vec<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(vec![Cow::Borrowed(v)])
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(vec![Cow::Owned(v.to_owned())])
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(vec![Cow::Owned(v)])
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(OneText(s)) = seq.next_element()? {
            out.push(s);
        }
        Ok(out)
    }
}

fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Cow<'de, str>>>, D::Error> {
    d.deserialize_any(Texts).map(Some)
}

/// The item rules, taken once from the declaration the schema is built from.
struct Rules {
    project_user_id: Str,
    user_id: Str,
    email: Str,
    phone_number: Str,
    concord_id: Str,
    consent_type: Str,
    category: Str,
    label: Str,
    consent_state: Str,
    consent_action: Str,
    consent_date: Str,
    expiration_date: Str,
    /// An item of `subcategory`, and how many items it holds at most and at least.
    subcategory: Str,
    subcategory_max: Option<usize>,
    subcategory_min: Option<usize>,
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| {
        let props = ConsentEventInput::props();
        let find = |name: &str| -> &Schema {
            let (_, s) = props
                .iter()
                .find(|(k, _)| *k == name)
                .unwrap_or_else(|| panic!("declared property {name}"));
            bare(s)
        };
        let string = |name: &str| match find(name) {
            Schema::Str(r) => r.clone(),
            other => panic!("{name} is declared as a string, not {other:?}"),
        };
        let (subcategory, subcategory_min, subcategory_max) = match find("subcategory") {
            Schema::Array {
                items,
                min,
                max,
                unique: false,
            } => match bare(items) {
                Schema::Str(r) => (r.clone(), *min, *max),
                other => panic!("subcategory items are strings, not {other:?}"),
            },
            other => panic!("subcategory is declared as an array, not {other:?}"),
        };
        Rules {
            project_user_id: string("projectUserId"),
            user_id: string("userId"),
            email: string("email"),
            phone_number: string("phoneNumber"),
            concord_id: string("concordId"),
            consent_type: string("consentType"),
            category: string("category"),
            label: string("label"),
            consent_state: string("consentState"),
            consent_action: string("consentAction"),
            consent_date: string("consentDate"),
            expiration_date: string("expirationDate"),
            subcategory,
            subcategory_max,
            subcategory_min,
        }
    })
}

/// A schema without the descriptions around it.
fn bare(s: &Schema) -> &Schema {
    match s {
        Schema::Doc { schema, .. } | Schema::Defaults { schema, .. } => bare(schema),
        other => other,
    }
}

/// The events of a create body when it is plainly valid, as
/// [`super::parse_events_body`] would read them; `None` otherwise.
pub(super) fn read(bytes: &[u8], api: Api) -> Option<Vec<ConsentEventInput>> {
    let Object(body): Object<Body<'_>> = serde_json::from_slice(bytes).ok()?;
    let max = match api {
        Api::Privacy => MAX_EVENTS_PRIVACY,
        Api::Site => MAX_EVENTS_SITE,
    };
    if body.items.is_empty() || body.items.len() > max {
        return None;
    }
    let rules = rules();
    body.items
        .into_iter()
        .map(|Object(item)| event(item, api, rules))
        .collect()
}

/// A string field that passes its rule, owned and in its kept form (an email trimmed).
fn field(v: Option<Cow<'_, str>>, rule: &Str) -> Option<Option<String>> {
    match v {
        None => Some(None),
        Some(s) if s.contains('\0') || check_str(rule, &s, "").is_err() => None,
        Some(s) if rule.format == Some(Format::Email) && s.trim().len() != s.len() => {
            Some(Some(s.trim().to_string()))
        }
        Some(s) => Some(Some(s.into_owned())),
    }
}

/// True when the value is there and not `""`.
fn given(v: &Option<Cow<'_, str>>) -> bool {
    v.as_deref().is_some_and(|s| !s.is_empty())
}

fn event(item: Item<'_>, api: Api, r: &Rules) -> Option<ConsentEventInput> {
    if api == Api::Site
        && (item.project_user_id.is_some()
            || item.user_id.is_some()
            || item.email.is_some()
            || item.phone_number.is_some()
            || item.concord_id.is_some()
            || item.consent_date.is_some()
            || item.expiration_date.is_some())
    {
        return None;
    }
    // The object's own rules: the required properties, one identity (Privacy API), and a
    // type or a category, each present and not empty.
    debug_assert_eq!(PRIVACY_IDENTITY.len(), 5);
    debug_assert_eq!(TYPE_OR_CATEGORY, ["consentType", "category"]);
    if item.consent_state.is_none() || item.consent_action.is_none() {
        return None;
    }
    let identified = given(&item.concord_id)
        || given(&item.email)
        || given(&item.phone_number)
        || given(&item.user_id)
        || given(&item.project_user_id);
    if api == Api::Privacy && !identified {
        return None;
    }
    if !given(&item.consent_type) && !given(&item.category) {
        return None;
    }
    let subcategory = match item.subcategory {
        None => None,
        Some(items) => {
            if r.subcategory_max.is_some_and(|m| items.len() > m)
                || r.subcategory_min.is_some_and(|m| items.len() < m)
            {
                return None;
            }
            let mut out = Vec::with_capacity(items.len());
            for s in items {
                // Lowercased before the rule applies, as the validating path does.
                let s = s.to_lowercase();
                if s.is_empty() || s.contains('\0') || check_str(&r.subcategory, &s, "").is_err() {
                    return None;
                }
                out.push(s);
            }
            Some(out)
        }
    };
    Some(ConsentEventInput {
        project_user_id: field(item.project_user_id, &r.project_user_id)?,
        user_id: field(item.user_id, &r.user_id)?,
        email: field(item.email, &r.email)?,
        phone_number: field(item.phone_number, &r.phone_number)?,
        concord_id: field(item.concord_id, &r.concord_id)?,
        consent_type: field(item.consent_type, &r.consent_type)?,
        category: field(item.category, &r.category)?,
        subcategory,
        label: field(item.label, &r.label)?,
        consent_state: field(item.consent_state, &r.consent_state)??,
        consent_action: field(item.consent_action, &r.consent_action)??,
        consent_date: field(item.consent_date, &r.consent_date)?,
        expiration_date: field(item.expiration_date, &r.expiration_date)?,
    })
}

//! Regions and languages (§7.8): location codes and their validation, the `EU` and `EEA`
//! aliases, the one resolution of a visitor's geography to a Region (used by the Privacy
//! API, the site client and the GCM scan alike), the settings tree with its defaults and
//! template presets, the request bodies, the Region object answered, and the list filters.
use crate::admin::{deep_merge, non_empty, SortKey};
use crate::consent::ConsentType;
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;
use uuid::Uuid;

/// The code only the Default region holds, and always holds.
pub const DEFAULT_CODE: &str = "default";
pub const TEMPLATES: &[&str] = &["gdpr", "united_states", "california", "custom"];
pub const REGION_SORTS: &[&str] = &["dateCreated", "name"];
pub const BLOCKING_MODES: &[&str] = &["disabled", "discovery", "permissive", "strict"];
pub const CONSENT_MODES: &[&str] = &["express", "implied"];
pub const GCM_MODES: &[&str] = &["disabled", "basic", "advanced"];
pub const THEMES: &[&str] = &["brand", "light", "dark"];

/// The 27 member states of the European Union, as ISO 3166-1 alpha-2 codes (Greece is `GR`,
/// not the EU's `EL`). Source: the EU's list of member countries,
/// <https://european-union.europa.eu/principles-countries-history/eu-countries_en>
/// (27 since the United Kingdom left on 31 January 2020).
pub const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The EEA states outside the EU. Source: the EEA Agreement's EFTA parties,
/// <https://www.efta.int/eea> (Iceland, Liechtenstein, Norway; Switzerland is not one).
pub const EEA_NON_EU: [&str; 3] = ["IS", "LI", "NO"];

/// Refusals of §7.8 (422).
pub const DEFAULT_UNDELETABLE: &str = "the Default region cannot be deleted";
pub const DEFAULT_CODES_FIXED: &str = "the Default region's regions cannot be changed";
pub const DEFAULT_ONLY: &str = "only the Default region may hold \"default\"";
pub const DEFAULT_HOLDS_DEFAULT: &str = "the Default region holds only \"default\"";
pub const POLICY_NOT_FOUND: &str =
    "settings/consent/consentBanner/policy not found in this project";
/// A code already held by another Region of the project, when the store cannot say which.
pub const CODE_TAKEN: &str = "a location code is already held by another region of this project";

/// The message naming the code another Region of the project already holds.
pub fn code_taken(code: &str) -> String {
    format!("location code {code} is already held by another region of this project")
}

/// ISO 3166-1 alpha-2 codes with the subdivision parts of their ISO 3166-2 codes, from
/// `iso3166.txt` (Debian's iso-codes).
fn iso_table() -> &'static HashMap<&'static str, HashSet<&'static str>> {
    static T: OnceLock<HashMap<&'static str, HashSet<&'static str>>> = OnceLock::new();
    T.get_or_init(|| {
        include_str!("iso3166.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut parts = l.split_whitespace();
                let cc = parts.next().expect("country code");
                (cc, parts.collect())
            })
            .collect()
    })
}

/// The stored form of a location code: `default`, or the uppercase alias, ISO 3166-1
/// alpha-2 or ISO 3166-2 code. `None` when it is none of these.
pub fn normalize_code(s: &str) -> Option<String> {
    if s.eq_ignore_ascii_case(DEFAULT_CODE) {
        return Some(DEFAULT_CODE.into());
    }
    let up = s.to_ascii_uppercase();
    if up == "EU" || up == "EEA" {
        return Some(up);
    }
    let table = iso_table();
    match up.split_once('-') {
        None => table.contains_key(up.as_str()).then_some(up),
        Some((cc, sub)) => table
            .get(cc)
            .is_some_and(|subs| subs.contains(sub))
            .then_some(up),
    }
}

/// The countries an alias stands for; `None` for any other code.
pub fn alias_members(code: &str) -> Option<Vec<&'static str>> {
    match code {
        "EU" => Some(EU_MEMBERS.to_vec()),
        "EEA" => {
            let mut v: Vec<&str> = EU_MEMBERS
                .iter()
                .chain(EEA_NON_EU.iter())
                .copied()
                .collect();
            v.sort_unstable();
            Some(v)
        }
        _ => None,
    }
}

/// A Region's codes with the aliases expanded to their countries (what Google Consent
/// Mode's `region` takes, §5.8). `default` is left out.
pub fn expanded_codes(codes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in codes {
        match alias_members(c) {
            Some(members) => out.extend(members.into_iter().map(String::from)),
            None if c != DEFAULT_CODE => out.push(c.clone()),
            None => {}
        }
    }
    let mut seen = HashSet::new();
    out.retain(|c| seen.insert(c.clone()));
    out
}

/// The Region a visitor's `geography` (`CC` or `CC-SUB`, any case; `None` when unknown)
/// falls to: the Region holding `CC-SUB`, else `CC`, else `EU` when the country is an EU
/// member, else `EEA` when it is in the EEA, else the Default region (§7.8, §5.8).
pub fn resolve<'a, T>(
    regions: &'a [T],
    codes: impl Fn(&T) -> &[String],
    geography: Option<&str>,
) -> Option<&'a T> {
    let holding = |code: &str| regions.iter().find(|r| codes(r).iter().any(|c| c == code));
    let found = geography
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .and_then(|g| {
            let g = g.to_ascii_uppercase();
            let cc = g.split('-').next().unwrap_or_default().to_string();
            let sub = g.contains('-').then(|| holding(&g)).flatten();
            sub.or_else(|| holding(&cc))
                .or_else(|| {
                    EU_MEMBERS
                        .contains(&cc.as_str())
                        .then(|| holding("EU"))
                        .flatten()
                })
                .or_else(|| {
                    (EU_MEMBERS.contains(&cc.as_str()) || EEA_NON_EU.contains(&cc.as_str()))
                        .then(|| holding("EEA"))
                        .flatten()
                })
        });
    found.or_else(|| holding(DEFAULT_CODE))
}

// ---------------------------------------------------------------------------------------
// Settings and language.

/// The default settings of a Region (§7.8), except `consent.consentBanner.policy`, which is
/// the project's `privacy_policy` consent type and is filled in where the Region is stored.
pub fn default_settings() -> Value {
    json!({
        "branding": {
            "buttonRadius": "6px", "cardRadius": "6px", "font": "Arial",
            "primaryColor": "#111827", "secondaryColor": "#ffffff", "poweredByConcord": false
        },
        "consent": {
            "blockingMode": "disabled",
            "consentMode": "express",
            "consentBanner": {
                "enabled": true, "layout": "box", "position": "left-bottom",
                "title": true, "closeButton": false, "denyButton": true,
                "customizeButton": true, "showGooglePrivacyPolicy": false, "theme": "light"
            },
            "hideUnusedCategories": false,
            "doNotSell": false,
            "consentDuration": 12,
            "gcm": "disabled",
            "gcmPolicy": "https://business.safety.google/privacy",
            "gpc": true,
            "impliedConsentDelay": 0,
            "limitPii": false,
            "microsoftUET": "disabled",
            "webflow": false,
            "wordpress": false,
            "tcfConfig": {"enabled": false, "mode": "disabled", "selectedVendors": []}
        },
        "crossSiteTracking": false,
        "crossDeviceConsent": false,
        "floatingButton": {
            "enabled": true, "circleOffsetX": "24px", "circleOffsetY": "24px",
            "tabOffsetY": "256px", "position": "right", "theme": "light", "type": "circle",
            "icon": "cookie"
        },
        "placeholders": {"enabled": false, "theme": "light"},
        "privacyCenter": {
            "consentHistory": true, "consentHistoryMode": "standard", "disclosures": true,
            "dsrFormMode": "standard", "privacyRequests": true, "doNotSellRequests": false,
            "position": "right", "theme": "classic"
        }
    })
}

/// The codes and settings a template presets (§7.8 table). `custom` presets nothing.
pub fn template_preset(template: &str) -> (Vec<&'static str>, Value) {
    let preset = |mode: &str, blocking: &str, deny: bool, dns: bool, pii: bool, gcm: &str| {
        json!({"consent": {
            "consentMode": mode, "blockingMode": blocking,
            "consentBanner": {"denyButton": deny},
            "doNotSell": dns, "limitPii": pii, "gcm": gcm
        }})
    };
    match template {
        "gdpr" => (
            vec!["EEA", "GB"],
            preset("express", "strict", true, false, false, "advanced"),
        ),
        "united_states" => (
            vec!["US"],
            preset("implied", "disabled", false, false, false, "basic"),
        ),
        "california" => (
            vec!["US-CA"],
            preset("implied", "disabled", false, true, true, "basic"),
        ),
        _ => (vec![], json!({})),
    }
}

/// The default `language` of a Region.
pub fn default_language() -> Value {
    json!({"enabled": false, "defaultLanguage": "en", "languages": [], "translations": {}})
}

fn object(props: Vec<(&'static str, Schema)>) -> Schema {
    Schema::Object(Object {
        props,
        ..Default::default()
    })
}

fn array(items: Schema, min: Option<usize>, max: Option<usize>) -> Schema {
    Schema::Array {
        items: Box::new(items),
        min,
        max,
        unique: false,
    }
}

fn int(min: Option<i64>, max: Option<i64>) -> Schema {
    Schema::Int { min, max }
}

const CSS_LENGTH: &str = "^-?[0-9]+(\\.[0-9]+)?(px|em|rem|%|vh|vw|pt)?$";
const COLOR: &str = "^#[0-9A-Fa-f]{6}$";
const LANGUAGE_TAG: &str = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$";

fn css_length() -> Schema {
    string().max(32).pattern(CSS_LENGTH).s()
}

fn one_of(values: &'static [&'static str]) -> Schema {
    string().one_of(values).s()
}

fn tcf_vendor_schema() -> Schema {
    let ints = |what: &'static str| array(int(Some(0), None), None, Some(1000)).doc(what);
    Schema::Object(Object {
        props: vec![
            (
                "vendorId",
                int(Some(0), None).doc("IAB Global Vendor List id of the vendor (required)."),
            ),
            ("name", string().max(256).s().doc("Name of the vendor.")),
            (
                "framework",
                one_of(&["IAB"]).doc("Framework of the vendor: `IAB`."),
            ),
            (
                "addedAt",
                int(Some(0), None).doc("When the vendor was added, in epoch milliseconds."),
            ),
            (
                "purposes",
                ints("IAB purposes the vendor asks consent for."),
            ),
            (
                "flexiblePurposes",
                ints("IAB purposes the vendor may base on consent or legitimate interest."),
            ),
            (
                "specialPurposes",
                ints("IAB special purposes of the vendor."),
            ),
            (
                "specialFeatures",
                ints("IAB special features of the vendor."),
            ),
            ("features", ints("IAB features of the vendor.")),
            (
                "legIntPurposes",
                ints("IAB purposes the vendor bases on legitimate interest."),
            ),
            (
                "policyUrl",
                string()
                    .format(Format::Uri)
                    .s()
                    .doc("URL of the vendor's privacy policy."),
            ),
            (
                "cookieMaxAgeSeconds",
                int(None, None).doc("Longest lifetime of the vendor's cookies, in seconds."),
            ),
            (
                "cookieRefresh",
                Schema::Bool.doc("Whether the vendor refreshes its cookies."),
            ),
            (
                "usesNonCookieAccess",
                Schema::Bool.doc("Whether the vendor also stores data other than in cookies."),
            ),
            (
                "deviceStorageDisclosureUrl",
                string()
                    .format(Format::Uri)
                    .s()
                    .doc("URL of the vendor's device storage disclosure."),
            ),
            (
                "dataRetention",
                object(vec![(
                    "stdRetention",
                    int(Some(0), None).doc("Standard retention, in days."),
                )])
                .doc("How long the vendor keeps data."),
            ),
        ],
        required: vec!["vendorId"],
        ..Default::default()
    })
}

const THEME: &str = "Colour theme: `brand` (the branding colours), `light` or `dark`.";

/// Region `settings` as clients write them (§7.8): every key optional, deep-merged over
/// the defaults and the template's preset; published with the [`default_settings`].
pub fn settings_schema() -> Schema {
    settings_tree().defaults(default_settings())
}

fn settings_tree() -> Schema {
    object(vec![
        (
            "branding",
            object(vec![
                ("buttonRadius", css_length().doc("Corner radius of the widget's buttons: a CSS length such as `6px`, `0.5em` or `50%`.")),
                ("cardRadius", css_length().doc("Corner radius of the banner and privacy center: a CSS length.")),
                ("font", string().max(256).s().doc("CSS font family of the widget (at most 256 characters).")),
                ("logoUrl", string().format(Format::HttpUrl).s().doc("http(s) URL of the logo the widget shows; none by default, `\"\"` removes it.")),
                ("primaryColor", string().pattern(COLOR).s().doc("Main colour of the widget, `#RRGGBB`.")),
                ("secondaryColor", string().pattern(COLOR).s().doc("Second colour of the widget, `#RRGGBB`.")),
                ("poweredByConcord", Schema::Bool.doc("Whether the widget shows a \"powered by\" mark.")),
            ])
            .doc("Look of the banner, privacy center and floating button."),
        ),
        (
            "consent",
            object(vec![
                ("blockingMode", one_of(BLOCKING_MODES).doc("How the site client holds back the project's trackers until consent: `disabled` (no blocking), `discovery` (detect only), `permissive` (allows strictly necessary, ignored and unclassified trackers before consent) or `strict` (allows only strictly necessary and ignored ones).")),
                ("consentMode", one_of(CONSENT_MODES).doc("`express`: nothing but strictly necessary is granted before the visitor chooses (Google Consent Mode defaults `denied`); `implied`: consent is assumed until the visitor declines (defaults `granted`).")),
                ("privacyMode", string().max(64).s().doc("Stored and served; no server behaviour (at most 64 characters). None by default, `\"\"` removes it.")),
                (
                    "consentBanner",
                    object(vec![
                        ("enabled", Schema::Bool.doc("Whether the consent banner is shown.")),
                        ("layout", one_of(&["bar", "box"]).doc("`bar` across the page or `box` in a corner.")),
                        (
                            "position",
                            one_of(&["center", "left-bottom", "left-top", "right-bottom", "right-top"]).doc("Where the banner appears."),
                        ),
                        (
                            "policy",
                            string()
                                .format(Format::Uuid)
                                .non_empty()
                                .describe("a consent type of the project (422 otherwise); answered as that ConsentType object, omitted once the type is gone")
                                .s()
                                .doc("The consent type whose document the banner links to; by default the project's `privacy_policy` type."),
                        ),
                        ("title", Schema::Bool.doc("Whether the banner shows a title.")),
                        ("closeButton", Schema::Bool.doc("Whether the banner has a close button.")),
                        ("denyButton", Schema::Bool.doc("Whether the banner has a button declining everything that is not required.")),
                        ("customizeButton", Schema::Bool.doc("Whether the banner has a button opening the per-category choices.")),
                        ("showGooglePrivacyPolicy", Schema::Bool.doc("Whether the banner links to Google's privacy policy (`gcmPolicy`).")),
                        ("theme", one_of(THEMES).doc(THEME)),
                    ])
                    .doc("The consent banner."),
                ),
                ("hideUnusedCategories", Schema::Bool.doc("Whether categories without trackers are left out of the choices.")),
                ("doNotSell", Schema::Bool.doc("Whether the privacy center offers \"Do Not Sell or Share\" (opt-out of sale or sharing).")),
                ("consentDuration", int(Some(1), Some(60)).doc("Months (1 to 60) the banner choice is kept before the visitor is asked again; events use their consent type's `consentDuration`.")),
                ("gcm", one_of(GCM_MODES).doc("Google Consent Mode v2: `disabled`, `basic` or `advanced`. When not disabled, the site client sets the consent defaults for this region's codes before any tag runs.")),
                ("gcmPolicy", string().format(Format::Uri).s().doc("URL of Google's privacy policy, linked when `consentBanner.showGooglePrivacyPolicy` is on.")),
                ("gpc", Schema::Bool.doc("Whether Global Privacy Control is honoured: a visitor sending `Sec-GPC: 1` is recorded as declining advertising.")),
                ("impliedConsentDelay", int(Some(0), Some(86_400)).doc("Seconds (0 to 86400) the site client waits before recording implied consent on a first visit.")),
                ("limitPii", Schema::Bool.doc("Whether the visitor may limit the use of sensitive personal information (the `california` preset turns it on); served to the widget.")),
                ("microsoftUET", one_of(&["disabled", "enabled"]).doc("Whether the site client also sets Microsoft UET consent defaults.")),
                ("webflow", Schema::Bool.doc("Integration hint: the site runs on Webflow.")),
                ("wordpress", Schema::Bool.doc("Integration hint: the site runs on WordPress.")),
                (
                    "tcfConfig",
                    object(vec![
                        ("enabled", Schema::Bool.doc("Whether the IAB Transparency and Consent Framework is on.")),
                        ("mode", string().max(64).s().doc("TCF mode (at most 64 characters).")),
                        ("selectedVendors", array(tcf_vendor_schema(), None, Some(2000)).doc("The IAB vendors chosen (at most 2000).")),
                    ])
                    .doc("IAB TCF settings, stored and served; Accord emits no TC string."),
                ),
            ])
            .doc("How consent is asked for and applied in this region."),
        ),
        ("crossSiteTracking", Schema::Bool.doc("Cross-site tracking setting, stored and served to the site client and widget; the server gives it no meaning.")),
        ("crossDeviceConsent", Schema::Bool.doc("Cross-device consent setting, stored and served to the site client and widget; the server gives it no meaning (identities are linked across devices by identify, §5.6).")),
        (
            "floatingButton",
            object(vec![
                ("enabled", Schema::Bool.doc("Whether the button is shown.")),
                ("circleOffsetX", css_length().doc("Horizontal distance of the circle button from the page edge: a CSS length.")),
                ("circleOffsetY", css_length().doc("Vertical distance of the circle button from the page bottom: a CSS length.")),
                ("tabOffsetY", css_length().doc("Vertical distance of the tab button from the page bottom: a CSS length.")),
                ("position", one_of(&["left", "right"]).doc("Side of the page the button sits on.")),
                ("theme", one_of(THEMES).doc(THEME)),
                ("type", one_of(&["circle", "tab"]).doc("Shape of the button: `circle` or `tab`.")),
                ("icon", string().max(64).s().doc("Name of the button's icon (at most 64 characters).")),
            ])
            .doc("The floating button that reopens the privacy center."),
        ),
        (
            "placeholders",
            object(vec![
                ("enabled", Schema::Bool.doc("Whether blocked embeds are replaced by a placeholder asking for consent.")),
                ("theme", one_of(THEMES).doc(THEME)),
            ])
            .doc("Placeholders of blocked embedded content."),
        ),
        (
            "privacyCenter",
            object(vec![
                ("consentHistory", Schema::Bool.doc("Whether the privacy center shows the visitor's consent history.")),
                ("consentHistoryMode", one_of(&["legacy", "standard", "both"]).doc("How the history is shown: `legacy`, `standard` or `both`.")),
                ("disclosures", Schema::Bool.doc("Whether the privacy center lists the disclosures (policies).")),
                ("dsrFormMode", string().max(64).s().doc("Form of the data-subject request form (at most 64 characters).")),
                ("privacyRequests", Schema::Bool.doc("Whether the privacy center offers the data-subject request form.")),
                ("doNotSellRequests", Schema::Bool.doc("Whether the privacy center offers \"Do Not Sell or Share\" requests.")),
                ("position", one_of(&["left", "right"]).doc("Side of the page the privacy center opens on.")),
                ("theme", one_of(&["classic", "light", "dark", "brand"]).doc("Colour theme: `classic`, `light`, `dark` or `brand`.")),
            ])
            .doc("The privacy center."),
        ),
    ])
}

/// The published `settings` of a Region: the tree clients write, each key with its default,
/// and in an answer (`answered`) the banner's `policy` as its ConsentType object.
pub fn settings_json_schema(answered: bool) -> Value {
    let mut s = settings_schema().json_schema();
    let policy = "/properties/consent/properties/consentBanner/properties/policy";
    if answered {
        if let Some(p) = s.pointer_mut(policy) {
            let mut t = crate::schema::published::<ConsentType>();
            t["description"] = json!("The consent type whose document the banner links to (by default the project's `privacy_policy` type), as its ConsentType object; omitted once that type is gone.");
            *p = t;
        }
    } else if let Some(p) = s.pointer_mut(policy) {
        p["description"] = json!(format!(
            "{} Default: the project's `privacy_policy` consent type.",
            p["description"].as_str().unwrap_or_default()
        ));
    }
    s
}

fn language_tag() -> Schema {
    string().max(35).pattern(LANGUAGE_TAG).non_empty().s()
}

fn translations_schema() -> Schema {
    Schema::Map {
        values: Box::new(Schema::Map {
            values: Box::new(string().s()),
            max: Some(1000),
        }),
        max: Some(200),
    }
}

fn language_props() -> Vec<(&'static str, Schema)> {
    vec![
        ("enabled", Schema::Bool.doc("Whether the widget offers more than one language; default `false`.")),
        ("defaultLanguage", language_tag().doc("BCP 47 tag of the language the widget starts in (at most 35 characters); default `en`.")),
        ("languages", array(language_tag(), None, Some(50)).doc("BCP 47 tags of the languages offered (at most 50; Accord extension).")),
        ("translations", translations_doc()),
    ]
}

fn translations_doc() -> Schema {
    translations_schema().doc("Widget strings by language, then by string key: `{\"fr\": {\"banner.accept\": \"Tout accepter\"}}` (at most 200 languages of 1000 strings; Accord extension). The widget falls back to its built-in strings, then to English; Accord does not translate.")
}

/// A Region's `language` as clients write it: each given field replaces the stored one.
pub fn language_schema() -> Schema {
    object(language_props())
}

/// The published `settings` of an answered Region, for `#[schemars(schema_with)]`.
fn answered_settings(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::Schema::try_from(settings_json_schema(true)).expect("an object schema")
}

fn codes_schema() -> Schema {
    Schema::Array {
        items: Box::new(
            string()
                .max(7)
                .format(Format::LocationCode)
                .non_empty()
                .describe("default, EU, EEA, an ISO 3166-1 alpha-2 or an ISO 3166-2 code, in any case; stored uppercase except default")
                .s(),
        ),
        min: Some(1),
        max: Some(500),
        unique: false,
    }
}

crate::body! {
    /// RegionTemplate (§7.8): the body of a region create, and `regionTemplate` and
    /// `additionalRegions` of an organization or project create.
    pub struct RegionTemplate {
        /// A preset of codes and consent settings: `gdpr` (EEA and GB, express consent, strict
        /// blocking, deny button, advanced Google Consent Mode), `united_states` (US, implied,
        /// basic GCM), `california` (US-CA, implied, do-not-sell and limited PII, basic GCM) or
        /// `custom` (the default: nothing preset).
        template: Option<String> => "template": one_of(TEMPLATES),
        /// Name of the region (1 to 256 characters); required for a region create and for each
        /// additional region.
        name: Option<String> => "name": string().min(1).max(256).non_empty().s(),
        /// Location codes the region covers (1 to 500), each in only one region of the project
        /// (422); required unless the template presets them. The Default region always holds
        /// exactly `["default"]`, and no other region may hold `default` (422).
        regions: Option<Vec<String>> => "regions": codes_schema(),
        /// JavaScript the site client runs once the visitor's region is resolved (at most
        /// 100000 characters).
        custom_script: Option<String> => "customScript": string().max(100_000).s(),
        /// Settings of the region: any subset, deep-merged over the template's preset and the
        /// defaults, which are published with each key.
        settings: Option<Value> => "settings": settings_schema(),
        /// Language settings of the region's widget.
        language: Option<Value> => "language": language_schema(),
    }
}

crate::body! {
    /// Body of a region PATCH (§7.8).
    pub struct PatchRegion {
        /// New name (1 to 256 characters).
        name: Option<String> => "name": string().min(1).max(256).non_empty().s(),
        /// Replaces the location codes (1 to 500), each in only one region of the project
        /// (422). The Default region's codes cannot change (422).
        regions: Option<Vec<String>> => "regions": codes_schema(),
        /// JavaScript the site client runs once the visitor's region is resolved (at most
        /// 100000 characters); `""` removes it.
        custom_script: Option<String> => "customScript": string().max(100_000).s(),
        /// Settings to change, deep-merged over the stored ones: objects merge, scalars and
        /// arrays replace.
        settings: Option<Value> => "settings": settings_schema(),
        /// Language fields to change: each field given replaces the stored one.
        language: Option<Value> => "language": language_schema(),
    }
}

crate::body! {
    /// Body of `POST …/regions/{regionId}/languages` (§7.8).
    pub struct LanguagesBody {
        /// Whether the widget offers more than one language (required).
        enabled: bool => "enabled": Schema::Bool,
        /// BCP 47 tag of the language the widget starts in (at most 35 characters).
        default_language: Option<String> => "defaultLanguage": language_tag(),
        /// BCP 47 tags of the languages offered (at most 50).
        languages: Option<Vec<String>> => "languages": array(language_tag(), None, Some(50)),
        /// Widget strings by language, then by string key (at most 200 languages of 1000
        /// strings). The widget falls back to its built-in strings, then to English.
        translations: Option<Value> => "translations": translations_schema(),
    }
}

/// `regionTemplate` of an organization or project create: no field required.
pub fn default_template_schema() -> Schema {
    Schema::Object(Object {
        props: RegionTemplate::props(),
        ..Default::default()
    })
}

/// `POST …/regions`, and each entry of `additionalRegions`: `name` is required.
pub fn region_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: RegionTemplate::props(),
            required: vec!["name"],
            ..Default::default()
        })
    })
}

/// `PATCH …/regions/{regionId}`.
pub fn region_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: PatchRegion::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// `POST …/regions/{regionId}/languages`.
pub fn languages_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: LanguagesBody::props(),
            required: vec!["enabled"],
            ..Default::default()
        })
    })
}

// ---------------------------------------------------------------------------------------
// Regions as stored.

/// What a Region holds apart from its ids and dates: what a create plans, before the
/// project it belongs to exists.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionDraft {
    pub name: String,
    pub is_default: bool,
    /// Stored codes (§7.8), in the order given.
    pub regions: Vec<String>,
    pub custom_script: Option<String>,
    /// The whole settings tree; `consent.consentBanner.policy` is a consent type id.
    pub settings: Value,
    pub language: Value,
}

/// A Region as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub draft: RegionDraft,
    pub date_created: i64,
    pub date_updated: i64,
}

impl RegionDraft {
    /// The Default region every project starts with: default settings, no custom script.
    pub fn default_region() -> RegionDraft {
        RegionDraft {
            name: "Default".into(),
            is_default: true,
            regions: vec![DEFAULT_CODE.into()],
            custom_script: None,
            settings: default_settings(),
            language: default_language(),
        }
    }

    /// Sets the banner's policy to `privacy_policy` unless one is set.
    pub fn fill_policy(&mut self, privacy_policy: Option<Uuid>) {
        if self.policy().is_some() {
            return;
        }
        if let (Some(id), Some(banner)) = (
            privacy_policy,
            self.settings.pointer_mut("/consent/consentBanner"),
        ) {
            if let Some(o) = banner.as_object_mut() {
                o.insert("policy".into(), Value::String(id.to_string()));
            }
        }
    }

    /// The consent type id of `consent.consentBanner.policy`.
    pub fn policy(&self) -> Option<Uuid> {
        policy_of(&self.settings)
    }

    pub fn into_region(self, organization_id: Uuid, project_id: Uuid, now: i64) -> Region {
        Region {
            id: crate::ids::new_id(),
            organization_id,
            project_id,
            draft: self,
            date_created: now,
            date_updated: now,
        }
    }
}

fn policy_of(settings: &Value) -> Option<Uuid> {
    settings
        .pointer("/consent/consentBanner/policy")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// The id `settings` (as given) names as the banner's policy, for the caller to check it
/// is a consent type of the project.
pub fn given_policy(settings: Option<&Value>) -> Option<Uuid> {
    settings.and_then(policy_of)
}

/// Validated codes in their stored form; duplicates after normalisation give 400.
pub fn stored_codes(codes: &[String], loc: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(codes.len());
    for (i, c) in codes.iter().enumerate() {
        let code = normalize_code(c).ok_or_else(|| {
            Error::bad(format!(
                "{loc}/regions/{i} must match format \"location-code\""
            ))
        })?;
        if out.contains(&code) {
            return Err(Error::bad(format!(
                "{loc}/regions must NOT have duplicate items"
            )));
        }
        out.push(code);
    }
    Ok(out)
}

/// Writes the given `language` fields over `language`: each given field replaces.
fn apply_language(language: &mut Value, input: &Value) {
    if let (Some(l), Some(i)) = (language.as_object_mut(), input.as_object()) {
        for (k, v) in i {
            l.insert(k.clone(), v.clone());
        }
    }
}

/// Settings keys with no default that `""` clears (§1.1).
fn drop_cleared(settings: &mut Value) {
    for path in ["/branding/logoUrl", "/consent/privacyMode"] {
        let (parent, key) = path.rsplit_once('/').expect("path");
        let cleared = settings.pointer(path).and_then(Value::as_str) == Some("");
        if cleared {
            if let Some(o) = settings.pointer_mut(parent).and_then(Value::as_object_mut) {
                o.remove(key);
            }
        }
    }
}

/// Plans a Region from a validated RegionTemplate: the template's preset and the given
/// settings deep-merged over the defaults. `default` plans the Default region, whose only
/// code is `default` (422 for any other); any other Region may not hold `default` (422)
/// and needs codes from `regions` or its template (400). `loc` names the body in messages.
pub fn plan(input: &RegionTemplate, is_default: bool, loc: &str) -> Result<RegionDraft> {
    let template = input.template.as_deref().unwrap_or("custom");
    let (preset_codes, preset) = template_preset(template);
    let given = input
        .regions
        .as_deref()
        .map(|c| stored_codes(c, loc))
        .transpose()?;
    let regions = if is_default {
        if given
            .as_ref()
            .is_some_and(|c| c != &[DEFAULT_CODE.to_string()])
        {
            return Err(Error::unprocessable(DEFAULT_HOLDS_DEFAULT));
        }
        vec![DEFAULT_CODE.to_string()]
    } else {
        let codes = match given {
            Some(c) => c,
            None if !preset_codes.is_empty() => {
                preset_codes.iter().map(|c| c.to_string()).collect()
            }
            None => {
                return Err(Error::bad(format!(
                    "{loc} must have required property 'regions'"
                )))
            }
        };
        if codes.iter().any(|c| c == DEFAULT_CODE) {
            return Err(Error::unprocessable(DEFAULT_ONLY));
        }
        codes
    };
    let mut settings = default_settings();
    deep_merge(&mut settings, &preset);
    if let Some(s) = &input.settings {
        deep_merge(&mut settings, s);
    }
    drop_cleared(&mut settings);
    let mut language = default_language();
    if let Some(l) = &input.language {
        apply_language(&mut language, l);
    }
    let name = match non_empty(input.name.clone()) {
        Some(n) => n,
        None if is_default => "Default".into(),
        None => {
            return Err(Error::bad(format!(
                "{loc} must have required property 'name'"
            )))
        }
    };
    Ok(RegionDraft {
        name,
        is_default,
        regions,
        custom_script: non_empty(input.custom_script.clone()),
        settings,
        language,
    })
}

/// Applies a validated PATCH (§7.8): settings deep-merged, language fields replaced. The
/// Default region keeps `["default"]` (422 for other codes); others may not take `default`.
pub fn apply_patch(region: &mut RegionDraft, patch: &PatchRegion) -> Result<()> {
    if let Some(codes) = &patch.regions {
        let codes = stored_codes(codes, "body")?;
        if region.is_default {
            if codes != [DEFAULT_CODE.to_string()] {
                return Err(Error::unprocessable(DEFAULT_CODES_FIXED));
            }
        } else if codes.iter().any(|c| c == DEFAULT_CODE) {
            return Err(Error::unprocessable(DEFAULT_ONLY));
        }
        region.regions = codes;
    }
    if let Some(name) = non_empty(patch.name.clone()) {
        region.name = name;
    }
    if let Some(script) = &patch.custom_script {
        region.custom_script = non_empty(Some(script.clone()));
    }
    if let Some(s) = &patch.settings {
        deep_merge(&mut region.settings, s);
        drop_cleared(&mut region.settings);
    }
    if let Some(l) = &patch.language {
        apply_language(&mut region.language, l);
    }
    Ok(())
}

/// Sets `language` from the languages endpoint: `enabled`, and each other given field.
pub fn apply_languages(region: &mut RegionDraft, body: &LanguagesBody) {
    let mut input = Map::new();
    input.insert("enabled".into(), Value::Bool(body.enabled));
    if let Some(d) = &body.default_language {
        input.insert("defaultLanguage".into(), Value::String(d.clone()));
    }
    if let Some(l) = &body.languages {
        input.insert("languages".into(), json!(l));
    }
    if let Some(t) = &body.translations {
        input.insert("translations".into(), t.clone());
    }
    apply_language(&mut region.language, &Value::Object(input));
}

// ---------------------------------------------------------------------------------------
// Answers.

/// `language` of a Region.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RegionLanguage {
    /// Whether the widget offers more than one language.
    pub enabled: bool,
    /// BCP 47 tag of the language the widget starts in; default `en`.
    pub default_language: String,
    /// BCP 47 tags of the languages offered (Accord extension).
    pub languages: Vec<String>,
    /// Widget strings by language, then by string key (Accord extension).
    pub translations: BTreeMap<String, BTreeMap<String, String>>,
}

/// The Region object (§7.8).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RegionView {
    /// Region id (UUID).
    pub id: Uuid,
    /// The project the region belongs to.
    pub project_id: Uuid,
    /// Name of the region (at most 256 characters); the Default region is named `Default`
    /// unless renamed.
    #[schemars(length(max = 256))]
    pub name: String,
    /// Location codes the region covers: `default` (the Default region only, always), `EU`,
    /// `EEA`, ISO 3166-1 alpha-2 (`FR`) or ISO 3166-2 (`US-CA`), stored uppercase. A visitor
    /// falls to the region holding `CC-SUB`, else `CC`, else `EU`, else `EEA`, else `default`.
    pub regions: Vec<String>,
    /// The region's whole settings tree: the defaults, the template's preset and every
    /// setting written, deep-merged.
    #[schemars(schema_with = "answered_settings")]
    pub settings: Value,
    /// Language settings of the region's widget.
    pub language: RegionLanguage,
    /// When the region was created, in epoch milliseconds (Accord extension).
    pub date_created: i64,
    /// When the region last changed, in epoch milliseconds (Accord extension).
    pub date_updated: i64,
    /// JavaScript the site client runs once the visitor's region is resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100_000))]
    pub custom_script: Option<String>,
}

/// The Region object: the banner's policy replaced by its ConsentType among `types` (the
/// project's), or left out when that type is gone.
pub fn view(r: &Region, types: &[ConsentType]) -> RegionView {
    let mut settings = r.draft.settings.clone();
    let policy = r.draft.policy();
    if let Some(banner) = settings
        .pointer_mut("/consent/consentBanner")
        .and_then(Value::as_object_mut)
    {
        match policy.and_then(|id| types.iter().find(|t| t.id == id)) {
            Some(t) => {
                banner.insert(
                    "policy".into(),
                    serde_json::to_value(t).unwrap_or(Value::Null),
                );
            }
            None => {
                banner.remove("policy");
            }
        }
    }
    let l = &r.draft.language;
    let language = RegionLanguage {
        enabled: l["enabled"].as_bool().unwrap_or(false),
        default_language: l["defaultLanguage"].as_str().unwrap_or("en").to_string(),
        languages: serde_json::from_value(l["languages"].clone()).unwrap_or_default(),
        translations: serde_json::from_value(l["translations"].clone()).unwrap_or_default(),
    };
    RegionView {
        id: r.id,
        project_id: r.project_id,
        name: r.draft.name.clone(),
        regions: r.draft.regions.clone(),
        settings,
        language,
        date_created: r.date_created,
        date_updated: r.date_updated,
        custom_script: r.draft.custom_script.clone(),
    }
}

/// The list filters of §7.8.
#[derive(Debug, Clone, Default)]
pub struct RegionFilter {
    pub name: Option<String>,
    /// Regions holding this country, one of its subdivisions, or an alias it belongs to.
    pub region_country: Option<String>,
    pub region_sub_division: Option<String>,
    pub consent_mode: Option<String>,
    pub blocking_mode: Option<Vec<String>>,
    pub do_not_sell: Option<bool>,
    pub gpc: Option<bool>,
}

impl RegionFilter {
    pub fn matches(&self, r: &Region) -> bool {
        let d = &r.draft;
        let setting = |p: &str| d.settings.pointer(p);
        let country_ok = self.region_country.as_deref().is_none_or(|cc| {
            let cc = cc.to_ascii_uppercase();
            let prefix = format!("{cc}-");
            d.regions.iter().any(|c| {
                *c == cc
                    || c.starts_with(&prefix)
                    || alias_members(c).is_some_and(|m| m.contains(&cc.as_str()))
            })
        });
        self.name
            .as_deref()
            .is_none_or(|n| crate::admin::contains_ci(&d.name, n))
            && country_ok
            && self
                .region_sub_division
                .as_deref()
                .is_none_or(|s| d.regions.contains(&s.to_ascii_uppercase()))
            && self
                .consent_mode
                .as_deref()
                .is_none_or(|m| setting("/consent/consentMode").and_then(Value::as_str) == Some(m))
            && self.blocking_mode.as_deref().is_none_or(|modes| {
                setting("/consent/blockingMode")
                    .and_then(Value::as_str)
                    .is_some_and(|m| modes.iter().any(|x| x == m))
            })
            && self
                .do_not_sell
                .is_none_or(|b| setting("/consent/doNotSell").and_then(Value::as_bool) == Some(b))
            && self
                .gpc
                .is_none_or(|b| setting("/consent/gpc").and_then(Value::as_bool) == Some(b))
    }
}

/// The sort value of a Region in the list.
pub fn sort_key(r: &Region, sort: &str) -> SortKey {
    match sort {
        "name" => SortKey::Text(r.draft.name.clone()),
        _ => SortKey::Int(r.date_created),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(codes: &[&str]) -> Vec<String> {
        codes.iter().map(|c| c.to_string()).collect()
    }

    fn name_of(regions: &[(&'static str, Vec<String>)], geo: Option<&str>) -> Option<&'static str> {
        resolve(regions, |r| &r.1, geo).map(|r| r.0)
    }

    #[test]
    fn codes_are_validated_and_stored_uppercase() {
        assert_eq!(normalize_code("fr").as_deref(), Some("FR"));
        assert_eq!(normalize_code("us-ca").as_deref(), Some("US-CA"));
        assert_eq!(normalize_code("Eu").as_deref(), Some("EU"));
        assert_eq!(normalize_code("eea").as_deref(), Some("EEA"));
        assert_eq!(normalize_code("DEFAULT").as_deref(), Some("default"));
        assert_eq!(normalize_code("GB-ENG").as_deref(), Some("GB-ENG"));
        assert_eq!(normalize_code("FR-2A").as_deref(), Some("FR-2A"));
        for bad in ["XX", "US-ZZ", "USA", "", "U", "EU-FR", "US-"] {
            assert_eq!(normalize_code(bad), None, "{bad}");
        }
    }

    #[test]
    fn aliases_expand_to_their_member_lists() {
        assert_eq!(alias_members("EU").unwrap().len(), 27);
        let eea = alias_members("EEA").unwrap();
        assert_eq!(eea.len(), 30);
        for c in ["IS", "LI", "NO", "FR", "GR"] {
            assert!(eea.contains(&c));
        }
        assert!(!eea.contains(&"GB") && !eea.contains(&"CH"));
        for c in EU_MEMBERS.iter().chain(EEA_NON_EU.iter()) {
            assert!(normalize_code(c).is_some(), "{c}");
        }
        assert_eq!(
            expanded_codes(&region(&["EEA", "GB", "FR"])).len(),
            31,
            "aliases expanded, duplicates dropped"
        );
        assert!(expanded_codes(&region(&["default"])).is_empty());
    }

    #[test]
    fn resolution_goes_from_the_most_specific_code_to_default() {
        let regions = vec![
            ("default", region(&["default"])),
            ("us", region(&["US"])),
            ("california", region(&["US-CA"])),
            ("eu", region(&["EU"])),
            ("eea", region(&["EEA", "GB"])),
            ("germany", region(&["DE"])),
        ];
        assert_eq!(name_of(&regions, Some("FR")), Some("eu"));
        assert_eq!(name_of(&regions, Some("FR-75")), Some("eu"));
        assert_eq!(name_of(&regions, Some("DE")), Some("germany"));
        assert_eq!(name_of(&regions, Some("NO")), Some("eea"));
        assert_eq!(name_of(&regions, Some("GB")), Some("eea"));
        assert_eq!(name_of(&regions, Some("US-CA")), Some("california"));
        assert_eq!(name_of(&regions, Some("us-ca")), Some("california"));
        assert_eq!(name_of(&regions, Some("US-NY")), Some("us"));
        assert_eq!(name_of(&regions, Some("US")), Some("us"));
        assert_eq!(name_of(&regions, Some("JP")), Some("default"));
        assert_eq!(name_of(&regions, Some("")), Some("default"));
        assert_eq!(name_of(&regions, None), Some("default"));
        // The CC-SUB region wins over the CC region whatever their order.
        let reversed: Vec<_> = regions.iter().rev().cloned().collect();
        assert_eq!(name_of(&reversed, Some("US-CA")), Some("california"));
        // Without an EU region, an EU country falls to EEA.
        let no_eu: Vec<_> = regions.iter().filter(|r| r.0 != "eu").cloned().collect();
        assert_eq!(name_of(&no_eu, Some("FR")), Some("eea"));
    }

    #[test]
    fn templates_preset_codes_and_settings() {
        let t = |template: &str| RegionTemplate {
            template: Some(template.into()),
            name: Some("R".into()),
            ..Default::default()
        };
        let gdpr = plan(&t("gdpr"), false, "body").unwrap();
        assert_eq!(gdpr.regions, ["EEA", "GB"]);
        assert_eq!(gdpr.settings["consent"]["blockingMode"], "strict");
        assert_eq!(gdpr.settings["consent"]["gcm"], "advanced");
        assert_eq!(gdpr.settings["consent"]["consentBanner"]["layout"], "box");
        let ca = plan(&t("california"), false, "body").unwrap();
        assert_eq!(ca.regions, ["US-CA"]);
        assert_eq!(ca.settings["consent"]["doNotSell"], true);
        assert_eq!(ca.settings["consent"]["limitPii"], true);
        assert_eq!(
            plan(&t("custom"), false, "body").unwrap_err(),
            Error::bad("body must have required property 'regions'")
        );
        let d = plan(&t("gdpr"), true, "body/regionTemplate").unwrap();
        assert_eq!(d.regions, ["default"]);
        assert_eq!(d.settings["consent"]["gcm"], "advanced");
    }
}

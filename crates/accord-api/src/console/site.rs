//! The console's Site setup section of an organization: each project's domains, Regions
//! (banner settings, location codes, languages, with a live preview of the real widget),
//! the snippet a website includes, its trackers and their classification, and its scans.
//!
//! Every change builds the Privacy API's request body, parses it with the API's own schema
//! and calls the same function as the API route (`routes::domains::{add, remove}`,
//! `routes::regions::save_patch`, `routes::trackers::update_tracker`,
//! `routes::tracker_scans::save_schedule`, …), with the role the API asks (admin of the
//! project to change, viewer to read).
use super::org::{forbidden, path_of, refusal, Fields, Member, OrgNav};
use super::requests::{fmt_time, label};
use super::{internal, page, see_other, Browser};
use crate::routes::{
    domains, regions as region_routes, site_client, tracker_scans, trackers as trackers_routes,
};
use crate::AppState;
use accord_core::auth::Role;
use accord_core::gcm::GcmScanFilter;
use accord_core::query::Page;
use accord_core::regions::{self, Region, BLOCKING_MODES, CONSENT_MODES, GCM_MODES, THEMES};
use accord_core::scans::{self, Scan, SCAN_PERIODS};
use accord_core::store::Project;
use accord_core::trackers::{TrackerFilter, CATEGORIES};
use askama::Template;
use axum::extract::{ConnectInfo, Path, RawForm, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org}/site", get(index))
        .route("/o/{org}/projects", post(create_project))
        .route("/o/{org}/p/{project}/domains", post(add_domain))
        .route(
            "/o/{org}/p/{project}/domains/{id}/delete",
            post(remove_domain),
        )
        .route(
            "/o/{org}/p/{project}/regions/{id}",
            get(region_page).post(region_save),
        )
        .route(
            "/o/{org}/p/{project}/regions/{id}/languages",
            post(region_languages),
        )
        .route("/o/{org}/p/{project}/regions/{id}/preview", get(preview))
        .route("/o/{org}/p/{project}/trackers", get(trackers_page))
        .route("/o/{org}/p/{project}/trackers/{id}", post(classify))
        .route("/o/{org}/p/{project}/scans", get(scans_page))
        .route("/o/{org}/p/{project}/scans/schedule", post(schedule_save))
        .route("/o/{org}/p/{project}/scans/run", post(scan_now))
}

/// The Region page frames its preview: the console's policy with `frame-src 'self'`.
const FRAMING_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Domains shown on a project's card (the others are counted).
const DOMAINS_SHOWN: u64 = 100;
/// Rows of one tracker page.
const TRACKER_PAGE: i64 = 50;
/// Scans of the history shown.
const SCANS_SHOWN: u64 = 20;
/// GCM scans shown.
const GCM_SHOWN: i64 = 10;

// ---------------------------------------------------------------------------------------
// Shared parts: forms, fields, messages

/// The field of `names` a §1.5 message is about: the longest whose path begins the path
/// the message names (`body/regions/0 …` is about `regions`).
fn field_for<'a>(message: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let named = path_of(message);
    names
        .into_iter()
        .filter(|f| named == *f || named.starts_with(&format!("{f}/")))
        .max_by_key(|f| f.len())
}

/// How a form field is entered.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Area,
    Check,
    Int,
    Select(&'static [&'static str]),
}

/// A field of a form: its name (the body path it fills), label and kind.
struct Def {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    hint: &'static str,
}

const fn def(name: &'static str, label: &'static str, kind: Kind, hint: &'static str) -> Def {
    Def {
        name,
        label,
        kind,
        hint,
    }
}

pub struct Opt {
    value: &'static str,
    selected: bool,
}

/// A field as shown (`templates/console/site_field.html`).
pub struct FieldView {
    name: &'static str,
    id: String,
    label: &'static str,
    kind: &'static str,
    hint: &'static str,
    value: String,
    checked: bool,
    options: Vec<Opt>,
    error: Option<String>,
    disabled: bool,
}

/// The fields of `defs` with their values (`value` gives a field's text and whether its
/// box is ticked), the message next to the field it names.
fn fields(
    defs: &[Def],
    value: impl Fn(&Def) -> (String, bool),
    error: Option<(&str, &str)>,
    disabled: bool,
) -> Vec<FieldView> {
    defs.iter()
        .map(|d| {
            let (v, checked) = value(d);
            let (kind, options) = match d.kind {
                Kind::Text => ("text", vec![]),
                Kind::Area => ("area", vec![]),
                Kind::Check => ("check", vec![]),
                Kind::Int => ("int", vec![]),
                Kind::Select(opts) => (
                    "select",
                    opts.iter()
                        .map(|&o| Opt {
                            value: o,
                            selected: o == v,
                        })
                        .collect(),
                ),
            };
            FieldView {
                name: d.name,
                id: d.name.replace(['/', '.'], "-"),
                label: d.label,
                kind,
                hint: d.hint,
                value: v,
                checked,
                options,
                error: error
                    .filter(|(f, _)| *f == d.name)
                    .map(|(_, m)| m.to_string()),
                disabled,
            }
        })
        .collect()
}

/// The value a form field sends, as the body's JSON: a box is `true` when ticked, a whole
/// number a number (anything else as typed, for the schema to name).
fn sent(d: &Def, form: &Fields) -> Value {
    let typed = form.get(d.name).map(|s| s.trim()).unwrap_or("");
    match d.kind {
        Kind::Check => json!(form.has(d.name)),
        Kind::Int => typed
            .parse::<i64>()
            .map(|n| json!(n))
            .unwrap_or_else(|_| json!(typed)),
        _ => json!(typed),
    }
}

/// What was typed in a field, to show it again.
fn typed(form: &Fields) -> impl Fn(&Def) -> (String, bool) + '_ {
    move |d| (form.one(d.name), form.has(d.name))
}

/// Sets `path` (`a/b/c`) of the object `body` to `v`, creating the objects on the way.
fn put(body: &mut Value, path: &str, v: Value) {
    let mut cur = body;
    let mut parts = path.split('/').peekable();
    while let Some(p) = parts.next() {
        let Some(o) = cur.as_object_mut() else { return };
        if parts.peek().is_none() {
            o.insert(p.to_string(), v);
            return;
        }
        cur = o.entry(p.to_string()).or_insert_with(|| json!({}));
    }
}

fn scalar_text(v: Option<&Value>) -> (String, bool) {
    match v {
        Some(Value::String(s)) => (s.clone(), false),
        Some(Value::Bool(b)) => (String::new(), *b),
        Some(Value::Number(n)) => (n.to_string(), false),
        _ => (String::new(), false),
    }
}

/// Codes or tags typed with spaces or commas between them.
fn list_of(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn region_href(org: Uuid, project: Uuid, id: Uuid) -> String {
    format!("/console/o/{org}/p/{project}/regions/{id}")
}

// ---------------------------------------------------------------------------------------
// The section's page: projects, their domains, Regions and snippet

struct DomainRow {
    domain: String,
    url: String,
    remove: String,
}

struct RegionRow {
    href: String,
    name: String,
    codes: String,
}

struct ProjectCard {
    id: Uuid,
    name: String,
    can_admin: bool,
    domains: Vec<DomainRow>,
    more_domains: i64,
    regions: Vec<RegionRow>,
    snippet: String,
    add_domain: String,
    trackers: String,
    scans: String,
    typed_domain: String,
    typed_url: String,
    domain_error: Option<String>,
    url_error: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/site.html")]
struct IndexPage {
    nav: OrgNav,
    projects: Vec<ProjectCard>,
    can_create: bool,
    create: NewProjectForm,
}

/// The form creating a project: what was typed and the messages next to the fields.
#[derive(Default)]
struct NewProjectForm {
    name: String,
    domains: String,
    name_error: Option<String>,
    domains_error: Option<String>,
    error: Option<String>,
}

/// A refused domain form: the project, what was typed and the message.
struct DomainRefusal {
    project: Uuid,
    domain: String,
    url: String,
    message: String,
}

/// The base URL websites load the site client from, as `GET …/site-client` names it.
fn api_base(state: &AppState, headers: &HeaderMap, ext: &axum::http::Extensions) -> String {
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    site_client::api_base(state, headers, peer).unwrap_or_default()
}

async fn index(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
) -> Response {
    let m = or_answer!(Member::of(&state, &browser, org).await);
    let base = api_base(&state, &headers, &ext);
    render_index(&state, m, &base, StatusCode::OK, None, None).await
}

async fn render_index(
    state: &AppState,
    m: Member,
    base: &str,
    status: StatusCode,
    refused: Option<DomainRefusal>,
    create: Option<NewProjectForm>,
) -> Response {
    let projects = or_answer!(m.readable_projects(state).await);
    let org = m.org.id;
    // One read each for the domains and the Regions of every project shown.
    let ids: Vec<Uuid> = projects.iter().map(|p| p.id).collect();
    let mut domains_of = or_answer!(state
        .store
        .projects_domains(&ids, DOMAINS_SHOWN)
        .await
        .map_err(internal));
    let mut regions_of: HashMap<Uuid, Vec<Region>> = HashMap::new();
    match state.store.projects_regions(&ids).await {
        Ok(all) => all
            .into_iter()
            .for_each(|r| regions_of.entry(r.project_id).or_default().push(r)),
        Err(e) => return internal(e),
    }
    let mut cards = Vec::with_capacity(projects.len());
    for p in projects {
        let (total, domains) = domains_of.remove(&p.id).unwrap_or_default();
        let mut stored = regions_of.remove(&p.id).unwrap_or_default();
        stored.sort_by_key(|r| (!r.draft.is_default, r.date_created, r.id));
        let mine = refused.as_ref().filter(|r| r.project == p.id);
        let field = mine.and_then(|r| field_for(&r.message, ["domain", "url"]));
        let pick = |f: &str| mine.filter(|_| field == Some(f)).map(|r| r.message.clone());
        cards.push(ProjectCard {
            id: p.id,
            name: p.name.clone(),
            can_admin: m.project_role(p.id) >= Role::Admin,
            more_domains: total - domains.len() as i64,
            domains: domains
                .into_iter()
                .map(|d| DomainRow {
                    remove: format!("/console/o/{org}/p/{}/domains/{}/delete", p.id, d.id),
                    domain: d.domain,
                    url: d.url.unwrap_or_default(),
                })
                .collect(),
            regions: stored
                .iter()
                .map(|r| RegionRow {
                    href: region_href(org, p.id, r.id),
                    name: r.draft.name.clone(),
                    codes: r.draft.regions.join(", "),
                })
                .collect(),
            snippet: format!(
                "<script src=\"{base}/site-v1/{}/site-client\"></script>",
                p.id
            ),
            add_domain: format!("/console/o/{org}/p/{}/domains", p.id),
            trackers: format!("/console/o/{org}/p/{}/trackers", p.id),
            scans: format!("/console/o/{org}/p/{}/scans", p.id),
            typed_domain: mine.map(|r| r.domain.clone()).unwrap_or_default(),
            typed_url: mine.map(|r| r.url.clone()).unwrap_or_default(),
            domain_error: pick("domain"),
            url_error: pick("url"),
            error: mine.filter(|_| field.is_none()).map(|r| r.message.clone()),
        });
    }
    page(
        status,
        &IndexPage {
            can_create: m.org_role() >= Role::Admin,
            nav: m.nav("site"),
            projects: cards,
            create: create.unwrap_or_default(),
        },
    )
}

async fn add_domain(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    RawForm(raw): RawForm,
) -> Response {
    let form = Fields::parse(&raw);
    let (m, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), form.csrf(), Role::Admin).await
    );
    let domain = form.get("domain").map(|s| s.trim()).unwrap_or("");
    let url = form.get("url").map(|s| s.trim()).unwrap_or("");
    let mut body = json!({ "domain": domain });
    if !url.is_empty() {
        body["url"] = json!(url);
    }
    let done = match accord_core::site::parse_domain_body(
        &body,
        accord_core::site::domain_create_schema(),
    ) {
        Ok(b) => domains::add(&state, &p, b).await,
        Err(e) => Err(e.into()),
    };
    match done {
        Ok(_) => see_other(&format!("/console/o/{org}/site#project-{project}")),
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                let refused = DomainRefusal {
                    project,
                    domain: domain.to_string(),
                    url: url.to_string(),
                    message,
                };
                let base = api_base(&state, &headers, &ext);
                render_index(&state, m, &base, status, Some(refused), None).await
            }
            Err(r) => r,
        },
    }
}

/// Creates a project through the Privacy API's create (§7.3): a name and its domains, the
/// Default region planned as for a body without `regionTemplate`. Role: organization admin.
async fn create_project(
    State(state): State<AppState>,
    browser: Browser,
    Path(org): Path<Uuid>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
    RawForm(raw): RawForm,
) -> Response {
    let form = Fields::parse(&raw);
    let m = or_answer!(Member::writing(&state, &browser, org, form.csrf(), Role::Admin).await);
    let name = form.get("name").map(|s| s.trim()).unwrap_or("").to_string();
    let domains = form.one("domains");
    let body = json!({"name": name, "domains": list_of(&domains)});
    match crate::routes::projects::create_from(&state, org, &body).await {
        Ok(p) => see_other(&format!("/console/o/{org}/site#project-{}", p.id)),
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                let field = field_for(&message, ["name", "domains"]);
                let at = |f: &str| (field == Some(f)).then(|| message.clone());
                let create = NewProjectForm {
                    name,
                    domains,
                    name_error: at("name"),
                    domains_error: at("domains"),
                    error: field.is_none().then(|| message.clone()),
                };
                let base = api_base(&state, &headers, &ext);
                render_index(&state, m, &base, status, None, Some(create)).await
            }
            Err(r) => r,
        },
    }
}

async fn remove_domain(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let form = Fields::parse(&raw);
    let (_, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), form.csrf(), Role::Admin).await
    );
    match domains::remove(&state, &p, id).await {
        Ok(_) => see_other(&format!("/console/o/{org}/site#project-{project}")),
        // A domain that is not the project's (any more) is 403, as any URL outside it.
        Err(accord_core::Error::NotFound(_)) => forbidden(),
        Err(e) => internal(e),
    }
}

// ---------------------------------------------------------------------------------------
// A Region: banner settings, texts, codes, languages, and the preview

const POSITIONS: &[&str] = &[
    "left-bottom",
    "right-bottom",
    "center",
    "left-top",
    "right-top",
];
const LAYOUTS: &[&str] = &["box", "bar"];
/// The prefix of a banner text field: the rest is the widget's string key, stored in the
/// Region's `language.translations` of its default language.
const TEXT: &str = "text/";

const REGION_FIELDS: &[Def] = &[def("name", "Name", Kind::Text, "")];
const CODES_FIELD: &[Def] = &[def(
    "regions",
    "Location codes",
    Kind::Text,
    "Countries (FR), subdivisions (US-CA), EU or EEA, separated by spaces or commas.",
)];
const BANNER_FIELDS: &[Def] = &[
    def(
        "settings/consent/consentBanner/enabled",
        "Show the consent banner",
        Kind::Check,
        "",
    ),
    def(
        "settings/consent/consentBanner/layout",
        "Layout",
        Kind::Select(LAYOUTS),
        "A box in a corner or a bar across the page.",
    ),
    def(
        "settings/consent/consentBanner/position",
        "Position",
        Kind::Select(POSITIONS),
        "",
    ),
    def(
        "settings/consent/consentBanner/theme",
        "Theme",
        Kind::Select(THEMES),
        "Brand uses the colours below.",
    ),
    def(
        "settings/consent/consentBanner/title",
        "Show a title",
        Kind::Check,
        "",
    ),
    def(
        "settings/consent/consentBanner/denyButton",
        "Deny all button",
        Kind::Check,
        "",
    ),
    def(
        "settings/consent/consentBanner/customizeButton",
        "Customise button",
        Kind::Check,
        "",
    ),
    def(
        "settings/consent/consentBanner/closeButton",
        "Close button",
        Kind::Check,
        "",
    ),
    def(
        "settings/consent/consentBanner/showGooglePrivacyPolicy",
        "Link to Google's privacy policy",
        Kind::Check,
        "",
    ),
];
const TEXT_FIELDS: &[Def] = &[
    def("text/banner.title", "Title", Kind::Text, ""),
    def("text/banner.description", "Description", Kind::Area, ""),
    def("text/banner.accept", "Accept button", Kind::Text, ""),
    def("text/banner.deny", "Deny button", Kind::Text, ""),
    def("text/banner.customize", "Customise button", Kind::Text, ""),
];
const LOOK_FIELDS: &[Def] = &[
    def(
        "settings/branding/primaryColor",
        "Primary colour",
        Kind::Text,
        "#RRGGBB",
    ),
    def(
        "settings/branding/secondaryColor",
        "Secondary colour",
        Kind::Text,
        "#RRGGBB",
    ),
    def(
        "settings/branding/font",
        "Font",
        Kind::Text,
        "A CSS font family.",
    ),
    def(
        "settings/branding/buttonRadius",
        "Button corner radius",
        Kind::Text,
        "A CSS length such as 6px.",
    ),
    def(
        "settings/branding/cardRadius",
        "Banner corner radius",
        Kind::Text,
        "A CSS length such as 6px.",
    ),
];
const CONSENT_FIELDS: &[Def] = &[
    def(
        "settings/consent/consentMode",
        "Consent mode",
        Kind::Select(CONSENT_MODES),
        "Express: nothing but strictly necessary before a choice. Implied: consent assumed until declined.",
    ),
    def(
        "settings/consent/blockingMode",
        "Blocking mode",
        Kind::Select(BLOCKING_MODES),
        "How trackers are held back until consent.",
    ),
    def(
        "settings/consent/gcm",
        "Google Consent Mode",
        Kind::Select(GCM_MODES),
        "",
    ),
    def(
        "settings/consent/gpc",
        "Honour Global Privacy Control",
        Kind::Check,
        "",
    ),
    def(
        "settings/consent/consentDuration",
        "Months a choice is kept",
        Kind::Int,
        "1 to 60.",
    ),
];
const LANGUAGE_FIELDS: &[Def] = &[
    def("enabled", "Offer several languages", Kind::Check, ""),
    def(
        "defaultLanguage",
        "Default language",
        Kind::Text,
        "A BCP 47 tag such as en or fr-CA.",
    ),
    def(
        "languages",
        "Languages offered",
        Kind::Text,
        "BCP 47 tags separated by spaces or commas.",
    ),
];

/// The groups of the Region form, the Default region's codes left out (they cannot change).
fn region_groups(is_default: bool) -> Vec<(&'static str, Vec<&'static [Def]>)> {
    let mut region: Vec<&'static [Def]> = vec![REGION_FIELDS];
    if !is_default {
        region.push(CODES_FIELD);
    }
    vec![
        ("Region", region),
        ("Banner", vec![BANNER_FIELDS]),
        ("Banner texts", vec![TEXT_FIELDS]),
        ("Colours and shape", vec![LOOK_FIELDS]),
        ("Consent", vec![CONSENT_FIELDS]),
    ]
}

fn default_language(r: &Region) -> String {
    r.draft
        .language
        .get("defaultLanguage")
        .and_then(Value::as_str)
        .unwrap_or("en")
        .to_string()
}

/// A Region field's stored value.
fn stored(r: &Region) -> impl Fn(&Def) -> (String, bool) + '_ {
    move |d| {
        if d.name == "name" {
            return (r.draft.name.clone(), false);
        }
        if d.name == "regions" {
            return (r.draft.regions.join(", "), false);
        }
        if let Some(key) = d.name.strip_prefix(TEXT) {
            let lang = default_language(r);
            let v = r
                .draft
                .language
                .get("translations")
                .and_then(|t| t.get(&lang))
                .and_then(|t| t.get(key));
            return scalar_text(v);
        }
        if let Some(path) = d.name.strip_prefix("settings") {
            return scalar_text(r.draft.settings.pointer(path));
        }
        match d.name {
            "enabled" | "defaultLanguage" => scalar_text(r.draft.language.get(d.name)),
            "languages" => (
                r.draft
                    .language
                    .get("languages")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                false,
            ),
            _ => (String::new(), false),
        }
    }
}

struct Group {
    title: &'static str,
    id: String,
    fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "console/site_region.html")]
struct RegionPage {
    nav: OrgNav,
    project: String,
    name: String,
    codes: String,
    is_default: bool,
    can_admin: bool,
    action: String,
    languages_action: String,
    preview: String,
    back: String,
    groups: Vec<Group>,
    language: Vec<FieldView>,
    error: Option<String>,
    language_error: Option<String>,
    notice: Option<String>,
}

/// Which form of the Region page was refused, with what was typed and the message.
enum RegionRefusal<'a> {
    Settings(&'a Fields, String),
    Languages(&'a Fields, String),
}

fn render_region(
    m: &Member,
    p: &Project,
    r: &Region,
    status: StatusCode,
    refused: Option<RegionRefusal<'_>>,
    notice: Option<String>,
) -> Response {
    let can_admin = m.project_role(p.id) >= Role::Admin;
    let org = m.org.id;
    let all: Vec<&Def> = region_groups(r.draft.is_default)
        .iter()
        .flat_map(|(_, defs)| defs.iter().flat_map(|d| d.iter()))
        .collect();
    let (mut error, mut language_error) = (None, None);
    let settings_err = match &refused {
        Some(RegionRefusal::Settings(_, msg)) => {
            let f = field_for(msg, all.iter().map(|d| d.name));
            let f = f.or_else(|| msg.contains("location code").then_some("regions"));
            if f.is_none() || f == Some("regions") && r.draft.is_default {
                error = Some(msg.clone());
            }
            f.map(|f| (f, msg.as_str()))
        }
        _ => None,
    };
    let language_err = match &refused {
        Some(RegionRefusal::Languages(_, msg)) => {
            let f = field_for(msg, LANGUAGE_FIELDS.iter().map(|d| d.name));
            if f.is_none() {
                language_error = Some(msg.clone());
            }
            f.map(|f| (f, msg.as_str()))
        }
        _ => None,
    };
    let groups = region_groups(r.draft.is_default)
        .into_iter()
        .enumerate()
        .map(|(i, (title, defs))| Group {
            title,
            id: format!("group-{i}"),
            fields: defs
                .into_iter()
                .flat_map(|defs| match &refused {
                    Some(RegionRefusal::Settings(form, _)) => {
                        fields(defs, typed(form), settings_err, !can_admin)
                    }
                    _ => fields(defs, stored(r), None, !can_admin),
                })
                .collect(),
        })
        .collect();
    let language = match &refused {
        Some(RegionRefusal::Languages(form, _)) => {
            fields(LANGUAGE_FIELDS, typed(form), language_err, !can_admin)
        }
        _ => fields(LANGUAGE_FIELDS, stored(r), None, !can_admin),
    };
    let href = region_href(org, p.id, r.id);
    let mut res = page(
        status,
        &RegionPage {
            nav: m.nav("site"),
            project: p.name.clone(),
            name: r.draft.name.clone(),
            codes: r.draft.regions.join(", "),
            is_default: r.draft.is_default,
            can_admin,
            languages_action: format!("{href}/languages"),
            preview: format!("{href}/preview?v={}", r.date_updated),
            back: format!("/console/o/{org}/site#project-{}", p.id),
            action: href,
            groups,
            language,
            error,
            language_error,
            notice,
        },
    );
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FRAMING_CSP),
    );
    res
}

async fn region_of(state: &AppState, p: &Project, id: Uuid) -> Result<Region, Response> {
    match state.store.get_region(p.id, id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(forbidden()),
        Err(e) => Err(internal(e)),
    }
}

async fn region_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
) -> Response {
    let (m, p) =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    match region_of(&state, &p, id).await {
        Ok(r) => render_region(&m, &p, &r, StatusCode::OK, None, None),
        Err(res) => res,
    }
}

/// The Region PATCH body (§7.8) the form stands for: every field of the form, the banner
/// texts merged into the stored translations of the default language (an empty text
/// removed, so the widget's own string shows).
fn region_body(form: &Fields, r: &Region) -> Value {
    let mut body = json!({});
    let lang = default_language(r);
    let mut translations = r
        .draft
        .language
        .get("translations")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut texts_given = false;
    for (_, groups) in region_groups(r.draft.is_default) {
        for d in groups.iter().flat_map(|g| g.iter()) {
            if let Some(key) = d.name.strip_prefix(TEXT) {
                texts_given = true;
                let text = form.get(d.name).map(|s| s.trim()).unwrap_or("");
                let Some(all) = translations.as_object_mut() else {
                    continue;
                };
                let mine = all.entry(lang.clone()).or_insert_with(|| json!({}));
                if let Some(o) = mine.as_object_mut() {
                    if text.is_empty() {
                        o.remove(key);
                    } else {
                        o.insert(key.to_string(), json!(text));
                    }
                }
            } else if d.name == "regions" {
                let codes = list_of(form.get("regions").unwrap_or(""));
                body["regions"] = json!(codes);
            } else {
                put(&mut body, d.name, sent(d, form));
            }
        }
    }
    if texts_given {
        if let Some(all) = translations.as_object_mut() {
            all.retain(|_, v| v.as_object().is_none_or(|o| !o.is_empty()));
        }
        body["language"] = json!({ "translations": translations });
    }
    body
}

async fn region_save(
    State(state): State<AppState>,
    browser: Browser,
    Path(ids): Path<(Uuid, Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    region_change(&state, &browser, ids, &raw, RegionForm::Settings).await
}

async fn region_languages(
    State(state): State<AppState>,
    browser: Browser,
    Path(ids): Path<(Uuid, Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    region_change(&state, &browser, ids, &raw, RegionForm::Languages).await
}

/// The two forms of the Region page.
#[derive(Clone, Copy)]
enum RegionForm {
    /// The banner settings, texts and codes: the Privacy API's Region PATCH.
    Settings,
    /// The languages: the Privacy API's languages PUT.
    Languages,
}

/// A form of the Region page: the admin of the project, the Region, the body the API's
/// request takes, its schema and the route's save; the page again with the outcome.
async fn region_change(
    state: &AppState,
    browser: &Browser,
    (org, project, id): (Uuid, Uuid, Uuid),
    raw: &[u8],
    which: RegionForm,
) -> Response {
    let form = Fields::parse(raw);
    let (m, p) = or_answer!(
        Member::writing_project(state, browser, (org, project), form.csrf(), Role::Admin).await
    );
    let r = or_answer!(region_of(state, &p, id).await);
    let (done, notice) = match which {
        RegionForm::Settings => {
            let done = match region_routes::parse_patch(&region_body(&form, &r)) {
                Ok(patch) => region_routes::save_patch(state, &p, r.clone(), &patch).await,
                Err(e) => Err(e),
            };
            (done, "Saved. The preview shows the change.")
        }
        RegionForm::Languages => {
            let done = match accord_core::schema::parse(
                &languages_body(&form),
                regions::languages_schema(),
            ) {
                Ok(b) => region_routes::save_languages(state, r.clone(), &b).await,
                Err(e) => Err(e.into()),
            };
            (done, "Languages saved.")
        }
    };
    match done {
        Ok(saved) => render_region(&m, &p, &saved, StatusCode::OK, None, Some(notice.into())),
        Err(e) => match refusal(e) {
            Ok((status, msg)) => {
                let refused = match which {
                    RegionForm::Settings => RegionRefusal::Settings(&form, msg),
                    RegionForm::Languages => RegionRefusal::Languages(&form, msg),
                };
                render_region(&m, &p, &r, status, Some(refused), None)
            }
            Err(res) => res,
        },
    }
}

/// The body of the languages PUT a languages form sends.
fn languages_body(form: &Fields) -> Value {
    let mut body = json!({ "enabled": form.has("enabled") });
    let default_language = form.get("defaultLanguage").map(|s| s.trim()).unwrap_or("");
    if !default_language.is_empty() {
        body["defaultLanguage"] = json!(default_language);
    }
    body["languages"] = json!(list_of(form.get("languages").unwrap_or("")));
    body
}

#[derive(Template)]
#[template(path = "console/site_preview.html")]
struct PreviewPage {
    region: String,
    script: String,
    region_id: Uuid,
}

/// A page with the project's real site client and widget, told by `data-concord-preview`
/// to draw this Region's banner without a session (README, "Site client"). Framed by the
/// Region page only (`frame-ancestors 'self'`); scripts from this server and the API base.
async fn preview(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
    headers: HeaderMap,
    ext: axum::http::Extensions,
) -> Response {
    let (_, p) =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    let r = or_answer!(region_of(&state, &p, id).await);
    let base = api_base(&state, &headers, &ext);
    let mut res = page(
        StatusCode::OK,
        &PreviewPage {
            region: r.draft.name.clone(),
            script: format!("{base}/site-v1/{}/site-client?v={}", p.id, r.date_updated),
            region_id: r.id,
        },
    );
    let csp = format!(
        "default-src 'none'; script-src 'self' {base}; connect-src 'self' {base}; style-src 'self'; img-src 'self' {base} data: https: http:; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
    );
    let h = res.headers_mut();
    match HeaderValue::from_str(&csp) {
        Ok(v) => h.insert(header::CONTENT_SECURITY_POLICY, v),
        Err(e) => return internal(e),
    };
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    res
}

// ---------------------------------------------------------------------------------------
// Trackers

struct TrackerRow {
    name: String,
    kind: String,
    domain: String,
    category: String,
    origin: String,
    detected: String,
    action: String,
    select_id: String,
    options: Vec<Opt>,
    error: Option<String>,
}

struct CategoryCount {
    label: String,
    count: i64,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/site_trackers.html")]
struct TrackersPage {
    nav: OrgNav,
    project: String,
    back: String,
    can_admin: bool,
    counts: Vec<CategoryCount>,
    all_href: String,
    all_total: i64,
    filter: String,
    total: i64,
    rows: Vec<TrackerRow>,
    next: Option<String>,
    previous: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

/// A refused classification: the tracker, what was chosen and the message.
struct Misclassified {
    tracker: Uuid,
    category: String,
    message: String,
}

async fn trackers_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (m, p) =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    let q = Fields::query(raw.as_deref());
    let filter = q.one("category");
    let offset = q
        .get("offset")
        .and_then(|o| o.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let notice = q.has("saved").then(|| "Classification saved.".to_string());
    render_trackers(
        &state,
        &m,
        &p,
        &filter,
        offset,
        StatusCode::OK,
        None,
        notice,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn render_trackers(
    state: &AppState,
    m: &Member,
    p: &Project,
    filter: &str,
    offset: i64,
    status: StatusCode,
    refused: Option<Misclassified>,
    notice: Option<String>,
) -> Response {
    let org = m.org.id;
    let base = format!("/console/o/{org}/p/{}/trackers", p.id);
    let (filter, mut error) = if filter.is_empty() || CATEGORIES.contains(&filter) {
        (filter, None)
    } else {
        (
            "",
            Some(format!("category must be one of {}", CATEGORIES.join(", "))),
        )
    };
    let of = |category: Option<&str>| TrackerFilter {
        project_id: p.id,
        name: None,
        company: None,
        domain: None,
        category: category.map(|c| vec![c.to_string()]),
        tracker_type: None,
        origin: None,
    };
    let by_category: HashMap<String, i64> = match state.store.tracker_category_counts(p.id).await {
        Ok(c) => c.into_iter().collect(),
        Err(e) => return internal(e),
    };
    let mut counts = Vec::new();
    let mut all_total = 0;
    for c in CATEGORIES {
        let n = by_category.get(*c).copied().unwrap_or(0);
        all_total += n;
        counts.push(CategoryCount {
            label: label(c),
            count: n,
            href: format!("{base}?category={c}"),
            current: filter == *c,
        });
    }
    let page_q = Page {
        offset,
        limit: TRACKER_PAGE,
        sort: "name".into(),
        desc: false,
    };
    let chosen = (!filter.is_empty()).then_some(filter);
    let (total, items) = match state.store.list_trackers(&of(chosen), &page_q).await {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let can_admin = m.project_role(p.id) >= Role::Admin;
    let rows = items
        .iter()
        .map(|t| {
            let mine = refused.as_ref().filter(|r| r.tracker == t.id);
            let category = mine.map_or(t.category.as_str(), |r| r.category.as_str());
            TrackerRow {
                name: t.name.clone(),
                kind: label(&t.tracker_type),
                domain: t.domain.clone().unwrap_or_default(),
                category: label(&t.category),
                origin: t.origin.clone(),
                detected: t.date_detected.map(fmt_time).unwrap_or_default(),
                action: format!("{base}/{}", t.id),
                select_id: format!("category-{}", t.id),
                options: CATEGORIES
                    .iter()
                    .map(|&c| Opt {
                        value: c,
                        selected: c == category,
                    })
                    .collect(),
                error: mine.map(|r| r.message.clone()),
            }
        })
        .collect();
    if let Some(r) = &refused {
        if !items.iter().any(|t| t.id == r.tracker) {
            error = Some(r.message.clone());
        }
    }
    let with = |offset: i64| {
        let mut q = format!("{base}?offset={offset}");
        if !filter.is_empty() {
            q.push_str(&format!("&category={filter}"));
        }
        q
    };
    let next = (offset + TRACKER_PAGE < total).then(|| with(offset + TRACKER_PAGE));
    let previous = (offset > 0).then(|| with((offset - TRACKER_PAGE).max(0)));
    let status = if error.is_some() && status == StatusCode::OK {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    page(
        status,
        &TrackersPage {
            nav: m.nav("site"),
            project: p.name.clone(),
            back: format!("/console/o/{org}/site#project-{}", p.id),
            can_admin,
            counts,
            all_href: base,
            all_total,
            filter: filter.to_string(),
            total,
            rows,
            next,
            previous,
            error,
            notice,
        },
    )
}

async fn classify(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project, id)): Path<(Uuid, Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let form = Fields::parse(&raw);
    let (m, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), form.csrf(), Role::Admin).await
    );
    let category = form.one("category");
    let filter = form.one("filter");
    let body = json!({ "category": category });
    let done = trackers_routes::update_tracker(&state, Ok(&p), id, &body).await;
    match done {
        Ok(_) => {
            let mut to = format!("/console/o/{org}/p/{project}/trackers?saved=1");
            if CATEGORIES.contains(&filter.as_str()) {
                to.push_str(&format!("&category={filter}"));
            }
            see_other(&to)
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                let refused = Misclassified {
                    tracker: id,
                    category,
                    message,
                };
                render_trackers(&state, &m, &p, &filter, 0, status, Some(refused), None).await
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// Scans

const SCHEDULE_FIELDS: &[Def] = &[
    def(
        "scheduledScanEnabled",
        "Scan on a schedule",
        Kind::Check,
        "",
    ),
    def(
        "scanPeriod",
        "How often",
        Kind::Select(SCAN_PERIODS),
        "Quarterly runs as monthly in January, April, July and October.",
    ),
    def("scheduledHour", "Hour (UTC)", Kind::Int, "0 to 23."),
    def(
        "scheduledDayOfWeek",
        "Day of the week (weekly)",
        Kind::Int,
        "0 (Sunday) to 6.",
    ),
    def(
        "scheduledDayOfMonth",
        "Day of the month (monthly, quarterly)",
        Kind::Int,
        "1 to 31, the month's last day when it has fewer.",
    ),
];

struct IssueView {
    tracker: String,
    category: String,
    code: String,
    message: String,
    evidence: Vec<String>,
}

struct ScanView {
    date: String,
    status: String,
    kind: String,
    domains: i64,
    total: i64,
    new: i64,
    known: i64,
    categories: String,
    /// How the consent replay declined (empty: no replay) and whether it passed.
    replay: String,
    passed: bool,
    issues: Vec<IssueView>,
}

struct GcmPageView {
    url: String,
    passed: bool,
    issues: Vec<String>,
}

struct GcmView {
    date: String,
    status: String,
    target: String,
    error: String,
    pages: Vec<GcmPageView>,
}

#[derive(Template)]
#[template(path = "console/site_scans.html")]
struct ScansPage {
    nav: OrgNav,
    project: String,
    back: String,
    trackers: String,
    can_admin: bool,
    schedule_action: String,
    run_action: String,
    schedule: Vec<FieldView>,
    next_run: String,
    scans: Vec<ScanView>,
    gcm: Vec<GcmView>,
    error: Option<String>,
    schedule_error: Option<String>,
    notice: Option<String>,
}

fn scan_view(s: &Scan) -> ScanView {
    let c = &s.results.categories;
    let categories = [
        ("analytics", c.analytics),
        ("functional", c.functional),
        ("marketing", c.marketing),
        ("strictly necessary", c.strictly_necessary),
        ("unclassified", c.unclassified),
        ("ignored", c.ignored),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| format!("{k} {n}"))
    .collect::<Vec<_>>()
    .join(", ");
    let replay = s.results.consent_replay.as_ref();
    ScanView {
        date: fmt_time(s.date),
        status: s.status.clone(),
        kind: s.scan_type.clone(),
        domains: s.domains_count,
        total: s.results.total,
        new: s.results.new,
        known: s.results.project,
        categories,
        replay: replay.map(|r| label(&r.mode)).unwrap_or_default(),
        passed: replay.is_some_and(|r| r.passed),
        issues: replay
            .map(|r| {
                r.issues
                    .iter()
                    .map(|i| IssueView {
                        tracker: i
                            .tracker_name
                            .clone()
                            .unwrap_or_else(|| "Google measurement".into()),
                        category: i.category.clone().unwrap_or_default(),
                        code: label(&i.code),
                        message: i.message.clone(),
                        evidence: i.requests.iter().chain(&i.cookies).cloned().collect(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

async fn scans_page(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (m, p) =
        or_answer!(Member::of_project(&state, &browser, (org, project), Role::Viewer).await);
    let q = Fields::query(raw.as_deref());
    let notice = if q.has("started") {
        Some("The scan has started; reload this page to see its results.".to_string())
    } else if q.has("saved") {
        Some("Schedule saved.".to_string())
    } else {
        None
    };
    render_scans(&state, &m, &p, StatusCode::OK, None, None, notice).await
}

async fn render_scans(
    state: &AppState,
    m: &Member,
    p: &Project,
    status: StatusCode,
    schedule_refused: Option<(&Fields, String)>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let org = m.org.id;
    let can_admin = m.project_role(p.id) >= Role::Admin;
    let schedule = match tracker_scans::schedule_of(state, p).await {
        Ok(s) => s,
        Err(e) => return internal(e.0),
    };
    let history = match state.store.scan_history(p.id, SCANS_SHOWN).await {
        Ok(h) => h,
        Err(e) => return internal(e),
    };
    let gcm = match state
        .store
        .list_gcm_scans(
            &GcmScanFilter {
                project_id: p.id,
                status: None,
                scan_type: None,
            },
            &Page {
                offset: 0,
                limit: GCM_SHOWN,
                sort: "dateCreated".into(),
                desc: true,
            },
        )
        .await
    {
        Ok((_, items)) => items,
        Err(e) => return internal(e),
    };
    let mut schedule_error = None;
    let fields_shown = match &schedule_refused {
        Some((form, msg)) => {
            let f = field_for(msg, SCHEDULE_FIELDS.iter().map(|d| d.name));
            if f.is_none() {
                schedule_error = Some(msg.clone());
            }
            fields(
                SCHEDULE_FIELDS,
                typed(form),
                f.map(|f| (f, msg.as_str())),
                !can_admin,
            )
        }
        None => fields(
            SCHEDULE_FIELDS,
            |d| match d.name {
                "scheduledScanEnabled" => (String::new(), schedule.enabled),
                "scanPeriod" => (schedule.period.clone(), false),
                "scheduledHour" => (schedule.hour.to_string(), false),
                "scheduledDayOfWeek" => (schedule.day_of_week.to_string(), false),
                _ => (schedule.day_of_month.to_string(), false),
            },
            None,
            !can_admin,
        ),
    };
    let base = format!("/console/o/{org}/p/{}/scans", p.id);
    page(
        status,
        &ScansPage {
            nav: m.nav("site"),
            project: p.name.clone(),
            back: format!("/console/o/{org}/site#project-{}", p.id),
            trackers: format!("/console/o/{org}/p/{}/trackers", p.id),
            can_admin,
            schedule_action: format!("{base}/schedule"),
            run_action: format!("{base}/run"),
            schedule: fields_shown,
            next_run: schedule.next_run.map(fmt_time).unwrap_or_default(),
            scans: history.iter().map(scan_view).collect(),
            gcm: gcm
                .iter()
                .map(|g| GcmView {
                    date: fmt_time(g.date_created),
                    status: g.status.clone(),
                    target: g.url.clone().unwrap_or_else(|| "every domain".into()),
                    error: g.error.clone().unwrap_or_default(),
                    pages: g
                        .results
                        .iter()
                        .map(|r| GcmPageView {
                            url: r.url.clone(),
                            passed: r.passed,
                            issues: r
                                .issues
                                .iter()
                                .map(|i| format!("{}: {}", label(&i.code), i.message))
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            error,
            schedule_error,
            notice,
        },
    )
}

async fn schedule_save(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let form = Fields::parse(&raw);
    let (m, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), form.csrf(), Role::Admin).await
    );
    let mut body = Map::new();
    for d in SCHEDULE_FIELDS {
        body.insert(d.name.to_string(), sent(d, &form));
    }
    let done = match accord_core::schema::parse::<scans::SchedulePatch>(
        &Value::Object(body),
        scans::patch_schema(),
    ) {
        Ok(b) => tracker_scans::save_schedule(&state, &p, &b).await,
        Err(e) => Err(e.into()),
    };
    match done {
        Ok(_) => see_other(&format!("/console/o/{org}/p/{project}/scans?saved=1")),
        Err(e) => match refusal(e) {
            Ok((status, msg)) => {
                render_scans(&state, &m, &p, status, Some((&form, msg)), None, None).await
            }
            Err(r) => r,
        },
    }
}

async fn scan_now(
    State(state): State<AppState>,
    browser: Browser,
    Path((org, project)): Path<(Uuid, Uuid)>,
    RawForm(raw): RawForm,
) -> Response {
    let form = Fields::parse(&raw);
    let (m, p) = or_answer!(
        Member::writing_project(&state, &browser, (org, project), form.csrf(), Role::Admin).await
    );
    match tracker_scans::run_now(&state, p.clone()).await {
        Ok(_) => see_other(&format!("/console/o/{org}/p/{project}/scans?started=1")),
        Err(e) => match refusal(e) {
            Ok((status, msg)) => render_scans(&state, &m, &p, status, None, Some(msg), None).await,
            Err(r) => r,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_shown_next_to_the_field_its_path_names() {
        let names = ["regions", "settings/branding/primaryColor", "name"];
        assert_eq!(
            field_for(
                "body/settings/branding/primaryColor must match pattern \"x\"",
                names
            ),
            Some("settings/branding/primaryColor")
        );
        assert_eq!(
            field_for("body/regions/0 must match format \"location code\"", names),
            Some("regions")
        );
        assert_eq!(
            field_for("the Default region cannot be deleted", names),
            None
        );
    }

    #[test]
    fn form_paths_build_nested_bodies() {
        let mut body = json!({});
        put(
            &mut body,
            "settings/consent/consentBanner/position",
            json!("center"),
        );
        put(&mut body, "settings/consent/gpc", json!(true));
        put(&mut body, "name", json!("EU"));
        assert_eq!(
            body,
            json!({"name": "EU", "settings": {"consent": {"gpc": true, "consentBanner": {"position": "center"}}}})
        );
        assert_eq!(list_of("FR, de  US-CA,"), vec!["FR", "de", "US-CA"]);
    }
}

//! The console's Data map section of an organization (§6): the data systems (paged list,
//! create, edit, delete), the attributes of the nine kinds, the links between them, and the
//! record of processing with its CSV export. Every write builds the Privacy API's body and
//! goes through the same functions as its routes (`routes::data_systems::write_system`,
//! `routes::data_system_attributes::write_attribute`), so the rules and the 422 messages
//! are the API's; the CSV is the one `GET …/records-of-processing?format=csv` answers.
use super::org::{
    field_of, forbidden, refusal, Admin, Fields, Member, OrgNav, Reading, Viewer, Writing,
};
use super::{internal, page, see_other};
use crate::routes::data_system_attributes::{delete_attribute, write_attribute};
use crate::routes::data_systems::{delete_system, write_system};
use crate::routes::records_of_processing;
use crate::AppState;
use accord_core::auth::Role;
use accord_core::datamap::{self, AttributeKind, DataMap, DataSystem, Index, RopItem};
use accord_core::query::{self, Page};
use accord_core::Error;
use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// Rows of one page of the systems list.
const PAGE_SIZE: i64 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/o/{org}/data-map", get(index).post(create))
        .route(
            "/o/{org}/data-map/systems/{id}",
            get(system_page).post(change_system),
        )
        .route(
            "/o/{org}/data-map/attributes",
            get(attributes_page).post(change_attribute),
        )
        .route(
            "/o/{org}/data-map/attributes/{kind}/{id}",
            get(attribute_page).post(change_one_attribute),
        )
        .route("/o/{org}/data-map/record-of-processing", get(record_page))
        .route(
            "/o/{org}/data-map/record-of-processing.csv",
            get(record_csv),
        )
}

/// The heading of a kind of attribute.
pub(crate) fn kind_label(kind: AttributeKind) -> &'static str {
    match kind {
        AttributeKind::Contacts => "Contacts",
        AttributeKind::Destinations => "Destinations (recipients)",
        AttributeKind::Origins => "Origins of the data",
        AttributeKind::ProcessingActivities => "Processing activities",
        AttributeKind::ProcessingPurposes => "Processing purposes",
        AttributeKind::Relationships => "Relationship",
        AttributeKind::SecurityMeasures => "Security measures",
        AttributeKind::DataCategories => "Data categories",
        AttributeKind::DataSubjects => "Data subjects",
        AttributeKind::ContactTypes => "Contact types",
    }
}

// ---------------------------------------------------------------------------------------
// The system form

/// What the system form holds: as stored, or as the User typed it.
#[derive(Default, Clone)]
struct SystemForm {
    name: String,
    status: String,
    cross_border: bool,
    retention: String,
    additional_notes: String,
    type_id: String,
    icon: String,
    projects: Vec<String>,
    /// Body field of a kind (`AttributeKind::system_field`) → the attribute ids ticked.
    links: HashMap<&'static str, Vec<String>>,
}

impl SystemForm {
    fn new_system() -> SystemForm {
        SystemForm {
            status: "active".into(),
            retention: datamap::DEFAULT_RETENTION.into(),
            type_id: datamap::DEFAULT_TYPE.into(),
            ..SystemForm::default()
        }
    }

    fn of(s: &DataSystem, idx: &Index) -> SystemForm {
        let mut links = HashMap::new();
        for kind in AttributeKind::editable() {
            links.insert(
                kind.system_field(),
                idx.linked(s.id, *kind).map(|a| a.id.to_string()).collect(),
            );
        }
        SystemForm {
            name: s.name.clone(),
            status: s.status.clone(),
            cross_border: s.cross_border,
            retention: s.retention.clone(),
            additional_notes: s.additional_notes.clone().unwrap_or_default(),
            type_id: s.data_system_type_id.clone(),
            icon: s.icon.clone().unwrap_or_default(),
            projects: idx.projects_of(s.id).iter().map(Uuid::to_string).collect(),
            links,
        }
    }

    fn from_fields(f: &Fields) -> SystemForm {
        let mut links = HashMap::new();
        for kind in AttributeKind::editable() {
            let field = kind.system_field();
            links.insert(
                field,
                f.all(field).into_iter().filter(|v| !v.is_empty()).collect(),
            );
        }
        SystemForm {
            name: f.one("name"),
            status: f.one("status"),
            cross_border: f.one("crossBorder") == "true",
            retention: f.one("retention"),
            additional_notes: f.one("additionalNotes"),
            type_id: f.one("dataSystemTypeId"),
            icon: f.one("icon"),
            projects: f.all("projectIds"),
            links,
        }
    }

    /// The Privacy API body (§6.2) of the form. An optional text left empty is sent as
    /// `""` (which clears it) only when the system had a value.
    fn body(&self, before: Option<&SystemForm>) -> Value {
        let mut b = Map::new();
        b.insert("name".into(), json!(self.name));
        b.insert("status".into(), json!(self.status));
        b.insert("crossBorder".into(), json!(self.cross_border));
        for (key, now, was) in [
            ("retention", &self.retention, before.map(|b| &b.retention)),
            (
                "additionalNotes",
                &self.additional_notes,
                before.map(|b| &b.additional_notes),
            ),
            (
                "dataSystemTypeId",
                &self.type_id,
                before.map(|b| &b.type_id),
            ),
            ("icon", &self.icon, before.map(|b| &b.icon)),
        ] {
            if !now.trim().is_empty() || was.is_some_and(|w| !w.is_empty()) {
                b.insert(key.into(), json!(now));
            }
        }
        b.insert("projectIds".into(), json!(self.projects));
        for kind in AttributeKind::editable() {
            let field = kind.system_field();
            let ids = self.links.get(field).cloned().unwrap_or_default();
            if *kind == AttributeKind::Relationships {
                b.insert(
                    field.into(),
                    json!(ids.into_iter().next().unwrap_or_default()),
                );
            } else {
                b.insert(field.into(), json!(ids));
            }
        }
        Value::Object(b)
    }
}

struct Choice {
    id: String,
    name: String,
    checked: bool,
}

/// The attributes of one kind a system can be linked to, as checkboxes (a select for the
/// relationship, which is one).
struct KindChoices {
    field: &'static str,
    label: &'static str,
    single: bool,
    choices: Vec<Choice>,
    error: Option<String>,
}

/// The form's choices and the message of the field it names.
struct FormView {
    form: SystemForm,
    kinds: Vec<KindChoices>,
    projects: Vec<Choice>,
    statuses: &'static [&'static str],
    /// The field the error names, and the message.
    error_field: String,
    error: Option<String>,
}

impl FormView {
    fn new(
        form: SystemForm,
        map: &DataMap,
        projects: &[(Uuid, String)],
        error: Option<String>,
    ) -> FormView {
        let error_field = error
            .as_deref()
            .map(field_of)
            .unwrap_or_default()
            .to_string();
        let mut kinds = Vec::new();
        for kind in AttributeKind::editable() {
            let field = kind.system_field();
            let ticked = form.links.get(field).cloned().unwrap_or_default();
            let mut choices: Vec<Choice> = map
                .attributes
                .iter()
                .filter(|a| a.kind == *kind)
                .map(|a| Choice {
                    id: a.id.to_string(),
                    name: a.name.clone(),
                    checked: ticked.contains(&a.id.to_string()),
                })
                .collect();
            choices.sort_by(|a, b| a.name.cmp(&b.name));
            kinds.push(KindChoices {
                field,
                label: kind_label(*kind),
                single: *kind == AttributeKind::Relationships,
                choices,
                error: error.clone().filter(|_| {
                    error_field == field
                        || (error_field == "dataSystemProcessingActivities"
                            && field == "processingActivities")
                }),
            });
        }
        let projects = projects
            .iter()
            .map(|(id, name)| Choice {
                id: id.to_string(),
                name: name.clone(),
                checked: form.projects.contains(&id.to_string()),
            })
            .collect();
        FormView {
            form,
            kinds,
            projects,
            statuses: datamap::STATUSES,
            error_field,
            error,
        }
    }

    /// The message when it names `field`.
    fn error_for(&self, field: &str) -> Option<&str> {
        self.error.as_deref().filter(|_| self.error_field == field)
    }

    /// A message that names no field of the form, shown above it.
    fn general_error(&self) -> Option<&str> {
        const FIELDS: [&str; 8] = [
            "name",
            "status",
            "crossBorder",
            "retention",
            "additionalNotes",
            "dataSystemTypeId",
            "icon",
            "projectIds",
        ];
        let named = FIELDS.contains(&self.error_field.as_str())
            || self.kinds.iter().any(|k| k.error.is_some());
        self.error.as_deref().filter(|_| !named)
    }
}

async fn project_names(state: &AppState, org: Uuid) -> Result<Vec<(Uuid, String)>, Response> {
    match state.store.list_projects(org).await {
        Ok(ps) => Ok(ps.into_iter().map(|p| (p.id, p.name)).collect()),
        Err(e) => Err(internal(e)),
    }
}

async fn data_map(state: &AppState, org: Uuid) -> Result<DataMap, Response> {
    state.store.data_map(org).await.map_err(internal)
}

// ---------------------------------------------------------------------------------------
// The systems list and the new-system form

struct SystemRow {
    href: String,
    name: String,
    status: String,
    relationship: String,
    categories: String,
    projects: String,
}

#[derive(Template)]
#[template(path = "console/datamap.html")]
struct IndexPage {
    nav: OrgNav,
    rows: Vec<SystemRow>,
    total: i64,
    can_write: bool,
    fv: FormView,
    form_action: String,
    button: &'static str,
    next: Option<String>,
    previous: Option<String>,
    notice: Option<String>,
}

async fn render_index(
    state: &AppState,
    m: &Member,
    offset: i64,
    status: StatusCode,
    new: Option<(SystemForm, String)>,
    notice: Option<String>,
) -> Response {
    let org = &m.org;
    let map = or_answer!(data_map(state, org.id).await);
    let projects = or_answer!(project_names(state, org.id).await);
    let names: HashMap<Uuid, &str> = projects.iter().map(|(i, n)| (*i, n.as_str())).collect();
    let idx = Index::new(&map);
    let q = query::parse(Some(""), datamap::system_list_params()).map_err(internal);
    let q = or_answer!(q);
    let paging = Page {
        offset,
        limit: PAGE_SIZE,
        sort: "name".into(),
        desc: false,
    };
    let (total, items) = datamap::list_systems(&idx, &q, &paging);
    let rows = items
        .iter()
        .map(|s| SystemRow {
            href: format!("/console/o/{}/data-map/systems/{}", org.id, s.id),
            name: s.name.clone(),
            status: s.status.clone(),
            relationship: idx
                .relationship(s.id)
                .map(|r| r.name.clone())
                .unwrap_or_default(),
            categories: idx
                .linked(s.id, AttributeKind::DataCategories)
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            projects: idx
                .projects_of(s.id)
                .iter()
                .filter_map(|p| names.get(p).copied())
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let base = format!("/console/o/{}/data-map", org.id);
    let (form, error) = match new {
        Some((f, e)) => (f, Some(e)),
        None => (SystemForm::new_system(), None),
    };
    let p = IndexPage {
        nav: m.nav("data-map"),
        rows,
        total,
        can_write: m.org_role() >= Role::Admin,
        fv: FormView::new(form, &map, &projects, error),
        form_action: base.clone(),
        button: "Create data system",
        next: (offset + PAGE_SIZE < total).then(|| format!("{base}?offset={}", offset + PAGE_SIZE)),
        previous: (offset > 0).then(|| format!("{base}?offset={}", (offset - PAGE_SIZE).max(0))),
        notice,
    };
    page(status, &p)
}

async fn index(
    State(state): State<AppState>,
    Reading(m, _): Reading<Viewer>,
    RawQuery(raw): RawQuery,
) -> Response {
    let offset = raw
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("offset="))
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let notice = raw
        .as_deref()
        .is_some_and(|r| r.split('&').any(|kv| kv == "deleted=1"))
        .then(|| "The data system was deleted.".to_string());
    render_index(&state, &m, offset, StatusCode::OK, None, notice).await
}

async fn create(State(state): State<AppState>, Writing(m, f, _): Writing<Admin>) -> Response {
    let org = m.org.id;
    let form = SystemForm::from_fields(&f);
    match write_system(&state, &m.org, None, &form.body(None)).await {
        Ok(v) => see_other(&format!("/console/o/{}/data-map/systems/{}", org, v.id)),
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_index(&state, &m, 0, status, Some((form, message)), None).await
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// A system's page

struct LinkedKind {
    label: &'static str,
    names: Vec<String>,
}

#[derive(Template)]
#[template(path = "console/datamap_system.html")]
struct SystemPage {
    nav: OrgNav,
    name: String,
    action: String,
    linked: Vec<LinkedKind>,
    projects: Vec<String>,
    /// Other systems with the same relationship attribute, or sharing an attribute.
    related: Vec<(String, String)>,
    can_write: bool,
    fv: FormView,
    form_action: String,
    button: &'static str,
    notice: Option<String>,
}

async fn render_system(
    state: &AppState,
    m: &Member,
    id: Uuid,
    status: StatusCode,
    edited: Option<(SystemForm, String)>,
    notice: Option<String>,
) -> Response {
    let org = &m.org;
    let map = or_answer!(data_map(state, org.id).await);
    let projects = or_answer!(project_names(state, org.id).await);
    let idx = Index::new(&map);
    let Some(s) = idx.systems.get(&id).copied() else {
        return forbidden();
    };
    let linked = AttributeKind::editable()
        .iter()
        .map(|k| LinkedKind {
            label: kind_label(*k),
            names: idx.linked(s.id, *k).map(|a| a.name.clone()).collect(),
        })
        .collect();
    // The systems this one shares an attribute with: its neighbours in the data map.
    let mut related: Vec<(String, String)> = Vec::new();
    for k in AttributeKind::editable() {
        for a in idx.linked(s.id, *k) {
            for other in idx.systems_of(a.id) {
                if other.id != s.id {
                    let href = format!("/console/o/{}/data-map/systems/{}", org.id, other.id);
                    if !related.iter().any(|(h, _)| *h == href) {
                        related.push((href, other.name.clone()));
                    }
                }
            }
        }
    }
    related.sort_by(|a, b| a.1.cmp(&b.1));
    let names: HashMap<Uuid, &str> = projects.iter().map(|(i, n)| (*i, n.as_str())).collect();
    let (form, error) = match edited {
        Some((f, e)) => (f, Some(e)),
        None => (SystemForm::of(s, &idx), None),
    };
    let p = SystemPage {
        nav: m.nav("data-map"),
        name: s.name.clone(),
        action: format!("/console/o/{}/data-map/systems/{}", org.id, s.id),
        linked,
        projects: idx
            .projects_of(s.id)
            .iter()
            .filter_map(|p| names.get(p).map(|n| n.to_string()))
            .collect(),
        related,
        can_write: m.org_role() >= Role::Admin,
        fv: FormView::new(form, &map, &projects, error),
        form_action: format!("/console/o/{}/data-map/systems/{}", org.id, s.id),
        button: "Save changes",
        notice,
    };
    page(status, &p)
}

async fn system_page(
    State(state): State<AppState>,
    Path((_, id)): Path<(Uuid, Uuid)>,
    Reading(m, _): Reading<Viewer>,
) -> Response {
    render_system(&state, &m, id, StatusCode::OK, None, None).await
}

async fn change_system(
    State(state): State<AppState>,
    Path((_, id)): Path<(Uuid, Uuid)>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
    if f.one("action") == "delete" {
        return match delete_system(&state, &m.org, id).await {
            Ok(_) => see_other(&format!("/console/o/{org}/data-map?deleted=1")),
            Err(e) => internal(e),
        };
    }
    let before = match data_map(&state, org).await {
        Ok(map) => {
            let idx = Index::new(&map);
            match idx.systems.get(&id) {
                Some(s) => SystemForm::of(s, &idx),
                None => return forbidden(),
            }
        }
        Err(r) => return r,
    };
    let form = SystemForm::from_fields(&f);
    match write_system(&state, &m.org, Some(id), &form.body(Some(&before))).await {
        Ok(_) => render_system(&state, &m, id, StatusCode::OK, None, Some("Saved.".into())).await,
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_system(&state, &m, id, status, Some((form, message)), None).await
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The attributes of the nine kinds

struct AttrRow {
    id: Uuid,
    name: String,
    status: String,
    detail: String,
    systems: String,
    read_only: bool,
}

struct KindSection {
    path: &'static str,
    label: &'static str,
    contact: bool,
    category: bool,
    rows: Vec<AttrRow>,
    /// What the User typed in this kind's new-attribute form, and the refusal.
    typed: AttrTyped,
    error: Option<String>,
}

#[derive(Default, Clone)]
struct AttrTyped {
    name: String,
    status: String,
    description: String,
    email: String,
    phone: String,
    contact_type: String,
    pii_type: String,
}

impl AttrTyped {
    /// What an attribute form sent.
    fn from_fields(f: &Fields) -> AttrTyped {
        AttrTyped {
            name: f.one("name"),
            status: f.one("status"),
            description: f.one("description"),
            email: f.one("email"),
            phone: f.one("phoneNumber"),
            contact_type: f.one("contactType"),
            pii_type: f.one("pIIType"),
        }
    }

    /// The Privacy API's body for an attribute of `kind`: a create's (`create`, with the
    /// description when one is typed) or a PATCH's (the description of the kinds that have
    /// one in the form).
    fn body(&self, kind: AttributeKind, create: bool) -> Map<String, Value> {
        let mut b = Map::new();
        b.insert("name".into(), json!(self.name));
        b.insert("status".into(), json!(self.status));
        let described = match kind {
            AttributeKind::Contacts => {
                b.insert("email".into(), json!(self.email));
                b.insert("phoneNumber".into(), json!(self.phone));
                b.insert("contactType".into(), json!(self.contact_type));
                false
            }
            AttributeKind::DataCategories => {
                b.insert("pIIType".into(), json!(self.pii_type));
                false
            }
            _ => true,
        };
        let description = if create {
            !self.description.trim().is_empty()
        } else {
            described
        };
        if description {
            b.insert("description".into(), json!(self.description));
        }
        b
    }
}

#[derive(Template)]
#[template(path = "console/datamap_attributes.html")]
struct AttributesPage {
    nav: OrgNav,
    kinds: Vec<KindSection>,
    contact_types: Vec<(Uuid, String)>,
    statuses: &'static [&'static str],
    pii_types: &'static [&'static str],
    can_write: bool,
    notice: Option<String>,
}

async fn render_attributes(
    state: &AppState,
    m: &Member,
    status: StatusCode,
    refused: Option<(AttributeKind, AttrTyped, String)>,
    notice: Option<String>,
) -> Response {
    let map = or_answer!(data_map(state, m.org.id).await);
    let idx = Index::new(&map);
    let mut contact_types: Vec<(Uuid, String)> = map
        .attributes
        .iter()
        .filter(|a| a.kind == AttributeKind::ContactTypes)
        .map(|a| (a.id, a.name.clone()))
        .collect();
    contact_types.sort_by(|a, b| a.1.cmp(&b.1));
    let type_names: HashMap<Uuid, &str> = contact_types
        .iter()
        .map(|(i, n)| (*i, n.as_str()))
        .collect();
    let kinds = AttributeKind::editable()
        .iter()
        .map(|k| {
            let mut rows: Vec<AttrRow> = map
                .attributes
                .iter()
                .filter(|a| a.kind == *k)
                .map(|a| AttrRow {
                    id: a.id,
                    name: a.name.clone(),
                    status: a.status.clone(),
                    detail: match k {
                        AttributeKind::Contacts => format!(
                            "{} · {} · {}",
                            a.contact_type_id
                                .and_then(|t| type_names.get(&t).copied())
                                .unwrap_or(""),
                            a.email.as_deref().unwrap_or(""),
                            a.phone_number.as_deref().unwrap_or("")
                        ),
                        AttributeKind::DataCategories => {
                            format!("PII: {}", a.pii_type.as_deref().unwrap_or(""))
                        }
                        _ => a.description.clone().unwrap_or_default(),
                    },
                    systems: idx
                        .systems_of(a.id)
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    read_only: a.read_only,
                })
                .collect();
            rows.sort_by(|a, b| a.name.cmp(&b.name));
            let (typed, error) = match &refused {
                Some((rk, t, e)) if rk == k => (t.clone(), Some(e.clone())),
                _ => (
                    AttrTyped {
                        status: "active".into(),
                        pii_type: datamap::DEFAULT_PII_TYPE.into(),
                        ..AttrTyped::default()
                    },
                    None,
                ),
            };
            KindSection {
                path: k.path(),
                label: kind_label(*k),
                contact: *k == AttributeKind::Contacts,
                category: *k == AttributeKind::DataCategories,
                rows,
                typed,
                error,
            }
        })
        .collect();
    let p = AttributesPage {
        nav: m.nav("data-map"),
        kinds,
        contact_types,
        statuses: datamap::STATUSES,
        pii_types: datamap::PII_TYPES,
        can_write: m.org_role() >= Role::Admin,
        notice,
    };
    page(status, &p)
}

async fn attributes_page(
    State(state): State<AppState>,
    Reading(m, _): Reading<Viewer>,
) -> Response {
    render_attributes(&state, &m, StatusCode::OK, None, None).await
}

/// A form of the attributes page: `action` create (the kind's new-attribute form) or
/// delete (`id`), for the kind `kind` (its path segment).
async fn change_attribute(
    State(state): State<AppState>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
    let Some(kind) =
        AttributeKind::from_path(&f.one("kind")).filter(|k| AttributeKind::editable().contains(k))
    else {
        return render_attributes(
            &state,
            &m,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("Choose a kind of attribute.".into()),
        )
        .await;
    };
    let typed = AttrTyped::from_fields(&f);
    let done = if f.one("action") == "delete" {
        match Uuid::parse_str(&f.one("id")) {
            Ok(id) => delete_attribute(&state, org, kind, id)
                .await
                .map(|_| "Deleted.".to_string()),
            Err(_) => Err(Error::not_found()),
        }
    } else {
        let b = typed.body(kind, true);
        write_attribute(&state, org, kind, None, &Value::Object(b))
            .await
            .map(|_| "Added.".to_string())
    };
    match done {
        Ok(notice) => render_attributes(&state, &m, StatusCode::OK, None, Some(notice)).await,
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                render_attributes(&state, &m, status, Some((kind, typed, message)), None).await
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// One attribute: its fields and the systems that use it

#[derive(Template)]
#[template(path = "console/datamap_attribute.html")]
struct AttributePage {
    nav: OrgNav,
    action: String,
    label: &'static str,
    read_only: bool,
    contact: bool,
    category: bool,
    typed: AttrTyped,
    /// The organization's systems, ticked when linked to the attribute.
    systems: Vec<Choice>,
    contact_types: Vec<(Uuid, String)>,
    statuses: &'static [&'static str],
    pii_types: &'static [&'static str],
    can_write: bool,
    error: Option<String>,
    notice: Option<String>,
}

#[allow(clippy::too_many_arguments)]
async fn render_attribute(
    state: &AppState,
    m: &Member,
    kind: AttributeKind,
    id: Uuid,
    status: StatusCode,
    typed: Option<(AttrTyped, Vec<String>)>,
    error: Option<String>,
    notice: Option<String>,
) -> Response {
    let map = or_answer!(data_map(state, m.org.id).await);
    let idx = Index::new(&map);
    let Some(a) = idx.attribute_of(id, kind) else {
        return forbidden();
    };
    let (typed, ticked) = typed.unwrap_or_else(|| {
        (
            AttrTyped {
                name: a.name.clone(),
                status: a.status.clone(),
                description: a.description.clone().unwrap_or_default(),
                email: a.email.clone().unwrap_or_default(),
                phone: a.phone_number.clone().unwrap_or_default(),
                contact_type: a.contact_type_id.map(|t| t.to_string()).unwrap_or_default(),
                pii_type: a.pii_type.clone().unwrap_or_default(),
            },
            idx.systems_of(a.id)
                .iter()
                .map(|s| s.id.to_string())
                .collect(),
        )
    });
    let mut systems: Vec<Choice> = map
        .systems
        .iter()
        .map(|s| Choice {
            id: s.id.to_string(),
            name: s.name.clone(),
            checked: ticked.contains(&s.id.to_string()),
        })
        .collect();
    systems.sort_by(|a, b| a.name.cmp(&b.name));
    let mut contact_types: Vec<(Uuid, String)> = map
        .attributes
        .iter()
        .filter(|a| a.kind == AttributeKind::ContactTypes)
        .map(|a| (a.id, a.name.clone()))
        .collect();
    contact_types.sort_by(|a, b| a.1.cmp(&b.1));
    let p = AttributePage {
        nav: m.nav("data-map"),
        action: format!(
            "/console/o/{}/data-map/attributes/{}/{}",
            m.org.id,
            kind.path(),
            a.id
        ),
        label: kind_label(kind),
        read_only: a.read_only,
        contact: kind == AttributeKind::Contacts,
        category: kind == AttributeKind::DataCategories,
        typed,
        systems,
        contact_types,
        statuses: datamap::STATUSES,
        pii_types: datamap::PII_TYPES,
        can_write: m.org_role() >= Role::Admin,
        error,
        notice,
    };
    page(status, &p)
}

fn editable_kind(path: &str) -> Option<AttributeKind> {
    AttributeKind::from_path(path).filter(|k| AttributeKind::editable().contains(k))
}

async fn attribute_page(
    State(state): State<AppState>,
    Path((_, kind, id)): Path<(Uuid, String, Uuid)>,
    Reading(m, _): Reading<Viewer>,
) -> Response {
    let Some(kind) = editable_kind(&kind) else {
        return forbidden();
    };
    render_attribute(&state, &m, kind, id, StatusCode::OK, None, None, None).await
}

/// An attribute's form: a PATCH of its fields and of the systems linked to it.
async fn change_one_attribute(
    State(state): State<AppState>,
    Path((_, kind, id)): Path<(Uuid, String, Uuid)>,
    Writing(m, f, _): Writing<Admin>,
) -> Response {
    let org = m.org.id;
    let Some(kind) = editable_kind(&kind) else {
        return forbidden();
    };
    let typed = AttrTyped::from_fields(&f);
    let systems: Vec<String> = f.all("dataSystems");
    let mut b = typed.body(kind, false);
    b.insert("dataSystems".into(), json!(systems));
    match write_attribute(&state, org, kind, Some(id), &Value::Object(b)).await {
        Ok(_) => {
            let notice = Some("Saved.".to_string());
            render_attribute(&state, &m, kind, id, StatusCode::OK, None, None, notice).await
        }
        Err(e) => match refusal(e) {
            Ok((status, message)) => {
                let typed = Some((typed, systems));
                render_attribute(&state, &m, kind, id, status, typed, Some(message), None).await
            }
            Err(r) => r,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The record of processing

struct RopRow {
    activity: String,
    purposes: String,
    subjects: String,
    categories: String,
    recipients: String,
    transfers: String,
    retention: String,
    security: String,
    systems: String,
}

/// The items of a record-of-processing cell, each as `show` writes it, one after another.
fn cell<T>(items: &[T], show: impl Fn(&T) -> String) -> String {
    items.iter().map(show).collect::<Vec<_>>().join("; ")
}

impl RopRow {
    fn of(i: &RopItem) -> RopRow {
        let join = |v: &[String]| v.join("; ");
        RopRow {
            activity: i
                .processing_activity
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_else(|| "(no processing activity)".into()),
            purposes: join(&i.purposes),
            subjects: join(&i.data_subject_categories),
            categories: cell(&i.data_categories, |c| {
                format!("{} ({})", c.name, c.pii_type)
            }),
            recipients: join(&i.recipients),
            transfers: cell(&i.cross_border_transfers, |t| t.data_system_name.clone()),
            retention: cell(&i.retention, |r| {
                format!("{}: {}", r.data_system_name, r.retention)
            }),
            security: join(&i.security_measures),
            systems: cell(&i.data_systems, |s| s.name.clone()),
        }
    }
}

#[derive(Template)]
#[template(path = "console/datamap_record.html")]
struct RecordPage {
    nav: OrgNav,
    rows: Vec<RopRow>,
}

async fn record_page(State(state): State<AppState>, Reading(m, _): Reading<Viewer>) -> Response {
    let q = match query::parse(None, datamap::rop_params()) {
        Ok(q) => q,
        Err(e) => return internal(e),
    };
    let items = match records_of_processing::items(&state, &m.org, &q).await {
        Ok(i) => i,
        Err(e) => return internal(e),
    };
    let p = RecordPage {
        nav: m.nav("data-map"),
        rows: items.iter().map(RopRow::of).collect(),
    };
    page(StatusCode::OK, &p)
}

/// The CSV file of the record: the answer of `GET …/records-of-processing?format=csv`.
async fn record_csv(State(state): State<AppState>, Reading(m, _): Reading<Viewer>) -> Response {
    match records_of_processing::answer(&state, m.org.clone(), Some("format=csv")).await {
        Ok(mut res) => {
            res.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            res
        }
        Err(e) => internal(e),
    }
}

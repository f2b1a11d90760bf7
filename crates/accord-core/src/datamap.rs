//! The data map (§6): data systems, the nine kinds of attributes that describe them (plus
//! the read-only catalogue of contact types), the rules of their bodies and links, their
//! wire form, list filters, and the record of processing (§6.6) built from them.
//!
//! The store loads one organization's whole map ([`DataMap`]); everything here works on
//! that snapshot, so a list, a record of processing or a reference check costs the same
//! few queries whatever its filters.
use crate::admin::{contains_ci, paginate, SortKey};
use crate::consent::DURATION_PATTERN;
use crate::ids::parse_uuid;
use crate::query::{p, paging, uuid_param, Kind as Q, Page, Param, Query};
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use uuid::Uuid;

pub const STATUSES: &[&str] = &["active", "archived", "test"];
pub const PII_TYPES: &[&str] = &["none", "standard", "sensitive"];
pub const DEFAULT_RETENTION: &str = "P2Y";
pub const DEFAULT_TYPE: &str = "custom";
pub const DEFAULT_PII_TYPE: &str = "standard";
pub const SYSTEM_SORTS: &[&str] = &[
    "dateCreated",
    "dateUpdated",
    "id",
    "name",
    "crossBorder",
    "retention",
    "globalDataSystemId",
    "status",
    "dataSystemRelationship",
];
pub const ATTRIBUTE_SORTS: &[&str] = &["dateCreated", "dateUpdated", "id", "name", "status"];
pub const READ_ONLY: &str = "read-only attribute cannot be modified";
pub const DUPLICATE: &str = "attribute already exists";

/// A kind of attribute. Nine have endpoints; contact types are a read-only catalogue that
/// contacts point to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeKind {
    Contacts,
    Destinations,
    Origins,
    ProcessingActivities,
    ProcessingPurposes,
    Relationships,
    SecurityMeasures,
    DataCategories,
    DataSubjects,
    ContactTypes,
}

use AttributeKind as K;

impl AttributeKind {
    pub const ALL: [AttributeKind; 10] = [
        K::Contacts,
        K::Destinations,
        K::Origins,
        K::ProcessingActivities,
        K::ProcessingPurposes,
        K::Relationships,
        K::SecurityMeasures,
        K::DataCategories,
        K::DataSubjects,
        K::ContactTypes,
    ];

    /// The kinds with their own endpoints and a field on DataSystem.
    pub fn editable() -> &'static [AttributeKind] {
        &Self::ALL[..9]
    }

    /// `{kind}` of the path `/data-system-{kind}`; also the value stored in the database.
    pub fn path(self) -> &'static str {
        match self {
            K::Contacts => "contacts",
            K::Destinations => "destinations",
            K::Origins => "origins",
            K::ProcessingActivities => "processing-activities",
            K::ProcessingPurposes => "processing-purposes",
            K::Relationships => "relationships",
            K::SecurityMeasures => "security-measures",
            K::DataCategories => "data-categories",
            K::DataSubjects => "data-subjects",
            K::ContactTypes => "contact-types",
        }
    }

    /// `attributeName` of §6.4.
    pub fn attribute_name(self) -> &'static str {
        match self {
            K::Contacts => "dataSystemContacts",
            K::Destinations => "dataSystemDestinations",
            K::Origins => "dataSystemOrigins",
            K::ProcessingActivities => "dataSystemProcessingActivities",
            K::ProcessingPurposes => "dataSystemProcessingPurposes",
            K::Relationships => "dataSystemRelationships",
            K::SecurityMeasures => "dataSystemSecurityMeasures",
            K::DataCategories => "dataSystemDataCategories",
            K::DataSubjects => "dataSystemDataSubjects",
            K::ContactTypes => "dataSystemContactTypes",
        }
    }

    /// The DataSystem field that embeds (and, in bodies, links) this kind.
    pub fn system_field(self) -> &'static str {
        match self {
            K::ProcessingActivities => "processingActivities",
            K::Relationships => "dataSystemRelationship",
            other => other.attribute_name(),
        }
    }

    /// The data-system list filter on this kind (§6.2).
    pub fn filter_param(self) -> &'static str {
        match self {
            K::Contacts => "dataSystemContact",
            K::Destinations => "dataSystemDestination",
            K::Origins => "dataSystemOrigin",
            K::ProcessingActivities => "dataSystemProcessingActivity",
            K::ProcessingPurposes => "dataSystemProcessingPurpose",
            K::Relationships => "dataSystemRelationship",
            K::SecurityMeasures => "dataSystemSecurityMeasure",
            K::DataCategories => "dataSystemDataCategory",
            K::DataSubjects => "dataSystemDataSubject",
            K::ContactTypes => "dataSystemContactType",
        }
    }

    /// Singular noun, for documentation.
    pub fn noun(self) -> &'static str {
        match self {
            K::Contacts => "contact",
            K::Destinations => "destination",
            K::Origins => "origin",
            K::ProcessingActivities => "processing activity",
            K::ProcessingPurposes => "processing purpose",
            K::Relationships => "relationship",
            K::SecurityMeasures => "security measure",
            K::DataCategories => "data category",
            K::DataSubjects => "data subject",
            K::ContactTypes => "contact type",
        }
    }

    pub fn from_path(s: &str) -> Option<AttributeKind> {
        Self::ALL.into_iter().find(|k| k.path() == s)
    }

    pub fn from_attribute_name(s: &str) -> Option<AttributeKind> {
        Self::ALL.into_iter().find(|k| k.attribute_name() == s)
    }

    /// The read-only values every organization has (§6.3).
    pub fn predefined(self) -> &'static [&'static str] {
        match self {
            K::Destinations => &[
                "Data Partners",
                "Payment Processors",
                "Analytics Providers",
                "Security & Fraud Vendors",
                "Auditors & Compliance Vendors",
                "Researchers & Academic Institutions",
                "Law Enforcement & Government",
                "Advertisers & Advertising Platforms",
            ],
            K::Origins => &[
                "Legacy Data Systems",
                "3rd Party Data Provider(s)",
                "Integrated Data System(s)",
                "Built-In Data Collection",
                "User Submitted Forms",
            ],
            K::Relationships => &[
                "Controller",
                "Joint Controller",
                "Processor",
                "Sub-Processor",
            ],
            K::ContactTypes => &[
                "Data Protection Officer",
                "System Owner",
                "Technical Contact",
                "Vendor Contact",
                "Legal Contact",
            ],
            _ => &[],
        }
    }
}

/// The `globalDataSystemAttributeId` of a predefined value: a UUID v5 of its kind and
/// name, so it is the same in every organization and every installation.
pub fn global_attribute_id(kind: AttributeKind, name: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("urn:accord:data-system-{}:{name}", kind.path()).as_bytes(),
    )
}

/// Every predefined value, as `(kind, name, globalDataSystemAttributeId)`.
pub fn predefined_values() -> Vec<(AttributeKind, &'static str, Uuid)> {
    AttributeKind::ALL
        .into_iter()
        .flat_map(|k| {
            k.predefined()
                .iter()
                .map(move |n| (k, *n, global_attribute_id(k, n)))
        })
        .collect()
}

/// A data system as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSystem {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub status: String,
    pub cross_border: bool,
    pub retention: String,
    pub additional_notes: Option<String>,
    pub data_system_type_id: String,
    pub icon: Option<String>,
    pub global_data_system_id: Option<Uuid>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// An attribute as stored; the kind-specific fields are `None` on other kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub kind: AttributeKind,
    pub name: String,
    pub status: String,
    pub description: Option<String>,
    pub read_only: bool,
    pub global_attribute_id: Option<Uuid>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub contact_type_id: Option<Uuid>,
    pub pii_type: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

impl Attribute {
    /// A predefined, read-only value of an organization.
    pub fn predefined(org: Uuid, kind: AttributeKind, name: &str, now: i64) -> Attribute {
        Attribute {
            id: crate::ids::new_id(),
            organization_id: org,
            kind,
            name: name.into(),
            status: "active".into(),
            description: None,
            read_only: true,
            global_attribute_id: Some(global_attribute_id(kind, name)),
            email: None,
            phone_number: None,
            contact_type_id: None,
            pii_type: None,
            date_created: now,
            date_updated: now,
        }
    }
}

/// One organization's data map: every system, every attribute, the system–attribute links
/// and the system–project links.
#[derive(Debug, Clone, Default)]
pub struct DataMap {
    pub systems: Vec<DataSystem>,
    pub attributes: Vec<Attribute>,
    /// `(data system, attribute)`.
    pub links: Vec<(Uuid, Uuid)>,
    /// `(data system, project)`.
    pub projects: Vec<(Uuid, Uuid)>,
}

/// What a data-system create or PATCH writes: the row, and the link sets it replaces.
#[derive(Debug, Clone)]
pub struct SystemWrite {
    pub system: DataSystem,
    /// `Some` replaces the linked projects.
    pub projects: Option<Vec<Uuid>>,
    /// Each named kind's links are replaced by the given attributes (a relationship has at
    /// most one).
    pub links: Vec<(AttributeKind, Vec<Uuid>)>,
}

/// Look-ups over a [`DataMap`]. Linked lists are sorted by name, then id.
pub struct Index<'a> {
    pub map: &'a DataMap,
    pub systems: HashMap<Uuid, &'a DataSystem>,
    pub attributes: HashMap<Uuid, &'a Attribute>,
    by_system: HashMap<Uuid, Vec<&'a Attribute>>,
    by_attribute: HashMap<Uuid, Vec<&'a DataSystem>>,
    projects_of: HashMap<Uuid, Vec<Uuid>>,
}

fn by_name<T>(v: &mut [&T], name: impl Fn(&T) -> (&str, Uuid)) {
    v.sort_by(|a, b| name(a).cmp(&name(b)));
}

impl<'a> Index<'a> {
    pub fn new(map: &'a DataMap) -> Index<'a> {
        let systems: HashMap<Uuid, &DataSystem> = map.systems.iter().map(|s| (s.id, s)).collect();
        let attributes: HashMap<Uuid, &Attribute> =
            map.attributes.iter().map(|a| (a.id, a)).collect();
        let mut by_system: HashMap<Uuid, Vec<&Attribute>> = HashMap::new();
        let mut by_attribute: HashMap<Uuid, Vec<&DataSystem>> = HashMap::new();
        for (s, a) in &map.links {
            if let (Some(sys), Some(attr)) = (systems.get(s), attributes.get(a)) {
                by_system.entry(*s).or_default().push(attr);
                by_attribute.entry(*a).or_default().push(sys);
            }
        }
        for v in by_system.values_mut() {
            by_name(v, |a| (a.name.as_str(), a.id));
        }
        for v in by_attribute.values_mut() {
            by_name(v, |s| (s.name.as_str(), s.id));
        }
        let mut projects_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (s, p) in &map.projects {
            projects_of.entry(*s).or_default().push(*p);
        }
        for v in projects_of.values_mut() {
            v.sort();
        }
        Index {
            map,
            systems,
            attributes,
            by_system,
            by_attribute,
            projects_of,
        }
    }

    /// The attributes of `kind` linked to a system.
    pub fn linked(
        &self,
        system: Uuid,
        kind: AttributeKind,
    ) -> impl Iterator<Item = &'a Attribute> + '_ {
        self.by_system
            .get(&system)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .copied()
            .filter(move |a| a.kind == kind)
    }

    pub fn systems_of(&self, attribute: Uuid) -> &[&'a DataSystem] {
        self.by_attribute
            .get(&attribute)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    pub fn projects_of(&self, system: Uuid) -> &[Uuid] {
        self.projects_of
            .get(&system)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    pub fn relationship(&self, system: Uuid) -> Option<&'a Attribute> {
        self.linked(system, K::Relationships).next()
    }

    pub fn attribute_of(&self, id: Uuid, kind: AttributeKind) -> Option<&'a Attribute> {
        self.attributes.get(&id).copied().filter(|a| a.kind == kind)
    }
}

// ---------------------------------------------------------------------------------------
// Wire form.

fn put_opt(m: &mut Map<String, Value>, k: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(k.into(), v.into());
    }
}

/// `dataSystemType` (§6.2): the id, and the id with its first letter capitalised as name.
pub fn type_object(id: &str) -> Value {
    let mut chars = id.chars();
    let name: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    json!({"id": id, "name": name})
}

/// The Attribute object (§6.3); `with_systems` adds `dataSystems` (omitted where the
/// attribute is embedded in a DataSystem).
pub fn attribute_wire(a: &Attribute, idx: &Index, with_systems: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(a.id));
    m.insert("organizationId".into(), json!(a.organization_id));
    m.insert("name".into(), json!(a.name));
    m.insert("status".into(), json!(a.status));
    put_opt(&mut m, "description", a.description.clone());
    m.insert("readOnly".into(), json!(a.read_only));
    put_opt(
        &mut m,
        "globalDataSystemAttributeId",
        a.global_attribute_id.map(|g| g.to_string()),
    );
    if a.kind == K::Contacts {
        put_opt(&mut m, "email", a.email.clone());
        put_opt(&mut m, "phoneNumber", a.phone_number.clone());
        if let Some(t) = a.contact_type_id {
            let name = idx.attributes.get(&t).map(|t| t.name.clone());
            let mut o = Map::new();
            o.insert("id".into(), json!(t));
            put_opt(&mut o, "name", name);
            m.insert("contactType".into(), Value::Object(o));
        }
    }
    if a.kind == K::DataCategories {
        m.insert(
            "pIIType".into(),
            json!(a.pii_type.as_deref().unwrap_or(DEFAULT_PII_TYPE)),
        );
    }
    if with_systems {
        let systems: Vec<Value> = idx
            .systems_of(a.id)
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "status": s.status, "dataSystemTypeId": s.data_system_type_id}))
            .collect();
        m.insert("dataSystems".into(), Value::Array(systems));
    }
    m.insert("dateCreated".into(), json!(a.date_created));
    m.insert("dateUpdated".into(), json!(a.date_updated));
    Value::Object(m)
}

/// The DataSystem object (§6.2).
pub fn system_wire(s: &DataSystem, idx: &Index, organization_name: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert("organizationId".into(), json!(s.organization_id));
    m.insert("organizationName".into(), json!(organization_name));
    m.insert("name".into(), json!(s.name));
    m.insert("status".into(), json!(s.status));
    m.insert("crossBorder".into(), json!(s.cross_border));
    m.insert("retention".into(), json!(s.retention));
    put_opt(&mut m, "additionalNotes", s.additional_notes.clone());
    m.insert("dataSystemTypeId".into(), json!(s.data_system_type_id));
    m.insert("dataSystemType".into(), type_object(&s.data_system_type_id));
    put_opt(&mut m, "icon", s.icon.clone());
    put_opt(
        &mut m,
        "globalDataSystemId",
        s.global_data_system_id.map(|g| g.to_string()),
    );
    m.insert("projectIds".into(), json!(idx.projects_of(s.id)));
    for kind in AttributeKind::editable() {
        if *kind == K::Relationships {
            if let Some(r) = idx.relationship(s.id) {
                m.insert(kind.system_field().into(), attribute_wire(r, idx, false));
            }
            continue;
        }
        let items: Vec<Value> = idx
            .linked(s.id, *kind)
            .map(|a| attribute_wire(a, idx, false))
            .collect();
        m.insert(kind.system_field().into(), Value::Array(items));
    }
    m.insert("dateCreated".into(), json!(s.date_created));
    m.insert("dateUpdated".into(), json!(s.date_updated));
    Value::Object(m)
}

/// Response schema of an Attribute of `kind` (embedded: without `dataSystems`).
pub fn attribute_schema(kind: Option<AttributeKind>, embedded: bool, with_name: bool) -> Value {
    let s = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let int = json!({"type": "integer"});
    let mut props = json!({
        "id": uuid, "organizationId": uuid, "name": s, "status": {"type": "string", "enum": STATUSES},
        "description": s, "readOnly": {"type": "boolean"}, "globalDataSystemAttributeId": uuid,
        "dateCreated": int, "dateUpdated": int,
    });
    let mut required = vec![
        "id",
        "organizationId",
        "name",
        "status",
        "readOnly",
        "dateCreated",
        "dateUpdated",
    ];
    if matches!(kind, None | Some(K::Contacts)) {
        props["email"] = s.clone();
        props["phoneNumber"] = s.clone();
        props["contactType"] = json!({"type": "object", "additionalProperties": false, "required": ["id"],
            "properties": {"id": uuid, "name": s}});
    }
    if matches!(kind, None | Some(K::DataCategories)) {
        props["pIIType"] = json!({"type": "string", "enum": PII_TYPES});
    }
    if !embedded {
        props["dataSystems"] = json!({"type": "array", "items": {"type": "object", "additionalProperties": false,
            "required": ["id", "name", "status", "dataSystemTypeId"],
            "properties": {"id": uuid, "name": s, "status": s, "dataSystemTypeId": s}}});
        required.push("dataSystems");
    }
    if with_name {
        props["attributeName"] =
            json!({"type": "string", "enum": AttributeKind::ALL.map(|k| k.attribute_name())});
        required.push("attributeName");
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
}

/// Response schema of a DataSystem.
pub fn system_schema() -> Value {
    let s = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let int = json!({"type": "integer"});
    let mut props = json!({
        "id": uuid, "organizationId": uuid, "organizationName": s, "name": s,
        "status": {"type": "string", "enum": STATUSES}, "crossBorder": {"type": "boolean"},
        "retention": s, "additionalNotes": s, "dataSystemTypeId": s,
        "dataSystemType": {"type": "object", "additionalProperties": false, "required": ["id", "name"],
            "properties": {"id": s, "name": s, "icon": s}},
        "icon": s, "globalDataSystemId": uuid,
        "projectIds": {"type": "array", "items": uuid},
        "dateCreated": int, "dateUpdated": int,
    });
    let mut required = vec![
        "id",
        "organizationId",
        "organizationName",
        "name",
        "status",
        "crossBorder",
        "retention",
        "dataSystemTypeId",
        "dataSystemType",
        "projectIds",
        "dateCreated",
        "dateUpdated",
    ];
    for kind in AttributeKind::editable() {
        let embedded = attribute_schema(Some(*kind), true, false);
        if *kind == K::Relationships {
            props[kind.system_field()] = embedded;
        } else {
            props[kind.system_field()] = json!({"type": "array", "items": embedded});
            required.push(kind.system_field());
        }
    }
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
}

// ---------------------------------------------------------------------------------------
// Bodies.

fn uuid_array() -> Schema {
    Schema::Array {
        items: Box::new(string().format(Format::Uuid).s()),
        min: None,
        max: None,
        unique: false,
    }
}

fn system_object(create: bool) -> Object {
    let mut props = vec![
        ("name", string().min(1).max(256).s()),
        ("status", string().one_of(STATUSES).s()),
        ("crossBorder", Schema::Bool),
        ("retention", string().max(64).pattern(DURATION_PATTERN).s()),
        ("additionalNotes", string().max(1024).s()),
        ("dataSystemTypeId", string().max(64).s()),
        ("icon", string().max(2048).format(Format::HttpUrl).s()),
        ("globalDataSystemId", string().format(Format::Uuid).s()),
        ("projectIds", uuid_array()),
    ];
    for kind in AttributeKind::editable() {
        if *kind == K::Relationships {
            props.push((kind.system_field(), string().format(Format::Uuid).s()));
        } else {
            props.push((kind.system_field(), uuid_array()));
        }
        if *kind == K::ProcessingActivities {
            props.push((kind.attribute_name(), uuid_array()));
        }
    }
    Object {
        props,
        required: if create {
            vec!["name", "status"]
        } else {
            vec![]
        },
        any_of: vec![],
        min_props: usize::from(!create),
    }
}

pub fn system_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::Object(system_object(true)))
}

pub fn system_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| Schema::Object(system_object(false)))
}

/// A validated DataSystem body; `None` = not sent. An empty string clears a text field.
#[derive(Debug, Clone, Default)]
pub struct SystemInput {
    pub name: Option<String>,
    pub status: Option<String>,
    pub cross_border: Option<bool>,
    pub retention: Option<String>,
    pub additional_notes: Option<String>,
    pub data_system_type_id: Option<String>,
    pub icon: Option<String>,
    pub global_data_system_id: Option<String>,
    pub project_ids: Option<Vec<Uuid>>,
    /// Attribute-id arrays as sent: the kind, the body field that carried them, the ids.
    pub links: Vec<(AttributeKind, &'static str, Vec<Uuid>)>,
}

fn text(map: &Map<String, Value>, k: &str) -> Option<String> {
    map.get(k)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
}

fn uuids(map: &Map<String, Value>, k: &str) -> Result<Option<Vec<Uuid>>> {
    let Some(Value::Array(arr)) = map.get(k) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(arr.len());
    for (i, v) in arr.iter().enumerate() {
        let id = parse_uuid(v.as_str().unwrap_or(""), &format!("body/{k}/{i}"))?;
        out.push(id);
    }
    Ok(Some(out))
}

/// A required text field sent as `""` (it cannot be cleared).
fn not_blank(map: &Map<String, Value>, k: &str) -> Result<()> {
    if map.get(k).and_then(Value::as_str).map(str::trim) == Some("") {
        return Err(Error::bad(format!(
            "body/{k} must NOT have fewer than 1 characters"
        )));
    }
    Ok(())
}

/// Validates a create (`create`) or PATCH body of a data system (§6.2).
pub fn parse_system(raw: &Value, create: bool) -> Result<SystemInput> {
    let schema = if create {
        system_create_schema()
    } else {
        system_patch_schema()
    };
    schema.validate(raw, "body").map_err(Error::BadRequest)?;
    let map = raw.as_object().expect("validated object");
    if map.contains_key("processingActivities")
        && map.contains_key("dataSystemProcessingActivities")
    {
        return Err(Error::bad(
            "body must NOT have both properties: processingActivities, dataSystemProcessingActivities",
        ));
    }
    not_blank(map, "name")?;
    let mut links = Vec::new();
    for kind in AttributeKind::editable() {
        let mut fields = vec![kind.system_field()];
        if *kind == K::ProcessingActivities {
            fields.push(kind.attribute_name());
        }
        for field in fields {
            if *kind == K::Relationships {
                if let Some(v) = text(map, field) {
                    let ids = if v.is_empty() {
                        vec![]
                    } else {
                        vec![parse_uuid(&v, &format!("body/{field}"))?]
                    };
                    links.push((*kind, field, ids));
                }
            } else if let Some(ids) = uuids(map, field)? {
                links.push((*kind, field, ids));
            }
        }
    }
    Ok(SystemInput {
        name: text(map, "name"),
        status: text(map, "status"),
        cross_border: map.get("crossBorder").and_then(Value::as_bool),
        retention: text(map, "retention"),
        additional_notes: text(map, "additionalNotes"),
        data_system_type_id: text(map, "dataSystemTypeId"),
        icon: text(map, "icon"),
        global_data_system_id: text(map, "globalDataSystemId"),
        project_ids: uuids(map, "projectIds")?,
        links,
    })
}

fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    ids.iter().copied().filter(|i| seen.insert(*i)).collect()
}

fn not_found_at(field: &str, i: usize) -> Error {
    Error::unprocessable(format!("{field}/{i} not found in this organization"))
}

/// The 422 of a link whose attribute is gone when the write runs: the `i`-th attribute of
/// `kind` in the write (the store checks again inside its transaction).
pub fn missing_link(kind: AttributeKind, i: usize) -> Error {
    let field = kind.system_field();
    if kind == K::Relationships {
        Error::unprocessable(format!("{field} not found in this organization"))
    } else {
        not_found_at(field, i)
    }
}

/// Checks every referenced project and attribute (422) and builds the write. `existing`
/// is the stored system for a PATCH.
pub fn system_write(
    input: SystemInput,
    existing: Option<DataSystem>,
    idx: &Index,
    org_projects: &[Uuid],
    org: Uuid,
    now: i64,
) -> Result<SystemWrite> {
    if let Some(ids) = &input.project_ids {
        if let Some(i) = ids.iter().position(|p| !org_projects.contains(p)) {
            return Err(not_found_at("projectIds", i));
        }
    }
    let mut links = Vec::new();
    for (kind, field, ids) in &input.links {
        if let Some(i) = ids
            .iter()
            .position(|id| idx.attribute_of(*id, *kind).is_none())
        {
            return Err(if *kind == K::Relationships {
                Error::unprocessable(format!("{field} not found in this organization"))
            } else {
                not_found_at(field, i)
            });
        }
        links.push((*kind, dedup(ids)));
    }
    let clear = |v: Option<String>| v.filter(|s| !s.is_empty());
    let mut s = existing.unwrap_or_else(|| DataSystem {
        id: crate::ids::new_id(),
        organization_id: org,
        name: String::new(),
        status: String::new(),
        cross_border: false,
        retention: DEFAULT_RETENTION.into(),
        additional_notes: None,
        data_system_type_id: DEFAULT_TYPE.into(),
        icon: None,
        global_data_system_id: None,
        date_created: now,
        date_updated: now,
    });
    if let Some(v) = input.name {
        s.name = v;
    }
    if let Some(v) = input.status {
        s.status = v;
    }
    if let Some(v) = input.cross_border {
        s.cross_border = v;
    }
    if let Some(v) = input.retention {
        s.retention = clear(Some(v)).unwrap_or_else(|| DEFAULT_RETENTION.into());
    }
    if let Some(v) = input.additional_notes {
        s.additional_notes = clear(Some(v));
    }
    if let Some(v) = input.data_system_type_id {
        s.data_system_type_id = clear(Some(v)).unwrap_or_else(|| DEFAULT_TYPE.into());
    }
    if let Some(v) = input.icon {
        s.icon = clear(Some(v));
    }
    if let Some(v) = input.global_data_system_id {
        s.global_data_system_id = clear(Some(v)).and_then(|g| Uuid::parse_str(&g).ok());
    }
    s.date_updated = now;
    Ok(SystemWrite {
        system: s,
        projects: input.project_ids.map(|p| dedup(&p)),
        links,
    })
}

fn attribute_object(kind: AttributeKind, create: bool) -> Object {
    let mut props = vec![
        ("name", string().min(1).max(256).s()),
        ("status", string().one_of(STATUSES).s()),
        ("description", string().max(1042).s()),
        ("dataSystems", uuid_array()),
    ];
    let mut required = vec!["name", "status"];
    match kind {
        K::Contacts => {
            props.push(("email", string().max(256).format(Format::Email).s()));
            props.push(("phoneNumber", string().max(128).s()));
            props.push(("contactType", string().format(Format::Uuid).s()));
            required.extend(["email", "phoneNumber", "contactType"]);
        }
        K::DataCategories => props.push(("pIIType", string().one_of(PII_TYPES).s())),
        _ => {}
    }
    Object {
        props,
        required: if create { required } else { vec![] },
        any_of: vec![],
        min_props: usize::from(!create),
    }
}

/// The create (`create`) or PATCH body schema of an attribute of `kind`.
pub fn attribute_body_schema(kind: AttributeKind, create: bool) -> &'static Schema {
    static S: OnceLock<HashMap<(AttributeKind, bool), Schema>> = OnceLock::new();
    let all = S.get_or_init(|| {
        let mut m = HashMap::new();
        for k in AttributeKind::editable() {
            for c in [true, false] {
                m.insert((*k, c), Schema::Object(attribute_object(*k, c)));
            }
        }
        m
    });
    &all[&(kind, create)]
}

/// A validated attribute body.
#[derive(Debug, Clone, Default)]
pub struct AttributeInput {
    pub name: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub data_systems: Option<Vec<Uuid>>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub contact_type: Option<Uuid>,
    pub pii_type: Option<String>,
}

/// Validates a create or PATCH body of an attribute (§6.3).
pub fn parse_attribute(raw: &Value, kind: AttributeKind, create: bool) -> Result<AttributeInput> {
    attribute_body_schema(kind, create)
        .validate(raw, "body")
        .map_err(Error::BadRequest)?;
    let map = raw.as_object().expect("validated object");
    for k in ["name", "email", "phoneNumber", "contactType"] {
        not_blank(map, k)?;
    }
    let contact_type = text(map, "contactType")
        .map(|c| parse_uuid(&c, "body/contactType"))
        .transpose()?;
    Ok(AttributeInput {
        name: text(map, "name"),
        status: text(map, "status"),
        description: text(map, "description"),
        data_systems: uuids(map, "dataSystems")?,
        email: text(map, "email"),
        phone_number: text(map, "phoneNumber"),
        contact_type,
        pii_type: text(map, "pIIType"),
    })
}

/// Applies an attribute body to a new (`existing: None`) or stored attribute, after the
/// rules of §6.3: read-only values, unique names per kind, references in the organization.
pub fn attribute_write(
    input: AttributeInput,
    kind: AttributeKind,
    existing: Option<Attribute>,
    idx: &Index,
    org: Uuid,
    now: i64,
) -> Result<(Attribute, Option<Vec<Uuid>>)> {
    if existing.as_ref().is_some_and(|a| a.read_only) {
        return Err(Error::unprocessable(READ_ONLY));
    }
    if let Some(ids) = &input.data_systems {
        if let Some(i) = ids.iter().position(|id| !idx.systems.contains_key(id)) {
            return Err(not_found_at("dataSystems", i));
        }
    }
    if let Some(t) = input.contact_type {
        if idx.attribute_of(t, K::ContactTypes).is_none() {
            return Err(Error::unprocessable(
                "contactType not found in this organization",
            ));
        }
    }
    let mut a = existing.unwrap_or_else(|| Attribute {
        id: crate::ids::new_id(),
        organization_id: org,
        kind,
        name: String::new(),
        status: String::new(),
        description: None,
        read_only: false,
        global_attribute_id: None,
        email: None,
        phone_number: None,
        contact_type_id: None,
        pii_type: (kind == K::DataCategories).then(|| DEFAULT_PII_TYPE.into()),
        date_created: now,
        date_updated: now,
    });
    if let Some(name) = input.name {
        if idx
            .map
            .attributes
            .iter()
            .any(|o| o.kind == kind && o.name == name && o.id != a.id)
        {
            return Err(Error::unprocessable(DUPLICATE));
        }
        a.name = name;
    }
    if let Some(v) = input.status {
        a.status = v;
    }
    if let Some(v) = input.description {
        a.description = Some(v).filter(|s| !s.is_empty());
    }
    if let Some(v) = input.email {
        a.email = Some(v);
    }
    if let Some(v) = input.phone_number {
        a.phone_number = Some(v);
    }
    if let Some(v) = input.contact_type {
        a.contact_type_id = Some(v);
    }
    if let Some(v) = input.pii_type {
        a.pii_type = Some(v);
    }
    a.date_updated = now;
    Ok((a, input.data_systems.map(|d| dedup(&d))))
}

// ---------------------------------------------------------------------------------------
// Lists.

/// Query of the data-system list (§6.2).
pub fn system_list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(SYSTEM_SORTS);
        v.extend([
            p("id", uuid_param()),
            p("name", Q::Str(string().max(256))),
            p("crossBorder", Q::Bool),
            p("retention", Q::Str(string().max(64))),
            p("additionalNotes", Q::Str(string().max(1024))),
            p("status", Q::EnumList(STATUSES)),
            p("dataSystemTypeId", Q::Str(string().max(64))),
            p("globalDataSystemId", uuid_param()),
        ]);
        for kind in AttributeKind::editable() {
            v.push(p(kind.filter_param(), Q::Str(string().max(64))));
        }
        v
    })
}

/// Query of the list of one kind (§6.3).
pub fn attribute_list_params(kind: AttributeKind) -> &'static [Param] {
    static P: OnceLock<HashMap<AttributeKind, Vec<Param>>> = OnceLock::new();
    &P.get_or_init(|| {
        AttributeKind::editable()
            .iter()
            .map(|k| {
                let mut v = paging(ATTRIBUTE_SORTS);
                v.extend([
                    p("id", uuid_param()),
                    p("name", Q::Str(string().max(256))),
                    p("status", Q::EnumList(STATUSES)),
                ]);
                match k {
                    K::Contacts => v.push(p("email", Q::Str(string().max(256)))),
                    K::DataCategories => v.push(p("pIIType", Q::EnumList(PII_TYPES))),
                    _ => {}
                }
                (*k, v)
            })
            .collect()
    })[&kind]
}

/// Query of `GET …/data-system-attributes` (§6.4).
pub fn all_attributes_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    P.get_or_init(|| {
        let names = NAMES.get_or_init(|| {
            AttributeKind::ALL
                .iter()
                .map(|k| k.attribute_name())
                .collect()
        });
        let mut v = paging(ATTRIBUTE_SORTS);
        v.extend([
            p("attributeName", Q::Str(string().one_of(names.as_slice()))),
            p("pIIType", Q::EnumList(PII_TYPES)),
            p("name", Q::Str(string().max(256))),
            p("status", Q::EnumList(STATUSES)),
        ]);
        v
    })
}

fn matches_attribute(a: &Attribute, needle: &str) -> bool {
    a.id.to_string().eq_ignore_ascii_case(needle) || contains_ci(&a.name, needle)
}

/// The systems matching the list query, sorted and paged.
pub fn list_systems<'a>(idx: &Index<'a>, q: &Query, page: &Page) -> (i64, Vec<&'a DataSystem>) {
    let items: Vec<&DataSystem> = idx
        .map
        .systems
        .iter()
        .filter(|s| {
            q.str("id")
                .is_none_or(|v| s.id.to_string().eq_ignore_ascii_case(v))
                && q.str("name").is_none_or(|v| contains_ci(&s.name, v))
                && q.bool("crossBorder").is_none_or(|v| s.cross_border == v)
                && q.str("retention").is_none_or(|v| s.retention == v)
                && q.str("additionalNotes").is_none_or(|v| {
                    s.additional_notes
                        .as_deref()
                        .is_some_and(|n| contains_ci(n, v))
                })
                && q.list("status").is_none_or(|v| v.contains(&s.status))
                && q.str("dataSystemTypeId")
                    .is_none_or(|v| s.data_system_type_id == v)
                && q.str("globalDataSystemId").is_none_or(|v| {
                    s.global_data_system_id
                        .is_some_and(|g| g.to_string().eq_ignore_ascii_case(v))
                })
                && AttributeKind::editable().iter().all(|k| {
                    q.str(k.filter_param())
                        .is_none_or(|v| idx.linked(s.id, *k).any(|a| matches_attribute(a, v)))
                })
        })
        .collect();
    paginate(
        items,
        page,
        |s, sort| match sort {
            "dateUpdated" => Some(SortKey::Int(s.date_updated)),
            "id" => Some(SortKey::Text(s.id.to_string())),
            "name" => Some(SortKey::Text(s.name.clone())),
            "crossBorder" => Some(SortKey::Int(i64::from(s.cross_border))),
            "retention" => Some(SortKey::Text(s.retention.clone())),
            "globalDataSystemId" => s
                .global_data_system_id
                .map(|g| SortKey::Text(g.to_string())),
            "status" => Some(SortKey::Text(s.status.clone())),
            "dataSystemRelationship" => idx
                .relationship(s.id)
                .map(|r| SortKey::Text(r.name.clone())),
            _ => Some(SortKey::Int(s.date_created)),
        },
        |s| s.id,
    )
}

/// The attributes of `kinds` matching the list query, sorted and paged.
pub fn list_attributes<'a>(
    idx: &Index<'a>,
    kinds: &[AttributeKind],
    q: &Query,
    page: &Page,
) -> (i64, Vec<&'a Attribute>) {
    let items: Vec<&Attribute> = idx
        .map
        .attributes
        .iter()
        .filter(|a| {
            kinds.contains(&a.kind)
                && q.str("id")
                    .is_none_or(|v| a.id.to_string().eq_ignore_ascii_case(v))
                && q.str("name").is_none_or(|v| contains_ci(&a.name, v))
                && q.list("status").is_none_or(|v| v.contains(&a.status))
                && q.str("email")
                    .is_none_or(|v| a.email.as_deref().is_some_and(|e| contains_ci(e, v)))
                && q.list("pIIType").is_none_or(|v| {
                    a.pii_type
                        .as_ref()
                        .is_some_and(|t| a.kind == K::DataCategories && v.contains(t))
                })
        })
        .collect();
    paginate(
        items,
        page,
        |a, sort| {
            Some(match sort {
                "dateUpdated" => SortKey::Int(a.date_updated),
                "id" => SortKey::Text(a.id.to_string()),
                "name" => SortKey::Text(a.name.clone()),
                "status" => SortKey::Text(a.status.clone()),
                _ => SortKey::Int(a.date_created),
            })
        },
        |a| a.id,
    )
}

// ---------------------------------------------------------------------------------------
// Record of processing (§6.6).

pub const ROP_FORMATS: &[&str] = &["json", "csv"];

/// Query of `GET …/records-of-processing`.
pub fn rop_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        vec![
            p("format", Q::Str(string().one_of(ROP_FORMATS))),
            p("projectIds", Q::UuidList),
        ]
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct RopContact {
    pub name: String,
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub contact_type: Option<String>,
}

/// One row of the record: a processing activity (or none) and what its systems hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RopItem {
    /// `(id, name, description)`; `None` for the row of systems with no activity.
    pub processing_activity: Option<(Uuid, String, Option<String>)>,
    pub purposes: Vec<String>,
    pub data_subject_categories: Vec<String>,
    /// `(name, pIIType)`.
    pub data_categories: Vec<(String, String)>,
    pub recipients: Vec<String>,
    pub origins: Vec<String>,
    pub relationships: Vec<String>,
    /// `(data system id, name)`.
    pub cross_border_transfers: Vec<(Uuid, String)>,
    /// `(data system id, name, retention)`.
    pub retention: Vec<(Uuid, String, String)>,
    pub security_measures: Vec<String>,
    pub contacts: Vec<RopContact>,
    pub data_systems: Vec<(Uuid, String)>,
    pub projects: Vec<(Uuid, String)>,
}

fn active(status: &str) -> bool {
    status == "active"
}

/// Builds the rows (§6.6) from active systems and active attributes; `projects` names the
/// organization's projects, `only` restricts to systems serving those projects.
pub fn record_of_processing(
    idx: &Index,
    projects: &HashMap<Uuid, String>,
    only: Option<&[Uuid]>,
) -> Vec<RopItem> {
    let systems: Vec<&DataSystem> = idx
        .map
        .systems
        .iter()
        .filter(|s| active(&s.status))
        .filter(|s| only.is_none_or(|o| idx.projects_of(s.id).iter().any(|p| o.contains(p))))
        .collect();
    let mut groups: HashMap<Option<Uuid>, Vec<&DataSystem>> = HashMap::new();
    for s in &systems {
        let mut any = false;
        for a in idx.linked(s.id, K::ProcessingActivities) {
            if active(&a.status) {
                groups.entry(Some(a.id)).or_default().push(s);
                any = true;
            }
        }
        if !any {
            groups.entry(None).or_default().push(s);
        }
    }
    let mut items: Vec<RopItem> = groups
        .into_iter()
        .map(|(activity, mut members)| {
            members.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
            rop_item(idx, activity, &members, projects, only)
        })
        .collect();
    items.sort_by(
        |a, b| match (&a.processing_activity, &b.processing_activity) {
            (None, None) => std::cmp::Ordering::Equal,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(_), None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => (&x.1, x.0).cmp(&(&y.1, y.0)),
        },
    );
    items
}

fn rop_item(
    idx: &Index,
    activity: Option<Uuid>,
    members: &[&DataSystem],
    projects: &HashMap<Uuid, String>,
    only: Option<&[Uuid]>,
) -> RopItem {
    // The linked active attributes of one kind over all members, deduplicated, by name.
    let union = |kind: AttributeKind| -> Vec<&Attribute> {
        let mut seen = HashSet::new();
        let mut v: Vec<&Attribute> = members
            .iter()
            .flat_map(|s| idx.linked(s.id, kind))
            .filter(|a| active(&a.status) && seen.insert(a.id))
            .collect();
        v.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        v
    };
    let names = |kind| union(kind).into_iter().map(|a| a.name.clone()).collect();
    let mut project_list: Vec<(Uuid, String)> = members
        .iter()
        .flat_map(|s| idx.projects_of(s.id).iter().copied())
        .filter(|p| only.is_none_or(|o| o.contains(p)))
        .collect::<HashSet<Uuid>>()
        .into_iter()
        .filter_map(|p| projects.get(&p).map(|n| (p, n.clone())))
        .collect();
    project_list.sort_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
    RopItem {
        processing_activity: activity.and_then(|id| {
            idx.attributes
                .get(&id)
                .map(|a| (a.id, a.name.clone(), a.description.clone()))
        }),
        purposes: names(K::ProcessingPurposes),
        data_subject_categories: names(K::DataSubjects),
        data_categories: union(K::DataCategories)
            .into_iter()
            .map(|a| {
                (
                    a.name.clone(),
                    a.pii_type
                        .clone()
                        .unwrap_or_else(|| DEFAULT_PII_TYPE.into()),
                )
            })
            .collect(),
        recipients: names(K::Destinations),
        origins: names(K::Origins),
        relationships: names(K::Relationships),
        cross_border_transfers: members
            .iter()
            .filter(|s| s.cross_border)
            .map(|s| (s.id, s.name.clone()))
            .collect(),
        retention: members
            .iter()
            .map(|s| (s.id, s.name.clone(), s.retention.clone()))
            .collect(),
        security_measures: names(K::SecurityMeasures),
        contacts: union(K::Contacts)
            .into_iter()
            .map(|c| RopContact {
                name: c.name.clone(),
                email: c.email.clone(),
                phone_number: c.phone_number.clone(),
                contact_type: c
                    .contact_type_id
                    .and_then(|t| idx.attributes.get(&t))
                    .map(|t| t.name.clone()),
            })
            .collect(),
        data_systems: members.iter().map(|s| (s.id, s.name.clone())).collect(),
        projects: project_list,
    }
}

impl RopItem {
    pub fn to_json(&self) -> Value {
        let pairs = |v: &[(Uuid, String)]| -> Value {
            v.iter()
                .map(|(id, name)| json!({"id": id, "name": name}))
                .collect()
        };
        json!({
            "processingActivity": self.processing_activity.as_ref().map(|(id, name, d)| {
                let mut o = json!({"id": id, "name": name});
                if let Some(d) = d {
                    o["description"] = json!(d);
                }
                o
            }),
            "purposes": self.purposes,
            "dataSubjectCategories": self.data_subject_categories,
            "dataCategories": self.data_categories.iter().map(|(n, t)| json!({"name": n, "pIIType": t})).collect::<Vec<_>>(),
            "recipients": self.recipients,
            "origins": self.origins,
            "relationships": self.relationships,
            "crossBorderTransfers": self.cross_border_transfers.iter().map(|(id, n)| json!({"dataSystemId": id, "dataSystemName": n})).collect::<Vec<_>>(),
            "retention": self.retention.iter().map(|(id, n, r)| json!({"dataSystemId": id, "dataSystemName": n, "retention": r})).collect::<Vec<_>>(),
            "securityMeasures": self.security_measures,
            "contacts": self.contacts.iter().map(|c| {
                let mut m = Map::new();
                m.insert("name".into(), json!(c.name));
                put_opt(&mut m, "email", c.email.clone());
                put_opt(&mut m, "phoneNumber", c.phone_number.clone());
                put_opt(&mut m, "contactType", c.contact_type.clone());
                Value::Object(m)
            }).collect::<Vec<_>>(),
            "dataSystems": pairs(&self.data_systems),
            "projects": pairs(&self.projects),
        })
    }

    fn csv_record(&self) -> [String; 14] {
        let join = |v: Vec<String>| v.join("; ");
        let (activity, description) = match &self.processing_activity {
            Some((_, n, d)) => (n.clone(), d.clone().unwrap_or_default()),
            None => (String::new(), String::new()),
        };
        [
            activity,
            description,
            join(self.purposes.clone()),
            join(self.data_subject_categories.clone()),
            join(
                self.data_categories
                    .iter()
                    .map(|(n, t)| format!("{n} ({t})"))
                    .collect(),
            ),
            join(self.recipients.clone()),
            join(self.origins.clone()),
            join(self.relationships.clone()),
            join(
                self.cross_border_transfers
                    .iter()
                    .map(|(_, n)| n.clone())
                    .collect(),
            ),
            join(
                self.retention
                    .iter()
                    .map(|(_, n, r)| format!("{n}: {r}"))
                    .collect(),
            ),
            join(self.security_measures.clone()),
            join(
                self.contacts
                    .iter()
                    .map(|c| match &c.email {
                        Some(e) => format!("{} <{e}>", c.name),
                        None => c.name.clone(),
                    })
                    .collect(),
            ),
            join(self.data_systems.iter().map(|(_, n)| n.clone()).collect()),
            join(self.projects.iter().map(|(_, n)| n.clone()).collect()),
        ]
    }
}

pub const CSV_COLUMNS: [&str; 14] = [
    "processingActivity",
    "description",
    "purposes",
    "dataSubjectCategories",
    "dataCategories",
    "recipients",
    "origins",
    "relationships",
    "crossBorderTransfers",
    "retention",
    "securityMeasures",
    "contacts",
    "dataSystems",
    "projects",
];

/// The CSV form of the record (RFC 4180, header row).
pub fn rop_csv(items: &[RopItem]) -> Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(CSV_COLUMNS).map_err(Error::internal)?;
    for item in items {
        w.write_record(item.csv_record()).map_err(Error::internal)?;
    }
    w.into_inner().map_err(Error::internal)
}

/// Response schema of the JSON record.
pub fn rop_schema() -> Value {
    let s = json!({"type": "string"});
    let uuid = json!({"type": "string", "format": "uuid"});
    let strings = json!({"type": "array", "items": s});
    let named = json!({"type": "array", "items": {"type": "object", "additionalProperties": false,
        "required": ["id", "name"], "properties": {"id": uuid, "name": s}}});
    json!({"type": "object", "additionalProperties": false, "required": ["organization", "generatedAt", "items"], "properties": {
        "organization": {"type": "object", "additionalProperties": false, "required": ["id", "name"],
            "properties": {"id": uuid, "name": s, "primaryDomain": s}},
        "generatedAt": {"type": "string", "format": "date-time"},
        "items": {"type": "array", "items": {"type": "object", "additionalProperties": false,
            "required": ["processingActivity", "purposes", "dataSubjectCategories", "dataCategories", "recipients", "origins",
                "relationships", "crossBorderTransfers", "retention", "securityMeasures", "contacts", "dataSystems", "projects"],
            "properties": {
                "processingActivity": {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": false,
                    "required": ["id", "name"], "properties": {"id": uuid, "name": s, "description": s}}]},
                "purposes": strings, "dataSubjectCategories": strings,
                "dataCategories": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "required": ["name", "pIIType"], "properties": {"name": s, "pIIType": {"type": "string", "enum": PII_TYPES}}}},
                "recipients": strings, "origins": strings, "relationships": strings,
                "crossBorderTransfers": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "required": ["dataSystemId", "dataSystemName"], "properties": {"dataSystemId": uuid, "dataSystemName": s}}},
                "retention": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "required": ["dataSystemId", "dataSystemName", "retention"],
                    "properties": {"dataSystemId": uuid, "dataSystemName": s, "retention": s}}},
                "securityMeasures": strings,
                "contacts": {"type": "array", "items": {"type": "object", "additionalProperties": false,
                    "required": ["name"], "properties": {"name": s, "email": s, "phoneNumber": s, "contactType": s}}},
                "dataSystems": named, "projects": named,
            }}}
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_ids_are_stable_per_kind_and_name() {
        let a = global_attribute_id(K::Relationships, "Controller");
        assert_eq!(a, global_attribute_id(K::Relationships, "Controller"));
        assert_ne!(a, global_attribute_id(K::Destinations, "Controller"));
        assert_eq!(a.get_version_num(), 5);
        assert_eq!(predefined_values().len(), 8 + 5 + 4 + 5);
    }

    #[test]
    fn type_names_capitalise_the_id() {
        assert_eq!(type_object("custom")["name"], "Custom");
        assert_eq!(type_object("salesforce")["name"], "Salesforce");
    }

    #[test]
    fn both_processing_activity_fields_are_rejected() {
        let e = parse_system(
            &json!({"name": "a", "status": "active", "processingActivities": [], "dataSystemProcessingActivities": []}),
            true,
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn csv_quotes_and_joins() {
        let item = RopItem {
            processing_activity: Some((Uuid::nil(), "Billing, \"core\"".into(), None)),
            purposes: vec!["A".into(), "B".into()],
            ..Default::default()
        };
        let out = String::from_utf8(rop_csv(&[item]).unwrap()).unwrap();
        let second = out.lines().nth(1).unwrap();
        assert!(
            second.starts_with("\"Billing, \"\"core\"\"\",,A; B,"),
            "{second}"
        );
    }
}

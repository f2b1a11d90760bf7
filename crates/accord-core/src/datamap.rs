//! The data map (§6): data systems, the nine kinds of attributes that describe them (plus
//! the read-only catalogue of contact types), the rules of their bodies and links, their
//! wire form, list filters, and the record of processing (§6.6) built from them.
//!
//! The store loads one organization's whole map ([`DataMap`]); everything here works on
//! that snapshot, so a list, a record of processing or a reference check costs the same
//! few queries whatever its filters.
use crate::admin::{contains_ci, paginate, DataSystemSummary, SortKey};
use crate::consent::DURATION_PATTERN;
use crate::ids::parse_uuid;
use crate::query::{p, paging, uuid_param, Kind as Q, Page, Param, Query};
use crate::schema::{nullable, string, Format, Object, Schema};
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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

/// `dataSystemType` (§6.2): the id, and the id with its first letter capitalised as name.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DataSystemType {
    /// The type id: the system's `dataSystemTypeId`.
    pub id: String,
    /// The type id with its first letter capitalised (`custom` → `Custom`); Accord has no type
    /// catalogue.
    pub name: String,
}

impl DataSystemType {
    pub fn of(id: &str) -> DataSystemType {
        let mut chars = id.chars();
        let name: String = match chars.next() {
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        DataSystemType {
            id: id.into(),
            name,
        }
    }
}

/// The fields an attribute has beyond the common ones (§6.3), by kind: [`Plain`],
/// [`ContactFields`], [`CategoryFields`], or [`AnyFields`] where kinds are mixed.
pub trait KindFields: Serialize + JsonSchema {
    fn of(a: &Attribute, idx: &Index) -> Self;
}

/// No fields beyond the common ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct Plain {}

impl KindFields for Plain {
    fn of(_: &Attribute, _: &Index) -> Plain {
        Plain {}
    }
}

/// `contactType` of a contact: `{id, name}`, without `name` if the type is gone.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ContactTypeRef {
    /// Id of the contact type (a `dataSystemContactTypes` value).
    pub id: Uuid,
    /// Name of the contact type, e.g. `Data Protection Officer`; absent once the type is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The fields of a contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContactFields {
    /// The contact's email address (contacts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "email"))]
    pub email: Option<String>,
    /// The contact's phone number (contacts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// The contact's role, e.g. Data Protection Officer (contacts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<ContactTypeRef>,
}

impl KindFields for ContactFields {
    fn of(a: &Attribute, idx: &Index) -> ContactFields {
        ContactFields {
            email: a.email.clone(),
            phone_number: a.phone_number.clone(),
            contact_type: a.contact_type_id.map(|t| ContactTypeRef {
                id: t,
                name: idx.attributes.get(&t).map(|t| t.name.clone()),
            }),
        }
    }
}

/// The field of a data category.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CategoryFields {
    /// Kind of personal data: `none`, `standard` (the default) or `sensitive`.
    #[serde(rename = "pIIType")]
    #[schemars(extend("enum" = PII_TYPES))]
    pub pii_type: String,
}

impl KindFields for CategoryFields {
    fn of(a: &Attribute, _: &Index) -> CategoryFields {
        CategoryFields {
            pii_type: a
                .pii_type
                .clone()
                .unwrap_or_else(|| DEFAULT_PII_TYPE.into()),
        }
    }
}

/// The fields of whichever kind the attribute is, in a list over every kind.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AnyFields {
    #[serde(flatten)]
    pub contact: ContactFields,
    /// Kind of personal data of a data category: `none`, `standard` or `sensitive` (data
    /// categories only).
    #[serde(rename = "pIIType", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = PII_TYPES))]
    pub pii_type: Option<String>,
}

impl KindFields for AnyFields {
    fn of(a: &Attribute, idx: &Index) -> AnyFields {
        AnyFields {
            contact: match a.kind {
                K::Contacts => ContactFields::of(a, idx),
                _ => ContactFields::default(),
            },
            pii_type: (a.kind == K::DataCategories).then(|| CategoryFields::of(a, idx).pii_type),
        }
    }
}

/// `dataSystems` of an attribute: the systems linked to it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Linked {
    /// The data systems linked to the attribute.
    pub data_systems: Vec<DataSystemSummary>,
}

/// An attribute embedded in a DataSystem, which omits `dataSystems`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Embedded {}

/// The Attribute object (§6.3): the common fields, the fields of its kind, and the systems
/// linked to it unless it is embedded in a DataSystem.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct AttributeView<X, S> {
    /// Attribute id (UUID).
    pub id: Uuid,
    /// The organization of the data map.
    pub organization_id: Uuid,
    /// Name of the attribute (1 to 256 characters), unique per kind in the organization.
    pub name: String,
    /// `active`, `archived` or `test`; only active attributes appear in the record of
    /// processing.
    #[schemars(extend("enum" = STATUSES))]
    pub status: String,
    /// Description of the attribute (at most 1042 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `true` only for the predefined values every organization starts with; those cannot be
    /// changed or deleted (422), only linked.
    pub read_only: bool,
    /// Fixed id of a predefined value, the same in every organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_data_system_attribute_id: Option<Uuid>,
    #[serde(flatten)]
    pub fields: X,
    #[serde(flatten)]
    pub systems: S,
    /// When the attribute was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the attribute last changed, in epoch milliseconds.
    pub date_updated: i64,
}

impl<X: KindFields, S> AttributeView<X, S> {
    fn with(a: &Attribute, idx: &Index, systems: S) -> AttributeView<X, S> {
        AttributeView {
            id: a.id,
            organization_id: a.organization_id,
            name: a.name.clone(),
            status: a.status.clone(),
            description: a.description.clone(),
            read_only: a.read_only,
            global_data_system_attribute_id: a.global_attribute_id,
            fields: X::of(a, idx),
            systems,
            date_created: a.date_created,
            date_updated: a.date_updated,
        }
    }
}

impl<X: KindFields> AttributeView<X, Linked> {
    /// The attribute as its own endpoints answer it, with the systems linked to it.
    pub fn linked(a: &Attribute, idx: &Index) -> AttributeView<X, Linked> {
        let data_systems = idx
            .systems_of(a.id)
            .iter()
            .map(|s| DataSystemSummary {
                id: s.id,
                name: s.name.clone(),
                status: s.status.clone(),
                data_system_type_id: s.data_system_type_id.clone(),
            })
            .collect();
        Self::with(a, idx, Linked { data_systems })
    }
}

impl<X: KindFields> AttributeView<X, Embedded> {
    pub fn embedded(a: &Attribute, idx: &Index) -> AttributeView<X, Embedded> {
        Self::with(a, idx, Embedded {})
    }
}

/// An item of `GET …/data-system-attributes` (§6.4): the attribute and its kind.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ListedAttribute {
    #[serde(flatten)]
    pub attribute: AttributeView<AnyFields, Linked>,
    /// The kind of the attribute, e.g. `dataSystemContacts`, `dataSystemDataCategories` or
    /// `dataSystemContactTypes`.
    #[schemars(extend("enum" = AttributeKind::ALL.map(AttributeKind::attribute_name)))]
    pub attribute_name: &'static str,
}

impl ListedAttribute {
    pub fn new(a: &Attribute, idx: &Index) -> ListedAttribute {
        ListedAttribute {
            attribute: AttributeView::linked(a, idx),
            attribute_name: a.kind.attribute_name(),
        }
    }
}

type EmbeddedList<X> = Vec<AttributeView<X, Embedded>>;

/// The DataSystem object (§6.2), with its linked attributes embedded.
// Each attribute field is named by `AttributeKind::system_field`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataSystemView {
    /// Data system id (UUID).
    pub id: Uuid,
    /// The organization of the data map.
    pub organization_id: Uuid,
    /// Name of that organization.
    pub organization_name: String,
    /// Name of the data system (1 to 256 characters).
    pub name: String,
    /// `active`, `archived` or `test`. Active systems linked to a project become tasks of its
    /// new compliance requests.
    #[schemars(extend("enum" = STATUSES))]
    pub status: String,
    /// Whether the system transfers personal data across borders; default `false`.
    pub cross_border: bool,
    /// How long the system keeps personal data, as an ISO 8601 date duration; default `P2Y`.
    pub retention: String,
    /// Notes about the system (at most 1024 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_notes: Option<String>,
    /// Type of the system (at most 64 characters); default `custom`.
    pub data_system_type_id: String,
    /// The type of the system.
    pub data_system_type: DataSystemType,
    /// http(s) URL of the system's icon.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(url)]
    pub icon: Option<String>,
    /// Id of the system in a global catalogue, stored as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_data_system_id: Option<Uuid>,
    /// The projects the system serves.
    pub project_ids: Vec<Uuid>,
    /// The contacts linked to the system, without their `dataSystems`.
    pub data_system_contacts: EmbeddedList<ContactFields>,
    /// The destinations (recipients) linked to the system, without their `dataSystems`.
    pub data_system_destinations: EmbeddedList<Plain>,
    /// The origins of the data linked to the system, without their `dataSystems`.
    pub data_system_origins: EmbeddedList<Plain>,
    /// The processing activities linked to the system, without their `dataSystems`.
    pub processing_activities: EmbeddedList<Plain>,
    /// The processing purposes linked to the system, without their `dataSystems`.
    pub data_system_processing_purposes: EmbeddedList<Plain>,
    /// The system's relationship (e.g. Controller or Processor), without its `dataSystems`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_system_relationship: Option<AttributeView<Plain, Embedded>>,
    /// The security measures linked to the system, without their `dataSystems`.
    pub data_system_security_measures: EmbeddedList<Plain>,
    /// The data categories linked to the system, without their `dataSystems`.
    pub data_system_data_categories: EmbeddedList<CategoryFields>,
    /// The kinds of data subjects linked to the system, without their `dataSystems`.
    pub data_system_data_subjects: EmbeddedList<Plain>,
    /// When the system was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the system last changed, in epoch milliseconds.
    pub date_updated: i64,
}

impl DataSystemView {
    pub fn new(s: &DataSystem, idx: &Index, organization_name: &str) -> DataSystemView {
        fn linked<X: KindFields>(idx: &Index, s: Uuid, kind: AttributeKind) -> EmbeddedList<X> {
            idx.linked(s, kind)
                .map(|a| AttributeView::embedded(a, idx))
                .collect()
        }
        DataSystemView {
            id: s.id,
            organization_id: s.organization_id,
            organization_name: organization_name.into(),
            name: s.name.clone(),
            status: s.status.clone(),
            cross_border: s.cross_border,
            retention: s.retention.clone(),
            additional_notes: s.additional_notes.clone(),
            data_system_type_id: s.data_system_type_id.clone(),
            data_system_type: DataSystemType::of(&s.data_system_type_id),
            icon: s.icon.clone(),
            global_data_system_id: s.global_data_system_id,
            project_ids: idx.projects_of(s.id).to_vec(),
            data_system_contacts: linked(idx, s.id, K::Contacts),
            data_system_destinations: linked(idx, s.id, K::Destinations),
            data_system_origins: linked(idx, s.id, K::Origins),
            processing_activities: linked(idx, s.id, K::ProcessingActivities),
            data_system_processing_purposes: linked(idx, s.id, K::ProcessingPurposes),
            data_system_relationship: idx
                .relationship(s.id)
                .map(|r| AttributeView::embedded(r, idx)),
            data_system_security_measures: linked(idx, s.id, K::SecurityMeasures),
            data_system_data_categories: linked(idx, s.id, K::DataCategories),
            data_system_data_subjects: linked(idx, s.id, K::DataSubjects),
            date_created: s.date_created,
            date_updated: s.date_updated,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Bodies.

fn uuid_array() -> Schema {
    Schema::Array {
        items: Box::new(string().format(Format::Uuid).non_empty().s()),
        min: None,
        max: None,
        unique: false,
    }
}

/// Published on the text fields that are trimmed and cannot be blank.
const NOT_BLANK: &str =
    "leading and trailing white space is removed; a value that is then empty is rejected (400)";

/// The two names of a data system's processing activities (§6.2); a body may use one.
pub const PROCESSING_ACTIVITY_FIELDS: [&str; 2] =
    ["processingActivities", "dataSystemProcessingActivities"];

crate::body! {
    /// A data-system create or PATCH body (§6.2). Text is trimmed; `""` clears an optional
    /// field. Each attribute-id array replaces the links of its kind.
    pub struct SystemBody {
        /// Name of the data system (1 to 256 characters; required on create).
        name: Option<String> => "name":
            string().min(1).max(256).non_empty().describe(NOT_BLANK).s(),
        /// `active`, `archived` or `test` (required on create).
        status: Option<String> => "status": string().one_of(STATUSES).s(),
        /// Whether the system transfers personal data across borders; default `false`.
        cross_border: Option<bool> => "crossBorder": Schema::Bool,
        /// How long the system keeps personal data: an ISO 8601 date duration
        /// `P[nY][nM][nW][nD]`; default `P2Y`.
        retention: Option<String> => "retention":
            string().max(64).pattern(DURATION_PATTERN).s(),
        /// Notes about the system (at most 1024 characters).
        additional_notes: Option<String> => "additionalNotes": string().max(1024).s(),
        /// Type of the system (at most 64 characters); default `custom`.
        data_system_type_id: Option<String> => "dataSystemTypeId": string().max(64).s(),
        /// http(s) URL of the system's icon (at most 2048 characters).
        icon: Option<String> => "icon": string().max(2048).format(Format::HttpUrl).s(),
        /// Id of the system in a global catalogue, stored as given.
        global_data_system_id: Option<String> => "globalDataSystemId":
            string().format(Format::Uuid).s(),
        /// Projects of the organization the system serves (422 otherwise); replaces the set.
        project_ids: Option<Vec<Uuid>> => "projectIds": uuid_array(),
        /// Ids of the organization's contacts to link (422 `{field}/{i} not found in this
        /// organization` otherwise); replaces the links of this kind.
        contacts: Option<Vec<Uuid>> => "dataSystemContacts": uuid_array(),
        /// Ids of the organization's destinations to link (422 `{field}/{i} not found in this
        /// organization` otherwise); replaces the links of this kind.
        destinations: Option<Vec<Uuid>> => "dataSystemDestinations": uuid_array(),
        /// Ids of the organization's origins to link (422 `{field}/{i} not found in this
        /// organization` otherwise); replaces the links of this kind.
        origins: Option<Vec<Uuid>> => "dataSystemOrigins": uuid_array(),
        /// Ids of the organization's processing activities to link (422 `{field}/{i} not found
        /// in this organization` otherwise); replaces the links of this kind.
        processing_activities: Option<Vec<Uuid>> => "processingActivities": uuid_array(),
        /// Another name of `processingActivities`; sending both gives 400.
        processing_activities_alias: Option<Vec<Uuid>> => "dataSystemProcessingActivities":
            uuid_array(),
        /// Ids of the organization's processing purposes to link (422 `{field}/{i} not found in
        /// this organization` otherwise); replaces the links of this kind.
        processing_purposes: Option<Vec<Uuid>> => "dataSystemProcessingPurposes": uuid_array(),
        /// Id of the organization's relationship attribute to link (a system has one); `""`
        /// unlinks it.
        relationship: Option<String> => "dataSystemRelationship":
            string().format(Format::Uuid).s(),
        /// Ids of the organization's security measures to link (422 `{field}/{i} not found in
        /// this organization` otherwise); replaces the links of this kind.
        security_measures: Option<Vec<Uuid>> => "dataSystemSecurityMeasures": uuid_array(),
        /// Ids of the organization's data categories to link (422 `{field}/{i} not found in
        /// this organization` otherwise); replaces the links of this kind.
        data_categories: Option<Vec<Uuid>> => "dataSystemDataCategories": uuid_array(),
        /// Ids of the organization's data subjects to link (422 `{field}/{i} not found in this
        /// organization` otherwise); replaces the links of this kind.
        data_subjects: Option<Vec<Uuid>> => "dataSystemDataSubjects": uuid_array(),
    }
}

impl SystemBody {
    /// The attribute-id lists sent, as (kind, body field, ids); a relationship sent as `""`
    /// is an empty list.
    fn links(&self) -> Result<Vec<(AttributeKind, &'static str, Vec<Uuid>)>> {
        let field = |k: AttributeKind| k.system_field();
        let relationship = match self.relationship.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(vec![]),
            Some(id) => Some(vec![parse_uuid(
                id,
                &format!("body/{}", field(K::Relationships)),
            )?]),
        };
        let [activities, alias] = PROCESSING_ACTIVITY_FIELDS;
        let lists = [
            (K::Contacts, field(K::Contacts), &self.contacts),
            (K::Destinations, field(K::Destinations), &self.destinations),
            (K::Origins, field(K::Origins), &self.origins),
            (
                K::ProcessingActivities,
                activities,
                &self.processing_activities,
            ),
            (
                K::ProcessingActivities,
                alias,
                &self.processing_activities_alias,
            ),
            (
                K::ProcessingPurposes,
                field(K::ProcessingPurposes),
                &self.processing_purposes,
            ),
            (K::Relationships, field(K::Relationships), &relationship),
            (
                K::SecurityMeasures,
                field(K::SecurityMeasures),
                &self.security_measures,
            ),
            (
                K::DataCategories,
                field(K::DataCategories),
                &self.data_categories,
            ),
            (K::DataSubjects, field(K::DataSubjects), &self.data_subjects),
        ];
        Ok(lists
            .into_iter()
            .filter_map(|(kind, field, ids)| ids.clone().map(|ids| (kind, field, ids)))
            .collect())
    }
}

/// The body schema of a data-system create (`create`) or PATCH. Sending both names of the
/// processing activities is rejected, which the schema states with `not`.
fn system_object(create: bool) -> Object {
    Object {
        props: SystemBody::props(),
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

/// The published body schema of a data-system create or PATCH: the declared properties and
/// the rule that the two names of the processing activities exclude each other.
pub fn system_body_json_schema(create: bool) -> Value {
    let schema = if create {
        system_create_schema()
    } else {
        system_patch_schema()
    };
    let mut v = schema.json_schema();
    v["not"] = json!({"required": PROCESSING_ACTIVITY_FIELDS});
    v
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

fn trimmed(v: &Option<String>) -> Option<String> {
    v.as_deref().map(|s| s.trim().to_string())
}

/// A text field that cannot be blank (sent as `""` or white space only).
fn not_blank(v: &Option<String>, field: &str) -> Result<()> {
    if v.as_deref().map(str::trim) == Some("") {
        return Err(Error::bad(format!(
            "body/{field} must NOT have fewer than 1 characters"
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
    let b: SystemBody = crate::schema::parse(raw, schema)?;
    if b.processing_activities.is_some() && b.processing_activities_alias.is_some() {
        return Err(Error::bad(format!(
            "body must NOT have both properties: {}",
            PROCESSING_ACTIVITY_FIELDS.join(", ")
        )));
    }
    not_blank(&b.name, "name")?;
    Ok(SystemInput {
        name: trimmed(&b.name),
        status: trimmed(&b.status),
        cross_border: b.cross_border,
        retention: trimmed(&b.retention),
        additional_notes: trimmed(&b.additional_notes),
        data_system_type_id: trimmed(&b.data_system_type_id),
        icon: trimmed(&b.icon),
        global_data_system_id: trimmed(&b.global_data_system_id),
        links: b.links()?,
        project_ids: b.project_ids,
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

crate::body! {
    /// The fields every attribute body may carry (§6.3).
    pub struct AttributeBody {
        /// Name of the attribute (1 to 256 characters; required on create), unique per kind in
        /// the organization (422).
        name: Option<String> => "name":
            string().min(1).max(256).non_empty().describe(NOT_BLANK).s(),
        /// `active`, `archived` or `test` (required on create).
        status: Option<String> => "status": string().one_of(STATUSES).s(),
        /// Description of the attribute (at most 1042 characters).
        description: Option<String> => "description": string().max(1042).s(),
        /// Ids of the organization's data systems to link the attribute to; replaces its links
        /// (for a relationship, it becomes each system's single relationship).
        data_systems: Option<Vec<Uuid>> => "dataSystems": uuid_array(),
    }
}

crate::body! {
    /// The further fields of a contact's body.
    pub struct ContactBody {
        /// The contact's email address (required on create).
        email: Option<String> => "email":
            string().min(1).max(256).format(Format::Email).non_empty().s(),
        /// The contact's phone number (1 to 128 characters; required on create).
        phone_number: Option<String> => "phoneNumber":
            string().min(1).max(128).non_empty().describe(NOT_BLANK).s(),
        /// The contact's role: the id of a `dataSystemContactTypes` value, e.g. Data Protection
        /// Officer (required on create). List them with `GET
        /// …/data-system-attributes?attributeName=dataSystemContactTypes`.
        contact_type: Option<Uuid> => "contactType": string()
            .min(1)
            .format(Format::Uuid)
            .non_empty()
            .describe("a contact type of the organization (422 otherwise)")
            .s(),
    }
}

crate::body! {
    /// The further field of a data category's body.
    pub struct CategoryBody {
        /// Kind of personal data: `none`, `standard` (the default) or `sensitive`.
        pii_type: Option<String> => "pIIType": string().one_of(PII_TYPES).s(),
    }
}

fn attribute_object(kind: AttributeKind, create: bool) -> Object {
    let mut props = AttributeBody::props();
    let mut required = vec!["name", "status"];
    match kind {
        K::Contacts => {
            let contact = ContactBody::props();
            required.extend(contact.iter().map(|(k, _)| *k));
            props.extend(contact);
        }
        K::DataCategories => props.extend(CategoryBody::props()),
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

/// Validates a create or PATCH body of an attribute (§6.3). A kind's schema admits only
/// its own fields, so the other kinds' come out absent.
pub fn parse_attribute(raw: &Value, kind: AttributeKind, create: bool) -> Result<AttributeInput> {
    let common: AttributeBody = crate::schema::parse(raw, attribute_body_schema(kind, create))?;
    let read = |e: serde_json::Error| Error::bad(format!("body is invalid: {e}"));
    let contact = ContactBody::deserialize(raw).map_err(read)?;
    let category = CategoryBody::deserialize(raw).map_err(read)?;
    not_blank(&common.name, "name")?;
    not_blank(&contact.phone_number, "phoneNumber")?;
    Ok(AttributeInput {
        name: trimmed(&common.name),
        status: trimmed(&common.status),
        description: trimmed(&common.description),
        data_systems: common.data_systems,
        email: trimmed(&contact.email),
        phone_number: trimmed(&contact.phone_number),
        contact_type: contact.contact_type,
        pii_type: trimmed(&category.pii_type),
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
            p("id", uuid_param()).doc("Only the system with this id."),
            p("name", Q::Str(string().max(256))).doc("Case-insensitive substring of the system's name (at most 256 characters)."),
            p("crossBorder", Q::Bool).doc("Only systems whose `crossBorder` is this."),
            p("retention", Q::Str(string().max(64))).doc("Only systems with this retention (exact ISO 8601 duration)."),
            p("additionalNotes", Q::Str(string().max(1024))).doc("Case-insensitive substring of the system's notes (at most 1024 characters)."),
            p("status", Q::EnumList(STATUSES)).doc("Only systems in these statuses; repeat the key for several."),
            p("dataSystemTypeId", Q::Str(string().max(64))).doc("Only systems of this type (exact)."),
            p("globalDataSystemId", uuid_param()).doc("Only systems with this global id."),
        ]);
        for kind in AttributeKind::editable() {
            v.push(
                p(kind.filter_param(), Q::Str(string().max(64))).doc(format!(
                    "Only systems linked to a {} attribute whose id is this value or whose name contains it, case-insensitively (at most 64 characters).",
                    kind.noun()
                )),
            );
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
                    p("id", uuid_param()).doc("Only the attribute with this id."),
                    p("name", Q::Str(string().max(256))).doc("Case-insensitive substring of the attribute's name (at most 256 characters)."),
                    p("status", Q::EnumList(STATUSES)).doc("Only attributes in these statuses; repeat the key for several."),
                ]);
                match k {
                    K::Contacts => v.push(p("email", Q::Str(string().max(256))).doc("Case-insensitive substring of the contact's email (at most 256 characters).")),
                    K::DataCategories => v.push(p("pIIType", Q::EnumList(PII_TYPES)).doc("Only data categories of these kinds (`none`, `standard`, `sensitive`); repeat the key for several.")),
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
            p("attributeName", Q::Str(string().one_of(names.as_slice()))).doc("Only attributes of this kind, e.g. `dataSystemContacts`, or the read-only `dataSystemContactTypes` catalogue. Default: every kind."),
            p("pIIType", Q::EnumList(PII_TYPES)).doc("Only data categories of these kinds (`none`, `standard`, `sensitive`); repeat the key for several."),
            p("name", Q::Str(string().max(256))).doc("Case-insensitive substring of the attribute's name (at most 256 characters)."),
            p("status", Q::EnumList(STATUSES)).doc("Only attributes in these statuses; repeat the key for several."),
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
            p("format", Q::Str(string().one_of(ROP_FORMATS))).doc(
                "`json` (the default) or `csv` (RFC 4180 with a header row, as an attachment).",
            ),
            p("projectIds", Q::UuidList)
                .doc("Only data systems serving these projects; repeat the key for several."),
        ]
    })
}

/// The organization a record is about.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RopOrganization {
    /// Organization id (UUID).
    pub id: Uuid,
    /// Name of the organization.
    pub name: String,
    /// The organization's main host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "hostname"))]
    pub primary_domain: Option<String>,
}

/// The JSON record of processing (§6.6).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RecordOfProcessing {
    /// The organization the record is about.
    pub organization: RopOrganization,
    /// When the record was made, as an RFC 3339 date-time in UTC.
    #[schemars(extend("format" = "date-time"))]
    pub generated_at: String,
    /// One row per active processing activity linked to a data system, and one
    /// (`processingActivity: null`) for the active systems without any.
    pub items: Vec<RopItem>,
}

/// The processing activity of a row.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RopActivity {
    /// Processing activity id (UUID).
    pub id: Uuid,
    /// Name of the processing activity.
    pub name: String,
    /// Description of the processing activity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A data category with its kind of personal data.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RopDataCategory {
    /// Name of the data category.
    pub name: String,
    /// Kind of personal data: `none`, `standard` or `sensitive`.
    #[serde(rename = "pIIType")]
    #[schemars(extend("enum" = PII_TYPES))]
    pub pii_type: String,
}

/// A data system of a row that transfers data across borders.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RopTransfer {
    /// Id of a data system with `crossBorder: true`.
    pub data_system_id: Uuid,
    /// Name of that data system.
    pub data_system_name: String,
}

/// A data system of a row with its retention.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RopRetention {
    /// Id of the data system.
    pub data_system_id: Uuid,
    /// Name of the data system.
    pub data_system_name: String,
    /// The system's retention, an ISO 8601 date duration.
    pub retention: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RopContact {
    /// Name of the contact.
    pub name: String,
    /// The contact's email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The contact's phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Name of the contact's type, e.g. `Data Protection Officer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<String>,
}

/// A data system or project of a row.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RopNamed {
    /// Id (UUID).
    pub id: Uuid,
    /// Name.
    pub name: String,
}

/// One row of the record: a processing activity (or none) and what its systems hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RopItem {
    /// The processing activity of the row; `null` on the row of data systems without one.
    #[schemars(schema_with = "nullable::<RopActivity>")]
    pub processing_activity: Option<RopActivity>,
    /// Names of the active processing purposes linked to the row's data systems, deduplicated
    /// and sorted.
    pub purposes: Vec<String>,
    /// Names of the active data subjects linked to the row's data systems, deduplicated and
    /// sorted.
    pub data_subject_categories: Vec<String>,
    /// The active data categories linked to the row's systems, with their kind of personal
    /// data.
    pub data_categories: Vec<RopDataCategory>,
    /// Names of the active destinations linked to the row's data systems, deduplicated and
    /// sorted.
    pub recipients: Vec<String>,
    /// Names of the active origins linked to the row's data systems, deduplicated and sorted.
    pub origins: Vec<String>,
    /// Names of the active relationships linked to the row's data systems, deduplicated and
    /// sorted.
    pub relationships: Vec<String>,
    /// The row's data systems with `crossBorder: true`.
    pub cross_border_transfers: Vec<RopTransfer>,
    /// Each data system of the row with its retention.
    pub retention: Vec<RopRetention>,
    /// Names of the active security measures linked to the row's data systems, deduplicated and
    /// sorted.
    pub security_measures: Vec<String>,
    /// The active contacts linked to the row's data systems.
    pub contacts: Vec<RopContact>,
    /// The active data systems of the row.
    pub data_systems: Vec<RopNamed>,
    /// The projects those data systems serve.
    pub projects: Vec<RopNamed>,
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
            (Some(x), Some(y)) => (&x.name, x.id).cmp(&(&y.name, y.id)),
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
    let mut project_list: Vec<RopNamed> = members
        .iter()
        .flat_map(|s| idx.projects_of(s.id).iter().copied())
        .filter(|p| only.is_none_or(|o| o.contains(p)))
        .collect::<HashSet<Uuid>>()
        .into_iter()
        .filter_map(|p| {
            projects.get(&p).map(|n| RopNamed {
                id: p,
                name: n.clone(),
            })
        })
        .collect();
    project_list.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
    RopItem {
        processing_activity: activity.and_then(|id| {
            idx.attributes.get(&id).map(|a| RopActivity {
                id: a.id,
                name: a.name.clone(),
                description: a.description.clone(),
            })
        }),
        purposes: names(K::ProcessingPurposes),
        data_subject_categories: names(K::DataSubjects),
        data_categories: union(K::DataCategories)
            .into_iter()
            .map(|a| RopDataCategory {
                name: a.name.clone(),
                pii_type: a
                    .pii_type
                    .clone()
                    .unwrap_or_else(|| DEFAULT_PII_TYPE.into()),
            })
            .collect(),
        recipients: names(K::Destinations),
        origins: names(K::Origins),
        relationships: names(K::Relationships),
        cross_border_transfers: members
            .iter()
            .filter(|s| s.cross_border)
            .map(|s| RopTransfer {
                data_system_id: s.id,
                data_system_name: s.name.clone(),
            })
            .collect(),
        retention: members
            .iter()
            .map(|s| RopRetention {
                data_system_id: s.id,
                data_system_name: s.name.clone(),
                retention: s.retention.clone(),
            })
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
        data_systems: members
            .iter()
            .map(|s| RopNamed {
                id: s.id,
                name: s.name.clone(),
            })
            .collect(),
        projects: project_list,
    }
}

impl RopItem {
    fn csv_record(&self) -> [String; 14] {
        let join = |v: Vec<String>| v.join("; ");
        let (activity, description) = match &self.processing_activity {
            Some(a) => (a.name.clone(), a.description.clone().unwrap_or_default()),
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
                    .map(|c| format!("{} ({})", c.name, c.pii_type))
                    .collect(),
            ),
            join(self.recipients.clone()),
            join(self.origins.clone()),
            join(self.relationships.clone()),
            join(
                self.cross_border_transfers
                    .iter()
                    .map(|t| t.data_system_name.clone())
                    .collect(),
            ),
            join(
                self.retention
                    .iter()
                    .map(|r| format!("{}: {}", r.data_system_name, r.retention))
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
            join(self.data_systems.iter().map(|s| s.name.clone()).collect()),
            join(self.projects.iter().map(|p| p.name.clone()).collect()),
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
        assert_eq!(DataSystemType::of("custom").name, "Custom");
        assert_eq!(DataSystemType::of("salesforce").name, "Salesforce");
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

    /// The body, the answer and the kinds name the same fields of a data system.
    #[test]
    fn system_fields_follow_the_kinds() {
        let body: Vec<&str> = SystemBody::props().iter().map(|(k, _)| *k).collect();
        let answer = crate::schema::published::<DataSystemView>();
        for kind in AttributeKind::editable() {
            assert!(body.contains(&kind.system_field()), "{kind:?}");
            assert!(
                answer["properties"].get(kind.system_field()).is_some(),
                "{kind:?}"
            );
        }
        for field in PROCESSING_ACTIVITY_FIELDS {
            assert!(body.contains(&field));
        }
        assert_eq!(
            system_body_json_schema(true)["not"]["required"],
            json!(PROCESSING_ACTIVITY_FIELDS)
        );
    }

    /// Each kind's answer publishes the common fields and its own, and nothing else.
    #[test]
    fn attribute_answers_publish_their_kind() {
        use crate::schema::published;
        let props = |v: Value| {
            let mut k: Vec<String> = v["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        let plain = props(published::<AttributeView<Plain, Linked>>());
        let contact = props(published::<AttributeView<ContactFields, Linked>>());
        let category = props(published::<AttributeView<CategoryFields, Embedded>>());
        assert!(plain.contains(&"dataSystems".to_string()));
        assert!(!category.contains(&"dataSystems".to_string()));
        assert_eq!(contact.len(), plain.len() + 3);
        assert!(category.contains(&"pIIType".to_string()));
        let listed = published::<ListedAttribute>();
        assert_eq!(listed["additionalProperties"], false);
        assert!(listed["required"]
            .as_array()
            .unwrap()
            .contains(&json!("attributeName")));
    }

    #[test]
    fn csv_quotes_and_joins() {
        let item = RopItem {
            processing_activity: Some(RopActivity {
                id: Uuid::nil(),
                name: "Billing, \"core\"".into(),
                description: None,
            }),
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

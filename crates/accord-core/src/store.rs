//! The storage contract, one trait per area (tenancy and keys, compliance requests,
//! messages and jobs, consent, site sessions and domains, data map) and [`Store`], all of
//! them together. `accord-store` implements them for SQLite and PostgreSQL; the API layer
//! only ever sees `dyn Store`, and every call is scoped by organization or by project.
pub mod error;
pub use error::{Entity, Key, StoreError, StoreResult};

use crate::auth::{Permission, Principal, Role};
use crate::compliance::{
    Actor, ComplianceRequest, DataSystemSummary, EventFilter, NewEvent, RequestEvent, RequestFilter,
};
use crate::query::Page;
use error::StoreResult as Result;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub primary_domain: Option<String>,
    pub default_project_id: Option<Uuid>,
    pub date_created: i64,
    pub date_updated: i64,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub slug: String,
    pub status: String,
    pub contact_emails: Vec<String>,
    pub send_from_email_id: String,
    pub settings: Value,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
    /// The organization's send-from address when `send_from_email_id` names one (§7.6).
    pub send_from: Option<SendFrom>,
}

/// A project's send-from address and display name.
#[derive(Debug, Clone, PartialEq)]
pub struct SendFrom {
    pub email: String,
    pub name: Option<String>,
}

/// A send-from email of an organization (§7.6).
#[derive(Debug, Clone, PartialEq)]
pub struct SendFromEmail {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// The outcome of one delivery attempt of an outgoing message.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Sent,
    Retry { error: String, at: i64 },
    GiveUp { error: String },
}

/// Site-filed requests in the last hour, for the creation limits of §1.6.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteCreateCounts {
    pub by_ip: i64,
    pub oldest_by_ip: Option<i64>,
    pub by_email: i64,
    pub oldest_by_email: Option<i64>,
}

impl Project {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
    fn setting_i64(&self, key: &str, default: i64) -> i64 {
        self.settings
            .pointer(&format!("/complianceRequests/{key}"))
            .and_then(Value::as_i64)
            .unwrap_or(default)
    }
    pub fn regulation(&self) -> String {
        self.settings
            .pointer("/complianceRequests/regulation")
            .and_then(Value::as_str)
            .unwrap_or("gdpr")
            .to_string()
    }
    pub fn purge_days_after_upload(&self) -> i64 {
        self.setting_i64("filePurgeDaysAfterUpload", 90)
    }
    pub fn purge_days_after_download(&self) -> i64 {
        self.setting_i64("filePurgeDaysAfterDownload", 30)
    }
}

/// Default project settings (§7.3).
pub fn default_settings() -> Value {
    serde_json::json!({
        "trackers": {"deepScan": false, "realTimeScan": false},
        "complianceRequests": {"regulation": "gdpr", "filePurgeDaysAfterDownload": 30, "filePurgeDaysAfterUpload": 90},
        "identity": {"allowUnverifiedIdentify": false}
    })
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub permissions: Vec<Permission>,
    pub date_created: i64,
    pub date_updated: i64,
}

/// A new organization with its first project.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    pub name: String,
    pub slug: Option<String>,
    pub primary_domain: Option<String>,
    pub project: NewProject,
}

#[derive(Debug, Clone, Default)]
pub struct NewProject {
    pub name: String,
    pub domains: Vec<String>,
    pub contact_emails: Vec<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
    pub settings: Option<Value>,
    /// The Default region first, then any others; empty for a Default region with the
    /// default settings. Each banner without a policy gets the new `privacy_policy` type.
    pub regions: Vec<crate::regions::RegionDraft>,
}

/// A new API key; the digest and display prefix of its secret.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub organization_id: Uuid,
    pub name: String,
    pub role: Role,
    pub digest: String,
    pub prefix: String,
    pub permissions: Vec<(Uuid, Option<Uuid>, Role)>,
}

/// What one change of a request writes besides the request itself, in the same
/// transaction: its events and the messages it sends.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub events: Vec<NewEvent>,
    pub messages: Vec<crate::lifecycle::OutgoingMessage>,
}

/// The change a use case makes to a loaded, locked request inside the store's transaction.
pub type UpdateFn = Box<dyn FnOnce(&mut ComplianceRequest) -> crate::Result<Change> + Send>;

/// What the store holds at the moment requests are created, read inside the transaction
/// that writes them.
#[derive(Debug, Clone)]
pub struct CreateFacts {
    /// The identity of each input, in input order (§3.5).
    pub concord_ids: Vec<Uuid>,
    /// The project's active data systems, one task each (§6.5).
    pub data_systems: Vec<Uuid>,
}

/// A request a use case decided to create, with everything written with it.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub request: ComplianceRequest,
    pub events: Vec<NewEvent>,
    pub challenge: Option<crate::lifecycle::Challenge>,
    pub messages: Vec<crate::lifecycle::OutgoingMessage>,
}

/// Builds the new requests from the facts; runs inside the store's transaction. A store may
/// call it again with new facts when it writes the create again (SQLite's group commit
/// writes a batch again, create by create, when one of its creates fails).
pub type PlanFn = Box<dyn Fn(CreateFacts) -> crate::Result<Vec<NewRequest>> + Send + Sync>;

/// How a verification finds its challenge.
#[derive(Debug, Clone)]
pub enum ChallengeKey {
    /// The current challenge of this request (verify by code).
    Request(Uuid),
    /// The challenge whose link token has this digest (verify by link).
    TokenDigest(String),
}

/// What a verification attempt decided, for the store to write.
#[derive(Debug, Clone)]
pub enum Verification {
    /// The request is verified: the challenge is used up, the request and these events
    /// are written.
    Verified(Vec<NewEvent>, Vec<crate::lifecycle::OutgoingMessage>),
    /// Nothing is verified; a wrong code counts as an attempt on the challenge.
    Refused {
        reason: crate::lifecycle::CodeRejection,
        count_attempt: bool,
    },
}

/// Decides a verification from the locked request and its challenge, if any.
pub type VerifyFn = Box<
    dyn FnOnce(&mut ComplianceRequest, Option<&crate::lifecycle::Challenge>) -> Verification + Send,
>;

/// Connections of one database pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// `read` or `write` (one pool serves both on PostgreSQL: it is reported as `write`).
    pub pool: &'static str,
    pub size: u32,
    pub idle: u32,
}

/// Organizations, projects, API keys and their permissions, usage, and server settings.
#[async_trait::async_trait]
pub trait TenancyStore: Send + Sync + 'static {
    /// A cheap round trip to the database (health).
    async fn ping(&self) -> Result<()>;
    async fn principal_by_digest(&self, digest: &str) -> Result<Option<Principal>>;
    /// [`Self::principal_by_digest`] for a call that only reads: it may be served from what
    /// this server read at most a couple of seconds ago (cleared by every write of this
    /// server to API keys and their permissions). Calls that write read afresh.
    async fn principal_for_read(&self, digest: &str) -> Result<Option<Principal>> {
        self.principal_by_digest(digest).await
    }
    async fn organization_count(&self) -> Result<i64>;
    async fn get_organization(&self, id: Uuid) -> Result<Option<Organization>>;
    async fn list_organizations(&self, ids: &[Uuid]) -> Result<Vec<Organization>>;
    /// Creates an organization, its first project (with domains and defaults).
    async fn create_organization(&self, new: NewOrganization) -> Result<(Organization, Project)>;
    async fn get_project(&self, org: Uuid, id: Uuid) -> Result<Option<Project>>;
    /// [`Self::get_project`] for a call that only reads, cached as
    /// [`Self::principal_for_read`] is (cleared by every write to projects or send-from
    /// addresses).
    async fn project_for_read(&self, org: Uuid, id: Uuid) -> Result<Option<Project>> {
        self.get_project(org, id).await
    }
    async fn list_projects(&self, org: Uuid) -> Result<Vec<Project>>;
    async fn create_project(&self, org: Uuid, new: NewProject) -> Result<Project>;
    async fn update_project(&self, project: &Project) -> Result<()>;
    async fn create_api_key(&self, new: NewApiKey) -> Result<ApiKey>;
    async fn get_api_key(&self, org: Uuid, id: Uuid) -> Result<Option<ApiKey>>;
    async fn list_api_keys(&self, org: Uuid) -> Result<Vec<ApiKey>>;
    async fn delete_api_key(&self, org: Uuid, id: Uuid) -> Result<()>;
    async fn update_api_key(&self, key: &ApiKey) -> Result<()>;
    /// Owner keys whose home is `org`.
    async fn owner_key_count(&self, org: Uuid) -> Result<i64>;
    /// Connections of each database pool, for the pool metrics.
    fn pool_stats(&self) -> Vec<PoolStats>;
    /// Writes name, slug, primary domain, default project and `date_updated`.
    async fn update_organization(&self, org: &Organization) -> Result<()>;
    /// Deletes the organization and all its rows, and the permission entries any key holds
    /// on it, in one transaction. Returns the object-store keys of the deleted requests'
    /// files, for the caller to remove.
    async fn delete_organization(&self, id: Uuid) -> Result<Vec<String>>;
    /// Adds one permission entry to a key (the creator of an organization becomes its owner).
    async fn add_api_key_permission(
        &self,
        key: Uuid,
        org: Uuid,
        project: Option<Uuid>,
        role: Role,
    ) -> Result<Permission>;
    /// The owner keys of `org`: keys whose home it is with role `owner`, and keys with an
    /// organization-level `owner` entry for it.
    async fn organization_owner_keys(&self, org: Uuid) -> Result<Vec<Uuid>>;
    /// Stores a new identify secret (§7.3); it must stay readable to verify tokens (§5.6).
    async fn set_identify_secret(&self, project: Uuid, secret: &str) -> Result<()>;
    /// Stores `candidate` under `key` unless a value is already there, then returns the
    /// stored value, so concurrent first starts of several servers agree on one value.
    async fn server_setting_init(&self, key: &str, candidate: &str) -> Result<String>;
    /// Current usage of an organization (§7.11): totals of data systems and domains, and
    /// compliance requests and site sessions created since `month_start` (epoch ms).
    async fn organization_usage(&self, org: Uuid, month_start: i64) -> Result<Usage>;
}

/// Compliance requests, their events and data-system tasks, site-created requests, verification and the file purge.
#[async_trait::async_trait]
pub trait ComplianceStore: Send + Sync + 'static {
    /// Resolves the identity of each of `identities` (§3.5), reads the project's active
    /// data systems, lets `plan` build the requests from them, and writes the requests,
    /// their events, challenges and messages: all in one transaction, or none (§3.3).
    async fn create_compliance_requests(
        &self,
        project: &Project,
        identities: Vec<crate::consent::Identifiers>,
        actor: Actor,
        now: i64,
        plan: PlanFn,
    ) -> Result<Vec<ComplianceRequest>>;
    async fn get_compliance_request(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<ComplianceRequest>>;
    /// Loads the request, locks it, applies `f`, and writes the row (when it changed) with
    /// the events and messages `f` returned. `Ok(None)` when the request does not exist.
    async fn update_compliance_request(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        actor: Actor,
        f: UpdateFn,
    ) -> Result<Option<ComplianceRequest>>;
    async fn list_compliance_requests(
        &self,
        filter: &RequestFilter,
        page: &Page,
    ) -> Result<(i64, Vec<ComplianceRequest>)>;
    /// The exact number of requests matching `filter` (the `total` of its list), without
    /// reading a page.
    async fn count_compliance_requests(&self, filter: &RequestFilter) -> Result<i64>;
    async fn list_request_events(
        &self,
        filter: &EventFilter,
        page: &Page,
    ) -> Result<(i64, Vec<RequestEvent>)>;
    /// Appends one event outside any other change (downloads).
    async fn append_request_event(
        &self,
        cr: &ComplianceRequest,
        actor: Actor,
        event: NewEvent,
    ) -> Result<()>;
    async fn data_system_summaries(
        &self,
        org: Uuid,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, DataSystemSummary>>;
    async fn site_create_counts(
        &self,
        project: Uuid,
        ip: Option<&str>,
        email_lower: &str,
        since: i64,
    ) -> Result<SiteCreateCounts>;
    /// Loads and locks the request and challenge `key` finds in `project`, lets `decide`
    /// judge the attempt, and writes what it decided. `Ok(None)` when there is no such
    /// request (or, by link, no such challenge in the project).
    async fn verify_compliance_request(
        &self,
        project: Uuid,
        key: ChallengeKey,
        now: i64,
        decide: VerifyFn,
    ) -> Result<Option<(ComplianceRequest, Verification)>>;
    /// `(organization, project, request)` of requests whose files are due for purging.
    async fn due_purges(&self, now: i64, limit: u64) -> Result<Vec<(Uuid, Uuid, Uuid)>>;
}

/// Outgoing messages, background job leases and send-from addresses.
#[async_trait::async_trait]
pub trait MessageStore: Send + Sync + 'static {
    async fn claim_messages(
        &self,
        now: i64,
        lease_ms: i64,
        limit: u64,
    ) -> Result<Vec<crate::lifecycle::OutgoingMessage>>;
    async fn finish_message(
        &self,
        msg: &crate::lifecycle::OutgoingMessage,
        outcome: &Delivery,
        now: i64,
    ) -> Result<()>;
    /// Messages still waiting for delivery, for the outgoing-message backlog metric.
    async fn message_backlog(&self) -> Result<i64>;
    /// True for exactly one caller per period of job `name`.
    async fn claim_job(&self, name: &str, now: i64, period_ms: i64, owner: &str) -> Result<bool>;
    async fn list_send_from_emails(
        &self,
        org: Uuid,
        email: Option<&str>,
        page: &Page,
    ) -> Result<(i64, Vec<SendFromEmail>)>;
    async fn get_send_from_email(&self, org: Uuid, id: Uuid) -> Result<Option<SendFromEmail>>;
    /// 422 when the address already exists in the organization.
    async fn create_send_from_email(&self, email: &SendFromEmail) -> Result<()>;
    async fn update_send_from_email(&self, email: &SendFromEmail) -> Result<()>;
    /// Deletes the address; projects using it revert to `"default"`.
    async fn delete_send_from_email(&self, org: Uuid, id: Uuid) -> Result<()>;
}

/// Consent types, consent events, identities and folded consent state.
#[async_trait::async_trait]
pub trait ConsentStore: Send + Sync + 'static {
    /// Stores a new type; a duplicate `(category, subcategory, label)` is 422.
    async fn create_consent_type(
        &self,
        project: &Project,
        input: crate::consent::CreateConsentType,
    ) -> Result<crate::consent::ConsentType>;
    async fn get_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::consent::ConsentType>>;
    /// Loads the type, locks it, applies `f` and writes it. `Ok(None)` when it does not exist.
    async fn update_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        f: crate::consent::ConsentTypeUpdateFn,
    ) -> Result<Option<crate::consent::ConsentType>>;
    /// Deletes a type no event references (422 otherwise, and for read-only types) and
    /// returns it. `Ok(None)` when it does not exist.
    async fn delete_consent_type(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::consent::ConsentType>>;
    async fn list_consent_types(
        &self,
        filter: &crate::consent::ConsentTypeFilter,
        page: &Page,
    ) -> Result<(i64, Vec<crate::consent::ConsentType>)>;
    /// Every type of a project, for resolving events against them (shared: a store may
    /// serve it from a short-lived cache).
    async fn project_consent_types(
        &self,
        org: Uuid,
        project: Uuid,
    ) -> Result<std::sync::Arc<Vec<crate::consent::ConsentType>>>;
    /// The identity of each item of a Privacy API consent-event create (§3.5), in order,
    /// found on a reader without writing anything. `None` when an item would create an
    /// identity or add identifiers to one: [`ConsentStore::append_consent_events`] then
    /// resolves them in the transaction that appends the events. An unknown `concordId`
    /// is an error here already.
    async fn find_event_identities(
        &self,
        project: &Project,
        inputs: &[crate::consent::ConsentEventInput],
    ) -> Result<Option<Vec<Uuid>>>;
    /// Appends the events of any number of requests in one transaction with multi-row
    /// INSERTs. The pending identities of a request are resolved first, in that
    /// transaction and in the order of its events, and written into its events'
    /// `concord_id`. A type deleted meanwhile gives 422; on any error nothing is stored.
    async fn append_consent_events(&self, requests: &mut [crate::consent::NewEvents])
        -> Result<()>;
    /// Appends fully resolved events in one transaction.
    async fn insert_consent_events(&self, events: &[crate::consent::ConsentEvent]) -> Result<()>;
    async fn get_consent_event(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::consent::ConsentEvent>>;
    async fn list_consent_events(
        &self,
        filter: &crate::consent::ConsentEventFilter,
        page: &Page,
    ) -> Result<(i64, Vec<crate::consent::ConsentEvent>)>;
    /// A project's consent events whose `consentDate` is in `[start, end)`, counted per
    /// UTC day and per state or consent type: one grouped query over the
    /// `(project_id, consent_date)` index.
    async fn consent_event_days(
        &self,
        org: Uuid,
        project: Uuid,
        start: i64,
        end: i64,
        split: crate::consent::DaySplit,
    ) -> Result<Vec<crate::consent::DayCount>>;
    /// The people of a project per consent type and current state, folded as
    /// [`ConsentStore::consent_state`] folds one identity's (unexpired events of a type,
    /// at least its `requireReacceptVersion`, latest `consentDate` wins; events of an
    /// identity merged into another count as the survivor's), in one grouped query.
    async fn current_state_counts(
        &self,
        org: Uuid,
        project: Uuid,
        now: i64,
    ) -> Result<Vec<crate::consent::CurrentStateCount>>;
    /// The identity an identifier names, followed to the survivor of its merges.
    async fn find_identity(
        &self,
        org: Uuid,
        project: Uuid,
        lookup: &crate::consent::IdentityLookup,
    ) -> Result<Option<crate::consent::Identity>>;
    /// Consent state of an identity and the identities merged into it (§4.4), over every
    /// type or, with `active_only`, over active types.
    async fn consent_state(
        &self,
        org: Uuid,
        project: Uuid,
        concord_id: Uuid,
        active_only: bool,
    ) -> Result<Vec<crate::consent::ConsentStateItem>>;
    async fn list_identities(
        &self,
        filter: &crate::consent::IdentityFilter,
        page: &Page,
    ) -> Result<(i64, Vec<crate::consent::Identity>)>;
    async fn get_identity(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::consent::Identity>>;
    /// Erasure (§4.5) in one transaction. `Ok(None)` when the identity does not exist.
    async fn erase_identity(
        &self,
        org: Uuid,
        project: Uuid,
        id: Uuid,
        include_compliance_requests: bool,
        actor: Actor,
    ) -> Result<Option<crate::consent::Erasure>>;
}

/// Domains, site sessions and the identities they act for.
#[async_trait::async_trait]
pub trait SiteStore: Send + Sync + 'static {
    async fn list_domains(
        &self,
        filter: &crate::site::DomainFilter,
        page: &Page,
    ) -> Result<(i64, Vec<crate::site::Domain>)>;
    async fn get_domain(&self, project: Uuid, id: Uuid) -> Result<Option<crate::site::Domain>>;
    /// The first `limit` domains (by domain) of each of `projects` in one read, each
    /// project's with the number it has in all.
    async fn projects_domains(
        &self,
        projects: &[Uuid],
        limit: u64,
    ) -> Result<std::collections::HashMap<Uuid, (i64, Vec<crate::site::Domain>)>>;
    /// Inserts a domain; one already in the project gives 422.
    async fn create_domain(&self, domain: &crate::site::Domain) -> Result<()>;
    /// Writes domain, url and `date_updated`; a clash with another domain gives 422.
    async fn update_domain(&self, domain: &crate::site::Domain) -> Result<()>;
    async fn delete_domain(&self, project: Uuid, id: Uuid) -> Result<()>;
    /// The lowercase domain names of a project, for the origin rule.
    async fn project_domain_names(&self, project: Uuid) -> Result<Vec<String>>;
    /// A project by id alone: the Site API path names no organization.
    async fn site_project(&self, id: Uuid) -> Result<Option<Project>>;
    /// A number that changes whenever this store writes anything the site client embeds
    /// (projects, domains, consent types, regions, trackers), so that a script rendered
    /// from them can be kept until it does. Writes by other replicas are not counted:
    /// what they write is seen once the renderer's own short cache expires.
    fn site_config_epoch(&self) -> u64 {
        0
    }
    /// The identity of a new session (§5.2): `requested` when it is a non-erased identity
    /// of the project (the survivor if it was merged), otherwise a new identity.
    async fn session_identity(&self, project: &Project, requested: Option<Uuid>) -> Result<Uuid>;
    async fn create_session(&self, session: &crate::site::SessionRecord) -> Result<()>;
    /// Records a token refresh (`date_updated`).
    async fn touch_session(&self, project: Uuid, id: Uuid, now: i64) -> Result<()>;
    async fn get_session(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::site::SessionRecord>>;
    /// The embedded `session` object of what a site session records; a store may serve it
    /// from a short-lived cache.
    async fn session_info(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::compliance::SessionInfo>> {
        Ok(self.get_session(project, id).await?.map(|r| r.info()))
    }
    async fn list_sessions(
        &self,
        filter: &crate::site::SessionFilter,
        page: &Page,
    ) -> Result<(i64, Vec<crate::site::SessionRecord>)>;
    /// The identity a session's `cid` acts for: itself, or the survivor of its merges.
    /// `Ok(None)` when the identity does not exist in the project.
    async fn acting_identity(&self, project: Uuid, cid: Uuid) -> Result<Option<Uuid>>;
    /// Site profile (§5.5): overwrites profile fields; identifiers held by another identity
    /// are skipped.
    async fn update_profile(
        &self,
        project: &Project,
        concord_id: Uuid,
        update: &crate::site::ProfileUpdate,
    ) -> Result<()>;
    /// Site identify (§5.6) in one transaction: merge, nothing, or attach.
    async fn identify(
        &self,
        project: &Project,
        concord_id: Uuid,
        key: &crate::site::IdentifyKey,
    ) -> Result<crate::site::IdentifyOutcome>;
    /// The project's identify secret (§7.3), if one was ever set.
    async fn identify_secret(&self, project: Uuid) -> Result<Option<String>>;
}

/// Data systems, their attributes and links, and the projects they serve.
#[async_trait::async_trait]
pub trait DataMapStore: Send + Sync + 'static {
    /// The data systems linked to each of `projects`, ordered by name then id.
    async fn project_data_systems(
        &self,
        org: Uuid,
        projects: &[Uuid],
    ) -> Result<HashMap<Uuid, Vec<crate::admin::ProjectDataSystem>>>;
    /// Replaces the data systems linked to a project. The caller has checked that every id
    /// is a data system of the project's organization.
    async fn set_project_data_systems(&self, project: Uuid, data_systems: &[Uuid]) -> Result<()>;
    /// The whole data map of an organization: systems, attributes and their links.
    async fn data_map(&self, org: Uuid) -> Result<crate::datamap::DataMap>;
    /// Inserts (`create`) or updates a data system and replaces the link sets it names,
    /// in one transaction.
    async fn save_data_system(
        &self,
        write: &crate::datamap::SystemWrite,
        create: bool,
    ) -> Result<()>;
    /// Deletes a data system and its links.
    async fn delete_data_system(&self, org: Uuid, id: Uuid) -> Result<()>;
    /// Inserts (`create`) or updates an attribute; `Some(systems)` replaces its links (for
    /// a relationship, each listed system's previous relationship is unlinked). A
    /// duplicate name of the kind gives 422.
    async fn save_attribute(
        &self,
        attribute: &crate::datamap::Attribute,
        systems: Option<&[Uuid]>,
        create: bool,
    ) -> Result<()>;
    /// Deletes an attribute and unlinks it from every data system.
    async fn delete_attribute(&self, org: Uuid, id: Uuid) -> Result<()>;
}

/// Regions of a project (§7.8). A location code is held by at most one Region of a
/// project: a write that would give it to a second one is refused with nothing stored.
#[async_trait::async_trait]
pub trait RegionStore: Send + Sync + 'static {
    /// Every Region of a project, Default region included.
    async fn list_regions(&self, project: Uuid) -> Result<Vec<crate::regions::Region>>;
    /// Every Region of each of `projects`, in one read (two queries, not one per project).
    async fn projects_regions(&self, projects: &[Uuid]) -> Result<Vec<crate::regions::Region>>;
    async fn get_region(&self, project: Uuid, id: Uuid) -> Result<Option<crate::regions::Region>>;
    async fn create_region(&self, region: &crate::regions::Region) -> Result<()>;
    /// Writes every field but the ids and `date_created`, and replaces the codes.
    async fn update_region(&self, region: &crate::regions::Region) -> Result<()>;
    async fn delete_region(&self, project: Uuid, id: Uuid) -> Result<()>;
}

/// Policies of an organization (§7.9).
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync + 'static {
    /// Every policy of an organization.
    async fn list_policies(&self, org: Uuid) -> Result<Vec<crate::policies::Policy>>;
    async fn get_policy(&self, org: Uuid, id: Uuid) -> Result<Option<crate::policies::Policy>>;
    async fn create_policy(&self, policy: &crate::policies::Policy) -> Result<()>;
    /// Writes every field but the ids and `date_created`.
    async fn update_policy(&self, policy: &crate::policies::Policy) -> Result<()>;
    async fn delete_policy(&self, org: Uuid, id: Uuid) -> Result<()>;
    /// How many policies the organization has (§7.11).
    async fn policy_count(&self, org: Uuid) -> Result<i64>;
}

/// Trackers of a project (§8.2), what sites and scans detect (§5.7, §8.3), and the scan
/// schedule and history (§8.3). Every call is scoped by project.
#[async_trait::async_trait]
pub trait TrackerStore: Send + Sync + 'static {
    async fn list_trackers(
        &self,
        filter: &crate::trackers::TrackerFilter,
        page: &Page,
    ) -> Result<(i64, Vec<crate::trackers::Tracker>)>;
    /// The number of trackers of `project` in each category that has any (one `GROUP BY`).
    async fn tracker_category_counts(&self, project: Uuid) -> Result<Vec<(String, i64)>>;
    /// Every tracker of each of `projects`, oldest first.
    async fn project_trackers(&self, projects: &[Uuid]) -> Result<Vec<crate::trackers::Tracker>>;
    /// The trackers of `project` a create or a detection can meet, oldest first: those named
    /// one of `names`, those of `ids`, and with `patterns` every tracker with a pattern.
    async fn tracker_candidates(
        &self,
        project: Uuid,
        names: &[String],
        ids: &[Uuid],
        patterns: bool,
    ) -> Result<Vec<crate::trackers::Tracker>>;
    async fn get_tracker(
        &self,
        project: Uuid,
        id: Uuid,
    ) -> Result<Option<crate::trackers::Tracker>>;
    /// Writes a create call's inserts and updates in one transaction, or nothing: a key
    /// another tracker holds is [`Key::Tracker`], an update of a tracker that is gone is
    /// [`Entity::Row`] missing.
    async fn write_trackers(&self, writes: &[crate::trackers::Write]) -> Result<()>;
    /// Writes every field but the ids, `date_created` and `detected_name`.
    async fn update_tracker(&self, tracker: &crate::trackers::Tracker) -> Result<()>;
    async fn delete_tracker(&self, project: Uuid, id: Uuid) -> Result<()>;
    /// Records detections in one transaction: `dateDetected` of the trackers seen, and the
    /// new trackers (one whose key was taken meanwhile is counted as seen instead).
    async fn record_detections(
        &self,
        project: Uuid,
        plan: &crate::trackers::DetectionPlan,
        now: i64,
    ) -> Result<()>;
    /// Sets the project's server-set `settings.trackers.lastRealTimeScan` (§5.7).
    async fn set_last_real_time_scan(&self, project: Uuid, now: i64) -> Result<()>;
    /// The project's scan schedule, if it ever set one.
    async fn scan_schedule(&self, project: Uuid) -> Result<Option<crate::scans::ScanSchedule>>;
    async fn save_scan_schedule(&self, schedule: &crate::scans::ScanSchedule) -> Result<()>;
    /// The newest scans of a project, newest first.
    async fn scan_history(&self, project: Uuid, limit: u64) -> Result<Vec<crate::scans::Scan>>;
    /// Stores a `running` scan holding its lease until `lease_until`, and keeps only the
    /// newest [`crate::scans::HISTORY_KEPT`] scans of the project. A scan of the project
    /// still running is [`Key::RunningScan`].
    async fn start_scan(&self, scan: &crate::scans::Scan, lease_until: i64) -> Result<()>;
    /// Extends the lease of a running scan; false when it is no longer running.
    async fn renew_scan_lease(&self, project: Uuid, id: Uuid, lease_until: i64) -> Result<bool>;
    /// Writes the final status and results of a scan that is still running; false when it
    /// no longer was (its lease expired and it was marked failed).
    async fn finish_scan(&self, scan: &crate::scans::Scan) -> Result<bool>;
    /// Marks `failed` every running scan whose lease ended before `now`; returns how many.
    async fn fail_expired_scans(&self, now: i64) -> Result<u64>;
    /// Enabled schedules due at `now` (`next_run <= now`), oldest due first.
    async fn due_schedules(&self, now: i64, limit: u64) -> Result<Vec<crate::scans::ScanSchedule>>;
    /// Claims one due run of a schedule: moves `next_run` from `due` to `next` in one
    /// statement. True for exactly one caller, whatever the number of servers.
    async fn claim_schedule(&self, project: Uuid, due: i64, next: i64) -> Result<bool>;
    /// Stores a new `running` GCM scan (§8.4) holding its lease until `lease_until`.
    async fn start_gcm_scan(&self, scan: &crate::gcm::GcmScan, lease_until: i64) -> Result<()>;
    /// Writes the end of a GCM scan that is still running; false when it no longer is.
    async fn finish_gcm_scan(&self, scan: &crate::gcm::GcmScan) -> Result<bool>;
    async fn get_gcm_scan(&self, project: Uuid, id: Uuid) -> Result<Option<crate::gcm::GcmScan>>;
    /// One page of a project's GCM scans and the total matching the filter.
    async fn list_gcm_scans(
        &self,
        filter: &crate::gcm::GcmScanFilter,
        page: &crate::query::Page,
    ) -> Result<(i64, Vec<crate::gcm::GcmScan>)>;
}

/// What the usage metrics count (§7.10).
#[async_trait::async_trait]
pub trait MetricsStore: Send + Sync + 'static {
    /// The counts of each of `projects` (of `org`) in each month between consecutive
    /// `bounds` (increasing month starts, epoch ms): `result[project][i]` is the month
    /// `[bounds[i], bounds[i + 1])`.
    async fn month_counts(
        &self,
        org: Uuid,
        projects: &[Uuid],
        bounds: &[i64],
    ) -> Result<HashMap<Uuid, Vec<crate::metrics::MonthCounts>>>;
    /// Adds reads counted in memory to the stored counts, in one statement.
    async fn add_consent_reads(&self, counts: &[crate::metrics::ReadCount]) -> Result<()>;
}

/// Users (§7.5): memberships of an organization, each tied to the one account of its email
/// address across the server. A refused write (an email already used in the organization)
/// stores nothing, the account included.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Every user of an organization, with its permissions.
    async fn list_users(&self, org: Uuid) -> Result<Vec<crate::users::User>>;
    async fn get_user(&self, org: Uuid, id: Uuid) -> Result<Option<crate::users::User>>;
    /// Stores a new user, finding or creating the account of its email, with its
    /// invitation link and the message that carries it (one transaction); returns the user
    /// with its `account_id`.
    async fn create_user(
        &self,
        user: &crate::users::User,
        invitation: Option<(&crate::console::Link, &crate::lifecycle::OutgoingMessage)>,
    ) -> Result<crate::users::User>;
    /// Writes every field but the ids, the email and the creation dates, and replaces the
    /// permissions.
    async fn update_user(&self, user: &crate::users::User) -> Result<()>;
    /// Removes a user, its permissions and its invitations; an account left with no
    /// membership and no password goes too.
    async fn delete_user(&self, org: Uuid, id: Uuid) -> Result<()>;
    async fn user_count(&self, org: Uuid) -> Result<i64>;
}

/// What redeeming a single-use console link writes, besides marking it used.
#[derive(Debug, Clone)]
pub enum Redeem {
    /// Sets the password (argon2id PHC string) of the link's account: the invited User's,
    /// which becomes `active`, or the account of a password reset, whose sessions end.
    Password(String),
    /// Creates the organization's first owner: the account of the User's email (found or
    /// created) gets the password, and the User is stored `active`.
    Setup(Box<crate::users::User>, String),
}

/// The web console's accounts, sessions, single-use links and sign-in throttling.
#[async_trait::async_trait]
pub trait ConsoleStore: Send + Sync + 'static {
    /// The account of an email address (case-insensitive).
    async fn account_by_email(&self, email: &str) -> Result<Option<crate::console::Account>>;
    async fn account(&self, id: Uuid) -> Result<Option<crate::console::Account>>;
    /// Every membership (User) of an account, across organizations, with permissions.
    async fn account_users(&self, account: Uuid) -> Result<Vec<crate::users::User>>;
    async fn create_console_session(&self, s: &crate::console::ConsoleSession) -> Result<()>;
    async fn console_session(&self, digest: &str)
        -> Result<Option<crate::console::ConsoleSession>>;
    async fn touch_console_session(&self, digest: &str, now: i64, expires_at: i64) -> Result<()>;
    async fn delete_console_session(&self, digest: &str) -> Result<()>;
    /// `(failures, window_start)` counted under each key (`(0, 0)` for none).
    async fn sign_in_failures(&self, keys: &[String]) -> Result<Vec<(i64, i64)>>;
    /// Counts a failure under each key, starting a new window where the last one ended.
    async fn record_sign_in_failure(&self, keys: &[String], now: i64, window_ms: i64)
        -> Result<()>;
    async fn clear_sign_in_failures(&self, key: &str) -> Result<()>;
    /// Stores a link and, when given, the message that carries it, in one transaction.
    async fn create_link(
        &self,
        link: &crate::console::Link,
        message: Option<&crate::lifecycle::OutgoingMessage>,
    ) -> Result<()>;
    async fn link(&self, digest: &str) -> Result<Option<crate::console::Link>>;
    /// Marks the link used if it is still usable at `now` and writes what `redeem` says,
    /// all in one transaction. The account signed in by it, or `None` when the link was
    /// unknown, used or expired (then nothing is written).
    async fn redeem_link(&self, digest: &str, now: i64, redeem: Redeem) -> Result<Option<Uuid>>;
}

/// An open request whose due date is near or past, for the team's daily digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DueRequest {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub project_id: Uuid,
    pub request: String,
    pub due_date: i64,
}

/// The team's notification emails (console): who opted in, and the daily due-date digest.
#[async_trait::async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// The Users of `org` who asked for the team's emails (from a short-lived cache: a change
    /// made through another server is seen within two seconds).
    async fn team_optins(&self, org: Uuid) -> Result<Vec<Uuid>>;
    /// Turns the team's emails on or off for User `user` of `org`.
    async fn set_team_optin(&self, org: Uuid, user: Uuid, on: bool, now: i64) -> Result<()>;
    /// The projects, as (organization, project), with an open (`submitted`, `acknowledged`)
    /// request due before `before`.
    async fn projects_with_open_requests_due(&self, before: i64) -> Result<Vec<(Uuid, Uuid)>>;
    /// How many open requests of `project` are due in `[from, before)`, and the first
    /// `limit` of them, nearest first.
    async fn open_requests_due(
        &self,
        project: Uuid,
        from: i64,
        before: i64,
        limit: u64,
    ) -> Result<(u64, Vec<DueRequest>)>;
    /// True once every digest of UTC day `day` (days since 1970-01-01) was queued.
    async fn digest_day_done(&self, day: i64) -> Result<bool>;
    /// Records that every digest of UTC day `day` was queued.
    async fn set_digest_day_done(&self, day: i64) -> Result<()>;
    /// Records that `recipient` got the digest of `organization` of `day` and queues its
    /// message, in one transaction; false, and nothing written, when that digest was already
    /// queued.
    async fn queue_digest(
        &self,
        recipient: &str,
        organization: Uuid,
        day: i64,
        message: &crate::lifecycle::OutgoingMessage,
    ) -> Result<bool>;
}

/// Everything Accord stores, one trait per area; handlers and use cases hold an
/// `Arc<dyn Store>`. Bring the area traits into scope with `use accord_core::store::prelude::*`.
pub trait Store:
    TenancyStore
    + ComplianceStore
    + MessageStore
    + ConsentStore
    + SiteStore
    + DataMapStore
    + RegionStore
    + PolicyStore
    + MetricsStore
    + UserStore
    + TrackerStore
    + ConsoleStore
    + NotificationStore
{
}

impl<
        T: TenancyStore
            + ComplianceStore
            + MessageStore
            + ConsentStore
            + SiteStore
            + DataMapStore
            + RegionStore
            + PolicyStore
            + MetricsStore
            + UserStore
            + TrackerStore
            + ConsoleStore
            + NotificationStore,
    > Store for T
{
}

/// The area traits, for calling their methods on a `dyn Store`.
pub mod prelude {
    pub use super::{
        ComplianceStore, ConsentStore, ConsoleStore, DataMapStore, MessageStore, MetricsStore,
        NotificationStore, PolicyStore, RegionStore, SiteStore, Store, TenancyStore, TrackerStore,
        UserStore,
    };
}

/// What a bootstrap created; the secret is shown once.
#[derive(Debug, Clone)]
pub struct Bootstrapped {
    pub organization: Organization,
    pub project: Project,
    pub api_key: ApiKey,
    pub secret: String,
}

/// Creates an organization, its project (with `domains`) and an owner API key (§9.3).
pub async fn bootstrap(
    store: &dyn Store,
    organization_name: &str,
    project_name: &str,
    domains: Vec<String>,
    key_name: &str,
) -> crate::Result<Bootstrapped> {
    let (organization, project) = store
        .create_organization(NewOrganization {
            name: organization_name.into(),
            slug: None,
            primary_domain: None,
            project: NewProject {
                name: project_name.into(),
                domains,
                ..Default::default()
            },
        })
        .await?;
    let secret = crate::auth::generate_api_key();
    let api_key = store
        .create_api_key(NewApiKey {
            organization_id: organization.id,
            name: key_name.into(),
            role: Role::Owner,
            digest: secret.digest,
            prefix: secret.prefix,
            permissions: vec![],
        })
        .await?;
    Ok(Bootstrapped {
        organization,
        project,
        api_key,
        secret: secret.secret,
    })
}

/// What an organization uses, for the features endpoint (§7.11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub data_systems: i64,
    pub domains: i64,
    pub compliance_requests_this_month: i64,
    pub sessions_this_month: i64,
}

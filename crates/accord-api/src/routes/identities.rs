//! Identities of a project (§4.5): look-up, get, erasure, and the Privacy API consent state
//! of one identity (§4.4).
use crate::error::ApiResult;
use crate::extract::{Admin, ProjectScope, Viewer};
use crate::respond::{ok, Json, Page};
use crate::AppState;
use accord_core::compliance::Actor;
use accord_core::consent::{
    ConsentStateView, Counted, Erasure, Identity, IdentityFilter, IdentityLookup, IDENTITY_SORTS,
};
use accord_core::query::{self, p, paging, Kind, Param, Query};
use accord_core::schema::{published, string};
use accord_core::Error;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::Router;
use object_store::path::Path as ObjectPath;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use uuid::Uuid;

pub const COLLECTION: &str = "/organizations/{organizationId}/projects/{projectId}/identities";
pub const ONE: &str = "/organizations/{organizationId}/projects/{projectId}/identities/{concordId}";
pub const STATE: &str = "/organizations/{organizationId}/projects/{projectId}/consent-state";

/// The identifiers that name one identity, in the order of the contract's messages.
const IDENTIFIERS: [&str; 5] = [
    "concordId",
    "email",
    "phoneNumber",
    "userId",
    "projectUserId",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(STATE, get(consent_state))
        .route(COLLECTION, get(list))
        .route(ONE, get(get_one).delete(erase))
}

fn identifier_params() -> [Param; 5] {
    [
        p("concordId", Kind::Str(string().max(64))).doc("The identity with this id."),
        p("email", Kind::Str(string().max(254)))
            .doc("The identity with this email (exact, case-insensitive)."),
        p("phoneNumber", Kind::Str(string().max(128)))
            .doc("The identity with this phone number (compared on its digits and a leading `+`)."),
        p("userId", Kind::Str(string().max(256))).doc("The identity with this user id (exact)."),
        p("projectUserId", Kind::Str(string().max(256)))
            .doc("The identity with this project user id (exact)."),
    ]
}

/// Query of the consent-state look-up: exactly one identifier.
pub fn state_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| identifier_params().to_vec())
}

/// Query of the identity list (§4.5).
pub fn list_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v = paging(IDENTITY_SORTS);
        v.extend(identifier_params());
        v
    })
}

/// Query of the erasure.
pub fn erase_params() -> &'static [Param] {
    static P: OnceLock<Vec<Param>> = OnceLock::new();
    P.get_or_init(|| vec![p("includeComplianceRequests", Kind::Bool).doc("`true` also clears the personal data and deletes the files of the identity's compliance requests; default `false`.")])
}

/// The one identifier of a consent-state query, or the 400 of §4.4.
pub fn single_lookup(q: &Query) -> Result<IdentityLookup, Error> {
    let given: Vec<(&str, String)> = IDENTIFIERS
        .iter()
        .filter_map(|k| q.str(k).map(|v| (*k, v.to_string())))
        .collect();
    let [(name, value)] = <[_; 1]>::try_from(given).map_err(|_| {
        Error::bad(format!(
            "querystring must have exactly one of the properties: {}",
            IDENTIFIERS.join(", ")
        ))
    })?;
    Ok(match name {
        "concordId" => IdentityLookup::ConcordId(value),
        "email" => IdentityLookup::Email(value),
        "phoneNumber" => IdentityLookup::PhoneNumber(value),
        "userId" => IdentityLookup::UserId(value),
        _ => IdentityLookup::ProjectUserId(value),
    })
}

async fn consent_state(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Counted<ConsentStateView>>> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), state_params())?;
    let lookup = single_lookup(&q)?;
    scope.project()?;
    let identity = state
        .store
        .find_identity(org, pid, &lookup)
        .await?
        .ok_or_else(Error::not_found)?;
    let items = state
        .store
        .consent_state(org, pid, identity.id, false)
        .await?;
    Ok(ok(ConsentStateView::answer(&items, identity.id)))
}

async fn list(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Page<Identity>>> {
    let org = scope.org;
    let pid = scope.project_id;
    let q = query::parse(raw.as_deref(), list_params())?;
    scope.project()?;
    let page = query::Page::from_query(&q, "dateCreated");
    let s = |k: &str| q.str(k).map(str::to_string);
    let filter = IdentityFilter {
        organization_id: org,
        project_id: pid,
        email: s("email"),
        phone_number: s("phoneNumber"),
        user_id: s("userId"),
        project_user_id: s("projectUserId"),
        concord_id: s("concordId"),
    };
    let (total, items) = state.store.list_identities(&filter, &page).await?;
    Ok(ok(Page::new(&page, total, items)))
}

async fn get_one(
    State(state): State<AppState>,
    scope: ProjectScope<Viewer>,
) -> ApiResult<Json<Identity>> {
    let org = scope.org;
    let pid = scope.project_id;
    let id: Uuid = scope.id("concordId")?;
    scope.project()?;
    let identity = state
        .store
        .get_identity(org, pid, id)
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(ok(identity))
}

async fn erase(
    State(state): State<AppState>,
    scope: ProjectScope<Admin>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Erasure>> {
    let org = scope.org;
    let pid = scope.project_id;
    let who = &scope.who;
    let id: Uuid = scope.id("concordId")?;
    let q = query::parse(raw.as_deref(), erase_params())?;
    scope.project()?;
    let erasure = erase_identity(
        &state,
        (org, pid, id),
        q.bool("includeComplianceRequests").unwrap_or(false),
        Actor {
            account_id: Some(who.key_id),
        },
    )
    .await?
    .ok_or_else(Error::not_found)?;
    Ok(ok(erasure))
}

/// The erasure of §4.5 (the API's `DELETE …/identities/{concordId}` and the console's):
/// the store's transaction, then the bytes of the files it unlinked. `Ok(None)` when the
/// identity does not exist in the project.
pub async fn erase_identity(
    state: &AppState,
    (org, project, id): (Uuid, Uuid, Uuid),
    include_compliance_requests: bool,
    actor: Actor,
) -> Result<Option<Erasure>, Error> {
    let Some(erasure) = state
        .store
        .erase_identity(org, project, id, include_compliance_requests, actor)
        .await?
    else {
        return Ok(None);
    };
    // The rows no longer name these files; their bytes go after the commit.
    for key in &erasure.file_keys {
        if let Err(e) = state.files.delete(&ObjectPath::from(key.as_str())).await {
            tracing::warn!(error = %e, %key, "could not delete erased file bytes");
        }
    }
    Ok(Some(erasure))
}

/// The OpenAPI paths of identities and of the consent state, for the Privacy API document.
pub fn document(paths: &mut Map<String, Value>) {
    use crate::docs::{op, path_params, query_params};
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "concordId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let with = |mut a: Vec<Value>, b: Vec<Value>| {
        a.extend(b);
        a
    };
    let mut state = op(
        "Consent Events",
        "Consent state of one identity",
        "The current consent of one identity per consent type, of every status (Accord extension): for each type, its unexpired event with the latest `consentDate` whose version is at least the type's `requireReacceptVersion`; events without a type never count, and the events of identities merged into it count as its own. Answered `{count, items}`, newest first. Role: viewer or above.",
        with(path_params(proj), query_params(state_params())),
        None,
        200,
        published::<Counted<ConsentStateView>>(),
        std_errs,
        true,
    );
    crate::docs::append_description(
        &mut state,
        json!(format!(
            "Exactly one of {} names the identity (400 otherwise); an unknown identity gives 404.",
            IDENTIFIERS.join(", ")
        )),
    );
    paths.insert(STATE.into(), json!({ "get": state }));
    paths.insert(
        COLLECTION.into(),
        json!({"get": op("Identities", "Look up identities", "Lists the project's identities (Accord extension), found by identifier: `email` (case-insensitive), `phoneNumber` (normalised), `userId`, `projectUserId` or `concordId`. Role: viewer or above.", with(path_params(proj), query_params(list_params())), None, 200, published::<Page<Identity>>(), std_errs, true)}),
    );
    let identity = published::<Identity>();
    paths.insert(
        ONE.into(),
        json!({
            "get": op("Identities", "Get one identity", "Answers one identity of the project by its `concordId` (Accord extension). Role: viewer or above.", path_params(one), None, 200, identity, std_errs, true),
            "delete": op("Identities", "Erase a data subject's identifiers", "Erases an identity's personal data in one transaction (Accord extension): its identifiers, names and address (it stays as a pseudonymous record with `erasedDate`), the address and user agent of its consent events and sessions, and with `includeComplianceRequests=true` the personal data and files of its compliance requests (event `identity_erased`). Consent types, states, actions, dates and versions are kept. A later session presenting the erased `concordId` gets a new identity. Role: admin or owner.", with(path_params(one), query_params(erase_params())), None, 200, published::<Erasure>(), std_errs, true),
        }),
    );
}

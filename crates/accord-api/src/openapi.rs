//! The published OpenAPI 3.1 document of the Privacy API. Request bodies and query
//! parameters are rendered from the same declarations that validate requests.
use crate::docs::*;
use crate::respond::Page;
use crate::routes::compliance_requests::{include_params, list_params, Created};
use accord_core::compliance::wire::{Event as RequestEvent, PrivacyComplianceRequest};
use accord_core::schema::published;
use accord_core::{admin, compliance};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// What every reader of the Privacy API document needs first.
const PRIVACY_INTRO: &str = "The back-office API of Accord, a self-hosted privacy platform, wire-compatible with Concord's Privacy API: compliance requests (data-subject requests), the consent ledger, identities, the data map and organization administration.\n\n\
Every request but health and these documents sends an API key in `x-api-key`. A key belongs to one organization with a role there (`owner` > `admin` > `limited` > `viewer` > `none`) and may hold roles on single projects or other organizations; each operation names the role it needs. Outside the key's scope the answer is 403.\n\n\
Bodies are JSON (`Content-Type: application/json`) and strict: unknown properties and `null` are refused, and `\"\"` clears an optional text field. Every error answers `{statusCode, error, message}`; a 400 names the place and the rule of the first violation, e.g. `body/userEmail must match format \"email\"`. Lists answer `{offset, count, total, items}` and take `offset`, `limit` (1 to 1000), `sort` and `order`. Ids are UUIDs. Dates are epoch milliseconds, except on consent types, consent events, compliance request events and `resolvedDate`, which are RFC 3339 date-times in UTC.";

/// What every reader of the Site API document needs first.
const SITE_INTRO: &str = "The browser API of Accord, wire-compatible with Concord's Site API: what the site client and widget embedded in a customer's pages call for one visitor.\n\n\
A page first mints a session (`POST /{projectId}/session`), from one of the project's domains (or server-side, with no `Origin`), and sends its token in `x-session` from then on; a refreshed token comes back in the `x-session` response header. Every call acts for the session's identity (`concordId`) only. Request bodies are JSON, strict, at most 64 KiB; errors answer `{statusCode, error, message}`.";

/// The document served at `/privacy-v1/docs/json`.
pub fn privacy_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(build)
}

/// The document served at `/site-v1/docs/json`.
pub fn site_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut paths = Map::new();
        common_paths(&mut paths, "Site API");
        crate::routes::site::document(&mut paths);
        crate::routes::site_consent::document(&mut paths);
        crate::routes::site_requests::document(&mut paths);
        crate::routes::site_trackers::document(&mut paths);
        crate::routes::site_client::document(&mut paths);
        describe_path_params(&mut paths);
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Accord Site API", "version": env!("CARGO_PKG_VERSION"), "description": SITE_INTRO},
            "servers": [{"url": "/site-v1"}],
            "security": [{"SessionAuth": []}],
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                    "SessionAuth": {"type": "apiKey", "in": "header", "name": "x-session"}
                },
                "schemas": {"Error": error_schema()}
            }
        })
    })
}

fn build() -> Value {
    let cr = json!({"$ref": "#/components/schemas/ComplianceRequest"});
    let cr_list = published::<Page<PrivacyComplianceRequest>>();
    let event_list = published::<Page<RequestEvent>>();
    let org = &["organizationId"][..];
    let proj = &["organizationId", "projectId"][..];
    let one = &["organizationId", "projectId", "complianceRequestId"][..];
    let std_errs = &[400, 401, 403, 404, 429, 500][..];
    let write_errs = &[400, 401, 403, 404, 413, 415, 422, 429, 500][..];
    let with = |mut a: Vec<Value>, b: Vec<Value>| {
        a.extend(b);
        a
    };
    let mut paths = Map::new();
    common_paths(&mut paths, "Privacy API");
    paths.insert(
        "/organizations/{organizationId}/features".into(),
        json!({"get": op("Organizations", "Licensed features and allowances", "What the organization may use and how much it uses. Self-hosted Accord enables every feature and licenses nothing: `licensed` and `available` are `null` (unlimited). Role: viewer or above.", path_params(org), None, 200, published::<admin::Features>(), std_errs, true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/compliance-requests".into(),
        json!({"get": op("Compliance Requests", "Compliance requests of the organization", "Lists the compliance requests of every project of the organization the key can read (viewer or above on the project, §2.3), newest first by default. Role: viewer or above; 403 when no project is readable and the organization role is `none`, or when `projectIds` names a project the key cannot read. Filters and sort as on the project list, plus `projectIds`.", with(path_params(org), query_params(list_params(true))), None, 200, cr_list.clone(), std_errs, true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests".into(),
        json!({
            "get": op("Compliance Requests", "Compliance requests of a project", "Lists the project's compliance requests with the list envelope; filters match as described on each parameter. Role: viewer or above.", with(path_params(proj), query_params(list_params(false))), None, 200, cr_list.clone(), std_errs, true),
            "post": op("Compliance Requests", "Create compliance request(s)", "Creates one request (object body, answered with the ComplianceRequest) or 1 to 100 (array body, answered `{count, items}` in input order). Every element and every referenced id is checked before anything is stored: one failure stores nothing. Each request gets its identity (§3.5), one task per active data system linked to the project, a due date, and either `submitted` (`preverified: true`) or `pending_verification` with a verification code sent by email or SMS after commit. Role: limited or above. An archived project gives 422 `project is archived`.", with(path_params(proj), query_params(&include_params())), Some(compliance::create_body_schema().json_schema()), 201,
                published::<Created>(), write_errs, true),
        }),
    );
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}".into(),
        json!({
            "get": op("Compliance Requests", "Get one compliance request", "Answers one compliance request of the project (Accord extension). Role: viewer or above.", with(path_params(one), query_params(&include_params())), None, 200, cr.clone(), std_errs, true),
            "patch": op("Compliance Requests", "Update a compliance request", "Changes status, notes, resolution, resolution status, task completion or the due date (§3.7, §9.2). Field edits apply first, then the status change, in one transaction, each writing its event; a PATCH that changes nothing writes nothing. While `pending_verification` only `status: \"submitted\"` is accepted, while `resolved` only `notes` and the reopen (422 otherwise). Resolving emails the `resolution` text to the subject. Role: limited or above; verifying a pending request and reopening a resolved one need admin or owner (403).", with(path_params(one), query_params(&include_params())), Some(compliance::patch_schema().json_schema()), 200, cr.clone(), write_errs, true),
        }),
    );
    let mut files_post = op(
        "Compliance Requests",
        "Upload files",
        "Uploads 1 to 10 response files as `multipart/form-data` parts named `file`, each at most 10485760 bytes (413). Names must be new on the request (422) and follow the file-name rule (400). Allowed while `submitted`, `acknowledged` or `resolved`. Writes one `file_uploaded` event per file and sets `filePurgeDate` unless the subject already downloaded. Answers 201 with the updated request. Role: limited or above.",
        path_params(one),
        None,
        201,
        cr.clone(),
        write_errs,
        true,
    );
    files_post["requestBody"] = json!({"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "additionalProperties": false, "required": ["file"],
        "properties": {"file": {"type": "array", "maxItems": 10, "items": {"type": "string", "format": "binary"},
            "description": "One part per file. Its name is the part's `filename*` (RFC 8187) or `filename`: 1 to 255 characters, without `/`, `\\`, `..` or control characters. Each file holds at most 10485760 bytes; an empty file is allowed."}}}}}});
    paths.insert("/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}/files".into(), json!({"post": files_post}));
    let mut file_params = path_params(one);
    file_params.push(json!({"name": "fileName", "in": "path", "required": true, "schema": {"type": "string", "maxLength": 255}}));
    let mut download = op(
        "Compliance Requests",
        "Download a file",
        "Streams one response file with its stored media type, `Content-Disposition: attachment` and `X-Content-Type-Options: nosniff`, and writes `files_downloaded` (Accord extension). Staff downloads never set `downloadDate`. Role: viewer or above.",
        file_params.clone(),
        None,
        200,
        json!({}),
        std_errs,
        true,
    );
    download["responses"]["200"] = json!({"description": "The file, with the media type its upload part declared (application/octet-stream when it declared none)", "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}});
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}/files/{fileName}".into(),
        json!({"get": download, "delete": op("Compliance Requests", "Delete a file", "Removes one response file and its bytes, and writes `file_deleted`; when the last file goes, `filePurgeDate` is removed. Same status rules as an upload. Answers the updated request. Role: limited or above.", file_params, None, 200, cr.clone(), &[400, 401, 403, 404, 422, 429, 500], true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/compliance-requests-events".into(),
        json!({"get": op("Compliance Requests", "Compliance request events of the organization", "Lists the events (§3.10) of the compliance requests of every readable project of the organization, newest first by default. Events are immutable and written with the change they record. Role: viewer or above (as for the organization's request list).", path_params(org), None, 200, event_list.clone(), std_errs, true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests-events".into(),
        json!({"get": op("Compliance Requests", "Compliance request events of a project", "Lists the events (§3.10) of the project's compliance requests. Role: viewer or above.", path_params(proj), None, 200, event_list.clone(), std_errs, true)}),
    );
    // Consent ledger (§4.1).
    crate::routes::consent_types::document(&mut paths);
    crate::routes::consent_events::document(&mut paths);
    crate::routes::identities::document(&mut paths);
    // Organization administration (§7.1).
    {
        use crate::routes::{api_keys, organizations, projects};
        use admin::{ApiKeyView, CallerPermissions, IdentifySecret, OrganizationView, ProjectView};
        let key = &["organizationId", "apiKeyId"][..];
        let ok_errs = &[400, 401, 403, 429, 500][..];
        let delete_errs = &[400, 401, 403, 404, 422, 429, 500][..];
        let organization = published::<OrganizationView>();
        let project = published::<ProjectView>();
        let api_key = published::<ApiKeyView>();
        paths.insert(
            "/organizations".into(),
            json!({
                "get": op("Organizations", "Organizations the caller has any access to", "Lists the organizations where the key has a role, on the organization or on one of its projects. Any valid key.", query_params(organizations::list_params()), None, 200, published::<Page<OrganizationView>>(), &[400, 401, 429, 500], true),
                "post": op("Organizations", "Create an organization; the caller's key becomes its owner", "Creates an organization with a `Default` project (its Default region planned by `regionTemplate`, its domain `primaryDomain`, the two URLs and `contactEmails`) and the predefined data-map values; the calling key gets an organization-level `owner` permission on it. `coupons` and `subscription` are validated and ignored. Role: owner of the key's home organization.", vec![], Some(admin::organization_create_schema().json_schema()), 201, organization.clone(), write_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}".into(),
            json!({
                "get": op("Organizations", "Organization details", "Answers the organization, with the projects the key can read. Role: any role of viewer or above in the organization or in one of its projects.", path_params(org), None, 200, organization.clone(), std_errs, true),
                "patch": op("Organizations", "Update an organization", "Changes the name, primary domain or default project (a project of the organization, 422 otherwise). Role: admin or owner.", path_params(org), Some(admin::organization_patch_schema().json_schema()), 200, organization.clone(), write_errs, true),
                "delete": op("Organizations", "Delete the organization and all its data", "Deletes the organization with its projects, keys, users, data map, requests, consent records and stored files, and answers the deleted organization. Role: owner.", path_params(org), None, 200, organization, delete_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/projects".into(),
            json!({
                "get": op("Projects", "Projects readable by the caller", "Lists the organization's projects on which the key's effective role is viewer or above. Role: viewer or above on the organization or on a project; 403 when there is none.", with(path_params(org), query_params(projects::list_params())), None, 200, published::<Page<ProjectView>>(), std_errs, true),
                "post": op("Projects", "Create a project", "Creates a project with its Default region (`regionTemplate`), any `additionalRegions`, its `domains` and the default consent types (§4.2). Role: admin or owner.", path_params(org), Some(admin::project_create_schema().json_schema()), 201, project.clone(), write_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/projects/{projectId}".into(),
            json!({
                "get": op("Projects", "Get one project", "Answers one project of the organization. Role: viewer or above.", path_params(proj), None, 200, project.clone(), std_errs, true),
                "patch": op("Projects", "Update a project", "Changes name, contact emails, linked data systems (`dataSystemIds` replaces the set), sender (`sendFromEmailId`), status or settings (deep-merged: objects merge, scalars and arrays replace). An archived project answers 404 on the Site API and refuses new requests and consent events. Role: admin or owner.", path_params(proj), Some(admin::project_patch_schema().json_schema()), 200, project.clone(), write_errs, true),
                "delete": op("Projects", "Archive a project; its data is kept", "Sets the project's status to `archived` and answers it; nothing is deleted, and PATCH `status: \"active\"` brings it back. Role: admin or owner.", path_params(proj), None, 200, project, delete_errs, true),
            }),
        );
        let mut rotate = op(
            "Projects",
            "Rotate the identify secret; it is shown once",
            "Makes a new secret for signing identify tokens (§5.6), answered once and replacing any previous one; tokens signed with the old secret stop working (Accord extension). The body is optional. Role: admin or owner.",
            path_params(proj),
            None,
            201,
            published::<IdentifySecret>(),
            write_errs,
            true,
        );
        rotate["requestBody"] = json!({"required": false, "content": {"application/json": {"schema": projects::identify_secret_body().json_schema()}}});
        paths.insert(
            "/organizations/{organizationId}/projects/{projectId}/identify-secret".into(),
            json!({"post": rotate}),
        );
        paths.insert(
            "/organizations/{organizationId}/api-keys".into(),
            json!({
                "get": op("API Keys", "API keys of the organization", "Lists the organization's API keys, secrets masked to their first 7 characters. Role: admin or owner.", with(path_params(org), query_params(api_keys::list_params())), None, 200, published::<Page<ApiKeyView>>(), std_errs, true),
                "post": op("API Keys", "Create a key; the secret is shown once", "Creates an API key of the organization; the create answer carries the whole secret, the only time it is shown. `role` defaults to `none` with permissions and to `viewer` without. The key must be admin or owner on each permission's organization, and owner to grant `owner` (403). Role: admin or owner.", path_params(org), Some(admin::api_key_create_schema().json_schema()), 201, api_key.clone(), write_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/api-keys/{apiKeyId}".into(),
            json!({
                "get": op("API Keys", "Get one API key", "Answers one API key, its secret masked. Role: admin or owner.", path_params(key), None, 200, api_key.clone(), std_errs, true),
                "patch": op("API Keys", "Update name, role and permissions", "Changes a key's name, role or permissions (the whole set is replaced). Anything that grants, revokes or touches the `owner` role needs an owner key, and the organization must keep an owner key (422). Role: admin or owner.", path_params(key), Some(admin::api_key_patch_schema().json_schema()), 200, api_key.clone(), write_errs, true),
                "delete": op("API Keys", "Revoke a key", "Deletes an API key, which answers 401 from then on, and answers the deleted key. Deleting an owner key needs an owner, and the last owner key cannot go (422). A key may delete itself. Role: admin or owner.", path_params(key), None, 200, api_key, delete_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/permissions".into(),
            json!({"get": op("Permissions", "The caller's effective permissions", "The calling key's organization-level role and its effective role on every project of the organization (§2.3). Role: any role of viewer or above in the organization or in one of its projects.", path_params(org), None, 200, published::<CallerPermissions>(), ok_errs, true)}),
        );
        paths.insert(
            "/organizations/{organizationId}/subscription".into(),
            json!({"get": op("Subscriptions", "Subscription (fixed for self-hosted)", "Always `{\"plan\": \"self_hosted\", \"interval\": null, \"addons\": {}}`. Role: viewer or above.", path_params(org), None, 200, published::<admin::Subscription>(), ok_errs, true)}),
        );
    }
    crate::routes::domains::document(&mut paths);
    crate::routes::regions::document(&mut paths);
    crate::routes::emails::document(&mut paths);
    crate::routes::policies::document(&mut paths);
    crate::routes::trackers::document(&mut paths);
    crate::routes::tracker_scans::document(&mut paths);
    crate::routes::gcm_scans::document(&mut paths);
    crate::routes::metrics::document(&mut paths);
    crate::routes::users::document(&mut paths);
    crate::routes::sessions::document(&mut paths);
    crate::routes::data_systems::document(&mut paths);
    crate::routes::data_system_attributes::document(&mut paths);
    crate::routes::records_of_processing::document(&mut paths);
    with_body_answers(&mut paths);
    describe_path_params(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Accord Privacy API", "version": env!("CARGO_PKG_VERSION"), "description": PRIVACY_INTRO},
        "servers": [{"url": "/privacy-v1"}],
        "security": [{"ApiKeyAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "SessionAuth": {"type": "apiKey", "in": "header", "name": "x-session"}
            },
            "schemas": {
                "Error": error_schema(),
                "ComplianceRequest": compliance_request_schema(),
                "ComplianceRequestEvent": published::<RequestEvent>(),
            }
        }
    })
}

/// What any operation reading a request body may also answer: 408 for a client that pauses
/// too long while sending it (`ACCORD_BODY_TIMEOUT`), and 503 for a large body that finds
/// the body memory budget spent (`ACCORD_BODY_MEMORY`).
fn with_body_answers(paths: &mut Map<String, Value>) {
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations.filter(|o| o.get("requestBody").is_some()) {
        if let Some(responses) = operation["responses"].as_object_mut() {
            responses.extend(errors(&[408, 503]));
        }
    }
}

/// The published schema of a ComplianceRequest (§3.2), derived from the answered type; the
/// deadline fields appear only with `include=deadline`.
pub fn compliance_request_schema() -> Value {
    published::<PrivacyComplianceRequest>()
}

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
        paths.insert("/health".into(), json!({"get": op("Health Check", "Health check", vec![], None, 200, published::<crate::app::Health>(), &[503], false)}));
        paths.insert("/docs/json".into(), json!({"get": op("Health Check", "This OpenAPI document", vec![], None, 200, json!({"type": "object"}), &[], false)}));
        crate::routes::site::document(&mut paths);
        crate::routes::site_consent::document(&mut paths);
        crate::routes::site_requests::document(&mut paths);
        crate::routes::site_trackers::document(&mut paths);
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Accord Site API", "version": env!("CARGO_PKG_VERSION")},
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
    paths.insert("/health".into(), json!({"get": op("Health Check", "Health check", vec![], None, 200, published::<crate::app::Health>(), &[503], false)}));
    paths.insert("/docs/json".into(), json!({"get": op("Health Check", "This OpenAPI document", vec![], None, 200, json!({"type": "object"}), &[], false)}));
    paths.insert(
        "/organizations/{organizationId}/features".into(),
        json!({"get": op("Organizations", "Licensed features and allowances", path_params(org), None, 200, published::<admin::Features>(), std_errs, true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/compliance-requests".into(),
        json!({"get": op("Compliance Requests", "Compliance requests of the organization", with(path_params(org), query_params(list_params(true))), None, 200, cr_list.clone(), std_errs, true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests".into(),
        json!({
            "get": op("Compliance Requests", "Compliance requests of a project", with(path_params(proj), query_params(list_params(false))), None, 200, cr_list.clone(), std_errs, true),
            "post": op("Compliance Requests", "Create compliance request(s)", with(path_params(proj), query_params(&include_params())), Some(compliance::create_body_schema().json_schema()), 201,
                published::<Created>(), write_errs, true),
        }),
    );
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests/{complianceRequestId}".into(),
        json!({
            "get": op("Compliance Requests", "Get one compliance request", with(path_params(one), query_params(&include_params())), None, 200, cr.clone(), std_errs, true),
            "patch": op("Compliance Requests", "Update a compliance request", with(path_params(one), query_params(&include_params())), Some(compliance::patch_schema().json_schema()), 200, cr.clone(), write_errs, true),
        }),
    );
    let mut files_post = op(
        "Compliance Requests",
        "Upload files",
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
        json!({"get": download, "delete": op("Compliance Requests", "Delete a file", file_params, None, 200, cr.clone(), &[400, 401, 403, 404, 422, 429, 500], true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/compliance-requests-events".into(),
        json!({"get": op("Compliance Requests", "Compliance request events of the organization", path_params(org), None, 200, event_list.clone(), std_errs, true)}),
    );
    paths.insert(
        "/organizations/{organizationId}/projects/{projectId}/compliance-requests-events".into(),
        json!({"get": op("Compliance Requests", "Compliance request events of a project", path_params(proj), None, 200, event_list.clone(), std_errs, true)}),
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
                "get": op("Organizations", "Organizations the caller has any access to", query_params(organizations::list_params()), None, 200, published::<Page<OrganizationView>>(), &[400, 401, 429, 500], true),
                "post": op("Organizations", "Create an organization; the caller's key becomes its owner", vec![], Some(admin::organization_create_schema().json_schema()), 201, organization.clone(), write_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}".into(),
            json!({
                "get": op("Organizations", "Organization details", path_params(org), None, 200, organization.clone(), std_errs, true),
                "patch": op("Organizations", "Update an organization", path_params(org), Some(admin::organization_patch_schema().json_schema()), 200, organization.clone(), write_errs, true),
                "delete": op("Organizations", "Delete the organization and all its data", path_params(org), None, 200, organization, delete_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/projects".into(),
            json!({
                "get": op("Projects", "Projects readable by the caller", with(path_params(org), query_params(projects::list_params())), None, 200, published::<Page<ProjectView>>(), std_errs, true),
                "post": op("Projects", "Create a project", path_params(org), Some(admin::project_create_schema().json_schema()), 201, project.clone(), write_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/projects/{projectId}".into(),
            json!({
                "get": op("Projects", "Get one project", path_params(proj), None, 200, project.clone(), std_errs, true),
                "patch": op("Projects", "Update a project", path_params(proj), Some(admin::project_patch_schema().json_schema()), 200, project.clone(), write_errs, true),
                "delete": op("Projects", "Archive a project; its data is kept", path_params(proj), None, 200, project, delete_errs, true),
            }),
        );
        let mut rotate = op(
            "Projects",
            "Rotate the identify secret; it is shown once",
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
                "get": op("API Keys", "API keys of the organization", with(path_params(org), query_params(api_keys::list_params())), None, 200, published::<Page<ApiKeyView>>(), std_errs, true),
                "post": op("API Keys", "Create a key; the secret is shown once", path_params(org), Some(admin::api_key_create_schema().json_schema()), 201, api_key.clone(), write_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/api-keys/{apiKeyId}".into(),
            json!({
                "get": op("API Keys", "Get one API key", path_params(key), None, 200, api_key.clone(), std_errs, true),
                "patch": op("API Keys", "Update name, role and permissions", path_params(key), Some(admin::api_key_patch_schema().json_schema()), 200, api_key.clone(), write_errs, true),
                "delete": op("API Keys", "Revoke a key", path_params(key), None, 200, api_key, delete_errs, true),
            }),
        );
        paths.insert(
            "/organizations/{organizationId}/permissions".into(),
            json!({"get": op("Permissions", "The caller's effective permissions", path_params(org), None, 200, published::<CallerPermissions>(), ok_errs, true)}),
        );
        paths.insert(
            "/organizations/{organizationId}/subscription".into(),
            json!({"get": op("Subscriptions", "Subscription (fixed for self-hosted)", path_params(org), None, 200, published::<admin::Subscription>(), ok_errs, true)}),
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
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Accord Privacy API", "version": env!("CARGO_PKG_VERSION")},
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

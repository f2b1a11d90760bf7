//! Building blocks of the OpenAPI documents: operations, parameters, error responses and
//! the list envelope, rendered from the same declarations that validate requests.
use accord_core::query::{Kind, Param};
use accord_core::schema::Schema;
use serde_json::{json, Map, Value};

pub(crate) fn param_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Int { min, max } => accord_core::schema::int_json_schema(*min, *max),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Str(s) => Schema::Str(s.clone()).json_schema(),
        Kind::EnumList(v) => {
            json!({"anyOf": [{"type": "string", "enum": v}, {"type": "array", "items": {"type": "string", "enum": v}}]})
        }
        Kind::UuidList => {
            json!({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "array", "items": {"type": "string", "format": "uuid"}}]})
        }
        Kind::DateTime => json!({"type": "string", "format": "date-time"}),
        Kind::Instant { epoch } => {
            let int = accord_core::schema::int_json_schema(
                Some(accord_core::metrics::MIN_INSTANT),
                Some(accord_core::metrics::MAX_INSTANT),
            );
            let text = json!({"type": "string", "format": "date-time"});
            if *epoch {
                json!({"anyOf": [int, text]})
            } else {
                json!({"anyOf": [text, int]})
            }
        }
        Kind::Include(v) => {
            json!({"type": "string", "description": format!("comma-separated: {}", v.join(", "))})
        }
    }
}

pub(crate) fn path_params(names: &[&str]) -> Vec<Value> {
    names.iter().map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}})).collect()
}

/// What each path parameter of both documents names. A parameter missing here is published
/// without a description, which the documentation test refuses.
fn path_param_description(name: &str) -> Option<&'static str> {
    Some(match name {
        "organizationId" => "Organization id (UUID). An organization the key has no role in, or that does not exist, is answered 403.",
        "projectId" => "Project id (UUID), a project of the organization.",
        "complianceRequestId" => "Compliance request id (UUID), a request of the project.",
        "fileName" => "Name of a response file of the compliance request, as uploaded (1 to 255 characters, percent-encoded in the path).",
        "apiKeyId" => "API key id (UUID), a key of the organization.",
        "userId" => "User id (UUID), a user of the organization.",
        "emailId" => "Send-from email id (UUID) of the organization, or `default` for the server's own sender.",
        "domainId" => "Domain id (UUID), a domain of the project.",
        "regionId" => "Region id (UUID), a region of the project.",
        "policyId" => "Policy id (UUID), a policy of the organization.",
        "consentTypeId" => "Consent type id (UUID), a consent type of the project.",
        "consentEventId" => "Consent event id (UUID), an event of the project.",
        "concordId" => "Identity id (UUID): the `concordId` of a visitor or user of the project.",
        "dataSystemId" => "Data system id (UUID), a data system of the organization.",
        "attributeId" => "Attribute id (UUID), an attribute of the organization's data map.",
        "sessionId" => "Session id (UUID), a site session recorded for the project.",
        "token" => "The one-time verification token of the link sent to the subject.",
        "trackerId" => "Tracker id (UUID), a tracker of the project.",
        "gcmScanId" => "GCM scan id (UUID), a scan of the project.",
        _ => return None,
    })
}

/// Gives every path parameter of `paths` its description, and names the document's rule
/// for any parameter whose declaration gave none.
pub(crate) fn describe_path_params(paths: &mut Map<String, Value>) {
    let params = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("parameters").and_then(Value::as_array_mut))
        .flat_map(|params| params.iter_mut());
    for param in params.filter(|p| p["in"] == "path" && p.get("description").is_none()) {
        if let Some(text) = param["name"].as_str().and_then(path_param_description) {
            param["description"] = json!(text);
        }
    }
}

pub(crate) fn query_params(params: &[Param]) -> Vec<Value> {
    params
        .iter()
        .map(|p| {
            let mut v = json!({"name": p.name, "in": "query", "required": false, "schema": param_schema(&p.kind)});
            if !p.description.is_empty() {
                v["description"] = json!(p.description);
            }
            v
        })
        .collect()
}

pub(crate) fn errors(codes: &[u16]) -> Map<String, Value> {
    let mut m = Map::new();
    for c in codes {
        m.insert(
            c.to_string(),
            json!({"description": accord_core::error::reason_phrase(*c), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    m
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn op(
    tag: &str,
    summary: &str,
    description: &str,
    params: Vec<Value>,
    body: Option<Value>,
    ok: u16,
    ok_schema: Value,
    errs: &[u16],
    auth: bool,
) -> Value {
    let mut responses = errors(errs);
    // Any request whose target (path and query) is over 8192 bytes, known parameters or not.
    responses.extend(errors(&[414]));
    if body.is_some() {
        // A client that pauses too long while sending the body (`ACCORD_BODY_TIMEOUT`).
        responses.extend(errors(&[408]));
    }
    responses.insert(
        ok.to_string(),
        json!({"description": "Success", "content": {"application/json": {"schema": ok_schema}}}),
    );
    let mut o = json!({"tags": [tag], "summary": summary, "description": description, "parameters": params, "responses": responses});
    if let Some(b) = body {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": b}}});
    }
    if !auth {
        o["security"] = json!([]);
    }
    o
}

pub(crate) fn error_schema() -> Value {
    json!({"type": "object", "additionalProperties": false, "required": ["statusCode", "error", "message"],
    "description": "The body of every error answer (§1.5).",
    "properties": {
        "statusCode": {"type": "integer", "description": "The HTTP status of the answer."},
        "error": {"type": "string", "description": "The standard reason phrase of that status, e.g. `Bad Request`."},
        "message": {"type": "string", "description": "What went wrong. A 400 names the place and the rule of the first violation found, e.g. `body/userEmail must match format \"email\"`; a 500 says only `Internal Server Error`."}
    }})
}

/// The health check, this document and its browsable reference (§7.14), the same on both
/// APIs; `api` names the API ("Privacy API" or "Site API").
pub(crate) fn common_paths(paths: &mut Map<String, Value>, api: &str) {
    let health = op(
        "Health Check",
        "Health check",
        "Answers 200 `{\"status\":\"ok\"}` when the server is up and its database answers, and 503 `database unavailable` when the database does not. No credentials; not rate-limited.",
        vec![],
        None,
        200,
        accord_core::schema::published::<crate::app::Health>(),
        &[503],
        false,
    );
    let document = op(
        "Health Check",
        "This OpenAPI document",
        &format!("The OpenAPI 3.1 document of the {api}: every operation, parameter, request body and answer, rendered from the same declarations that validate requests and type the answers. No credentials; not rate-limited."),
        vec![],
        None,
        200,
        json!({"type": "object", "description": "An OpenAPI 3.1 document."}),
        &[],
        false,
    );
    let mut page = op(
        "Health Check",
        "Browsable API reference",
        &format!("An HTML page rendering this document (`docs/json`) as a browsable reference of the {api} (Accord extension). Its renderer, Redoc, is served by this server at `docs/reference.js`; the page's Content-Security-Policy lets the browser load nothing from any other host. No credentials; not rate-limited."),
        vec![],
        None,
        200,
        json!({}),
        &[],
        false,
    );
    page["responses"]["200"] = json!({"description": "The reference page", "content": {"text/html": {"schema": {"type": "string"}}}});
    let mut script = op(
        "Health Check",
        "Script of the API reference",
        "The renderer the reference page runs (Redoc's standalone bundle), embedded in the server (Accord extension). No credentials; not rate-limited.",
        vec![],
        None,
        200,
        json!({}),
        &[],
        false,
    );
    script["responses"]["200"] = json!({"description": "The script", "content": {"application/javascript": {"schema": {"type": "string"}}}});
    paths.insert("/health".into(), json!({"get": health}));
    paths.insert("/docs/json".into(), json!({"get": document}));
    paths.insert("/docs".into(), json!({"get": page}));
    paths.insert(
        format!("/docs/{}", crate::reference::SCRIPT_NAME),
        json!({"get": script}),
    );
}

/// Adds `more` (a JSON string: the rules an operation checks after its schemas) after the
/// operation's description.
pub(crate) fn append_description(op: &mut Value, more: Value) {
    let more = more.as_str().unwrap_or_default();
    let text = match op["description"].as_str() {
        Some(d) if !d.is_empty() => format!("{d} {more}"),
        _ => more.to_string(),
    };
    op["description"] = json!(text);
}

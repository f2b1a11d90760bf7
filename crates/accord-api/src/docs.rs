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

pub(crate) fn query_params(params: &[Param]) -> Vec<Value> {
    params.iter().map(|p| json!({"name": p.name, "in": "query", "required": false, "schema": param_schema(&p.kind)})).collect()
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
    let mut o =
        json!({"tags": [tag], "summary": summary, "parameters": params, "responses": responses});
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
        "properties": {"statusCode": {"type": "integer"}, "error": {"type": "string"}, "message": {"type": "string"}}})
}

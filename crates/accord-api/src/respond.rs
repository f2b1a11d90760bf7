//! Typed answers: a response is a `Serialize` type, and its published schema is derived
//! from that same type ([`accord_core::schema::published`]), so what is returned and what
//! is documented cannot drift apart.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON answer with the contract's content type (§1.1).
pub struct Json<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.1) {
            Ok(bytes) => {
                let mut res = (self.0, bytes).into_response();
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                res
            }
            Err(e) => crate::error::ApiError(accord_core::Error::internal(e)).into_response(),
        }
    }
}

/// `200` with `body`.
pub fn ok<T: Serialize>(body: T) -> Json<T> {
    Json(StatusCode::OK, body)
}

/// `201` with `body`.
pub fn created<T: Serialize>(body: T) -> Json<T> {
    Json(StatusCode::CREATED, body)
}

/// The list envelope (§1.7).
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Page<T> {
    /// The `offset` of the request: how many matching items come before the first of `items`.
    pub offset: i64,
    /// The number of `items` in this answer.
    pub count: usize,
    /// How many items match the filters in all, ignoring `offset` and `limit`.
    pub total: i64,
    /// The items of this page, in the requested order.
    pub items: Vec<T>,
}

impl<T> Page<T> {
    pub fn new(page: &accord_core::query::Page, total: i64, items: Vec<T>) -> Page<T> {
        Page {
            offset: page.offset,
            count: items.len(),
            total,
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Page;
    use accord_core::schema::published;
    use accord_core::site::Domain;
    use serde_json::json;

    /// The derived schema is the published one: strict objects, required fields, formats,
    /// optional fields absent rather than null.
    #[test]
    fn derived_schemas_are_strict() {
        let page = published::<Page<Domain>>();
        assert_eq!(page["additionalProperties"], false);
        assert_eq!(
            page["required"],
            json!(["offset", "count", "total", "items"])
        );
        let item = &page["properties"]["items"]["items"];
        assert_eq!(item["additionalProperties"], false);
        assert_eq!(
            item["required"],
            json!([
                "id",
                "organizationId",
                "projectId",
                "domain",
                "dateCreated",
                "dateUpdated"
            ])
        );
        assert_eq!(item["properties"]["id"]["format"], "uuid");
        assert_eq!(item["properties"]["domain"]["format"], "hostname");
        assert_eq!(item["properties"]["url"]["type"], "string");
        assert_eq!(item["properties"]["url"]["format"], "uri");
        assert!(page.get("$schema").is_none() && page.get("title").is_none());
    }
}

//! The single mapping from errors to HTTP responses (§1.5).
use accord_core::error::reason_phrase;
use accord_core::Error;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        e.0
    }
}

impl From<accord_core::store::StoreError> for ApiError {
    fn from(e: accord_core::store::StoreError) -> Self {
        ApiError(e.into())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `{statusCode, error, message}` with the given status.
pub fn error_body(status: u16, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &error_value(status, message),
    )
}

/// The body of [`error_body`].
pub fn error_value(status: u16, message: &str) -> serde_json::Value {
    json!({"statusCode": status, "error": reason_phrase(status), "message": message})
}

/// A JSON response with the contract's content type.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if let Error::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "internal error");
        }
        let mut res = error_body(status, &self.0.public_message());
        match self.0 {
            Error::TooManyRequests(secs) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Error::Unavailable(_) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res
    }
}

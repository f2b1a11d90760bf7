//! The browsable API reference pages: `GET /privacy-v1/docs` and `GET /site-v1/docs` render
//! the served OpenAPI document of their API (`…/docs/json`) with Redoc, whose standalone
//! bundle is embedded in the binary (`assets/`, see its README) and served beside the page
//! at `…/docs/reference.js`. Nothing is fetched from another host: the page's
//! Content-Security-Policy allows only this server, plus the inline styles Redoc writes
//! and the search worker it starts from a `blob:` URL.
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The Redoc standalone bundle (`assets/redoc.standalone.js`).
pub const SCRIPT: &str = include_str!("../assets/redoc.standalone.js");

/// The path of the bundle, relative to the page.
pub const SCRIPT_NAME: &str = "reference.js";

/// What a reference page may load: scripts, the document and images from this server only;
/// inline styles (Redoc's styled-components write `<style>` elements) and a `blob:` worker
/// (its search index). Anything else, a CDN included, is refused by the browser.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The page of one API, served at `{base}/docs`: its document and the bundle are addressed
/// relative to it, so that the page also works behind a proxy that adds a path prefix.
fn page(title: &str) -> String {
    let document = "docs/json";
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} reference</title>
</head>
<body>
<noscript>This reference needs JavaScript. The OpenAPI document is at <a href="{document}">{document}</a>.</noscript>
<redoc spec-url="{document}" required-props-first="true" expand-responses="200,201" path-in-middle-panel="true"></redoc>
<script src="docs/{SCRIPT_NAME}"></script>
</body>
</html>
"#
    )
}

fn html(body: String) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// `GET /privacy-v1/docs`.
pub async fn privacy_page() -> Response {
    html(page("Accord Privacy API"))
}

/// `GET /site-v1/docs`.
pub async fn site_page() -> Response {
    html(page("Accord Site API"))
}

/// `GET /privacy-v1/docs/reference.js` and `GET /site-v1/docs/reference.js`: the embedded
/// renderer, compressed on the way out by the server's compression layer.
pub async fn script() -> Response {
    let mut res = SCRIPT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

//! Site API specifications: sessions and their tokens, the origin rule and CORS, client
//! addresses behind proxies, domains, session records, the site consent endpoints, profile
//! and identify.
use crate::both;
use crate::common::*;
use accord_api::ApiConfig;
use accord_core::site::{decode_session_secret, jwt_encode, SessionClaims};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

both!(
    sessions_are_minted_and_recorded,
    session_body_and_project_rules,
    origin_rule_and_cors,
    cors_preflight,
    gpc_is_recorded,
    tokens_are_verified,
    foreign_project_token_is_forbidden,
    old_tokens_are_refreshed,
    trusted_proxies_supply_address_and_geography,
    domains_crud_and_validation,
    session_records_on_the_privacy_api,
    site_consent_endpoints,
    profile_rules,
    identify_outcomes,
    published_request_rules_are_the_enforced_ones,
);

fn site(s: &Server, rest: &str) -> String {
    format!("/site-v1/{}{}", s.project, rest)
}

async fn full(rb: reqwest::RequestBuilder) -> (u16, Value, HeaderMap) {
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

/// Mints a session with the given extra headers and JSON body.
async fn mint_with(
    s: &Server,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value, HeaderMap) {
    let mut rb = s.client.post(s.url(&site(s, "/session")));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    full(rb).await
}

/// A fresh session: (token, concordId).
async fn mint(s: &Server) -> (String, String) {
    let (status, body, _) = mint_with(s, &[], None).await;
    assert_eq!(status, 201, "{body}");
    (
        body["session"].as_str().unwrap().to_string(),
        body["concordId"].as_str().unwrap().to_string(),
    )
}

fn sreq(s: &Server, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    s.client
        .request(method, s.url(path))
        .header("x-session", token)
}

async fn sget(s: &Server, path: &str, token: &str) -> (u16, Value) {
    send(sreq(s, Method::GET, path, token)).await
}

async fn spost(s: &Server, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(sreq(s, Method::POST, path, token).json(&body)).await
}

/// A harmless authenticated call: an empty profile update.
async fn probe(s: &Server, path: &str, token: &str) -> (u16, Value) {
    send(sreq(s, Method::POST, path, token).json(&json!({}))).await
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn server_secret(s: &Server) -> Vec<u8> {
    let stored = s
        .store
        .server_setting_init("site_session_secret", "unused")
        .await
        .unwrap();
    decode_session_secret(&stored).expect("a stored secret")
}

async fn add_domain(s: &Server, domain: &str) -> Value {
    let (status, d) = s
        .post(&s.project_path("/domains"), json!({"domain": domain}))
        .await;
    assert_eq!(status, 201, "{d}");
    d
}

fn now_secs() -> i64 {
    accord_core::time::now_ms() / 1000
}

async fn sessions_are_minted_and_recorded(b: accord_store::Backend) {
    let s = start(b).await;
    let before = accord_core::time::now_ms();
    let (status, body, _) = mint_with(&s, &[("user-agent", "SpecAgent/1.0")], None).await;
    assert_eq!(status, 201, "{body}");
    let obj = body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["concordId", "expiresAt", "gpc", "session"]);
    assert_eq!(body["gpc"], false);
    let expires = body["expiresAt"].as_i64().unwrap();
    assert!((expires - before - 86_400_000).abs() < 5_000, "{expires}");
    let cid = body["concordId"].as_str().unwrap().to_string();
    let claims = claims_of(body["session"].as_str().unwrap());
    assert_eq!(claims["iss"], "accord");
    assert_eq!(claims["pid"], s.project.to_string());
    assert_eq!(claims["cid"], cid);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    assert!(claims.get("geo").is_none());
    // The record is stored with the socket peer and the user agent.
    let sid = claims["sid"].as_str().unwrap();
    let (status, rec) = s.get(&s.project_path(&format!("/sessions/{sid}"))).await;
    assert_eq!(status, 200, "{rec}");
    assert_eq!(rec["concordId"], cid);
    assert_eq!(rec["ipAddress"], "127.0.0.1");
    assert_eq!(rec["userAgent"], "SpecAgent/1.0");
    assert_eq!(rec["gpc"], false);
    assert_eq!(rec["organization"], s.org.to_string());
    assert_eq!(rec["project"], s.project.to_string());

    // A known concordId is reused; an unknown one gets a new identity.
    let (_, again, _) = mint_with(&s, &[], Some(json!({"concordId": cid}))).await;
    assert_eq!(again["concordId"], cid);
    let (_, fresh, _) = mint_with(
        &s,
        &[],
        Some(json!({"concordId": Uuid::new_v4().to_string()})),
    )
    .await;
    assert_ne!(fresh["concordId"], cid);
    // url and referrer are kept; the domain comes from url without Origin/Referer.
    let (status, with_url, _) = mint_with(
        &s,
        &[],
        Some(
            json!({"url": "https://Shop.Example.com/cart", "referrer": "https://search.example/"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{with_url}");
    let sid = claims_of(with_url["session"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, rec) = s.get(&s.project_path(&format!("/sessions/{sid}"))).await;
    assert_eq!(rec["domain"], "shop.example.com");
    assert_eq!(rec["url"], "https://Shop.Example.com/cart");
    assert_eq!(rec["referrer"], "https://search.example/");
}

async fn session_body_and_project_rules(b: accord_store::Backend) {
    let s = start(b).await;
    assert_error(
        &send(
            s.client
                .post(s.url("/site-v1/not-a-uuid/session"))
                .json(&json!({})),
        )
        .await,
        400,
        "params/projectId must match format \"uuid\"",
    );
    let unknown = format!("/site-v1/{}/session", Uuid::new_v4());
    assert_error(
        &send(s.client.post(s.url(&unknown))).await,
        404,
        "Not Found",
    );
    let (status, body, _) = mint_with(&s, &[], Some(json!({"foo": 1}))).await;
    assert_error(
        &(status, body),
        400,
        "body must NOT have additional properties: 'foo'",
    );
    let (status, body, _) = mint_with(&s, &[], Some(json!({"concordId": "nope"}))).await;
    assert_error(
        &(status, body),
        400,
        "body/concordId must match format \"uuid\"",
    );
    let (status, body, _) = mint_with(&s, &[], Some(json!({"url": "x".repeat(2049)}))).await;
    assert_error(
        &(status, body),
        400,
        "body/url must NOT have more than 2048 characters",
    );
    // A body needs a JSON media type; an empty one needs none.
    assert_error(
        &send(
            s.client
                .post(s.url(&site(&s, "/session")))
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await,
        415,
        "Content-Type must be application/json",
    );
    assert_error(
        &send(s.client.post(s.url(&site(&s, "/session"))).body("{}")).await,
        415,
        "Content-Type must be application/json",
    );
    let (status, _) = send(
        s.client
            .post(s.url(&site(&s, "/session")))
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(status, 201);
    assert_error(
        &send(
            s.client
                .post(s.url(&site(&s, "/session")))
                .header("content-type", "application/json")
                .body("{"),
        )
        .await,
        400,
        "body must be valid JSON",
    );
    // Both documents publish these routes.
    let (_, doc) = send(s.client.get(s.url("/site-v1/docs/json"))).await;
    for p in [
        "/{projectId}/session",
        "/{projectId}/consent-types",
        "/{projectId}/consent-events",
        "/{projectId}/consent-events/{consentEventId}",
        "/{projectId}/consent-state",
        "/{projectId}/profile",
        "/{projectId}/identify",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
    assert_eq!(
        doc["paths"]["/{projectId}/session"]["post"]["security"],
        json!([])
    );
    let (_, doc) = send(s.client.get(s.url("/privacy-v1/docs/json"))).await;
    for p in [
        "/organizations/{organizationId}/projects/{projectId}/domains",
        "/organizations/{organizationId}/projects/{projectId}/domains/{domainId}",
        "/organizations/{organizationId}/projects/{projectId}/sessions",
        "/organizations/{organizationId}/projects/{projectId}/sessions/{sessionId}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
    assert_error(
        &send(
            s.client
                .post(s.url(&site(&s, "/session")))
                .header("content-type", "application/json")
                .body(format!("{{\"url\": \"{}\"}}", "x".repeat(70_000))),
        )
        .await,
        413,
        "body exceeds the maximum size of 65536 bytes",
    );
    // An archived project answers 404.
    let mut p = s
        .store
        .get_project(s.org, s.project)
        .await
        .unwrap()
        .unwrap();
    p.status = "archived".into();
    s.store.update_project(&p).await.unwrap();
    assert_error(
        &send(s.client.post(s.url(&site(&s, "/session")))).await,
        404,
        "Not Found",
    );
}

async fn origin_rule_and_cors(b: accord_store::Backend) {
    let s = start(b).await;
    add_domain(&s, "Example.com").await;
    for origin in [
        "https://example.com",
        "https://shop.example.com:8443",
        "http://localhost:3000",
    ] {
        let (status, body, h) = mint_with(&s, &[("origin", origin)], None).await;
        assert_eq!(status, 201, "{origin}: {body}");
        assert_eq!(h["access-control-allow-origin"], origin);
        assert_eq!(h["vary"], "Origin");
        assert_eq!(h["access-control-allow-headers"], "content-type, x-session");
        assert_eq!(h["access-control-allow-methods"], "GET, POST, OPTIONS");
        assert_eq!(h["access-control-expose-headers"], "x-session");
        assert!(h.get("access-control-allow-credentials").is_none());
    }
    for origin in [
        "https://badexample.com",
        "https://example.com.evil.io",
        "null",
        "not a url",
    ] {
        let (status, body, h) = mint_with(&s, &[("origin", origin)], None).await;
        assert_error(&(status, body), 403, "origin not allowed for this project");
        assert!(h.get("access-control-allow-origin").is_none());
    }
    // Referer stands in for a missing Origin; neither header means a server caller.
    let (status, _, _) =
        mint_with(&s, &[("referer", "https://www.example.com/page?x=1")], None).await;
    assert_eq!(status, 201);
    let (status, body, _) = mint_with(&s, &[("referer", "https://other.org/")], None).await;
    assert_error(&(status, body), 403, "origin not allowed for this project");
    let (token, _) = mint(&s).await;

    // Every project route applies the rule after credentials.
    let path = site(&s, "/profile");
    let (status, body, h) = full(
        sreq(&s, Method::POST, &path, &token)
            .json(&json!({}))
            .header("origin", "https://evil.io"),
    )
    .await;
    assert_error(&(status, body), 403, "origin not allowed for this project");
    assert!(h.get("access-control-allow-origin").is_none());
    let got = send(
        s.client
            .post(s.url(&path))
            .json(&json!({}))
            .header("origin", "https://evil.io"),
    )
    .await;
    assert_error(&got, 401, "Missing x-session header");
    // An error for an allowed origin is still readable by the page.
    let (status, _, h) = full(
        s.client
            .post(s.url(&path))
            .json(&json!({}))
            .header("origin", "https://example.com"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(h["access-control-allow-origin"], "https://example.com");
}

async fn cors_preflight(b: accord_store::Backend) {
    let s = start(b).await;
    add_domain(&s, "example.com").await;
    let preflight = |path: String, origin: &'static str| {
        s.client
            .request(Method::OPTIONS, s.url(&path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, x-session")
    };
    for path in [
        site(&s, "/session"),
        site(&s, "/consent-events"),
        site(&s, &format!("/consent-events/{}", Uuid::new_v4())),
        site(&s, "/identify"),
    ] {
        let (status, _, h) = full(preflight(path.clone(), "https://app.example.com")).await;
        assert_eq!(status, 204, "{path}");
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(h["access-control-allow-headers"], "content-type, x-session");
        assert_eq!(h["access-control-allow-methods"], "GET, POST, OPTIONS");
        assert_eq!(h["access-control-expose-headers"], "x-session");
        assert_eq!(h["vary"], "Origin");
    }
    let (status, body, h) = full(preflight(site(&s, "/session"), "https://evil.io")).await;
    assert_error(&(status, body), 403, "origin not allowed for this project");
    assert!(h.get("access-control-allow-origin").is_none());
    let (status, _, _) = full(preflight(site(&s, "/nothing"), "https://example.com")).await;
    assert_eq!(status, 404);
}

async fn gpc_is_recorded(b: accord_store::Backend) {
    let s = start(b).await;
    let (status, body, _) = mint_with(&s, &[("sec-gpc", "1")], None).await;
    assert_eq!(status, 201);
    assert_eq!(body["gpc"], true);
    let claims = claims_of(body["session"].as_str().unwrap());
    assert_eq!(claims["gpc"], true);
    let (_, list) = s.get(&s.project_path("/sessions?gpc=true")).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], claims["sid"]);
    let (_, body, _) = mint_with(&s, &[("sec-gpc", "0")], None).await;
    assert_eq!(body["gpc"], false);
}

async fn tokens_are_verified(b: accord_store::Backend) {
    let s = start(b).await;
    let (token, _) = mint(&s).await;
    let path = site(&s, "/profile");
    assert_error(
        &send(s.client.post(s.url(&path)).json(&json!({}))).await,
        401,
        "Missing x-session header",
    );
    // Flip one byte of the signature.
    let mut bytes = token.clone().into_bytes();
    let i = bytes.len() - 5;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    for bad in [tampered.as_str(), "garbage", "a.b.c"] {
        assert_error(
            &probe(&s, &path, bad).await,
            401,
            "Invalid or expired session",
        );
    }
    // An empty header carries no token at all.
    assert_error(&probe(&s, &path, "").await, 401, "Missing x-session header");
    // A payload changed without re-signing is refused too.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = claims_of(&token);
    claims["cid"] = json!(Uuid::new_v4());
    use base64::Engine;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_error(
        &probe(&s, &path, &forged).await,
        401,
        "Invalid or expired session",
    );
    // An expired token signed with the real secret.
    let secret = server_secret(&s).await;
    let mut c: SessionClaims = serde_json::from_value(claims_of(&token)).unwrap();
    c.iat = now_secs() - 90_000;
    c.exp = now_secs() - 10;
    assert_error(
        &probe(&s, &path, &c.sign(&secret)).await,
        401,
        "Invalid or expired session",
    );
    // Another algorithm in the header is refused even with a valid MAC.
    let none_alg = {
        use base64::Engine;
        let e = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.",
            e(r#"{"alg":"none"}"#),
            e(&claims_of(&token).to_string())
        )
    };
    assert_error(
        &probe(&s, &path, &none_alg).await,
        401,
        "Invalid or expired session",
    );
    // The genuine token works; credentials come before the project checks.
    assert_eq!(probe(&s, &path, &token).await.0, 200);
    assert_error(
        &send(
            s.client
                .post(s.url(&format!("/site-v1/{}/profile", Uuid::new_v4())))
                .json(&json!({})),
        )
        .await,
        401,
        "Missing x-session header",
    );
    assert_error(
        &probe(&s, "/site-v1/nope/profile", &token).await,
        400,
        "params/projectId must match format \"uuid\"",
    );
    let _ = jwt_encode(&json!({}), &secret);
}

async fn foreign_project_token_is_forbidden(b: accord_store::Backend) {
    let s = start(b).await;
    let other = s
        .store
        .create_project(
            s.org,
            accord_core::store::NewProject {
                name: "Other".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (status, body) = send(
        s.client
            .post(s.url(&format!("/site-v1/{}/session", other.id))),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let foreign = body["session"].as_str().unwrap();
    assert_error(
        &probe(&s, &site(&s, "/profile"), foreign).await,
        403,
        "Forbidden",
    );
    // An unknown project is 404 before the binding is checked.
    assert_error(
        &probe(&s, &format!("/site-v1/{}/profile", Uuid::new_v4()), foreign).await,
        404,
        "Not Found",
    );
}

async fn old_tokens_are_refreshed(b: accord_store::Backend) {
    let s = start(b).await;
    let (token, _) = mint(&s).await;
    let path = site(&s, "/profile");
    // A young token is not refreshed.
    let (status, _, h) = full(sreq(&s, Method::POST, &path, &token).json(&json!({}))).await;
    assert_eq!(status, 200);
    assert!(h.get("x-session").is_none());
    // One issued two hours ago is.
    let secret = server_secret(&s).await;
    let mut c: SessionClaims = serde_json::from_value(claims_of(&token)).unwrap();
    c.iat = now_secs() - 7200;
    c.exp = c.iat + 86_400;
    let old = c.sign(&secret);
    let (status, _, h) = full(
        sreq(&s, Method::POST, &path, &old)
            .json(&json!({}))
            .header("origin", "http://localhost"),
    )
    .await;
    assert_eq!(status, 200);
    let fresh = h["x-session"].to_str().unwrap().to_string();
    assert_eq!(h["access-control-expose-headers"], "x-session");
    let fc = claims_of(&fresh);
    assert_eq!(fc["sid"], c.sid.to_string());
    assert_eq!(fc["cid"], c.cid.to_string());
    assert!(fc["iat"].as_i64().unwrap() >= now_secs() - 5);
    assert_eq!(
        fc["exp"].as_i64().unwrap() - fc["iat"].as_i64().unwrap(),
        86_400
    );
    assert_eq!(probe(&s, &path, &fresh).await.0, 200);
    // The record notes the refresh.
    let (_, rec) = s
        .get(&s.project_path(&format!("/sessions/{}", c.sid)))
        .await;
    assert!(rec["dateUpdated"].as_i64().unwrap() >= rec["dateCreated"].as_i64().unwrap());
}

async fn trusted_proxies_supply_address_and_geography(b: accord_store::Backend) {
    // Without trusted proxies the forwarding headers are ignored.
    let s = start(b).await;
    let headers = [
        ("x-forwarded-for", "198.51.100.1, 203.0.113.7"),
        ("cloudfront-viewer-country", "US"),
    ];
    let (_, body, _) = mint_with(&s, &headers, None).await;
    assert!(body.get("geography").is_none());
    let sid = claims_of(body["session"].as_str().unwrap())["sid"].clone();
    let (_, rec) = s
        .get(&s.project_path(&format!("/sessions/{}", sid.as_str().unwrap())))
        .await;
    assert_eq!(rec["ipAddress"], "127.0.0.1");
    assert!(rec.get("geography").is_none());

    let s = start_with(
        b,
        ApiConfig {
            rate_limit_privacy: 0,
            trusted_proxies: vec![
                "127.0.0.0/8".parse().unwrap(),
                "10.0.0.0/8".parse().unwrap(),
            ],
            geo_header: Some("cloudfront-viewer-country".into()),
            ..Default::default()
        },
    )
    .await;
    let headers = [
        ("x-forwarded-for", "198.51.100.1, 203.0.113.7"),
        ("x-forwarded-for", "10.1.2.3"),
        ("cloudfront-viewer-country", "us-ca"),
    ];
    let (status, body, _) = mint_with(&s, &headers, None).await;
    assert_eq!(status, 201);
    assert_eq!(body["geography"], "US-CA");
    let claims = claims_of(body["session"].as_str().unwrap());
    assert_eq!(claims["geo"], "US-CA");
    let (_, rec) = s
        .get(&s.project_path(&format!("/sessions/{}", claims["sid"].as_str().unwrap())))
        .await;
    assert_eq!(rec["ipAddress"], "203.0.113.7");
    assert_eq!(rec["geography"], "US-CA");
    let (_, list) = s
        .get(&s.project_path("/sessions?ipAddress=203.0.113.7"))
        .await;
    assert_eq!(list["total"], 1);
    let (_, list) = s.get(&s.project_path("/sessions?geography=US-CA")).await;
    assert_eq!(list["total"], 1);
}

async fn domains_crud_and_validation(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/domains");
    let (_, list) = s.get(&path).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["domain"], "localhost");
    let (status, d) = s
        .post(
            &path,
            json!({"domain": "Shop.Example.COM", "url": "https://shop.example.com/"}),
        )
        .await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["domain"], "shop.example.com");
    assert_eq!(d["url"], "https://shop.example.com/");
    assert_eq!(d["organizationId"], s.org.to_string());
    assert_eq!(d["projectId"], s.project.to_string());
    assert!(d["dateCreated"].is_i64());
    let id = d["id"].as_str().unwrap().to_string();
    assert_error(
        &s.post(&path, json!({"domain": "shop.example.com"})).await,
        422,
        "domain already exists in this project",
    );
    for (body, msg) in [
        (json!({}), "body must have required property 'domain'"),
        (
            json!({"domain": "https://x.com"}),
            "body/domain must match format \"hostname\"",
        ),
        (
            json!({"domain": "x.com/path"}),
            "body/domain must match format \"hostname\"",
        ),
        (
            json!({"domain": ""}),
            "body/domain must match format \"hostname\"",
        ),
        (
            json!({"domain": "x.com", "url": "ftp://x.com"}),
            "body/url must match format \"uri\"",
        ),
        (
            json!({"domain": "x.com", "extra": 1}),
            "body must NOT have additional properties: 'extra'",
        ),
        (json!({"domain": null}), "body/domain must be string"),
    ] {
        assert_error(&s.post(&path, body).await, 400, msg);
    }
    let one = s.project_path(&format!("/domains/{id}"));
    let (status, got) = s.get(&one).await;
    assert_eq!(status, 200);
    assert_eq!(got, d);
    add_domain(&s, "blog.example.org").await;
    let (_, list) = s
        .get(&format!("{path}?domain=EXAMPLE&sort=domain&order=asc"))
        .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blog.example.org", "shop.example.com"]);
    assert_eq!(list["total"], 2);
    assert_error(
        &s.get(&format!("{path}?sort=url")).await,
        400,
        "querystring/sort must be equal to one of the allowed values: dateCreated, domain",
    );
    assert_error(
        &s.patch(&one, json!({})).await,
        400,
        "body must NOT have fewer than 1 properties",
    );
    assert_error(
        &s.patch(&one, json!({"domain": "blog.example.org"})).await,
        422,
        "domain already exists in this project",
    );
    let (status, patched) = s
        .patch(&one, json!({"domain": "www.example.com", "url": ""}))
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["domain"], "www.example.com");
    assert!(patched.get("url").is_none());
    // Roles: viewers read, admins write.
    let viewer = s.key_with(accord_core::auth::Role::Viewer, vec![]).await;
    assert_eq!(send(s.req_as(&viewer, Method::GET, &one)).await.0, 200);
    assert_error(
        &send(
            s.req_as(&viewer, Method::POST, &path)
                .json(&json!({"domain": "a.com"})),
        )
        .await,
        403,
        "Forbidden",
    );
    assert_error(
        &send(s.req_as(&viewer, Method::DELETE, &one)).await,
        403,
        "Forbidden",
    );
    let (status, deleted) = s.delete(&one).await;
    assert_eq!(status, 200);
    assert_eq!(deleted["domain"], "www.example.com");
    assert_error(&s.get(&one).await, 404, "Not Found");
    assert_error(&s.delete(&one).await, 404, "Not Found");
    assert_error(
        &s.get(&s.project_path("/domains/nope")).await,
        400,
        "params/domainId must match format \"uuid\"",
    );
    let unknown = format!(
        "/privacy-v1/organizations/{}/projects/{}/domains",
        s.org,
        Uuid::new_v4()
    );
    assert_error(&s.get(&unknown).await, 404, "Not Found");
    // The origin rule follows the domain list.
    let (status, _, _) = mint_with(&s, &[("origin", "https://www.example.com")], None).await;
    assert_eq!(status, 403);
    add_domain(&s, "example.com").await;
    let (status, _, _) = mint_with(&s, &[("origin", "https://www.example.com")], None).await;
    assert_eq!(status, 201);
}

async fn session_records_on_the_privacy_api(b: accord_store::Backend) {
    let s = start(b).await;
    let (_, first) = mint(&s).await;
    let (_, body, _) = mint_with(
        &s,
        &[
            ("user-agent", "Mozilla/5.0 Firefox"),
            ("origin", "http://localhost"),
        ],
        None,
    )
    .await;
    let second = body["concordId"].as_str().unwrap().to_string();
    let path = s.project_path("/sessions");
    let (status, list) = s.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 2);
    assert_eq!(list["count"], 2);
    assert_eq!(list["offset"], 0);
    // Newest first by default.
    assert_eq!(list["items"][0]["concordId"], second);
    assert_eq!(list["items"][1]["concordId"], first);
    assert_eq!(list["items"][0]["domain"], "localhost");
    let (_, l) = s.get(&format!("{path}?concordId={first}")).await;
    assert_eq!(l["total"], 1);
    let (_, l) = s.get(&format!("{path}?userAgent=firefox")).await;
    assert_eq!(l["total"], 1);
    let (_, l) = s.get(&format!("{path}?domain=localhost")).await;
    assert_eq!(l["total"], 1);
    let (_, l) = s
        .get(&format!("{path}?sort=dateUpdated&order=asc&limit=1"))
        .await;
    assert_eq!(l["count"], 1);
    assert_eq!(l["items"][0]["concordId"], first);
    let (_, l) = s
        .get(&format!(
            "{path}?startDate=2000-01-01T00:00:00Z&endDate=2001-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(l["total"], 0);
    assert_error(
        &s.get(&format!("{path}?gpc=maybe")).await,
        400,
        "querystring/gpc must be boolean",
    );
    assert_error(
        &s.get(&s.project_path(&format!("/sessions/{}", Uuid::new_v4())))
            .await,
        404,
        "Not Found",
    );
    let none = s.key_with(accord_core::auth::Role::None, vec![]).await;
    assert_error(
        &send(s.req_as(&none, Method::GET, &path)).await,
        403,
        "Forbidden",
    );
}

async fn site_consent_endpoints(b: accord_store::Backend) {
    let s = start(b).await;
    let (token, cid) = mint(&s).await;
    let (status, types) = sget(&s, &site(&s, "/consent-types"), &token).await;
    assert_eq!(status, 200, "{types}");
    assert_eq!(types["total"], 5);
    let find = |label: &str| -> Value {
        types["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["label"] == label)
            .cloned()
            .unwrap()
    };
    let analytics = find("analytics");
    let advertising = find("advertising");
    // Archived types are neither listed nor accepted.
    let (status, _) = s
        .patch(
            &s.project_path(&format!(
                "/consent-types/{}",
                advertising["id"].as_str().unwrap()
            )),
            json!({"status": "archived"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, types) = sget(
        &s,
        &site(
            &s,
            "/consent-types?category=privacy_setting&sort=label&order=asc",
        ),
        &token,
    )
    .await;
    let labels: Vec<&str> = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["analytics", "personalization", "strictly_necessary"]
    );

    // The reference body (page 004): items naming a type by id or by its key.
    let path = site(&s, "/consent-events");
    let body = json!({"items": [
        {"consentType": analytics["id"], "consentState": "accepted", "consentAction": "user_click"},
        {"category": "privacy_setting", "subcategory": "personalization", "label": "personalization",
         "consentState": "declined", "consentAction": "user_click"}
    ]});
    let (status, created, _) = full(
        sreq(&s, Method::POST, &path, &token)
            .header("origin", "http://localhost")
            .header("user-agent", "Spec/2")
            .json(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["count"], 2);
    let first = &created["items"][0];
    assert_eq!(first["concordId"], cid);
    assert_eq!(first["consentType"], analytics["id"]);
    assert_eq!(first["category"], "privacy_setting");
    assert_eq!(first["subcategory"], json!(["analytics"]));
    assert_eq!(first["label"], "analytics");
    assert_eq!(first["version"], 1);
    assert_eq!(first["organization"], s.org.to_string());
    assert!(first.get("submitter").is_none());
    let sid = claims_of(&token)["sid"].clone();
    assert_eq!(first["session"]["id"], sid);
    assert_eq!(first["session"]["ipAddress"], "127.0.0.1");
    assert_eq!(created["items"][1]["consentState"], "declined");
    let date = accord_core::time::parse_rfc3339(first["consentDate"].as_str().unwrap()).unwrap();
    assert!((accord_core::time::now_ms() - date).abs() < 60_000);
    // Site rules.
    for (item, status, msg) in [
        (
            json!({"consentType": analytics["id"], "consentState": "accepted", "consentAction": "import"}),
            422,
            "consentAction 'import' is only accepted on the Privacy API",
        ),
        (
            json!({"consentType": advertising["id"], "consentState": "accepted", "consentAction": "user_click"}),
            422,
            "consent type is not active",
        ),
        (
            json!({"category": "custom", "label": "nothing", "consentState": "accepted", "consentAction": "user_click"}),
            422,
            "consent type not found",
        ),
        (
            json!({"consentType": analytics["id"], "consentState": "viewed", "consentAction": "user_click"}),
            422,
            "consentState 'viewed' is not valid for this consent type",
        ),
        (
            json!({"consentType": analytics["id"], "consentState": "accepted", "consentAction": "user_click", "email": "a@b.co"}),
            400,
            "body/items/0 must NOT have additional properties: 'email'",
        ),
        (
            json!({"consentType": analytics["id"], "consentState": "accepted", "consentAction": "user_click", "consentDate": "2024-01-01T00:00:00Z"}),
            400,
            "body/items/0 must NOT have additional properties: 'consentDate'",
        ),
    ] {
        assert_error(
            &spost(&s, &path, &token, json!({"items": [item]})).await,
            status,
            msg,
        );
    }
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"consentType": analytics["id"], "consentState": "accepted", "consentAction": "user_click"}))
        .collect();
    assert_error(
        &spost(&s, &path, &token, json!({"items": many})).await,
        400,
        "body/items must NOT have more than 100 items",
    );
    assert_error(
        &spost(&s, &path, &token, json!({"items": []})).await,
        400,
        "body/items must NOT have fewer than 1 items",
    );

    // Reads are limited to the session identity.
    let (status, list) = sget(&s, &path, &token).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 2);
    let (other, _) = mint(&s).await;
    let (_, list) = sget(&s, &path, &other).await;
    assert_eq!(list["total"], 0);
    let eid = first["id"].as_str().unwrap();
    let (status, one) = sget(&s, &site(&s, &format!("/consent-events/{eid}")), &token).await;
    assert_eq!(status, 200);
    assert_eq!(&one, first);
    assert_error(
        &sget(&s, &site(&s, &format!("/consent-events/{eid}")), &other).await,
        404,
        "Not Found",
    );
    assert_error(
        &sget(&s, &site(&s, "/consent-events/nope"), &token).await,
        400,
        "params/consentEventId must match format \"uuid\"",
    );
    // Consent state over active types.
    let (status, st) = sget(&s, &site(&s, "/consent-state"), &token).await;
    assert_eq!(status, 200, "{st}");
    assert_eq!(st.as_object().unwrap().len(), 2);
    assert_eq!(st["count"], 2);
    let (_, st) = sget(&s, &site(&s, "/consent-state"), &other).await;
    assert_eq!(st, json!({"count": 0, "items": []}));
    // The Privacy API sees the events with their session.
    let (_, all) = s
        .get(&s.project_path(&format!(
            "/consent-events?sessionId={}",
            sid.as_str().unwrap()
        )))
        .await;
    assert_eq!(all["total"], 2);
}

async fn profile_rules(b: accord_store::Backend) {
    let s = start(b).await;
    let (token, cid) = mint(&s).await;
    let path = site(&s, "/profile");
    let (status, body) = spost(
        &s,
        &path,
        &token,
        json!({"concordId": cid, "email": "Jane@Example.com", "firstName": "Jane", "lastName": "Doe",
               "userId": "u-1", "phoneNumber": "+1 (555) 0100",
               "address": {"city": "Paris", "country": "FR"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!(cid));
    let (status, ident) = s.get(&s.project_path(&format!("/identities/{cid}"))).await;
    assert_eq!(status, 200, "{ident}");
    assert_eq!(ident["email"], "Jane@Example.com");
    assert_eq!(ident["firstName"], "Jane");
    assert_eq!(ident["userId"], "u-1");
    assert_eq!(ident["address"], json!({"city": "Paris", "country": "FR"}));
    // Another session naming a foreign concordId is refused.
    let (other, other_cid) = mint(&s).await;
    assert_error(
        &spost(&s, &path, &other, json!({"concordId": cid})).await,
        403,
        "Forbidden",
    );
    // Identifiers held by another identity are skipped silently; the rest is stored.
    let (status, body) = spost(
        &s,
        &path,
        &other,
        json!({"email": "jane@example.com", "userId": "u-1", "firstName": "Other"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body, json!(other_cid));
    let (_, ident) = s
        .get(&s.project_path(&format!("/identities/{other_cid}")))
        .await;
    assert!(ident.get("email").is_none(), "{ident}");
    assert!(ident.get("userId").is_none());
    assert_eq!(ident["firstName"], "Other");
    // Validation.
    for (body, msg) in [
        (
            json!({"email": "nope"}),
            "body/email must match format \"email\"",
        ),
        (
            json!({"address": {"street": "x"}}),
            "body/address must NOT have additional properties: 'street'",
        ),
        (
            json!({"firstName": "x".repeat(257)}),
            "body/firstName must NOT have more than 256 characters",
        ),
        (
            json!({"concordId": "x"}),
            "body/concordId must match format \"uuid\"",
        ),
    ] {
        assert_error(&spost(&s, &path, &token, body).await, 400, msg);
    }
}

/// An identify proof signed with the project's identify secret.
fn proof(secret: &str, sub: &str, kind: &str, exp: i64) -> String {
    jwt_encode(
        &json!({"sub": sub, "type": kind, "exp": exp}),
        secret.as_bytes(),
    )
}

async fn identify_outcomes(b: accord_store::Backend) {
    let s = start(b).await;
    let path = site(&s, "/identify");
    let secret = "is_spec-secret";
    s.store
        .set_identify_secret(s.project, secret)
        .await
        .unwrap();
    let later = now_secs() + 600;

    // Browser 1 records consent and has an email through identify (attached).
    let (t1, c1) = mint(&s).await;
    let (_, types) = sget(&s, &site(&s, "/consent-types"), &t1).await;
    let analytics = types["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "analytics")
        .unwrap()["id"]
        .clone();
    let record = |t: String, state: &'static str| {
        let s = &s;
        let analytics = analytics.clone();
        async move {
            let (status, body) = spost(
                s,
                &site(s, "/consent-events"),
                &t,
                json!({"items": [{"consentType": analytics, "consentState": state, "consentAction": "user_click"}]}),
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
    };
    record(t1.clone(), "declined").await;
    let email = "Jane@Example.com";
    // Without proof: 403; with a bad proof: 403.
    assert_error(
        &spost(&s, &path, &t1, json!({"type": "email", "value": email})).await,
        403,
        "identify requires a valid token",
    );
    for bad in [
        proof("is_other", email, "email", later),
        proof(secret, "jane@example.com", "email", later),
        proof(secret, email, "userId", later),
        proof(secret, email, "email", now_secs() - 5),
    ] {
        assert_error(
            &spost(
                &s,
                &path,
                &t1,
                json!({"type": "email", "value": email, "token": bad}),
            )
            .await,
            403,
            "identify requires a valid token",
        );
    }
    let (status, out) = spost(
        &s,
        &path,
        &t1,
        json!({"type": "email", "value": email, "token": proof(secret, email, "email", later)}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["synced"], false);
    assert_eq!(claims_of(out["session"].as_str().unwrap())["cid"], c1);
    let (_, ident) = s.get(&s.project_path(&format!("/identities/{c1}"))).await;
    assert_eq!(ident["email"], "jane@example.com");
    // Again: already matching.
    let (status, out) = spost(
        &s,
        &path,
        &t1,
        json!({"type": "email", "value": email, "token": proof(secret, email, "email", later)}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(out["synced"], true);

    // Browser 2 files a request and accepts later; identifying by the hashed email merges it
    // into browser 1's identity.
    let (t2, c2) = mint(&s).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    record(t2.clone(), "accepted").await;
    let cr = s
        .create_request(json!({"request": "view", "concordId": c2, "userEmail": "x2@example.com", "preverified": true}))
        .await;
    let hash = accord_core::auth::digest("jane@example.com");
    let (status, out) = spost(
        &s,
        &path,
        &t2,
        json!({"type": "email", "value": hash, "format": "hashed", "token": proof(secret, &hash, "email", later)}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["synced"], true);
    let merged = out["session"].as_str().unwrap().to_string();
    let mc = claims_of(&merged);
    assert_eq!(mc["cid"], c1);
    assert_eq!(mc["sid"], claims_of(&t2)["sid"]);
    let (_, ident) = s.get(&s.project_path(&format!("/identities/{c2}"))).await;
    assert_eq!(ident["mergedInto"], c1);
    // The request follows the survivor and records the merge.
    let (_, got) = s
        .get(&s.project_path(&format!(
            "/compliance-requests/{}",
            cr["id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(got["concordId"], c1);
    let (_, events) = s
        .get(&s.project_path(&format!(
            "/compliance-requests-events?complianceRequestId={}",
            cr["id"].as_str().unwrap()
        )))
        .await;
    let merged_event = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "identity_merged")
        .cloned()
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(
        merged_event["details"],
        json!({"fromConcordId": c2, "toConcordId": c1})
    );
    // The old token of browser 2 acts for the survivor; the state is the union (latest wins).
    for t in [&t2, &merged, &t1] {
        let (status, st) = sget(&s, &site(&s, "/consent-state"), t).await;
        assert_eq!(status, 200);
        assert_eq!(st["count"], 1, "{st}");
        assert_eq!(st["items"][0]["consentState"], "accepted");
        assert_eq!(st["items"][0]["concordId"], c1);
        let (_, evs) = sget(&s, &site(&s, "/consent-events"), t).await;
        assert_eq!(evs["total"], 2);
    }
    // A new session presenting the merged id gets the survivor.
    let (_, body, _) = mint_with(&s, &[], Some(json!({"concordId": c2}))).await;
    assert_eq!(body["concordId"], c1);

    // contextId: possession is proof. A third browser merges into the first by its id.
    let (t3, c3) = mint(&s).await;
    let (status, out) = spost(&s, &path, &t3, json!({"type": "contextId", "value": c1})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["synced"], true);
    assert_eq!(claims_of(out["session"].as_str().unwrap())["cid"], c1);
    let (_, ident) = s.get(&s.project_path(&format!("/identities/{c3}"))).await;
    assert_eq!(ident["mergedInto"], c1);
    let (status, out) = spost(&s, &path, &t1, json!({"type": "contextId", "value": c1})).await;
    assert_eq!(status, 200);
    assert_eq!(out["synced"], true);
    assert_error(
        &spost(
            &s,
            &path,
            &t1,
            json!({"type": "contextId", "value": Uuid::new_v4().to_string()}),
        )
        .await,
        422,
        "contextId not found in this project",
    );
    assert_error(
        &spost(
            &s,
            &path,
            &t1,
            json!({"type": "contextId", "value": hash, "format": "hashed"}),
        )
        .await,
        422,
        "format 'hashed' is not allowed with type 'contextId'",
    );
    // userId with the project setting that allows unverified identify: attach, then merge.
    let mut p = s
        .store
        .get_project(s.org, s.project)
        .await
        .unwrap()
        .unwrap();
    p.settings["identity"]["allowUnverifiedIdentify"] = json!(true);
    s.store.update_project(&p).await.unwrap();
    let (t4, c4) = mint(&s).await;
    let (status, out) = spost(
        &s,
        &path,
        &t4,
        json!({"type": "userId", "value": "User-42"}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["synced"], false);
    let (t5, _) = mint(&s).await;
    let hashed = accord_core::auth::digest("User-42");
    let (status, out) = spost(
        &s,
        &path,
        &t5,
        json!({"type": "userId", "value": hashed.to_uppercase(), "format": "hashed"}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["synced"], true);
    assert_eq!(claims_of(out["session"].as_str().unwrap())["cid"], c4);
    // Validation comes first.
    for (body, msg) in [
        (
            json!({"type": "phone", "value": "x"}),
            "body/type must be equal to one of the allowed values: email, contextId, userId",
        ),
        (
            json!({"type": "email"}),
            "body must have required property 'value'",
        ),
        (
            json!({"type": "email", "value": "zz", "format": "hashed"}),
            "body/value must match pattern \"^[0-9a-fA-F]{64}$\"",
        ),
        (
            json!({"type": "email", "value": "x".repeat(257)}),
            "body/value must NOT have more than 256 characters",
        ),
    ] {
        assert_error(&spost(&s, &path, &t4, body).await, 400, msg);
    }
}

/// The request schema the Site API document publishes for `POST {path}`.
async fn published_body(s: &Server, path: &str) -> Value {
    let (status, doc) = send(s.client.get(s.url("/site-v1/docs/json"))).await;
    assert_eq!(status, 200);
    doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"].clone()
}

/// Rules checked after the schema are published too: a body the server refuses with 400 is
/// one the published schema refuses, and one it accepts past validation the schema accepts.
async fn published_request_rules_are_the_enforced_ones(b: accord_store::Backend) {
    let s = start(b).await;
    let (token, _) = mint(&s).await;
    let events = published_body(&s, "/{projectId}/consent-events").await;
    let item = |extra: Value| {
        let mut i = json!({"consentState": "accepted", "consentAction": "user_click"});
        i.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({ "items": [i] })
    };
    for (body, status) in [
        (item(json!({})), 400),
        (item(json!({"category": ""})), 400),
        (item(json!({"consentType": "", "category": ""})), 400),
        (
            item(
                json!({"category": "privacy_setting", "subcategory": ["analytics", ""], "label": "analytics"}),
            ),
            400,
        ),
        (
            item(
                json!({"category": "privacy_setting", "subcategory": "analytics", "label": "analytics"}),
            ),
            201,
        ),
    ] {
        let (got, answer) = spost(&s, &site(&s, "/consent-events"), &token, body.clone()).await;
        assert_eq!(got, status, "{body} {answer}");
        assert_eq!(
            check_schema(&events, &body, "body").is_ok(),
            status != 400,
            "{body}"
        );
    }
    let identify = published_body(&s, "/{projectId}/identify").await;
    for (body, status) in [
        (
            json!({"type": "email", "value": "zz", "format": "hashed"}),
            400,
        ),
        (
            json!({"type": "userId", "value": "", "format": "hashed"}),
            400,
        ),
        (json!({"type": "email", "value": "  "}), 400),
        (
            json!({"type": "userId", "value": " ", "format": "plain"}),
            400,
        ),
        (json!({"type": "contextId", "value": " "}), 422),
        (
            json!({"type": "contextId", "value": "a".repeat(64), "format": "hashed"}),
            422,
        ),
        (
            json!({"type": "email", "value": "A".repeat(64), "format": "hashed"}),
            403,
        ),
        (json!({"type": "userId", "value": " u "}), 403),
    ] {
        let (got, answer) = spost(&s, &site(&s, "/identify"), &token, body.clone()).await;
        assert_eq!(got, status, "{body} {answer}");
        assert_eq!(
            check_schema(&identify, &body, "body").is_ok(),
            status != 400,
            "{body}"
        );
    }
}

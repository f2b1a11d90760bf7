//! Hostile and careless inputs: the NUL character, known query parameters sent empty or
//! out of range, numbers in `requestDetails`, integers written as floats, duplicate
//! properties, padded emails, empty `x-session` headers and forged session lifetimes. Each
//! is answered the same way on SQLite and PostgreSQL, and a refusal stores nothing. URIs,
//! hostnames and emails are read as the published schemas state them.
use crate::both;
use crate::common::*;
use accord_core::site::{decode_session_secret, SessionClaims, SESSION_TTL_SECS};
use reqwest::Method;
use serde_json::Value;

both!(
    nul_characters_are_refused_everywhere,
    known_query_parameters_are_validated_when_empty_or_out_of_range,
    request_details_keep_numbers_as_written,
    integers_emails_and_duplicate_properties,
    session_headers_and_token_lifetimes,
    formats_are_read_as_published,
);

fn org_path(s: &Server, rest: &str) -> String {
    format!("/privacy-v1/organizations/{}{rest}", s.org)
}

fn site(s: &Server, rest: &str) -> String {
    format!("/site-v1/{}{rest}", s.project)
}

/// Sends `text` as it is, for bodies `json!` cannot spell (numbers, duplicate keys).
async fn post_text(s: &Server, path: &str, text: &str) -> (u16, Value) {
    send(
        s.req(Method::POST, path)
            .header("content-type", "application/json")
            .body(text.to_string()),
    )
    .await
}

async fn mint(s: &Server) -> String {
    let (status, body) = send(s.client.post(s.url(&site(s, "/session")))).await;
    assert_eq!(status, 201, "{body}");
    body["session"].as_str().unwrap().to_string()
}

async fn nul_characters_are_refused_everywhere(b: accord_store::Backend) {
    let s = start(b).await;
    let requests = s.project_path("/compliance-requests");
    let cases = [
        (
            requests.clone(),
            json!({"request": "view", "userEmail": "jane@example.com", "notes": "a\u{0}b"}),
            "body/notes must NOT contain the NUL character",
        ),
        (
            requests.clone(),
            json!([{"request": "view", "userId": "ok"}, {"request": "view", "userId": "u\u{0}"}]),
            "body/1/userId must NOT contain the NUL character",
        ),
        (
            requests.clone(),
            json!({"request": "view", "userId": "x", "requestDetails": {"k": ["\u{0}"]}}),
            "body/requestDetails/k/0 must NOT contain the NUL character",
        ),
        (
            org_path(&s, "/data-systems"),
            json!({"name": "CRM\u{0}"}),
            "body/name must NOT contain the NUL character",
        ),
        (
            org_path(&s, "/api-keys"),
            json!({"name": "\u{0}", "role": "viewer"}),
            "body/name must NOT contain the NUL character",
        ),
        (
            s.project_path("/consent-events"),
            json!({"items": [{"userId": "u\u{0}", "consentState": "implied",
                "consentAction": "implied", "category": "disclosure",
                "subcategory": ["privacy_policy"], "label": "privacy_policy"}]}),
            "body/items/0/userId must NOT contain the NUL character",
        ),
    ];
    for (path, body, message) in cases {
        assert_error(&s.post(&path, body).await, 400, message);
    }
    // A backslash followed by `u0000` is text like any other.
    let cr = s
        .create_request(json!({"request": "view", "userId": "x", "notes": "\\u0000"}))
        .await;
    assert_eq!(cr["notes"], "\\u0000");

    // The Site API session takes no credential; its url and referrer are refused alike.
    let mint_path = s.url(&site(&s, "/session"));
    for (field, message) in [
        ("url", "body/url must NOT contain the NUL character"),
        (
            "referrer",
            "body/referrer must NOT contain the NUL character",
        ),
    ] {
        let got = send(
            s.client
                .post(&mint_path)
                .json(&json!({ field: "https://localhost/\u{0}" })),
        )
        .await;
        assert_error(&got, 400, message);
    }

    // Known query parameters, free-text filters included.
    for (path, message) in [
        (
            format!("{requests}?text=%00"),
            "querystring/text must NOT contain the NUL character",
        ),
        (
            format!("{requests}?notes=a%00"),
            "querystring/notes must NOT contain the NUL character",
        ),
        (
            s.project_path("/sessions?userAgent=%00"),
            "querystring/userAgent must NOT contain the NUL character",
        ),
        (
            org_path(&s, "/data-systems?name=%00"),
            "querystring/name must NOT contain the NUL character",
        ),
    ] {
        assert_error(&s.get(&path).await, 400, message);
    }

    // Nothing refused was stored.
    let (_, list) = s.get(&requests).await;
    assert_eq!(list["total"], 1, "{list}");
    let (_, systems) = s.get(&org_path(&s, "/data-systems")).await;
    assert_eq!(systems["total"], 0, "{systems}");
    let (_, events) = s.get(&s.project_path("/consent-events")).await;
    assert_eq!(events["total"], 0, "{events}");
    let (_, sessions) = s.get(&s.project_path("/sessions")).await;
    assert_eq!(sessions["total"], 0, "{sessions}");
}

async fn known_query_parameters_are_validated_when_empty_or_out_of_range(b: accord_store::Backend) {
    let s = start(b).await;
    s.submitted_request().await;
    let uuid = "must match format \"uuid\"";
    for (path, name) in [
        (
            s.project_path("/compliance-requests?complianceRequestId="),
            "complianceRequestId",
        ),
        (
            org_path(&s, "/compliance-requests?complianceRequestId="),
            "complianceRequestId",
        ),
        (
            s.project_path("/compliance-requests-events?complianceRequestId="),
            "complianceRequestId",
        ),
        (
            s.project_path("/compliance-requests-events?accountId="),
            "accountId",
        ),
        (
            s.project_path("/consent-events?consentType="),
            "consentType",
        ),
        (org_path(&s, "/data-system-contacts?id="), "id"),
        (org_path(&s, "/data-system-data-categories?id="), "id"),
        (org_path(&s, "/data-systems?id="), "id"),
        (
            org_path(&s, "/data-systems?globalDataSystemId=nope"),
            "globalDataSystemId",
        ),
    ] {
        assert_error(
            &s.get(&path).await,
            400,
            &format!("querystring/{name} {uuid}"),
        );
    }
    let requests = s.project_path("/compliance-requests");
    for (query, message) in [
        (
            "limit=99999999999999999999",
            "querystring/limit must be <= 1000",
        ),
        (
            "offset=99999999999999999999",
            "querystring/offset must be <= 9223372036854775807",
        ),
        ("offset=-1", "querystring/offset must be >= 0"),
        ("limit=", "querystring/limit must be integer"),
    ] {
        assert_error(&s.get(&format!("{requests}?{query}")).await, 400, message);
    }
    // A free-text filter may be empty: every value contains "".
    let (status, list) = s.get(&format!("{requests}?userEmail=")).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["total"], 1, "{list}");
}

async fn request_details_keep_numbers_as_written(b: accord_store::Backend) {
    let s = start(b).await;
    let path = s.project_path("/compliance-requests");
    let written = r#"{"big":123456789012345678901234567890,"tiny":1e-400,"zero":-0,"e":1E2,"f":2.50,"s":"\u00e9 \/"}"#;
    let kept = r#"{"big":123456789012345678901234567890,"tiny":1e-400,"zero":-0,"e":1E2,"f":2.50,"s":"é /"}"#;
    let spaced = written.replace(':', " : ").replace(',', " ,\n ");
    let (status, one) = post_text(
        &s,
        &path,
        &format!(r#"{{"request": "view", "userId": "u1", "requestDetails": {spaced}}}"#),
    )
    .await;
    assert_eq!(status, 201, "{one}");
    assert_eq!(one["requestDetails"], kept);
    let (status, many) = post_text(
        &s,
        &path,
        r#"[{"request": "view", "userId": "u2", "requestDetails": -0},
            {"request": "view", "userId": "u3"},
            {"request": "view", "userId": "u4", "requestDetails": [1e-400, 123456789012345678901234567890]},
            {"request": "view", "userId": "u5", "requestDetails": "  as is  "}]"#,
    )
    .await;
    assert_eq!(status, 201, "{many}");
    let details: Vec<&Value> = many["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["requestDetails"])
        .collect();
    assert_eq!(
        details,
        [
            &json!("-0"),
            &Value::Null,
            &json!("[1e-400,123456789012345678901234567890]"),
            &json!("  as is  ")
        ]
    );
    // Stored as answered.
    let id = one["id"].as_str().unwrap();
    let (_, again) = s
        .get(&s.project_path(&format!("/compliance-requests/{id}")))
        .await;
    assert_eq!(again["requestDetails"], kept);

    // The limit counts the text kept.
    let long = format!("[{}]", vec!["-0"; 32_768].join(","));
    let got = post_text(
        &s,
        &path,
        &format!(r#"{{"request": "view", "userId": "u6", "requestDetails": {long}}}"#),
    )
    .await;
    assert_error(
        &got,
        400,
        "body/requestDetails must NOT have more than 65536 characters",
    );

    // The Site API keeps them too.
    let token = mint(&s).await;
    let (status, cr) = send(
        s.client
            .post(s.url(&site(&s, "/compliance-requests")))
            .header("x-session", &token)
            .header("content-type", "application/json")
            .body(format!(
                r#"{{"request": "view", "userEmail": "jane@example.com",
                    "captureUrl": "https://localhost/privacy", "requestDetails": {written}}}"#
            )),
    )
    .await;
    assert_eq!(status, 201, "{cr}");
    assert_eq!(cr["requestDetails"], kept);
}

async fn integers_emails_and_duplicate_properties(b: accord_store::Backend) {
    let s = start(b).await;
    // Integers written as floats or with an exponent are kept as integers.
    let (status, p) = send(
        s.req(Method::PATCH, &s.project_path(""))
            .header("content-type", "application/json")
            .body(r#"{"settings": {"complianceRequests": {"filePurgeDaysAfterUpload": 1e2, "filePurgeDaysAfterDownload": 30.0}}}"#),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    let crs = &p["settings"]["complianceRequests"];
    assert!(crs["filePurgeDaysAfterUpload"].is_i64(), "{crs}");
    assert_eq!(crs["filePurgeDaysAfterUpload"], 100);
    assert!(crs["filePurgeDaysAfterDownload"].is_i64(), "{crs}");
    assert_eq!(crs["filePurgeDaysAfterDownload"], 30);
    let (_, again) = s.get(&s.project_path("")).await;
    assert_eq!(again["settings"], p["settings"]);

    // Whole numbers past the 64-bit range are out of range, not "not an integer".
    for (value, message) in [
        (
            "9223372036854775808",
            "body/settings/complianceRequests/filePurgeDaysAfterUpload must be <= 3650",
        ),
        (
            "1e30",
            "body/settings/complianceRequests/filePurgeDaysAfterUpload must be <= 3650",
        ),
        (
            "-1e30",
            "body/settings/complianceRequests/filePurgeDaysAfterUpload must be >= 1",
        ),
        (
            "1.5",
            "body/settings/complianceRequests/filePurgeDaysAfterUpload must be integer",
        ),
    ] {
        let got = send(
            s.req(Method::PATCH, &s.project_path(""))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"settings": {{"complianceRequests": {{"filePurgeDaysAfterUpload": {value}}}}}}}"#
                )),
        )
        .await;
        assert_error(&got, 400, message);
    }
    let types = s.project_path("/consent-types");
    let (status, ty) = s
        .post(
            &types,
            json!({"category": "communication", "label": "news", "name": "News"}),
        )
        .await;
    assert_eq!(status, 201, "{ty}");
    let one = format!("{types}/{}", ty["id"].as_str().unwrap());
    let got = send(
        s.req(Method::PATCH, &one)
            .header("content-type", "application/json")
            .body(r#"{"version": 18446744073709551616}"#),
    )
    .await;
    assert_error(&got, 400, "body/version must be <= 9223372036854775807");

    // Duplicate properties are refused wherever they are, and nothing is stored.
    let requests = s.project_path("/compliance-requests");
    for (text, message) in [
        (
            r#"{"request": "view", "userId": "a", "userId": "b"}"#,
            "body must NOT have duplicate properties: 'userId'",
        ),
        (
            r#"[{"request": "view", "userId": "a"}, {"request": "view", "request": "delete", "userId": "b"}]"#,
            "body/1 must NOT have duplicate properties: 'request'",
        ),
        (
            r#"{"request": "view", "userId": "a", "requestDetails": {"k": 1, "k": 2}}"#,
            "body/requestDetails must NOT have duplicate properties: 'k'",
        ),
    ] {
        assert_error(&post_text(&s, &requests, text).await, 400, message);
    }
    let (_, list) = s.get(&requests).await;
    assert_eq!(list["total"], 0, "{list}");

    // §1.4: emails are trimmed, then checked and kept.
    let cr = s
        .create_request(json!({"request": "view", "userEmail": " padded@example.com "}))
        .await;
    assert_eq!(cr["user"]["email"], "padded@example.com");
    let got = s
        .post(
            &requests,
            json!({"request": "view", "userEmail": " not an email "}),
        )
        .await;
    assert_error(&got, 400, "body/userEmail must match format \"email\"");
    let (status, e) = s
        .post(
            &org_path(&s, "/emails"),
            json!({"email": "\tteam@example.com\n", "name": "Team"}),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["email"], "team@example.com");
    let (status, events) = s
        .post(
            &s.project_path("/consent-events"),
            json!({"items": [{"email": " Jane@Example.com ", "consentState": "implied",
                "consentAction": "implied", "category": "disclosure",
                "subcategory": ["privacy_policy"], "label": "privacy_policy"}]}),
        )
        .await;
    assert_eq!(status, 201, "{events}");
    let identity = events["items"][0]["concordId"].as_str().unwrap();
    let (_, found) = s
        .get(&s.project_path(&format!("/identities/{identity}")))
        .await;
    assert_eq!(found["email"], "Jane@Example.com", "{found}");
}

async fn session_headers_and_token_lifetimes(b: accord_store::Backend) {
    let s = start(b).await;
    let token = mint(&s).await;
    let profile = s.url(&site(&s, "/profile"));
    let probe = |t: String| {
        send(
            s.client
                .post(&profile)
                .header("x-session", t)
                .json(&json!({})),
        )
    };
    let (status, body) = probe(token.clone()).await;
    assert_eq!(status, 200, "{body}");
    for empty in ["", "   "] {
        assert_error(
            &probe(empty.to_string()).await,
            401,
            "Missing x-session header",
        );
    }

    // Tokens signed with the real secret but with a lifetime the server never gives.
    let stored = s
        .store
        .server_setting_init("site_session_secret", "unused")
        .await
        .unwrap();
    let secret = decode_session_secret(&stored).unwrap();
    let claims = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice::<SessionClaims>(&bytes).unwrap()
    };
    let now = accord_core::time::now_ms() / 1000;
    let ten_years = 10 * 365 * 86_400;
    for (iat, exp) in [
        (now + 3600, now + ten_years),
        (now + 3600, now + 3600 + SESSION_TTL_SECS),
        (now - 60, now + ten_years),
        (now - 60, now - 59 + SESSION_TTL_SECS),
    ] {
        let forged = SessionClaims {
            iat,
            exp,
            ..claims.clone()
        };
        assert_error(
            &probe(forged.sign(&secret)).await,
            401,
            "Invalid or expired session",
        );
    }
    let fair = SessionClaims {
        iat: now - 60,
        exp: now - 60 + SESSION_TTL_SECS,
        ..claims.clone()
    };
    let (status, body) = probe(fair.sign(&secret)).await;
    assert_eq!(status, 200, "{body}");
}

/// What the fuzz step found the server accepting while the published schemas refused it:
/// URIs that RFC 3986 refuses, hostname labels tagged `??--` that are not IDNA A-labels, and
/// the clearing `""` and the email rule, which the schemas now state.
async fn formats_are_read_as_published(b: accord_store::Backend) {
    let s = start(b).await;
    for (url, ok) in [
        ("https://example.com/a b", false),
        ("https://example.com/%zz", false),
        ("https://exa mple.com/", false),
        ("https:\\\\example.com", false),
        ("https://example.com/a%20b?q=1#top", true),
    ] {
        let body = json!({"name": "Acme", "privacyPolicyUrl": url});
        let got = s.post("/privacy-v1/organizations", body).await;
        if ok {
            assert_eq!(got.0, 201, "{url}: {}", got.1);
        } else {
            assert_error(&got, 400, "body/privacyPolicyUrl must match format \"uri\"");
        }
    }
    let domains = s.project_path("/domains");
    for (domain, ok) in [
        ("ab--cd.example", false),
        ("xn--.example", false),
        ("XN--bcher-kva.example", false),
        ("xn--bcher-kva.example", true),
        ("a-b--c.example", true),
    ] {
        let got = s.post(&domains, json!({"domain": domain})).await;
        if ok {
            assert_eq!(got.0, 201, "{domain}: {}", got.1);
        } else {
            assert_error(&got, 400, "body/domain must match format \"hostname\"");
        }
    }

    // The published create body states the clearing `""` and the email rule.
    let (_, doc) = s.get("/privacy-v1/docs/json").await;
    let body = &doc["paths"]
        ["/organizations/{organizationId}/projects/{projectId}/compliance-requests"]["post"]
        ["requestBody"]["content"]["application/json"]["schema"]["oneOf"][0];
    let email = &body["properties"]["userEmail"];
    assert_eq!(email["anyOf"][1], json!({"const": ""}), "{email}");
    assert_eq!(
        email["anyOf"][0]["pattern"],
        accord_core::schema::EMAIL_PATTERN
    );
    assert!(email["anyOf"][0].get("format").is_none(), "{email}");
    let (status, created) = s
        .post(
            &s.project_path("/compliance-requests"),
            json!({"request": "view", "userEmail": " jane@example.com\u{3000}", "concordId": ""}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["user"]["email"], "jane@example.com", "{created}");
}

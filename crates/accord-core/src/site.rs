//! The Site API's own rules: project domains (§7.7) and the origin rule built on them
//! (§5.2), site session records (§5.9), the session token (HS256 JWT), and the bodies and
//! answers of session, profile and identify (§5.2, §5.5, §5.6).
use crate::schema::{string, Format, Object, Schema};
use crate::{Error, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use std::sync::OnceLock;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Domains

pub const DOMAIN_SORTS: &[&str] = &["dateCreated", "domain"];
pub const DOMAIN_EXISTS: &str = "domain already exists in this project";

/// A domain of a project (§7.7), as stored and as answered.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Domain {
    /// Domain id (UUID).
    pub id: Uuid,
    /// The organization of the project.
    pub organization_id: Uuid,
    /// The project the domain belongs to.
    pub project_id: Uuid,
    /// The host name (RFC 1123, lowercase, no scheme, port or path), unique within the project.
    /// Sites on it or its subdomains may use the project's Site API.
    #[schemars(extend("format" = "hostname"))]
    pub domain: String,
    /// http(s) URL of the site's page that tracker scans start from (`https://{domain}/` when
    /// absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(url)]
    pub url: Option<String>,
    /// When the domain was created, in epoch milliseconds.
    pub date_created: i64,
    /// When the domain last changed, in epoch milliseconds.
    pub date_updated: i64,
}

/// Filters of the domain list.
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    pub project_id: Uuid,
    /// Case-insensitive substring of the domain.
    pub domain: Option<String>,
}

crate::body! {
    /// The domain create and PATCH body (§7.7).
    pub struct DomainBody {
        /// The host name (RFC 1123, no scheme, port, path or trailing dot; stored lowercase),
        /// unique within the project (422). Required on create.
        domain: Option<String> => "domain": string().max(253).format(Format::Hostname).s(),
        /// http(s) URL of the site's page that tracker scans start from (at most 2048
        /// characters); `""` clears it.
        url: Option<String> => "url": string().max(2048).format(Format::HttpUrl).s(),
    }
}

pub fn domain_create_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: DomainBody::props(),
            required: vec!["domain"],
            ..Default::default()
        })
    })
}

pub fn domain_patch_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: DomainBody::props(),
            min_props: 1,
            ..Default::default()
        })
    })
}

/// Parses a validated create or PATCH body. The domain is required to be a real hostname
/// (an empty string cannot clear it) and is stored lowercase; an empty `url` clears it.
pub fn parse_domain_body(raw: &Value, schema: &Schema) -> Result<DomainBody> {
    let mut b: DomainBody = crate::schema::parse(raw, schema)?;
    if let Some(d) = &b.domain {
        if d.is_empty() {
            return Err(Error::bad("body/domain must match format \"hostname\""));
        }
        b.domain = Some(d.to_ascii_lowercase());
    }
    Ok(b)
}

// ---------------------------------------------------------------------------------------
// Origin rule (§5.2)

/// What the `Origin` / `Referer` headers of a request say about the calling site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerSite {
    /// Neither header: a server-side caller.
    None,
    /// `Origin: null`, or a header without a usable host.
    Opaque,
    /// The lowercased host, without port.
    Host(String),
}

/// The host of a URL or origin, lowercased and without port.
pub fn url_host(s: &str) -> Option<String> {
    let u = url::Url::parse(s.trim()).ok()?;
    let h = u.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    (!h.is_empty()).then_some(h)
}

/// Reads the caller's site from `Origin`, or from `Referer` when there is no `Origin`.
pub fn caller_site(origin: Option<&str>, referer: Option<&str>) -> CallerSite {
    let raw = match (origin, referer) {
        (Some(o), _) => o,
        (None, Some(r)) => r,
        (None, None) => return CallerSite::None,
    };
    if raw.trim() == "null" {
        return CallerSite::Opaque;
    }
    url_host(raw).map_or(CallerSite::Opaque, CallerSite::Host)
}

/// True when `host` is one of `domains` or a subdomain of one.
pub fn host_allowed(host: &str, domains: &[String]) -> bool {
    domains.iter().any(|d| {
        host == d
            || (host.len() > d.len()
                && host.ends_with(d.as_str())
                && host.as_bytes()[host.len() - d.len() - 1] == b'.')
    })
}

pub const ORIGIN_NOT_ALLOWED: &str = "origin not allowed for this project";

/// The origin rule: `Ok` for server callers and allowed sites, 403 otherwise.
pub fn check_origin(site: &CallerSite, domains: &[String]) -> Result<()> {
    match site {
        CallerSite::None => Ok(()),
        CallerSite::Host(h) if host_allowed(h, domains) => Ok(()),
        _ => Err(Error::Forbidden(ORIGIN_NOT_ALLOWED.into())),
    }
}

// ---------------------------------------------------------------------------------------
// Session records (§5.9)

pub const SESSION_SORTS: &[&str] = &["dateCreated", "dateUpdated"];
/// Session lifetime, and the age after which a presented token is refreshed.
pub const SESSION_TTL_SECS: i64 = 24 * 3600;
pub const REFRESH_AFTER_SECS: i64 = 3600;
/// How far ahead of this server's clock a token's `iat` may be: the clocks of replicas that
/// share the session secret drift a little; a token from further ahead is refused.
pub const CLOCK_SKEW_SECS: i64 = 60;
pub const MAX_USER_AGENT: usize = 512;

/// A site session record (§5.9), as stored and as answered.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SessionRecord {
    /// Session id (UUID): `session.id` on the events and requests made in it.
    pub id: Uuid,
    /// The organization of the project.
    #[serde(rename = "organization")]
    pub organization_id: Uuid,
    /// The project the session was minted for.
    #[serde(rename = "project")]
    pub project_id: Uuid,
    /// The identity the session acts for.
    pub concord_id: Uuid,
    /// The client address at mint time (IPv4 or IPv6; `X-Forwarded-For` only from a trusted
    /// proxy). Removed by an identity erasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Host of the page the session was minted on (its Origin or Referer, else the host of
    /// `url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The visitor's location, `CC` or `CC-SUB`, from the trusted geo header or the GeoIP
    /// database; absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geography: Option<String>,
    /// The browser's `User-Agent` (at most 512 characters). Removed by an identity erasure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Whether the mint request carried `Sec-GPC: 1` (Global Privacy Control).
    pub gpc: bool,
    /// URL of the page the session was minted on, as the site client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Referrer of that page, as the site client sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// When the session was minted, in epoch milliseconds.
    pub date_created: i64,
    /// When the session's token was last refreshed, in epoch milliseconds.
    pub date_updated: i64,
}

impl SessionRecord {
    /// The embedded `session` object of consent events and compliance requests.
    pub fn info(&self) -> crate::compliance::SessionInfo {
        crate::compliance::SessionInfo {
            id: Some(self.id.to_string()),
            ip_address: self.ip_address.clone(),
            domain: self.domain.clone(),
            geography: self.geography.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

/// Filters of the session list; all exact except `user_agent` (substring).
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub project_id: Uuid,
    pub concord_id: Option<String>,
    pub session_id: Option<String>,
    pub ip_address: Option<String>,
    pub domain: Option<String>,
    pub geography: Option<String>,
    pub user_agent: Option<String>,
    pub gpc: Option<bool>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
}

crate::body! {
    /// The optional body of a session mint (§5.2).
    pub struct SessionBody {
        /// The identity the browser stored from an earlier session. Reused when it is an
        /// identity of this project that was not erased (its survivor when merged); otherwise a
        /// new identity is made.
        concord_id: Option<String> => "concordId": string().format(Format::Uuid).s(),
        /// URL of the current page (at most 2048 characters).
        url: Option<String> => "url": string().max(2048).s(),
        /// Referrer of the current page (at most 2048 characters).
        referrer: Option<String> => "referrer": string().max(2048).s(),
    }
}

pub fn session_body_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: SessionBody::props(),
            ..Default::default()
        })
    })
}

/// `CC` or `CC-SUB`: an ISO 3166-1 alpha-2 country, optionally with a subdivision (§5.2).
pub const GEOGRAPHY_PATTERN: &str = "^[A-Z]{2}(-[A-Z0-9]{1,3})?$";

/// A minted session (§5.2), as answered.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MintedSession {
    /// The token to send as `x-session` (a signed JWT; treat it as opaque). Valid 24 hours,
    /// refreshed through the `x-session` response header once it is an hour old.
    pub session: String,
    /// The identity the session acts for: store it and send it back on the next mint.
    pub concord_id: Uuid,
    /// When the token expires, in epoch milliseconds: 24 hours after the mint.
    pub expires_at: i64,
    /// The visitor's location, `CC` or `CC-SUB` (ISO 3166-1 alpha-2, optionally with an ISO
    /// 3166-2 subdivision); omitted when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = GEOGRAPHY_PATTERN))]
    pub geography: Option<String>,
    /// Whether the request carried `Sec-GPC: 1` (Global Privacy Control).
    pub gpc: bool,
}

// ---------------------------------------------------------------------------------------
// Tokens: compact JWS with HS256

type HmacSha256 = Hmac<Sha256>;

/// A new 32-byte session secret in its stored form (base64url).
pub fn new_session_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a stored session secret; `None` unless it holds at least 32 bytes.
pub fn decode_session_secret(stored: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(stored.trim())
        .ok()
        .filter(|b| b.len() >= 32)
}

const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn sign(data: &[u8], secret: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Signs `claims` as an HS256 JWT.
pub fn jwt_encode(claims: &Value, secret: &[u8]) -> String {
    let head = URL_SAFE_NO_PAD.encode(JWT_HEADER);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{head}.{body}");
    let sig = URL_SAFE_NO_PAD.encode(sign(signing_input.as_bytes(), secret));
    format!("{signing_input}.{sig}")
}

/// Verifies an HS256 JWT and returns its claims object. The header must name `HS256`; the
/// signature is compared in constant time. Expiry is left to the caller.
pub fn jwt_decode(token: &str, secret: &[u8]) -> Option<Map<String, Value>> {
    let mut parts = token.trim().split('.');
    let (head, body, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).ok()?).ok()?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return None;
    }
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(head.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&sig).ok()?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The claims of a site session token (§5.2). `iat` and `exp` are in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClaims {
    pub iss: String,
    pub pid: Uuid,
    pub sid: Uuid,
    pub cid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub gpc: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub geo: Option<String>,
}

pub const ISSUER: &str = "accord";

impl SessionClaims {
    /// Claims for a session of `pid` issued at `now_secs`.
    pub fn new(
        pid: Uuid,
        sid: Uuid,
        cid: Uuid,
        gpc: bool,
        geo: Option<String>,
        now_secs: i64,
    ) -> Self {
        SessionClaims {
            iss: ISSUER.into(),
            pid,
            sid,
            cid,
            iat: now_secs,
            exp: now_secs + SESSION_TTL_SECS,
            gpc,
            geo,
        }
    }

    pub fn sign(&self, secret: &[u8]) -> String {
        jwt_encode(&serde_json::to_value(self).unwrap_or(Value::Null), secret)
    }

    /// Verifies the signature, issuer and lifetime of a presented token: issued no later
    /// than now (give or take [`CLOCK_SKEW_SECS`] between replicas), not expired, and
    /// living no longer than [`SESSION_TTL_SECS`] from its issue, whatever `exp` it names.
    pub fn verify(token: &str, secret: &[u8], now_secs: i64) -> Option<SessionClaims> {
        let claims: SessionClaims =
            serde_json::from_value(Value::Object(jwt_decode(token, secret)?)).ok()?;
        let lifetime = claims.exp.checked_sub(claims.iat)?;
        (claims.iss == ISSUER
            && claims.iat <= now_secs.saturating_add(CLOCK_SKEW_SECS)
            && (1..=SESSION_TTL_SECS).contains(&lifetime)
            && claims.exp > now_secs)
            .then_some(claims)
    }

    /// The same session with a new issue time and expiry.
    pub fn refreshed(&self, now_secs: i64) -> SessionClaims {
        SessionClaims {
            iat: now_secs,
            exp: now_secs + SESSION_TTL_SECS,
            ..self.clone()
        }
    }

    pub fn needs_refresh(&self, now_secs: i64) -> bool {
        now_secs - self.iat > REFRESH_AFTER_SECS
    }
}

// ---------------------------------------------------------------------------------------
// Profile (§5.5)

fn s256() -> Schema {
    string().max(256).s()
}

crate::body! {
    /// A postal address (§4.5, §5.5). It is validated and published from these properties;
    /// the profile body keeps the lines as sent, in their order.
    pub struct Address {
        /// Address line 1 (at most 256 characters).
        address_line1: Option<String> => "addressLine1": s256(),
        /// Address line 2 (at most 256 characters).
        address_line2: Option<String> => "addressLine2": s256(),
        /// Address line 3 (at most 256 characters).
        address_line3: Option<String> => "addressLine3": s256(),
        /// City (at most 256 characters).
        city: Option<String> => "city": s256(),
        /// Region or state (at most 256 characters).
        region: Option<String> => "region": s256(),
        /// Postal code (at most 256 characters).
        postal_code: Option<String> => "postalCode": s256(),
        /// County (at most 256 characters).
        county: Option<String> => "county": s256(),
        /// Country (at most 256 characters).
        country: Option<String> => "country": s256(),
    }
}

fn address_schema() -> Schema {
    Schema::Object(Object {
        props: Address::props(),
        ..Default::default()
    })
}

/// The published schema of an address is the one its lines are validated with, so the
/// `address` of an answered identity has the same shape as the one a profile sends.
impl schemars::JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::Schema::try_from(address_schema().json_schema()).expect("an object schema")
    }
}

crate::body! {
    /// The profile body (§5.5); every field optional.
    pub struct ProfileBody {
        /// The visitor's identity (`concordId`), if sent.
        concord_id: Option<String> => "concordId": string().format(Format::Uuid).s(),
        /// The visitor's user id in your systems (at most 256 characters).
        user_id: Option<String> => "userId": s256(),
        /// The visitor's id in this project (at most 256 characters).
        project_user_id: Option<String> => "projectUserId": s256(),
        /// The visitor's email address (at most 256 characters).
        email: Option<String> => "email": string().max(256).format(Format::Email).s(),
        /// The visitor's phone number (at most 128 characters).
        phone_number: Option<String> => "phoneNumber": string().max(128).s(),
        /// The visitor's first name (at most 256 characters).
        first_name: Option<String> => "firstName": s256(),
        /// The visitor's middle name (at most 256 characters).
        middle_name: Option<String> => "middleName": s256(),
        /// The visitor's last name (at most 256 characters).
        last_name: Option<String> => "lastName": s256(),
        /// The visitor's postal address; overwrites the stored one.
        address: Option<Map<String, Value>> => "address": address_schema(),
    }
}

pub fn profile_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: ProfileBody::props(),
            ..Default::default()
        })
    })
}

/// The published profile body: the validated schema and the rules checked after it.
pub fn profile_json_schema() -> Value {
    let mut s = profile_schema().json_schema();
    s["description"] = json!("`email`, `phoneNumber`, `userId` and `projectUserId` are stored only when no other identity of the project holds them; otherwise they are skipped without an error.");
    crate::consent::describe(
        &mut s,
        "concordId",
        "The session's identity; any other gives 403.".into(),
    );
    s
}

/// A validated profile update for one identity: `Some("")` clears a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileUpdate {
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub user_id: Option<String>,
    pub project_user_id: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub address: Option<Value>,
}

impl ProfileBody {
    pub fn update(&self) -> ProfileUpdate {
        let t = |v: &Option<String>| v.as_ref().map(|s| s.trim().to_string());
        ProfileUpdate {
            email: t(&self.email),
            phone_number: t(&self.phone_number),
            user_id: t(&self.user_id),
            project_user_id: t(&self.project_user_id),
            first_name: t(&self.first_name),
            middle_name: t(&self.middle_name),
            last_name: t(&self.last_name),
            address: self.address.clone().map(|a| {
                let kept: Map<String, Value> = a
                    .into_iter()
                    .filter(|(_, v)| v.as_str().is_some_and(|s| !s.is_empty()))
                    .collect();
                Value::Object(kept)
            }),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Identify (§5.6)

pub const IDENTIFY_TYPES: &[&str] = &["email", "contextId", "userId"];
pub const IDENTIFY_FORMATS: &[&str] = &["plain", "hashed"];
pub const HASH_PATTERN: &str = "^[0-9a-fA-F]{64}$";
pub const IDENTIFY_PROOF: &str = "identify requires a valid token";
pub const CONTEXT_NOT_FOUND: &str = "contextId not found in this project";
pub const CONTEXT_HASHED: &str = "format 'hashed' is not allowed with type 'contextId'";

crate::body! {
    /// The identify body (§5.6).
    pub struct IdentifyBody {
        /// What `value` is: `email`, `userId`, or `contextId` (another `concordId` of the
        /// project, e.g. from another browser).
        kind: String => "type": string().one_of(IDENTIFY_TYPES).s(),
        /// The identifier (at most 256 characters).
        value: String => "value": string().max(256).s(),
        /// `plain`, or `hashed`: the lowercase hex SHA-256 of the trimmed, lowercased email, or
        /// of the userId as is.
        format: Option<String> => "format": string().one_of(IDENTIFY_FORMATS).s(),
        /// Proof that the visitor holds the identifier.
        token: Option<String> => "token": string().s(),
    }
}

pub fn identify_schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        Schema::Object(Object {
            props: IdentifyBody::props(),
            required: vec!["type", "value"],
            ..Default::default()
        })
    })
}

/// The published identify body: the validated schema, the rules on `value` that
/// [`IdentifyBody::key`] checks (400), and the 403 and 422 rules as descriptions.
pub fn identify_json_schema() -> Value {
    let mut s = identify_schema().json_schema();
    s["allOf"] = json!([
        {"if": {"required": ["format"], "properties": {"format": {"const": "hashed"}}},
         "then": {"properties": {"value": {"pattern": HASH_PATTERN}}}},
        {"if": {"required": ["type"], "properties": {"type": {"enum": ["email", "userId"]}, "format": {"const": "plain"}}},
         "then": {"properties": {"value": {"pattern": "\\S"}}}}
    ]);
    crate::consent::describe(
        &mut s,
        "value",
        format!("With `format: hashed`, 64 hex digits. With type `email` or `userId` in plain format, not blank. With type `contextId`, an identity of the project (422 `{CONTEXT_NOT_FOUND}`)."),
    );
    crate::consent::describe(
        &mut s,
        "format",
        format!(
            "Default `plain`. `hashed` is refused with type `contextId` (422 `{CONTEXT_HASHED}`)."
        ),
    );
    crate::consent::describe(
        &mut s,
        "token",
        format!("An HS256 JWT signed with the project's identify secret whose `sub` is `value` as sent, `type` is `type` and `exp` lies in the future. Required for `email` and `userId` unless the project allows unverified identify (403 `{IDENTIFY_PROOF}`)."),
    );
    s
}

/// The answer of an identify call (§5.6).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Identified {
    /// Whether the identifier named an identity: this one, or another that this one was then
    /// merged into.
    pub synced: bool,
    /// The session token to use from now on (for the surviving identity after a merge).
    pub session: String,
}

/// What an identify call looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifyKey {
    /// Another identity of the project, by id.
    Context(Uuid),
    /// `email_lower` (plain) or `email_sha256` (hashed, lowercase hex).
    Email {
        plain: Option<String>,
        sha256: String,
    },
    /// `user_id` (plain), or the SHA-256 of the stored userId (hashed).
    UserId {
        plain: Option<String>,
        sha256: String,
    },
}

impl IdentifyBody {
    /// Checks the rules that need no storage: the hashed pattern (400) and `contextId`
    /// with `hashed` (422). A malformed contextId can name no identity (422 not found).
    pub fn key(&self) -> Result<IdentifyKey> {
        let hashed = self.format.as_deref() == Some("hashed");
        if hashed {
            crate::schema::check_str(&string().pattern(HASH_PATTERN), &self.value, "body/value")
                .map_err(Error::BadRequest)?;
            if self.value.is_empty() {
                return Err(Error::bad(format!(
                    "body/value must match pattern \"{HASH_PATTERN}\""
                )));
            }
        }
        match self.kind.as_str() {
            "contextId" => {
                if hashed {
                    return Err(Error::unprocessable(CONTEXT_HASHED));
                }
                let id = crate::ids::is_uuid(self.value.trim())
                    .then(|| Uuid::parse_str(self.value.trim()).ok())
                    .flatten()
                    .ok_or_else(|| Error::unprocessable(CONTEXT_NOT_FOUND))?;
                Ok(IdentifyKey::Context(id))
            }
            "email" if hashed => Ok(IdentifyKey::Email {
                plain: None,
                sha256: self.value.to_ascii_lowercase(),
            }),
            "email" => {
                let e = self.value.trim().to_lowercase();
                if e.is_empty() {
                    return Err(Error::bad(
                        "body/value must NOT have fewer than 1 characters",
                    ));
                }
                Ok(IdentifyKey::Email {
                    sha256: crate::auth::digest(&e),
                    plain: Some(e),
                })
            }
            _ if hashed => Ok(IdentifyKey::UserId {
                plain: None,
                sha256: self.value.to_ascii_lowercase(),
            }),
            _ => {
                if self.value.trim().is_empty() {
                    return Err(Error::bad(
                        "body/value must NOT have fewer than 1 characters",
                    ));
                }
                Ok(IdentifyKey::UserId {
                    sha256: crate::auth::digest(&self.value),
                    plain: Some(self.value.clone()),
                })
            }
        }
    }

    /// True when `token` is an HS256 JWT signed with `secret` whose `sub` is the value as
    /// sent, whose `type` is the type, and whose `exp` lies in the future.
    pub fn proof_valid(&self, secret: Option<&str>, now_secs: i64) -> bool {
        let (Some(token), Some(secret)) = (self.token.as_deref(), secret) else {
            return false;
        };
        let Some(claims) = jwt_decode(token, secret.as_bytes()) else {
            return false;
        };
        claims.get("sub").and_then(Value::as_str) == Some(self.value.as_str())
            && claims.get("type").and_then(Value::as_str) == Some(self.kind.as_str())
            && claims
                .get("exp")
                .and_then(Value::as_f64)
                .is_some_and(|e| e > now_secs as f64)
    }
}

/// The effect of an identify call, decided by the store inside its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifyOutcome {
    /// The current identity was merged into `into`.
    Merged { into: Uuid },
    /// The current identity already holds the identifier.
    AlreadyMatching,
    /// No identity held it; it was attached to the current identity.
    Attached,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_rule_accepts_domains_and_subdomains_only() {
        let d = vec!["example.com".to_string()];
        let site = |o: &str| caller_site(Some(o), None);
        assert!(check_origin(&site("https://example.com"), &d).is_ok());
        assert!(check_origin(&site("https://WWW.Example.com:8443"), &d).is_ok());
        assert!(check_origin(&site("https://badexample.com"), &d).is_err());
        assert!(check_origin(&site("https://example.com.evil.io"), &d).is_err());
        assert!(check_origin(&site("null"), &d).is_err());
        assert!(check_origin(&CallerSite::None, &d).is_ok());
        assert_eq!(
            caller_site(None, Some("https://shop.example.com/a?b")),
            CallerSite::Host("shop.example.com".into())
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let secret = [7u8; 32];
        let c = SessionClaims::new(Uuid::nil(), Uuid::nil(), Uuid::nil(), true, None, 1000);
        let t = c.sign(&secret);
        assert_eq!(SessionClaims::verify(&t, &secret, 1001), Some(c.clone()));
        assert_eq!(
            SessionClaims::verify(&t, &secret, 1000 + SESSION_TTL_SECS),
            None
        );
        assert_eq!(SessionClaims::verify(&t, &[8u8; 32], 1001), None);
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            SessionClaims::verify(&String::from_utf8(bad).unwrap(), &secret, 1001),
            None
        );
    }

    /// A token signed with the right secret still lives at most 24 h from an `iat` that is
    /// not in the future.
    #[test]
    fn token_lifetime_is_bounded_by_iat() {
        let secret = [7u8; 32];
        let now = 1_000_000;
        let with = |iat: i64, exp: i64| {
            let c = SessionClaims {
                iat,
                exp,
                ..SessionClaims::new(Uuid::nil(), Uuid::nil(), Uuid::nil(), false, None, 0)
            };
            SessionClaims::verify(&c.sign(&secret), &secret, now).is_some()
        };
        assert!(with(now - 10, now - 10 + SESSION_TTL_SECS));
        assert!(with(now + CLOCK_SKEW_SECS, now + CLOCK_SKEW_SECS + 3600));
        assert!(!with(now + CLOCK_SKEW_SECS + 1, now + SESSION_TTL_SECS));
        assert!(!with(now + 3600, now + 10 * 365 * 86_400));
        assert!(!with(now - 10, now - 9 + SESSION_TTL_SECS));
        assert!(!with(now - 10, now + 10 * 365 * 86_400));
        assert!(!with(now, now));
        assert!(!with(i64::MIN, i64::MAX));
    }

    #[test]
    fn identify_keys() {
        let b = |t: &str, v: &str, f: Option<&str>| IdentifyBody {
            kind: t.into(),
            value: v.into(),
            format: f.map(str::to_string),
            token: None,
        };
        assert!(matches!(
            b("contextId", &"a".repeat(64), Some("hashed")).key(),
            Err(Error::Unprocessable(_))
        ));
        assert!(matches!(
            b("email", "zz", Some("hashed")).key(),
            Err(Error::BadRequest(_))
        ));
        assert_eq!(
            b("email", " Jane@Example.com ", None).key().unwrap(),
            IdentifyKey::Email {
                plain: Some("jane@example.com".into()),
                sha256: crate::auth::digest("jane@example.com")
            }
        );
    }
}

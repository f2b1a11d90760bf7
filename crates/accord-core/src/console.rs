//! The web console's sign-in rules: accounts with argon2id passwords, sessions kept in the
//! database, single-use expiring links (invitations, password resets, the owner's first
//! account) and sign-in throttling. The HTTP side lives in `accord-api`'s console module;
//! every decision is made here.
use crate::auth::{digest, generate_secret};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;
use uuid::Uuid;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A signed-in session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 12 * HOUR_MS;
/// ...and at the latest this long after sign-in, however active.
pub const SESSION_MAX_MS: i64 = 7 * DAY_MS;
/// A session's last-seen time is written at most this often (a write per page otherwise).
pub const SESSION_TOUCH_MS: i64 = 5 * MINUTE_MS;
/// Invitation links are valid this long.
pub const INVITATION_TTL_MS: i64 = 7 * DAY_MS;
/// Password-reset links are valid this long.
pub const RESET_TTL_MS: i64 = HOUR_MS;
/// The owner's first-account link is valid this long.
pub const SETUP_TTL_MS: i64 = DAY_MS;

/// Sign-in throttling: failed attempts counted over this window...
pub const THROTTLE_WINDOW_MS: i64 = 15 * MINUTE_MS;
/// ...refuse further attempts for an account after this many failures in the window...
pub const ACCOUNT_FAILURES: i64 = 5;
/// ...and from one client address after this many (several accounts tried).
pub const ADDRESS_FAILURES: i64 = 20;

/// Shortest and longest password accepted.
pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 256;

/// An account: what signs in. One per email address across the server; its memberships
/// are the Users (§7.5) of that address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub email: String,
    pub password_hash: Option<String>,
}

/// A signed-in browser. Only the digest of the cookie's secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub digest: String,
    pub account_id: Uuid,
    /// The form token of this session (CSRF): every state-changing form carries it.
    pub csrf: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

impl ConsoleSession {
    /// A new session for `account` and the secret that goes into its cookie.
    pub fn start(account: Uuid, now: i64) -> (ConsoleSession, String) {
        let secret = generate_secret("cs_");
        let csrf = generate_secret("").secret;
        (
            ConsoleSession {
                digest: secret.digest,
                account_id: account,
                csrf,
                created_at: now,
                last_seen_at: now,
                expires_at: (now + SESSION_IDLE_MS).min(now + SESSION_MAX_MS),
            },
            secret.secret,
        )
    }

    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at && now < self.created_at + SESSION_MAX_MS
    }

    /// The session seen again at `now`: `Some` with the new expiry when it is worth
    /// writing, `None` when the stored one is recent enough.
    pub fn touched(&self, now: i64) -> Option<i64> {
        (now - self.last_seen_at >= SESSION_TOUCH_MS)
            .then(|| (now + SESSION_IDLE_MS).min(self.created_at + SESSION_MAX_MS))
    }
}

/// What a single-use link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Joins an organization as an invited User and sets the account's password.
    Invitation,
    /// Sets a new password for an account.
    PasswordReset,
    /// Creates the first owner account of an organization.
    Setup,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Invitation => "invitation",
            LinkKind::PasswordReset => "password_reset",
            LinkKind::Setup => "setup",
        }
    }
    pub fn parse(s: &str) -> Option<LinkKind> {
        match s {
            "invitation" => Some(LinkKind::Invitation),
            "password_reset" => Some(LinkKind::PasswordReset),
            "setup" => Some(LinkKind::Setup),
            _ => None,
        }
    }
    pub fn ttl_ms(self) -> i64 {
        match self {
            LinkKind::Invitation => INVITATION_TTL_MS,
            LinkKind::PasswordReset => RESET_TTL_MS,
            LinkKind::Setup => SETUP_TTL_MS,
        }
    }
    /// The console path the link opens (followed by the token).
    pub fn path(self) -> &'static str {
        match self {
            LinkKind::Invitation => "/console/invitation/",
            LinkKind::PasswordReset => "/console/password-reset/",
            LinkKind::Setup => "/console/setup/",
        }
    }
}

/// A single-use link as stored: the digest of its token, what it is for and whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub digest: String,
    pub kind: LinkKind,
    pub organization_id: Option<Uuid>,
    /// The invited User (invitations).
    pub user_id: Option<Uuid>,
    /// The account whose password is reset (password resets).
    pub account_id: Option<Uuid>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub date_created: i64,
}

impl Link {
    /// A new link and its token (shown once, in the email or on the terminal).
    pub fn new(kind: LinkKind, now: i64) -> (Link, String) {
        let secret = generate_secret("");
        (
            Link {
                digest: secret.digest,
                kind,
                organization_id: None,
                user_id: None,
                account_id: None,
                expires_at: now + kind.ttl_ms(),
                used_at: None,
                date_created: now,
            },
            secret.secret,
        )
    }

    pub fn usable(&self, now: i64) -> bool {
        self.used_at.is_none() && now < self.expires_at
    }
}

/// The digest a token is stored and looked up by.
pub fn token_digest(token: &str) -> String {
    digest(token.trim())
}

/// The absolute URL of a link: the public base URL, the path and the token.
pub fn link_url(base: &str, kind: LinkKind, token: &str) -> String {
    format!("{}{}{token}", base.trim_end_matches('/'), kind.path())
}

/// The rule a new password must meet, as the form shows it.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < PASSWORD_MIN {
        return Err(format!(
            "password must be at least {PASSWORD_MIN} characters"
        ));
    }
    if n > PASSWORD_MAX {
        return Err(format!(
            "password must be at most {PASSWORD_MAX} characters"
        ));
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    // argon2id, version 19, the crate's defaults (19 MiB, 2 passes, 1 lane): OWASP's
    // recommended minimum.
    Argon2::default()
}

/// The argon2id PHC string of `password` with a fresh salt.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::thread_rng());
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches the stored PHC string. With no stored hash (an unknown
/// address, or an account that never set a password) a hash is still checked, so the
/// answer takes as long either way.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a password of anyone"));
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(phc)
        .map(|h| hasher().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    ok && real
}

/// Keys sign-in failures are counted under.
pub fn throttle_keys(email: &str, address: Option<std::net::IpAddr>) -> Vec<(String, i64)> {
    let mut keys = vec![(
        format!("account:{}", email.trim().to_lowercase()),
        ACCOUNT_FAILURES,
    )];
    if let Some(ip) = address {
        keys.push((format!("address:{ip}"), ADDRESS_FAILURES));
    }
    keys
}

/// Whether a key with `failures` counted since `window_start` refuses attempts at `now`,
/// and for how many more minutes.
pub fn throttled(failures: i64, limit: i64, window_start: i64, now: i64) -> Option<i64> {
    let ends = window_start + THROTTLE_WINDOW_MS;
    (failures >= limit && now < ends).then(|| ((ends - now) + MINUTE_MS - 1) / MINUTE_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("correct horse batterY", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert!(!verify_password("x", Some("not a phc string")));
        assert_ne!(h, hash_password("correct horse battery"), "salted");
    }

    #[test]
    fn password_rule_names_its_bounds() {
        assert_eq!(
            check_password("short").unwrap_err(),
            "password must be at least 12 characters"
        );
        assert!(check_password("twelve chars").is_ok());
        assert!(check_password(&"x".repeat(257)).is_err());
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_limit() {
        let (s, secret) = ConsoleSession::start(Uuid::nil(), 0);
        assert!(secret.starts_with("cs_"));
        assert_eq!(s.digest, digest(&secret));
        assert!(s.is_live(SESSION_IDLE_MS - 1));
        assert!(!s.is_live(SESSION_IDLE_MS));
        assert_eq!(s.touched(1000), None);
        let mut s2 = s.clone();
        s2.last_seen_at = SESSION_MAX_MS - HOUR_MS;
        s2.expires_at = SESSION_MAX_MS + HOUR_MS;
        assert!(!s2.is_live(SESSION_MAX_MS), "the absolute limit holds");
        assert_eq!(s.touched(SESSION_MAX_MS - 1), Some(SESSION_MAX_MS));
    }

    #[test]
    fn throttling_counts_per_window() {
        assert_eq!(throttled(4, 5, 0, 1), None);
        assert_eq!(throttled(5, 5, 0, 1), Some(15));
        assert_eq!(throttled(5, 5, 0, THROTTLE_WINDOW_MS), None);
        let keys = throttle_keys(" Ann@Example.com", "10.0.0.1".parse().ok());
        assert_eq!(keys[0].0, "account:ann@example.com");
        assert_eq!(keys[1].0, "address:10.0.0.1");
    }

    #[test]
    fn links_are_single_use_and_expire() {
        let (mut l, token) = Link::new(LinkKind::PasswordReset, 0);
        assert_eq!(l.digest, token_digest(&token));
        assert!(l.usable(RESET_TTL_MS - 1));
        assert!(!l.usable(RESET_TTL_MS));
        l.used_at = Some(1);
        assert!(!l.usable(2));
        assert_eq!(
            link_url("https://a.example/", LinkKind::Setup, "t"),
            "https://a.example/console/setup/t"
        );
    }
}

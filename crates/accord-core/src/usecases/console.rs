//! The web console's account actions: inviting a User, signing in (throttled), redeeming
//! single-use links (invitation, password reset, the owner's first account) and asking
//! for a password reset. The console's pages and the Privacy API's user creation both come
//! here.
use super::compliance_requests::Outbox;
use crate::auth::Role;
use crate::console::{
    self, hash_password, throttle_keys, throttled, verify_password, ConsoleSession, Link, LinkKind,
    THROTTLE_WINDOW_MS,
};
use crate::lifecycle::{console_message, MessageKind};
use crate::store::{Organization, Redeem, Store};
use crate::users::User;
use crate::{Error, Result};
use serde_json::json;
use std::net::IpAddr;
use uuid::Uuid;

/// Stores a new User with its invitation link, and queues the invitation email.
pub async fn invite(
    store: &dyn Store,
    outbox: &dyn Outbox,
    org: &Organization,
    user: &User,
    now: i64,
) -> Result<User> {
    let (mut link, token) = Link::new(LinkKind::Invitation, now);
    link.organization_id = Some(org.id);
    let message = console_message(
        org.id,
        MessageKind::Invitation,
        user.email.clone(),
        json!({"token": token, "organizationName": org.name}),
        now,
    );
    let user = store.create_user(user, Some((&link, &message))).await?;
    outbox.wake();
    Ok(user)
}

/// Why a sign-in was refused. The messages never tell whether an address has an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Wrong address or password.
    Credentials,
    /// Too many failures for the account or from the address: minutes to wait.
    Throttled(i64),
    /// Every membership of the account is disabled.
    Disabled,
}

impl Refused {
    pub fn message(&self) -> String {
        match self {
            Refused::Credentials => "The email address or the password is not right.".into(),
            Refused::Throttled(m) => format!(
                "Too many failed sign-ins. Try again in {m} minute{}.",
                if *m == 1 { "" } else { "s" }
            ),
            Refused::Disabled => "This account is disabled in every organization.".into(),
        }
    }
}

/// Checks a password and starts a session: the session and its cookie secret, or why not.
/// Failures count against the account and the client address; a success clears the
/// account's count.
pub async fn sign_in(
    store: &dyn Store,
    email: &str,
    password: &str,
    address: Option<IpAddr>,
    now: i64,
) -> Result<std::result::Result<(ConsoleSession, String), Refused>> {
    let keys = throttle_keys(email, address);
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    let counts = store.sign_in_failures(&names).await?;
    if let Some(wait) = keys
        .iter()
        .zip(&counts)
        .filter_map(|((_, limit), (n, start))| throttled(*n, *limit, *start, now))
        .max()
    {
        return Ok(Err(Refused::Throttled(wait)));
    }
    let account = store.account_by_email(email).await?;
    let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let ok = check_blocking(password.to_string(), stored.map(str::to_string)).await;
    let account = match (ok, account) {
        (true, Some(a)) => a,
        _ => {
            store
                .record_sign_in_failure(&names, now, THROTTLE_WINDOW_MS)
                .await?;
            return Ok(Err(Refused::Credentials));
        }
    };
    let users = store.account_users(account.id).await?;
    if !users.iter().any(|u| u.status != "disabled") {
        return Ok(Err(Refused::Disabled));
    }
    store.clear_sign_in_failures(&names[0]).await?;
    let (session, secret) = ConsoleSession::start(account.id, now);
    store.create_console_session(&session).await?;
    Ok(Ok((session, secret)))
}

/// The password check on a blocking thread: ~20 ms of CPU must not stall the runtime.
async fn check_blocking(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, stored.as_deref()))
        .await
        .unwrap_or(false)
}

/// A link that can still be redeemed, looked up by its token.
pub async fn usable_link(store: &dyn Store, token: &str, kind: LinkKind, now: i64) -> Result<Link> {
    match store.link(&console::token_digest(token)).await? {
        Some(l) if l.kind == kind && l.usable(now) => Ok(l),
        Some(l) if l.kind == kind && l.used_at.is_some() => Err(Error::Unprocessable(
            "This link has already been used.".into(),
        )),
        Some(l) if l.kind == kind => Err(Error::Unprocessable("This link has expired.".into())),
        _ => Err(Error::NotFound("This link is not valid.".into())),
    }
}

/// Sets the password of an invitation's or a reset's account and signs it in.
pub async fn set_password(
    store: &dyn Store,
    token: &str,
    kind: LinkKind,
    password: &str,
    now: i64,
) -> Result<(ConsoleSession, String)> {
    usable_link(store, token, kind, now).await?;
    console::check_password(password).map_err(Error::Unprocessable)?;
    let hash = hash_blocking(password).await?;
    let account = store
        .redeem_link(&console::token_digest(token), now, Redeem::Password(hash))
        .await?
        .ok_or_else(|| Error::Unprocessable("This link has already been used.".into()))?;
    start(store, account, now).await
}

/// Creates the organization's first owner from a setup link. An address that already has
/// a password must give it.
pub async fn set_up_owner(
    store: &dyn Store,
    token: &str,
    email: &str,
    name: Option<String>,
    password: &str,
    now: i64,
) -> Result<(ConsoleSession, String)> {
    let link = usable_link(store, token, LinkKind::Setup, now).await?;
    let org = link
        .organization_id
        .ok_or_else(|| Error::internal("a setup link without an organization"))?;
    let email = email.trim();
    if !crate::schema::is_email(email) || email.len() > 256 {
        return Err(Error::Unprocessable(
            "email must be an email address of at most 256 characters".into(),
        ));
    }
    if let Some(existing) = store.account_by_email(email).await? {
        if let Some(hash) = existing.password_hash {
            let ok = check_blocking(password.to_string(), Some(hash)).await;
            if !ok {
                return Err(Error::Unprocessable(
                    "This address already has an Accord account: give its password.".into(),
                ));
            }
        }
    }
    console::check_password(password).map_err(Error::Unprocessable)?;
    let hash = hash_blocking(password).await?;
    let user = User {
        id: crate::ids::new_id(),
        organization_id: org,
        account_id: Uuid::nil(),
        email: email.to_string(),
        status: "active".into(),
        name,
        notes: None,
        role: Role::Owner,
        permissions: vec![],
        profile: Default::default(),
        invite_date: now,
        date_created: now,
        date_updated: now,
    };
    let account = store
        .redeem_link(&link.digest, now, Redeem::Setup(Box::new(user), hash))
        .await?
        .ok_or_else(|| Error::Unprocessable("This link has already been used.".into()))?;
    start(store, account, now).await
}

/// Queues a password-reset email when the address has an account with a membership that
/// is not disabled; says nothing either way.
pub async fn request_password_reset(
    store: &dyn Store,
    outbox: &dyn Outbox,
    email: &str,
    now: i64,
) -> Result<()> {
    let Some(account) = store.account_by_email(email).await? else {
        return Ok(());
    };
    let users = store.account_users(account.id).await?;
    let Some(member) = users.iter().find(|u| u.status != "disabled") else {
        return Ok(());
    };
    let (mut link, token) = Link::new(LinkKind::PasswordReset, now);
    link.account_id = Some(account.id);
    let message = console_message(
        member.organization_id,
        MessageKind::PasswordReset,
        account.email.clone(),
        json!({"token": token}),
        now,
    );
    store.create_link(&link, Some(&message)).await?;
    outbox.wake();
    Ok(())
}

/// A setup link for the first owner account of `org`: its token, shown once.
pub async fn setup_link(store: &dyn Store, org: Uuid, now: i64) -> Result<String> {
    let (mut link, token) = Link::new(LinkKind::Setup, now);
    link.organization_id = Some(org);
    store.create_link(&link, None).await?;
    Ok(token)
}

async fn start(store: &dyn Store, account: Uuid, now: i64) -> Result<(ConsoleSession, String)> {
    let (session, secret) = ConsoleSession::start(account, now);
    store.create_console_session(&session).await?;
    Ok((session, secret))
}

async fn hash_blocking(password: &str) -> Result<String> {
    let p = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&p))
        .await
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

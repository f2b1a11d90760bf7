//! Filing, changing and verifying compliance requests (§3.3, §3.6, §3.7, §5.3), the one path
//! of the Privacy API, the Site API and the background jobs. The store gives atomic
//! load-lock-write primitives; what is created, what changes, which events are written and
//! which messages go out is decided here.
use crate::compliance::{
    self, Actor, ComplianceRequest, CreateComplianceRequest, NewRequestContext, SessionInfo,
};
use crate::consent::Identifiers;
use crate::lifecycle::{self, CodeRejection};
use crate::notifications;
use crate::store::{ChallengeKey, Change, NewRequest, Project, Store, Verification};
use crate::{Error, Result};
use uuid::Uuid;

/// Wakes the delivery of outgoing messages once a change that queued some has committed.
pub trait Outbox: Send + Sync {
    fn wake(&self);
}

/// Where a request comes from.
pub enum Origin {
    /// The Privacy API, for an API key; each input names its person (§3.5).
    ApiKey(Uuid),
    /// A site session (§5.3): the person is the session's identity, only their email may
    /// be added to it, and the request carries the session.
    Session(SessionInfo),
}

/// Creates all of `inputs` or none (§3.3): identities resolved, one task per active data
/// system, creation events, and a verification challenge with its message for each request
/// that is not preverified (§3.6).
pub async fn create(
    store: &dyn Store,
    outbox: &dyn Outbox,
    project: &Project,
    inputs: Vec<CreateComplianceRequest>,
    origin: Origin,
) -> Result<Vec<ComplianceRequest>> {
    if !project.is_active() {
        return Err(Error::unprocessable("project is archived"));
    }
    let (actor, source, session) = match origin {
        Origin::ApiKey(key) => (
            Actor {
                account_id: Some(key),
            },
            "privacy-v1",
            None,
        ),
        Origin::Session(info) => (Actor { account_id: None }, "site-v1", Some(info)),
    };
    let identities = inputs
        .iter()
        .map(|input| {
            let all = Identifiers::of_request(input);
            if session.is_some() {
                Identifiers {
                    concord_id: all.concord_id,
                    email: all.email,
                    ..Default::default()
                }
            } else {
                all
            }
        })
        .collect();
    let now = crate::time::now_ms();
    let team = notifications::team(store, project).await?;
    let project_id = project.id;
    let organization_id = project.organization_id;
    let regulation = project.regulation();
    let created = store
        .create_compliance_requests(
            project,
            identities,
            actor,
            now,
            Box::new(move |facts| {
                Ok(inputs
                    .iter()
                    .zip(facts.concord_ids)
                    .map(|(input, concord_id)| {
                        let ctx = NewRequestContext {
                            organization_id,
                            project_id,
                            concord_id,
                            tasks: facts.data_systems.clone(),
                            regulation: regulation.clone(),
                            now,
                            source,
                            session: session.clone(),
                        };
                        let (mut request, events) = compliance::new_request(input, &ctx);
                        let started = lifecycle::start_verification(&mut request, now);
                        let (challenge, mut messages) = match started {
                            Some(s) => (Some(s.challenge), vec![s.message]),
                            None => (None, vec![]),
                        };
                        // Filed preverified: a new verified request for the team.
                        if request.status == compliance::SUBMITTED {
                            messages
                                .extend(notifications::new_request_messages(&request, &team, now));
                        }
                        NewRequest {
                            request,
                            events,
                            challenge,
                            messages,
                        }
                    })
                    .collect())
            }),
        )
        .await?;
    if created
        .iter()
        .any(|c| c.verification_request_id.is_some() || c.status == compliance::SUBMITTED)
    {
        outbox.wake();
    }
    Ok(created)
}

/// Applies `f` to the locked request and writes it with the events `f` returns; a request
/// that becomes `resolved` sends its resolution notice (§9.6). `Ok(None)` when the request
/// does not exist.
pub async fn update<F>(
    store: &dyn Store,
    outbox: &dyn Outbox,
    (org, project, id): (Uuid, Uuid, Uuid),
    actor: Actor,
    f: F,
) -> Result<Option<ComplianceRequest>>
where
    F: FnOnce(&mut ComplianceRequest) -> Result<Vec<compliance::NewEvent>> + Send + 'static,
{
    // Only a request in verification can become a new verified request: then the team's
    // addresses are read first, so that their emails are written with the change.
    let Some(current) = store.get_compliance_request(org, project, id).await? else {
        return Ok(None);
    };
    let team = if current.status == compliance::PENDING {
        notifications::team_of(store, org, project)
            .await?
            .map(|(_, to)| to)
            .unwrap_or_default()
    } else {
        vec![]
    };
    let updated = store
        .update_compliance_request(
            org,
            project,
            id,
            actor,
            Box::new(move |cr| {
                let was = cr.status.clone();
                let events = f(cr)?;
                let now = crate::time::now_ms();
                let mut messages =
                    if was != compliance::RESOLVED && cr.status == compliance::RESOLVED {
                        lifecycle::resolution_message(cr, now).into_iter().collect()
                    } else {
                        vec![]
                    };
                if notifications::became_verified(&was, cr) {
                    messages.extend(notifications::new_request_messages(cr, &team, now));
                }
                Ok(Change { events, messages })
            }),
        )
        .await?;
    if updated.as_ref().is_some_and(|cr| {
        cr.status == compliance::RESOLVED
            || (current.status == compliance::PENDING && cr.status == compliance::SUBMITTED)
    }) {
        outbox.wake();
    }
    Ok(updated)
}

/// Verifies a request by the code its subject received (§3.6, §5.3). A wrong code counts
/// as an attempt; 422 names why a code was refused. `Ok(None)` when the request is not in
/// the project.
pub async fn verify_by_code(
    store: &dyn Store,
    project: Uuid,
    id: Uuid,
    code: String,
) -> Result<Option<ComplianceRequest>> {
    let now = crate::time::now_ms();
    let team = team_of_site_project(store, project).await?;
    let outcome = store
        .verify_compliance_request(
            project,
            ChallengeKey::Request(id),
            now,
            Box::new(
                move |cr, challenge| match lifecycle::check_code(cr, challenge, &code, now) {
                    Ok(()) => {
                        let method = challenge.map(|c| c.method.clone()).unwrap_or_default();
                        let events = lifecycle::mark_verified(cr, &method, now);
                        let messages = notifications::new_request_messages(cr, &team, now);
                        Verification::Verified(events, messages)
                    }
                    Err(reason) => Verification::Refused {
                        reason,
                        count_attempt: reason == CodeRejection::Invalid,
                    },
                },
            ),
        )
        .await?;
    match outcome {
        None => Ok(None),
        Some((cr, Verification::Verified(..))) => Ok(Some(cr)),
        Some((_, Verification::Refused { reason, .. })) => {
            Err(Error::unprocessable(reason.message()))
        }
    }
}

/// Verifies a request by the link its subject received (§5.3). True when the link
/// verified its request now; an unknown, used or expired link is false.
pub async fn verify_by_link(store: &dyn Store, project: Uuid, token: &str) -> Result<bool> {
    let now = crate::time::now_ms();
    let team = team_of_site_project(store, project).await?;
    let outcome = store
        .verify_compliance_request(
            project,
            ChallengeKey::TokenDigest(crate::auth::digest(token)),
            now,
            Box::new(move |cr, challenge| match challenge {
                Some(c) if lifecycle::link_usable(cr, c, now) => {
                    let events = lifecycle::mark_verified(cr, &c.method, now);
                    let messages = notifications::new_request_messages(cr, &team, now);
                    Verification::Verified(events, messages)
                }
                _ => Verification::Refused {
                    reason: CodeRejection::Expired,
                    count_attempt: false,
                },
            }),
        )
        .await?;
    Ok(matches!(outcome, Some((_, Verification::Verified(..)))))
}

/// Who hears about the requests of `project` (a site's project, read from the cache).
async fn team_of_site_project(store: &dyn Store, project: Uuid) -> Result<Vec<String>> {
    match store.site_project(project).await? {
        Some(p) => notifications::team(store, &p).await,
        None => Ok(vec![]),
    }
}

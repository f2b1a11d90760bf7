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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    // Only a request filed preverified is new and verified at once: the team's addresses
    // are read for it alone, so the common filing reads nothing more.
    let team = if inputs.iter().any(|i| i.preverified == Some(true)) {
        notifications::team(store, project).await?
    } else {
        vec![]
    };
    let team_told = !team.is_empty();
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
                let mut created: Vec<NewRequest> = inputs
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
                        let (challenge, messages) = match started {
                            Some(s) => (Some(s.challenge), vec![s.message]),
                            None => (None, vec![]),
                        };
                        NewRequest {
                            request,
                            events,
                            challenge,
                            messages,
                        }
                    })
                    .collect();
                // Filed preverified: new verified requests for the team, one email per
                // address for all of them, written with the first.
                let verified: Vec<&ComplianceRequest> = created
                    .iter()
                    .map(|n| &n.request)
                    .filter(|r| r.status == compliance::SUBMITTED)
                    .collect();
                let told = notifications::new_requests_messages(&verified, &team, now);
                if let Some(first) = created
                    .iter_mut()
                    .find(|n| n.request.status == compliance::SUBMITTED)
                {
                    first.messages.extend(told);
                }
                Ok(created)
            }),
        )
        .await?;
    // Mail was queued: a verification message, or the team's emails of a request filed
    // verified. Without either the sender is not woken for nothing.
    if created.iter().any(|c| {
        c.verification_request_id.is_some() || (team_told && c.status == compliance::SUBMITTED)
    }) {
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
    // Only a request in verification can become a new verified request, and only then are
    // the team's addresses needed: the change itself finds out, from the locked row. It then
    // stops before applying `f`, the addresses are read, and the change runs again with them,
    // so that their emails are written with the change.
    let f = Arc::new(Mutex::new(Some(f)));
    let mut team: Option<Vec<String>> = None;
    loop {
        let needs_team = Arc::new(AtomicBool::new(false));
        let (f_slot, needs, known) = (f.clone(), needs_team.clone(), team.clone());
        let result = store
            .update_compliance_request(
                org,
                project,
                id,
                actor,
                Box::new(move |cr| {
                    if cr.status == compliance::PENDING && known.is_none() {
                        needs.store(true, Ordering::SeqCst);
                        return Err(Error::Internal("the team's addresses are needed".into()));
                    }
                    let f = f_slot
                        .lock()
                        .map_err(|_| Error::Internal("poisoned".into()))?
                        .take()
                        .ok_or_else(|| Error::Internal("change applied twice".into()))?;
                    let was = cr.status.clone();
                    let events = f(cr)?;
                    let now = crate::time::now_ms();
                    let mut messages =
                        if was != compliance::RESOLVED && cr.status == compliance::RESOLVED {
                            lifecycle::resolution_message(cr, now).into_iter().collect()
                        } else {
                            vec![]
                        };
                    let verified = notifications::became_verified(&was, cr);
                    if verified {
                        let team = known.unwrap_or_default();
                        messages.extend(notifications::new_request_messages(cr, &team, now));
                    }
                    Ok(Change { events, messages })
                }),
            )
            .await;
        if needs_team.load(Ordering::SeqCst) {
            team = Some(
                notifications::team_of(store, org, project)
                    .await?
                    .map(|(_, to)| to)
                    .unwrap_or_default(),
            );
            continue;
        }
        let updated = result?;
        // Mail was queued: a resolution notice, or the team's emails of a request verified.
        if updated.as_ref().is_some_and(|cr| {
            cr.status == compliance::RESOLVED
                || (team.is_some() && cr.status == compliance::SUBMITTED)
        }) {
            outbox.wake();
        }
        return Ok(updated);
    }
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
    let outcome = verify(
        store,
        project,
        ChallengeKey::Request(id),
        move |cr, challenge, now| match lifecycle::check_code(cr, challenge, &code, now) {
            Ok(()) => Ok(challenge.map(|c| c.method.clone()).unwrap_or_default()),
            Err(reason) => Err(Verification::Refused {
                reason,
                count_attempt: reason == CodeRejection::Invalid,
            }),
        },
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
    let key = ChallengeKey::TokenDigest(crate::auth::digest(token));
    let outcome = verify(store, project, key, |cr, challenge, now| match challenge {
        Some(c) if lifecycle::link_usable(cr, c, now) => Ok(c.method.clone()),
        _ => Err(Verification::Refused {
            reason: CodeRejection::Expired,
            count_attempt: false,
        }),
    })
    .await?;
    Ok(matches!(outcome, Some((_, Verification::Verified(..)))))
}

/// Verifies the request of `key` when `check` accepts it (giving the verification method)
/// and tells the team. The team's addresses are read only once a check succeeded: that
/// attempt stops without writing anything, and the verification runs again with them, so
/// that their emails are written with it.
async fn verify<C>(
    store: &dyn Store,
    project: Uuid,
    key: ChallengeKey,
    check: C,
) -> Result<Option<(ComplianceRequest, Verification)>>
where
    C: Fn(
            &ComplianceRequest,
            Option<&lifecycle::Challenge>,
            i64,
        ) -> std::result::Result<String, Verification>
        + Clone
        + Send
        + 'static,
{
    let mut team: Option<Vec<String>> = None;
    loop {
        let now = crate::time::now_ms();
        let needs_team = Arc::new(AtomicBool::new(false));
        let (needs, known, check) = (needs_team.clone(), team.clone(), check.clone());
        let outcome = store
            .verify_compliance_request(
                project,
                key.clone(),
                now,
                Box::new(move |cr, challenge| match check(cr, challenge, now) {
                    Ok(method) => match known {
                        Some(team) => {
                            let events = lifecycle::mark_verified(cr, &method, now);
                            let messages = notifications::new_request_messages(cr, &team, now);
                            Verification::Verified(events, messages)
                        }
                        None => {
                            needs.store(true, Ordering::SeqCst);
                            Verification::Refused {
                                reason: CodeRejection::Expired,
                                count_attempt: false,
                            }
                        }
                    },
                    Err(refused) => refused,
                }),
            )
            .await?;
        if !needs_team.load(Ordering::SeqCst) {
            return Ok(outcome);
        }
        team = Some(team_of_site_project(store, project).await?);
    }
}

/// Who hears about the requests of `project` (a site's project, read from the cache).
async fn team_of_site_project(store: &dyn Store, project: Uuid) -> Result<Vec<String>> {
    match store.site_project(project).await? {
        Some(p) => notifications::team(store, &p).await,
        None => Ok(vec![]),
    }
}

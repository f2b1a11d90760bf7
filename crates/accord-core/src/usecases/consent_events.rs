//! Creating consent events (§4.3, §5.4), the one path of both APIs: the project must be
//! active, every item is checked against the project's consent types (rules 1–5 of §4.3),
//! the identities are resolved (Privacy API, §3.5) or are the session's (Site API), and
//! the events are appended through an [`EventSink`], answered only once committed. An
//! identity the request creates is committed with its events, never apart from them.
use crate::compliance::SessionInfo;
use crate::consent::{
    self, Api, ConsentEvent, ConsentEventInput, EventContext, Identifiers, NewEvents,
    PendingIdentities,
};
use crate::store::{Project, Store};
use crate::time::now_ms;
use crate::{Error, Result};
use uuid::Uuid;

/// Where created events are appended: the serving process's group-commit writer.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync {
    /// Appends the events of one request, with the identities they create, and returns
    /// the events once their batch has committed; nothing of them is stored when it fails.
    /// Once accepted they are written even if the caller stops waiting.
    async fn append(&self, events: NewEvents) -> Result<Vec<ConsentEvent>>;
}

/// Who records the events.
pub enum Recorder {
    /// An API key of the Privacy API; each item names its person (§3.5).
    ApiKey(Uuid),
    /// A site session, acting for its identity (§5.4).
    Session { concord_id: Uuid, info: SessionInfo },
}

/// Creates the events of one request, all or none.
pub async fn create(
    store: &dyn Store,
    sink: &dyn EventSink,
    project: &Project,
    inputs: Vec<ConsentEventInput>,
    recorder: Recorder,
) -> Result<Vec<ConsentEvent>> {
    if !project.is_active() {
        return Err(Error::unprocessable("project is archived"));
    }
    let types = store
        .project_consent_types(project.organization_id, project.id)
        .await?;
    let (api, ctx) = match recorder {
        Recorder::ApiKey(key) => (
            Api::Privacy,
            EventContext {
                organization_id: project.organization_id,
                project_id: project.id,
                concord_id: Uuid::nil(),
                submitter: Some(key),
                session: None,
                now: now_ms(),
            },
        ),
        Recorder::Session { concord_id, info } => (
            Api::Site,
            EventContext {
                organization_id: project.organization_id,
                project_id: project.id,
                concord_id,
                submitter: None,
                session: Some(info),
                now: now_ms(),
            },
        ),
    };
    let mut events = inputs
        .iter()
        .map(|input| {
            let ty = consent::find_type(&types, &input.type_ref());
            consent::build_event(input, ty, api, &ctx)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut identities = None;
    if api == Api::Privacy {
        match store.find_event_identities(project, &inputs).await? {
            Some(found) => {
                for (event, id) in events.iter_mut().zip(found) {
                    event.concord_id = id;
                }
            }
            None => {
                identities = Some(PendingIdentities {
                    project: project.clone(),
                    items: inputs.iter().map(Identifiers::of_event).collect(),
                })
            }
        }
    }
    sink.append(NewEvents { events, identities }).await
}

//! Group commit of consent events (DESIGN principle 4): a bounded channel feeds ONE writer
//! task that takes the first job, drains whatever else is queued, appends every event of
//! the batch in one transaction with multi-row INSERTs, and only then answers each job.
//! The identities a request creates are written in that transaction too, before its
//! events, so that none is ever committed without them.
//! Nothing is acknowledged before its commit; a full queue is refused at once
//! ([`Error::Unavailable`], answered 503 with `Retry-After`), never waited on.
use accord_core::consent::{ConsentEvent, NewEvents};
use accord_core::store::Store;
use accord_core::usecases::consent_events::EventSink;
use accord_core::{Error, Result};
use std::sync::Arc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Jobs (requests) the queue holds before refusing.
pub const DEFAULT_CAPACITY: usize = 4096;
/// Events the writer gathers into one transaction at most (a single larger job is
/// written alone).
pub const MAX_BATCH_EVENTS: usize = 5000;
/// Times the writer lets other tasks run to fill a batch before committing it.
const YIELD_ROUNDS: usize = 8;
/// Message of the 503 of a full queue.
pub const BUSY: &str = "Too many consent events in flight, retry later";

/// The events of one request and where to answer it.
struct Job {
    events: NewEvents,
    reply: oneshot::Sender<Result<Vec<ConsentEvent>>>,
}

/// Handle on the writer; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

/// The queue of an [`Ingest`] whose writer has not started yet (tests fill it up).
pub struct Paused {
    rx: mpsc::Receiver<Job>,
}

impl Ingest {
    /// A queue of `capacity` jobs and its writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, capacity: usize) -> Ingest {
        let (ingest, paused) = Ingest::paused(capacity);
        paused.resume(store);
        ingest
    }

    /// A queue without its writer: jobs wait until [`Paused::resume`].
    pub fn paused(capacity: usize) -> (Ingest, Paused) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Ingest { tx }, Paused { rx })
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Appends `events`, returning them once they are committed. A full queue gives
    /// [`Error::Unavailable`] at once and nothing is stored.
    pub async fn submit(&self, events: NewEvents) -> Result<Vec<ConsentEvent>> {
        if events.events.is_empty() {
            return Ok(events.events);
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job { events, reply })
            .map_err(|e| match e {
                TrySendError::Full(_) => Error::Unavailable(BUSY.into()),
                TrySendError::Closed(_) => Error::internal("the consent-event writer stopped"),
            })?;
        answer
            .await
            .map_err(|_| Error::internal("the consent-event writer dropped a batch"))?
    }
}

impl Paused {
    /// Starts the writer task.
    pub fn resume(self, store: Arc<dyn Store>) -> JoinHandle<()> {
        tokio::spawn(run(store, self.rx, MAX_BATCH_EVENTS))
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Job>, max_events: usize) {
    while let Some(first) = rx.recv().await {
        let mut total = first.events.events.len();
        let mut jobs = vec![first];
        // Every commit rewrites the index pages it touched, whatever its size: before
        // committing, let the requests already being handled reach the queue (other ready
        // tasks run first), as long as that brings more.
        let mut rounds = 0;
        while total < max_events {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.events.events.len();
                    jobs.push(job);
                }
                Err(_) if rounds < YIELD_ROUNDS => {
                    rounds += 1;
                    tokio::task::yield_now().await;
                    if rx.is_empty() && rounds >= 2 {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        crate::metrics::record_batch(total);
        write_batch(store.as_ref(), jobs).await;
    }
}

/// One transaction for the whole batch. When it fails and holds several jobs, each job is
/// retried alone so that one request's failure (a type deleted meanwhile) is not another's.
async fn write_batch(store: &dyn Store, jobs: Vec<Job>) {
    let (mut requests, replies): (Vec<NewEvents>, Vec<_>) =
        jobs.into_iter().map(|job| (job.events, job.reply)).unzip();
    match store.append_consent_events(&mut requests).await {
        Err(e) if requests.len() > 1 => {
            tracing::warn!(error = %e, jobs = replies.len(), "consent batch failed, retrying each request");
            for (mut request, reply) in requests.into_iter().zip(replies) {
                let result = store
                    .append_consent_events(std::slice::from_mut(&mut request))
                    .await;
                let _ = reply.send(result.map(|()| request.events).map_err(Error::from));
            }
        }
        Err(e) => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e.into()));
            }
        }
        Ok(()) => {
            for (request, reply) in requests.into_iter().zip(replies) {
                let _ = reply.send(Ok(request.events));
            }
        }
    }
}

#[async_trait::async_trait]
impl EventSink for Ingest {
    async fn append(&self, events: NewEvents) -> Result<Vec<ConsentEvent>> {
        self.submit(events).await
    }
}

//! Group commit of consent events (DESIGN principle 4): a bounded channel feeds ONE writer
//! task that takes the first job, drains whatever else is queued, appends every event of
//! the batch in one transaction with multi-row INSERTs, and only then answers each job.
//! Nothing is acknowledged before its commit; a full queue is refused at once
//! ([`Error::Unavailable`], answered 503 with `Retry-After`), never waited on.
use accord_core::consent::ConsentEvent;
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
    events: Vec<ConsentEvent>,
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
    pub async fn submit(&self, events: Vec<ConsentEvent>) -> Result<Vec<ConsentEvent>> {
        if events.is_empty() {
            return Ok(events);
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
        let mut total = first.events.len();
        let mut jobs = vec![first];
        // Every commit rewrites the index pages it touched, whatever its size: before
        // committing, let the requests already being handled reach the queue (other ready
        // tasks run first), as long as that brings more.
        let mut rounds = 0;
        while total < max_events {
            match rx.try_recv() {
                Ok(job) => {
                    total += job.events.len();
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
        write_batch(store.as_ref(), jobs, total).await;
    }
}

/// One transaction for the whole batch. When it fails and holds several jobs, each job is
/// retried alone so that one request's failure (a type deleted meanwhile) is not another's.
async fn write_batch(store: &dyn Store, mut jobs: Vec<Job>, total: usize) {
    if jobs.len() == 1 {
        let job = jobs.pop().expect("one job");
        let result = store.insert_consent_events(&job.events).await;
        let _ = job
            .reply
            .send(result.map(|()| job.events).map_err(Error::from));
        return;
    }
    let mut all = Vec::with_capacity(total);
    let mut replies = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        replies.push((job.reply, job.events.len()));
        all.append(&mut job.events);
    }
    match store.insert_consent_events(&all).await {
        Ok(()) => {
            let mut rest = all.into_iter();
            for (reply, len) in replies {
                let _ = reply.send(Ok(rest.by_ref().take(len).collect()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = replies.len(), "consent batch failed, retrying each request");
            let mut rest = all.into_iter();
            for (reply, len) in replies {
                let events: Vec<ConsentEvent> = rest.by_ref().take(len).collect();
                let result = store.insert_consent_events(&events).await;
                let _ = reply.send(result.map(|()| events).map_err(Error::from));
            }
        }
    }
}

#[async_trait::async_trait]
impl EventSink for Ingest {
    async fn append(&self, events: Vec<ConsentEvent>) -> Result<Vec<ConsentEvent>> {
        self.submit(events).await
    }
}

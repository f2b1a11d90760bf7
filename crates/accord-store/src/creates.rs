//! Group commit of compliance-request creates on SQLite. SQLite has one writer connection,
//! so creates queue for it anyway; instead of one transaction each, ONE writer task takes
//! the first queued create, gathers whatever else is queued, and writes them all in one
//! transaction, each inside a savepoint of its own. A create that fails is rolled back to
//! its savepoint alone and answers its error; the others are committed together, and only
//! then is any create answered. Each create stays all-or-nothing (§3.3) and nothing is
//! acknowledged before its commit; what is shared is the commit, and with it the WAL pages
//! (table and index leaves, counter rows, the trigram index's segment) that consecutive
//! creates would each write again.
//!
//! PostgreSQL has a pool of writers and row locks; its creates keep a transaction each.
use super::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Creates one transaction holds at most…
const MAX_BATCH: usize = 64;
/// …and requests (an array create files several): a batch stops growing at this many.
const MAX_BATCH_REQUESTS: usize = 1000;
/// Times the writer lets other tasks run to fill a batch before writing it.
const YIELD_ROUNDS: usize = 4;
/// Creates the queue holds; a create waits for room beyond that.
const CAPACITY: usize = 1024;

/// The arguments of one call of `create_compliance_requests`.
pub(crate) struct CreateCall {
    pub project: Project,
    pub identities: Vec<accord_core::consent::Identifiers>,
    pub actor: Actor,
    pub now: i64,
    pub plan: PlanFn,
}

/// The active data systems of each project (by id) as read in one transaction.
pub(crate) type ActiveSystems = std::collections::HashMap<Uuid, Vec<Uuid>>;

/// A create queued for the writer, and where to answer it.
struct CreateJob {
    call: CreateCall,
    reply: oneshot::Sender<Result<Vec<ComplianceRequest>>>,
}

/// The queue to the writer task, started by the first create (on that caller's runtime).
#[derive(Clone, Default)]
pub(crate) struct CreateQueue {
    tx: Arc<OnceLock<mpsc::Sender<CreateJob>>>,
    /// Batches committed, and the creates written in them.
    written: Arc<(AtomicU64, AtomicU64)>,
}

impl SqlStore {
    /// On SQLite, the batches of creates committed so far and the creates written in them.
    pub fn create_batches(&self) -> (u64, u64) {
        let (batches, creates) = &*self.creates.written;
        (
            batches.load(Ordering::Relaxed),
            creates.load(Ordering::Relaxed),
        )
    }

    /// Hands the create to the writer task and waits for its answer, given after commit.
    pub(crate) async fn create_grouped(&self, call: CreateCall) -> Result<Vec<ComplianceRequest>> {
        let sender = self.creates.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CAPACITY);
            // The task's own handle on the store has no queue: the writer is not kept
            // alive by itself, and ends when the last store handle is dropped.
            let mut writer = self.clone();
            writer.creates = CreateQueue {
                tx: Arc::default(),
                written: self.creates.written.clone(),
            };
            tokio::spawn(writer.write_creates(rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        sender
            .send(CreateJob { call, reply })
            .await
            .map_err(|_| StoreError::backend("the compliance-request writer stopped"))?;
        answer
            .await
            .map_err(|_| StoreError::backend("the compliance-request writer dropped a create"))?
    }

    /// The writer task: one transaction per batch of queued creates.
    async fn write_creates(self, mut rx: mpsc::Receiver<CreateJob>) {
        while let Some(first) = rx.recv().await {
            let mut requests = first.call.identities.len();
            let mut jobs = vec![first];
            let full = |jobs: &Vec<CreateJob>, requests| {
                jobs.len() >= MAX_BATCH || requests >= MAX_BATCH_REQUESTS
            };
            for _ in 0..YIELD_ROUNDS {
                while !full(&jobs, requests) {
                    match rx.try_recv() {
                        Ok(j) => {
                            requests += j.call.identities.len();
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                if full(&jobs, requests) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            // A batch runs as a task of its own: should it panic, its transaction is rolled
            // back, its creates answer that the writer dropped them, and the writer goes on.
            let _ = tokio::spawn(self.clone().write_batch(jobs)).await;
        }
    }

    /// Writes `jobs` in one transaction, a savepoint each, and answers every one of them.
    async fn write_batch(self, jobs: Vec<CreateJob>) {
        let mut tx = match self.db.begin_write().await {
            Ok(tx) => tx,
            Err(e) => {
                let msg = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(StoreError::backend(&msg)));
                }
                return;
            }
        };
        let mut answers = Vec::with_capacity(jobs.len());
        // Set when the transaction itself is gone (a create's savepoint could not be
        // started or rolled back to): nothing of the batch is written then, and every
        // create says so.
        let mut broken: Option<String> = None;
        // No data system changes while this transaction holds the writer, so the creates
        // of the batch share one read of each project's.
        let mut systems = ActiveSystems::default();
        // Whether the savepoint of the last create written is still open: it is released
        // by the statement that starts the next create, or by the commit (one round trip
        // to the driver per create fewer).
        let mut open = false;
        for j in jobs {
            if broken.is_some() {
                answers.push((j.reply, None));
                continue;
            }
            // Its caller has gone (the client hung up before it was written): not written,
            // as a transaction of its own would have been rolled back.
            if j.reply.is_closed() {
                continue;
            }
            let start = if open {
                "RELEASE create_request; SAVEPOINT create_request"
            } else {
                "SAVEPOINT create_request"
            };
            // Should the statement fail, which savepoint is open is unknown: nothing of the
            // batch is written.
            if let Err(e) = savepoint(&mut tx, start).await {
                broken = Some(e.to_string());
                answers.push((j.reply, None));
                continue;
            }
            let result = self.create_requests_in(&mut tx, j.call, &mut systems).await;
            open = result.is_ok();
            if result.is_err() {
                let undone = savepoint(
                    &mut tx,
                    "ROLLBACK TO create_request; RELEASE create_request",
                )
                .await;
                if let Err(e) = undone {
                    broken = Some(e.to_string());
                }
            }
            answers.push((j.reply, Some(result)));
        }
        let failed = match broken {
            Some(msg) => {
                let _ = tx.rollback().await;
                Some(msg)
            }
            None => tx.commit().await.err().map(|e| e.to_string()),
        };
        if failed.is_none() {
            let written = answers
                .iter()
                .filter(|(_, r)| matches!(r, Some(Ok(_))))
                .count();
            let (batches, creates) = &*self.creates.written;
            batches.fetch_add(1, Ordering::Relaxed);
            creates.fetch_add(written as u64, Ordering::Relaxed);
        }
        for (reply, result) in answers {
            let answer = match (&failed, result) {
                // A create refused on its own keeps its own error.
                (_, Some(Err(e))) => Err(e),
                (Some(msg), _) => Err(StoreError::backend(msg)),
                (None, Some(ok)) => ok,
                (None, None) => Err(StoreError::backend("the batch was not written")),
            };
            let _ = reply.send(answer);
        }
    }
}

/// Runs savepoint statements on the writer's transaction.
async fn savepoint(tx: &mut sqlx::AnyConnection, sql: &'static str) -> Result<()> {
    sqlx::query(sql)
        .execute(tx)
        .await
        .map(|_| ())
        .map_err(db_err)
}

//! Group commit of compliance-request creates on SQLite. SQLite has one writer connection,
//! so creates queue for it anyway; instead of one transaction each, ONE writer task takes
//! the first queued create, gathers whatever else is queued, and writes them all in one
//! transaction, without savepoints. Should one of them fail, that transaction is rolled
//! back, the create answers the error it met and the others are written again without it
//! (after a second failure, each inside a savepoint of its own, rolled back to alone if it
//! fails), on the same connection. On a database in a file that is the writer's own
//! rusqlite connection, stepped on the calling thread (see `LiteWriter` in `lite.rs`),
//! while the batch holds sqlx's one writer connection so that no other write of this
//! process comes between. The others are committed together, and only then
//! is any of them answered. A create whose caller has hung up before an attempt starts is
//! not written in it. Each create stays all-or-nothing (§3.3) and nothing is acknowledged
//! before its commit; what is shared is the commit, and with it the WAL pages (table and
//! index leaves, counter rows) that consecutive creates would each write again. The
//! batch's trigram index entries are written by one statement before the commit, as one
//! segment (see [`SqlStore::index_new_requests`]).
//!
//! PostgreSQL has a pool of writers and row locks; its creates keep a transaction each.
use super::*;
use crate::lite::LiteTx;
use sqlx::pool::PoolConnection;
use sqlx::Connection;
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

/// Counts of the writer's work.
#[derive(Default)]
struct Written {
    /// Batches committed.
    batches: AtomicU64,
    /// Creates written in them.
    creates: AtomicU64,
    /// Creates that failed in a batch written without savepoints (see `write_batch`).
    failed: AtomicU64,
}

/// A create queued for the writer, and where to answer it.
struct CreateJob {
    call: CreateCall,
    reply: oneshot::Sender<Result<Vec<ComplianceRequest>>>,
}

/// The queue to the writer task, started by the first create (on that caller's runtime).
#[derive(Clone, Default)]
pub(crate) struct CreateQueue {
    tx: Arc<OnceLock<mpsc::Sender<CreateJob>>>,
    /// What the writer has done so far.
    written: Arc<Written>,
}

impl SqlStore {
    /// On SQLite, the batches of creates committed so far and the creates written in them.
    pub fn create_batches(&self) -> (u64, u64) {
        let w = &self.creates.written;
        (
            w.batches.load(Ordering::Relaxed),
            w.creates.load(Ordering::Relaxed),
        )
    }

    /// On SQLite, the creates that failed in a batch written without savepoints so far,
    /// alone or among others (those were then written again without them).
    pub fn create_failures_in_batches(&self) -> u64 {
        self.creates.written.failed.load(Ordering::Relaxed)
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

    /// Writes `jobs` in one transaction and answers every one of them. They are written one
    /// after the other without savepoints: a savepoint makes SQLite copy every page a
    /// create touches into its statement journal. When a create fails,
    /// the transaction is rolled back and that create answers the error it met, after the
    /// creates before it as in a savepoint of its own; the others are written again
    /// without it. Should a second create fail, the rest are written with a savepoint each
    /// ([`SqlStore::write_apart`]), so that a batch is written at most twice more. The
    /// writer connection is held from the first attempt to the last: no other write of
    /// this server comes between them.
    async fn write_batch(self, mut jobs: Vec<CreateJob>) {
        let mut conn = match self.db.write.acquire().await {
            Ok(conn) => conn,
            Err(e) => return fail_all(jobs, &e.to_string()),
        };
        let mut failures = 0;
        loop {
            let Some((mut tx, after)) = self.begin_for(&mut conn, &mut jobs).await else {
                return;
            };
            let mut systems = ActiveSystems::default();
            let mut created = Vec::with_capacity(jobs.len());
            let mut failed = None;
            for (i, j) in jobs.iter().enumerate() {
                match self
                    .create_requests_in(&mut tx.tx(), &j.call, &mut systems)
                    .await
                {
                    Ok(c) => created.push(c),
                    Err(e) => {
                        failed = Some((i, e));
                        break;
                    }
                }
            }
            let Some((i, e)) = failed else {
                // The batch's trigram index entries, one segment for all of them.
                if let Err(e) = self.index_new_requests(&mut tx.tx(), after).await {
                    if tx.rollback().await.is_err() {
                        self.close_writer_on_drop(&mut conn);
                    }
                    return fail_all(jobs, &e.to_string());
                }
                if let Err(e) = tx.commit().await {
                    // The driver may still count the transaction as open (see below).
                    self.close_writer_on_drop(&mut conn);
                    return fail_all(jobs, &e.to_string());
                }
                self.count_batch(created.len());
                for (j, c) in jobs.into_iter().zip(created) {
                    let _ = j.reply.send(Ok(c));
                }
                return;
            };
            // Its writes and those of the creates before it are in the same transaction:
            // all are undone, and the others written again.
            let undone = tx.rollback().await;
            self.creates.written.failed.fetch_add(1, Ordering::Relaxed);
            let _ = jobs.remove(i).reply.send(Err(e));
            if let Err(e) = undone {
                // The driver still counts the transaction as open (SQLite may have ended
                // it itself, after a full disk say), and would refuse every later BEGIN on
                // this connection: it is closed, and the pool opens a new one. The same
                // after a commit that fails.
                self.close_writer_on_drop(&mut conn);
                return fail_all(jobs, &e.to_string());
            }
            failures += 1;
            if failures > 1 {
                return self.write_apart(conn, jobs).await;
            }
        }
    }

    /// Drops the creates of `jobs` whose callers have gone (the client hung up before it
    /// was written: not written, as a transaction of its own would have been rolled back)
    /// and starts the transaction of the others (on the writer's own connection, holding
    /// `conn`, or on `conn`), with the highest request `seq`
    /// before them (see [`SqlStore::index_new_requests`]). `None` when none is left, or
    /// when the transaction could not start: every create is then answered so.
    async fn begin_for<'c>(
        &'c self,
        conn: &'c mut PoolConnection<Any>,
        jobs: &mut Vec<CreateJob>,
    ) -> Option<(Batch<'c>, i64)> {
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            return None;
        }
        let begun = match self.db.lite_writer.as_deref() {
            // sqlx's writer connection stays idle, held: no other write of this process
            // comes between.
            Some(w) => LiteTx::begin(w).map(Batch::Lite),
            None => conn
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map(Batch::Sqlx)
                .map_err(db_err),
        };
        let mut tx = match begun {
            Ok(tx) => tx,
            Err(e) => {
                fail_all(std::mem::take(jobs), &e.to_string());
                return None;
            }
        };
        match self.last_request_seq(&mut tx.tx()).await {
            Ok(after) => Some((tx, after)),
            Err(e) => {
                // Rolled back when dropped.
                fail_all(std::mem::take(jobs), &e.to_string());
                None
            }
        }
    }

    /// After a failed commit or rollback of sqlx's transaction, the driver may still count
    /// it as open and would refuse every later BEGIN on this connection: it is closed, and
    /// the pool opens a new one. A batch on the writer's own connection only held it (its
    /// own transaction is ended by `LiteWriter::end`).
    fn close_writer_on_drop(&self, conn: &mut PoolConnection<Any>) {
        if self.db.lite_writer.is_none() {
            conn.close_on_drop();
        }
    }

    /// Counts a committed batch of `written` creates.
    fn count_batch(&self, written: usize) {
        let w = &self.creates.written;
        w.batches.fetch_add(1, Ordering::Relaxed);
        w.creates.fetch_add(written as u64, Ordering::Relaxed);
    }

    /// Writes `jobs` in one transaction (as `write_batch` does), a savepoint each, and answers every one
    /// of them: a create that fails is rolled back to its savepoint alone and answers the
    /// error it met.
    async fn write_apart(self, mut conn: PoolConnection<Any>, mut jobs: Vec<CreateJob>) {
        let Some((mut tx, after)) = self.begin_for(&mut conn, &mut jobs).await else {
            return;
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
            // Its caller has gone meanwhile: not written.
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
            if let Err(e) = tx.tx().batch(start).await {
                broken = Some(e.to_string());
                answers.push((j.reply, None));
                continue;
            }
            let result = self
                .create_requests_in(&mut tx.tx(), &j.call, &mut systems)
                .await;
            open = result.is_ok();
            if result.is_err() {
                let undone = tx
                    .tx()
                    .batch("ROLLBACK TO create_request; RELEASE create_request")
                    .await;
                if let Err(e) = undone {
                    broken = Some(e.to_string());
                }
            }
            answers.push((j.reply, Some(result)));
        }
        if broken.is_none() {
            if let Err(e) = self.index_new_requests(&mut tx.tx(), after).await {
                broken = Some(e.to_string());
            }
        }
        let failed = match broken {
            Some(msg) => {
                if tx.rollback().await.is_err() {
                    // As in `write_batch`: the connection is not used again.
                    self.close_writer_on_drop(&mut conn);
                }
                Some(msg)
            }
            None => match tx.commit().await {
                Ok(()) => None,
                Err(e) => {
                    self.close_writer_on_drop(&mut conn);
                    Some(e.to_string())
                }
            },
        };
        let written = answers
            .iter()
            .filter(|(_, r)| matches!(r, Some(Ok(_))))
            .count();
        if failed.is_none() && written > 0 {
            self.count_batch(written);
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

/// Answers every create of `jobs` with the error of their transaction.
fn fail_all(jobs: Vec<CreateJob>, msg: &str) {
    for j in jobs {
        let _ = j.reply.send(Err(StoreError::backend(msg)));
    }
}

/// The transaction of a batch: sqlx's, or on SQLite in a file, one on the writer's own
/// connection (see `lite.rs`).
enum Batch<'c> {
    Sqlx(sqlx::Transaction<'c, Any>),
    Lite(LiteTx<'c>),
}

impl Batch<'_> {
    /// Where the batch's statements run.
    fn tx(&mut self) -> Tx<'_> {
        match self {
            Batch::Sqlx(t) => Tx::Sqlx(t),
            Batch::Lite(l) => Tx::Lite(l.writer()),
        }
    }

    async fn commit(self) -> Result<()> {
        match self {
            Batch::Sqlx(t) => t.commit().await.map_err(db_err),
            Batch::Lite(l) => l.commit(),
        }
    }

    async fn rollback(self) -> Result<()> {
        match self {
            Batch::Sqlx(t) => t.rollback().await.map_err(db_err),
            Batch::Lite(l) => l.rollback(),
        }
    }
}

//! Short-lived read caches of the consent hot paths: what every site request and every
//! consent-event create would otherwise read again (the project, its domains and consent
//! types, a session's record, the identity a session acts for), and the team's notification
//! opt-ins that every preverified compliance request reads; and for the Privacy API's
//! reads (`GET`), the caller an API key stands for and the project a path names, which every
//! call would otherwise read before its own query. Writes always read both afresh.
//!
//! Each write of this store to what a cache holds clears that cache, so one server always
//! answers from what it last wrote. What another replica writes is seen after at most
//! [`CACHE_TTL`]. A read that started before a clear never refills the cache with what it
//! read (each map counts its clears, and a fill carries the count seen before its read).
use accord_core::auth::Principal;
use accord_core::compliance::SessionInfo;
use accord_core::consent::ConsentType;
use accord_core::store::Project;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a cached value is served without reading the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(2);
/// Entries per map at most; a full map drops its expired entries, then everything.
const MAX_ENTRIES: usize = 50_000;

/// A map whose entries expire after a fixed time.
pub(crate) struct TtlMap<K, V> {
    inner: Mutex<Inner<K, V>>,
    ttl: Duration,
    /// Entries kept at most.
    max: usize,
}

struct Inner<K, V> {
    map: HashMap<K, (Instant, V)>,
    clears: u64,
}

impl<K: Eq + Hash, V: Clone> TtlMap<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self::bounded(ttl, MAX_ENTRIES)
    }

    /// A map of `max` entries at most.
    pub fn bounded(ttl: Duration, max: usize) -> Self {
        TtlMap {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                clears: 0,
            }),
            ttl,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fresh value of `key`, or the ticket to fill it after reading the database.
    pub fn get(&self, key: &K) -> Result<V, u64> {
        let inner = self.lock();
        match inner.map.get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Ok(v.clone()),
            _ => Err(inner.clears),
        }
    }

    /// Stores `value` unless the map was cleared since `ticket` was handed out.
    pub fn fill(&self, ticket: u64, key: K, value: V) {
        let mut inner = self.lock();
        if inner.clears != ticket {
            return;
        }
        if inner.map.len() >= self.max {
            let ttl = self.ttl;
            inner.map.retain(|_, (at, _)| at.elapsed() < ttl);
            if inner.map.len() >= self.max {
                inner.map.clear();
            }
        }
        inner.map.insert(key, (Instant::now(), value));
    }

    /// The fresh value of `key`, or what `read` reads, stored when `keep` says so (and no
    /// clear came in between, as with [`TtlMap::fill`]).
    pub async fn get_or_read<E, Fut>(
        &self,
        key: K,
        keep: impl Fn(&V) -> bool,
        read: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let ticket = match self.get(&key) {
            Ok(v) => return Ok(v),
            Err(ticket) => ticket,
        };
        let v = read().await?;
        if keep(&v) {
            self.fill(ticket, key, v.clone());
        }
        Ok(v)
    }

    /// How many times the map was cleared.
    pub fn clears(&self) -> u64 {
        self.lock().clears
    }

    /// Forgets everything; reads in flight do not fill.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.clears += 1;
        inner.map.clear();
    }
}

/// Runs its closure when dropped. Made before a write that must clear a cache, it clears
/// after the write (the value lives to the end of the function), and also when the call is
/// dropped mid-write. In that last case the database may still commit after the clear, and a
/// read in between may keep what it read for up to [`CACHE_TTL`]; a clear cannot wait for a
/// commit that nothing awaits any more.
pub(crate) struct ClearOnDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for ClearOnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// The caches of one [`crate::SqlStore`] (shared by its clones).
#[derive(Clone)]
pub(crate) struct Caches(Arc<CacheMaps>);

pub(crate) struct CacheMaps {
    /// Projects by id, as the Site API loads them.
    pub projects: TtlMap<Uuid, Option<Project>>,
    /// A project's domain names.
    pub domains: TtlMap<Uuid, Vec<String>>,
    /// A project's consent types, every status, by (organization, project).
    pub types: TtlMap<(Uuid, Uuid), Arc<Vec<ConsentType>>>,
    /// The embedded session object of a site session, by (project, session).
    pub sessions: TtlMap<(Uuid, Uuid), Option<SessionInfo>>,
    /// The identity a session's `cid` acts for, by (project, cid).
    pub acting: TtlMap<(Uuid, Uuid), Option<Uuid>>,
    /// The Users of an organization who opted in to the team's notification emails.
    pub optins: TtlMap<Uuid, Vec<Uuid>>,
    /// The caller of a Privacy API read, by the digest of its key (keys that exist only).
    pub principals: TtlMap<String, Option<Principal>>,
    /// Projects with their send-from address, by (organization, project), as the Privacy
    /// API's reads load them.
    pub api_projects: TtlMap<(Uuid, Uuid), Option<Project>>,
    /// Writes to regions and trackers, which no map caches but the site client embeds.
    pub config_writes: std::sync::atomic::AtomicU64,
    /// The rendered statements of recent compliance-request lists (those without the
    /// `overdue` filter), by filters and page: what they read is not cached, only the SQL
    /// text built from them (a pure function of the key), which no write changes.
    pub list_statements: TtlMap<crate::requests::ListKey, Arc<crate::paging::RenderedPage>>,
}

/// How long, and how many, rendered list statements are kept.
const LIST_STATEMENTS_TTL: Duration = Duration::from_secs(60);
const LIST_STATEMENTS_KEPT: usize = 256;

impl Default for Caches {
    fn default() -> Self {
        Caches(Arc::new(CacheMaps {
            projects: TtlMap::new(CACHE_TTL),
            domains: TtlMap::new(CACHE_TTL),
            types: TtlMap::new(CACHE_TTL),
            sessions: TtlMap::new(CACHE_TTL),
            acting: TtlMap::new(CACHE_TTL),
            optins: TtlMap::new(CACHE_TTL),
            principals: TtlMap::new(CACHE_TTL),
            api_projects: TtlMap::new(CACHE_TTL),
            config_writes: std::sync::atomic::AtomicU64::new(0),
            list_statements: TtlMap::bounded(LIST_STATEMENTS_TTL, LIST_STATEMENTS_KEPT),
        }))
    }
}

impl std::ops::Deref for Caches {
    type Target = CacheMaps;
    fn deref(&self) -> &CacheMaps {
        &self.0
    }
}

impl CacheMaps {
    /// Counts a write to what the site client embeds and no map caches.
    pub fn config_written(&self) {
        self.config_writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes with every write to what the site client embeds (§5.8): projects, domains,
    /// consent types (their maps are cleared), regions and trackers.
    pub fn site_config_epoch(&self) -> u64 {
        self.projects.clears()
            + self.domains.clears()
            + self.types.clears()
            + self
                .config_writes
                .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// After a write to a project or to a send-from address (which a project carries).
    pub fn clear_projects(&self) {
        self.projects.clear();
        self.api_projects.clear();
    }

    /// After a write that may touch any of them (an organization deleted).
    pub fn clear_all(&self) {
        self.clear_projects();
        self.principals.clear();
        self.domains.clear();
        self.types.clear();
        self.sessions.clear();
        self.acting.clear();
        self.optins.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_fresh_values_and_expires_them() {
        let m: TtlMap<u32, &str> = TtlMap::new(Duration::from_millis(50));
        let ticket = m.get(&1).unwrap_err();
        m.fill(ticket, 1, "one");
        assert_eq!(m.get(&1), Ok("one"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(m.get(&1).is_err());
    }

    #[test]
    fn a_read_begun_before_a_clear_does_not_fill() {
        let m: TtlMap<u32, &str> = TtlMap::new(Duration::from_secs(5));
        let stale = m.get(&1).unwrap_err();
        m.clear();
        m.fill(stale, 1, "stale");
        assert!(m.get(&1).is_err());
        let fresh = m.get(&1).unwrap_err();
        m.fill(fresh, 1, "fresh");
        assert_eq!(m.get(&1), Ok("fresh"));
    }
}

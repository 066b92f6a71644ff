//! State in an object store (S3) with conditional writes and a lease lock,
//! written against [`ObjectStore`] so that the protocol is tested here
//! without an SDK (drctl-aws implements the trait for S3).
//!
//! - The state object is written with `If-Match: <ETag last read or
//!   written>` (`If-None-Match: *` when it does not exist yet): a write that
//!   lost a race is [`BackendError::Conflict`] naming the lock holder.
//! - The lock is `<key>.lock`, created with `If-None-Match: *`, holding a
//!   [`LeaseHolder`]. The holder renews it every `renew_every` (If-Match on
//!   its own ETag); a lock whose `lease_expires_at` has passed is taken over
//!   (If-Match on the ETag read, so two takers cannot both win) with a
//!   warning naming the old holder. Renewal that finds another holder marks
//!   the lock lost: later state writes fail instead of racing.
//! - Release reads the lock and deletes it only if it still holds our id.
//!   Expiry is judged on the reader's clock: hosts' clocks must agree to well
//!   under the lease (2 min by default).

use crate::backend::{AcquireError, BackendError, HeldLock, StateBackend, Stored, Unlocked};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The condition of a put.
#[derive(Clone, Debug, PartialEq)]
pub enum Precondition {
    /// Unconditional.
    None,
    /// `If-None-Match: *`: only if the object does not exist.
    Absent,
    /// `If-Match: <etag>`: only if the object is still this version.
    Matches(String),
}

#[derive(Debug, thiserror::Error)]
/// Why an object-store call failed.
pub enum ObjectError {
    /// HTTP 412 (or 409 for a concurrent conditional write), or `If-Match` on a missing object.
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("{0}")]
    /// Anything else (access denied, network, a missing bucket), with the store's message.
    Other(String),
}

/// The few object-store calls the backend needs. Implementations block
/// (they are called under the state mutex and from the renewal thread).
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// `s3://bucket/key`.
    fn url(&self, key: &str) -> String;
    /// Body and ETag, or `None` when there is no such object.
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, ObjectError>;
    /// Writes (encrypted at rest) under `pre`; returns the new ETag.
    fn put(&self, key: &str, body: &[u8], pre: Precondition) -> Result<String, ObjectError>;
    /// Deletes; a missing object is not an error.
    fn delete(&self, key: &str) -> Result<(), ObjectError>;
}

/// How long a lease lasts and how often its holder renews it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeaseConfig {
    /// How long a lock stays valid without renewal; after it, another run may take it over.
    pub lease: Duration,
    /// How often the holder renews (a background thread); a quarter of `lease` or less.
    pub renew_every: Duration,
}

/// 2 min lease renewed every 30 s: a killed CI runner frees the env within
/// 2 min, and a holder survives three failed renewals (transient errors).
pub const DEFAULT_LEASE: LeaseConfig = LeaseConfig {
    lease: Duration::from_secs(120),
    renew_every: Duration::from_secs(30),
};

impl LeaseConfig {
    /// A lease of `lease`, renewed every quarter of it.
    pub fn with_lease(lease: Duration) -> Self {
        LeaseConfig {
            lease,
            renew_every: (lease / 4).max(Duration::from_millis(100)),
        }
    }
}

/// Who holds (or held) a lock, as stored in `<key>.lock` (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseHolder {
    /// Random id; `drctl force-unlock <id>` needs it.
    pub id: String,
    /// The OS user running drctl (`USER`), for messages.
    pub user: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The CI run (GitHub Actions run URL) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
    /// Its command line (`drctl apply --env prod-dr`).
    pub command: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// RFC 3339, UTC: after this the lock may be taken over.
    pub lease_expires_at: String,
}

impl fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' by {}@{} (pid {}",
            self.command, self.user, self.host, self.pid
        )?;
        if let Some(run) = &self.ci_run {
            write!(f, ", CI run {run}")?;
        }
        write!(
            f,
            ", since {}, lease until {}, lock id {})",
            self.started_at, self.lease_expires_at, self.id
        )
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl LeaseHolder {
    /// This process, running `command`; CI run from GitHub Actions' env.
    pub fn this_process(command: &str, lease: Duration) -> Self {
        let now = chrono::Utc::now();
        LeaseHolder {
            id: uuid::Uuid::new_v4().to_string(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("GITHUB_ACTOR"))
                .unwrap_or_else(|_| "unknown-user".into()),
            host: crate::lock::hostname(),
            pid: std::process::id(),
            ci_run: ci_run_url(|k| std::env::var(k).ok()),
            command: command.into(),
            started_at: rfc3339(now),
            lease_expires_at: rfc3339(now + lease),
        }
    }

    fn expired(&self) -> bool {
        chrono::DateTime::parse_from_rfc3339(&self.lease_expires_at)
            .map(|t| t < chrono::Utc::now())
            // An unparseable expiry never expires: force-unlock it.
            .unwrap_or(false)
    }
}

/// `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID`
/// (+ `/attempts/N`), when `GITHUB_RUN_ID` is set.
pub fn ci_run_url(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let run = var("GITHUB_RUN_ID").filter(|v| !v.is_empty())?;
    let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
    let mut url = match var("GITHUB_REPOSITORY") {
        Some(repo) => format!("{server}/{repo}/actions/runs/{run}"),
        None => format!("GitHub Actions run {run}"),
    };
    if let Some(a) = var("GITHUB_RUN_ATTEMPT").filter(|a| a != "1" && !a.is_empty()) {
        url.push_str(&format!("/attempts/{a}"));
    }
    Some(url)
}

/// The state document at `key` and its lock at `<key>.lock`.
#[derive(Debug, Clone)]
pub struct RemoteBackend {
    /// The bucket (or any conditional-write store) holding the state and its lock.
    pub store: Arc<dyn ObjectStore>,
    /// The state object's key (`drctl/<env>.state.json` by default).
    pub key: String,
    /// The lock's lease and renewal interval.
    pub lease: LeaseConfig,
    /// Set by the held lock when its renewal found another holder.
    lost: Arc<Mutex<Option<String>>>,
}

impl RemoteBackend {
    /// A backend for the state at `key` in `store`, with no lock held yet.
    pub fn new(store: Arc<dyn ObjectStore>, key: &str, lease: LeaseConfig) -> Self {
        RemoteBackend {
            store,
            key: key.into(),
            lease,
            lost: Arc::new(Mutex::new(None)),
        }
    }

    /// The lock object's key: `<key>.lock`.
    pub fn lock_key(&self) -> String {
        format!("{}.lock", self.key)
    }

    /// The current lock holder and its ETag, if any.
    pub fn holder(&self) -> Result<Option<(LeaseHolder, String)>, String> {
        let url = self.store.url(&self.lock_key());
        match self.store.get(&self.lock_key()) {
            Ok(None) => Ok(None),
            Ok(Some((bytes, etag))) => serde_json::from_slice(&bytes)
                .map(|h| Some((h, etag)))
                .map_err(|e| format!("the lock {url} is not a drctl lock ({e}); if no drctl is running, delete it")),
            Err(e) => Err(format!("cannot read the lock {url}: {e}")),
        }
    }

    /// Removes the lock if its id is `id` (`drctl force-unlock`).
    pub fn force_unlock(&self, id: &str) -> Result<Unlocked, String> {
        match self.holder()? {
            None => Ok(Unlocked::NoLock),
            Some((h, _)) if h.id == id => {
                self.store.delete(&self.lock_key()).map_err(|e| {
                    format!("cannot delete {}: {e}", self.store.url(&self.lock_key()))
                })?;
                Ok(Unlocked::Removed(h.to_string()))
            }
            Some((h, _)) => Err(format!(
                "the lock on {} has id {}, not {id}: it is held by {h}. Nothing was removed",
                self.location(),
                h.id
            )),
        }
    }

    fn who_else(&self) -> String {
        match self.holder() {
            Ok(Some((h, _))) => format!("the lock is held by {h}"),
            Ok(None) => "no one holds the lock: written without one (state push --force?)".into(),
            Err(e) => e,
        }
    }

    fn try_take(&self, me: &LeaseHolder) -> Result<Option<String>, AcquireError> {
        let body = serde_json::to_vec_pretty(me).unwrap_or_default();
        let lock_key = self.lock_key();
        match self.store.put(&lock_key, &body, Precondition::Absent) {
            Ok(etag) => return Ok(Some(etag)),
            Err(ObjectError::PreconditionFailed) => {}
            Err(e) => {
                return Err(AcquireError::Remote(format!(
                    "cannot create the lock {}: {e}",
                    self.store.url(&lock_key)
                )))
            }
        }
        let Some((old, etag)) = self.holder().map_err(AcquireError::Remote)? else {
            return Ok(None); // released meanwhile: the caller retries
        };
        if !old.expired() {
            return Err(AcquireError::Remote(self.held_message(&old)));
        }
        match self
            .store
            .put(&lock_key, &body, Precondition::Matches(etag))
        {
            Ok(etag) => {
                tracing::warn!(
                    "took over the state lock on {}: the lease of {old} expired (that run was killed or lost its connection)",
                    self.location()
                );
                Ok(Some(etag))
            }
            Err(ObjectError::PreconditionFailed) => Ok(None), // another taker won: look again
            Err(e) => Err(AcquireError::Remote(format!(
                "cannot take over the lock {}: {e}",
                self.store.url(&lock_key)
            ))),
        }
    }

    fn held_message(&self, h: &LeaseHolder) -> String {
        format!(
            "state {} is locked by {h}; wait for it (--lock-timeout 5m), or if that run is gone for good: drctl force-unlock {} (the lease also expires by itself)",
            self.location(),
            h.id
        )
    }
}

impl StateBackend for RemoteBackend {
    fn location(&self) -> String {
        self.store.url(&self.key)
    }

    fn read(&self) -> Result<Option<Stored>, BackendError> {
        self.store
            .get(&self.key)
            .map(|o| {
                o.map(|(bytes, etag)| Stored {
                    bytes,
                    version: Some(etag),
                })
            })
            .map_err(|e| BackendError::Read {
                location: self.location(),
                detail: e.to_string(),
            })
    }

    fn write(&self, bytes: &[u8], expected: Option<&str>) -> Result<Option<String>, BackendError> {
        if let Some(why) = self.lost.lock().ok().and_then(|g| g.clone()) {
            return Err(BackendError::LockLost {
                location: self.location(),
                detail: why,
            });
        }
        let pre = match expected {
            Some(v) => Precondition::Matches(v.into()),
            None => Precondition::Absent,
        };
        match self.store.put(&self.key, bytes, pre) {
            Ok(etag) => Ok(Some(etag)),
            Err(ObjectError::PreconditionFailed) => Err(BackendError::Conflict {
                location: self.location(),
                detail: self.who_else(),
            }),
            Err(e) => Err(BackendError::Write {
                location: self.location(),
                detail: e.to_string(),
            }),
        }
    }

    fn lock(&self, command: &str, timeout: Duration) -> Result<Arc<dyn HeldLock>, AcquireError> {
        let me = LeaseHolder::this_process(command, self.lease.lease);
        let deadline = Instant::now() + timeout;
        loop {
            match self.try_take(&me) {
                Ok(Some(etag)) => {
                    if let Ok(mut g) = self.lost.lock() {
                        *g = None;
                    }
                    return Ok(Arc::new(RemoteHeld::start(self.clone(), me, etag)));
                }
                Ok(None) => continue,
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(500).min(self.lease.renew_every))
                }
            }
        }
    }
}

/// A held lease: a thread renews it until release.
#[derive(Debug)]
pub struct RemoteHeld {
    backend: RemoteBackend,
    id: String,
    stop: Mutex<Option<mpsc::Sender<()>>>,
    renewer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RemoteHeld {
    fn start(backend: RemoteBackend, me: LeaseHolder, etag: String) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        let b = backend.clone();
        let id = me.id.clone();
        let renewer = std::thread::spawn(move || renew_loop(b, me, etag, rx));
        RemoteHeld {
            backend,
            id,
            stop: Mutex::new(Some(tx)),
            renewer: Mutex::new(Some(renewer)),
        }
    }
}

fn renew_loop(b: RemoteBackend, mut me: LeaseHolder, mut etag: String, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(b.lease.renew_every) {
        me.lease_expires_at = rfc3339(chrono::Utc::now() + b.lease.lease);
        let body = serde_json::to_vec_pretty(&me).unwrap_or_default();
        match b
            .store
            .put(&b.lock_key(), &body, Precondition::Matches(etag.clone()))
        {
            Ok(e) => etag = e,
            Err(ObjectError::PreconditionFailed) => {
                let why = b.who_else();
                tracing::error!("the state lock on {} was taken over: {why}", b.location());
                if let Ok(mut g) = b.lost.lock() {
                    *g = Some(why);
                }
                return;
            }
            // Transient: the lease outlives a few failed renewals.
            Err(e) => tracing::warn!("cannot renew the state lock on {}: {e}", b.location()),
        }
    }
}

impl HeldLock for RemoteHeld {
    fn id(&self) -> &str {
        &self.id
    }

    fn release(&self) {
        let Some(tx) = self.stop.lock().ok().and_then(|mut g| g.take()) else {
            return;
        };
        drop(tx);
        if let Some(t) = self.renewer.lock().ok().and_then(|mut g| g.take()) {
            let _ = t.join();
        }
        if self.lost().is_some() {
            return;
        }
        match self.backend.force_unlock(&self.id) {
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot release the state lock: {e}"),
        }
    }

    fn lost(&self) -> Option<String> {
        self.backend.lost.lock().ok().and_then(|g| g.clone())
    }
}

impl Drop for RemoteHeld {
    fn drop(&mut self) {
        self.release();
    }
}

/// An in-memory [`ObjectStore`] with S3's conditional-write semantics, for tests.
#[cfg(any(test, feature = "testing"))]
pub mod memory {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Default)]
    /// Objects by key: body and ETag (a counter, quoted like S3's).
    pub struct MemoryStore {
        /// The stored objects, by key: (body, ETag).
        pub objects: Mutex<BTreeMap<String, (Vec<u8>, String)>>,
        /// Every call made, as "get key" / "put key" / "delete key".
        pub calls: Mutex<Vec<String>>,
        next: Mutex<u64>,
    }

    impl ObjectStore for MemoryStore {
        fn url(&self, key: &str) -> String {
            format!("mem://bucket/{key}")
        }
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, ObjectError> {
            self.calls.lock().unwrap().push(format!("get {key}"));
            Ok(self.objects.lock().unwrap().get(key).cloned())
        }
        fn put(&self, key: &str, body: &[u8], pre: Precondition) -> Result<String, ObjectError> {
            self.calls.lock().unwrap().push(format!("put {key}"));
            let mut objects = self.objects.lock().unwrap();
            let current = objects.get(key).map(|(_, e)| e.clone());
            let ok = match (&pre, &current) {
                (Precondition::None, _) => true,
                (Precondition::Absent, c) => c.is_none(),
                (Precondition::Matches(want), Some(c)) => want == c,
                (Precondition::Matches(_), None) => false,
            };
            if !ok {
                return Err(ObjectError::PreconditionFailed);
            }
            let mut n = self.next.lock().unwrap();
            *n += 1;
            let etag = format!("\"etag-{n}\"");
            objects.insert(key.into(), (body.to_vec(), etag.clone()));
            Ok(etag)
        }
        fn delete(&self, key: &str) -> Result<(), ObjectError> {
            self.calls.lock().unwrap().push(format!("delete {key}"));
            self.objects.lock().unwrap().remove(key);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryStore;
    use super::*;
    use crate::state::StateStore;

    fn backend(store: &Arc<MemoryStore>, lease: Duration) -> RemoteBackend {
        RemoteBackend::new(
            store.clone(),
            "env/dev.tfstate",
            LeaseConfig::with_lease(lease),
        )
    }

    fn lock_body(store: &MemoryStore) -> LeaseHolder {
        let objects = store.objects.lock().unwrap();
        serde_json::from_slice(&objects["env/dev.tfstate.lock"].0).unwrap()
    }

    #[test]
    fn second_locker_fails_at_once_naming_the_holder_then_takes_it_after_release() {
        let store = Arc::new(MemoryStore::default());
        let b = backend(&store, Duration::from_secs(60));
        let held = b.lock("drctl apply", Duration::ZERO).unwrap();
        let holder = lock_body(&store);
        assert_eq!(holder.id, held.id());
        assert_eq!(holder.pid, std::process::id());
        let err = b
            .lock("drctl plan", Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'drctl apply'"), "{err}");
        assert!(
            err.contains(&format!("force-unlock {}", held.id())),
            "{err}"
        );
        held.release();
        assert!(store
            .objects
            .lock()
            .unwrap()
            .get("env/dev.tfstate.lock")
            .is_none());
        b.lock("drctl plan", Duration::ZERO).unwrap();
    }

    #[test]
    fn ci_run_url_from_github_env() {
        let env = |k: &str| {
            match k {
                "GITHUB_RUN_ID" => Some("42"),
                "GITHUB_REPOSITORY" => Some("acme/infra"),
                "GITHUB_SERVER_URL" => Some("https://github.com"),
                "GITHUB_RUN_ATTEMPT" => Some("2"),
                _ => None,
            }
            .map(String::from)
        };
        assert_eq!(
            ci_run_url(env).as_deref(),
            Some("https://github.com/acme/infra/actions/runs/42/attempts/2")
        );
        assert_eq!(ci_run_url(|_| None), None);
    }

    #[test]
    fn the_holder_renews_its_lease() {
        let store = Arc::new(MemoryStore::default());
        let b = backend(&store, Duration::from_millis(800));
        let _held = b.lock("drctl apply", Duration::ZERO).unwrap();
        let first = lock_body(&store).lease_expires_at;
        std::thread::sleep(Duration::from_millis(1200));
        let later = lock_body(&store);
        assert!(later.lease_expires_at > first, "{first} vs {later:?}");
        // Still live: a second run cannot take it.
        assert!(b.lock("drctl plan", Duration::ZERO).is_err());
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_old_holder_can_no_longer_write() {
        let store = Arc::new(MemoryStore::default());
        let b = backend(&store, Duration::from_secs(60));
        // A run killed without releasing: its lock with a lease in the past.
        let mut dead = LeaseHolder::this_process("drctl apply", Duration::ZERO);
        dead.lease_expires_at = "2020-01-01T00:00:00.000Z".into();
        store
            .put(
                &b.lock_key(),
                &serde_json::to_vec(&dead).unwrap(),
                Precondition::Absent,
            )
            .unwrap();
        let held = b.lock("drctl apply", Duration::ZERO).unwrap();
        assert_ne!(held.id(), dead.id);
        assert_eq!(lock_body(&store).id, held.id());

        // A live holder whose lease we let lapse (no renewal) loses to a taker,
        // and its next state write fails instead of racing.
        let slow = backend(&store, Duration::from_secs(60));
        drop(held);
        let mut old = StateStore::open_in(Arc::new(slow.clone()), "dev").unwrap();
        old.save().unwrap();
        let old_lock = slow.lock("drctl apply", Duration::ZERO).unwrap();
        // Expire it by hand, then a new run takes over.
        let mut body = lock_body(&store);
        body.lease_expires_at = "2020-01-01T00:00:00.000Z".into();
        let etag = store.objects.lock().unwrap()[&slow.lock_key()].1.clone();
        store
            .put(
                &slow.lock_key(),
                &serde_json::to_vec(&body).unwrap(),
                Precondition::Matches(etag),
            )
            .unwrap();
        let new_run = backend(&store, Duration::from_secs(60));
        let new_lock = new_run.lock("drctl apply", Duration::ZERO).unwrap();
        let mut fresh = StateStore::open_in(Arc::new(new_run.clone()), "dev").unwrap();
        fresh.save().unwrap();
        // The old run's write is refused (its ETag is stale), naming the new holder.
        let err = old.save().unwrap_err().to_string();
        assert!(err.contains("changed by another writer"), "{err}");
        assert!(err.contains(new_lock.id()), "{err}");
        drop(old_lock); // must not delete the new holder's lock
        assert_eq!(lock_body(&store).id, new_lock.id());
    }

    #[test]
    fn a_stale_etag_write_fails_and_changes_nothing() {
        let store = Arc::new(MemoryStore::default());
        let b = backend(&store, Duration::from_secs(60));
        let mut first = StateStore::open_in(Arc::new(b.clone()), "dev").unwrap();
        first.save().unwrap();
        let mut a = StateStore::open_in(Arc::new(b.clone()), "dev").unwrap();
        let mut other = StateStore::open_in(Arc::new(b.clone()), "dev").unwrap();
        other.save().unwrap();
        let before = store.objects.lock().unwrap()["env/dev.tfstate"].clone();
        let err = a.save().unwrap_err().to_string();
        assert!(err.contains("nothing was written"), "{err}");
        assert_eq!(store.objects.lock().unwrap()["env/dev.tfstate"], before);
        // Two creators of a new state: the second loses too.
        let c = backend(&store, Duration::from_secs(60));
        let fresh_key = RemoteBackend::new(store.clone(), "other", c.lease);
        let mut x = StateStore::open_in(Arc::new(fresh_key.clone()), "dev").unwrap();
        let mut y = StateStore::open_in(Arc::new(fresh_key), "dev").unwrap();
        x.save().unwrap();
        assert!(y.save().is_err());
    }

    #[test]
    fn force_unlock_needs_the_matching_id() {
        let store = Arc::new(MemoryStore::default());
        let b = backend(&store, Duration::from_secs(60));
        let held = b.lock("drctl apply", Duration::ZERO).unwrap();
        let id = held.id().to_string();
        let err = b.force_unlock("not-the-id").unwrap_err();
        assert!(err.contains(&id), "{err}");
        assert!(store.objects.lock().unwrap().contains_key(&b.lock_key()));
        assert!(matches!(b.force_unlock(&id), Ok(Unlocked::Removed(_))));
        assert_eq!(b.force_unlock(&id), Ok(Unlocked::NoLock));
        std::mem::forget(held); // its release would find no lock; keep the test quiet
    }
}

//! Group commit of the state during an apply.
//!
//! Every resource task records its pending operation and its result in the
//! shared state and waits until a write holding that change is durable
//! ([`Journal::write`]). One write runs at a time (in `block_in_place`, so
//! the other tasks keep running); the changes made while it runs go out
//! together in the next one. So N tasks finishing at once cost two writes, not N, and
//! no task's calls wait on another task's fsync.
//!
//! Guarantees:
//! - Write-ahead: [`Journal::write`] returns only after a write that
//!   *started after* its change (its snapshot was taken later) succeeded, so
//!   a caller that sends a mutating call after it has the record of that
//!   call on disk (or in S3) first.
//! - A write error is returned to every caller whose change it carried;
//!   none of them proceeds. The next caller tries a new write.
//! - Writes never overlap, and a write is never cut in half: it has no
//!   await point, so a task dropped or aborted (a dropped apply: the run is
//!   over) stops before or after a whole write.

use crate::apply::Store;
use crate::state::{StateError, StateStore};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The executor's handle on the state: cheap to clone, shared by the tasks.
#[derive(Clone)]
pub(crate) struct Journal {
    store: Store,
    /// Held by the one write in progress.
    writer: Arc<tokio::sync::Mutex<()>>,
    marks: Arc<Marks>,
}

/// `changed` counts changes (bumped under the store's lock, with the
/// change); `durable` is the highest change a finished write held.
#[derive(Default)]
struct Marks {
    changed: AtomicU64,
    durable: AtomicU64,
    writes: AtomicU64,
}

impl Journal {
    pub(crate) fn new(store: Store) -> Self {
        Journal {
            store,
            writer: Arc::default(),
            marks: Arc::default(),
        }
    }

    /// Looks at (or changes, without saving) the state under its lock.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut StateStore) -> Result<T, StateError>,
    ) -> Result<T, String> {
        let mut guard = self
            .store
            .lock()
            .map_err(|_| "internal error: state lock poisoned".to_string())?;
        f(&mut guard).map_err(|e| e.to_string())
    }

    /// Applies `f` to the state, then waits until a write holding the change
    /// is durable (or failed: its error).
    pub(crate) async fn write<T>(
        &self,
        f: impl FnOnce(&mut StateStore) -> Result<T, StateError>,
    ) -> Result<T, String> {
        let (value, mark) = self.read(|s| {
            let v = f(s)?;
            Ok((v, self.marks.changed.fetch_add(1, Ordering::SeqCst) + 1))
        })?;
        self.durable(mark).await?;
        Ok(value)
    }

    /// How many writes went out (for the tracing summary and tests).
    pub(crate) fn writes(&self) -> u64 {
        self.marks.writes.load(Ordering::SeqCst)
    }

    async fn durable(&self, mark: u64) -> Result<(), String> {
        if self.marks.durable.load(Ordering::SeqCst) >= mark {
            return Ok(());
        }
        let _slot = self.writer.lock().await;
        // The write that just ended may have carried this change.
        if self.marks.durable.load(Ordering::SeqCst) >= mark {
            return Ok(());
        }
        // No await from here to the end of the write: a task dropped (or
        // aborted) while waiting never leaves half a write behind, and a
        // dropped apply writes nothing more.
        blocking(|| self.write_now())
    }

    /// One write of everything changed so far.
    fn write_now(&self) -> Result<(), String> {
        let started = std::time::Instant::now();
        let (prepared, upto) =
            self.read(|s| Ok((s.prepare_save(), self.marks.changed.load(Ordering::SeqCst))))?;
        // The store is free again while the bytes go out.
        let version = prepared.write().map_err(|e| e.to_string())?;
        self.read(|s| {
            s.finish_save(&prepared, version);
            Ok(())
        })?;
        self.marks.durable.fetch_max(upto, Ordering::SeqCst);
        self.marks.writes.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(
            serial = prepared.serial(),
            changes = upto,
            micros = started.elapsed().as_micros() as u64,
            "state written"
        );
        Ok(())
    }
}

/// Runs `f`, which blocks (an fsync, an S3 put), without stalling the other
/// tasks of a multi-threaded runtime's worker (`block_in_place` hands them
/// to another thread); on a current-thread runtime (tests) it just runs.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendError, StateBackend};
    use crate::model::Address;
    use crate::state::{Operation, PendingOp};
    use std::sync::Mutex;
    use std::time::Duration;

    /// A backend whose writes take 20 ms and are logged with their serial.
    #[derive(Debug, Default)]
    struct Slow {
        stored: Mutex<Vec<crate::state::State>>,
    }
    impl StateBackend for Slow {
        fn location(&self) -> String {
            "slow".into()
        }
        fn read(&self) -> Result<Option<crate::backend::Stored>, BackendError> {
            Ok(None)
        }
        fn write(&self, bytes: &[u8], _: Option<&str>) -> Result<Option<String>, BackendError> {
            std::thread::sleep(Duration::from_millis(20));
            let st: crate::state::State = serde_json::from_slice(bytes).unwrap();
            self.stored.lock().unwrap().push(st);
            Ok(None)
        }
        fn lock(
            &self,
            _: &str,
            _: Duration,
        ) -> Result<Arc<dyn crate::backend::HeldLock>, crate::backend::AcquireError> {
            unimplemented!()
        }
    }

    fn pending(name: &str) -> PendingOp {
        PendingOp {
            operation: Operation::Create,
            kind: "k".into(),
            region: None,
            name: name.into(),
            token: "t".into(),
            started_at: "now".into(),
        }
    }

    /// Twenty tasks record at once: each finds its record in a stored
    /// version when its `write` returns, and far fewer than twenty writes
    /// went out (they were grouped).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_are_grouped_and_each_is_durable_on_return() {
        let backend = Arc::new(Slow::default());
        let store = StateStore::open_in(backend.clone(), "dev").unwrap();
        let journal = Journal::new(Arc::new(Mutex::new(store)));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20 {
            let journal = journal.clone();
            let backend = backend.clone();
            tasks.spawn(async move {
                let a = Address::new(format!("r/{i}"));
                let a2 = a.clone();
                journal
                    .write(move |s| {
                        s.state.pending.insert(a2, pending("x"));
                        Ok(())
                    })
                    .await
                    .unwrap();
                let stored = backend.stored.lock().unwrap();
                assert!(
                    stored.iter().any(|st| st.pending.contains_key(&a)),
                    "{a}: write returned before a stored version held it"
                );
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        let writes = journal.writes();
        assert!((1..=10).contains(&writes), "{writes} writes for 20 changes");
        let stored = backend.stored.lock().unwrap();
        let serials: Vec<u64> = stored.iter().map(|s| s.serial).collect();
        assert!(serials.windows(2).all(|w| w[0] < w[1]), "{serials:?}");
        assert_eq!(stored.last().unwrap().pending.len(), 20);
    }
}

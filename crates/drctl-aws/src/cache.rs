//! Reads shared within one run: a refresh reads each thing once.
//!
//! A plan reads the whole stack, and several reconcilers need the same
//! answer: every subnet of a region, the zone list, a bucket's tags (bucket
//! and replication), a topic's tags (topic and subscription). Reconcilers
//! ask [`ReadCache::get_or_fetch`] with a key naming the call and its
//! inputs; concurrent askers share one call, and the result is kept.
//!
//! Guarantee: a cached answer is never older than the last mutating call
//! this process made. Every write (counted by the call log's interceptor)
//! moves a generation counter, and an entry from an older generation is
//! fetched again. A plan makes no write, so it reads each key once; an
//! apply writes, so its reads after a write go to AWS again and can never
//! miss what it has just created. Caveat: changes made by *others* during
//! the run are not seen, as with any read taken at one moment, and an `Aws`
//! kept across runs must start each with [`Aws::forget_reads`]. Errors are
//! not cached.
//!
//! [`Aws::forget_reads`]: crate::Aws::forget_reads

use drctl_core::reconcile::ReconcileError;
use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Arc<dyn Any + Send + Sync>>>;

/// The generation of entries that never go stale (the counter never gets there).
const LASTING: u64 = u64::MAX;

#[derive(Default)]
pub struct ReadCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Slot)>>,
}

impl std::fmt::Debug for ReadCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl ReadCache {
    /// Called for every mutating AWS call: all cached answers are stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Like [`get_or_fetch`](Self::get_or_fetch), for answers no write of
    /// drctl's can change (a region's availability zones): kept for the
    /// whole run, whatever is written meanwhile. Keys share one namespace
    /// with `get_or_fetch`'s; use a key of its own.
    pub async fn get_or_fetch_lasting<T, F, Fut>(
        &self,
        key: String,
        fetch: F,
    ) -> Result<T, ReconcileError>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ReconcileError>>,
    {
        self.fetch_at(key, LASTING, fetch).await
    }

    /// The cached answer for `key`, or `fetch`'s (stored for the next asker).
    /// `key` must name the call and everything that shapes its answer
    /// (operation, region, ids or filters): two keys that collide with
    /// different types are a bug, reported as an error, not a panic.
    pub async fn get_or_fetch<T, F, Fut>(&self, key: String, fetch: F) -> Result<T, ReconcileError>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ReconcileError>>,
    {
        let generation = self.generation.load(Ordering::SeqCst);
        self.fetch_at(key, generation, fetch).await
    }

    async fn fetch_at<T, F, Fut>(
        &self,
        key: String,
        generation: u64,
        fetch: F,
    ) -> Result<T, ReconcileError>
    where
        T: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ReconcileError>>,
    {
        let slot = {
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| ReconcileError::Internal("read cache poisoned".into()))?;
            let entry = entries
                .entry(key.clone())
                .or_insert_with(|| (generation, Slot::default()));
            if entry.0 != generation {
                *entry = (generation, Slot::default());
            }
            entry.1.clone()
        };
        let value = slot
            .get_or_try_init(|| async {
                let v = fetch().await?;
                Ok::<_, ReconcileError>(Arc::new(v) as Arc<dyn Any + Send + Sync>)
            })
            .await?;
        value
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| ReconcileError::Internal(format!("read cache key {key} has two types")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    async fn counted(cache: &ReadCache, calls: &AtomicUsize, key: &str) -> u32 {
        cache
            .get_or_fetch(key.to_string(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(7u32)
            })
            .await
            .expect("fetch")
    }

    #[tokio::test]
    async fn concurrent_askers_share_one_call() {
        let (cache, calls) = (ReadCache::default(), AtomicUsize::new(0));
        let (a, b, c) = tokio::join!(
            counted(&cache, &calls, "k"),
            counted(&cache, &calls, "k"),
            counted(&cache, &calls, "k")
        );
        assert_eq!((a, b, c), (7, 7, 7));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        counted(&cache, &calls, "other").await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_write_makes_every_answer_stale() {
        let (cache, calls) = (ReadCache::default(), AtomicUsize::new(0));
        counted(&cache, &calls, "k").await;
        counted(&cache, &calls, "k").await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache.invalidate();
        counted(&cache, &calls, "k").await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_lasting_answer_survives_writes() {
        let (cache, calls) = (ReadCache::default(), AtomicUsize::new(0));
        for _ in 0..2 {
            let v: u32 = cache
                .get_or_fetch_lasting("zones".into(), || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok(7u32)
                })
                .await
                .expect("fetch");
            assert_eq!(v, 7);
            cache.invalidate();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn errors_are_not_kept() {
        let cache = ReadCache::default();
        let failed: Result<u32, _> = cache
            .get_or_fetch("k".into(), || async {
                Err(ReconcileError::Internal("boom".into()))
            })
            .await;
        assert!(failed.is_err());
        let ok: u32 = cache
            .get_or_fetch("k".into(), || async { Ok(3) })
            .await
            .expect("second try");
        assert_eq!(ok, 3);
    }

    #[tokio::test]
    async fn one_key_with_two_types_is_an_error() {
        let cache = ReadCache::default();
        let _: u32 = cache
            .get_or_fetch("k".into(), || async { Ok(1) })
            .await
            .expect("first");
        let other: Result<String, _> = cache
            .get_or_fetch("k".into(), || async { Ok("x".to_string()) })
            .await;
        assert!(other.is_err());
    }
}

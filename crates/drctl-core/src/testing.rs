//! An in-memory fake cloud and reconcilers for testing the engine without
//! AWS: it records every call and can fail, hang, or "crash" (do the work,
//! then never answer) on demand.

use crate::diff::FieldChange;
use crate::model::{
    owned_by, Address, Observed, Props, ReadOutcome, ResourceSpec, TAG_ADDRESS, TAG_ENV,
};
use crate::reconcile::{Ctx, DeletionProtection, ErrorClass, ReconcileError, Reconciler, Registry};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A spec of kind `fake` in the region named by the address's first segment.
pub fn spec(address: &str, deps: &[&str]) -> ResourceSpec {
    spec_of("fake", address, deps)
}

pub fn spec_of(kind: &str, address: &str, deps: &[&str]) -> ResourceSpec {
    let region = address.split('/').next().unwrap_or("r").to_string();
    let mut props = Props::new();
    props.insert("size".into(), Value::from(1));
    ResourceSpec {
        address: Address::new(address),
        kind: kind.into(),
        region: Some(region),
        name: address.replace('/', "-"),
        props,
        tags: BTreeMap::new(),
        depends_on: deps.iter().map(|d| Address::new(*d)).collect(),
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct FakeResource {
    pub kind: String,
    pub name: String,
    pub tags: BTreeMap<String, String>,
    pub props: Props,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub op: &'static str,
    pub address: Address,
    pub started: Instant,
    pub ended: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    resources: BTreeMap<String, FakeResource>,
    tokens: BTreeMap<String, String>,
    calls: Vec<Call>,
    fail: BTreeMap<(Address, &'static str), String>,
    hang: BTreeSet<(Address, &'static str)>,
    mutations: usize,
    crash_at: Option<usize>,
    delay: Duration,
}

/// The fake cloud; share it between reconcilers with `Arc`.
#[derive(Default)]
pub struct FakeCloud {
    inner: Mutex<Inner>,
    /// Notified when an injected crash happens.
    pub crashed: Notify,
}

impl FakeCloud {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Every mutating call takes this long.
    pub fn set_delay(&self, d: Duration) {
        self.lock().delay = d;
    }
    pub fn fail(&self, address: &str, op: &'static str, message: &str) {
        self.lock()
            .fail
            .insert((Address::new(address), op), message.into());
    }
    pub fn hang(&self, address: &str, op: &'static str) {
        self.lock().hang.insert((Address::new(address), op));
    }
    /// The `n`-th mutating call (1-based) takes effect, then never returns.
    pub fn crash_at(&self, n: usize) {
        self.lock().crash_at = Some(n);
    }
    pub fn clear_faults(&self) {
        let mut i = self.lock();
        i.fail.clear();
        i.hang.clear();
        i.crash_at = None;
    }
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }
    pub fn mutations(&self) -> usize {
        self.lock().mutations
    }
    pub fn mutating_calls(&self) -> Vec<(String, &'static str)> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op != "read")
            .map(|c| (c.address.0.clone(), c.op))
            .collect()
    }
    pub fn reset_calls(&self) {
        let mut i = self.lock();
        i.calls.clear();
        i.mutations = 0;
    }
    pub fn resources(&self) -> BTreeMap<String, FakeResource> {
        self.lock().resources.clone()
    }
    /// How many resources carry the ownership tag for `address`.
    pub fn count_owned(&self, address: &str) -> usize {
        self.lock()
            .resources
            .values()
            .filter(|r| r.tags.get(TAG_ADDRESS).map(String::as_str) == Some(address))
            .count()
    }
    /// Changes a property out of band (drift).
    pub fn tamper(&self, address: &str, field: &str, value: Value) {
        for r in self.lock().resources.values_mut() {
            if r.tags.get(TAG_ADDRESS).map(String::as_str) == Some(address) {
                r.props.insert(field.into(), value.clone());
            }
        }
    }
    /// Deletes a resource out of band.
    pub fn remove_owned(&self, address: &str) {
        self.lock()
            .resources
            .retain(|_, r| r.tags.get(TAG_ADDRESS).map(String::as_str) != Some(address));
    }
    /// Puts a resource that drctl does not own into the cloud.
    pub fn insert_foreign(&self, kind: &str, name: &str) -> String {
        let mut i = self.lock();
        i.next_id += 1;
        let id = format!("{kind}-{}", i.next_id);
        i.resources.insert(
            id.clone(),
            FakeResource {
                kind: kind.into(),
                name: name.into(),
                tags: BTreeMap::new(),
                props: Props::new(),
            },
        );
        id
    }

    fn begin(
        &self,
        op: &'static str,
        address: &Address,
    ) -> Result<(usize, Duration, bool), ReconcileError> {
        let mut i = self.lock();
        let ix = i.calls.len();
        i.calls.push(Call {
            op,
            address: address.clone(),
            started: Instant::now(),
            ended: None,
        });
        if let Some(msg) = i.fail.get(&(address.clone(), op)) {
            return Err(ReconcileError::Api {
                operation: op.into(),
                class: ErrorClass::Fatal,
                code: "InjectedFault".into(),
                message: msg.clone(),
            });
        }
        let hang = i.hang.contains(&(address.clone(), op));
        let mut crash = false;
        if op != "read" {
            i.mutations += 1;
            crash = i.crash_at == Some(i.mutations);
        }
        Ok((
            ix,
            if op == "read" {
                Duration::ZERO
            } else {
                i.delay
            },
            hang || crash,
        ))
    }

    async fn end(&self, ix: usize, delay: Duration, hang_after: bool) {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if hang_after {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        if let Some(c) = self.lock().calls.get_mut(ix) {
            c.ended = Some(Instant::now());
        }
    }
}

fn observed(id: &str, r: &FakeResource) -> Observed {
    let mut attrs = Props::new();
    attrs.insert("arn".into(), Value::String(format!("arn:fake:{id}")));
    Observed {
        id: id.into(),
        props: r.props.clone(),
        attrs,
    }
}

/// A reconciler for one kind over the fake cloud. With `find_by_tags` off the
/// kind can only be found by id, so only the idempotency token prevents a
/// duplicate after a crash (like EC2's `ClientToken` on real AWS).
pub struct FakeReconciler {
    pub kind: &'static str,
    pub cloud: Arc<FakeCloud>,
    pub find_by_tags: bool,
    pub replace_on: &'static [(&'static str, &'static str)],
    pub protection: Option<DeletionProtection>,
}

#[async_trait]
impl Reconciler for FakeReconciler {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        self.replace_on
    }
    fn deletion_protection(&self) -> Option<DeletionProtection> {
        self.protection
    }
    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let (ix, d, h) = self.cloud.begin("read", &spec.address)?;
        self.cloud.end(ix, d, h).await;
        let i = self.cloud.lock();
        let check = |id: &str, r: &FakeResource| {
            if owned_by(&r.tags, &cx.env, &spec.address) {
                ReadOutcome::Found(observed(id, r))
            } else {
                ReadOutcome::Clash {
                    id: id.into(),
                    detail: "no ownership tags".into(),
                }
            }
        };
        if let Some(id) = known_id {
            return Ok(match i.resources.get(id) {
                Some(r) => check(id, r),
                None => ReadOutcome::NotFound,
            });
        }
        if !self.find_by_tags {
            return Ok(ReadOutcome::NotFound);
        }
        let owned: Vec<(&String, &FakeResource)> = i
            .resources
            .iter()
            .filter(|(_, r)| r.kind == self.kind && owned_by(&r.tags, &cx.env, &spec.address))
            .collect();
        match owned.as_slice() {
            [] => Ok(i
                .resources
                .iter()
                .find(|(_, r)| r.kind == self.kind && r.name == spec.name)
                .map(|(id, r)| check(id, r))
                .unwrap_or(ReadOutcome::NotFound)),
            [(id, r)] => Ok(ReadOutcome::Found(observed(id, r))),
            many => Err(ReconcileError::Ambiguous {
                address: spec.address.to_string(),
                ids: many.iter().map(|(id, _)| id.to_string()).collect(),
            }),
        }
    }
    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        let (ix, d, h) = self.cloud.begin("create", &spec.address)?;
        let (id, res) = {
            let mut i = self.cloud.lock();
            if let Some(id) = i.tokens.get(token).cloned() {
                let r = i.resources.get(&id).cloned().ok_or_else(|| {
                    ReconcileError::Invalid("token for a deleted resource".into())
                })?;
                (id, r)
            } else {
                i.next_id += 1;
                let id = format!("{}-{}", self.kind, i.next_id);
                let mut tags = spec.tags.clone();
                tags.insert(TAG_ENV.into(), cx.env.clone());
                tags.insert(TAG_ADDRESS.into(), spec.address.to_string());
                let r = FakeResource {
                    kind: self.kind.into(),
                    name: spec.name.clone(),
                    tags,
                    props: spec.props.clone(),
                };
                i.resources.insert(id.clone(), r.clone());
                i.tokens.insert(token.into(), id.clone());
                (id, r)
            }
        };
        self.cloud.end(ix, d, h).await;
        Ok(observed(&id, &res))
    }
    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let (ix, d, h) = self.cloud.begin("update", &spec.address)?;
        let res = {
            let mut i = self.cloud.lock();
            let r = i
                .resources
                .get_mut(&current.id)
                .ok_or_else(|| ReconcileError::Invalid(format!("{} vanished", current.id)))?;
            for c in changes {
                if let Some(v) = &c.after {
                    r.props.insert(c.field.clone(), v.clone());
                }
            }
            r.clone()
        };
        self.cloud.end(ix, d, h).await;
        Ok(observed(&current.id, &res))
    }
    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let (ix, d, h) = self.cloud.begin("delete", &spec.address)?;
        self.cloud.lock().resources.remove(&current.id);
        self.cloud.end(ix, d, h).await;
        Ok(())
    }
}

/// A registry with the kinds `fake` (findable by tags), `fake-token`
/// (found only by id: idempotency tokens alone prevent duplicates) and
/// `fake-protected` (like `fake`, with deletion protection in `protected`).
pub fn registry(cloud: &Arc<FakeCloud>) -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(FakeReconciler {
        kind: "fake",
        cloud: cloud.clone(),
        find_by_tags: true,
        replace_on: &[("zone", "the zone cannot change in place")],
        protection: None,
    }));
    r.register(Arc::new(FakeReconciler {
        kind: "fake-token",
        cloud: cloud.clone(),
        find_by_tags: false,
        replace_on: &[],
        protection: None,
    }));
    r.register(Arc::new(FakeReconciler {
        kind: "fake-protected",
        cloud: cloud.clone(),
        find_by_tags: true,
        replace_on: &[("zone", "the zone cannot change in place")],
        protection: Some(DeletionProtection {
            field: "protected",
            how_to_disable: "set protected = false for {env} and apply",
        }),
    }));
    r
}

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

/// A spec of `kind` at `address` (region: the first segment; name: the
/// address with `-` for `/`; props `{"size": 1}`) depending on `deps`.
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
/// One object in the fake cloud.
pub struct FakeResource {
    /// The kind that created it (`fake`).
    pub kind: String,
    /// The name it was created with.
    pub name: String,
    /// Its tags (ownership tags included when drctl made it).
    pub tags: BTreeMap<String, String>,
    /// Its properties, as the last create or update left them.
    pub props: Props,
}

#[derive(Clone, Debug)]
/// One reconciler call the fake cloud saw (for ordering and overlap checks).
pub struct Call {
    /// `read`, `create`, `update`, `delete` or `write_tags`.
    pub op: &'static str,
    /// The resource's address.
    pub address: Address,
    /// When the call started.
    pub started: Instant,
    /// When it returned; `None` while it runs (or hangs).
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
    /// Calls still to fail transiently, and whether they take effect first
    /// (the answer is lost) or not (refused before doing anything).
    transient: BTreeMap<(Address, &'static str), (usize, bool)>,
    mutations: usize,
    crash_at: Option<usize>,
    delay: Duration,
    in_use_checks: bool,
    witness: Option<Witness>,
    objections: Vec<String>,
}

/// A check run at the start of every mutating call (op, address): `Err`
/// is an objection, kept for [`FakeCloud::objections`].
type Witness = Arc<dyn Fn(&'static str, &Address) -> Result<(), String> + Send + Sync>;

/// The fake cloud; share it between reconcilers with `Arc`.
#[derive(Default)]
pub struct FakeCloud {
    inner: Mutex<Inner>,
    /// Notified when an injected crash happens.
    pub crashed: Notify,
}

impl FakeCloud {
    /// An empty cloud with no faults.
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
    /// Every call `op` on `address` fails with a fatal error carrying `message`
    /// (until [`clear_faults`](Self::clear_faults)).
    pub fn fail(&self, address: &str, op: &'static str, message: &str) {
        self.lock()
            .fail
            .insert((Address::new(address), op), message.into());
    }
    /// The next `times` calls `op` on `address` fail with a transient error
    /// (class `Retryable`, like a 503 the SDK gave up on) before doing
    /// anything.
    pub fn fail_transiently(&self, address: &str, op: &'static str, times: usize) {
        self.lock()
            .transient
            .insert((Address::new(address), op), (times, false));
    }
    /// The next `times` calls `op` on `address` take effect, then answer
    /// with a transient error: the answer was lost.
    pub fn lose_answers(&self, address: &str, op: &'static str, times: usize) {
        self.lock()
            .transient
            .insert((Address::new(address), op), (times, true));
    }
    /// How many resources of `kind` the cloud holds.
    pub fn count_kind(&self, kind: &str) -> usize {
        self.lock()
            .resources
            .values()
            .filter(|r| r.kind == kind)
            .count()
    }
    /// Every call `op` on `address` never returns (a stuck API call).
    pub fn hang(&self, address: &str, op: &'static str) {
        self.lock().hang.insert((Address::new(address), op));
    }
    /// The `n`-th mutating call (1-based) takes effect, then never returns.
    pub fn crash_at(&self, n: usize) {
        self.lock().crash_at = Some(n);
    }
    /// Deleting a resource whose id another resource's props name fails
    /// with a dependency violation (like `HealthCheckInUse`, `ResourceInUse`);
    /// creating a resource of a `unique` kind with a taken name fails.
    pub fn check_in_use(&self, on: bool) {
        self.lock().in_use_checks = on;
    }
    /// Runs `check` at the start of every mutating call, with its op
    /// (`create`, `update`, `delete`, `write_tags`) and address; what it
    /// objects to is kept for [`objections`](Self::objections). E.g. that
    /// the state file on disk already records the call as pending.
    pub fn witness(
        &self,
        check: impl Fn(&'static str, &Address) -> Result<(), String> + Send + Sync + 'static,
    ) {
        self.lock().witness = Some(Arc::new(check));
    }
    /// What the [`witness`](Self::witness) objected to, in call order.
    pub fn objections(&self) -> Vec<String> {
        self.lock().objections.clone()
    }
    /// Removes every injected failure, hang, transient failure and crash point.
    pub fn clear_faults(&self) {
        let mut i = self.lock();
        i.fail.clear();
        i.hang.clear();
        i.transient.clear();
        i.crash_at = None;
    }
    /// Every call so far, in the order they started.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }
    /// How many mutating calls (not reads) were made.
    pub fn mutations(&self) -> usize {
        self.lock().mutations
    }
    /// The mutating calls so far, in order: (address, op).
    pub fn mutating_calls(&self) -> Vec<(String, &'static str)> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.op != "read")
            .map(|c| (c.address.0.clone(), c.op))
            .collect()
    }
    /// Forgets the calls so far and resets the mutation count.
    pub fn reset_calls(&self) {
        let mut i = self.lock();
        i.calls.clear();
        i.mutations = 0;
    }
    /// Every object in the cloud, by id.
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
    /// Changes a resource's tags out of band: `f` edits them in place.
    pub fn retag(&self, address: &str, f: impl Fn(&mut BTreeMap<String, String>)) {
        for r in self.lock().resources.values_mut() {
            if r.tags.get(TAG_ADDRESS).map(String::as_str) == Some(address) {
                f(&mut r.tags);
            }
        }
    }
    /// The tags of the resource owned at `address`.
    pub fn tags_of(&self, address: &str) -> Option<BTreeMap<String, String>> {
        self.lock()
            .resources
            .values()
            .find(|r| r.tags.get(TAG_ADDRESS).map(String::as_str) == Some(address))
            .map(|r| r.tags.clone())
    }
    /// Deletes a resource out of band.
    pub fn remove_owned(&self, address: &str) {
        self.lock()
            .resources
            .retain(|_, r| r.tags.get(TAG_ADDRESS).map(String::as_str) != Some(address));
    }
    /// Puts a resource carrying `env`'s ownership tags for `address` into the
    /// cloud, as an earlier call whose answer was lost would have.
    pub fn insert_owned(&self, kind: &str, env: &str, address: &str) -> String {
        let id = self.insert_foreign(kind, &address.replace('/', "-"));
        let mut i = self.lock();
        if let Some(r) = i.resources.get_mut(&id) {
            r.tags.insert(TAG_ENV.into(), env.into());
            r.tags.insert(TAG_ADDRESS.into(), address.into());
            r.props.insert("size".into(), Value::from(1));
        }
        id
    }
    /// Sets a property of the resource `id` out of band.
    pub fn set_prop(&self, id: &str, field: &str, value: Value) {
        if let Some(r) = self.lock().resources.get_mut(id) {
            r.props.insert(field.into(), value);
        }
    }
    /// Sets a tag of the resource `id` out of band.
    pub fn set_tag(&self, id: &str, key: &str, value: &str) {
        if let Some(r) = self.lock().resources.get_mut(id) {
            r.tags.insert(key.into(), value.into());
        }
    }
    /// The tags of the resource `id`.
    pub fn tags_of_id(&self, id: &str) -> Option<BTreeMap<String, String>> {
        self.lock().resources.get(id).map(|r| r.tags.clone())
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
    ) -> Result<(usize, Duration, bool, bool), ReconcileError> {
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
        let mut lost = false;
        if let Some((n, effect)) = i.transient.get_mut(&(address.clone(), op)) {
            if *n > 0 {
                *n -= 1;
                if !*effect {
                    return Err(transient_error(op, "refused"));
                }
                lost = true;
            }
        }
        let hang = i.hang.contains(&(address.clone(), op));
        let mut crash = false;
        if op != "read" {
            i.mutations += 1;
            crash = i.crash_at == Some(i.mutations);
            if let Some(check) = i.witness.clone() {
                if let Err(e) = check(op, address) {
                    i.objections.push(e);
                }
            }
        }
        Ok((
            ix,
            if op == "read" {
                Duration::ZERO
            } else {
                i.delay
            },
            hang || crash,
            lost,
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

fn transient_error(op: &str, what: &str) -> ReconcileError {
    ReconcileError::Api {
        operation: op.into(),
        class: ErrorClass::Retryable,
        code: "ServiceUnavailable".into(),
        message: format!("injected transient fault ({what})"),
    }
}

/// The answer of a call whose `lost` flag is set: its effect happened.
fn answer<T>(op: &str, lost: bool, v: T) -> Result<T, ReconcileError> {
    if lost {
        Err(transient_error(
            op,
            "the call took effect, its answer was lost",
        ))
    } else {
        Ok(v)
    }
}

/// Kind whose create takes no token and refuses a second resource of the
/// same name with `AlreadyExists` (IAM roles, target groups, tables, ...).
pub const NAMED: &str = "fake-named";
/// Kind like a subnet: lives in the object its `zone` names; replaced
/// create-before-destroy only when that changes (a new container), since in
/// the same zone a second object with the same `cidr` is refused (like
/// `InvalidSubnet.Conflict`) while the fake cloud checks use.
pub const CONTAINED: &str = "fake-contained";
/// Kind created without tags (tagged later, like a Route53 zone): a read
/// knows it only by the pending create's token.
pub const LATE_TAGGED: &str = "fake-late-tag";

fn observed(id: &str, r: &FakeResource) -> Observed {
    let mut attrs = Props::new();
    attrs.insert("arn".into(), Value::String(format!("arn:fake:{id}")));
    Observed {
        id: id.into(),
        props: r.props.clone(),
        attrs,
    }
}

/// [`observed`], with the tags (for a taggable kind).
fn observed_tagged(id: &str, r: &FakeResource, taggable: bool) -> Observed {
    let mut o = observed(id, r);
    if taggable {
        o.props
            .insert(crate::diff::TAGS.into(), serde_json::json!(r.tags));
    }
    o
}

/// A reconciler for one kind over the fake cloud. With `find_by_tags` off the
/// kind can only be found by id, so only the idempotency token prevents a
/// duplicate after a crash (like EC2's `ClientToken` on real AWS).
pub struct FakeReconciler {
    /// The kind this reconciler registers as.
    pub kind: &'static str,
    /// The cloud it calls.
    pub cloud: Arc<FakeCloud>,
    /// Whether reads may find the object by its ownership tags (else by id only).
    pub find_by_tags: bool,
    /// Fields that force a replacement, with their reasons.
    pub replace_on: &'static [(&'static str, &'static str)],
    /// The deletion protection the kind reports.
    pub protection: Option<DeletionProtection>,
    /// [`Reconciler::create_before_destroy`] and [`Reconciler::name_is_unique`].
    pub create_before_destroy: bool,
    /// Reads report tags and `write_tags` makes the diff's tag writes.
    pub taggable: bool,
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
    fn create_before_destroy(&self) -> bool {
        self.create_before_destroy
    }
    fn create_before_destroy_for(&self, fields: &[FieldChange]) -> bool {
        if self.kind == CONTAINED {
            return fields
                .iter()
                .any(|f| f.field == "zone" && f.replace_reason.is_some());
        }
        self.create_before_destroy
    }
    fn name_is_unique(&self) -> bool {
        self.create_before_destroy
    }

    fn taggable(&self) -> bool {
        self.taggable
    }
    async fn write_tags(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        writes: &crate::diff::TagWrites,
    ) -> Result<(), ReconcileError> {
        if !self.taggable {
            return Err(ReconcileError::Internal("not taggable".into()));
        }
        let (ix, d, h, lost) = self.cloud.begin("tag", &spec.address)?;
        {
            let mut i = self.cloud.lock();
            let r = i
                .resources
                .get_mut(&current.id)
                .ok_or_else(|| ReconcileError::Internal(format!("{} vanished", current.id)))?;
            r.tags.extend(writes.set.clone());
            r.tags.retain(|k, _| !writes.delete.contains(k));
        }
        self.cloud.end(ix, d, h).await;
        answer("tag", lost, ())
    }
    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let (ix, d, h, _) = self.cloud.begin("read", &spec.address)?;
        self.cloud.end(ix, d, h).await;
        let i = self.cloud.lock();
        let pending = cx
            .pending_create(&spec.address)
            .and_then(|t| i.tokens.get(t));
        let check = |id: &str, r: &FakeResource| {
            let owned = owned_by(&r.tags, &cx.env, &spec.address);
            let other_env = r.tags.get(TAG_ENV).filter(|e| **e != cx.env);
            // `drctl import` reads what it may adopt as found.
            let adopt = cx.adopting && self.taggable && other_env.is_none();
            if owned || adopt || pending.is_some_and(|p| p == id) {
                let mut o = observed_tagged(id, r, self.taggable);
                if self.kind == LATE_TAGGED {
                    o.props.insert("tagged".into(), Value::Bool(owned));
                }
                ReadOutcome::Found(o)
            } else {
                ReadOutcome::Clash {
                    id: id.into(),
                    detail: match other_env {
                        Some(e) => format!("it belongs to env '{e}'"),
                        None => "no ownership tags".into(),
                    },
                }
            }
        };
        if let Some(id) = known_id {
            return Ok(match i.resources.get(id) {
                // An id of another kind is not found, as on AWS.
                Some(r) if r.kind == self.kind => check(id, r),
                _ => ReadOutcome::NotFound,
            });
        }
        if !self.find_by_tags {
            return Ok(ReadOutcome::NotFound);
        }
        let owned: Vec<(&String, &FakeResource)> = i
            .resources
            .iter()
            .filter(|(id, r)| {
                r.kind == self.kind
                    && owned_by(&r.tags, &cx.env, &spec.address)
                    && !cx.is_deposed(&spec.address, id)
            })
            .collect();
        match owned.as_slice() {
            [] => Ok(i
                .resources
                .iter()
                .find(|(id, r)| {
                    r.kind == self.kind && r.name == spec.name && !cx.is_deposed(&spec.address, id)
                })
                .map(|(id, r)| check(id, r))
                .unwrap_or(ReadOutcome::NotFound)),
            [(id, r)] => Ok(ReadOutcome::Found(observed_tagged(id, r, self.taggable))),
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
        let (ix, d, h, lost) = self.cloud.begin("create", &spec.address)?;
        let (id, res) = {
            let mut i = self.cloud.lock();
            let taken = i
                .resources
                .values()
                .any(|r| r.kind == self.kind && r.name == spec.name);
            if self.kind == NAMED && taken {
                return Err(ReconcileError::Api {
                    operation: "create".into(),
                    class: ErrorClass::AlreadyExists,
                    code: "EntityAlreadyExists".into(),
                    message: format!("{} already exists", spec.name),
                });
            }
            let conflict = i.resources.values().any(|r| {
                r.kind == self.kind
                    && ["zone", "cidr"]
                        .iter()
                        .all(|k| r.props.get(*k) == spec.props.get(*k))
            });
            if self.kind == CONTAINED
                && i.in_use_checks
                && conflict
                && !i.tokens.contains_key(token)
            {
                return Err(ReconcileError::Api {
                    operation: "create".into(),
                    class: ErrorClass::Fatal,
                    code: "InvalidSubnet.Conflict".into(),
                    message: format!("{} conflicts with another in its zone", spec.name),
                });
            }
            if let Some(id) = i.tokens.get(token).cloned().filter(|_| self.kind != NAMED) {
                let r = i.resources.get(&id).cloned().ok_or_else(|| {
                    ReconcileError::Internal("token for a deleted resource".into())
                })?;
                (id, r)
            } else {
                if i.in_use_checks && self.create_before_destroy && taken {
                    return Err(ReconcileError::Api {
                        operation: "create".into(),
                        class: ErrorClass::AlreadyExists,
                        code: "DuplicateName".into(),
                        message: format!("{} is taken", spec.name),
                    });
                }
                i.next_id += 1;
                let id = format!("{}-{}", self.kind, i.next_id);
                let mut tags = spec.tags.clone();
                // A late-tagged kind is tagged by a second call, which a
                // lost answer of the first never makes.
                if self.kind != LATE_TAGGED || !lost {
                    tags.insert(TAG_ENV.into(), cx.env.clone());
                    tags.insert(TAG_ADDRESS.into(), spec.address.to_string());
                }
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
        answer("create", lost, observed(&id, &res))
    }
    async fn update(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let (ix, d, h, lost) = self.cloud.begin("update", &spec.address)?;
        let res = {
            let mut i = self.cloud.lock();
            let r = i
                .resources
                .get_mut(&current.id)
                .ok_or_else(|| ReconcileError::Internal(format!("{} vanished", current.id)))?;
            for c in changes {
                if let Some(v) = &c.after {
                    r.props.insert(c.field.clone(), v.clone());
                }
            }
            if self.kind == LATE_TAGGED {
                r.tags.insert(TAG_ENV.into(), cx.env.clone());
                r.tags.insert(TAG_ADDRESS.into(), spec.address.to_string());
            }
            r.clone()
        };
        self.cloud.end(ix, d, h).await;
        answer("update", lost, observed(&current.id, &res))
    }
    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let (ix, d, h, lost) = self.cloud.begin("delete", &spec.address)?;
        {
            let mut i = self.cloud.lock();
            let user = i.resources.iter().find(|(id, r)| {
                *id != &current.id
                    && r.props
                        .values()
                        .any(|v| v.to_string().contains(&format!("\"{}\"", current.id)))
            });
            if let (true, Some((user, _))) = (i.in_use_checks, user) {
                return Err(ReconcileError::Api {
                    operation: "delete".into(),
                    class: ErrorClass::DependencyViolation,
                    code: "ResourceInUse".into(),
                    message: format!("{} is in use by {user}", current.id),
                });
            }
            i.resources.remove(&current.id);
        }
        self.cloud.end(ix, d, h).await;
        answer("delete", lost, ())
    }
}

/// A registry with the kinds `fake` (findable by tags), `fake-token`
/// (found only by id: idempotency tokens alone prevent duplicates),
/// `fake-protected` (like `fake`, with deletion protection in `protected`),
/// `fake-cbd` (like `fake`, replaced create-before-destroy, names unique),
/// `fake-tagged` (like `fake`, with tags as desired state), [`NAMED`],
/// [`LATE_TAGGED`] and [`CONTAINED`].
pub fn registry(cloud: &Arc<FakeCloud>) -> Registry {
    let mut r = Registry::new();
    for kind in [NAMED, LATE_TAGGED] {
        r.register(Arc::new(FakeReconciler {
            kind,
            cloud: cloud.clone(),
            find_by_tags: true,
            replace_on: &[],
            protection: None,
            create_before_destroy: false,
            taggable: false,
        }));
    }
    r.register(Arc::new(FakeReconciler {
        kind: "fake",
        cloud: cloud.clone(),
        find_by_tags: true,
        replace_on: &[("zone", "the zone cannot change in place")],
        protection: None,
        create_before_destroy: false,
        taggable: false,
    }));
    r.register(Arc::new(FakeReconciler {
        kind: "fake-token",
        cloud: cloud.clone(),
        find_by_tags: false,
        replace_on: &[],
        protection: None,
        create_before_destroy: false,
        taggable: false,
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
        create_before_destroy: false,
        taggable: false,
    }));
    r.register(Arc::new(FakeReconciler {
        kind: "fake-cbd",
        cloud: cloud.clone(),
        find_by_tags: true,
        replace_on: &[("zone", "the zone cannot change in place")],
        protection: None,
        create_before_destroy: true,
        taggable: false,
    }));
    r.register(Arc::new(FakeReconciler {
        kind: CONTAINED,
        cloud: cloud.clone(),
        find_by_tags: true,
        replace_on: &[
            ("zone", "it cannot move to another zone"),
            ("cidr", "its cidr cannot change"),
        ],
        protection: None,
        create_before_destroy: false,
        taggable: false,
    }));
    r.register(Arc::new(FakeReconciler {
        kind: "fake-tagged",
        cloud: cloud.clone(),
        find_by_tags: true,
        replace_on: &[("zone", "the zone cannot change in place")],
        protection: None,
        create_before_destroy: false,
        taggable: true,
    }));
    r
}

/// A dependency map from `(node, [its dependencies])` pairs, as the walk
/// and the schedule take it (for their unit tests).
#[cfg(test)]
pub(crate) fn dependencies(edges: &[(&str, &[&str])]) -> BTreeMap<Address, BTreeSet<Address>> {
    edges
        .iter()
        .map(|(n, ds)| {
            (
                Address::new(*n),
                ds.iter().map(|d| Address::new(*d)).collect(),
            )
        })
        .collect()
}

//! `drctl import ADDR ID`: adopting an existing resource, one rule for
//! every importable kind ([`Reconciler::importable`]: the taggable ones).
//!
//! 1. Read the resource by `ID` (in the kind's own terms: [`Reconciler::import_id`])
//!    with [`Ctx::adopting`] set, so that a resource without ownership tags
//!    reads as found, with its tags.
//! 2. Refuse, changing nothing, when it is not there, carries another env's
//!    ownership tags (or this env's for another address), or is not the
//!    resource the spec describes: another id or name, or a field the kind
//!    cannot change in place ([`Reconciler::replace_on`]) that differs.
//! 3. Put the spec's tags on it with the kind's own tag call
//!    ([`Reconciler::write_tags`]): the ownership tags and the `[tags]` the
//!    resource lacks. Nothing is deleted: tags found on it stay, and the
//!    next plan shows them (and every other difference) as a change.
//! 4. Read it back as an owned resource: what the caller records in the state.

use crate::diff::{is_system_tag, observed_tags, FieldChange, TagWrites};
use crate::model::{contains_unknown, Observed, ReadOutcome, ResourceSpec, TAG_ADDRESS, TAG_ENV};
use crate::reconcile::{alternate_name, changes, Ctx, ReconcileError, Reconciler};
use std::collections::BTreeMap;
use thiserror::Error;

/// Why an import was refused. Each message is one paragraph saying what is
/// wrong and what to do; nothing was changed in the cloud.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("drctl import does not take {kind} resources ({id}): AWS cannot tag the kind, so there is nothing to mark, and none is needed: the plan finds {address} through what it attaches to (once that is this env's) and the next apply records it. Nothing was imported.")]
    /// The kind carries no tags, so ownership could not be marked.
    NotImportable {
        /// The address the user asked to import into.
        address: String,
        /// The reconciler kind at that address.
        kind: String,
        /// The physical id the user gave.
        id: String,
    },
    #[error("no {kind} with id {id} in {place}: check the id ({kind} takes {form}) and the region of {address}. Nothing was imported.")]
    /// Nothing with that id exists where the address says it lives.
    NotFound {
        /// The address the user asked to import into.
        address: String,
        /// The reconciler kind at that address.
        kind: String,
        /// The physical id, as the kind records it ([`Reconciler::import_id`]).
        id: String,
        /// Where it was looked for (`us-east-1`, or `global` for IAM and Route53).
        place: String,
        /// The id form the kind takes, with an example ([`Reconciler::import_id`]'s doc).
        form: String,
    },
    #[error("{kind} {id} is deleted (pending its recovery window): apply restores it; nothing was imported.")]
    /// The resource is deleted but restorable (a secret in its recovery
    /// window): apply brings it back, so there is nothing to import.
    Restorable {
        /// The reconciler kind at the address.
        kind: String,
        /// The physical id.
        id: String,
    },
    #[error("{id} carries the ownership tags of env '{env}' (drctl:env={env}): drctl will not take a resource from another env. Remove it from that env first (`drctl state rm` there, then remove its drctl:env and drctl:address tags) if it really belongs here. Nothing was imported.")]
    /// The resource belongs to another env (its `drctl:env` tag).
    OtherEnv {
        /// The physical id.
        id: String,
        /// The env its tag names.
        env: String,
    },
    #[error("{id} is already this env's {other} (its drctl:address tag): one resource cannot be two addresses. Import another resource as {address}, or let apply create it. Nothing was imported.")]
    /// The resource is this env's already, at another address.
    OtherAddress {
        /// The physical id.
        id: String,
        /// The address the user asked to import into.
        address: String,
        /// The address its `drctl:address` tag names.
        other: String,
    },
    #[error("{id} is not the resource {address} describes: {}. Check the id (another {kind} was meant?), or change the plan file so that it describes this resource; nothing was imported.", .differs.join("; "))]
    /// The resource differs from the spec in its id, name, or a field that
    /// cannot change in place.
    Mismatch {
        /// The address the user asked to import into.
        address: String,
        /// The reconciler kind at that address.
        kind: String,
        /// The physical id.
        id: String,
        /// Each difference, one phrase (`name: trading-vpc-dev != other-vpc`).
        differs: Vec<String>,
    },
    #[error("{address} is already in the cloud as {other} (carrying this env's ownership tags), not {id}: importing {id} would make two. Run `drctl plan` to see it, or delete {other} first. Nothing was imported.")]
    /// Another resource already carries this address's ownership tags.
    AlreadyOwned {
        /// The address the user asked to import into.
        address: String,
        /// The id the user gave.
        id: String,
        /// The id of the resource already owned at the address.
        other: String,
    },
    #[error("{id}: {detail}. Nothing was imported.")]
    /// The read by id reported a clash the import cannot resolve (another
    /// resource found, or tags that name neither this env nor another).
    NotAdoptable {
        /// The physical id.
        id: String,
        /// What was found instead, and the reconciler's clash detail.
        detail: String,
    },
    #[error("reading {id} as {kind}: {source}. Check that the id is a {kind}'s ({form}); nothing was imported.")]
    /// The read by id failed (a wrong id form, access denied, a network error).
    Read {
        /// The physical id.
        id: String,
        /// The reconciler kind at the address.
        kind: String,
        /// The id form the kind takes, with an example.
        form: String,
        /// The reconciler's error.
        source: Box<ReconcileError>,
    },
    #[error("{id} was found but its tags could not be written: {source}. Nothing is recorded in the state; run the import again.")]
    /// The tag write failed; the resource may carry some of the tags, and nothing
    /// is recorded.
    Tag {
        /// The physical id.
        id: String,
        /// The reconciler's error.
        source: Box<ReconcileError>,
    },
    #[error("{id} was tagged but does not read back as this env's {address} ({detail}); nothing is recorded in the state.")]
    /// After tagging, the resource does not read back as owned (a tag that did
    /// not stick); nothing is recorded.
    ReadBack {
        /// The physical id.
        id: String,
        /// The address the user asked to import into.
        address: String,
        /// What the read returned instead.
        detail: String,
    },
}

/// What an import adopted: the resource as an owned read found it after
/// tagging, and the changes the next plan will show for it.
#[derive(Debug)]
pub struct Imported {
    /// The resource as an owned read returns it: what the state records.
    pub observed: Observed,
    /// Every difference from the spec (tags included) that apply would make
    /// in place; empty when it matches. Not computed (empty) while the spec
    /// has values only known after apply.
    pub differs: Vec<FieldChange>,
    /// The tags the import wrote (ownership tags included).
    pub tagged: TagWrites,
}

impl Imported {
    /// The state record of the imported resource at `spec`'s address: the
    /// props found, with the tags as the plan compares them (so a tag added
    /// by hand then shows as a change).
    pub fn record(&self, spec: &ResourceSpec) -> crate::state::ResourceState {
        let o = &self.observed;
        let applied = match observed_tags(o) {
            Some(tags) => crate::diff::applied_with_tags(&o.props, &tags),
            None => o.props.clone(),
        };
        crate::state::ResourceState {
            kind: spec.kind.clone(),
            region: spec.region.clone(),
            name: spec.name.clone(),
            id: o.id.clone(),
            attrs: o.attrs.clone(),
            applied,
            dependencies: spec.dependencies(),
        }
    }

    /// The fields that differ from the spec, as shown to the user:
    /// `field`, or `field (forces replacement: reason)`.
    pub fn differing_fields(&self) -> Vec<String> {
        self.differs
            .iter()
            .map(|f| match &f.replace_reason {
                Some(r) => format!("{} (forces replacement: {r})", f.field),
                None => f.field.clone(),
            })
            .collect()
    }
}

/// Imports `id` as `spec` (resolved: references replaced by the state's
/// values where known). `form` describes the id the kind takes, for errors.
/// Guarantee: on any error nothing was written, except after the tag write
/// ([`ImportError::ReadBack`]), where the resource carries the tags and the
/// next import or plan finds it.
pub async fn import(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    given: &str,
    form: &str,
) -> Result<Imported, ImportError> {
    let id = r.import_id(given);
    if !r.importable() {
        return Err(ImportError::NotImportable {
            address: spec.address.to_string(),
            kind: spec.kind.clone(),
            id,
        });
    }
    refuse_second_owner(r, cx, spec, &id).await?;
    let found = read_for_adoption(r, cx, spec, &id, form).await?;
    let tags = observed_tags(&found).unwrap_or_default();
    check_owner(cx, spec, &id, &tags)?;
    let differs = identity_differs(r, cx, spec, &id, &found);
    if !differs.is_empty() {
        return Err(ImportError::Mismatch {
            address: spec.address.to_string(),
            kind: spec.kind.clone(),
            id,
            differs,
        });
    }
    let writes = missing_tags(spec, &tags);
    if !writes.is_empty() {
        r.write_tags(cx, spec, &found, &writes)
            .await
            .map_err(|source| ImportError::Tag {
                id: id.clone(),
                source: Box::new(source),
            })?;
    }
    let observed = read_back(r, cx, spec, found.id).await?;
    let differs = if crate::plan::has_unknowns(spec) {
        vec![]
    } else {
        changes(r, cx, spec, &observed)
    };
    Ok(Imported {
        observed,
        differs,
        tagged: writes,
    })
}

/// Another resource already answering to the address (by its ownership
/// tags) would make two: refused.
async fn refuse_second_owner(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    id: &str,
) -> Result<(), ImportError> {
    match r.read(cx, spec, None).await {
        Ok(ReadOutcome::Found(o)) if !is_id(&o, id) => Err(ImportError::AlreadyOwned {
            address: spec.address.to_string(),
            id: id.to_string(),
            other: o.id,
        }),
        _ => Ok(()),
    }
}

/// The resource `id` read as one that may be adopted (ownership tags not
/// required), or why it cannot be.
async fn read_for_adoption(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    id: &str,
    form: &str,
) -> Result<Observed, ImportError> {
    let adopting = Ctx {
        adopting: true,
        ..cx.clone()
    };
    let id = id.to_string();
    match r.read(&adopting, spec, Some(&id)).await {
        Ok(ReadOutcome::Found(o)) => Ok(o),
        Ok(ReadOutcome::NotFound) => Err(ImportError::NotFound {
            address: spec.address.to_string(),
            kind: spec.kind.clone(),
            id,
            place: spec.region.clone().unwrap_or_else(|| "global".into()),
            form: form.to_string(),
        }),
        Ok(ReadOutcome::Restorable(_)) => Err(ImportError::Restorable {
            kind: spec.kind.clone(),
            id,
        }),
        Ok(ReadOutcome::Clash { id: other, detail }) => {
            Err(match detail.strip_prefix("it belongs to env '") {
                Some(rest) if other == id => ImportError::OtherEnv {
                    id,
                    env: rest.trim_end_matches('\'').to_string(),
                },
                _ => ImportError::NotAdoptable {
                    id,
                    detail: format!("found {other}: {detail}"),
                },
            })
        }
        Err(source) => Err(ImportError::Read {
            id,
            kind: spec.kind.clone(),
            form: form.to_string(),
            source: Box::new(source),
        }),
    }
}

/// The spec's tags the resource lacks; its own stay (the plan shows them).
fn missing_tags(spec: &ResourceSpec, tags: &BTreeMap<String, String>) -> TagWrites {
    TagWrites {
        set: spec
            .tags
            .iter()
            .filter(|(k, v)| !is_system_tag(k) && tags.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        delete: Default::default(),
    }
}

/// The resource read again after the tag write, now as this env's own.
async fn read_back(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    id: String,
) -> Result<Observed, ImportError> {
    let back = |detail: String| ImportError::ReadBack {
        id: id.clone(),
        address: spec.address.to_string(),
        detail,
    };
    match r.read(cx, spec, Some(&id)).await {
        Ok(ReadOutcome::Found(o)) if o.id == id => Ok(o),
        Ok(other) => Err(back(format!("{other:?}"))),
        Err(e) => Err(back(e.to_string())),
    }
}

/// Whether `id` names `o`: its physical id, or the name or ARN a kind also
/// takes (a secret's name for its ARN): the same resource either way.
fn is_id(o: &Observed, id: &str) -> bool {
    let attr = |k: &str| o.attrs.get(k).and_then(|v| v.as_str()) == Some(id);
    o.id == id || attr("name") || attr("arn")
}

/// Refuses a resource that another env, or another address of this env,
/// owns.
fn check_owner(
    cx: &Ctx,
    spec: &ResourceSpec,
    id: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ImportError> {
    match tags.get(TAG_ENV) {
        Some(env) if env != &cx.env => Err(ImportError::OtherEnv {
            id: id.to_string(),
            env: env.clone(),
        }),
        Some(_) => match tags.get(TAG_ADDRESS) {
            Some(a) if a != spec.address.as_str() => Err(ImportError::OtherAddress {
                id: id.to_string(),
                address: spec.address.to_string(),
                other: a.clone(),
            }),
            _ => Ok(()),
        },
        None => Ok(()),
    }
}

/// What makes `found` another resource than `spec`: its id (a kind read by
/// name found the spec's name, not the given one), its name (`name` attr),
/// or a field that forces replacement. Values known only after apply are
/// not compared.
fn identity_differs(
    r: &dyn Reconciler,
    cx: &Ctx,
    spec: &ResourceSpec,
    id: &str,
    found: &Observed,
) -> Vec<String> {
    let mut out = vec![];
    if !is_id(found, id) {
        out.push(format!(
            "the {} of {} is {}, not {id}",
            spec.kind, spec.address, found.id
        ));
    }
    let norm = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    if let Some(name) = found.attrs.get("name").and_then(|v| v.as_str()) {
        let want = norm(&spec.name);
        if norm(name) != want && norm(name) != norm(&alternate_name(&spec.name, &spec.name)) {
            out.push(format!(
                "its name is {name:?}, the plan's is {:?}",
                spec.name
            ));
        }
    }
    for c in changes(r, cx, spec, found) {
        let (Some(reason), Some(after)) = (&c.replace_reason, &c.after) else {
            continue;
        };
        if contains_unknown(after) {
            continue;
        }
        let before = c
            .before
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "(none)".into());
        out.push(format!(
            "{} is {before}, the plan's is {after} ({reason}: it cannot be changed in place)",
            c.field
        ));
    }
    out
}

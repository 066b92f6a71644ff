//! Tags: the ones drctl puts in every create call, ownership checks, and
//! the pieces every taggable kind shares to make tags desired state: a read
//! reports the tags it found ([`with_tags`], done by [`check_owned`]); the
//! engine diffs them ([`drctl_core::diff::tags_change`]) and hands the kind
//! its [`TagWrites`]; the kind makes them with its service's calls.

use drctl_core::diff::TagWrites;
use drctl_core::model::{owned_by, Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::Ctx;
use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// `Found` when `tags` carry this env and the spec's address (with the tags
/// reported for the diff, see [`with_tags`]), else a clash that names what
/// is wrong.
pub fn check_owned(
    cx: &Ctx,
    spec: &ResourceSpec,
    id: &str,
    tags: &Tags,
    observed: impl FnOnce() -> Observed,
) -> ReadOutcome {
    if owned_by(tags, &cx.env, &spec.address) || adoptable(cx, tags) {
        return ReadOutcome::Found(with_tags(observed(), tags));
    }
    let detail = match (
        tags.get(drctl_core::model::TAG_ENV),
        tags.get(drctl_core::model::TAG_ADDRESS),
    ) {
        (None, _) => "it has no drctl:env tag".to_string(),
        (Some(e), _) if e != &cx.env => format!("it belongs to env '{e}'"),
        (_, a) => format!(
            "its drctl:address tag is {:?}",
            a.map(String::as_str).unwrap_or("missing")
        ),
    };
    ReadOutcome::Clash {
        id: id.to_string(),
        detail,
    }
}

/// Whether `drctl import` may read a resource with `tags` as found
/// ([`Ctx::adopting`]): it carries no env's ownership tags, or this env's
/// (the import checks the address). Another env's stays a clash.
pub fn adoptable(cx: &Ctx, tags: &Tags) -> bool {
    cx.adopting
        && tags
            .get(drctl_core::model::TAG_ENV)
            .is_none_or(|e| e == &cx.env)
}

/// `o` reporting the tags its read found, for the shared tag diff
/// ([`drctl_core::diff::tags_change`]; tags are desired state).
pub fn with_tags(mut o: Observed, tags: &Tags) -> Observed {
    o.props
        .insert(drctl_core::diff::TAGS.into(), serde_json::json!(tags));
    o
}

/// `spec` with only `tags`: lets a kind's create-call tag builder build the
/// tag list of a write ([`drctl_core::diff::TagWrites::set`]).
pub fn only(spec: &ResourceSpec, tags: &Tags) -> ResourceSpec {
    ResourceSpec {
        tags: tags.clone(),
        ..spec.clone()
    }
}

/// The whole tag set a service that replaces all tags at once (S3
/// PutBucketTagging) must be sent: the tags the read found (`aws:` and
/// other unmanaged tags among them, unchanged), minus the deletes, plus the
/// sets. A write never drops or adds an `aws:` tag (TagWrites holds none).
pub fn whole_set(current: &Observed, writes: &TagWrites) -> Tags {
    let mut out = drctl_core::diff::observed_tags(current).unwrap_or_default();
    out.retain(|k, _| !writes.delete.contains(k));
    out.extend(writes.set.clone());
    out
}

/// The keys of a [`drctl_core::diff::TagWrites::delete`], as SDK lists want them.
/// A kind's tag writes as its service's two calls: `tag` with the spec cut
/// to the tags to set (when there are any), then `untag` with the keys to
/// remove (when there are any); each is usually one [`tag_call!`].
pub(crate) async fn write_with<T, U>(
    spec: &ResourceSpec,
    writes: &TagWrites,
    tag: impl FnOnce(ResourceSpec) -> T,
    untag: impl FnOnce(Vec<String>) -> U,
) -> Result<(), drctl_core::reconcile::ReconcileError>
where
    T: std::future::Future<Output = Result<(), drctl_core::reconcile::ReconcileError>>,
    U: std::future::Future<Output = Result<(), drctl_core::reconcile::ReconcileError>>,
{
    if !writes.set.is_empty() {
        tag(only(spec, &writes.set)).await?;
    }
    if !writes.delete.is_empty() {
        untag(keys(writes)).await?;
    }
    Ok(())
}

pub fn keys(writes: &TagWrites) -> Vec<String> {
    writes.delete.iter().cloned().collect()
}

/// EC2 tag writes (every EC2 kind): CreateTags overwrites same-named tags,
/// DeleteTags removes by key.
pub async fn ec2_write(
    aws: &crate::Aws,
    spec: &ResourceSpec,
    id: &str,
    writes: &TagWrites,
) -> Result<(), drctl_core::reconcile::ReconcileError> {
    let ec2 = aws.ec2(aws.region_of(spec));
    if !writes.set.is_empty() {
        let req = ec2
            .create_tags()
            .resources(id)
            .set_tags(Some(ec2_tags(&only(spec, &writes.set))));
        crate::retry::call("ec2:CreateTags", crate::retry::Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
    }
    if !writes.delete.is_empty() {
        let tags = writes
            .delete
            .iter()
            .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build())
            .collect();
        let req = ec2.delete_tags().resources(id).set_tags(Some(tags));
        crate::retry::call("ec2:DeleteTags", crate::retry::Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
    }
    Ok(())
}

pub fn ec2_tags(spec: &ResourceSpec) -> Vec<aws_sdk_ec2::types::Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
        .collect()
}

/// The `TagSpecifications` entry that tags an EC2 resource in its create call.
pub fn ec2_tag_spec(
    resource_type: aws_sdk_ec2::types::ResourceType,
    spec: &ResourceSpec,
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(ec2_tags(spec)))
        .build()
}

pub fn from_ec2(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// EC2 filters that find resources by their ownership tags.
pub fn ec2_owner_filters(cx: &Ctx, spec: &ResourceSpec) -> Vec<aws_sdk_ec2::types::Filter> {
    use aws_sdk_ec2::types::Filter;
    vec![
        Filter::builder()
            .name(format!("tag:{}", drctl_core::model::TAG_ENV))
            .values(&cx.env)
            .build(),
        Filter::builder()
            .name(format!("tag:{}", drctl_core::model::TAG_ADDRESS))
            .values(spec.address.as_str())
            .build(),
    ]
}

/// Several resources answer to one address: an error naming all of them.
/// drctl never picks one; the user removes the extras or fixes the state.
pub fn ambiguous<T>(
    spec: &ResourceSpec,
    many: &[T],
    id: impl Fn(&T) -> Option<String>,
) -> drctl_core::reconcile::ReconcileError {
    drctl_core::reconcile::ReconcileError::Ambiguous {
        address: spec.address.to_string(),
        ids: many.iter().filter_map(id).collect(),
    }
}

/// The prop `read` sets on a resource it recognised as the work of an
/// unfinished create by that create's idempotency token (a Route53
/// `CallerReference`), found before the create could tag it. Such a
/// resource is drctl's own: the diff ([`with_untagged_change`]) shows the
/// ownership tags being added and `update` adds them; `destroy` deletes it.
pub const UNTAGGED: &str = "ownership_tags";

/// Marks `o` as found by its pending create token, without ownership tags.
pub fn mark_untagged(mut o: Observed) -> Observed {
    o.props.insert(
        UNTAGGED.into(),
        serde_json::json!("missing (create interrupted)"),
    );
    o
}

/// `changes` plus, for a resource marked by [`mark_untagged`], the change
/// that adds its ownership tags.
pub fn with_untagged_change(
    mut changes: Vec<drctl_core::diff::FieldChange>,
    observed: &Observed,
) -> Vec<drctl_core::diff::FieldChange> {
    if let Some(before) = observed.props.get(UNTAGGED) {
        changes.push(drctl_core::diff::FieldChange {
            field: UNTAGGED.into(),
            before: Some(before.clone()),
            after: Some(serde_json::json!(format!(
                "{} and {}",
                drctl_core::model::TAG_ENV,
                drctl_core::model::TAG_ADDRESS
            ))),
            replace_reason: None,
            drift: false,
        });
    }
    changes
}

/// Whether an update must add the ownership tags ([`with_untagged_change`]).
pub fn adds_ownership_tags(changes: &[drctl_core::diff::FieldChange]) -> bool {
    changes.iter().any(|c| c.field == UNTAGGED)
}

/// The ARN of a resource: its `arn` attribute, else its physical id.
pub fn arn_of(current: &Observed) -> &str {
    current
        .attrs
        .get("arn")
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&current.id)
}

/// One tag call (a fluent request, cloned per attempt), retried on
/// temporary errors: `tag_call!("sns:TagResource", sns.tag_resource()...)`.
#[macro_export]
macro_rules! tag_call {
    ($op:expr, $req:expr) => {{
        let req = $req;
        $crate::retry::call($op, $crate::retry::Policy::TRANSIENT, || req.clone().send())
            .await
            .map(|_| ())
    }};
}

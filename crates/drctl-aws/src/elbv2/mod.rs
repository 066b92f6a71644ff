//! Elastic Load Balancing v2: the application load balancer, its target
//! group and listener, one file per kind. Shared here: the tag helpers (one
//! DescribeTags/AddTags shape for all three kinds) and [`arn_suffix`].

pub mod listener;
pub mod load_balancer;
pub mod target_group;

use crate::retry::{call, Policy, Wait};
use crate::tag_index::tags_or;
use crate::tags::Tags;
use crate::Aws;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use aws_sdk_elasticloadbalancingv2::Client;
use drctl_core::model::ResourceSpec;
use drctl_core::reconcile::{Ctx, ReconcileError};

/// An ALB takes a few minutes to turn `active`: 15 min (drctl's figure;
/// terraform-provider-aws `aws_lb` allows 10 to create:
/// internal/service/elbv2/load_balancer.go, `Timeouts`), polled every 5 s.
pub(crate) const LOAD_BALANCER_ACTIVE: Wait = Wait::secs(900, 5);
/// A deleted ALB leaves DescribeLoadBalancers within minutes (its ENIs
/// later): 10 min, the terraform-provider-aws `aws_lb` delete default
/// (internal/service/elbv2/load_balancer.go, `Timeouts`).
pub(crate) const LOAD_BALANCER_DELETED: Wait = Wait::secs(600, 5);
/// DeleteTargetGroup answers ResourceInUse while a listener or an Auto
/// Scaling group still uses it: 5 min (drctl's figure), every 5 s.
pub(crate) const TARGET_GROUP_DELETE: Wait = Wait::secs(300, 5);

/// The spec's tags in elbv2's shape (for create calls).
pub(crate) fn elbv2_tags(spec: &ResourceSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of one elbv2 resource (load balancer, target group, listener):
/// from the env's tag index, else one DescribeTags.
pub(crate) async fn elbv2_tags_of(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    arn: &str,
) -> Result<Tags, ReconcileError> {
    let region = aws.region_of(spec);
    let elb = aws.elbv2(region);
    tags_or(aws, region, &cx.env, arn, || describe_tags(&elb, arn)).await
}

/// The tag writes of an ELBv2 resource (load balancer, target group,
/// listener) `arn`: AddTags for the set ones, RemoveTags for the deleted.
pub(crate) async fn elbv2_write_tags(
    aws: &Aws,
    spec: &ResourceSpec,
    arn: &str,
    writes: &drctl_core::diff::TagWrites,
) -> Result<(), ReconcileError> {
    use crate::tags::{keys, only};
    let add = only(spec, &writes.set);
    let elb = aws.elbv2(aws.region_of(spec));
    if !writes.set.is_empty() {
        crate::tag_call!(
            "elasticloadbalancing:AddTags",
            elb.add_tags()
                .resource_arns(arn)
                .set_tags(Some(elbv2_tags(&add)))
        )?;
    }
    if !writes.delete.is_empty() {
        crate::tag_call!(
            "elasticloadbalancing:RemoveTags",
            elb.remove_tags()
                .resource_arns(arn)
                .set_tag_keys(Some(keys(writes)))
        )?;
    }
    Ok(())
}

/// The part of an ARN after `marker` (`loadbalancer/`, `targetgroup/` kept).
pub(crate) fn arn_suffix(arn: &str, marker: &str, keep_marker: bool) -> Option<String> {
    let at = arn.find(marker)?;
    let from = if keep_marker { at } else { at + marker.len() };
    Some(arn[from..].to_string())
}

pub(crate) async fn describe_tags(elb: &Client, arn: &str) -> Result<Tags, ReconcileError> {
    let out = call("elbv2:DescribeTags", Policy::TRANSIENT, || {
        elb.describe_tags().resource_arns(arn).send()
    })
    .await?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter(|d| d.resource_arn() == Some(arn))
        .flat_map(|d| d.tags())
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect())
}

/// `read` of an ELBv2 kind from its describe answer: none, one (drctl's,
/// or a clash, by its tags: [`elbv2_tags_of`]), or several (ambiguous, an
/// error naming all). `arn` is the kind's ARN accessor, `observe` its view.
pub(crate) async fn read_one<T>(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    found: Vec<T>,
    arn: impl Fn(&T) -> Option<&str>,
    observe: impl Fn(&T) -> Result<drctl_core::model::Observed, ReconcileError>,
) -> Result<drctl_core::model::ReadOutcome, ReconcileError> {
    use drctl_core::model::{Observed, ReadOutcome};
    match found.as_slice() {
        [] => Ok(ReadOutcome::NotFound),
        [one] => {
            let id = arn(one).unwrap_or_default();
            let tags = elbv2_tags_of(aws, cx, spec, id).await?;
            match crate::tags::check_owned(cx, spec, id, &tags, Observed::default) {
                ReadOutcome::Found(_) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                    observe(one)?,
                    &tags,
                ))),
                other => Ok(other),
            }
        }
        many => Err(crate::tags::ambiguous(spec, many, |x| {
            arn(x).map(str::to_string)
        })),
    }
}

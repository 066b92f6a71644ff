//! `elbv2:target-group` — the ALB's HTTP target group of one region.
//!
//! Found by ARN (the physical id) when known, else by name (`spec.name`;
//! `TargetGroupNotFound` when absent); several matches are an error.
//! Ownership: DescribeTags.
//!
//! Props: `vpc_id`, `protocol`, `port`, `target_type` (replace); the health
//! check (`health_check_path`, `health_check_protocol`,
//! `health_check_interval_seconds`, `health_check_timeout_seconds`,
//! `healthy_threshold_count`, `unhealthy_threshold_count`, `matcher`) is
//! changed in place with ModifyTargetGroup.
//! Attrs: `arn`, `arn_suffix` (`targetgroup/<name>/<id>`, the CloudWatch
//! `TargetGroup` dimension), `name`.
//!
//! Caveats: AWS refuses to delete a group a listener or an Auto Scaling
//! group still uses (`ResourceInUse`); the destroy rules order those first
//! and delete waits for the error to clear.

use crate::elbv2::TARGET_GROUP_DELETE;
use crate::elbv2::{arn_suffix, elbv2_tags};
use crate::errors::found;
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Matcher, ProtocolEnum, TargetGroup, TargetTypeEnum};
use aws_sdk_elasticloadbalancingv2::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde_json::json;

pub struct TargetGroupReconciler {
    pub aws: Aws,
}

impl TargetGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

async fn describe(
    elb: &Client,
    arn: Option<&str>,
    name: &str,
) -> Result<Vec<TargetGroup>, ReconcileError> {
    let req = match arn {
        Some(arn) => elb.describe_target_groups().target_group_arns(arn),
        None => elb.describe_target_groups().names(name),
    };
    let out = call("elbv2:DescribeTargetGroups", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await;
    Ok(found(out)?
        .map(|o| o.target_groups().to_vec())
        .unwrap_or_default())
}

fn attrs(arn: &str, name: Option<&str>) -> drctl_core::model::Props {
    props::from_json(json!({
        "arn": arn,
        "arn_suffix": arn_suffix(arn, "targetgroup/", true),
        "name": name,
    }))
}

fn observe(spec: &ResourceSpec, tg: &TargetGroup) -> Result<Observed, ReconcileError> {
    let arn = tg.target_group_arn().ok_or_else(|| {
        ReconcileError::Internal(format!("{}: target group without an ARN", spec.address))
    })?;
    Ok(Observed {
        id: arn.to_string(),
        props: props::from_json(json!({
            "vpc_id": tg.vpc_id(),
            "protocol": tg.protocol().map(|p| p.as_str()),
            "port": tg.port(),
            "target_type": tg.target_type().map(|t| t.as_str()),
            "health_check_path": tg.health_check_path(),
            "health_check_protocol": tg.health_check_protocol().map(|p| p.as_str()),
            "health_check_interval_seconds": tg.health_check_interval_seconds(),
            "health_check_timeout_seconds": tg.health_check_timeout_seconds(),
            "healthy_threshold_count": tg.healthy_threshold_count(),
            "unhealthy_threshold_count": tg.unhealthy_threshold_count(),
            "matcher": tg.matcher().and_then(|m| m.http_code()),
        })),
        attrs: attrs(arn, tg.target_group_name()),
    })
}

fn int(spec: &ResourceSpec, field: &str) -> Result<i32, ReconcileError> {
    i32::try_from(props::i64(spec, field)?)
        .map_err(|_| props::config(spec, field, format!("property '{field}' is out of range")))
}

#[async_trait]
impl Reconciler for TargetGroupReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::TARGET_GROUP
    }

    /// The listener forwards to it and the Auto Scaling group registers into
    /// it: AWS refuses to delete it while in use (`ResourceInUse`), so the new
    /// one is made first and they move to it.
    fn create_before_destroy(&self) -> bool {
        true
    }

    /// Target group names are unique per region and account.
    fn name_is_unique(&self) -> bool {
        true
    }

    fn taggable(&self) -> bool {
        true
    }

    async fn write_tags(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        writes: &drctl_core::diff::TagWrites,
    ) -> Result<(), ReconcileError> {
        crate::elbv2::elbv2_write_tags(&self.aws, spec, &current.id, writes).await
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("vpc_id", "a target group cannot move to another VPC"),
            ("protocol", "a target group's protocol cannot change"),
            ("port", "a target group's port cannot change"),
            ("target_type", "a target group's target type cannot change"),
        ]
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        let tgs = describe(&elb, known_id, &spec.name).await?;
        crate::elbv2::read_one(
            &self.aws,
            cx,
            spec,
            tgs,
            |x| x.target_group_arn(),
            |x| observe(spec, x),
        )
        .await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        // No token in this API: the unique name and the tags in this call
        // make a crashed create recoverable by lookup.
        let req = elb
            .create_target_group()
            .name(&spec.name)
            .vpc_id(props::str(spec, "vpc_id")?)
            .protocol(ProtocolEnum::from(props::str(spec, "protocol")?))
            .port(int(spec, "port")?)
            .target_type(TargetTypeEnum::from(props::str(spec, "target_type")?))
            .health_check_path(props::str(spec, "health_check_path")?)
            .health_check_protocol(ProtocolEnum::from(props::str(
                spec,
                "health_check_protocol",
            )?))
            .health_check_interval_seconds(int(spec, "health_check_interval_seconds")?)
            .health_check_timeout_seconds(int(spec, "health_check_timeout_seconds")?)
            .healthy_threshold_count(int(spec, "healthy_threshold_count")?)
            .unhealthy_threshold_count(int(spec, "unhealthy_threshold_count")?)
            .matcher(
                Matcher::builder()
                    .http_code(props::str(spec, "matcher")?)
                    .build(),
            )
            .set_tags(Some(elbv2_tags(spec)));
        let out = call("elbv2:CreateTargetGroup", Policy::ONCE, || {
            req.clone().send()
        })
        .await?;
        let tg = out.target_groups().first().ok_or_else(|| {
            ReconcileError::Internal("elbv2:CreateTargetGroup returned no target group".into())
        })?;
        let arn = tg.target_group_arn().ok_or_else(|| {
            ReconcileError::Internal("elbv2:CreateTargetGroup returned no ARN".into())
        })?;
        Ok(Observed {
            id: arn.to_string(),
            props: spec.props.clone(),
            attrs: attrs(arn, tg.target_group_name()),
        })
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        // Only health check fields reach here (the rest replace); setting
        // them all at once is one call either way.
        let req = elb
            .modify_target_group()
            .target_group_arn(&current.id)
            .health_check_path(props::str(spec, "health_check_path")?)
            .health_check_protocol(ProtocolEnum::from(props::str(
                spec,
                "health_check_protocol",
            )?))
            .health_check_interval_seconds(int(spec, "health_check_interval_seconds")?)
            .health_check_timeout_seconds(int(spec, "health_check_timeout_seconds")?)
            .healthy_threshold_count(int(spec, "healthy_threshold_count")?)
            .unhealthy_threshold_count(int(spec, "unhealthy_threshold_count")?)
            .matcher(
                Matcher::builder()
                    .http_code(props::str(spec, "matcher")?)
                    .build(),
            );
        call("elbv2:ModifyTargetGroup", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        let what = format!(
            "target group {} ({}) to be deletable (still used by a listener or an Auto Scaling group)",
            spec.name, spec.address
        );
        delete_when_unblocked(&what, TARGET_GROUP_DELETE, || {
            call("elbv2:DeleteTargetGroup", Policy::ONCE, || {
                elb.delete_target_group()
                    .target_group_arn(&current.id)
                    .send()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arn_suffix_is_the_cloudwatch_dimension() {
        let a = attrs(
            "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/trading-tg-dev/73e2d6bc24d8a067",
            Some("trading-tg-dev"),
        );
        assert_eq!(
            a["arn_suffix"],
            "targetgroup/trading-tg-dev/73e2d6bc24d8a067"
        );
        assert_eq!(a["name"], "trading-tg-dev");
    }
}

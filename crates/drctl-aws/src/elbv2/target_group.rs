//! `elbv2:target-group` — the ALB's HTTP target group of one region.
//!
//! Found by ARN (the physical id) when known, else by name (`spec.name`;
//! `TargetGroupNotFound` when absent); several matches are an error.
//! Ownership: DescribeTags.
//!
//! Props: [`TargetGroupProps`]. Attrs: `arn`, `arn_suffix` (`targetgroup/<name>/<id>`, the CloudWatch
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
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `elbv2:target-group` compares. The health check fields change in
/// place with ModifyTargetGroup (one call sets them all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupProps {
    /// The VPC's id (`vpc-…`). Replaces.
    pub vpc_id: String,
    /// Traffic protocol to the targets, `HTTP`. Replaces.
    pub protocol: String,
    /// Port the targets listen on (1-65535). Replaces.
    pub port: i32,
    /// `instance` (targets are the Auto Scaling group's instances). Replaces.
    pub target_type: String,
    /// Path the health check requests, e.g. `/health`. In place.
    pub health_check_path: String,
    /// Protocol of the health check, `HTTP`. In place.
    pub health_check_protocol: String,
    /// Seconds between health checks (5-300). In place.
    pub health_check_interval_seconds: i32,
    /// Seconds without an answer that fail a check (2-120). In place.
    pub health_check_timeout_seconds: i32,
    /// Consecutive passed checks that make a target healthy (2-10). In place.
    pub healthy_threshold_count: i32,
    /// Consecutive failed checks that make a target unhealthy (2-10). In place.
    pub unhealthy_threshold_count: i32,
    /// HTTP codes that count as healthy, e.g. `200` or `200-299`. In place.
    pub matcher: String,
}

/// Fields whose change replaces the target group, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("vpc_id", "a target group cannot move to another VPC"),
    ("protocol", "a target group's protocol cannot change"),
    ("port", "a target group's port cannot change"),
    ("target_type", "a target group's target type cannot change"),
];

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
    // Not `TargetGroupProps`: a field AWS does not report is null, not a default.
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
        REPLACE_ON
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
        let p: TargetGroupProps = props::typed(spec)?;
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        // No token in this API: the unique name and the tags in this call
        // make a crashed create recoverable by lookup.
        let req = elb
            .create_target_group()
            .name(&spec.name)
            .vpc_id(&p.vpc_id)
            .protocol(ProtocolEnum::from(p.protocol.as_str()))
            .port(p.port)
            .target_type(TargetTypeEnum::from(p.target_type.as_str()))
            .health_check_path(&p.health_check_path)
            .health_check_protocol(ProtocolEnum::from(p.health_check_protocol.as_str()))
            .health_check_interval_seconds(p.health_check_interval_seconds)
            .health_check_timeout_seconds(p.health_check_timeout_seconds)
            .healthy_threshold_count(p.healthy_threshold_count)
            .unhealthy_threshold_count(p.unhealthy_threshold_count)
            .matcher(Matcher::builder().http_code(&p.matcher).build())
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
        let p: TargetGroupProps = props::typed(spec)?;
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        // Only health check fields reach here (the rest replace); setting
        // them all at once is one call either way.
        let req = elb
            .modify_target_group()
            .target_group_arn(&current.id)
            .health_check_path(&p.health_check_path)
            .health_check_protocol(ProtocolEnum::from(p.health_check_protocol.as_str()))
            .health_check_interval_seconds(p.health_check_interval_seconds)
            .health_check_timeout_seconds(p.health_check_timeout_seconds)
            .healthy_threshold_count(p.healthy_threshold_count)
            .unhealthy_threshold_count(p.unhealthy_threshold_count)
            .matcher(Matcher::builder().http_code(&p.matcher).build());
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
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<TargetGroupProps>(
            drctl_stack::kinds::TARGET_GROUP,
        );
        assert!(all.iter().all(|p| p.port == 80
            && p.health_check_interval_seconds > p.health_check_timeout_seconds
            && p.matcher == "200"));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // A port beyond i32 names the field.
        let mut s = crate::testing::blueprint_specs(drctl_stack::kinds::TARGET_GROUP).remove(0);
        s.props.insert("port".into(), json!(1_i64 << 40));
        let e = props::typed::<TargetGroupProps>(&s).unwrap_err();
        assert!(
            matches!(&e, ReconcileError::Config { field, .. } if field == "port"),
            "{e:?}"
        );
    }

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

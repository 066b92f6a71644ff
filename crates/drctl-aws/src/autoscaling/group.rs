//! `autoscaling:group` — the Auto Scaling group of one region.
//!
//! Found by name (`spec.name`, also the physical id; an empty
//! DescribeAutoScalingGroups answer means not found). Ownership: the
//! group's tags, set in CreateAutoScalingGroup with PropagateAtLaunch so
//! that instances carry them too.
//!
//! Props: [`AutoscalingGroupProps`]. Lists are reported in the plan's order
//! when they hold the same items, sorted otherwise. Attrs: `name`, `arn`.
//!
//! `desired_capacity` is set at create and whenever the plan changes it;
//! in between the target-tracking policy moves it, so a value within the
//! plan's `min_size..=max_size` is the policy's doing, not drift (outside
//! that range, e.g. 0 after a DR drill, it is drift and is restored).
//!
//! Caveats: a fresh instance profile in the launch template makes Create /
//! UpdateAutoScalingGroup fail with "Invalid IAM Instance Profile" for a
//! while: retried on the IAM schedule. Delete uses ForceDelete (instances
//! are terminated with the group) and waits until the group is gone, since
//! its instances' ENIs keep subnets and security groups busy until then.

use crate::autoscaling::GROUP_DELETED;
use crate::autoscaling::{asg_tags, describe, read_group};
use crate::errors::gone;
use crate::props::list_like_desired;
use crate::retry::{call, wait_for, Policy, Wait};
use crate::tags::check_owned;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::{AutoScalingGroup, LaunchTemplateSpecification, Tag};
use aws_sdk_autoscaling::Client;
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `autoscaling:group` compares. Every field changes in place:
/// UpdateAutoScalingGroup, except `target_group_arns`
/// (Attach/DetachLoadBalancerTargetGroups).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingGroupProps {
    /// The launch template's id (`lt-…`).
    pub launch_template_id: String,
    /// The template version, its number as a string (the template's `latest_version`).
    pub launch_template_version: String,
    /// Fewest instances (the plan's `min_size`).
    pub min_size: i32,
    /// Most instances (the plan's `max_size`).
    pub max_size: i32,
    /// Instances wanted; set at create and when the plan changes it, the
    /// scaling policy's within `min_size..=max_size` in between.
    pub desired_capacity: i32,
    /// The private subnets' ids (sent as `VPCZoneIdentifier`, comma-joined).
    pub subnet_ids: Vec<String>,
    /// The target groups' ARNs the instances register in.
    pub target_group_arns: Vec<String>,
    /// `ELB` (the target group's health check) or `EC2`.
    pub health_check_type: String,
    /// Seconds after launch before health checks count.
    pub health_check_grace_period: i32,
}

/// Nothing replaces the group: every field changes in place.
const REPLACE_ON: &[(&str, &str)] = &[];

pub struct AutoscalingGroupReconciler {
    pub aws: Aws,
}

impl AutoscalingGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn subnets(vpc_zone_identifier: Option<&str>) -> Vec<String> {
    vpc_zone_identifier
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn attrs(g: &AutoScalingGroup, name: &str) -> drctl_core::model::Props {
    props::from_json(json!({"name": name, "arn": g.auto_scaling_group_arn()}))
}

fn observe(spec: &ResourceSpec, g: &AutoScalingGroup) -> Observed {
    let name = g.auto_scaling_group_name().unwrap_or(&spec.name);
    let lt = g.launch_template();
    // Not `AutoscalingGroupProps`: a field AWS does not report is null, not a default.
    Observed {
        id: name.to_string(),
        props: props::from_json(json!({
            "launch_template_id": lt.and_then(|l| l.launch_template_id()),
            "launch_template_version": lt.and_then(|l| l.version()),
            "min_size": g.min_size(),
            "max_size": g.max_size(),
            "desired_capacity": g.desired_capacity(),
            "subnet_ids": list_like_desired(spec.props.get("subnet_ids"), subnets(g.vpc_zone_identifier())),
            "target_group_arns": list_like_desired(
                spec.props.get("target_group_arns"),
                g.target_group_arns().to_vec(),
            ),
            "health_check_type": g.health_check_type(),
            "health_check_grace_period": g.health_check_grace_period(),
        })),
        attrs: attrs(g, name),
    }
}

fn launch_template(p: &AutoscalingGroupProps) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .launch_template_id(&p.launch_template_id)
        .version(&p.launch_template_version)
        .build()
}

/// Create, retried while IAM has not propagated the template's instance
/// profile; then reads the group back for its ARN.
pub(crate) async fn create_group(
    asg: &Client,
    spec: &ResourceSpec,
) -> Result<Observed, ReconcileError> {
    let p: AutoscalingGroupProps = props::typed(spec)?;
    let tags: Vec<Tag> = spec
        .tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .resource_id(&spec.name)
                .resource_type("auto-scaling-group")
                .build()
        })
        .collect();
    // No token in this API (and the emulator accepts a second create): the
    // unique name and the tags in this call make a crash recoverable.
    let req = asg
        .create_auto_scaling_group()
        .auto_scaling_group_name(&spec.name)
        .launch_template(launch_template(&p))
        .min_size(p.min_size)
        .max_size(p.max_size)
        .desired_capacity(p.desired_capacity)
        .vpc_zone_identifier(p.subnet_ids.join(","))
        .set_target_group_arns(Some(p.target_group_arns.clone()))
        .health_check_type(&p.health_check_type)
        .health_check_grace_period(p.health_check_grace_period)
        .set_tags(Some(tags));
    call(
        "autoscaling:CreateAutoScalingGroup",
        Policy::IAM_PROPAGATION,
        || req.clone().send(),
    )
    .await?;
    let g = Policy::PROPAGATION
        .run("autoscaling:DescribeAutoScalingGroups", || async {
            describe(asg, spec, &spec.name)
                .await?
                .ok_or_else(|| ReconcileError::Api {
                    operation: "autoscaling:DescribeAutoScalingGroups".into(),
                    class: ErrorClass::NotFound,
                    code: "NotFound".into(),
                    message: format!("{} not visible yet after create", spec.name),
                })
        })
        .await?;
    Ok(Observed {
        id: spec.name.clone(),
        props: spec.props.clone(),
        attrs: attrs(&g, &spec.name),
    })
}

/// ForceDelete, then wait until the group is gone.
pub(crate) async fn delete_group(
    asg: &Client,
    spec: &ResourceSpec,
    name: &str,
    wait: Wait,
) -> Result<(), ReconcileError> {
    gone(
        call(
            "autoscaling:DeleteAutoScalingGroup",
            Policy::TRANSIENT,
            || {
                asg.delete_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .force_delete(true)
                    .send()
            },
        )
        .await
        .map(|_| ()),
    )?;
    let what = format!(
        "Auto Scaling group {name} ({}) to be deleted (its instances are terminating)",
        spec.address
    );
    wait_for(&what, wait, || async {
        Ok(describe(asg, spec, name).await?.is_none().then_some(()))
    })
    .await
}

/// Whether the observed desired capacity is one the scaling policy may
/// have set: within the plan's bounds (and the plan's own value is known).
fn scaled_by_policy(spec: &ResourceSpec, observed: &Observed) -> bool {
    let num = |p: &drctl_core::model::Props, k: &str| p.get(k).and_then(|v| v.as_i64());
    match (
        num(&observed.props, "desired_capacity"),
        num(&spec.props, "min_size"),
        num(&spec.props, "max_size"),
        num(&spec.props, "desired_capacity"),
    ) {
        (Some(have), Some(min), Some(max), Some(_)) => (min..=max).contains(&have),
        _ => false,
    }
}

async fn set_target_groups(
    asg: &Client,
    spec: &ResourceSpec,
    name: &str,
    wanted: &[String],
) -> Result<(), ReconcileError> {
    let have = describe(asg, spec, name)
        .await?
        .map(|g| g.target_group_arns().to_vec())
        .unwrap_or_default();
    let attach: Vec<String> = wanted
        .iter()
        .filter(|a| !have.contains(a))
        .cloned()
        .collect();
    let detach: Vec<String> = have
        .iter()
        .filter(|a| !wanted.contains(a))
        .cloned()
        .collect();
    if !attach.is_empty() {
        call(
            "autoscaling:AttachLoadBalancerTargetGroups",
            Policy::TRANSIENT,
            || {
                asg.attach_load_balancer_target_groups()
                    .auto_scaling_group_name(name)
                    .set_target_group_arns(Some(attach.clone()))
                    .send()
            },
        )
        .await?;
    }
    if !detach.is_empty() {
        call(
            "autoscaling:DetachLoadBalancerTargetGroups",
            Policy::TRANSIENT,
            || {
                asg.detach_load_balancer_target_groups()
                    .auto_scaling_group_name(name)
                    .set_target_group_arns(Some(detach.clone()))
                    .send()
            },
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Reconciler for AutoscalingGroupReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::AUTOSCALING_GROUP
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
        use crate::tags::only;
        let add = only(spec, &writes.set);
        let asg = self.aws.autoscaling(self.aws.region_of(spec));
        let tag = |k: &str| {
            Tag::builder()
                .resource_id(&current.id)
                .resource_type("auto-scaling-group")
                .key(k)
        };
        if !writes.set.is_empty() {
            // Like the create call: tags reach the group's instances too.
            let tags = add
                .tags
                .iter()
                .map(|(k, v)| tag(k).value(v).propagate_at_launch(true).build())
                .collect();
            crate::tag_call!(
                "autoscaling:CreateOrUpdateTags",
                asg.create_or_update_tags().set_tags(Some(tags))
            )?;
        }
        if !writes.delete.is_empty() {
            let tags = writes.delete.iter().map(|k| tag(k).build()).collect();
            crate::tag_call!(
                "autoscaling:DeleteTags",
                asg.delete_tags().set_tags(Some(tags))
            )?;
        }
        Ok(())
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = diff_props(&spec.props, &observed.props, self.replace_on());
        changes.retain(|c| c.field != "desired_capacity" || !scaled_by_policy(spec, observed));
        changes
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let name = known_id.unwrap_or(&spec.name);
        let Some(g) = read_group(&self.aws, spec, name).await? else {
            return Ok(ReadOutcome::NotFound);
        };
        Ok(check_owned(cx, spec, name, &asg_tags(&g), || {
            observe(spec, &g)
        }))
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        create_group(&self.aws.autoscaling(self.aws.region_of(spec)), spec).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: AutoscalingGroupProps = props::typed(spec)?;
        let asg = self.aws.autoscaling(self.aws.region_of(spec));
        let name = current.id.as_str();
        if changes.iter().any(|c| c.field != "target_group_arns") {
            // The desired capacity only when the plan asks: otherwise it is
            // the scaling policy's (AWS keeps it within the new bounds).
            let desired = match changes.iter().any(|c| c.field == "desired_capacity") {
                true => Some(p.desired_capacity),
                false => None,
            };
            let req = asg
                .update_auto_scaling_group()
                .auto_scaling_group_name(name)
                .launch_template(launch_template(&p))
                .min_size(p.min_size)
                .max_size(p.max_size)
                .set_desired_capacity(desired)
                .vpc_zone_identifier(p.subnet_ids.join(","))
                .health_check_type(&p.health_check_type)
                .health_check_grace_period(p.health_check_grace_period);
            // A new template version may name a fresh instance profile.
            call(
                "autoscaling:UpdateAutoScalingGroup",
                Policy::IAM_PROPAGATION,
                || req.clone().send(),
            )
            .await?;
        }
        if changes.iter().any(|c| c.field == "target_group_arns") {
            set_target_groups(&asg, spec, name, &p.target_group_arns).await?;
        }
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let asg = self.aws.autoscaling(self.aws.region_of(spec));
        delete_group(&asg, spec, &current.id, GROUP_DELETED).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::autoscaling::testing::client;
    use aws_sdk_autoscaling::operation::create_auto_scaling_group::{
        CreateAutoScalingGroupError, CreateAutoScalingGroupOutput,
    };
    use aws_sdk_autoscaling::operation::delete_auto_scaling_group::DeleteAutoScalingGroupOutput;
    use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput;
    use aws_smithy_mocks::mock;
    use aws_smithy_types::error::ErrorMetadata;

    fn spec() -> ResourceSpec {
        ResourceSpec {
            address: drctl_core::model::Address::new("us-east-1/compute/asg"),
            kind: drctl_stack::kinds::AUTOSCALING_GROUP.into(),
            region: Some("us-east-1".into()),
            name: "trading-asg-dev".into(),
            props: props::from_json(json!({
                "launch_template_id": "lt-1", "launch_template_version": "1",
                "min_size": 1, "max_size": 2, "desired_capacity": 1,
                "subnet_ids": ["subnet-b", "subnet-a"], "target_group_arns": ["tg-1"],
                "health_check_type": "ELB", "health_check_grace_period": 300,
            })),
            tags: [("drctl:env".to_string(), "dev".to_string())].into(),
            depends_on: vec![],
        }
    }

    fn group() -> AutoScalingGroup {
        AutoScalingGroup::builder()
            .auto_scaling_group_name("trading-asg-dev")
            .auto_scaling_group_arn("arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/trading-asg-dev")
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id("lt-1")
                    .version("1")
                    .build(),
            )
            .min_size(1)
            .max_size(2)
            .desired_capacity(1)
            .vpc_zone_identifier("subnet-a,subnet-b")
            .target_group_arns("tg-1")
            .health_check_type("ELB")
            .health_check_grace_period(300)
            .build()
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<AutoscalingGroupProps>(
            drctl_stack::kinds::AUTOSCALING_GROUP,
        );
        assert!(all.iter().all(|p| p.min_size <= p.desired_capacity
            && p.desired_capacity <= p.max_size
            && p.health_check_type == "ELB"
            && p.subnet_ids.len() == 2));
        assert!(REPLACE_ON.is_empty());
        // The test spec has the blueprint's shape, and a read of it the same.
        let p: AutoscalingGroupProps = props::typed(&spec()).unwrap();
        assert_eq!(props::to_props(&p), observe(&spec(), &group()).props);
    }

    #[tokio::test(start_paused = true)]
    async fn create_retries_while_the_instance_profile_propagates() {
        let create = mock!(Client::create_auto_scaling_group)
            .sequence()
            .error(|| {
                CreateAutoScalingGroupError::generic(
                    ErrorMetadata::builder()
                        .code("ValidationError")
                        .message("You must use a valid fully-formed launch template. Value (trading-ec2-profile-dev) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
                        .build(),
                )
            })
            .times(2)
            .output(|| CreateAutoScalingGroupOutput::builder().build())
            .build();
        let describe = mock!(Client::describe_auto_scaling_groups).then_output(|| {
            DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(group())
                .build()
        });
        let asg = client(&[&create, &describe]);
        let o = create_group(&asg, &spec()).await.unwrap();
        assert_eq!(create.num_calls(), 3);
        assert_eq!(o.id, "trading-asg-dev");
        assert!(o.attrs["arn"]
            .as_str()
            .unwrap()
            .ends_with("trading-asg-dev"));
        // What a read reports matches the plan's shapes (sorted subnets in
        // the plan's order, numbers as integers).
        assert_eq!(observe(&spec(), &group()).props, spec().props);
    }

    #[test]
    fn a_desired_capacity_the_policy_set_is_not_drift_but_one_out_of_bounds_is() {
        let r = AutoscalingGroupReconciler::new(&crate::Aws::from_config(
            aws_types::SdkConfig::builder().build(),
            None,
        ));
        let mut g = group();
        g.desired_capacity = Some(2);
        assert!(
            r.diff(&spec(), &observe(&spec(), &g)).is_empty(),
            "scaled out to 2 of max 2"
        );
        g.desired_capacity = Some(0);
        g.min_size = Some(0);
        let changes = r.diff(&spec(), &observe(&spec(), &g));
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["min_size", "desired_capacity"],
            "a DR drill is drift"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn delete_force_deletes_and_waits_until_the_group_is_gone() {
        let delete = mock!(Client::delete_auto_scaling_group)
            .match_requests(|r| r.force_delete() == Some(true))
            .then_output(|| DeleteAutoScalingGroupOutput::builder().build());
        let describe = mock!(Client::describe_auto_scaling_groups)
            .sequence()
            .output(|| {
                DescribeAutoScalingGroupsOutput::builder()
                    .auto_scaling_groups(group())
                    .build()
            })
            .times(2)
            .output(|| DescribeAutoScalingGroupsOutput::builder().build())
            .build();
        let asg = client(&[&delete, &describe]);
        delete_group(&asg, &spec(), "trading-asg-dev", GROUP_DELETED)
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert_eq!(describe.num_calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn delete_times_out_naming_the_group() {
        let delete = mock!(Client::delete_auto_scaling_group)
            .then_output(|| DeleteAutoScalingGroupOutput::builder().build());
        let describe = mock!(Client::describe_auto_scaling_groups)
            .sequence()
            .output(|| {
                DescribeAutoScalingGroupsOutput::builder()
                    .auto_scaling_groups(group())
                    .build()
            })
            .repeatedly()
            .build();
        let asg = client(&[&delete, &describe]);
        let err = delete_group(&asg, &spec(), "trading-asg-dev", GROUP_DELETED)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 900s waiting for Auto Scaling group trading-asg-dev (us-east-1/compute/asg) to be deleted (its instances are terminating)"
        );
    }
}

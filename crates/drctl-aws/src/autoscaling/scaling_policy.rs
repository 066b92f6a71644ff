//! `autoscaling:scaling-policy` — the ASG's target-tracking policy on
//! average CPU.
//!
//! Found by DescribePolicies(group `auto_scaling_group_name`, policy name
//! `spec.name`); the physical id is the policy ARN.
//!
//! Ownership: scaling policies cannot be tagged, so a policy counts as
//! drctl's when its Auto Scaling group carries this env's `drctl:env` tag
//! (the group is drctl's and the policy has drctl's deterministic name);
//! a group of another env (or none) makes it a clash.
//!
//! Props: [`ScalingPolicyProps`]. PutScalingPolicy is an upsert, so create
//! and update are the same call. Attrs: `arn`, `name`.
//!
//! Caveats: while its group does not exist the policy cannot either, so an
//! unknown group name reads as not found. The emulator creates no alarms
//! for target tracking.

use crate::autoscaling::asg_tags;
use crate::errors::gone;
use crate::retry::{call, Policy};
use crate::tags::{ambiguous, check_owned};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    MetricType, PredefinedMetricSpecification, ScalingPolicy, TargetTrackingConfiguration,
};
use aws_sdk_autoscaling::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `autoscaling:scaling-policy` compares; all but the group change in
/// place (PutScalingPolicy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicyProps {
    /// The Auto Scaling group's name. Replaces: a policy belongs to one group.
    pub auto_scaling_group_name: String,
    /// `TargetTrackingScaling`. In place.
    pub policy_type: String,
    /// The predefined metric tracked, `ASGAverageCPUUtilization`. In place.
    pub predefined_metric: String,
    /// The metric's target, in the metric's unit (percent CPU); a float, as
    /// the blueprint writes it (`70.0`). In place.
    pub target_value: f64,
}

/// Fields whose change replaces the policy, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[(
    "auto_scaling_group_name",
    "a scaling policy cannot move to another Auto Scaling group",
)];

pub struct ScalingPolicyReconciler {
    pub aws: Aws,
}

impl ScalingPolicyReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

async fn describe(
    asg: &Client,
    group: &str,
    name: &str,
) -> Result<Vec<ScalingPolicy>, ReconcileError> {
    let out = call("autoscaling:DescribePolicies", Policy::TRANSIENT, || {
        asg.describe_policies()
            .auto_scaling_group_name(group)
            .policy_names(name)
            .send()
    })
    .await;
    Ok(crate::errors::found(out)?
        .map(|o| {
            o.scaling_policies()
                .iter()
                .filter(|p| p.policy_name() == Some(name))
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

fn observe(spec: &ResourceSpec, p: &ScalingPolicy) -> Observed {
    let tt = p.target_tracking_configuration();
    let arn = p.policy_arn().unwrap_or_default();
    // Not `ScalingPolicyProps`: a field AWS does not report is null, not a default.
    Observed {
        id: arn.to_string(),
        props: props::from_json(json!({
            "auto_scaling_group_name": p.auto_scaling_group_name(),
            "policy_type": p.policy_type(),
            "predefined_metric": tt
                .and_then(|t| t.predefined_metric_specification())
                .and_then(|m| m.predefined_metric_type())
                .map(|t| t.as_str()),
            "target_value": tt.and_then(|t| t.target_value()),
        })),
        attrs: props::from_json(json!({
            "arn": arn,
            "name": p.policy_name().unwrap_or(&spec.name),
        })),
    }
}

/// PutScalingPolicy (an upsert); returns the policy ARN.
pub(crate) async fn put_policy(
    asg: &Client,
    spec: &ResourceSpec,
) -> Result<String, ReconcileError> {
    let p: ScalingPolicyProps = props::typed(spec)?;
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(p.predefined_metric.as_str()))
        .build();
    let config = TargetTrackingConfiguration::builder()
        .predefined_metric_specification(metric)
        .target_value(p.target_value)
        .build();
    let req = asg
        .put_scaling_policy()
        .auto_scaling_group_name(&p.auto_scaling_group_name)
        .policy_name(&spec.name)
        .policy_type(&p.policy_type)
        .target_tracking_configuration(config);
    let out = call("autoscaling:PutScalingPolicy", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await?;
    if let Some(arn) = out.policy_arn() {
        return Ok(arn.to_string());
    }
    // AWS always answers with the ARN (and the harness emulator, see
    // tests/harness/README.md); read it back if an answer ever lacks it.
    describe(asg, &p.auto_scaling_group_name, &spec.name)
        .await?
        .first()
        .and_then(|p| p.policy_arn().map(str::to_string))
        .ok_or_else(|| {
            ReconcileError::Internal(format!(
                "{}: PutScalingPolicy returned no ARN and policy {} is not visible",
                spec.address, spec.name
            ))
        })
}

#[async_trait]
impl Reconciler for ScalingPolicyReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::SCALING_POLICY
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        // Looked up by group and name even with a known ARN: DescribePolicies
        // takes no ARN filter, and the name is deterministic.
        let Some(group) = spec
            .props
            .get("auto_scaling_group_name")
            .and_then(|v| v.as_str())
        else {
            return Ok(ReadOutcome::NotFound);
        };
        let asg = self.aws.autoscaling(self.aws.region_of(spec));
        let policies = describe(&asg, group, &spec.name).await?;
        let p = match policies.as_slice() {
            [] => return Ok(ReadOutcome::NotFound),
            [p] => p,
            many => {
                return Err(ambiguous(spec, many, |p| {
                    p.policy_arn().map(str::to_string)
                }))
            }
        };
        // Ownership through the group (policies have no tags).
        let g = crate::autoscaling::read_group(&self.aws, spec, group).await?;
        let group_env = g.as_ref().and_then(|g| asg_tags(g).get(TAG_ENV).cloned());
        let arn = p.policy_arn().unwrap_or_default();
        match group_env {
            Some(env) if env == cx.env => Ok(ReadOutcome::Found(observe(spec, p))),
            _ => {
                // Reuse the standard clash wording with the group's tags.
                let tags = g.as_ref().map(asg_tags).unwrap_or_default();
                match check_owned(cx, spec, arn, &tags, Observed::default) {
                    ReadOutcome::Clash { id, detail } => Ok(ReadOutcome::Clash {
                        id,
                        detail: format!("its Auto Scaling group {group}: {detail}"),
                    }),
                    _ => Ok(ReadOutcome::Clash {
                        id: arn.to_string(),
                        detail: format!("its Auto Scaling group {group} is not this env's"),
                    }),
                }
            }
        }
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        // No token: PutScalingPolicy is an upsert by (group, name).
        let arn = put_policy(&self.aws.autoscaling(self.aws.region_of(spec)), spec).await?;
        Ok(Observed {
            id: arn.clone(),
            props: spec.props.clone(),
            attrs: props::from_json(json!({"arn": arn, "name": spec.name})),
        })
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let arn = put_policy(&self.aws.autoscaling(self.aws.region_of(spec)), spec).await?;
        Ok(Observed {
            id: arn.clone(),
            props: spec.props.clone(),
            attrs: props::from_json(json!({"arn": arn, "name": spec.name})),
        })
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let asg = self.aws.autoscaling(self.aws.region_of(spec));
        let Some(group) = current
            .props
            .get("auto_scaling_group_name")
            .and_then(|v| v.as_str())
        else {
            return Ok(());
        };
        // A deleted group takes its policies with it ("not found": gone).
        gone(
            call("autoscaling:DeletePolicy", Policy::TRANSIENT, || {
                asg.delete_policy()
                    .auto_scaling_group_name(group)
                    .policy_name(&spec.name)
                    .send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::operation::put_scaling_policy::PutScalingPolicyOutput;
    use aws_smithy_mocks::mock;

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<ScalingPolicyProps>(
            drctl_stack::kinds::SCALING_POLICY,
        );
        assert!(all.iter().all(|p| p.target_value == 70.0
            && p.predefined_metric == "ASGAverageCPUUtilization"
            && p.auto_scaling_group_name.ends_with("compute/asg.name")));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // The float stays a float on the way back (the diff compares 70.0).
        assert_eq!(props::to_props(&all[0])["target_value"], json!(70.0));
    }

    fn spec() -> ResourceSpec {
        ResourceSpec {
            address: drctl_core::model::Address::new("us-east-1/compute/cpu-policy"),
            kind: drctl_stack::kinds::SCALING_POLICY.into(),
            region: Some("us-east-1".into()),
            name: "trading-cpu-policy-dev".into(),
            props: props::from_json(json!({
                "auto_scaling_group_name": "trading-asg-dev", "policy_type": "TargetTrackingScaling",
                "predefined_metric": "ASGAverageCPUUtilization", "target_value": 70.0,
            })),
            tags: Default::default(),
            depends_on: vec![],
        }
    }

    #[tokio::test]
    async fn put_sends_cpu_target_tracking_at_70_and_reads_back_the_same_shapes() {
        let put = mock!(Client::put_scaling_policy)
            .match_requests(|r| {
                let tt = r.target_tracking_configuration();
                r.policy_name() == Some("trading-cpu-policy-dev")
                    && r.auto_scaling_group_name() == Some("trading-asg-dev")
                    && tt.and_then(|t| t.target_value()) == Some(70.0)
                    && tt
                        .and_then(|t| t.predefined_metric_specification())
                        .and_then(|m| m.predefined_metric_type())
                        == Some(&MetricType::AsgAverageCpuUtilization)
            })
            .then_output(|| {
                PutScalingPolicyOutput::builder()
                    .policy_arn("arn:aws:autoscaling:p")
                    .build()
            });
        let asg = crate::autoscaling::testing::client(&[&put]);
        assert_eq!(
            put_policy(&asg, &spec()).await.unwrap(),
            "arn:aws:autoscaling:p"
        );

        let p = ScalingPolicy::builder()
            .auto_scaling_group_name("trading-asg-dev")
            .policy_name("trading-cpu-policy-dev")
            .policy_arn("arn:aws:autoscaling:p")
            .policy_type("TargetTrackingScaling")
            .target_tracking_configuration(
                TargetTrackingConfiguration::builder()
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::AsgAverageCpuUtilization)
                            .build(),
                    )
                    .target_value(70.0)
                    .build(),
            )
            .build();
        assert_eq!(observe(&spec(), &p).props, spec().props);
    }
}

//! `elbv2:load-balancer` — the internet-facing Application Load Balancer of
//! one region.
//!
//! Found by ARN (the physical id) when known, else by name (`spec.name`;
//! DescribeLoadBalancers `Names`, `LoadBalancerNotFound` when absent). The
//! emulator lets two ALBs share a name, so several matches are an error.
//! Ownership: DescribeTags.
//!
//! Props: [`LoadBalancerProps`]. Attrs: `arn`, `dns_name`, `canonical_hosted_zone_id`, `arn_suffix`
//! (`app/<name>/<id>`, the CloudWatch `LoadBalancer` dimension), `name`.
//!
//! Caveats: an ALB is `provisioning` for minutes; `wait_ready` waits for
//! `active`. Delete is asynchronous and the ALB's ENIs keep its subnets and
//! security groups busy until it is gone, so delete waits for that too.
//! The elbv2 tag helpers used by the target group and listener live here.

use crate::elbv2::{arn_suffix, elbv2_tags};
use crate::elbv2::{LOAD_BALANCER_ACTIVE, LOAD_BALANCER_DELETED};
use crate::errors::{found, gone};
use crate::props::list_like_desired;
use crate::retry::{call, wait_for, Policy, Wait};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `elbv2:load-balancer` compares: the blueprint's props and what a read reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerProps {
    /// `internet-facing` or `internal`. Replaces.
    pub scheme: String,
    /// `application` (an ALB). Replaces.
    pub r#type: String,
    /// `ipv4` or `dualstack`. In place (SetIpAddressType).
    pub ip_address_type: String,
    /// The VPC's id (`vpc-…`), the one its subnets are in; not sent (AWS
    /// takes it from the subnets). Replaces.
    pub vpc_id: String,
    /// The public subnets' ids, one per zone, at least two. In place (SetSubnets).
    pub subnet_ids: Vec<String>,
    /// The ALB security group's id(s). In place (SetSecurityGroups).
    pub security_group_ids: Vec<String>,
}

/// Fields whose change replaces the load balancer, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("scheme", "a load balancer's scheme cannot change"),
    ("type", "a load balancer's type cannot change"),
    (
        "vpc_id",
        "a load balancer cannot move to another VPC (SetSubnets takes subnets of its own VPC only)",
    ),
];

pub struct LoadBalancerReconciler {
    pub aws: Aws,
}

impl LoadBalancerReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

async fn describe(
    elb: &Client,
    arn: Option<&str>,
    name: &str,
) -> Result<Vec<LoadBalancer>, ReconcileError> {
    let req = match arn {
        Some(arn) => elb.describe_load_balancers().load_balancer_arns(arn),
        None => elb.describe_load_balancers().names(name),
    };
    let out = call("elbv2:DescribeLoadBalancers", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await;
    Ok(found(out)?
        .map(|o| o.load_balancers().to_vec())
        .unwrap_or_default())
}

fn observe(spec: &ResourceSpec, lb: &LoadBalancer) -> Result<Observed, ReconcileError> {
    let arn = lb.load_balancer_arn().ok_or_else(|| {
        ReconcileError::Internal(format!("{}: load balancer without an ARN", spec.address))
    })?;
    let subnets: Vec<String> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id().map(str::to_string))
        .collect();
    // Not `LoadBalancerProps`: a field AWS does not report is null, not a default.
    Ok(Observed {
        id: arn.to_string(),
        props: props::from_json(json!({
            "scheme": lb.scheme().map(|s| s.as_str()),
            "type": lb.r#type().map(|t| t.as_str()),
            "ip_address_type": lb.ip_address_type().map(|t| t.as_str()),
            "vpc_id": lb.vpc_id(),
            "subnet_ids": list_like_desired(spec.props.get("subnet_ids"), subnets),
            "security_group_ids": list_like_desired(
                spec.props.get("security_group_ids"),
                lb.security_groups().to_vec(),
            ),
        })),
        attrs: props::from_json(json!({
            "arn": arn,
            "dns_name": lb.dns_name(),
            "canonical_hosted_zone_id": lb.canonical_hosted_zone_id(),
            "arn_suffix": arn_suffix(arn, "loadbalancer/", false),
            "name": lb.load_balancer_name(),
        })),
    })
}

/// Waits until the load balancer is `active` (and fails at once if AWS
/// reports it `failed`).
async fn wait_active(
    elb: &Client,
    spec: &ResourceSpec,
    arn: &str,
    wait: Wait,
) -> Result<LoadBalancer, ReconcileError> {
    let what = format!(
        "load balancer {} ({}) to become active",
        spec.name, spec.address
    );
    wait_for(&what, wait, || async {
        let lb = describe(elb, Some(arn), &spec.name)
            .await?
            .into_iter()
            .next();
        match lb.as_ref().and_then(|l| l.state()).and_then(|s| s.code()) {
            Some(LoadBalancerStateEnum::Active) => Ok(lb),
            Some(LoadBalancerStateEnum::Failed) => Err(ReconcileError::Failed {
                what: format!("load balancer {} ({})", spec.name, spec.address),
                state: "failed".into(),
                reason: lb
                    .as_ref()
                    .and_then(|l| l.state())
                    .and_then(|s| s.reason())
                    .unwrap_or("no reason given")
                    .into(),
            }),
            _ => Ok(None),
        }
    })
    .await
}

async fn create_with(elb: &Client, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
    let p: LoadBalancerProps = props::typed(spec)?;
    // No token in this API: the unique name and the tags in this call
    // make a crashed create recoverable by lookup.
    let req = elb
        .create_load_balancer()
        .name(&spec.name)
        .set_subnets(Some(p.subnet_ids))
        .set_security_groups(Some(p.security_group_ids))
        .scheme(LoadBalancerSchemeEnum::from(p.scheme.as_str()))
        .r#type(LoadBalancerTypeEnum::from(p.r#type.as_str()))
        .ip_address_type(IpAddressType::from(p.ip_address_type.as_str()))
        .set_tags(Some(elbv2_tags(spec)));
    let out = call("elbv2:CreateLoadBalancer", Policy::ONCE, || {
        req.clone().send()
    })
    .await?;
    let lb = out.load_balancers().first().ok_or_else(|| {
        ReconcileError::Internal("elbv2:CreateLoadBalancer returned no load balancer".into())
    })?;
    let mut o = observe(spec, lb)?;
    o.props = spec.props.clone();
    Ok(o)
}

async fn delete_and_wait(
    elb: &Client,
    spec: &ResourceSpec,
    arn: &str,
    wait: Wait,
) -> Result<(), ReconcileError> {
    gone(
        call("elbv2:DeleteLoadBalancer", Policy::TRANSIENT, || {
            elb.delete_load_balancer().load_balancer_arn(arn).send()
        })
        .await
        .map(|_| ()),
    )?;
    // Its ENIs hold the subnets and security groups until it is gone.
    let what = format!(
        "load balancer {} ({}) to be deleted",
        spec.name, spec.address
    );
    wait_for(&what, wait, || async {
        Ok(describe(elb, Some(arn), &spec.name)
            .await?
            .is_empty()
            .then_some(()))
    })
    .await
}

#[async_trait]
impl Reconciler for LoadBalancerReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::LOAD_BALANCER
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
        let lbs = describe(&elb, known_id, &spec.name).await?;
        crate::elbv2::read_one(
            &self.aws,
            cx,
            spec,
            lbs,
            |x| x.load_balancer_arn(),
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
        create_with(&self.aws.elbv2(self.aws.region_of(spec)), spec).await
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        let lb = wait_active(&elb, spec, &created.id, LOAD_BALANCER_ACTIVE).await?;
        let mut o = observe(spec, &lb)?;
        o.props = created.props;
        Ok(o)
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: LoadBalancerProps = props::typed(spec)?;
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        let arn = current.id.as_str();
        for c in changes {
            match c.field.as_str() {
                "subnet_ids" => {
                    let subnets = &p.subnet_ids;
                    call("elbv2:SetSubnets", Policy::TRANSIENT, || {
                        elb.set_subnets()
                            .load_balancer_arn(arn)
                            .set_subnets(Some(subnets.clone()))
                            .send()
                    })
                    .await?;
                }
                "security_group_ids" => {
                    let groups = &p.security_group_ids;
                    call("elbv2:SetSecurityGroups", Policy::TRANSIENT, || {
                        elb.set_security_groups()
                            .load_balancer_arn(arn)
                            .set_security_groups(Some(groups.clone()))
                            .send()
                    })
                    .await?;
                }
                "ip_address_type" => {
                    let t = IpAddressType::from(p.ip_address_type.as_str());
                    call("elbv2:SetIpAddressType", Policy::TRANSIENT, || {
                        elb.set_ip_address_type()
                            .load_balancer_arn(arn)
                            .ip_address_type(t.clone())
                            .send()
                    })
                    .await?;
                }
                other => {
                    return Err(ReconcileError::Internal(format!(
                        "{}: '{other}' cannot be updated in place",
                        spec.address
                    )))
                }
            }
        }
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        delete_and_wait(&elb, spec, &current.id, LOAD_BALANCER_DELETED).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::operation::create_load_balancer::CreateLoadBalancerOutput;
    use aws_sdk_elasticloadbalancingv2::operation::describe_load_balancers::DescribeLoadBalancersOutput;
    use aws_sdk_elasticloadbalancingv2::types::LoadBalancerState;
    use aws_smithy_mocks::{
        create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode,
    };

    pub(crate) fn client(rules: &[&Rule]) -> Client {
        let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            i = i.with_rule(r);
        }
        let conf = aws_sdk_elasticloadbalancingv2::Config::builder()
            .behavior_version(aws_sdk_elasticloadbalancingv2::config::BehaviorVersion::latest())
            .region(aws_sdk_elasticloadbalancingv2::config::Region::new(
                "us-east-1",
            ))
            .credentials_provider(aws_sdk_elasticloadbalancingv2::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .retry_config(aws_sdk_elasticloadbalancingv2::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(i)
            .build();
        Client::from_conf(conf)
    }

    const ARN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/trading-alb-dev/50dc6c495c0c9188";

    fn spec() -> ResourceSpec {
        ResourceSpec {
            address: drctl_core::model::Address::new("us-east-1/compute/alb"),
            kind: drctl_stack::kinds::LOAD_BALANCER.into(),
            region: Some("us-east-1".into()),
            name: "trading-alb-dev".into(),
            props: props::from_json(json!({
                "scheme": "internet-facing", "type": "application", "ip_address_type": "ipv4",
                "vpc_id": "vpc-1", "subnet_ids": ["subnet-b", "subnet-a"], "security_group_ids": ["sg-1"],
            })),
            tags: [("drctl:env".to_string(), "dev".to_string())].into(),
            depends_on: vec![],
        }
    }

    fn lb(state: LoadBalancerStateEnum) -> LoadBalancer {
        LoadBalancer::builder()
            .load_balancer_arn(ARN)
            .load_balancer_name("trading-alb-dev")
            .dns_name("trading-alb-dev-1.us-east-1.elb.amazonaws.com")
            .canonical_hosted_zone_id("Z35SXDOTRQ7X7K")
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .r#type(LoadBalancerTypeEnum::Application)
            .ip_address_type(IpAddressType::Ipv4)
            .state(LoadBalancerState::builder().code(state).build())
            .availability_zones(
                aws_sdk_elasticloadbalancingv2::types::AvailabilityZone::builder()
                    .subnet_id("subnet-a")
                    .build(),
            )
            .availability_zones(
                aws_sdk_elasticloadbalancingv2::types::AvailabilityZone::builder()
                    .subnet_id("subnet-b")
                    .build(),
            )
            .security_groups("sg-1")
            .build()
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<LoadBalancerProps>(
            drctl_stack::kinds::LOAD_BALANCER,
        );
        assert!(all.iter().all(|p| p.scheme == "internet-facing"
            && p.r#type == "application"
            && p.subnet_ids.len() == 2));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_waits_from_provisioning_to_active() {
        let describe = mock!(Client::describe_load_balancers)
            .sequence()
            .output(|| {
                DescribeLoadBalancersOutput::builder()
                    .load_balancers(lb(LoadBalancerStateEnum::Provisioning))
                    .build()
            })
            .times(3)
            .output(|| {
                DescribeLoadBalancersOutput::builder()
                    .load_balancers(lb(LoadBalancerStateEnum::Active))
                    .build()
            })
            .build();
        let elb = client(&[&describe]);
        let started = tokio::time::Instant::now();
        let got = wait_active(&elb, &spec(), ARN, LOAD_BALANCER_ACTIVE)
            .await
            .unwrap();
        assert_eq!(describe.num_calls(), 4);
        // At once, then after 1, 2 and 4 s (retry::FIRST_POLL, doubling).
        assert_eq!(
            started.elapsed(),
            std::time::Duration::from_secs(7),
            "it polled"
        );
        let o = observe(&spec(), &got).unwrap();
        assert_eq!(
            o.attrs["arn_suffix"],
            "app/trading-alb-dev/50dc6c495c0c9188"
        );
        assert_eq!(o.props["subnet_ids"], json!(["subnet-b", "subnet-a"]));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_times_out_naming_the_load_balancer() {
        let describe = mock!(Client::describe_load_balancers)
            .sequence()
            .output(|| {
                DescribeLoadBalancersOutput::builder()
                    .load_balancers(lb(LoadBalancerStateEnum::Provisioning))
                    .build()
            })
            .repeatedly()
            .build();
        let elb = client(&[&describe]);
        let err = wait_active(&elb, &spec(), ARN, LOAD_BALANCER_ACTIVE)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 900s waiting for load balancer trading-alb-dev (us-east-1/compute/alb) to become active"
        );
    }

    #[tokio::test]
    async fn create_sends_the_ownership_tags_in_the_create_call() {
        let create = mock!(Client::create_load_balancer)
            .match_requests(|r| {
                r.tags()
                    .iter()
                    .any(|t| t.key() == Some("drctl:env") && t.value() == Some("dev"))
                    && r.subnets() == ["subnet-b", "subnet-a"]
                    && r.name() == Some("trading-alb-dev")
            })
            .then_output(|| {
                CreateLoadBalancerOutput::builder()
                    .load_balancers(lb(LoadBalancerStateEnum::Provisioning))
                    .build()
            });
        let elb = client(&[&create]);
        let o = create_with(&elb, &spec()).await.unwrap();
        assert_eq!(create.num_calls(), 1);
        assert_eq!(o.id, ARN);
        assert_eq!(o.attrs["canonical_hosted_zone_id"], "Z35SXDOTRQ7X7K");
    }
}

//! EC2 Auto Scaling: the group and its scaling policy, one file per kind.
//! Shared here: describing a group (the policy reads its group) and its tags.

pub mod group;
pub mod scaling_policy;

use crate::retry::{call, Policy, Wait};
use crate::tags::{ambiguous, Tags};
use crate::Aws;
use aws_sdk_autoscaling::types::AutoScalingGroup;
use aws_sdk_autoscaling::Client;
use drctl_core::model::ResourceSpec;
use drctl_core::reconcile::ReconcileError;

/// A force-deleted group is gone once its instances have terminated
/// (minutes): 15 min (drctl's figure; terraform-provider-aws
/// `aws_autoscaling_group` allows 10 to delete:
/// internal/service/autoscaling/group.go, `Timeouts`), polled every 5 s.
pub(crate) const GROUP_DELETED: Wait = Wait::secs(900, 5);

pub(crate) fn asg_tags(g: &AutoScalingGroup) -> Tags {
    g.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// [`describe`] for reads: shared by the group's and its policy's read in
/// one run (see [`ReadCache`](crate::cache::ReadCache)). Waits poll with
/// [`describe`], never with this.
pub(crate) async fn read_group(
    aws: &Aws,
    spec: &ResourceSpec,
    name: &str,
) -> Result<Option<AutoScalingGroup>, ReconcileError> {
    let region = aws.region_of(spec);
    let asg = aws.autoscaling(region);
    aws.cache()
        .get_or_fetch(
            format!("autoscaling:DescribeAutoScalingGroups|{region}|{name}"),
            || async move { describe(&asg, spec, name).await },
        )
        .await
}

/// The group called `name`, if any (several are an error).
pub(crate) async fn describe(
    asg: &Client,
    spec: &ResourceSpec,
    name: &str,
) -> Result<Option<AutoScalingGroup>, ReconcileError> {
    let out = call(
        "autoscaling:DescribeAutoScalingGroups",
        Policy::TRANSIENT,
        || {
            asg.describe_auto_scaling_groups()
                .auto_scaling_group_names(name)
                .send()
        },
    )
    .await?;
    match out.auto_scaling_groups() {
        [] => Ok(None),
        [g] => Ok(Some(g.clone())),
        many => Err(ambiguous(spec, many, |g| {
            g.auto_scaling_group_arn().map(str::to_string)
        })),
    }
}

/// Test helpers the service's reconcilers share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    use aws_smithy_mocks::{create_mock_http_client, MockResponseInterceptor, Rule, RuleMode};

    pub(crate) fn client(rules: &[&Rule]) -> Client {
        let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            i = i.with_rule(r);
        }
        let conf = aws_sdk_autoscaling::Config::builder()
            .behavior_version(aws_sdk_autoscaling::config::BehaviorVersion::latest())
            .region(aws_sdk_autoscaling::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_autoscaling::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(i)
            .build();
        Client::from_conf(conf)
    }
}

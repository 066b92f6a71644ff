//! SNS: the alert topic and its subscription, one file per kind. Shared
//! here: reading a topic's tags (the subscription's read looks at them).

pub mod subscription;
pub mod topic;

use crate::errors::found;
use crate::retry::{call, Policy};
use crate::tags::Tags;
use aws_sdk_sns::Client;
use drctl_core::reconcile::ReconcileError;

/// A topic's tags (`None`: the topic is gone).
pub(crate) async fn topic_tags(sns: &Client, arn: &str) -> Result<Option<Tags>, ReconcileError> {
    let out = found(
        call("sns:ListTagsForResource", Policy::TRANSIENT, || {
            sns.list_tags_for_resource().resource_arn(arn).send()
        })
        .await,
    )?;
    Ok(out.map(|o| {
        o.tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }))
}

/// Test helpers the service's reconcilers share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    use aws_smithy_mocks::{Rule, RuleMode};

    pub(crate) fn sns_client(rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_sns, "us-west-2", RuleMode::Sequential, rules)
    }
}

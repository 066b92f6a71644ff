//! `sns:topic` — the alerts topic `trading-alerts-{env}` of one region.
//!
//! Found by id (the ARN), else by name: SNS names are unique per region and
//! account, so the ARN is derived from region, account (STS, asked once and
//! cached) and name, then GetTopicAttributes (NotFound → not found);
//! ownership via ListTagsForResource.
//! Props: [`SnsTopicProps`] (none). Attrs: `arn`, `name`; the physical id
//! is the ARN (subscriptions and alarm actions refer to it).
//!
//! CreateTopic carries the tags and is idempotent by name, so a retried
//! create returns the same topic. Delete: DeleteTopic (a missing topic
//! succeeds); it also removes the topic's subscriptions, pending ones too.

use crate::errors::{found, gone};
use crate::retry::{call, Policy};
use crate::sns::topic_tags;
use crate::tags::{check_owned, Tags};
use crate::Aws;
use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use aws_sdk_sns::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::OnceCell;

/// What `sns:topic` compares: nothing (the blueprint gives `{}`); the
/// struct refuses any key, so a prop added to the blueprint without
/// support here fails at create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsTopicProps {}

pub struct SnsTopicReconciler {
    pub aws: Aws,
    /// The account id is part of the ARN; STS is asked once per run.
    account: OnceCell<String>,
}

impl SnsTopicReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self {
            aws: aws.clone(),
            account: OnceCell::new(),
        }
    }

    async fn account(&self) -> Result<&str, ReconcileError> {
        self.account
            .get_or_try_init(|| self.aws.account_id())
            .await
            .map(String::as_str)
    }
}

pub(crate) fn topic_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:sns:{region}:{account}:{name}",
        crate::clients::partition(region)
    )
}

fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn observed(arn: &str) -> Observed {
    Observed {
        id: arn.to_string(),
        props: Default::default(),
        attrs: crate::props::from_json(json!({"arn": arn, "name": name_of(arn)})),
    }
}

/// Looks the topic `arn` up; ownership by its tags (`indexed`: already
/// known from the env's tag index, else asked for).
async fn read_arn(
    sns: &Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    arn: &str,
    indexed: Option<Tags>,
) -> Result<ReadOutcome, ReconcileError> {
    let exists = found(
        call("sns:GetTopicAttributes", Policy::TRANSIENT, || {
            sns.get_topic_attributes().topic_arn(arn).send()
        })
        .await,
    )?;
    if exists.is_none() {
        return Ok(ReadOutcome::NotFound);
    }
    let tags = match indexed {
        Some(tags) => tags,
        None => match topic_tags(sns, arn).await? {
            Some(tags) => tags,
            None => return Ok(ReadOutcome::NotFound),
        },
    };
    Ok(check_owned(cx, spec, arn, &tags, || observed(arn)))
}

/// The spec's tags in SNS's shape.
fn sns_tags(spec: &ResourceSpec) -> Result<Vec<Tag>, ReconcileError> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReconcileError::Internal(format!("{}: tag: {e}", spec.address)))
}

async fn create_topic(sns: &Client, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
    let tags = sns_tags(spec)?;
    // Idempotent by name: a retry (SDK or a re-run) gets the same topic.
    let out = call("sns:CreateTopic", Policy::TRANSIENT, || {
        sns.create_topic()
            .name(&spec.name)
            .set_tags(Some(tags.clone()))
            .send()
    })
    .await?;
    let arn = out
        .topic_arn()
        .ok_or_else(|| ReconcileError::Internal("CreateTopic returned no ARN".into()))?;
    Ok(observed(arn))
}

#[async_trait]
impl Reconciler for SnsTopicReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::SNS_TOPIC
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
        let sns = &self.aws.sns(self.aws.region_of(spec));
        let arn = &current.id;
        crate::tags::write_with(
            spec,
            writes,
            |add| async move {
                let tags = sns_tags(&add)?;
                let req = sns.tag_resource().resource_arn(arn).set_tags(Some(tags));
                crate::tag_call!("sns:TagResource", req)
            },
            |keys| async move {
                let req = sns
                    .untag_resource()
                    .resource_arn(arn)
                    .set_tag_keys(Some(keys));
                crate::tag_call!("sns:UntagResource", req)
            },
        )
        .await
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let region = self.aws.region_of(spec);
        let arn = match known_id {
            Some(arn) => arn.to_string(),
            None => topic_arn(region, self.account().await?, &spec.name),
        };
        let indexed = crate::tag_index::tags_of(&self.aws, region, &cx.env, &arn).await;
        read_arn(&self.aws.sns(region), cx, spec, &arn, indexed).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let SnsTopicProps {} = crate::props::typed(spec)?;
        create_topic(&self.aws.sns(self.aws.region_of(spec)), spec).await
    }

    /// Nothing to change: the topic has no props.
    async fn update(
        &self,
        _cx: &Ctx,
        _spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        Ok(current.clone())
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let sns = self.aws.sns(self.aws.region_of(spec));
        gone(
            call("sns:DeleteTopic", Policy::TRANSIENT, || {
                sns.delete_topic().topic_arn(&current.id).send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sns::testing::sns_client;
    use aws_sdk_sns::operation::create_topic::CreateTopicOutput;
    use aws_sdk_sns::operation::get_topic_attributes::{
        GetTopicAttributesError, GetTopicAttributesOutput,
    };
    use aws_sdk_sns::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_smithy_mocks::mock;
    use drctl_core::model::{TAG_ADDRESS, TAG_ENV};

    fn topic_spec() -> ResourceSpec {
        let mut s = crate::testing::spec(
            "us-west-2/monitoring/alerts-topic",
            drctl_stack::kinds::SNS_TOPIC,
            "trading-alerts-dev",
            json!({}),
        );
        s.region = Some("us-west-2".into());
        s
    }

    const ARN: &str = "arn:aws:sns:us-west-2:123456789012:trading-alerts-dev";

    #[test]
    fn the_arn_is_derived_from_region_account_and_name() {
        assert_eq!(
            topic_arn("us-west-2", "123456789012", "trading-alerts-dev"),
            ARN
        );
        assert_eq!(
            topic_arn("cn-north-1", "1", "t"),
            "arn:aws-cn:sns:cn-north-1:1:t"
        );
    }

    #[tokio::test]
    async fn a_missing_topic_is_not_found() {
        let get = mock!(Client::get_topic_attributes)
            .match_requests(|r| r.topic_arn() == Some(ARN))
            .then_error(|| {
                GetTopicAttributesError::generic(
                    aws_smithy_types::error::ErrorMetadata::builder()
                        .code("NotFound")
                        .message("Topic does not exist")
                        .build(),
                )
            });
        let cx = Ctx::new("dev");
        let r = read_arn(&sns_client(&[&get]), &cx, &topic_spec(), ARN, None).await;
        assert_eq!(r, Ok(ReadOutcome::NotFound));
    }

    #[tokio::test]
    async fn a_topic_of_another_env_is_a_clash() {
        let get = mock!(Client::get_topic_attributes)
            .then_output(|| GetTopicAttributesOutput::builder().build());
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(Tag::builder().key(TAG_ENV).value("prod").build().unwrap())
                .tags(
                    Tag::builder()
                        .key(TAG_ADDRESS)
                        .value("us-west-2/monitoring/alerts-topic")
                        .build()
                        .unwrap(),
                )
                .build()
        });
        let cx = Ctx::new("dev");
        let r = read_arn(&sns_client(&[&get, &tags]), &cx, &topic_spec(), ARN, None)
            .await
            .unwrap();
        assert!(
            matches!(r, ReadOutcome::Clash { ref detail, .. } if detail.contains("prod")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn create_tags_the_topic_in_the_create_call() {
        let create = mock!(Client::create_topic)
            .match_requests(|r| {
                r.name() == Some("trading-alerts-dev")
                    && r.tags()
                        .iter()
                        .any(|t| t.key() == TAG_ENV && t.value() == "dev")
            })
            .then_output(|| CreateTopicOutput::builder().topic_arn(ARN).build());
        let o = create_topic(&sns_client(&[&create]), &topic_spec())
            .await
            .unwrap();
        assert_eq!(o.id, ARN);
        assert_eq!(o.attrs["name"], json!("trading-alerts-dev"));
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all =
            crate::testing::assert_blueprint_props::<SnsTopicProps>(drctl_stack::kinds::SNS_TOPIC);
        // One topic per region, in both plans.
        assert_eq!(all.len(), 4);
        let mut with_key = topic_spec();
        with_key.props = crate::props::from_json(json!({"fifo": true}));
        assert!(crate::props::typed::<SnsTopicProps>(&with_key).is_err());
    }
}

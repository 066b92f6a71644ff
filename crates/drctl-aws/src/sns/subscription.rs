//! `sns:subscription` — the alert email's subscription to the region's topic.
//!
//! Found by ListSubscriptionsByTopic, matching protocol and endpoint (SNS
//! keeps one subscription per topic, protocol and endpoint; Subscribe of an
//! existing one returns it, so create needs no token).
//! Props: [`SnsSubscriptionProps`] (all replace: a subscription cannot be
//! changed, only made anew). Attrs: `arn`.
//!
//! Ownership: subscriptions cannot be tagged; a subscription is drctl's
//! when its topic carries this env's `drctl:env` tag.
//!
//! Pending confirmation: until the recipient confirms, AWS lists the
//! subscription as "PendingConfirmation" without an ARN; its physical id is
//! then `pending:{topic_arn}:{protocol}:{endpoint}` (stable across reads)
//! and becomes the real ARN once confirmed. A pending subscription cannot be
//! unsubscribed: it disappears with its topic (deleted right after in a
//! destroy) or expires after 3 days, so delete treats it as done. The
//! emulator returns a real ARN at once.

use crate::errors::{found, gone};
use crate::retry::{call, Policy};
use crate::sns::topic_tags;
use crate::tags::{ambiguous, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_sns::types::Subscription;
use aws_sdk_sns::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `sns:subscription` compares: the blueprint's props and what a read
/// reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsSubscriptionProps {
    /// The topic's ARN. Replaces.
    pub topic_arn: String,
    /// The delivery protocol (`email`). Replaces.
    pub protocol: String,
    /// Where it delivers (the plan's `alert_email`). Replaces.
    pub endpoint: String,
}

/// Fields whose change replaces the subscription, with the reason shown in
/// the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("topic_arn", "a subscription belongs to one topic"),
    ("protocol", "a subscription's protocol cannot change"),
    ("endpoint", "a subscription's endpoint cannot change"),
];

pub struct SnsSubscriptionReconciler {
    pub aws: Aws,
}

impl SnsSubscriptionReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn is_arn(s: &str) -> bool {
    s.starts_with("arn:")
}

/// Email addresses compare case-insensitively (SNS keeps what was sent).
fn same_endpoint(protocol: &str, a: &str, b: &str) -> bool {
    if protocol == "email" || protocol == "email-json" {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

async fn list(sns: &Client, topic_arn: &str) -> Result<Option<Vec<Subscription>>, ReconcileError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = found(
            call("sns:ListSubscriptionsByTopic", Policy::TRANSIENT, || {
                sns.list_subscriptions_by_topic()
                    .topic_arn(topic_arn)
                    .set_next_token(token.clone())
                    .send()
            })
            .await,
        )?;
        let Some(page) = page else { return Ok(None) };
        out.extend(page.subscriptions().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(Some(out)),
        }
    }
}

fn observe(sub: &Subscription, spec: &ResourceSpec, topic_arn: &str) -> Observed {
    let protocol = sub.protocol().unwrap_or_default();
    let endpoint = sub.endpoint().unwrap_or_default();
    let endpoint = match spec.props.get("endpoint").and_then(|v| v.as_str()) {
        Some(want) if same_endpoint(protocol, want, endpoint) => want,
        _ => endpoint,
    };
    let arn = sub.subscription_arn().unwrap_or("PendingConfirmation");
    let id = if is_arn(arn) {
        arn.to_string()
    } else {
        format!("pending:{topic_arn}:{protocol}:{endpoint}")
    };
    Observed {
        id,
        props: props::to_props(&SnsSubscriptionProps {
            topic_arn: topic_arn.to_string(),
            protocol: protocol.to_string(),
            endpoint: endpoint.to_string(),
        }),
        attrs: props::from_json(json!({ "arn": arn })),
    }
}

/// The subscription of the spec's topic, protocol and endpoint.
async fn find(sns: &Client, spec: &ResourceSpec) -> Result<Option<Observed>, ReconcileError> {
    // Unknown while the topic is still to be created: nothing can exist.
    let (Some(topic), Some(protocol), Some(endpoint)) = (
        spec.props.get("topic_arn").and_then(|v| v.as_str()),
        spec.props.get("protocol").and_then(|v| v.as_str()),
        spec.props.get("endpoint").and_then(|v| v.as_str()),
    ) else {
        return Ok(None);
    };
    let Some(subs) = list(sns, topic).await? else {
        return Ok(None);
    };
    let matches: Vec<&Subscription> = subs
        .iter()
        .filter(|s| {
            s.protocol() == Some(protocol)
                && s.endpoint()
                    .is_some_and(|e| same_endpoint(protocol, e, endpoint))
        })
        .collect();
    match matches.as_slice() {
        [] => Ok(None),
        [s] => Ok(Some(observe(s, spec, topic))),
        many => Err(ambiguous(spec, many, |s| {
            Some({
                s.subscription_arn()
                    .unwrap_or("PendingConfirmation")
                    .to_string()
            })
        })),
    }
}

/// The subscription the state records (`id`: its ARN, or the pending id),
/// as it is: when the plan changed its endpoint, protocol or topic, this is
/// the one to replace (not a second one to add next to it).
async fn find_known(
    sns: &Client,
    spec: &ResourceSpec,
    id: &str,
) -> Result<Option<Observed>, ReconcileError> {
    if is_arn(id) {
        let out = found(
            call("sns:GetSubscriptionAttributes", Policy::TRANSIENT, || {
                sns.get_subscription_attributes()
                    .subscription_arn(id)
                    .send()
            })
            .await,
        )?;
        let a = out.and_then(|o| o.attributes).unwrap_or_default();
        let (Some(topic), Some(protocol), Some(endpoint)) =
            (a.get("TopicArn"), a.get("Protocol"), a.get("Endpoint"))
        else {
            return Ok(None);
        };
        let sub = Subscription::builder()
            .subscription_arn(id)
            .topic_arn(topic)
            .protocol(protocol)
            .endpoint(endpoint)
            .build();
        return Ok(Some(observe(&sub, spec, topic)));
    }
    // `pending:{topic_arn}:{protocol}:{endpoint}`; a topic ARN has 6 parts.
    let parts: Vec<&str> = match id.strip_prefix("pending:") {
        Some(rest) => rest.splitn(8, ':').collect(),
        None => return Ok(None),
    };
    let [.., protocol, endpoint] = parts.as_slice() else {
        return Ok(None);
    };
    if parts.len() != 8 {
        return Ok(None);
    }
    let topic = parts[..6].join(":");
    let Some(subs) = list(sns, &topic).await? else {
        return Ok(None);
    };
    Ok(subs
        .iter()
        .find(|s| {
            s.protocol() == Some(protocol)
                && s.endpoint()
                    .is_some_and(|e| same_endpoint(protocol, e, endpoint))
        })
        .map(|s| observe(s, spec, &topic)))
}

/// By the recorded id first, else by the spec's topic, protocol and
/// endpoint. Ownership through the found subscription's topic: `indexed`
/// gives a topic's tags if the env's tag index has them.
async fn read(
    sns: &Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
    indexed: impl Fn(&str) -> Option<Tags>,
) -> Result<ReadOutcome, ReconcileError> {
    let known = match known_id {
        Some(id) => find_known(sns, spec, id).await?,
        None => None,
    };
    let o = match known {
        Some(o) => o,
        None => match find(sns, spec).await? {
            Some(o) => o,
            None => return Ok(ReadOutcome::NotFound),
        },
    };
    let topic = o
        .props
        .get("topic_arn")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let topic = topic.as_str();
    let tags = match indexed(topic) {
        Some(tags) => tags,
        None => match topic_tags(sns, topic).await? {
            Some(tags) => tags,
            None => return Ok(ReadOutcome::NotFound),
        },
    };
    if tags.get(TAG_ENV) == Some(&cx.env) {
        return Ok(ReadOutcome::Found(o));
    }
    Ok(ReadOutcome::Clash {
        id: o.id,
        detail: format!(
            "subscriptions cannot be tagged and its topic {topic} {}",
            match tags.get(TAG_ENV) {
                Some(e) => format!("belongs to env '{e}'"),
                None => "has no drctl:env tag".into(),
            }
        ),
    })
}

async fn subscribe(sns: &Client, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
    let p: SnsSubscriptionProps = props::typed(spec)?;
    let (topic, protocol, endpoint) = (&p.topic_arn, &p.protocol, &p.endpoint);
    let out = call("sns:Subscribe", Policy::TRANSIENT, || {
        sns.subscribe()
            .topic_arn(topic)
            .protocol(protocol)
            .endpoint(endpoint)
            .return_subscription_arn(true)
            .send()
    })
    .await?;
    // Observe through the listing so the id is the one `read` will see
    // (AWS lists a pending subscription without its ARN).
    if let Some(o) = find(sns, spec).await? {
        return Ok(o);
    }
    let arn = out.subscription_arn().unwrap_or("PendingConfirmation");
    let sub = Subscription::builder()
        .subscription_arn(arn)
        .protocol(protocol)
        .endpoint(endpoint)
        .topic_arn(topic)
        .build();
    Ok(observe(&sub, spec, topic))
}

async fn unsubscribe(sns: &Client, current: &Observed) -> Result<(), ReconcileError> {
    if !is_arn(&current.id) {
        tracing::info!(id = %current.id, "a pending subscription cannot be unsubscribed; it goes with its topic");
        return Ok(());
    }
    gone(
        call("sns:Unsubscribe", Policy::TRANSIENT, || {
            sns.unsubscribe().subscription_arn(&current.id).send()
        })
        .await
        .map(|_| ()),
    )
}

#[async_trait]
impl Reconciler for SnsSubscriptionReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::SNS_SUBSCRIPTION
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
        let region = self.aws.region_of(spec);
        // The env's index, fetched once per run, answers for any topic.
        let index = crate::tag_index::index(&self.aws, region, &cx.env)
            .await
            .ok();
        let indexed = |topic: &str| {
            index
                .as_ref()?
                .iter()
                .find(|t| t.arn == topic)
                .map(|t| t.tags.clone())
        };
        read(&self.aws.sns(region), cx, spec, known_id, indexed).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        subscribe(&self.aws.sns(self.aws.region_of(spec)), spec).await
    }

    /// Every prop forces replacement: nothing changes in place.
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
        unsubscribe(&self.aws.sns(self.aws.region_of(spec)), current).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sns::testing::sns_client;
    use aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicOutput;
    use aws_sdk_sns::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_sns::operation::subscribe::SubscribeOutput;
    use aws_sdk_sns::types::Tag;
    use aws_smithy_mocks::mock;

    const TOPIC: &str = "arn:aws:sns:us-east-1:1:trading-alerts-dev";

    fn sub_spec() -> ResourceSpec {
        crate::testing::spec(
            "us-east-1/monitoring/email-subscription",
            drctl_stack::kinds::SNS_SUBSCRIPTION,
            "trading-alerts-email-dev",
            json!({"topic_arn": TOPIC, "protocol": "email", "endpoint": "ops@example.com"}),
        )
    }

    fn listing(arn: &str, endpoint: &str) -> ListSubscriptionsByTopicOutput {
        ListSubscriptionsByTopicOutput::builder()
            .subscriptions(
                Subscription::builder()
                    .subscription_arn("arn:aws:sns:us-east-1:1:trading-alerts-dev:other")
                    .protocol("sms")
                    .endpoint("+100")
                    .build(),
            )
            .subscriptions(
                Subscription::builder()
                    .subscription_arn(arn)
                    .protocol("email")
                    .endpoint(endpoint)
                    .topic_arn(TOPIC)
                    .build(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_pending_subscription_gets_a_stable_id_and_delete_leaves_it_to_the_topic() {
        let sub = mock!(Client::subscribe)
            .match_requests(|r| {
                r.return_subscription_arn() == Some(true) && r.endpoint() == Some("ops@example.com")
            })
            .then_output(|| {
                SubscribeOutput::builder()
                    .subscription_arn(format!("{TOPIC}:1234"))
                    .build()
            });
        let list1 = mock!(Client::list_subscriptions_by_topic)
            .then_output(|| listing("PendingConfirmation", "Ops@Example.com"));
        let list2 = mock!(Client::list_subscriptions_by_topic)
            .then_output(|| listing("PendingConfirmation", "Ops@Example.com"));
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(Tag::builder().key(TAG_ENV).value("dev").build().unwrap())
                .build()
        });
        let sns = sns_client(&[&sub, &list1, &list2, &tags]);
        let spec = sub_spec();
        let created = subscribe(&sns, &spec).await.unwrap();
        assert_eq!(created.id, format!("pending:{TOPIC}:email:ops@example.com"));
        assert_eq!(created.props, spec.props);
        let cx = Ctx::new("dev");
        assert_eq!(
            read(&sns, &cx, &spec, Some(&created.id), |_| None)
                .await
                .unwrap(),
            ReadOutcome::Found(created.clone())
        );
        // No Unsubscribe call (the mock client would panic on an unexpected one).
        unsubscribe(&sns, &created).await.unwrap();
    }

    #[tokio::test]
    async fn a_confirmed_subscription_on_a_foreign_topic_is_a_clash() {
        let list = mock!(Client::list_subscriptions_by_topic)
            .then_output(|| listing(&format!("{TOPIC}:abcd"), "ops@example.com"));
        let tags = mock!(Client::list_tags_for_resource)
            .then_output(|| ListTagsForResourceOutput::builder().build());
        let sns = sns_client(&[&list, &tags]);
        let cx = Ctx::new("dev");
        match read(&sns, &cx, &sub_spec(), None, |_| None).await.unwrap() {
            ReadOutcome::Clash { id, detail } => {
                assert_eq!(id, format!("{TOPIC}:abcd"));
                assert!(detail.contains("no drctl:env tag"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_changed_endpoint_reads_the_recorded_subscription_and_forces_replacement() {
        let old = format!("{TOPIC}:old");
        let attrs = mock!(Client::get_subscription_attributes)
            .match_requests({
                let old = old.clone();
                move |r| r.subscription_arn() == Some(old.as_str())
            })
            .then_output(|| {
                aws_sdk_sns::operation::get_subscription_attributes::GetSubscriptionAttributesOutput::builder()
                    .attributes("TopicArn", TOPIC)
                    .attributes("Protocol", "email")
                    .attributes("Endpoint", "old@example.com")
                    .build()
            });
        let tags = mock!(Client::list_tags_for_resource).then_output(|| {
            ListTagsForResourceOutput::builder()
                .tags(Tag::builder().key(TAG_ENV).value("dev").build().unwrap())
                .build()
        });
        let sns = sns_client(&[&attrs, &tags]);
        let cx = Ctx::new("dev");
        let spec = sub_spec();
        let ReadOutcome::Found(o) = read(&sns, &cx, &spec, Some(&old), |_| None).await.unwrap()
        else {
            panic!("the recorded subscription is found");
        };
        assert_eq!(o.id, old);
        let r = SnsSubscriptionReconciler {
            aws: crate::Aws::from_config(aws_types::SdkConfig::builder().build(), None),
        };
        let changes = r.diff(&spec, &o);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, "endpoint");
        assert!(changes[0].replace_reason.is_some());
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<SnsSubscriptionProps>(
            drctl_stack::kinds::SNS_SUBSCRIPTION,
        );
        assert!(all.iter().all(|p| p.protocol == "email"));
        assert!(all.iter().any(|p| p.endpoint == "dev-alerts@example.com"));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

//! `s3:replication` — cross-region replication of the data bucket to the
//! replica bucket, with Replication Time Control (15 minutes).
//!
//! Physical id: the source bucket's name (a bucket has one replication
//! configuration). Found with GetBucketReplication
//! (ReplicationConfigurationNotFoundError / NoSuchBucket = not found).
//! Ownership: the source bucket's tags (a configuration has none of its
//! own): its `drctl:env` must be this env.
//! Props: [`BucketReplicationProps`]. Attrs: `name` (the bucket).
//!
//! drctl's rule: priority 1, empty prefix filter, enabled, delete markers
//! not replicated, RTC and replication metrics at the given minutes. A rule
//! that was changed in other ways (disabled, extra rules, RTC or metrics
//! off) shows as a `rule` change and is put back.

use crate::errors::{found, gone};
use crate::retry::{call, Policy};
use crate::s3::{bucket_arn, bucket_tags};
use crate::tag_index::tags_or;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, Metrics, MetricsStatus,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
    ReplicationTime, ReplicationTimeStatus, ReplicationTimeValue, StorageClass,
};
use aws_sdk_s3::Client;
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{contains_unknown, Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `s3:replication` compares: the blueprint's props. All but `bucket`
/// are in place: the whole configuration is put again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketReplicationProps {
    /// The source bucket's name. Replaces.
    pub bucket: String,
    /// The replication role's ARN. In place.
    pub role_arn: String,
    /// The replica bucket's ARN (`arn:aws:s3:::...`). In place.
    pub destination_bucket_arn: String,
    /// The rule's id (`replicate-all`). In place.
    pub rule_id: String,
    /// Replication Time Control and metrics threshold, minutes (S3 accepts
    /// 15 only). In place.
    pub replication_time_minutes: i32,
    /// The replicas' storage class (`STANDARD`). In place.
    pub storage_class: String,
}

/// Fields whose change replaces the configuration, with the reason shown in
/// the plan.
const REPLACE_ON: &[(&str, &str)] = &[(
    "bucket",
    "a replication configuration belongs to one bucket",
)];

pub struct BucketReplicationReconciler {
    pub aws: Aws,
}

impl BucketReplicationReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// Marker in `Observed.props`: how the rule differs from drctl's beyond the
/// props; `diff` turns it into a `rule` change.
const RULE_PROBLEMS: &str = "rule_problems";

fn build_error(what: &str, e: aws_smithy_types::error::operation::BuildError) -> ReconcileError {
    ReconcileError::Internal(format!("{what}: {e}"))
}

/// The configuration drctl puts.
fn configuration(p: &BucketReplicationProps) -> Result<ReplicationConfiguration, ReconcileError> {
    let time = ReplicationTimeValue::builder()
        .minutes(p.replication_time_minutes)
        .build();
    let destination = Destination::builder()
        .bucket(&p.destination_bucket_arn)
        .storage_class(StorageClass::from(p.storage_class.as_str()))
        .replication_time(
            ReplicationTime::builder()
                .status(ReplicationTimeStatus::Enabled)
                .time(time.clone())
                .build()
                .map_err(|e| build_error("ReplicationTime", e))?,
        )
        // RTC requires replication metrics, with the same threshold.
        .metrics(
            Metrics::builder()
                .status(MetricsStatus::Enabled)
                .event_threshold(time)
                .build()
                .map_err(|e| build_error("Metrics", e))?,
        )
        .build()
        .map_err(|e| build_error("Destination", e))?;
    let rule = ReplicationRule::builder()
        .id(&p.rule_id)
        .priority(1)
        .filter(ReplicationRuleFilter::builder().prefix("").build())
        .status(ReplicationRuleStatus::Enabled)
        .delete_marker_replication(
            DeleteMarkerReplication::builder()
                .status(DeleteMarkerReplicationStatus::Disabled)
                .build(),
        )
        .destination(destination)
        .build()
        .map_err(|e| build_error("ReplicationRule", e))?;
    ReplicationConfiguration::builder()
        .role(&p.role_arn)
        .rules(rule)
        .build()
        .map_err(|e| build_error("ReplicationConfiguration", e))
}

/// What differs from drctl's rule beyond the props.
fn rule_problems(conf: &ReplicationConfiguration, rule: &ReplicationRule) -> Vec<String> {
    let mut p = Vec::new();
    if conf.rules().len() != 1 {
        p.push(format!("{} rules instead of 1", conf.rules().len()));
    }
    if rule.status() != &ReplicationRuleStatus::Enabled {
        p.push(format!("rule status {}", rule.status().as_str()));
    }
    let dest = rule.destination();
    if dest.and_then(|d| d.replication_time()).map(|t| t.status())
        != Some(&ReplicationTimeStatus::Enabled)
    {
        p.push("replication time control off".into());
    }
    if dest.and_then(|d| d.metrics()).map(|m| m.status()) != Some(&MetricsStatus::Enabled) {
        p.push("replication metrics off".into());
    }
    if rule.delete_marker_replication().and_then(|d| d.status())
        == Some(&DeleteMarkerReplicationStatus::Enabled)
    {
        p.push("delete markers replicated".into());
    }
    p
}

fn observed(bucket: &str, spec: &ResourceSpec, conf: &ReplicationConfiguration) -> Observed {
    let wanted_id = spec.props.get("rule_id").and_then(Value::as_str);
    let rule = conf
        .rules()
        .iter()
        .find(|r| r.id().is_some() && r.id() == wanted_id)
        .or_else(|| conf.rules().first());
    let dest = rule.and_then(|r| r.destination());
    // json! rather than `BucketReplicationProps`: what AWS omits reads null,
    // and the rule's other differences ride along under RULE_PROBLEMS.
    let mut props = props::from_json(json!({
        "bucket": bucket,
        "role_arn": conf.role(),
        "destination_bucket_arn": dest.map(|d| d.bucket()),
        "rule_id": rule.and_then(|r| r.id()),
        "replication_time_minutes": dest
            .and_then(|d| d.replication_time())
            .and_then(|t| t.time())
            .and_then(|t| t.minutes()),
        "storage_class": dest.and_then(|d| d.storage_class()).map(|s| s.as_str()),
    }));
    let problems = rule.map(|r| rule_problems(conf, r)).unwrap_or_default();
    if !problems.is_empty() {
        props.insert(RULE_PROBLEMS.into(), json!(problems));
    }
    Observed {
        id: bucket.to_string(),
        props,
        attrs: props::from_json(json!({"name": bucket})),
    }
}

async fn read_replication(
    aws: &Aws,
    s3: &Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let bucket = match (known_id, spec.props.get("bucket")) {
        (Some(id), _) => id,
        // The bucket is still to be created: so is its configuration.
        (None, Some(v)) if contains_unknown(v) => return Ok(ReadOutcome::NotFound),
        (None, _) => props::str(spec, "bucket")?,
    };
    let out = found(
        call("s3:GetBucketReplication", Policy::TRANSIENT, || {
            s3.get_bucket_replication().bucket(bucket).send()
        })
        .await,
    )?;
    let Some(conf) = out.and_then(|o| o.replication_configuration) else {
        return Ok(ReadOutcome::NotFound);
    };
    // Ownership is the bucket's: its tags from the env's index, else asked.
    let region = aws.region_of(spec);
    let tags = tags_or(aws, region, &cx.env, &bucket_arn(bucket), || {
        bucket_tags(s3, bucket)
    })
    .await?;
    match tags.get(TAG_ENV) {
        Some(e) if e == &cx.env => Ok(ReadOutcome::Found(observed(bucket, spec, &conf))),
        Some(e) => Ok(ReadOutcome::Clash {
            id: bucket.to_string(),
            detail: format!("its bucket belongs to env '{e}'"),
        }),
        None => Ok(ReadOutcome::Clash {
            id: bucket.to_string(),
            detail: "its bucket has no drctl:env tag".into(),
        }),
    }
}

/// PutBucketReplication; a role made moments ago may not be usable yet.
async fn put_replication(s3: &Client, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
    let p: BucketReplicationProps = props::typed(spec)?;
    let bucket = p.bucket.as_str();
    let conf = configuration(&p)?;
    call("s3:PutBucketReplication", Policy::IAM_PROPAGATION, || {
        s3.put_bucket_replication()
            .bucket(bucket)
            .replication_configuration(conf.clone())
            .send()
    })
    .await?;
    Ok(Observed {
        id: bucket.to_string(),
        props: spec.props.clone(),
        attrs: props::from_json(json!({"name": bucket})),
    })
}

#[async_trait]
impl Reconciler for BucketReplicationReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::BUCKET_REPLICATION
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    /// The props, plus a `rule` change when the rule was altered in ways
    /// the props do not show (see the module doc).
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = diff_props(&spec.props, &observed.props, self.replace_on());
        if let Some(problems) = observed.props.get(RULE_PROBLEMS) {
            changes.push(FieldChange {
                field: "rule".into(),
                before: Some(problems.clone()),
                after: Some(json!(
                    "one enabled rule with replication time control and metrics"
                )),
                replace_reason: None,
                drift: false,
            });
        }
        changes
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let s3 = self.aws.s3(self.aws.region_of(spec));
        read_replication(&self.aws, &s3, cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        put_replication(&self.aws.s3(self.aws.region_of(spec)), spec).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // The configuration is one document: put it whole.
        put_replication(&self.aws.s3(self.aws.region_of(spec)), spec).await
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let s3 = self.aws.s3(self.aws.region_of(spec));
        gone(
            call("s3:DeleteBucketReplication", Policy::TRANSIENT, || {
                s3.delete_bucket_replication().bucket(&current.id).send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::put_bucket_replication::PutBucketReplicationOutput;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use drctl_core::model::Address;

    fn client(rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_s3, "us-east-1", RuleMode::MatchAny, rules)
    }

    fn spec() -> ResourceSpec {
        ResourceSpec {
            address: Address::new("us-east-1/storage/replication"),
            kind: drctl_stack::kinds::BUCKET_REPLICATION.into(),
            region: Some("us-east-1".into()),
            name: "trading-data-replication-t".into(),
            props: props::from_json(json!({
                "bucket": "trading-data-t-000000000000",
                "role_arn": "arn:aws:iam::000000000000:role/trading-s3-replication-role-t",
                "destination_bucket_arn": "arn:aws:s3:::trading-data-t-000000000000-replica",
                "rule_id": "replicate-all", "replication_time_minutes": 15, "storage_class": "STANDARD",
            })),
            tags: Default::default(),
            depends_on: vec![],
        }
    }

    #[tokio::test]
    async fn puts_one_rule_with_rtc_metrics_and_no_delete_markers() {
        let put = mock!(Client::put_bucket_replication)
            .match_requests(|r| {
                let Some(c) = r.replication_configuration() else {
                    return false;
                };
                let rule = &c.rules()[0];
                let d = rule.destination().unwrap();
                c.rules().len() == 1
                    && c.role() == "arn:aws:iam::000000000000:role/trading-s3-replication-role-t"
                    && rule.priority() == Some(1)
                    && rule.filter().and_then(|f| f.prefix()) == Some("")
                    && rule.delete_marker_replication().and_then(|m| m.status())
                        == Some(&DeleteMarkerReplicationStatus::Disabled)
                    && d.replication_time()
                        .and_then(|t| t.time())
                        .and_then(|t| t.minutes())
                        == Some(15)
                    && d.metrics()
                        .and_then(|m| m.event_threshold())
                        .and_then(|t| t.minutes())
                        == Some(15)
                    && d.storage_class() == Some(&StorageClass::Standard)
            })
            .then_output(|| PutBucketReplicationOutput::builder().build());
        let s3 = client(&[&put]);
        let o = put_replication(&s3, &spec()).await.unwrap();
        assert_eq!(put.num_calls(), 1);
        assert_eq!(o.id, "trading-data-t-000000000000");
    }

    #[test]
    fn what_drctl_puts_reads_back_as_the_props_and_a_disabled_rule_is_a_change() {
        let conf = configuration(&props::typed(&spec()).unwrap()).unwrap();
        let o = observed("trading-data-t-000000000000", &spec(), &conf);
        assert_eq!(o.props, spec().props);
        let aws = crate::Aws::from_config(aws_types::SdkConfig::builder().build(), None);
        let r = BucketReplicationReconciler::new(&aws);
        assert!(r.diff(&spec(), &o).is_empty());

        let mut rule = conf.rules()[0].clone();
        rule.status = ReplicationRuleStatus::Disabled;
        let off = ReplicationConfiguration::builder()
            .role(conf.role())
            .rules(rule)
            .build()
            .unwrap();
        let changes = r.diff(
            &spec(),
            &observed("trading-data-t-000000000000", &spec(), &off),
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "rule");
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<BucketReplicationProps>(
            drctl_stack::kinds::BUCKET_REPLICATION,
        );
        assert!(all
            .iter()
            .all(|p| p.replication_time_minutes == 15 && p.rule_id == "replicate-all"));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

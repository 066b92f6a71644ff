//! `cloudwatch:alarm` — one metric alarm of a region (ALB unhealthy hosts,
//! RDS CPU, DynamoDB read throttles), acting on the region's alerts topic.
//!
//! Found by name (alarm names are unique per region): DescribeAlarms with
//! AlarmNames; ownership via ListTagsForResource. The physical id is the
//! name. Props: [`AlarmProps`]. Attrs: `arn`, `name`.
//!
//! PutMetricAlarm is an upsert of the whole configuration: create and every
//! update send the full desired alarm, so each field is updated in place.
//! Tags go in the PutMetricAlarm call that creates the alarm: AWS applies
//! them on create (and ignores them on updates, which therefore send none),
//! so a run killed at any point leaves either no alarm or a tagged one, and
//! a retried put after a lost answer is a harmless upsert.
//! Delete: DeleteAlarms (a missing alarm succeeds).

use crate::errors::gone;
use crate::retry::{call, Policy};
use crate::tag_index::tags_or;
use crate::tags::{ambiguous, check_owned, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_sdk_cloudwatch::Client;
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What `cloudwatch:alarm` compares: the blueprint's props. Every field is
/// updated in place (PutMetricAlarm sends the whole alarm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmProps {
    /// The metric's namespace (`AWS/RDS`). In place.
    pub namespace: String,
    /// The metric's name (`CPUUtilization`). In place.
    pub metric_name: String,
    /// `Average`, `Sum`, `Maximum`, ... In place.
    pub statistic: String,
    /// The metric's dimensions, `{Name: Value}`. In place.
    pub dimensions: BTreeMap<String, String>,
    /// `GreaterThanThreshold`, ... In place.
    pub comparison_operator: String,
    /// The threshold in the metric's unit (a float: count, percent). In place.
    pub threshold: f64,
    /// The evaluation period, seconds (a multiple of 60). In place.
    pub period: i32,
    /// How many periods in a row must breach. In place.
    pub evaluation_periods: i32,
    /// `missing`, `notBreaching`, `breaching` or `ignore`. In place.
    pub treat_missing_data: String,
    /// The topics' ARNs to notify (compared sorted: a set). In place.
    pub alarm_actions: Vec<String>,
}

pub struct AlarmReconciler {
    pub aws: Aws,
}

impl AlarmReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }

    fn cw(&self, spec: &ResourceSpec) -> Client {
        self.aws.cloudwatch(self.aws.region_of(spec))
    }
}

/// Every metric alarm of the region, read once per run (see
/// [`ReadCache`](crate::cache::ReadCache)): a region's alarms are few, and
/// one listing answers for all of the stack's alarms there.
async fn region_alarms(aws: &Aws, region: &str) -> Result<Vec<MetricAlarm>, ReconcileError> {
    let cw = aws.cloudwatch(region);
    aws.cache()
        .get_or_fetch(
            format!("cloudwatch:DescribeAlarms|{region}"),
            || async move {
                let pages: Vec<_> = call("cloudwatch:DescribeAlarms", Policy::TRANSIENT, || {
                    cw.describe_alarms()
                        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
                        .into_paginator()
                        .send()
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
                Ok(pages
                    .iter()
                    .flat_map(|p| p.metric_alarms().iter().cloned())
                    .collect::<Vec<_>>())
            },
        )
        .await
}

async fn tags_of(cw: &Client, arn: &str) -> Result<Tags, ReconcileError> {
    let out = call("cloudwatch:ListTagsForResource", Policy::TRANSIENT, || {
        cw.list_tags_for_resource().resource_arn(arn).send()
    })
    .await?;
    Ok(out
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect())
}

fn cw_tags(spec: &ResourceSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The alarm in the props' shape: dimensions as an object, actions sorted.
fn observe(a: &MetricAlarm) -> Result<Observed, ReconcileError> {
    let name = a.alarm_name().ok_or_else(|| {
        ReconcileError::Internal("DescribeAlarms returned an alarm without a name".into())
    })?;
    let dimensions: Map<String, Value> = a
        .dimensions()
        .iter()
        .filter_map(|d| Some((d.name()?.to_string(), json!(d.value()?))))
        .collect();
    // json! rather than `AlarmProps`: a field AWS omits reads as null (a
    // difference to show), not as a default value.
    Ok(Observed {
        id: name.to_string(),
        props: props::from_json(json!({
            "namespace": a.namespace(),
            "metric_name": a.metric_name(),
            "statistic": a.statistic().map(|s| s.as_str()),
            "dimensions": dimensions,
            "comparison_operator": a.comparison_operator().map(|c| c.as_str()),
            "threshold": a.threshold(),
            "period": a.period(),
            "evaluation_periods": a.evaluation_periods(),
            "treat_missing_data": a.treat_missing_data(),
            "alarm_actions": sorted(a.alarm_actions().to_vec()),
        })),
        attrs: props::from_json(json!({ "arn": a.alarm_arn(), "name": name })),
    })
}

/// PutMetricAlarm with the whole desired configuration, and the tags when
/// asked (AWS applies them on create only and ignores them on updates).
async fn put(cw: &Client, spec: &ResourceSpec, with_tags: bool) -> Result<(), ReconcileError> {
    let p: AlarmProps = props::typed(spec)?;
    let dimensions = p
        .dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    let req = cw
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .namespace(p.namespace)
        .metric_name(p.metric_name)
        .statistic(Statistic::from(p.statistic.as_str()))
        .set_dimensions(Some(dimensions))
        .comparison_operator(ComparisonOperator::from(p.comparison_operator.as_str()))
        .threshold(p.threshold)
        .period(p.period)
        .evaluation_periods(p.evaluation_periods)
        .treat_missing_data(p.treat_missing_data)
        .set_alarm_actions(Some(p.alarm_actions))
        .actions_enabled(true)
        .set_tags(with_tags.then(|| cw_tags(spec)));
    call("cloudwatch:PutMetricAlarm", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await
    .map(|_| ())
}

async fn read(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let region = aws.region_of(spec);
    let cw = &aws.cloudwatch(region);
    let name = known_id.unwrap_or(&spec.name);
    let alarms: Vec<MetricAlarm> = region_alarms(aws, region)
        .await?
        .into_iter()
        .filter(|a| a.alarm_name() == Some(name))
        .collect();
    match alarms.as_slice() {
        [] => Ok(ReadOutcome::NotFound),
        [a] => {
            let o = observe(a)?;
            let arn = a
                .alarm_arn()
                .ok_or_else(|| ReconcileError::Internal(format!("alarm {} has no ARN", o.id)))?;
            let tags = tags_or(aws, region, &cx.env, arn, || tags_of(cw, arn)).await?;
            let id = o.id.clone();
            Ok(check_owned(cx, spec, &id, &tags, || o))
        }
        many => Err(ambiguous(spec, many, |a| {
            a.alarm_name().map(str::to_string)
        })),
    }
}

/// One tagged PutMetricAlarm. The answer is empty, and no read follows:
/// the ARN is made of the region, account and name
/// (`arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`, CloudWatch API
/// Reference, MetricAlarm), and what was put is the spec.
async fn create(
    cw: &Client,
    spec: &ResourceSpec,
    region: &str,
    account: &str,
) -> Result<Observed, ReconcileError> {
    put(cw, spec, true).await?;
    let mut props = spec.props.clone();
    if let Some(Value::Array(actions)) = props.get_mut("alarm_actions") {
        actions.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    let arn = format!(
        "arn:{}:cloudwatch:{region}:{account}:alarm:{}",
        crate::clients::partition(region),
        spec.name
    );
    Ok(Observed {
        id: spec.name.clone(),
        props,
        attrs: props::from_json(json!({ "arn": arn, "name": spec.name })),
    })
}

#[async_trait]
impl Reconciler for AlarmReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::ALARM
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
        use crate::tags::{arn_of, keys, only};
        let add = only(spec, &writes.set);
        let cw = self.aws.cloudwatch(self.aws.region_of(spec));
        if !writes.set.is_empty() {
            crate::tag_call!(
                "monitoring:TagResource",
                cw.tag_resource()
                    .resource_arn(arn_of(current))
                    .set_tags(Some(cw_tags(&add)))
            )?;
        }
        if !writes.delete.is_empty() {
            crate::tag_call!(
                "monitoring:UntagResource",
                cw.untag_resource()
                    .resource_arn(arn_of(current))
                    .set_tag_keys(Some(keys(writes)))
            )?;
        }
        Ok(())
    }

    /// Alarm actions are a set: compared sorted on both sides.
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut desired = spec.props.clone();
        if let Some(Value::Array(actions)) = desired.get_mut("alarm_actions") {
            if actions.iter().all(Value::is_string) {
                actions.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
        diff_props(&desired, &observed.props, self.replace_on())
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        read(&self.aws, cx, spec, known_id).await
    }

    /// PutMetricAlarm takes no token; it is an upsert, so a retry is harmless.
    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let account = self.aws.account_id().await?;
        create(&self.cw(spec), spec, self.aws.region_of(spec), &account).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        put(&self.cw(spec), spec, false).await?;
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let cw = self.cw(spec);
        gone(
            call("cloudwatch:DeleteAlarms", Policy::TRANSIENT, || {
                cw.delete_alarms().alarm_names(&current.id).send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmOutput;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use drctl_core::model::TAG_ENV;

    fn cw_client(rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_cloudwatch, "us-east-1", RuleMode::Sequential, rules)
    }

    fn alarm_spec() -> ResourceSpec {
        crate::testing::spec(
            "us-east-1/monitoring/rds-cpu-alarm",
            drctl_stack::kinds::ALARM,
            "trading-rds-cpu-dev",
            json!({
                "namespace": "AWS/RDS", "metric_name": "CPUUtilization", "statistic": "Average",
                "dimensions": {"DBInstanceIdentifier": "trading-db-dev"},
                "comparison_operator": "GreaterThanThreshold", "threshold": 80.0,
                "period": 300, "evaluation_periods": 2, "treat_missing_data": "missing",
                "alarm_actions": ["arn:b", "arn:a"],
            }),
        )
    }

    fn alarm() -> MetricAlarm {
        alarm_with_threshold(80.0)
    }

    fn alarm_with_threshold(threshold: f64) -> MetricAlarm {
        MetricAlarm::builder()
            .alarm_name("trading-rds-cpu-dev")
            .alarm_arn("arn:aws:cloudwatch:us-east-1:1:alarm:trading-rds-cpu-dev")
            .namespace("AWS/RDS")
            .metric_name("CPUUtilization")
            .statistic(Statistic::Average)
            .dimensions(
                Dimension::builder()
                    .name("DBInstanceIdentifier")
                    .value("trading-db-dev")
                    .build(),
            )
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .threshold(threshold)
            .period(300)
            .evaluation_periods(2)
            .treat_missing_data("missing")
            .alarm_actions("arn:a")
            .alarm_actions("arn:b")
            .build()
    }

    #[tokio::test]
    async fn create_is_one_tagged_put() {
        let full = |r: &aws_sdk_cloudwatch::operation::put_metric_alarm::PutMetricAlarmInput| {
            r.threshold() == Some(80.0)
                && r.period() == Some(300)
                && r.statistic() == Some(&Statistic::Average)
                && r.dimensions()[0].value() == Some("trading-db-dev")
        };
        let put = mock!(Client::put_metric_alarm)
            .match_requests(move |r| {
                full(r)
                    && r.tags()
                        .iter()
                        .any(|t| t.key() == Some(TAG_ENV) && t.value() == Some("dev"))
            })
            .then_output(|| PutMetricAlarmOutput::builder().build());
        // Sequential mocks: a DescribeAlarms after the put would fail the create.
        let o = create(&cw_client(&[&put]), &alarm_spec(), "us-east-1", "1")
            .await
            .unwrap();
        assert_eq!(o.id, "trading-rds-cpu-dev");
        assert_eq!(put.num_calls(), 1, "one PutMetricAlarm, carrying the tags");
        // The ARN DescribeAlarms gives, without asking.
        assert_eq!(o.attrs, observe(&alarm()).unwrap().attrs);
        // Same shape as the props: no change on the next plan.
        let r = AlarmReconciler::new(&crate::testing::test_aws());
        assert_eq!(r.diff(&alarm_spec(), &o), vec![]);
    }

    #[test]
    fn a_threshold_changed_out_of_band_is_one_field_change() {
        let a = alarm_with_threshold(95.0);
        let r = AlarmReconciler::new(&crate::testing::test_aws());
        let changes = r.diff(&alarm_spec(), &observe(&a).unwrap());
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, "threshold");
        assert_eq!(changes[0].before, Some(json!(95.0)));
        assert_eq!(changes[0].after, Some(json!(80.0)));
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<AlarmProps>(drctl_stack::kinds::ALARM);
        assert!(all
            .iter()
            .any(|p| p.metric_name == "CPUUtilization" && p.threshold == 80.0 && p.period == 300));
        assert!(all.iter().all(|p| p.alarm_actions.len() == 1));
        let mut bad = alarm_spec();
        bad.props["period"] = json!(1_i64 << 40);
        match props::typed::<AlarmProps>(&bad) {
            Err(ReconcileError::Config { field, .. }) => assert_eq!(field, "period"),
            other => panic!("{other:?}"),
        }
    }
}

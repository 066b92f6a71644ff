//! `route53:failover-records` — the domain's PRIMARY and SECONDARY alias A
//! records (global), pointing at the two regions' ALBs.
//!
//! Physical id `{zone_id}/{domain}`. Found by ListResourceRecordSets from
//! the domain name, type A, keeping the records whose SetIdentifier is
//! `trading-{env}-primary` / `trading-{env}-secondary`.
//! Props: [`FailoverRecordsProps`]; both sides are written by one UPSERT
//! batch (Route53 throttles hard: one ChangeResourceRecordSets per apply),
//! then waited on until INSYNC.
//!
//! Ownership: record sets cannot be tagged, so the SetIdentifier naming
//! convention marks drctl's records. Other records of the same name (other
//! set identifiers, other types) are never touched; if A records of the name
//! exist and neither of ours does, that is a Clash (Route53 would refuse the
//! second PRIMARY/SECONDARY or a plain A record next to them anyway).
//!
//! Delete: reads the records first and DELETEs both with their exact
//! current values in one batch (Route53 refuses any other value); a record
//! changed in between makes the batch fail, and it is re-read and retried.
//! The records go before the health checks and the zone they refer to (the
//! engine deletes dependents first).
//!
//! Emulator: the ALB's CanonicalHostedZoneId is a placeholder and the SOA is
//! malformed; neither is parsed here. Alias DNS names come back lowercased
//! with a trailing dot: compared case-insensitively without the dot.

use crate::errors::found;
use crate::retry::{call, Policy};
use crate::route53::RECORDS_MOVED;
use crate::route53::{norm_dns, records_from, same_dns, strip_zone_prefix, wait_insync};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, ResourceRecordSetFailover,
    RrType,
};
use aws_sdk_route53::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `route53:failover-records` compares: the blueprint's props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverRecordsProps {
    /// The zone's id, with or without `/hostedzone/`. Replaces.
    pub hosted_zone_id: String,
    /// The records' name (the plan's `domain_name`). Replaces.
    pub domain_name: String,
    /// The PRIMARY record. In place (UPSERT).
    pub primary: FailoverSide,
    /// The SECONDARY record. In place (UPSERT).
    pub secondary: FailoverSide,
}

/// One side's alias A record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverSide {
    /// The region's ALB `dns_name` the alias points at. In place.
    pub alb_dns_name: String,
    /// The ALB's `canonical_hosted_zone_id`. In place.
    pub alb_zone_id: String,
    /// The side's health check id. In place.
    pub health_check_id: String,
    /// Whether Route53 also follows the ALB's own health. In place.
    pub evaluate_target_health: bool,
}

impl FailoverRecordsProps {
    fn side(&self, side: &str) -> &FailoverSide {
        match side {
            "primary" => &self.primary,
            _ => &self.secondary,
        }
    }
}

/// Fields whose change replaces the records, with the reason shown in the
/// plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("hosted_zone_id", "the records move to another hosted zone"),
    ("domain_name", "a record's name is its identity"),
];

pub struct FailoverRecordsReconciler {
    pub aws: Aws,
}

impl FailoverRecordsReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }

    fn records<'a>(&'a self, cx: &Ctx) -> Records<'a> {
        Records {
            aws: &self.aws,
            r53: self.aws.route53(self.aws.global_region()),
            env: cx.env.clone(),
        }
    }
}

const SIDES: [(&str, ResourceRecordSetFailover); 2] = [
    ("primary", ResourceRecordSetFailover::Primary),
    ("secondary", ResourceRecordSetFailover::Secondary),
];

/// The SetIdentifier that marks drctl's record of one side.
pub fn set_identifier(env: &str, side: &str) -> String {
    format!("trading-{env}-{side}")
}

/// Where the records live: (zone id, domain), from the physical id or the
/// props; `None` while the zone id is unknown (the zone is to be created).
fn location(spec: &ResourceSpec, known_id: Option<&str>) -> Option<(String, String)> {
    if let Some((zone, domain)) = known_id.and_then(|id| id.split_once('/')) {
        return Some((zone.to_string(), norm_dns(domain)));
    }
    let zone = spec.props.get("hosted_zone_id")?.as_str()?;
    let domain = spec.props.get("domain_name")?.as_str()?;
    Some((strip_zone_prefix(zone).to_string(), norm_dns(domain)))
}

/// The desired record of one side.
fn desired_record(
    env: &str,
    spec: &ResourceSpec,
    domain: &str,
    (side, m): (&str, &FailoverSide),
    role: ResourceRecordSetFailover,
) -> Result<ResourceRecordSet, ReconcileError> {
    let invalid = |e: aws_smithy_types::error::operation::BuildError| {
        ReconcileError::Internal(format!("{}: {side}: {e}", spec.address))
    };
    let alias = AliasTarget::builder()
        .hosted_zone_id(&m.alb_zone_id)
        .dns_name(&m.alb_dns_name)
        .evaluate_target_health(m.evaluate_target_health)
        .build()
        .map_err(invalid)?;
    ResourceRecordSet::builder()
        .name(domain)
        .r#type(RrType::A)
        .set_identifier(set_identifier(env, side))
        .failover(role)
        .alias_target(alias)
        .health_check_id(&m.health_check_id)
        .build()
        .map_err(invalid)
}

/// One observed side in the shape of the desired one.
fn observe_side(r: &ResourceRecordSet, want: Option<&Value>) -> Value {
    let alias = r.alias_target();
    let want_dns = want
        .and_then(|w| w.get("alb_dns_name"))
        .and_then(Value::as_str);
    json!({
        "alb_dns_name": alias.map(|a| same_dns(a.dns_name(), want_dns)),
        "alb_zone_id": alias.map(|a| a.hosted_zone_id()),
        "health_check_id": r.health_check_id(),
        "evaluate_target_health": alias.map(|a| a.evaluate_target_health()),
    })
}

/// The record operations, on a client the caller chooses (mocks in tests).
struct Records<'a> {
    aws: &'a Aws,
    r53: Client,
    env: String,
}

/// What is at the name: drctl's records by side, and everyone else's A records.
struct AtName {
    ours: Vec<(&'static str, ResourceRecordSet)>,
    others: Vec<ResourceRecordSet>,
}

impl Records<'_> {
    /// The A records at `domain` (`None`: the zone is gone).
    async fn at_name(&self, zone: &str, domain: &str) -> Result<Option<AtName>, ReconcileError> {
        let all = found(
            records_from(
                self.aws,
                &self.r53,
                zone,
                Some(domain),
                Some(RrType::A),
                |r| norm_dns(r.name()) == domain && r.r#type() == &RrType::A,
            )
            .await,
        )?;
        let Some(all) = all else { return Ok(None) };
        let mut at = AtName {
            ours: vec![],
            others: vec![],
        };
        for r in all {
            match SIDES.iter().find(|(side, _)| {
                r.set_identifier() == Some(set_identifier(&self.env, side).as_str())
            }) {
                Some((side, _)) => at.ours.push((side, r)),
                None => at.others.push(r),
            }
        }
        Ok(Some(at))
    }

    async fn read(
        &self,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let Some((zone, domain)) = location(spec, known_id) else {
            return Ok(ReadOutcome::NotFound);
        };
        let Some(at) = self.at_name(&zone, &domain).await? else {
            return Ok(ReadOutcome::NotFound);
        };
        let id = format!("{zone}/{domain}");
        if at.ours.is_empty() {
            if at.others.is_empty() {
                return Ok(ReadOutcome::NotFound);
            }
            let names: Vec<String> = at
                .others
                .iter()
                .map(|r| {
                    r.set_identifier()
                        .unwrap_or("no set identifier")
                        .to_string()
                })
                .collect();
            return Ok(ReadOutcome::Clash {
                id,
                detail: format!(
                    "A records of {domain} exist that drctl did not make (set identifiers: {}); drctl's are named {} and {}",
                    names.join(", "),
                    set_identifier(&self.env, "primary"),
                    set_identifier(&self.env, "secondary"),
                ),
            });
        }
        let want_domain = spec.props.get("domain_name").and_then(Value::as_str);
        // json! rather than `FailoverRecordsProps`: a side whose record is
        // missing is absent, and what AWS omits reads null.
        let mut props = props::from_json(json!({
            "hosted_zone_id": zone,
            "domain_name": same_dns(&domain, want_domain),
        }));
        for (side, r) in &at.ours {
            props.insert(side.to_string(), observe_side(r, spec.props.get(*side)));
        }
        Ok(ReadOutcome::Found(Observed {
            id,
            props,
            attrs: Default::default(),
        }))
    }

    /// Sends one batch; retries only throttling (a stale DELETE needs a re-read).
    async fn change(
        &self,
        zone: &str,
        action: ChangeAction,
        records: Vec<ResourceRecordSet>,
        comment: &str,
    ) -> Result<String, ReconcileError> {
        let changes = records
            .into_iter()
            .map(|r| {
                Change::builder()
                    .action(action.clone())
                    .resource_record_set(r)
                    .build()
                    .map_err(|e| ReconcileError::Internal(format!("record change: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(changes))
            .build()
            .map_err(|e| ReconcileError::Internal(format!("record batch: {e}")))?;
        let out = call(
            "route53:ChangeResourceRecordSets",
            Policy::THROTTLING.holding(self.aws, "route53"),
            || {
                self.r53
                    .change_resource_record_sets()
                    .hosted_zone_id(zone)
                    .change_batch(batch.clone())
                    .send()
            },
        )
        .await?;
        out.change_info()
            .map(|c| c.id().to_string())
            .ok_or_else(|| {
                ReconcileError::Internal("ChangeResourceRecordSets returned no change".into())
            })
    }

    /// UPSERTs both records in one batch and waits until Route53 serves them.
    async fn upsert(&self, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
        let p: FailoverRecordsProps = props::typed(spec)?;
        let zone = strip_zone_prefix(&p.hosted_zone_id).to_string();
        let domain = norm_dns(&p.domain_name);
        let records = SIDES
            .iter()
            .map(|(side, role)| {
                let want = (*side, p.side(side));
                desired_record(&self.env, spec, &domain, want, role.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        let change = self
            .change(
                &zone,
                ChangeAction::Upsert,
                records,
                &format!("drctl: failover records of {domain}"),
            )
            .await?;
        wait_insync(
            self.aws,
            &self.r53,
            &change,
            &format!("failover records of {domain}"),
        )
        .await?;
        Ok(Observed {
            id: format!("{zone}/{domain}"),
            props: spec.props.clone(),
            attrs: Default::default(),
        })
    }

    async fn delete(&self, id: &str) -> Result<(), ReconcileError> {
        let (zone, domain) = id
            .split_once('/')
            .map(|(z, d)| (z.to_string(), norm_dns(d)))
            .ok_or_else(|| {
                ReconcileError::Internal(format!("'{id}' is not a zone_id/domain record id"))
            })?;
        // A DELETE must name the records' exact current values; if they
        // changed between the read and the call (InvalidChangeBatch "not
        // found", Retryable), read again and retry, backing off.
        RECORDS_MOVED
            .run(
                "route53:ChangeResourceRecordSets (delete failover records)",
                || async {
                    let Some(at) = self.at_name(&zone, &domain).await? else {
                        return Ok(());
                    };
                    if at.ours.is_empty() {
                        return Ok(());
                    }
                    let records = at.ours.into_iter().map(|(_, r)| r).collect();
                    match self
                        .change(
                            &zone,
                            ChangeAction::Delete,
                            records,
                            &format!("drctl: delete failover records of {domain}"),
                        )
                        .await
                    {
                        Err(e) if e.class() == ErrorClass::NotFound => Ok(()),
                        other => other.map(|_| ()),
                    }
                },
            )
            .await
    }
}

#[async_trait]
impl Reconciler for FailoverRecordsReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::FAILOVER_RECORDS
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
        self.records(cx).read(spec, known_id).await
    }

    /// Record sets take no token: UPSERT makes a retried create harmless.
    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        self.records(cx).upsert(spec).await
    }

    async fn update(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        self.records(cx).upsert(spec).await
    }

    async fn delete(
        &self,
        cx: &Ctx,
        _spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        self.records(cx).delete(&current.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route53::testing::r53_client;
    use crate::testing::{err_meta, spec, test_aws};
    use aws_sdk_route53::operation::change_resource_record_sets::{
        ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput,
    };
    use aws_sdk_route53::operation::get_change::GetChangeOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::types::{ChangeInfo, ChangeStatus};
    use aws_smithy_mocks::mock;

    fn records_spec() -> ResourceSpec {
        spec(
            "global/route53/failover-records",
            drctl_stack::kinds::FAILOVER_RECORDS,
            "dev.example.com",
            json!({
                "hosted_zone_id": "Z1", "domain_name": "dev.example.com",
                "primary": {"alb_dns_name": "alb-1.us-east-1.elb.amazonaws.com", "alb_zone_id": "ZALB1",
                            "health_check_id": "hc-1", "evaluate_target_health": true},
                "secondary": {"alb_dns_name": "alb-2.us-west-2.elb.amazonaws.com", "alb_zone_id": "ZALB2",
                              "health_check_id": "hc-2", "evaluate_target_health": true},
            }),
        )
    }

    fn info(status: ChangeStatus) -> ChangeInfo {
        ChangeInfo::builder()
            .id("/change/C1")
            .status(status)
            .submitted_at(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap()
    }

    fn rec(
        set: &str,
        role: ResourceRecordSetFailover,
        dns: &str,
        hc: Option<&str>,
    ) -> ResourceRecordSet {
        ResourceRecordSet::builder()
            .name("dev.example.com.")
            .r#type(RrType::A)
            .set_identifier(set)
            .failover(role)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id("ZALB")
                    .dns_name(dns)
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .set_health_check_id(hc.map(str::to_string))
            .build()
            .unwrap()
    }

    fn listing(records: Vec<ResourceRecordSet>) -> ListResourceRecordSetsOutput {
        ListResourceRecordSetsOutput::builder()
            .set_resource_record_sets(Some(records))
            .is_truncated(false)
            .max_items(100)
            .build()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn both_records_go_in_one_upsert_batch_then_wait_for_insync() {
        let upsert = mock!(Client::change_resource_record_sets)
            .match_requests(|r| {
                let changes = r.change_batch().unwrap().changes();
                let p = changes[0].resource_record_set().unwrap();
                let s = changes[1].resource_record_set().unwrap();
                r.hosted_zone_id() == Some("Z1")
                    && changes.len() == 2
                    && changes.iter().all(|c| c.action() == &ChangeAction::Upsert)
                    && p.set_identifier() == Some("trading-dev-primary")
                    && p.failover() == Some(&ResourceRecordSetFailover::Primary)
                    && p.health_check_id() == Some("hc-1")
                    && p.alias_target().unwrap().evaluate_target_health()
                    && p.alias_target().unwrap().dns_name() == "alb-1.us-east-1.elb.amazonaws.com"
                    && s.set_identifier() == Some("trading-dev-secondary")
                    && s.failover() == Some(&ResourceRecordSetFailover::Secondary)
                    && s.health_check_id() == Some("hc-2")
            })
            .then_output(|| {
                ChangeResourceRecordSetsOutput::builder()
                    .change_info(info(ChangeStatus::Pending))
                    .build()
            });
        let get = mock!(Client::get_change)
            .sequence()
            .output(|| {
                GetChangeOutput::builder()
                    .change_info(info(ChangeStatus::Pending))
                    .build()
            })
            .times(3)
            .output(|| {
                GetChangeOutput::builder()
                    .change_info(info(ChangeStatus::Insync))
                    .build()
            })
            .build();
        let aws = test_aws();
        let r = Records {
            aws: &aws,
            r53: r53_client(&[&upsert, &get]),
            env: "dev".into(),
        };
        let o = r.upsert(&records_spec()).await.unwrap();
        assert_eq!(o.id, "Z1/dev.example.com");
        assert_eq!(get.num_calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_that_never_syncs_times_out_naming_it() {
        let upsert = mock!(Client::change_resource_record_sets).then_output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(info(ChangeStatus::Pending))
                .build()
        });
        let get = mock!(Client::get_change)
            .sequence()
            .output(|| {
                GetChangeOutput::builder()
                    .change_info(info(ChangeStatus::Pending))
                    .build()
            })
            .repeatedly()
            .build();
        let aws = test_aws();
        let r = Records {
            aws: &aws,
            r53: r53_client(&[&upsert, &get]),
            env: "dev".into(),
        };
        let e = r.upsert(&records_spec()).await.unwrap_err().to_string();
        assert!(
            e.contains(
                "Route53 change /change/C1 (failover records of dev.example.com) to be INSYNC"
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn read_keeps_only_our_set_identifiers_and_ignores_case_and_dots() {
        let list = mock!(Client::list_resource_record_sets)
            .match_requests(|r| {
                r.start_record_name() == Some("dev.example.com")
                    && r.start_record_type() == Some(&RrType::A)
            })
            .then_output(|| {
                listing(vec![
                    rec(
                        "trading-dev-primary",
                        ResourceRecordSetFailover::Primary,
                        "ALB-1.us-east-1.elb.amazonaws.com.",
                        Some("hc-1"),
                    ),
                    rec(
                        "trading-prod-primary",
                        ResourceRecordSetFailover::Primary,
                        "other.",
                        None,
                    ),
                    rec(
                        "trading-dev-secondary",
                        ResourceRecordSetFailover::Secondary,
                        "alb-2.us-west-2.elb.amazonaws.com.",
                        Some("hc-2"),
                    ),
                    ResourceRecordSet::builder()
                        .name("dev.example.com.")
                        .r#type(RrType::Aaaa)
                        .build()
                        .unwrap(),
                ])
            });
        let aws = test_aws();
        let r = Records {
            aws: &aws,
            r53: r53_client(&[&list]),
            env: "dev".into(),
        };
        let mut want = records_spec();
        match r.read(&want, None).await.unwrap() {
            ReadOutcome::Found(o) => {
                assert_eq!(o.id, "Z1/dev.example.com");
                // The emulator's placeholder alias zone id differs: only that shows.
                for side in ["primary", "secondary"] {
                    want.props[side]["alb_zone_id"] = json!("ZALB");
                }
                assert_eq!(o.props, want.props);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn someone_elses_failover_records_are_a_clash() {
        let list = mock!(Client::list_resource_record_sets).then_output(|| {
            listing(vec![rec(
                "primary",
                ResourceRecordSetFailover::Primary,
                "x.",
                None,
            )])
        });
        let aws = test_aws();
        let r = Records {
            aws: &aws,
            r53: r53_client(&[&list]),
            env: "dev".into(),
        };
        assert!(matches!(
            r.read(&records_spec(), None).await.unwrap(),
            ReadOutcome::Clash { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn delete_sends_exact_current_values_and_rereads_when_they_moved() {
        let first = mock!(Client::list_resource_record_sets).then_output(|| {
            listing(vec![
                rec(
                    "trading-dev-primary",
                    ResourceRecordSetFailover::Primary,
                    "old.",
                    Some("hc-1"),
                ),
                rec(
                    "trading-dev-secondary",
                    ResourceRecordSetFailover::Secondary,
                    "b.",
                    Some("hc-2"),
                ),
            ])
        });
        let stale = mock!(Client::change_resource_record_sets)
            .match_requests(|r| r.change_batch().unwrap().changes()[0].resource_record_set().unwrap().alias_target().unwrap().dns_name() == "old.")
            .then_error(|| {
                ChangeResourceRecordSetsError::generic(err_meta(
                    "InvalidChangeBatch",
                    "Tried to delete resource record set [name='dev.example.com.', type='A', set-identifier='trading-dev-primary'] but the values provided do not match the current values",
                ))
            });
        let second = mock!(Client::list_resource_record_sets).then_output(|| {
            listing(vec![
                rec(
                    "trading-dev-primary",
                    ResourceRecordSetFailover::Primary,
                    "new.",
                    Some("hc-1"),
                ),
                rec(
                    "someone-else",
                    ResourceRecordSetFailover::Secondary,
                    "c.",
                    None,
                ),
                rec(
                    "trading-dev-secondary",
                    ResourceRecordSetFailover::Secondary,
                    "b.",
                    Some("hc-2"),
                ),
            ])
        });
        let delete = mock!(Client::change_resource_record_sets)
            .match_requests(|r| {
                let c = r.change_batch().unwrap().changes();
                c.len() == 2
                    && c.iter().all(|c| c.action() == &ChangeAction::Delete)
                    && c[0]
                        .resource_record_set()
                        .unwrap()
                        .alias_target()
                        .unwrap()
                        .dns_name()
                        == "new."
                    && c[0].resource_record_set().unwrap().health_check_id() == Some("hc-1")
                    && c[1].resource_record_set().unwrap().set_identifier()
                        == Some("trading-dev-secondary")
            })
            .then_output(|| {
                ChangeResourceRecordSetsOutput::builder()
                    .change_info(info(ChangeStatus::Pending))
                    .build()
            });
        let aws = test_aws();
        let r = Records {
            aws: &aws,
            r53: r53_client(&[&first, &stale, &second, &delete]),
            env: "dev".into(),
        };
        let start = tokio::time::Instant::now();
        r.delete("Z1/dev.example.com").await.unwrap();
        assert_eq!(delete.num_calls(), 1);
        // Read again after a short backoff (at most its first pause), not a fixed second.
        assert!(
            start.elapsed() <= RECORDS_MOVED.schedule.initial,
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<FailoverRecordsProps>(
            drctl_stack::kinds::FAILOVER_RECORDS,
        );
        // dev's zone is drctl's (a reference); prod-dr names an existing one.
        assert!(all.iter().any(|p| p.hosted_zone_id == "Z1234567890ABC"));
        assert!(all.iter().all(|p| p.primary.evaluate_target_health
            && p.secondary.health_check_id == "global/route53/health-check-secondary.id"));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
        let mut bad = records_spec();
        bad.props["secondary"]["alb_zone"] = json!("Z");
        match props::typed::<FailoverRecordsProps>(&bad) {
            Err(ReconcileError::Config { field, .. }) => {
                assert!(field.starts_with("secondary"), "{field}")
            }
            other => panic!("{other:?}"),
        }
    }
}

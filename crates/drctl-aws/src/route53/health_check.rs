//! `route53:health-check` — the HTTP health check on one region's ALB (global).
//!
//! Found by id, else by ownership tags: ListHealthChecks (paginated), then
//! ListTagsForResources for up to 10 ids per call. Health checks have no
//! name, so a check without our tags is simply not ours (no Clash).
//! Props: [`HealthCheckProps`]. Attrs: none beyond `id`.
//!
//! Caveats:
//! - CreateHealthCheck takes no tags: they follow in ChangeTagsForResource
//!   (a failure there deletes the fresh check again). If the process dies in
//!   between, the check's CallerReference is the pending create token in the
//!   state: `read` recognises it (`Ctx::pending_create`) and plans an update
//!   that adds the ownership tags (`destroy` deletes it). `create` looks for
//!   the token's check before every repeated attempt (the refresh has just
//!   looked before the first) (the emulator ignores
//!   CallerReference; AWS returns the same check, or HealthCheckAlreadyExists
//!   when the config moved on) and the SDK never repeats the call itself.
//! - The emulator reports `IPAddress` as the string "None"; it is not read.
//! - Replacing a check still referenced by the failover records fails on AWS
//!   with HealthCheckInUse after a short wait: delete retries for 2 minutes
//!   (records being deleted in the same run), then names the blocker.

use crate::errors::{found, gone};
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::route53::HEALTH_CHECK_DELETE;
use crate::route53::{add_tags, one_attempt, owner_tags_of, same_dns};
use crate::tags::{
    adds_ownership_tags, ambiguous, check_owned, mark_untagged, with_untagged_change, Tags,
};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_route53::types::{HealthCheck, HealthCheckConfig, HealthCheckType, TagResourceType};
use aws_sdk_route53::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{owned_by, Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// What `route53:health-check` compares: the blueprint's props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckProps {
    /// `HTTP`, `HTTPS`, `TCP`, ... Replaces (UpdateHealthCheck cannot change it).
    #[serde(rename = "type")]
    pub check_type: String,
    /// The probed name (the region's ALB `dns_name`). In place (UpdateHealthCheck).
    pub fqdn: String,
    /// The probed port. In place.
    pub port: i32,
    /// The probed path (the plan's `health_check_path`). In place.
    pub resource_path: String,
    /// Seconds between probes: 10 or 30. Replaces.
    pub request_interval: i32,
    /// Probes in a row that flip the status (1-10). In place.
    pub failure_threshold: i32,
    /// Report healthy as unhealthy (what `drctl drill` sets). In place;
    /// absent = false (states and plans from before it), and a check left
    /// inverted, e.g. by a killed drill, shows as drift.
    #[serde(default)]
    pub inverted: bool,
    /// The region of the watched ALB: not a Route53 setting (checks are
    /// global), echoed from the spec for the plan and outputs (see `observe`).
    pub region_of_target: String,
}

/// Fields whose change replaces the check, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("type", "a health check's type cannot change"),
    (
        "request_interval",
        "a health check's request interval cannot change",
    ),
];

pub struct HealthCheckReconciler {
    pub aws: Aws,
}

impl HealthCheckReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }

    fn checks(&self) -> Checks<'_> {
        Checks {
            aws: &self.aws,
            r53: self.aws.route53(self.aws.global_region()),
        }
    }
}

/// The health check operations, on a client the caller chooses (mocks in tests).
struct Checks<'a> {
    aws: &'a Aws,
    r53: Client,
}

/// The desired config, as CreateHealthCheck takes it.
fn config(spec: &ResourceSpec, p: &HealthCheckProps) -> Result<HealthCheckConfig, ReconcileError> {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::from(p.check_type.as_str()))
        .fully_qualified_domain_name(&p.fqdn)
        .port(p.port)
        .resource_path(&p.resource_path)
        .request_interval(p.request_interval)
        .failure_threshold(p.failure_threshold)
        .inverted(p.inverted)
        .build()
        .map_err(|e| ReconcileError::Internal(format!("{}: {e}", spec.address)))
}

/// `region_of_target` is not a Route53 setting (checks are global and probe
/// from many regions): it records which region's ALB the check watches, for
/// the plan and outputs, so it is echoed from the spec.
fn observe(hc: &HealthCheck, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
    let c = hc.health_check_config().ok_or_else(|| {
        ReconcileError::Internal(format!("health check {} has no configuration", hc.id()))
    })?;
    let fqdn = c
        .fully_qualified_domain_name()
        .map(|f| same_dns(f, spec.props.get("fqdn").and_then(|v| v.as_str())));
    // json! rather than `HealthCheckProps`: what AWS omits reads null (a
    // difference to show), not a default.
    Ok(Observed {
        id: hc.id().to_string(),
        props: props::from_json(json!({
            "type": c.r#type().as_str(),
            "fqdn": fqdn,
            "port": c.port(),
            "resource_path": c.resource_path(),
            "request_interval": c.request_interval(),
            "failure_threshold": c.failure_threshold(),
            "inverted": c.inverted().unwrap_or(false),
            "region_of_target": spec.props.get("region_of_target"),
        })),
        attrs: Default::default(),
    })
}

impl Checks<'_> {
    async fn get(&self, id: &str) -> Result<Option<HealthCheck>, ReconcileError> {
        let out = found(
            call("route53:GetHealthCheck", Policy::route53(self.aws), || {
                self.r53.get_health_check().health_check_id(id).send()
            })
            .await,
        )?;
        Ok(out.and_then(|o| o.health_check().cloned()))
    }

    async fn list_all(&self) -> Result<Vec<HealthCheck>, ReconcileError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = call(
                "route53:ListHealthChecks",
                Policy::route53(self.aws),
                || {
                    self.r53
                        .list_health_checks()
                        .set_marker(marker.clone())
                        .send()
                },
            )
            .await?;
            out.extend(page.health_checks().iter().cloned());
            match page.next_marker() {
                Some(m) if page.is_truncated() => marker = Some(m.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Tags of many checks, 10 ids per ListTagsForResources call (its limit).
    async fn tags_of_many(&self, ids: &[String]) -> Result<BTreeMap<String, Tags>, ReconcileError> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(10) {
            let page = call(
                "route53:ListTagsForResources",
                Policy::route53(self.aws),
                || {
                    self.r53
                        .list_tags_for_resources()
                        .resource_type(TagResourceType::Healthcheck)
                        .set_resource_ids(Some(chunk.to_vec()))
                        .send()
                },
            )
            .await?;
            for set in page.resource_tag_sets() {
                if let Some(id) = set.resource_id() {
                    out.insert(id.to_string(), crate::route53::from_r53(set.tags()));
                }
            }
        }
        Ok(out)
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        if let Some(id) = known_id {
            let Some(hc) = self.get(id).await? else {
                return Ok(ReadOutcome::NotFound);
            };
            let tags = owner_tags_of(
                self.aws,
                &self.r53,
                &cx.env,
                TagResourceType::Healthcheck,
                id,
            )
            .await?
            .unwrap_or_default();
            return match check_owned(cx, spec, id, &tags, Observed::default) {
                ReadOutcome::Found(_) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                    observe(&hc, spec)?,
                    &tags,
                ))),
                other => Ok(other),
            };
        }
        let all = self.list_all().await?;
        let ids: Vec<String> = all.iter().map(|h| h.id().to_string()).collect();
        let tags = self.tags_of_many(&ids).await?;
        let owned: Vec<&HealthCheck> = all
            .iter()
            .filter(|h| {
                tags.get(h.id())
                    .is_some_and(|t| owned_by(t, &cx.env, &spec.address))
                    && !cx.is_deposed(&spec.address, h.id())
            })
            .collect();
        // Made by this address's unfinished create, killed before tagging.
        let by_token = cx.pending_create(&spec.address).and_then(|token| {
            all.iter().find(|h| {
                h.caller_reference() == token
                    && tags.get(h.id()).is_none_or(|t| !t.contains_key(TAG_ENV))
            })
        });
        match owned.as_slice() {
            [] => match by_token {
                Some(hc) => Ok(ReadOutcome::Found(mark_untagged(observe(hc, spec)?))),
                None => Ok(ReadOutcome::NotFound),
            },
            [hc] => Ok(ReadOutcome::Found(observe(hc, spec)?)),
            many => Err(ambiguous(spec, many, |h| Some(h.id().to_string()))),
        }
    }

    async fn create(&self, spec: &ResourceSpec, token: &str) -> Result<Observed, ReconcileError> {
        let p: HealthCheckProps = props::typed(spec)?;
        let config = config(spec, &p)?;
        // An earlier attempt with this token (an unanswered call, a killed
        // run) may have made the check: the emulator ignores the token. Look
        // before each repeated attempt, and never let the SDK repeat the call
        // itself. Not before the first: this run's refresh (or, when the
        // executor calls create again, its re-read) has just looked for this
        // token.
        // Not Policy::route53: the lookup takes route53 slots of its own, and holding
        // one across it deadlocks two concurrent creates (2 slots in all).
        let first_attempt = std::sync::atomic::AtomicBool::new(true);
        let created = Policy::TRANSIENT
            .run("route53:CreateHealthCheck", || async {
                let repeat = !first_attempt.swap(false, std::sync::atomic::Ordering::SeqCst);
                if repeat {
                    if let Some(hc) = self.by_token(token).await? {
                        return self.update(&p, hc.id()).await;
                    }
                }
                let _slot = self.aws.permit("route53").await;
                let out = call("route53:CreateHealthCheck", Policy::ONCE, || {
                    self.r53
                        .create_health_check()
                        .caller_reference(token)
                        .health_check_config(config.clone())
                        .customize()
                        .config_override(one_attempt())
                        .send()
                })
                .await?;
                out.health_check().cloned().ok_or_else(|| {
                    ReconcileError::Internal("CreateHealthCheck returned no health check".into())
                })
            })
            .await;
        let hc = match created {
            Ok(hc) => hc,
            // AWS: this CallerReference made a check whose config differs
            // (the plan changed since a killed run): take it and update it.
            Err(e) if e.class() == ErrorClass::AlreadyExists => {
                let hc = self.by_token(token).await?.ok_or(e)?;
                self.update(&p, hc.id()).await?
            }
            Err(e) => return Err(e),
        };
        // Unavoidable: CreateHealthCheck takes no tags. An untagged check is
        // invisible to `read`, so a failure here removes it again.
        if let Err(e) = add_tags(
            self.aws,
            &self.r53,
            TagResourceType::Healthcheck,
            hc.id(),
            spec,
        )
        .await
        {
            if let Err(del) = self.delete_once(hc.id()).await {
                tracing::warn!(id = hc.id(), error = %del, "could not remove the untagged health check");
            }
            return Err(e);
        }
        observe(&hc, spec)
    }

    /// The check whose CallerReference is `token`.
    async fn by_token(&self, token: &str) -> Result<Option<HealthCheck>, ReconcileError> {
        Ok(self
            .list_all()
            .await?
            .into_iter()
            .find(|h| h.caller_reference() == token))
    }

    async fn update(&self, p: &HealthCheckProps, id: &str) -> Result<HealthCheck, ReconcileError> {
        let out = call(
            "route53:UpdateHealthCheck",
            Policy::route53(self.aws),
            || {
                self.r53
                    .update_health_check()
                    .health_check_id(id)
                    .fully_qualified_domain_name(&p.fqdn)
                    .port(p.port)
                    .resource_path(&p.resource_path)
                    .failure_threshold(p.failure_threshold)
                    .inverted(p.inverted)
                    .send()
            },
        )
        .await?;
        out.health_check().cloned().ok_or_else(|| {
            ReconcileError::Internal("UpdateHealthCheck returned no health check".into())
        })
    }

    async fn delete_once(&self, id: &str) -> Result<(), ReconcileError> {
        gone(
            call(
                "route53:DeleteHealthCheck",
                Policy::route53(self.aws),
                || self.r53.delete_health_check().health_check_id(id).send(),
            )
            .await
            .map(|_| ()),
        )
    }

    async fn delete(&self, id: &str, address: &str) -> Result<(), ReconcileError> {
        let what = format!(
            "health check {id} ({address}) to be deletable: records still refer to it (HealthCheckInUse)"
        );
        delete_when_unblocked(&what, HEALTH_CHECK_DELETE, || self.delete_once(id)).await
    }
}

#[async_trait]
impl Reconciler for HealthCheckReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::HEALTH_CHECK
    }

    /// Failover records point at the check: Route53 refuses to delete it
    /// while they do (`HealthCheckInUse`), so the new one is made first and
    /// the records move to it.
    fn create_before_destroy(&self) -> bool {
        true
    }

    fn taggable(&self) -> bool {
        true
    }

    /// One ChangeTagsForResource: Route53 adds and removes in one call.
    async fn write_tags(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        writes: &drctl_core::diff::TagWrites,
    ) -> Result<(), ReconcileError> {
        crate::route53::write_tags(
            &self.aws,
            TagResourceType::Healthcheck,
            &current.id,
            spec,
            writes,
        )
        .await
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let changes = drctl_core::diff::diff_props(&spec.props, &observed.props, self.replace_on());
        with_untagged_change(changes, observed)
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        self.checks().read(cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        self.checks().create(spec, token).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: HealthCheckProps = props::typed(spec)?;
        let checks = self.checks();
        if adds_ownership_tags(changes) {
            add_tags(
                &self.aws,
                &checks.r53,
                TagResourceType::Healthcheck,
                &current.id,
                spec,
            )
            .await?;
        }
        let hc = checks.update(&p, &current.id).await?;
        observe(&hc, spec)
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        self.checks()
            .delete(&current.id, spec.address.as_str())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route53::testing::r53_client;
    use crate::testing::{err_meta, spec, test_aws};
    use aws_sdk_route53::operation::change_tags_for_resource::ChangeTagsForResourceOutput;
    use aws_sdk_route53::operation::create_health_check::{
        CreateHealthCheckError, CreateHealthCheckOutput,
    };
    use aws_sdk_route53::operation::delete_health_check::{
        DeleteHealthCheckError, DeleteHealthCheckOutput,
    };
    use aws_sdk_route53::operation::list_health_checks::ListHealthChecksOutput;
    use aws_sdk_route53::operation::list_tags_for_resources::ListTagsForResourcesOutput;
    use aws_sdk_route53::operation::update_health_check::UpdateHealthCheckOutput;
    use aws_sdk_route53::types::{ResourceTagSet, Tag};
    use aws_smithy_mocks::mock;
    use drctl_core::model::{TAG_ADDRESS, TAG_ENV};

    const TOKEN: &str = "fedcba9876543210fedcba9876543210";
    const ADDR: &str = "global/route53/health-check-primary";

    fn check_spec() -> ResourceSpec {
        spec(
            ADDR,
            drctl_stack::kinds::HEALTH_CHECK,
            "trading-health-primary-dev",
            json!({
                "type": "HTTP", "fqdn": "alb-1.us-east-1.elb.amazonaws.com", "port": 80,
                "resource_path": "/health", "request_interval": 30, "failure_threshold": 3, "inverted": false,
                "region_of_target": "us-east-1",
            }),
        )
    }

    fn hc(id: &str, caller_reference: &str, threshold: i32) -> HealthCheck {
        HealthCheck::builder()
            .id(id)
            .caller_reference(caller_reference)
            .health_check_version(1)
            .health_check_config(
                HealthCheckConfig::builder()
                    .r#type(HealthCheckType::Http)
                    .fully_qualified_domain_name("ALB-1.us-east-1.elb.amazonaws.com.")
                    .port(80)
                    .resource_path("/health")
                    .request_interval(30)
                    .failure_threshold(threshold)
                    .ip_address("None")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn create_sends_the_token_and_the_config_then_tags() {
        let create = mock!(Client::create_health_check)
            .match_requests(|r| {
                let c = r.health_check_config().unwrap();
                r.caller_reference() == Some(TOKEN)
                    && c.r#type() == &HealthCheckType::Http
                    && c.fully_qualified_domain_name() == Some("alb-1.us-east-1.elb.amazonaws.com")
                    && c.port() == Some(80)
                    && c.resource_path() == Some("/health")
                    && c.request_interval() == Some(30)
                    && c.failure_threshold() == Some(3)
            })
            .then_output(|| {
                CreateHealthCheckOutput::builder()
                    .health_check(hc("hc-1", TOKEN, 3))
                    .location("x")
                    .build()
                    .unwrap()
            });
        let tag = mock!(Client::change_tags_for_resource)
            .match_requests(|r| {
                r.resource_id() == Some("hc-1")
                    && r.resource_type() == Some(&TagResourceType::Healthcheck)
                    && r.add_tags()
                        .iter()
                        .any(|t| t.key() == Some(TAG_ADDRESS) && t.value() == Some(ADDR))
            })
            .then_output(|| ChangeTagsForResourceOutput::builder().build());
        let aws = test_aws();
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&create, &tag]),
        };
        let s = check_spec();
        let o = checks.create(&s, TOKEN).await.unwrap();
        assert_eq!(o.id, "hc-1");
        // Case and trailing dot do not count as a difference; the emulator's
        // "None" IPAddress is not looked at.
        assert_eq!(o.props, s.props);
    }

    #[tokio::test]
    async fn a_repeated_token_with_another_config_takes_and_updates_that_check() {
        let create = mock!(Client::create_health_check).then_error(|| {
            CreateHealthCheckError::generic(err_meta("HealthCheckAlreadyExists", "differs"))
        });
        let list = mock!(Client::list_health_checks).then_output(|| {
            ListHealthChecksOutput::builder()
                .health_checks(hc("hc-other", "x", 3))
                .health_checks(hc("hc-mine", TOKEN, 5))
                .marker("")
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let update = mock!(Client::update_health_check)
            .match_requests(|r| {
                r.health_check_id() == Some("hc-mine") && r.failure_threshold() == Some(3)
            })
            .then_output(|| {
                UpdateHealthCheckOutput::builder()
                    .health_check(hc("hc-mine", TOKEN, 3))
                    .build()
            });
        let tag = mock!(Client::change_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("hc-mine"))
            .then_output(|| ChangeTagsForResourceOutput::builder().build());
        let aws = test_aws();
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&create, &list, &update, &tag]),
        };
        let o = checks.create(&check_spec(), TOKEN).await.unwrap();
        assert_eq!(o.id, "hc-mine");
        assert_eq!(o.props["failure_threshold"], json!(3));
    }

    /// The emulator ignores CallerReference, and an unanswered attempt may
    /// have made the check: after one, create looks for the token before
    /// calling again, and takes it. The first attempt makes no lookup (the
    /// refresh just made it).
    #[tokio::test(start_paused = true)]
    async fn create_takes_the_check_an_earlier_attempt_made_instead_of_a_second() {
        let unanswered = mock!(Client::create_health_check)
            .then_error(|| CreateHealthCheckError::generic(err_meta("ServiceUnavailable", "lost")));
        let list = mock!(Client::list_health_checks).then_output(|| {
            ListHealthChecksOutput::builder()
                .health_checks(hc("hc-mine", TOKEN, 3))
                .marker("")
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let update = mock!(Client::update_health_check)
            .match_requests(|r| r.health_check_id() == Some("hc-mine"))
            .then_output(|| {
                UpdateHealthCheckOutput::builder()
                    .health_check(hc("hc-mine", TOKEN, 3))
                    .build()
            });
        let tag = mock!(Client::change_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("hc-mine"))
            .then_output(|| ChangeTagsForResourceOutput::builder().build());
        let create = mock!(Client::create_health_check)
            .then_error(|| CreateHealthCheckError::generic(err_meta("Unexpected", "no")));
        let aws = test_aws();
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&unanswered, &list, &update, &tag, &create]),
        };
        let o = checks.create(&check_spec(), TOKEN).await.unwrap();
        assert_eq!(o.id, "hc-mine");
        assert_eq!(
            unanswered.num_calls(),
            1,
            "the first attempt, with no lookup before it"
        );
        assert_eq!(create.num_calls(), 0, "no second check");
        assert_eq!(tag.num_calls(), 1);
    }

    /// Killed between CreateHealthCheck and tagging: the untagged check
    /// whose CallerReference is the pending token is ours, and the plan
    /// adds its ownership tags.
    #[tokio::test]
    async fn the_check_of_an_unfinished_create_is_found_and_its_tags_are_added() {
        let list = mock!(Client::list_health_checks).then_output(|| {
            ListHealthChecksOutput::builder()
                .health_checks(hc("hc-other", "x", 3))
                .health_checks(hc("hc-mine", TOKEN, 3))
                .marker("")
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let no_tags = || {
            mock!(Client::list_tags_for_resources).then_compute_output(|r| {
                let mut out = ListTagsForResourcesOutput::builder();
                for id in r.resource_ids() {
                    out = out.resource_tag_sets(
                        ResourceTagSet::builder()
                            .resource_id(id)
                            .resource_type(TagResourceType::Healthcheck)
                            .build(),
                    );
                }
                out.build().unwrap()
            })
        };
        let tags = no_tags();
        let aws = test_aws();
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&list, &tags]),
        };
        let mut pending = BTreeMap::new();
        pending.insert(check_spec().address, TOKEN.to_string());
        let cx = Ctx {
            pending_creates: std::sync::Arc::new(pending),
            ..Ctx::new("dev")
        };
        let found = match checks.read(&cx, &check_spec(), None).await.unwrap() {
            ReadOutcome::Found(o) => o,
            other => panic!("{other:?}"),
        };
        assert_eq!(found.id, "hc-mine");
        let changes = HealthCheckReconciler::new(&aws).diff(&check_spec(), &found);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(adds_ownership_tags(&changes));
        // Without the pending token it is not ours.
        let list_again = mock!(Client::list_health_checks).then_output(|| {
            ListHealthChecksOutput::builder()
                .health_checks(hc("hc-mine", TOKEN, 3))
                .marker("")
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&list_again, &no_tags()]),
        };
        let outcome = checks
            .read(&Ctx::new("dev"), &check_spec(), None)
            .await
            .unwrap();
        assert_eq!(outcome, ReadOutcome::NotFound);
    }

    #[tokio::test]
    async fn found_by_ownership_tags_fetched_ten_ids_at_a_time() {
        let page1 = mock!(Client::list_health_checks)
            .match_requests(|r| r.marker().is_none())
            .then_output(|| {
                let mut b = ListHealthChecksOutput::builder();
                for i in 0..8 {
                    b = b.health_checks(hc(&format!("hc-{i}"), "r", 3));
                }
                b.marker("")
                    .is_truncated(true)
                    .next_marker("m2")
                    .max_items(8)
                    .build()
                    .unwrap()
            });
        let page2 = mock!(Client::list_health_checks)
            .match_requests(|r| r.marker() == Some("m2"))
            .then_output(|| {
                let mut b = ListHealthChecksOutput::builder();
                for i in 8..12 {
                    b = b.health_checks(hc(&format!("hc-{i}"), "r", 3));
                }
                b.marker("m2")
                    .is_truncated(false)
                    .max_items(8)
                    .build()
                    .unwrap()
            });
        let tag_sets = |ids: Vec<String>| {
            let mut out = ListTagsForResourcesOutput::builder();
            for id in ids {
                let mut set = ResourceTagSet::builder()
                    .resource_id(&id)
                    .resource_type(TagResourceType::Healthcheck);
                if id == "hc-9" {
                    set = set
                        .tags(Tag::builder().key(TAG_ENV).value("dev").build())
                        .tags(Tag::builder().key(TAG_ADDRESS).value(ADDR).build());
                } else if id == "hc-3" {
                    // Same address, other env: not ours.
                    set = set
                        .tags(Tag::builder().key(TAG_ENV).value("prod").build())
                        .tags(Tag::builder().key(TAG_ADDRESS).value(ADDR).build());
                }
                out = out.resource_tag_sets(set.build());
            }
            out.build().unwrap()
        };
        let tags1 = mock!(Client::list_tags_for_resources)
            .match_requests(|r| r.resource_ids().len() == 10)
            .then_compute_output(move |r| tag_sets(r.resource_ids().to_vec()));
        let tags2 = mock!(Client::list_tags_for_resources)
            .match_requests(|r| r.resource_ids() == ["hc-10", "hc-11"])
            .then_compute_output(move |r| tag_sets(r.resource_ids().to_vec()));
        let aws = test_aws();
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&page1, &page2, &tags1, &tags2]),
        };
        let cx = Ctx::new("dev");
        match checks.read(&cx, &check_spec(), None).await.unwrap() {
            ReadOutcome::Found(o) => assert_eq!(o.id, "hc-9"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delete_waits_while_records_still_use_the_check() {
        let busy = mock!(Client::delete_health_check)
            .sequence()
            .error(|| DeleteHealthCheckError::generic(err_meta("HealthCheckInUse", "in use")))
            .times(3)
            .output(|| DeleteHealthCheckOutput::builder().build())
            .build();
        let aws = test_aws();
        let checks = Checks {
            aws: &aws,
            r53: r53_client(&[&busy]),
        };
        checks.delete("hc-1", ADDR).await.unwrap();
        assert_eq!(busy.num_calls(), 4);
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<HealthCheckProps>(
            drctl_stack::kinds::HEALTH_CHECK,
        );
        assert!(all
            .iter()
            .all(|p| p.check_type == "HTTP" && p.request_interval == 30 && !p.inverted));
        assert!(all.iter().any(|p| p.region_of_target == "us-west-2"));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
        // Specs from before `inverted` existed still read (as false).
        let mut old = check_spec();
        old.props.remove("inverted");
        assert!(!props::typed::<HealthCheckProps>(&old).unwrap().inverted);
    }
}

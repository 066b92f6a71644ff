//! `route53:hosted-zone` — the public hosted zone of the env's domain, only
//! when the plan asks drctl to create it (`create_hosted_zone = true`).
//!
//! Found by id (without the `/hostedzone/` prefix), else by
//! ListHostedZonesByName (exact name; Route53 allows several zones of one
//! name) and each zone's tags (ListTagsForResource): one owned → found,
//! several owned → Ambiguous, zones of other envs → ignored.
//! Props: [`HostedZoneProps`]. Attrs: `name_servers` (list), `name`.
//!
//! Caveats:
//! - CreateHostedZone takes no tags: they follow in ChangeTagsForResource.
//!   If that fails the fresh zone is deleted again; if the process dies in
//!   between, an untagged zone of the name is left, whose CallerReference is
//!   the pending create token in the state. `read` knows that token
//!   (`Ctx::pending_create`): such a zone is drctl's own, planned as an
//!   update that adds the ownership tags (`destroy` deletes it). Any other
//!   untagged same-named public zone is a Clash naming its CallerReference.
//!   Another run's fresh zone is untagged for a few milliseconds: untagged
//!   zones are looked at again (after 200 ms, backing off) until tagged,
//!   for at most 3 s (`UNTAGGED_ZONE_SETTLE`), before they count as a Clash.
//! - The CallerReference is the idempotency token. The emulator ignores it;
//!   AWS answers a repeated one with HostedZoneAlreadyExists. So `create`
//!   looks for the zone carrying the token before every repeated attempt
//!   (before the first, the refresh has just looked), and the SDK never
//!   repeats the call by itself.
//! - Delete: Route53 refuses a zone that still holds records other than its
//!   apex SOA/NS (HostedZoneNotEmpty). drctl deletes its failover records
//!   first; this waits briefly for that, then fails naming the leftovers.

use crate::errors::{api_error, found, gone};
use crate::retry::{call, delete_when_unblocked, poll, Policy};
use crate::route53::{
    add_tags, norm_dns, one_attempt, owner_tags_of, records_from, strip_zone_prefix, tags_of,
};
use crate::route53::{UNTAGGED_ZONE_SETTLE, ZONE_EMPTY};
use crate::tags::{
    adds_ownership_tags, check_owned, mark_untagged, with_untagged_change, Tags, UNTAGGED,
};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneOutput;
use aws_sdk_route53::types::{HostedZone, HostedZoneConfig, RrType, TagResourceType};
use aws_sdk_route53::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{owned_by, Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Mutex;

/// What `route53:hosted-zone` compares: the blueprint's props and what a
/// read reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedZoneProps {
    /// The zone's name without the trailing dot (the plan's `domain_name`).
    /// Replaces.
    pub domain_name: String,
    /// Free text. In place (UpdateHostedZoneComment).
    pub comment: String,
}

/// Fields whose change replaces the zone, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[("domain_name", "a hosted zone's name cannot change")];

pub struct HostedZoneReconciler {
    pub aws: Aws,
}

impl HostedZoneReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }

    fn zones(&self) -> Zones<'_> {
        Zones {
            aws: &self.aws,
            r53: self.aws.route53(self.aws.global_region()),
        }
    }
}

/// Plan's check of an existing zone (`hosted_zone_id` in the plan file):
/// it exists, and `domain` is its name or a name inside it. The error says
/// which, in the plan file's terms.
pub async fn check_existing(aws: &Aws, zone_id: &str, domain: &str) -> Result<(), ReconcileError> {
    let zones = Zones {
        aws,
        r53: aws.route53(aws.global_region()),
    };
    let id = strip_zone_prefix(zone_id);
    let Some(zone) = zones.get(id).await? else {
        return Err(ReconcileError::PlanSetting {
            key: "hosted_zone_id".into(),
            message: format!("hosted_zone_id = \"{zone_id}\": no such hosted zone in this account (check the id with `aws route53 list-hosted-zones`, or set create_hosted_zone = true instead)"),
        });
    };
    let name = zone
        .hosted_zone()
        .map(|z| norm_dns(z.name()))
        .unwrap_or_default();
    let domain = norm_dns(domain);
    if !in_zone(&domain, &name) {
        return Err(ReconcileError::PlanSetting {
            key: "domain_name".into(),
            message: format!("domain_name = \"{domain}\" is not inside hosted zone {id} ({name}): use {name} or a name ending in .{name}, or the id of the zone that holds {domain}"),
        });
    }
    Ok(())
}

/// `domain` is the zone's apex or below it (both normalised).
fn in_zone(domain: &str, zone: &str) -> bool {
    domain == zone || domain.ends_with(&format!(".{zone}"))
}

// ---------------------------------------------------------------------------

/// The zone operations, on a client the caller chooses (mocks in tests).
struct Zones<'a> {
    aws: &'a Aws,
    r53: Client,
}

fn domain_of(spec: &ResourceSpec) -> String {
    norm_dns(props::str(spec, "domain_name").unwrap_or(&spec.name))
}

/// The same-named public zones of a lookup by name, by what their tags say.
#[derive(Default)]
struct ByName {
    /// Tagged as this spec's.
    owned: Vec<String>,
    /// Untagged, made by this address's unfinished create (its token).
    by_token: Vec<String>,
    /// Untagged, of unknown origin.
    untagged: Vec<HostedZone>,
}

impl Zones<'_> {
    async fn get(&self, id: &str) -> Result<Option<GetHostedZoneOutput>, ReconcileError> {
        found(
            call("route53:GetHostedZone", Policy::route53(self.aws), || {
                self.r53.get_hosted_zone().id(id).send()
            })
            .await,
        )
    }

    /// Public zones named exactly `domain`.
    async fn by_name(&self, domain: &str) -> Result<Vec<HostedZone>, ReconcileError> {
        let mut out = Vec::new();
        let mut next: (Option<String>, Option<String>) = (Some(domain.to_string()), None);
        loop {
            let page = call(
                "route53:ListHostedZonesByName",
                Policy::route53(self.aws),
                || {
                    self.r53
                        .list_hosted_zones_by_name()
                        .set_dns_name(next.0.clone())
                        .set_hosted_zone_id(next.1.clone())
                        .send()
                },
            )
            .await?;
            for z in page.hosted_zones() {
                // Sorted by name: the first other name ends the exact matches.
                if norm_dns(z.name()) != domain {
                    return Ok(out);
                }
                if !z.config().is_some_and(|c| c.private_zone()) {
                    out.push(z.clone());
                }
            }
            if !page.is_truncated() || page.next_dns_name().is_none() {
                return Ok(out);
            }
            next = (
                page.next_dns_name().map(str::to_string),
                page.next_hosted_zone_id().map(str::to_string),
            );
        }
    }

    async fn tags(&self, id: &str) -> Result<Option<Tags>, ReconcileError> {
        tags_of(self.aws, &self.r53, TagResourceType::Hostedzone, id).await
    }

    fn observe(out: &GetHostedZoneOutput) -> Result<Observed, ReconcileError> {
        let zone = out
            .hosted_zone()
            .ok_or_else(|| ReconcileError::Internal("GetHostedZone returned no zone".into()))?;
        Ok(observe_zone(
            zone,
            out.delegation_set()
                .map(|d| d.name_servers())
                .unwrap_or(&[]),
        ))
    }

    /// The tags of `zones` again: the ids now owned by this spec, and the
    /// zones still untagged (zones tagged by another env drop out).
    async fn retag(
        &self,
        zones: &[HostedZone],
        cx: &Ctx,
        spec: &ResourceSpec,
    ) -> Result<(Vec<String>, Vec<HostedZone>), ReconcileError> {
        let (mut mine, mut left) = (Vec::new(), Vec::new());
        for z in zones {
            let id = strip_zone_prefix(z.id()).to_string();
            match self.tags(&id).await? {
                Some(t) if owned_by(&t, &cx.env, &spec.address) => mine.push(id),
                Some(t) if !t.contains_key(TAG_ENV) => left.push(z.clone()),
                _ => {}
            }
        }
        Ok((mine, left))
    }

    /// By the recorded id, else by name and tags (see the module doc).
    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        if let Some(id) = known_id {
            return self.read_known(cx, spec, id).await;
        }
        let domain = domain_of(spec);
        let mut zones = self.sort_by_tags(cx, spec, &domain).await?;
        if let ([], [id]) = (zones.owned.as_slice(), zones.by_token.as_slice()) {
            return match self.get(id).await? {
                Some(out) => Ok(ReadOutcome::Found(mark_untagged(Self::observe(&out)?))),
                None => Ok(ReadOutcome::NotFound),
            };
        }
        if zones.owned.is_empty() && !zones.untagged.is_empty() {
            let untagged = std::mem::take(&mut zones.untagged);
            match self.settle_untagged(cx, spec, &domain, untagged).await? {
                Ok(mine) => zones.owned.extend(mine),
                Err(clash) => return Ok(clash),
            }
        }
        self.read_owned(spec, &zones.owned).await
    }

    /// The zone of a recorded id: found when its tags say it is ours.
    async fn read_known(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        id: &str,
    ) -> Result<ReadOutcome, ReconcileError> {
        let Some(out) = self.get(strip_zone_prefix(id)).await? else {
            return Ok(ReadOutcome::NotFound);
        };
        let tags = owner_tags_of(
            self.aws,
            &self.r53,
            &cx.env,
            TagResourceType::Hostedzone,
            strip_zone_prefix(id),
        )
        .await?;
        let Some(tags) = tags else {
            return Ok(ReadOutcome::NotFound);
        };
        match check_owned(cx, spec, id, &tags, Observed::default) {
            ReadOutcome::Found(_) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                Self::observe(&out)?,
                &tags,
            ))),
            other => Ok(other),
        }
    }

    /// The public zones named `domain`, sorted by their tags; other envs'
    /// zones of the name are left out (not ours, not in the way).
    async fn sort_by_tags(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        domain: &str,
    ) -> Result<ByName, ReconcileError> {
        let pending = cx.pending_create(&spec.address);
        let mut zones = ByName::default();
        for z in self.by_name(domain).await? {
            let id = strip_zone_prefix(z.id()).to_string();
            match self.tags(&id).await? {
                Some(t) if owned_by(&t, &cx.env, &spec.address) => zones.owned.push(id),
                // Made by this address's unfinished create, killed before tagging.
                Some(t) if !t.contains_key(TAG_ENV) && pending == Some(z.caller_reference()) => {
                    zones.by_token.push(id)
                }
                Some(t) if !t.contains_key(TAG_ENV) => zones.untagged.push(z),
                _ => {}
            }
        }
        Ok(zones)
    }

    /// Untagged zones may be another run's between create and tag: watches
    /// them until each is tagged or the settle time has passed. `Ok` holds
    /// the ids now tagged as ours; `Err` the Clash for a still-untagged one.
    async fn settle_untagged(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        domain: &str,
        untagged: Vec<HostedZone>,
    ) -> Result<Result<Vec<String>, ReadOutcome>, ReconcileError> {
        let still = Mutex::new(untagged);
        let settled = poll(
            &format!("untagged zones named {domain} to be tagged"),
            UNTAGGED_ZONE_SETTLE,
            tokio::time::Instant::now(),
            || async {
                let zones = still.lock().map(|z| z.clone()).unwrap_or_default();
                let (mine, left) = self.retag(&zones, cx, spec).await?;
                let done = !mine.is_empty() || left.is_empty();
                if let Ok(mut s) = still.lock() {
                    *s = left;
                }
                Ok(done.then_some(mine))
            },
        )
        .await?;
        let mine = settled.unwrap_or_default();
        if !mine.is_empty() {
            return Ok(Ok(mine));
        }
        let still = still.into_inner().unwrap_or_default();
        Ok(match still.first() {
            Some(z) => Err(untagged_clash(z, domain)),
            None => Ok(mine),
        })
    }

    /// None, one or several zones tagged as this spec's.
    async fn read_owned(
        &self,
        spec: &ResourceSpec,
        owned: &[String],
    ) -> Result<ReadOutcome, ReconcileError> {
        match owned {
            [] => Ok(ReadOutcome::NotFound),
            [id] => match self.get(id).await? {
                Some(out) => Ok(ReadOutcome::Found(Self::observe(&out)?)),
                None => Ok(ReadOutcome::NotFound),
            },
            many => Err(ReconcileError::Ambiguous {
                address: spec.address.to_string(),
                ids: many.to_vec(),
            }),
        }
    }

    async fn create(&self, spec: &ResourceSpec, token: &str) -> Result<Observed, ReconcileError> {
        let p: HostedZoneProps = props::typed(spec)?;
        let domain = norm_dns(&p.domain_name);
        let comment = p.comment.as_str();
        // An earlier attempt with this token (an unanswered call, a killed
        // run) may have made the zone: the emulator ignores the token, and
        // AWS's answer to a repeat is an error. Look before each repeated
        // attempt, and never let the SDK repeat the call by itself. Not
        // before the first: this run's refresh (or, when the executor calls
        // create again, its re-read) has just looked for this token.
        // Not Policy::route53: the lookup takes route53 slots of its own, and holding
        // one across it deadlocks concurrent creates (2 slots in all).
        let first_attempt = std::sync::atomic::AtomicBool::new(true);
        let created = Policy::TRANSIENT
            .run("route53:CreateHostedZone", || async {
                let repeat = !first_attempt.swap(false, std::sync::atomic::Ordering::SeqCst);
                if repeat {
                    if let Some(out) = self.by_token(&domain, token).await? {
                        return Ok(Made::Found(out));
                    }
                }
                let _slot = self.aws.permit("route53").await;
                self.r53
                    .create_hosted_zone()
                    .name(&domain)
                    .caller_reference(token)
                    .hosted_zone_config(
                        HostedZoneConfig::builder()
                            .comment(comment)
                            .private_zone(false)
                            .build(),
                    )
                    .customize()
                    .config_override(one_attempt())
                    .send()
                    .await
                    .map(Made::Created)
                    .map_err(|e| api_error("route53:CreateHostedZone", e))
            })
            .await;
        let observed = match created {
            Ok(Made::Found(out)) => Self::observe(&out)?,
            Ok(Made::Created(out)) => {
                let zone = out.hosted_zone().ok_or_else(|| {
                    ReconcileError::Internal("CreateHostedZone returned no zone".into())
                })?;
                observe_zone(
                    zone,
                    out.delegation_set()
                        .map(|d| d.name_servers())
                        .unwrap_or(&[]),
                )
            }
            // AWS: this CallerReference was used already, i.e. an earlier
            // attempt with this token (an SDK retry, a killed run) made the zone.
            Err(e) if e.class() == ErrorClass::AlreadyExists => {
                let out = self.by_token(&domain, token).await?.ok_or(e)?;
                Self::observe(&out)?
            }
            Err(e) => return Err(e),
        };
        // Unavoidable: CreateHostedZone takes no tags. If tagging fails, the
        // untagged zone would be a Clash on the next plan: remove it now.
        if let Err(e) = add_tags(
            self.aws,
            &self.r53,
            TagResourceType::Hostedzone,
            &observed.id,
            spec,
        )
        .await
        {
            if let Err(del) = self.delete_once(&observed.id).await {
                tracing::warn!(zone = %observed.id, error = %del, "could not remove the untagged zone");
            }
            return Err(e);
        }
        Ok(observed)
    }

    /// The public zone named `domain` whose CallerReference is `token`.
    async fn by_token(
        &self,
        domain: &str,
        token: &str,
    ) -> Result<Option<GetHostedZoneOutput>, ReconcileError> {
        let zone = self
            .by_name(domain)
            .await?
            .into_iter()
            .find(|z| z.caller_reference() == token);
        match zone {
            Some(z) => self.get(strip_zone_prefix(z.id())).await,
            None => Ok(None),
        }
    }

    async fn delete_once(&self, id: &str) -> Result<(), ReconcileError> {
        gone(
            call(
                "route53:DeleteHostedZone",
                Policy::route53(self.aws),
                || self.r53.delete_hosted_zone().id(id).send(),
            )
            .await
            .map(|_| ()),
        )
    }

    async fn update_comment(&self, id: &str, comment: &str) -> Result<(), ReconcileError> {
        call(
            "route53:UpdateHostedZoneComment",
            Policy::route53(self.aws),
            || {
                self.r53
                    .update_hosted_zone_comment()
                    .id(id)
                    .comment(comment)
                    .send()
            },
        )
        .await
        .map(|_| ())
    }

    /// Deletes the zone, waiting up to 30 s for records still being removed
    /// (HostedZoneNotEmpty); then fails naming what is left.
    async fn delete(&self, id: &str, domain: &str) -> Result<(), ReconcileError> {
        let what = format!("hosted zone {id} ({domain}) to be empty");
        // What is left is listed once, at the timeout (its message differs).
        let waited = delete_when_unblocked(&what, ZONE_EMPTY, || self.delete_once(id)).await;
        match waited {
            Err(ReconcileError::Timeout { secs, .. }) => {
                let apex = norm_dns(domain);
                let left = records_from(self.aws, &self.r53, id, None, None, |_| true)
                    .await
                    .unwrap_or_default();
                let left: Vec<String> = left
                    .iter()
                    .filter(|r| {
                        !(r.r#type() == &RrType::Soa
                            || (r.r#type() == &RrType::Ns && norm_dns(r.name()) == apex))
                    })
                    .map(|r| match r.set_identifier() {
                        Some(s) => format!("{} {} ({s})", norm_dns(r.name()), r.r#type()),
                        None => format!("{} {}", norm_dns(r.name()), r.r#type()),
                    })
                    .collect();
                Err(ReconcileError::Timeout {
                    what: format!(
                        "hosted zone {id} ({domain}) to be empty: it still holds {}; drctl deletes only the records it made, remove these first",
                        if left.is_empty() { "records".to_string() } else { left.join(", ") }
                    ),
                    secs,
                })
            }
            other => other,
        }
    }
}

/// A same-named public zone that stayed untagged: the user's, or left by a
/// run killed between create and tag.
fn untagged_clash(z: &HostedZone, domain: &str) -> ReadOutcome {
    let id = strip_zone_prefix(z.id());
    ReadOutcome::Clash {
        id: id.to_string(),
        detail: format!(
            "an untagged public zone named {domain} exists (CallerReference {}): if it is \
             yours, set hosted_zone_id = \"{id}\" in the plan instead of \
             create_hosted_zone; if a drctl run was killed between creating and \
             tagging it (its CallerReference is then the pending token in the \
             state), delete it",
            z.caller_reference()
        ),
    }
}

/// What one CreateHostedZone attempt ended with.
enum Made {
    Created(aws_sdk_route53::operation::create_hosted_zone::CreateHostedZoneOutput),
    /// An earlier attempt with the same token had made it.
    Found(GetHostedZoneOutput),
}

fn observe_zone(zone: &HostedZone, name_servers: &[String]) -> Observed {
    let name = norm_dns(zone.name());
    Observed {
        id: strip_zone_prefix(zone.id()).to_string(),
        props: props::to_props(&HostedZoneProps {
            comment: zone
                .config()
                .and_then(|c| c.comment())
                .unwrap_or("")
                .to_string(),
            domain_name: name.clone(),
        }),
        attrs: props::from_json(json!({
            "name_servers": name_servers,
            "name": name,
        })),
    }
}

#[async_trait]
impl Reconciler for HostedZoneReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::HOSTED_ZONE
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
            TagResourceType::Hostedzone,
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

    /// Route53 takes a zone id with or without `/hostedzone/`; the state
    /// records it without.
    fn import_id(&self, given: &str) -> String {
        strip_zone_prefix(given).to_string()
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        self.zones().read(cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        self.zones().create(spec, token).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: HostedZoneProps = props::typed(spec)?;
        let id = strip_zone_prefix(&current.id);
        if adds_ownership_tags(changes) {
            add_tags(
                &self.aws,
                &self.zones().r53,
                TagResourceType::Hostedzone,
                id,
                spec,
            )
            .await?;
        }
        // Only the comment can change in place (the name forces replacement).
        let comment = p.comment.as_str();
        if changes.iter().any(|c| c.field == "comment") {
            self.zones().update_comment(id, comment).await?;
        }
        let mut props = current.props.clone();
        props.remove(UNTAGGED);
        props.insert("comment".into(), json!(comment));
        Ok(Observed {
            id: current.id.clone(),
            props,
            attrs: current.attrs.clone(),
        })
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        self.zones()
            .delete(strip_zone_prefix(&current.id), &domain_of(spec))
            .await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn a_domain_is_in_a_zone_at_or_below_its_apex_only() {
        assert!(super::in_zone("example.com", "example.com"));
        assert!(super::in_zone("dev.trading.example.com", "example.com"));
        assert!(!super::in_zone("badexample.com", "example.com"));
        assert!(!super::in_zone("example.org", "example.com"));
    }

    use super::*;
    use crate::route53::testing::{r53_client, r53_client_with};
    use crate::testing::{err_meta, spec, test_aws};
    use aws_sdk_route53::operation::change_tags_for_resource::ChangeTagsForResourceOutput;
    use aws_sdk_route53::operation::create_hosted_zone::{
        CreateHostedZoneError, CreateHostedZoneOutput,
    };
    use aws_sdk_route53::operation::delete_hosted_zone::DeleteHostedZoneError;
    use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
    use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
    use aws_sdk_route53::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_route53::types::{ChangeInfo, DelegationSet, ResourceTagSet};
    use aws_sdk_route53::types::{ChangeStatus, ResourceRecordSet, Tag};
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use drctl_core::model::TAG_ADDRESS;
    use std::collections::BTreeMap;

    fn zone_spec() -> ResourceSpec {
        spec(
            "global/route53/zone",
            drctl_stack::kinds::HOSTED_ZONE,
            "dev.example.com",
            json!({"domain_name": "dev.example.com", "comment": "c"}),
        )
    }

    fn zone(id: &str, caller_reference: &str) -> HostedZone {
        HostedZone::builder()
            .id(format!("/hostedzone/{id}"))
            .name("dev.example.com.")
            .caller_reference(caller_reference)
            .build()
            .unwrap()
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[tokio::test]
    async fn create_sends_the_token_as_caller_reference_then_tags() {
        let create = mock!(Client::create_hosted_zone)
            .match_requests(|r| {
                r.caller_reference() == Some(TOKEN)
                    && r.name() == Some("dev.example.com")
                    && r.hosted_zone_config().and_then(|c| c.comment()) == Some("c")
            })
            .then_output(|| {
                CreateHostedZoneOutput::builder()
                    .hosted_zone(zone("Z1", TOKEN))
                    .delegation_set(
                        DelegationSet::builder()
                            .name_servers("ns-1.example")
                            .build()
                            .unwrap(),
                    )
                    .change_info(
                        ChangeInfo::builder()
                            .id("C1")
                            .status(ChangeStatus::Pending)
                            .submitted_at(aws_smithy_types::DateTime::from_secs(0))
                            .build()
                            .unwrap(),
                    )
                    .location("x")
                    .build()
                    .unwrap()
            });
        let tag = mock!(Client::change_tags_for_resource)
            .match_requests(|r| {
                r.resource_id() == Some("Z1")
                    && r.resource_type() == Some(&TagResourceType::Hostedzone)
                    && r.add_tags()
                        .iter()
                        .any(|t| t.key() == Some(TAG_ENV) && t.value() == Some("dev"))
            })
            .then_output(|| ChangeTagsForResourceOutput::builder().build());
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&create, &tag]),
        };
        let o = zones.create(&zone_spec(), TOKEN).await.unwrap();
        assert_eq!(o.id, "Z1");
        assert_eq!(o.attrs["name_servers"], json!(["ns-1.example"]));
        assert_eq!(o.props["domain_name"], json!("dev.example.com"));
        assert_eq!(create.num_calls(), 1);
        assert_eq!(tag.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_repeated_caller_reference_adopts_the_zone_made_with_it() {
        let create = mock!(Client::create_hosted_zone).then_error(|| {
            CreateHostedZoneError::generic(err_meta(
                "HostedZoneAlreadyExists",
                "same CallerReference",
            ))
        });
        let list = mock!(Client::list_hosted_zones_by_name).then_output(|| {
            ListHostedZonesByNameOutput::builder()
                .hosted_zones(zone("ZOTHER", "someone-else"))
                .hosted_zones(zone("ZMINE", TOKEN))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let get = mock!(Client::get_hosted_zone)
            .match_requests(|r| r.id() == Some("ZMINE"))
            .then_output(|| {
                GetHostedZoneOutput::builder()
                    .hosted_zone(zone("ZMINE", TOKEN))
                    .build()
            });
        let tag = mock!(Client::change_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZMINE"))
            .then_output(|| ChangeTagsForResourceOutput::builder().build());
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&create, &list, &get, &tag]),
        };
        let o = zones.create(&zone_spec(), TOKEN).await.unwrap();
        assert_eq!(o.id, "ZMINE");
        assert_eq!(tag.num_calls(), 1);
    }

    fn listing(zones: &[HostedZone]) -> Rule {
        let zones = zones.to_vec();
        mock!(Client::list_hosted_zones_by_name).then_output(move || {
            ListHostedZonesByNameOutput::builder()
                .set_hosted_zones(Some(zones.clone()))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        })
    }

    fn get_zone(id: &'static str, token: &'static str) -> Rule {
        mock!(Client::get_hosted_zone)
            .match_requests(move |r| r.id() == Some(id))
            .then_output(move || {
                GetHostedZoneOutput::builder()
                    .hosted_zone(zone(id, token))
                    .build()
            })
    }

    /// The emulator ignores CallerReference, and an unanswered attempt may
    /// have made the zone: after one, create looks for the token before
    /// calling again, and takes what it finds. The first attempt makes no
    /// lookup (the refresh just made it).
    #[tokio::test(start_paused = true)]
    async fn create_adopts_the_zone_an_earlier_attempt_made_instead_of_a_second() {
        let unanswered = mock!(Client::create_hosted_zone)
            .then_error(|| CreateHostedZoneError::generic(err_meta("ServiceUnavailable", "lost")));
        let list = listing(&[zone("ZOTHER", "someone-else"), zone("ZMINE", TOKEN)]);
        let get = get_zone("ZMINE", TOKEN);
        let tag = mock!(Client::change_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZMINE"))
            .then_output(|| ChangeTagsForResourceOutput::builder().build());
        let create = mock!(Client::create_hosted_zone)
            .then_error(|| CreateHostedZoneError::generic(err_meta("Unexpected", "no")));
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&unanswered, &list, &get, &tag, &create]),
        };
        let o = zones.create(&zone_spec(), TOKEN).await.unwrap();
        assert_eq!(o.id, "ZMINE");
        assert_eq!(
            unanswered.num_calls(),
            1,
            "the first attempt, with no lookup before it"
        );
        assert_eq!(create.num_calls(), 0, "no second zone");
        assert_eq!(tag.num_calls(), 1);
    }

    /// Killed between CreateHostedZone and tagging: the untagged zone whose
    /// CallerReference is the state's pending token is ours. The plan adds
    /// its ownership tags (an update), and nothing else.
    #[tokio::test]
    async fn the_zone_of_an_unfinished_create_is_found_and_its_tags_are_added() {
        let list = listing(&[zone("ZBARE", "someone-else"), zone("ZMINE", TOKEN)]);
        let bare = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZBARE"))
            .then_output(|| tags_output(&[]));
        let mine = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZMINE"))
            .then_output(|| tags_output(&[]));
        let get = get_zone("ZMINE", TOKEN);
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&list, &bare, &mine, &get]),
        };
        let mut pending = BTreeMap::new();
        pending.insert(zone_spec().address, TOKEN.to_string());
        let cx = Ctx {
            pending_creates: std::sync::Arc::new(pending),
            ..Ctx::new("dev")
        };
        let found = match zones.read(&cx, &zone_spec(), None).await.unwrap() {
            ReadOutcome::Found(o) => o,
            other => panic!("{other:?}"),
        };
        assert_eq!(found.id, "ZMINE");
        let r = HostedZoneReconciler::new(&aws);
        let mut spec = zone_spec();
        spec.props.insert("comment".into(), json!(""));
        let changes = r.diff(&spec, &found);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, UNTAGGED);
        assert!(adds_ownership_tags(&changes));
        // Without the pending token the same zone is a clash (test above).
    }

    fn tags_output(pairs: &[(&str, &str)]) -> ListTagsForResourceOutput {
        let mut set = ResourceTagSet::builder();
        for (k, v) in pairs {
            set = set.tags(Tag::builder().key(*k).value(*v).build());
        }
        ListTagsForResourceOutput::builder()
            .resource_tag_set(set.build())
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn an_untagged_zone_of_the_name_is_a_clash_other_envs_zones_are_ignored() {
        let list = mock!(Client::list_hosted_zones_by_name).then_output(|| {
            ListHostedZonesByNameOutput::builder()
                .hosted_zones(zone("ZPROD", "a"))
                .hosted_zones(zone("ZBARE", "b"))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        let prod = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZPROD"))
            .then_output(|| {
                tags_output(&[(TAG_ENV, "prod"), (TAG_ADDRESS, "global/route53/zone")])
            });
        let bare = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZBARE"))
            .sequence()
            .output(|| tags_output(&[]))
            .repeatedly()
            .build();
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&list, &prod, &bare]),
        };
        let cx = Ctx::new("dev");
        let start = tokio::time::Instant::now();
        match zones.read(&cx, &zone_spec(), None).await.unwrap() {
            ReadOutcome::Clash { id, detail } => {
                assert_eq!(id, "ZBARE");
                assert!(detail.contains("CallerReference b"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        // Watched for the settle time (looks at 0.2, 0.6, 1.4, 2.4, 3 s),
        // the other env's zone not again.
        assert_eq!(start.elapsed(), UNTAGGED_ZONE_SETTLE.timeout);
        assert_eq!(bare.num_calls(), 1 + 5);
        assert_eq!(prod.num_calls(), 1);
    }

    /// Another run's zone between its create and its tag call, seen by this
    /// run's read: found as soon as its tags arrive (the first look again,
    /// 200 ms later), not after a fixed sleep.
    #[tokio::test(start_paused = true)]
    async fn a_zone_tagged_a_moment_later_is_found_at_the_next_look() {
        let list = listing(&[zone("ZNEW", "other-run")]);
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("ZNEW"))
            .sequence()
            .output(|| tags_output(&[]))
            .output(|| tags_output(&[(TAG_ENV, "dev"), (TAG_ADDRESS, "global/route53/zone")]))
            .build();
        let get = get_zone("ZNEW", "other-run");
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&list, &tags, &get]),
        };
        let start = tokio::time::Instant::now();
        match zones
            .read(&Ctx::new("dev"), &zone_spec(), None)
            .await
            .unwrap()
        {
            ReadOutcome::Found(o) => assert_eq!(o.id, "ZNEW"),
            other => panic!("{other:?}"),
        }
        assert_eq!(start.elapsed(), UNTAGGED_ZONE_SETTLE.first);
        assert_eq!(tags.num_calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn delete_waits_for_records_then_names_the_leftovers() {
        let busy = mock!(Client::delete_hosted_zone).then_error(|| {
            DeleteHostedZoneError::generic(err_meta("HostedZoneNotEmpty", "not empty"))
        });
        let rec = |name: &str, t: RrType, set: Option<&str>| {
            ResourceRecordSet::builder()
                .name(name)
                .r#type(t)
                .set_set_identifier(set.map(str::to_string))
                .build()
                .unwrap()
        };
        let list = mock!(Client::list_resource_record_sets).then_output(move || {
            ListResourceRecordSetsOutput::builder()
                .resource_record_sets(rec(
                    "dev.example.com.",
                    RrType::A,
                    Some("trading-dev-primary"),
                ))
                .resource_record_sets(rec("dev.example.com.", RrType::Ns, None))
                .resource_record_sets(rec("dev.example.com.", RrType::Soa, None))
                .resource_record_sets(rec("www.dev.example.com.", RrType::Cname, None))
                .is_truncated(false)
                .max_items(100)
                .build()
                .unwrap()
        });
        // MatchAny: simple rules answer every matching call.
        let aws = test_aws();
        let client = r53_client_with(RuleMode::MatchAny, &[&busy, &list]);
        let zones = Zones {
            aws: &aws,
            r53: client,
        };
        let err = zones.delete("Z1", "dev.example.com").await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("timed out after 30s"), "{msg}");
        assert!(
            msg.contains("dev.example.com A (trading-dev-primary)"),
            "{msg}"
        );
        assert!(msg.contains("www.dev.example.com CNAME"), "{msg}");
        assert!(!msg.contains("SOA") && !msg.contains(" NS"), "{msg}");
        assert!(
            busy.num_calls() > 3,
            "retried while records were going away"
        );
    }

    #[tokio::test]
    async fn delete_of_a_gone_zone_succeeds() {
        let gone = mock!(Client::delete_hosted_zone)
            .then_error(|| DeleteHostedZoneError::generic(err_meta("NoSuchHostedZone", "no")));
        let aws = test_aws();
        let zones = Zones {
            aws: &aws,
            r53: r53_client(&[&gone]),
        };
        zones.delete("Z1", "dev.example.com").await.unwrap();
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<HostedZoneProps>(
            drctl_stack::kinds::HOSTED_ZONE,
        );
        // Only dev.toml asks drctl to create the zone.
        assert_eq!(all.len(), 1);
        assert!(all[0].comment.contains("(dev)"), "{}", all[0].comment);
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

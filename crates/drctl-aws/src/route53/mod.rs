//! Route 53: the hosted zone, health checks and failover records (a global
//! service), one file per kind.
//!
//! Shared here: the waits and retry policies (named constants),
//! the tag helpers, DNS name normalisation, and [`wait_insync`].

pub mod failover_records;
pub mod health_check;
pub mod hosted_zone;

use crate::errors::found;
use crate::retry::{call, wait_for, Backoff, Policy, Polling, Wait};
use crate::tags::Tags;
use crate::Aws;
use aws_sdk_route53::types::{ChangeStatus, ResourceRecordSet, RrType, Tag, TagResourceType};
use aws_sdk_route53::Client;
use drctl_core::model::{ResourceSpec, TAG_ADDRESS, TAG_ENV};
use drctl_core::reconcile::{ErrorClass, ReconcileError};
use std::time::Duration;

/// A submitted change is INSYNC within 60 s (Route 53 API Reference,
/// GetChange); 10 min (drctl's figure), polled every 5 s.
pub(crate) const CHANGE_INSYNC: Wait = Wait::secs(600, 5);
/// DeleteHealthCheck answers HealthCheckInUse while failover records that
/// name it are being removed (one INSYNC change): 2 min (drctl's figure),
/// every 3 s.
pub(crate) const HEALTH_CHECK_DELETE: Wait = Wait::secs(120, 3);
/// DeleteHostedZone answers HostedZoneNotEmpty while drctl's records are
/// still being removed; drctl never deletes records it did not make, so a
/// short wait, 30 s (drctl's figure), then the error names what is left.
pub(crate) const ZONE_EMPTY: Wait = Wait::secs(30, 2);
/// How an untagged public zone of the stack's name is watched for the tags
/// of a run that may have just made it, before it counts as a clash: first
/// again after 200 ms (drctl tags a new zone in the call right after
/// CreateHostedZone, milliseconds later), at most 3 s in all (Route53 allows
/// 5 requests per second per account, Route 53 Developer Guide, "Quotas":
/// a throttled tag call waits a second or two).
pub(crate) const UNTAGGED_ZONE_SETTLE: Polling = Polling {
    first: Duration::from_millis(200),
    every: Duration::from_secs(1),
    timeout: Duration::from_secs(3),
};
/// Deleting records whose values changed under the read (another writer,
/// or Route53 still applying the previous change): read again after 200 ms,
/// doubling to 2 s, for 15 s (a change is INSYNC within 60 s, Route 53 API
/// Reference, GetChange; a conflicting one usually much sooner).
pub(crate) const RECORDS_MOVED: Policy<'static> = Policy {
    schedule: Backoff {
        initial: Duration::from_millis(200),
        cap: Duration::from_secs(2),
        total: Duration::from_secs(15),
    },
    retry_on: &[ErrorClass::Retryable],
    slot: None,
};

/// Route53 allows 10 tags per zone or health check. The plan file refuses a
/// `[tags]` table that would exceed it (`drctl_stack::kinds::TAG_LIMITS`);
/// as a last guard the ownership tags and `Name` go first and any beyond
/// the limit are dropped (logged).
pub(crate) fn r53_tags(spec: &ResourceSpec) -> Vec<Tag> {
    const LIMIT: usize = 10;
    let rank = |k: &str| match k {
        TAG_ENV | TAG_ADDRESS => 0,
        "Name" => 1,
        "Environment" | "Application" => 2,
        _ => 3,
    };
    let mut pairs: Vec<(&String, &String)> = spec.tags.iter().collect();
    pairs.sort_by_key(|(k, _)| rank(k));
    if pairs.len() > LIMIT {
        let dropped: Vec<&str> = pairs[LIMIT..].iter().map(|(k, _)| k.as_str()).collect();
        tracing::warn!(address = %spec.address, ?dropped, "Route53 keeps at most 10 tags per resource");
    }
    pairs
        .into_iter()
        .take(LIMIT)
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn from_r53(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// Lowercase, without the trailing dot Route53 adds to names.
pub(crate) fn norm_dns(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `wanted` when it names the same host as `have` (Route53 lowercases and
/// adds a dot), else `have` normalised: keeps a second plan free of
/// cosmetic differences.
pub(crate) fn same_dns(have: &str, wanted: Option<&str>) -> String {
    match wanted {
        Some(w) if norm_dns(w) == norm_dns(have) => w.to_string(),
        _ => norm_dns(have),
    }
}

pub(crate) fn strip_zone_prefix(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// Adds the spec's tags to a zone or health check.
pub(crate) async fn add_tags(
    aws: &Aws,
    r53: &Client,
    kind: TagResourceType,
    id: &str,
    spec: &ResourceSpec,
) -> Result<(), ReconcileError> {
    let tags = r53_tags(spec);
    call(
        "route53:ChangeTagsForResource",
        Policy::route53(aws),
        || {
            r53.change_tags_for_resource()
                .resource_type(kind.clone())
                .resource_id(id)
                .set_add_tags(Some(tags.clone()))
                .send()
        },
    )
    .await
    .map(|_| ())
}

/// The tag writes of a zone or health check (`id`, with or without the
/// `/hostedzone/` prefix): one ChangeTagsForResource, Route53 adds and
/// removes in one call.
pub(crate) async fn write_tags(
    aws: &Aws,
    kind: TagResourceType,
    id: &str,
    spec: &ResourceSpec,
    writes: &drctl_core::diff::TagWrites,
) -> Result<(), ReconcileError> {
    let r53 = aws.route53(aws.global_region());
    let id = strip_zone_prefix(id);
    let add = r53_tags(&crate::tags::only(spec, &writes.set));
    let remove = crate::tags::keys(writes);
    call(
        "route53:ChangeTagsForResource",
        Policy::route53(aws),
        || {
            r53.change_tags_for_resource()
                .resource_type(kind.clone())
                .resource_id(id)
                .set_add_tags((!add.is_empty()).then(|| add.clone()))
                .set_remove_tag_keys((!remove.is_empty()).then(|| remove.clone()))
                .send()
        },
    )
    .await
    .map(|_| ())
}

/// Tags of one zone or health check (`None`: it is gone).
pub(crate) async fn tags_of(
    aws: &Aws,
    r53: &Client,
    kind: TagResourceType,
    id: &str,
) -> Result<Option<Tags>, ReconcileError> {
    let out = found(
        call("route53:ListTagsForResource", Policy::route53(aws), || {
            r53.list_tags_for_resource()
                .resource_type(kind.clone())
                .resource_id(id)
                .send()
        })
        .await,
    )?;
    Ok(out.map(|o| {
        o.resource_tag_set()
            .map(|s| from_r53(s.tags()))
            .unwrap_or_default()
    }))
}

/// [`tags_of`] for a resource known to exist, of this env: from the env's
/// tag index (Route53 is answered in the global region), else asked.
pub(crate) async fn owner_tags_of(
    aws: &Aws,
    r53: &Client,
    env: &str,
    kind: TagResourceType,
    id: &str,
) -> Result<Option<Tags>, ReconcileError> {
    let arn = format!("arn:aws:route53:::{}/{id}", kind.as_str());
    match crate::tag_index::tags_of(aws, aws.global_region(), env, &arn).await {
        Some(tags) => Ok(Some(tags)),
        None => tags_of(aws, r53, kind, id).await,
    }
}

/// Waits until a submitted change is INSYNC (served by every Route53 DNS
/// server); AWS takes up to a minute or so, the emulator none.
pub(crate) async fn wait_insync(
    aws: &Aws,
    r53: &Client,
    change_id: &str,
    what: &str,
) -> Result<(), ReconcileError> {
    wait_for(
        &format!("Route53 change {change_id} ({what}) to be INSYNC"),
        CHANGE_INSYNC,
        || async {
            let out = call("route53:GetChange", Policy::route53(aws), || {
                r53.get_change().id(change_id).send()
            })
            .await?;
            Ok(out
                .change_info()
                .filter(|c| c.status() == &ChangeStatus::Insync)
                .map(|_| ()))
        },
    )
    .await
}

/// Record sets of a zone from `name` on (optionally only of `rtype`), for as
/// long as `keep` accepts them (the listing is sorted by name, then type).
pub(crate) async fn records_from(
    aws: &Aws,
    r53: &Client,
    zone_id: &str,
    name: Option<&str>,
    rtype: Option<RrType>,
    keep: impl Fn(&ResourceRecordSet) -> bool,
) -> Result<Vec<ResourceRecordSet>, ReconcileError> {
    let mut out = Vec::new();
    let mut next: (Option<String>, Option<RrType>, Option<String>) =
        (name.map(str::to_string), rtype, None);
    loop {
        let page = call(
            "route53:ListResourceRecordSets",
            Policy::route53(aws),
            || {
                r53.list_resource_record_sets()
                    .hosted_zone_id(zone_id)
                    .set_start_record_name(next.0.clone())
                    .set_start_record_type(next.1.clone())
                    .set_start_record_identifier(next.2.clone())
                    .send()
            },
        )
        .await?;
        for r in page.resource_record_sets() {
            if !keep(r) {
                return Ok(out);
            }
            out.push(r.clone());
        }
        if !page.is_truncated() || page.next_record_name().is_none() {
            return Ok(out);
        }
        next = (
            page.next_record_name().map(str::to_string),
            page.next_record_type().cloned(),
            page.next_record_identifier().map(str::to_string),
        );
    }
}

/// Route53 client settings for one create attempt: no SDK retries (a
/// repeat needs the lookup by token first).
pub(crate) fn one_attempt() -> aws_sdk_route53::config::Builder {
    aws_sdk_route53::config::Builder::default()
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
}

/// Test helpers the service's reconcilers share.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use aws_smithy_mocks::{Rule, RuleMode};

    /// A Route53 client answering from `rules`, in order.
    pub(crate) fn r53_client(rules: &[&Rule]) -> Client {
        r53_client_with(RuleMode::Sequential, rules)
    }

    pub(crate) fn r53_client_with(mode: RuleMode, rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_route53, "us-east-1", mode, rules)
    }
}

//! Orphans: resources that carry this env's `drctl:env` tag but that neither
//! the state nor the plan accounts for (a duplicate left by a lost state, a
//! resource dropped from the blueprint by hand, something tagged by copy and
//! paste). drctl never deletes what its state does not record, so orphans
//! are only reported, never acted on.
//!
//! The cloud side (a tag search per region) lives in the AWS crate; this
//! module holds the pure decision: which tagged resources are orphans, and
//! why.

use crate::model::Address;
use crate::plan::Plan;
use crate::state::State;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One resource found by its `drctl:env` tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedResource {
    /// The resource's ARN, as the Resource Groups Tagging API returns it.
    pub arn: String,
    /// The region it lives in (`global` for Route53 and IAM).
    pub region: String,
    /// `service:type` from the ARN, e.g. `ec2:security-group`.
    pub resource_type: String,
    /// Its `drctl:address` tag, if it has one.
    pub address: Option<String>,
}

/// Why a tagged resource is an orphan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum OrphanReason {
    /// It has `drctl:env` but no `drctl:address`.
    NoAddressTag,
    /// Its address is neither in the state nor in the plan.
    UnknownAddress,
    /// Its address is known, but drctl's resource there is another one
    /// (`recorded_id`), or drctl found none there and will create one.
    Duplicate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// The physical id the state records at the address, if any.
        recorded_id: Option<String>,
    },
}

impl OrphanReason {
    /// The reason in one sentence, for people.
    pub fn explain(&self) -> String {
        match self {
            OrphanReason::NoAddressTag => "it has no drctl:address tag".into(),
            OrphanReason::UnknownAddress => {
                "no resource of the state or the plan has this address".into()
            }
            OrphanReason::Duplicate {
                recorded_id: Some(id),
            } => format!("a duplicate: drctl's resource at this address is {id}"),
            OrphanReason::Duplicate { recorded_id: None } => {
                "a duplicate: drctl did not find it at this address and plans to create another"
                    .into()
            }
        }
    }
}

/// A resource tagged with this env that drctl does not manage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    /// The orphan's ARN.
    pub arn: String,
    /// The region it lives in (`global` for Route53 and IAM).
    pub region: String,
    /// `service:type` from the ARN, e.g. `ec2:security-group`.
    pub resource_type: String,
    /// Its `drctl:address` tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Why it is an orphan.
    pub reason: OrphanReason,
}

/// Whether an ARN names the resource whose physical id is `id`: ids are
/// ARNs (ALB, SNS topic, secret), or the ARN's last segment (`vpc/vpc-1`,
/// `db:name`, `table/name`, `hostedzone/Z1`).
pub fn arn_matches_id(arn: &str, id: &str) -> bool {
    // Route53 answers ids as `/hostedzone/Z1`; drctl stores `Z1`, but be lenient.
    let id = id.trim_start_matches('/');
    if id.is_empty() {
        return false;
    }
    arn == id
        || arn
            .strip_suffix(id)
            .is_some_and(|head| head.ends_with('/') || head.ends_with(':'))
}

/// `service:type` of an ARN (`arn:aws:ec2:r:a:security-group/sg-1` →
/// `ec2:security-group`). ARNs whose resource part is a bare name get the
/// service's one taggable type (S3 buckets, SNS topics).
pub fn resource_type_of(arn: &str) -> String {
    let mut parts = arn.splitn(6, ':');
    let (service, resource) = match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_), Some(service), Some(_), Some(_), Some(resource)) => {
            (service, resource)
        }
        _ => return "unknown".into(),
    };
    match resource.find(['/', ':']) {
        Some(i) => format!("{service}:{}", &resource[..i]),
        None => match service {
            "s3" => "s3:bucket".into(),
            "sns" => "sns:topic".into(),
            "sqs" => "sqs:queue".into(),
            _ => service.to_string(),
        },
    }
}

/// The region a resource found by a search in `searched` lives in: the
/// ARN's, else `global` for the global services, else `searched` (S3 ARNs
/// carry no region, yet a bucket lives in one).
pub fn region_of(arn: &str, searched: &str) -> String {
    let mut parts = arn.split(':');
    let service = parts.nth(2).unwrap_or("");
    match parts.next() {
        Some(r) if !r.is_empty() => r.to_string(),
        _ if matches!(service, "route53" | "iam" | "cloudfront") => "global".into(),
        _ => searched.to_string(),
    }
}

/// The tagged resources that are orphans given the state and the plan.
///
/// An address is known when the state records it (or has a pending
/// operation on it) or the plan has a change for it. A known address's
/// resources are the id the state records and the id the plan read
/// (`prior`, which also covers resources being adopted), and its deposed
/// objects. A pending create
/// with neither is not judged: the next run resumes it.
pub fn find_orphans(items: &[TaggedResource], state: &State, plan: &Plan) -> Vec<Orphan> {
    let mut ids: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, r) in &state.resources {
        ids.entry(a.as_str()).or_default().insert(r.id.as_str());
    }
    // Deposed objects are recorded (and deleted by the next apply).
    for (a, list) in &state.deposed {
        let e = ids.entry(a.as_str()).or_default();
        for d in list {
            e.insert(d.object.id.as_str());
        }
    }
    for c in &plan.changes {
        let e = ids.entry(c.address.as_str()).or_default();
        if let Some(p) = &c.prior {
            e.insert(p.id.as_str());
        }
    }
    for a in state.pending.keys().chain(plan.forget.iter()) {
        ids.entry(a.as_str()).or_default();
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for item in items {
        // Global resources can be listed by more than one region's search.
        if !seen.insert(item.arn.as_str()) {
            continue;
        }
        let reason = match &item.address {
            None => Some(OrphanReason::NoAddressTag),
            Some(a) => match ids.get(a.as_str()) {
                None => Some(OrphanReason::UnknownAddress),
                Some(known) if known.iter().any(|id| arn_matches_id(&item.arn, id)) => None,
                Some(_) if state.pending.contains_key(&Address::new(a.clone())) => None,
                Some(known) => Some(OrphanReason::Duplicate {
                    recorded_id: state
                        .resources
                        .get(&Address::new(a.clone()))
                        .map(|r| r.id.clone())
                        .or_else(|| known.iter().next().map(|s| s.to_string())),
                }),
            },
        };
        if let Some(reason) = reason {
            out.push(Orphan {
                arn: item.arn.clone(),
                region: item.region.clone(),
                resource_type: item.resource_type.clone(),
                address: item.address.clone(),
                reason,
            });
        }
    }
    out.sort_by(|a, b| (&a.region, &a.arn).cmp(&(&b.region, &b.arn)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Observed;
    use crate::plan::{Action, ResourceChange, PLAN_FORMAT_VERSION};
    use crate::state::{Operation, PendingOp, ResourceState};

    fn state() -> State {
        let mut s: State = serde_json::from_value(serde_json::json!({
            "format_version": 1, "lineage": "L", "serial": 1, "env": "dev"
        }))
        .unwrap();
        s.resources.insert(
            Address::new("us-east-1/network/sg"),
            ResourceState {
                kind: "ec2:security-group".into(),
                region: Some("us-east-1".into()),
                name: "trading-sg-dev".into(),
                id: "sg-1".into(),
                attrs: Default::default(),
                applied: Default::default(),
                dependencies: vec![],
            },
        );
        s.pending.insert(
            Address::new("us-east-1/network/nat"),
            PendingOp {
                operation: Operation::Create,
                kind: "ec2:natgateway".into(),
                region: Some("us-east-1".into()),
                name: "trading-nat-dev".into(),
                token: "t".into(),
                started_at: "now".into(),
            },
        );
        s
    }

    fn change(address: &str, action: Action, prior: Option<&str>) -> ResourceChange {
        ResourceChange {
            address: Address::new(address),
            kind: "k".into(),
            region: Some("us-east-1".into()),
            name: "n".into(),
            action,
            adopt: false,
            drift: false,
            fields: vec![],
            reasons: vec![],
            prior: prior.map(|id| Observed {
                id: id.into(),
                ..Default::default()
            }),
            dependencies: vec![],
            create_before_destroy: false,
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION.into(),
            env: "dev".into(),
            lineage: "L".into(),
            serial: 1,
            destroy: false,
            changes,
            forget: vec![],
            warnings: vec![],
            orphans: vec![],
            deposed: vec![],
        }
    }

    fn item(arn: &str, address: Option<&str>) -> TaggedResource {
        TaggedResource {
            arn: arn.into(),
            region: region_of(arn, "us-east-1"),
            resource_type: resource_type_of(arn),
            address: address.map(str::to_string),
        }
    }

    #[test]
    fn ids_match_arns_by_equality_or_last_segment() {
        let sg = "arn:aws:ec2:us-east-1:1:security-group/sg-1";
        assert!(arn_matches_id(sg, "sg-1"));
        assert!(!arn_matches_id(sg, "g-1"), "a whole segment, not a suffix");
        assert!(!arn_matches_id(sg, "sg-12"));
        assert!(!arn_matches_id(sg, ""));
        assert!(arn_matches_id(sg, sg));
        assert!(arn_matches_id(
            "arn:aws:rds:us-east-1:1:db:trading-db-dev",
            "trading-db-dev"
        ));
        assert!(arn_matches_id(
            "arn:aws:s3:::trading-data-dev",
            "trading-data-dev"
        ));
        assert!(arn_matches_id(
            "arn:aws:route53:::hostedzone/Z12",
            "/hostedzone/Z12"
        ));
        assert!(arn_matches_id(
            "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:u-1:autoScalingGroupName/trading-asg-dev",
            "trading-asg-dev"
        ));
    }

    #[test]
    fn resource_types_and_regions_come_from_the_arn() {
        let cases = [
            (
                "arn:aws:ec2:us-east-1:1:security-group/sg-1",
                "ec2:security-group",
                "us-east-1",
            ),
            (
                "arn:aws:elasticloadbalancing:us-west-2:1:targetgroup/tg/abc",
                "elasticloadbalancing:targetgroup",
                "us-west-2",
            ),
            (
                "arn:aws:rds:us-east-1:1:db:trading-db-dev",
                "rds:db",
                "us-east-1",
            ),
            ("arn:aws:s3:::trading-data-dev", "s3:bucket", "us-east-1"),
            (
                "arn:aws:sns:us-east-1:1:trading-alerts-dev",
                "sns:topic",
                "us-east-1",
            ),
            (
                "arn:aws:route53:::healthcheck/abc",
                "route53:healthcheck",
                "global",
            ),
            (
                "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf",
                "secretsmanager:secret",
                "us-east-1",
            ),
        ];
        for (arn, ty, region) in cases {
            assert_eq!(resource_type_of(arn), ty, "{arn}");
            assert_eq!(region_of(arn, "us-east-1"), region, "{arn}");
        }
        assert_eq!(resource_type_of("not-an-arn"), "unknown");
        assert_eq!(region_of("arn:aws:s3:::b", "us-west-2"), "us-west-2");
    }

    #[test]
    fn orphans_are_unknown_addresses_missing_tags_and_duplicates() {
        let s = state();
        let p = plan(vec![
            change("us-east-1/network/sg", Action::NoOp, Some("sg-1")),
            change("us-east-1/network/vpc", Action::Create, None),
            change("global/route53/zone", Action::NoOp, Some("Z9")),
        ]);
        let items = vec![
            // Managed: the state's id, and an adopted resource the plan read.
            item(
                "arn:aws:ec2:us-east-1:1:security-group/sg-1",
                Some("us-east-1/network/sg"),
            ),
            item(
                "arn:aws:route53:::hostedzone/Z9",
                Some("global/route53/zone"),
            ),
            // A pending create is left to the next run to resume.
            item(
                "arn:aws:ec2:us-east-1:1:natgateway/nat-1",
                Some("us-east-1/network/nat"),
            ),
            // Orphans.
            item(
                "arn:aws:ec2:us-east-1:1:security-group/sg-2",
                Some("us-east-1/network/sg"),
            ),
            item(
                "arn:aws:ec2:us-east-1:1:vpc/vpc-9",
                Some("us-east-1/network/vpc"),
            ),
            item(
                "arn:aws:ec2:us-east-1:1:subnet/subnet-1",
                Some("us-east-1/network/gone"),
            ),
            item("arn:aws:sns:us-west-2:1:t", None),
            // Listed twice (a global resource seen from two regions): once.
            item(
                "arn:aws:ec2:us-east-1:1:subnet/subnet-1",
                Some("us-east-1/network/gone"),
            ),
        ];
        let o = find_orphans(&items, &s, &p);
        let got: Vec<(&str, &OrphanReason)> =
            o.iter().map(|o| (o.arn.as_str(), &o.reason)).collect();
        assert_eq!(
            got,
            vec![
                (
                    "arn:aws:ec2:us-east-1:1:security-group/sg-2",
                    &OrphanReason::Duplicate {
                        recorded_id: Some("sg-1".into())
                    }
                ),
                (
                    "arn:aws:ec2:us-east-1:1:subnet/subnet-1",
                    &OrphanReason::UnknownAddress
                ),
                (
                    "arn:aws:ec2:us-east-1:1:vpc/vpc-9",
                    &OrphanReason::Duplicate { recorded_id: None }
                ),
                ("arn:aws:sns:us-west-2:1:t", &OrphanReason::NoAddressTag),
            ]
        );
        assert_eq!(o[0].resource_type, "ec2:security-group");
        assert_eq!(o[0].address.as_deref(), Some("us-east-1/network/sg"));
        assert!(o[0].reason.explain().contains("sg-1"));
    }

    #[test]
    fn the_reason_serializes_with_a_kind() {
        let o = Orphan {
            arn: "a".into(),
            region: "r".into(),
            resource_type: "t".into(),
            address: None,
            reason: OrphanReason::Duplicate {
                recorded_id: Some("sg-1".into()),
            },
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"arn": "a", "region": "r", "resource_type": "t",
                "reason": {"kind": "duplicate", "recorded_id": "sg-1"}})
        );
        assert_eq!(serde_json::from_value::<Orphan>(v).unwrap(), o);
    }
}

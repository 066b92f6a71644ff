//! `ec2:security-group` — the ALB, EC2 and RDS security groups of a region.
//!
//! The group name is `spec.name` (unique per VPC). Found by id, else by
//! filters `group-name` + `vpc-id` (by ownership tags while the VPC id is
//! not known yet), then the ownership tags are checked: a same-named group
//! without them is a clash. Props: [`SecurityGroupProps`]. Both ingress
//! lists are compared in one canonical order (ports, protocol, source).
//! Update works rule by rule: revoke what is extra, authorize what is missing.
//! Attrs: `name`.
//!
//! Caveats: the default egress rule is left alone (not in the props). The
//! tags go in CreateSecurityGroup (no client token); the ingress rules
//! follow, and a crash in between leaves a tagged group whose rules the
//! next run adds. Delete waits out `DependencyViolation` (ENIs of an ALB,
//! instances or the DB still using the group); the timeout names them.

use crate::ec2::filter;
use crate::ec2::lookup::{create_unless_found, lookup, one_attempt, pick_owned};
use crate::ec2::{eni_blockers, SECURITY_GROUP_DELETE};
use crate::errors::{found, gone};
use crate::retry::{call, delete_when_unblocked_or_name, Policy};
use crate::tags::ec2_tag_spec;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, Ipv6Range, PrefixListId, ResourceType, SecurityGroup, UserIdGroupPair,
};
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{Observed, Props, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// What `ec2:security-group` compares: the blueprint's props and what a read reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupProps {
    /// The VPC's id (`vpc-…`). Replaces: AWS cannot move a group.
    pub vpc_id: String,
    /// Free text, up to 255 characters. Replaces: AWS cannot change it.
    pub description: String,
    /// The inbound rules; in place, rule by rule (the default egress rule is
    /// left alone).
    pub ingress: Vec<IngressRule>,
}

/// One rule of [`SecurityGroupProps::ingress`]: a protocol, a port range and
/// exactly one source. A read reports one rule per (permission, source), so
/// any rule added out of band shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp` or `-1` (all traffic), lower case.
    pub protocol: String,
    /// First port of the range (-1 for `-1`: no ports).
    pub from_port: i32,
    /// Last port of the range, inclusive (-1 for `-1`).
    pub to_port: i32,
    /// An IPv4 or IPv6 CIDR source, e.g. `0.0.0.0/0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// Another group as the source (`sg-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_security_group_id: Option<String>,
    /// A managed prefix list as the source (`pl-…`); the blueprint uses
    /// none, a read reports any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_list_id: Option<String>,
}

/// Fields whose change replaces the group, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("vpc_id", "a security group cannot move to another VPC"),
    (
        "description",
        "a security group's description cannot change",
    ),
];

pub struct SecurityGroupReconciler {
    pub aws: Aws,
}

impl SecurityGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// The keys naming a rule's source, in the props' vocabulary.
const SOURCES: [&str; 3] = ["cidr", "source_security_group_id", "prefix_list_id"];

fn rule(protocol: &str, from: i64, to: i64, source_key: &str, source: &str) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), json!(protocol));
    m.insert("from_port".into(), json!(from));
    m.insert("to_port".into(), json!(to));
    m.insert(source_key.into(), json!(source));
    Value::Object(m)
}

/// One rule per (permission, source), in the props' shape.
fn rules_of(perms: &[IpPermission]) -> Vec<Value> {
    let mut out = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().unwrap_or("-1").to_ascii_lowercase();
        // "-1" (all traffic) has no ports; -1 stands for "any".
        let from = i64::from(p.from_port().unwrap_or(-1));
        let to = i64::from(p.to_port().unwrap_or(-1));
        let r = |k: &str, v: &str| rule(&proto, from, to, k, v);
        out.extend(
            p.ip_ranges()
                .iter()
                .filter_map(|x| x.cidr_ip())
                .map(|c| r("cidr", c)),
        );
        out.extend(
            p.ipv6_ranges()
                .iter()
                .filter_map(|x| x.cidr_ipv6())
                .map(|c| r("cidr", c)),
        );
        out.extend(
            p.user_id_group_pairs()
                .iter()
                .filter_map(|g| g.group_id())
                .map(|g| r("source_security_group_id", g)),
        );
        out.extend(
            p.prefix_list_ids()
                .iter()
                .filter_map(|x| x.prefix_list_id())
                .map(|x| r("prefix_list_id", x)),
        );
    }
    canonical(&out)
}

/// Ports, protocol, then source: the one order both sides are compared in.
fn sort_key(r: &Value) -> (i64, i64, String, String) {
    let port = |k: &str| r.get(k).and_then(Value::as_i64).unwrap_or(i64::MIN);
    let source = SOURCES
        .iter()
        .find_map(|k| r.get(*k).map(|v| format!("{k}={v}")))
        .unwrap_or_default();
    let proto = r
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    (port("from_port"), port("to_port"), proto, source)
}

fn canonical(rules: &[Value]) -> Vec<Value> {
    let mut out = rules.to_vec();
    out.sort_by_key(sort_key);
    out
}

/// The desired rules in the observed rules' shape, to compare with them.
fn desired_rules(p: &SecurityGroupProps) -> Vec<Value> {
    p.ingress
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect()
}

fn ingress_of(p: &Props) -> Vec<Value> {
    p.get("ingress")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// `(to revoke, to authorize)` to turn `have` into `want`.
fn rule_changes(want: &[Value], have: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let extra = have.iter().filter(|r| !want.contains(r)).cloned().collect();
    let missing = want.iter().filter(|r| !have.contains(r)).cloned().collect();
    (extra, missing)
}

/// The EC2 permission for one rule of the props; `Err` says what is wrong
/// with the rule.
fn permission(r: &Value) -> Result<IpPermission, String> {
    let bad = |why: &str| format!("ingress rule {r}: {why}");
    let proto = r
        .get("protocol")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("protocol must be a string"))?;
    let port = |k: &str| {
        r.get(k)
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| bad("ports must be whole numbers"))
    };
    let mut b = IpPermission::builder().ip_protocol(proto);
    if proto != "-1" {
        b = b.from_port(port("from_port")?).to_port(port("to_port")?);
    }
    let b = if let Some(c) = r.get("cidr").and_then(Value::as_str) {
        if c.contains(':') {
            b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(c).build())
        } else {
            b.ip_ranges(IpRange::builder().cidr_ip(c).build())
        }
    } else if let Some(g) = r.get("source_security_group_id").and_then(Value::as_str) {
        b.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build())
    } else if let Some(p) = r.get("prefix_list_id").and_then(Value::as_str) {
        b.prefix_list_ids(PrefixListId::builder().prefix_list_id(p).build())
    } else {
        return Err(bad(
            "needs a cidr, a source_security_group_id or a prefix_list_id",
        ));
    };
    Ok(b.build())
}

fn observe(sg: &SecurityGroup) -> Observed {
    // Not `SecurityGroupProps`: a field AWS does not report is null, not a default.
    Observed {
        id: sg.group_id().unwrap_or_default().to_string(),
        props: props::from_json(json!({
            "vpc_id": sg.vpc_id(),
            "description": sg.description(),
            "ingress": rules_of(sg.ip_permissions()),
        })),
        attrs: props::from_json(json!({ "name": sg.group_name() })),
    }
}

impl SecurityGroupReconciler {
    /// Adds `rules`, taken from `spec`'s `ingress` (a rule drctl cannot
    /// send is that property's fault).
    async fn authorize(
        &self,
        ec2: &aws_sdk_ec2::Client,
        spec: &ResourceSpec,
        group: &str,
        rules: &[Value],
    ) -> Result<(), ReconcileError> {
        if rules.is_empty() {
            return Ok(());
        }
        let perms = rules
            .iter()
            .map(permission)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| props::config(spec, "ingress", why))?;
        let req = ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(perms));
        // The group and the source groups may be moments old.
        let r = call(
            "ec2:AuthorizeSecurityGroupIngress",
            Policy::AFTER_CREATE,
            || req.clone().send(),
        )
        .await
        .map(|_| ());
        match r {
            // InvalidPermission.Duplicate: already there is what we want.
            Err(e) if e.class() == ErrorClass::AlreadyExists => Ok(()),
            other => other,
        }
    }

    async fn revoke(
        &self,
        ec2: &aws_sdk_ec2::Client,
        group: &str,
        rules: &[Value],
    ) -> Result<(), ReconcileError> {
        if rules.is_empty() {
            return Ok(());
        }
        // The rules were read from AWS: one drctl cannot send back is its
        // own misreading.
        let perms = rules
            .iter()
            .map(permission)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|why| ReconcileError::Internal(format!("{group}: {why}")))?;
        let r = call("ec2:RevokeSecurityGroupIngress", Policy::ONCE, || {
            ec2.revoke_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(perms.clone()))
                .send()
        })
        .await
        .map(|_| ());
        // InvalidPermission.NotFound: already gone.
        gone(r)
    }
}

#[async_trait]
impl Reconciler for SecurityGroupReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::SECURITY_GROUP
    }

    /// Instances, the load balancer and the DB hold it through their network
    /// interfaces (`DependencyViolation` on delete): the new group is made
    /// first, they move to it, then the old one goes.
    fn create_before_destroy(&self) -> bool {
        true
    }

    /// A group name is unique within its VPC.
    fn name_is_unique(&self) -> bool {
        true
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
        crate::tags::ec2_write(&self.aws, spec, &current.id, writes).await
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    /// Ingress rules are compared in the canonical order on both sides.
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut desired = spec.props.clone();
        if let Some(Value::Array(rules)) = desired.get_mut("ingress") {
            *rules = canonical(rules);
        }
        diff_props(&desired, &observed.props, self.replace_on())
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let groups: Vec<SecurityGroup> =
            match (known_id, spec.props.get("vpc_id").and_then(Value::as_str)) {
                // Names are unique per VPC: an untagged group of the same
                // name is a clash to report, not a group to create twice.
                (None, Some(vpc)) => {
                    let req = self
                        .aws
                        .ec2(self.aws.region_of(spec))
                        .describe_security_groups()
                        .filters(filter("group-name", &spec.name))
                        .filters(filter("vpc-id", vpc));
                    let out = call("ec2:DescribeSecurityGroups", Policy::TRANSIENT, || {
                        req.clone().send()
                    })
                    .await;
                    found(out)?
                        .map(|o| o.security_groups().to_vec())
                        .unwrap_or_default()
                }
                _ => lookup(&self.aws, cx, spec, known_id).await?,
            };
        Ok(pick_owned(cx, spec, groups)?.observed(observe))
    }

    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: SecurityGroupProps = props::typed(spec)?;
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let req = ec2
            .create_security_group()
            .group_name(&spec.name)
            .description(&p.description)
            .vpc_id(&p.vpc_id)
            .tag_specifications(ec2_tag_spec(ResourceType::SecurityGroup, spec));
        // No client token: an unanswered attempt is followed by the
        // ownership-tag lookup, which is why the tags go in this call.
        let id = Policy::AFTER_CREATE
            .run("ec2:CreateSecurityGroup", || {
                create_unless_found::<SecurityGroup, _, _, _>(
                    &self.aws,
                    cx,
                    spec,
                    "ec2:CreateSecurityGroup",
                    || async {
                        let out = call("ec2:CreateSecurityGroup", Policy::ONCE, || {
                            req.clone()
                                .customize()
                                .config_override(one_attempt())
                                .send()
                        })
                        .await?;
                        out.group_id().map(str::to_string).ok_or_else(|| {
                            ReconcileError::Internal(
                                "CreateSecurityGroup returned no group id".into(),
                            )
                        })
                    },
                    |g| Ok(g.group_id().unwrap_or_default().to_string()),
                )
            })
            .await?;
        self.authorize(&ec2, spec, &id, &desired_rules(&p)).await?;
        Ok(Observed {
            id,
            props: spec.props.clone(),
            attrs: props::from_json(json!({ "name": spec.name })),
        })
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Only the ingress rules change in place.
        let p: SecurityGroupProps = props::typed(spec)?;
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let (extra, missing) =
            rule_changes(&canonical(&desired_rules(&p)), &ingress_of(&current.props));
        tracing::debug!(group = %current.id, ?extra, ?missing, "ingress");
        self.revoke(&ec2, &current.id, &extra).await?;
        self.authorize(&ec2, spec, &current.id, &missing).await?;
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let what = format!(
            "security group {} ({}) to be deletable (DependencyViolation)",
            current.id, spec.address
        );
        delete_when_unblocked_or_name(
            &what,
            SECURITY_GROUP_DELETE,
            || {
                call("ec2:DeleteSecurityGroup", Policy::ONCE, || {
                    ec2.delete_security_group().group_id(&current.id).send()
                })
            },
            || eni_blockers(&ec2, filter("group-id", &current.id)),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<SecurityGroupProps>(
            drctl_stack::kinds::SECURITY_GROUP,
        );
        // STACK.md section 2: only the ALB is open to the internet, on 80 and 443.
        let open: Vec<i32> = all
            .iter()
            .flat_map(|p| &p.ingress)
            .filter(|r| r.cidr.as_deref() == Some("0.0.0.0/0"))
            .map(|r| r.from_port)
            .collect();
        assert!(
            !open.is_empty() && open.iter().all(|p| [80, 443].contains(p)),
            "{open:?}"
        );
        assert!(all
            .iter()
            .flat_map(|p| &p.ingress)
            .any(|r| r.from_port == 3306 && r.source_security_group_id.is_some()));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // The desired rules compare equal to what a read of them reports.
        let specs = crate::testing::blueprint_specs(drctl_stack::kinds::SECURITY_GROUP);
        for (p, s) in all.iter().zip(&specs) {
            let perms: Vec<IpPermission> = desired_rules(p)
                .iter()
                .map(|r| permission(r).unwrap())
                .collect();
            assert_eq!(
                rules_of(&perms),
                canonical(&ingress_of(&s.props)),
                "{}",
                s.address
            );
        }
    }

    #[tokio::test]
    async fn an_ingress_rule_drctl_cannot_send_is_the_ingress_property_s_fault() {
        use crate::ec2::testing::{mock_ec2, spec};
        let ec2 = mock_ec2(aws_smithy_mocks::RuleMode::MatchAny, &[]);
        let rule = json!({"protocol": "tcp", "from_port": 443, "to_port": 443});
        let spec = spec("ec2:security-group", json!({"ingress": [rule.clone()]}));
        let err = SecurityGroupReconciler::new(&crate::testing::test_aws())
            .authorize(&ec2, &spec, "sg-1", &[rule])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReconcileError::Config { field, .. } if field == "ingress"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("us-east-1/network/x: ingress rule"),
            "{err}"
        );
        assert!(err.to_string().contains("needs a cidr"), "{err}");
    }

    fn perm(from: i32, to: i32) -> aws_sdk_ec2::types::builders::IpPermissionBuilder {
        IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(from)
            .to_port(to)
    }

    #[test]
    fn observed_rules_have_the_blueprint_shape_in_canonical_order() {
        let perms = vec![
            perm(443, 443)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
            perm(80, 80)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
                .build(),
        ];
        assert_eq!(
            json!(rules_of(&perms)),
            json!([
                {"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "from_port": 80, "to_port": 80, "source_security_group_id": "sg-1"},
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"},
            ])
        );
    }

    #[test]
    fn the_blueprint_order_is_already_canonical() {
        // Drift is detected by comparing with what was applied, unsorted.
        for s in dev_security_groups() {
            let rules = ingress_of(&s.props);
            assert_eq!(canonical(&rules), rules, "{}", s.address);
        }
    }

    fn dev_security_groups() -> Vec<ResourceSpec> {
        let plan = drctl_stack::envplan::parse(
            std::path::Path::new("plans/dev.toml"),
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plans/dev.toml"),
            )
            .unwrap(),
            "dev",
        )
        .unwrap();
        drctl_stack::blueprint::build(&plan, Some("000000000000"))
            .into_iter()
            .filter(|s| s.kind == drctl_stack::kinds::SECURITY_GROUP)
            .collect()
    }

    #[test]
    fn changes_revoke_the_extra_and_authorize_the_missing() {
        let http = json!({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"});
        let ssh = json!({"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"});
        let https =
            json!({"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "0.0.0.0/0"});
        let (revoke, authorize) =
            rule_changes(&[http.clone(), https.clone()], &[ssh.clone(), http.clone()]);
        assert_eq!(revoke, vec![ssh]);
        assert_eq!(authorize, vec![https]);
    }

    #[test]
    fn permissions_round_trip_through_the_props_shape() {
        let rules = vec![
            json!({"protocol": "tcp", "from_port": 3306, "to_port": 3306, "source_security_group_id": "sg-9"}),
            json!({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "::/0"}),
            json!({"protocol": "tcp", "from_port": 80, "to_port": 80, "cidr": "10.0.0.0/8"}),
        ];
        let perms: Vec<IpPermission> = rules.iter().map(|r| permission(r).unwrap()).collect();
        assert_eq!(rules_of(&perms), canonical(&rules));
        assert!(permission(&json!({"protocol": "tcp", "from_port": 1, "to_port": 2})).is_err());
    }
}

//! `rds:db-subnet-group` — the DB subnet group (`trading-db-subnet-group-{env}`)
//! over the private subnets of one region.
//!
//! Found by name (unique per region; the name is the physical id);
//! DBSubnetGroupNotFoundFault = not found. Ownership from
//! ListTagsForResource on its ARN (the describe answer carries no tags).
//! Props: [`DbSubnetGroupProps`]. Attrs: `name`, `arn`.
//!
//! Caveat: the emulator lets a group in use be deleted; AWS answers
//! InvalidDBSubnetGroupStateFault until the instance is gone, which delete
//! waits out.

use crate::errors::found;
use crate::rds::DB_SUBNET_GROUP_DELETE;
use crate::rds::{from_rds, order_like, rds_tags};
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::tag_index::tags_or;
use crate::tags::{check_owned, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_rds::types::DbSubnetGroup;
use aws_sdk_rds::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `rds:db-subnet-group` compares: the blueprint's props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbSubnetGroupProps {
    /// Free text. In place (ModifyDBSubnetGroup).
    pub description: String,
    /// The VPC of the subnets (`vpc-...`). Replaces.
    pub vpc_id: String,
    /// The private subnets' ids, observed in the desired order when the
    /// sets match. In place (ModifyDBSubnetGroup takes the full list).
    pub subnet_ids: Vec<String>,
}

/// Fields whose change replaces the group, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[(
    "vpc_id",
    "a DB subnet group cannot move to another VPC (ModifyDBSubnetGroup: InvalidSubnet)",
)];

pub struct DbSubnetGroupReconciler {
    pub aws: Aws,
}

impl DbSubnetGroupReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

async fn describe(rds: &Client, name: &str) -> Result<Option<DbSubnetGroup>, ReconcileError> {
    let out = found(
        call("rds:DescribeDBSubnetGroups", Policy::TRANSIENT, || {
            rds.describe_db_subnet_groups()
                .db_subnet_group_name(name)
                .send()
        })
        .await,
    )?;
    Ok(out.and_then(|o| o.db_subnet_groups().first().cloned()))
}

async fn tags_of(rds: &Client, arn: &str) -> Result<Tags, ReconcileError> {
    let out = call("rds:ListTagsForResource", Policy::TRANSIENT, || {
        rds.list_tags_for_resource().resource_name(arn).send()
    })
    .await?;
    Ok(from_rds(out.tag_list()))
}

fn observed(g: &DbSubnetGroup, spec: &ResourceSpec) -> Observed {
    let name = g.db_subnet_group_name().unwrap_or(&spec.name);
    let subnets: Vec<String> = g
        .subnets()
        .iter()
        .filter_map(|s| s.subnet_identifier().map(str::to_string))
        .collect();
    // json! rather than `DbSubnetGroupProps`: AWS may omit the VPC id,
    // which reads as null (a difference), not as "".
    Observed {
        id: name.to_string(),
        props: props::from_json(json!({
            "description": g.db_subnet_group_description().unwrap_or(""),
            "vpc_id": g.vpc_id(),
            "subnet_ids": order_like(subnets, spec.props.get("subnet_ids")),
        })),
        attrs: props::from_json(json!({"name": name, "arn": g.db_subnet_group_arn()})),
    }
}

async fn read_group(
    aws: &Aws,
    rds: &Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let name = known_id.unwrap_or(&spec.name);
    let Some(g) = describe(rds, name).await? else {
        return Ok(ReadOutcome::NotFound);
    };
    let arn = g.db_subnet_group_arn().ok_or_else(|| {
        ReconcileError::Internal(format!("DescribeDBSubnetGroups {name}: no ARN"))
    })?;
    let region = aws.region_of(spec);
    let tags = tags_or(aws, region, &cx.env, arn, || tags_of(rds, arn)).await?;
    Ok(check_owned(cx, spec, name, &tags, || observed(&g, spec)))
}

async fn create_group(
    rds: &Client,
    spec: &ResourceSpec,
    p: &DbSubnetGroupProps,
) -> Result<Observed, ReconcileError> {
    // No client token in this API; the emulator even accepts a duplicate,
    // so the engine's read-before-create is what prevents a second one.
    let req = rds
        .create_db_subnet_group()
        .db_subnet_group_name(&spec.name)
        .db_subnet_group_description(&p.description)
        .set_subnet_ids(Some(p.subnet_ids.clone()))
        .set_tags(Some(rds_tags(spec)));
    let out = call("rds:CreateDBSubnetGroup", Policy::ONCE, || {
        req.clone().send()
    })
    .await?;
    let g = out.db_subnet_group.ok_or_else(|| {
        ReconcileError::Internal(format!(
            "CreateDBSubnetGroup {} returned no group",
            spec.name
        ))
    })?;
    Ok(observed(&g, spec))
}

#[async_trait]
impl Reconciler for DbSubnetGroupReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::DB_SUBNET_GROUP
    }

    /// Its DB instance is replaced with it (it names the group), so the
    /// group is deleted after the instance and made again under its name:
    /// destroy-before-create is enough here.
    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
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
        use crate::tags::{arn_of, only};
        let add = only(spec, &writes.set);
        crate::rds::rds_write_tags(&self.aws, spec, arn_of(current), &add, writes).await?;
        Ok(())
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let rds = self.aws.rds(self.aws.region_of(spec));
        read_group(&self.aws, &rds, cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: DbSubnetGroupProps = props::typed(spec)?;
        create_group(&self.aws.rds(self.aws.region_of(spec)), spec, &p).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: DbSubnetGroupProps = props::typed(spec)?;
        let rds = self.aws.rds(self.aws.region_of(spec));
        // ModifyDBSubnetGroup takes the full subnet list (and description).
        let req = rds
            .modify_db_subnet_group()
            .db_subnet_group_name(&current.id)
            .db_subnet_group_description(&p.description)
            .set_subnet_ids(Some(p.subnet_ids.clone()));
        let out = call("rds:ModifyDBSubnetGroup", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
        Ok(match out.db_subnet_group {
            Some(g) => Observed {
                props: spec.props.clone(),
                ..observed(&g, spec)
            },
            None => Observed {
                id: current.id.clone(),
                props: spec.props.clone(),
                attrs: current.attrs.clone(),
            },
        })
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let rds = self.aws.rds(self.aws.region_of(spec));
        let what = format!(
            "DB subnet group {} ({}) to be deletable (still used by a DB instance)",
            current.id, spec.address
        );
        delete_when_unblocked(&what, DB_SUBNET_GROUP_DELETE, || {
            call("rds:DeleteDBSubnetGroup", Policy::ONCE, || {
                rds.delete_db_subnet_group()
                    .db_subnet_group_name(&current.id)
                    .send()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_take_the_desired_order_and_differences_show() {
        let want = json!(["subnet-b", "subnet-a"]);
        assert_eq!(
            order_like(vec!["subnet-a".into(), "subnet-b".into()], Some(&want)),
            ["subnet-b", "subnet-a"]
        );
        assert_eq!(
            order_like(vec!["subnet-c".into(), "subnet-a".into()], Some(&want)),
            ["subnet-a", "subnet-c"]
        );
        assert_eq!(order_like(vec!["x".into()], None), ["x"]);
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<DbSubnetGroupProps>(
            drctl_stack::kinds::DB_SUBNET_GROUP,
        );
        assert!(all.iter().all(|p| p.subnet_ids.len() == 2));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

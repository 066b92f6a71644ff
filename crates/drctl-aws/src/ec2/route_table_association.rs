//! `ec2:route-table-association` — one subnet's association with a route
//! table.
//!
//! An association cannot be tagged. Physical id: the association id
//! (`rtbassoc-…`). Read: by id (DescribeRouteTables filtered on
//! `association.route-table-association-id`), else the explicit association
//! of `subnet_id` (filter `association.subnet-id`; a subnet has at most one).
//! Ownership: the route table holding the association carries this env's
//! `drctl:env` tag (its address tag is the table's own address, so only the
//! env is checked); a subnet associated with a table that is not ours is a
//! clash. Props: [`RouteTableAssociationProps`].
//!
//! Caveats: association and disassociation take effect at once, so there is
//! nothing to wait for.

use crate::ec2::lookup::env_set;
use crate::errors::{found, gone};
use crate::retry::{call, Policy};
use crate::tags::{ambiguous, from_ec2};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, RouteTable, RouteTableAssociation, RouteTableAssociationStateCode,
};
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};

/// What `ec2:route-table-association` compares: which table a subnet uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableAssociationProps {
    /// The route table's id (`rtb-…`). In place: ReplaceRouteTableAssociation,
    /// which gives the association a new id.
    pub route_table_id: String,
    /// The subnet's id (`subnet-…`). Replaces.
    pub subnet_id: String,
}

/// Fields whose change replaces the association, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[(
    "subnet_id",
    "an association belongs to one subnet: disassociate, associate the new one",
)];

pub struct RouteTableAssociationReconciler {
    pub aws: Aws,
}

impl RouteTableAssociationReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn observed(id: &str, route_table_id: &str, subnet_id: &str) -> Observed {
    Observed {
        id: id.to_string(),
        props: props::to_props(&RouteTableAssociationProps {
            route_table_id: route_table_id.to_string(),
            subnet_id: subnet_id.to_string(),
        }),
        attrs: Default::default(),
    }
}

/// An association that exists (not being or already removed).
fn live(a: &RouteTableAssociation) -> bool {
    !matches!(
        a.association_state().and_then(|s| s.state()),
        Some(
            RouteTableAssociationStateCode::Disassociated
                | RouteTableAssociationStateCode::Disassociating
                | RouteTableAssociationStateCode::Failed
        )
    )
}

#[async_trait]
impl Reconciler for RouteTableAssociationReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::ROUTE_TABLE_ASSOCIATION
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
        let filter = match known_id {
            Some(id) => Filter::builder()
                .name("association.route-table-association-id")
                .values(id)
                .build(),
            None => match spec.props.get("subnet_id").and_then(|v| v.as_str()) {
                Some(subnet) => Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
                // The subnet does not exist yet.
                None => return Ok(ReadOutcome::NotFound),
            },
        };
        let region = self.aws.region_of(spec);
        // A known association is looked for in the env's tables first (read
        // once for the region); otherwise, or if it is not there, by filter,
        // which also finds associations with tables that are not ours.
        let ours: Vec<RouteTable> = match known_id {
            Some(id) => env_set::<RouteTable>(&self.aws, region, &cx.env)
                .await?
                .into_iter()
                .filter(|t| {
                    t.associations()
                        .iter()
                        .any(|a| a.route_table_association_id() == Some(id))
                })
                .collect(),
            None => Vec::new(),
        };
        let tables = if ours.is_empty() {
            let req = self.aws.ec2(region).describe_route_tables().filters(filter);
            let out = call("ec2:DescribeRouteTables", Policy::TRANSIENT, || {
                req.clone().send()
            })
            .await;
            found(out)?
                .map(|o| o.route_tables().to_vec())
                .unwrap_or_default()
        } else {
            ours
        };
        let matches = |a: &RouteTableAssociation| match known_id {
            Some(id) => a.route_table_association_id() == Some(id),
            None => {
                a.subnet_id() == spec.props.get("subnet_id").and_then(|v| v.as_str())
                    && a.main() != Some(true)
            }
        };
        let hits: Vec<(&RouteTable, &RouteTableAssociation)> = tables
            .iter()
            .flat_map(|t| t.associations().iter().map(move |a| (t, a)))
            .filter(|(_, a)| live(a) && matches(a))
            .collect();
        let (table, assoc) = match hits.as_slice() {
            [] => return Ok(ReadOutcome::NotFound),
            [one] => *one,
            many => {
                return Err(ambiguous(spec, many, |(_, a)| {
                    a.route_table_association_id().map(str::to_string)
                }))
            }
        };
        let id = assoc.route_table_association_id().unwrap_or_default();
        let table_id = table.route_table_id().unwrap_or_default();
        let subnet = assoc.subnet_id().unwrap_or_default();
        match from_ec2(table.tags()).get(TAG_ENV) {
            Some(env) if env == &cx.env => Ok(ReadOutcome::Found(observed(id, table_id, subnet))),
            other => Ok(ReadOutcome::Clash {
                id: id.to_string(),
                detail: match other {
                    None => format!("its route table {table_id} has no drctl:env tag"),
                    Some(e) => format!("its route table {table_id} belongs to env '{e}'"),
                },
            }),
        }
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: RouteTableAssociationProps = props::typed(spec)?;
        let (table, subnet) = (p.route_table_id.as_str(), p.subnet_id.as_str());
        // No token: a subnet has one association, so a retried call answers
        // Resource.AlreadyAssociated and the next read finds it.
        let req = self
            .aws
            .ec2(self.aws.region_of(spec))
            .associate_route_table()
            .route_table_id(table)
            .subnet_id(subnet);
        // The table and the subnet may be moments old.
        let out = call("ec2:AssociateRouteTable", Policy::AFTER_CREATE, || {
            req.clone().send()
        })
        .await?;
        let id = out.association_id().ok_or_else(|| {
            ReconcileError::Internal("AssociateRouteTable returned no association id".into())
        })?;
        Ok(observed(id, table, subnet))
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Only route_table_id changes in place (subnet_id replaces).
        let p: RouteTableAssociationProps = props::typed(spec)?;
        let (table, subnet) = (p.route_table_id.as_str(), p.subnet_id.as_str());
        let req = self
            .aws
            .ec2(self.aws.region_of(spec))
            .replace_route_table_association()
            .association_id(&current.id)
            .route_table_id(table);
        // The new table may be moments old.
        let out = call(
            "ec2:ReplaceRouteTableAssociation",
            Policy::AFTER_CREATE,
            || req.clone().send(),
        )
        .await?;
        let id = out.new_association_id().ok_or_else(|| {
            ReconcileError::Internal("ReplaceRouteTableAssociation returned no new id".into())
        })?;
        Ok(observed(id, table, subnet))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let req = self
            .aws
            .ec2(self.aws.region_of(spec))
            .disassociate_route_table()
            .association_id(&current.id);
        gone(
            call("ec2:DisassociateRouteTable", Policy::TRANSIENT, || {
                req.clone().send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<RouteTableAssociationProps>(
            drctl_stack::kinds::ROUTE_TABLE_ASSOCIATION,
        );
        // Public subnets use the public table, private ones the private table.
        assert!(all.iter().all(|p| {
            let public = p.subnet_id.contains("/public-subnet-");
            p.route_table_id
                .contains(if public { "/public-rt" } else { "/private-rt" })
        }));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        assert_eq!(
            observed("rtbassoc-1", "rtb-1", "subnet-1").props,
            props::from_json(
                serde_json::json!({"route_table_id": "rtb-1", "subnet_id": "subnet-1"})
            )
        );
    }
}

//! `ec2:route-table` — the public and the private route table of a region.
//!
//! Found by id, else by ownership tags (only a `Name` tag, not unique).
//! Props: [`RouteTableProps`]. Observed routes leave out the VPC's `local` route, keep only IPv4 CIDR destinations and
//! are sorted by destination (the desired list is sorted the same way in
//! `diff`). Update adds, replaces and deletes routes one by one
//! (CreateRoute / ReplaceRoute / DeleteRoute), so a route deleted or
//! re-pointed outside of drctl shows as drift and is restored.
//!
//! Create passes the idempotency token as `ClientToken` (the emulator
//! ignores it: a unit test proves it is sent) and the tags in the call; the
//! routes follow, so a crash in between leaves a tagged table whose routes
//! the next run adds. Delete waits out `DependencyViolation` (associations
//! still being removed).

use crate::ec2::lookup::{create_unless_found, one_attempt, read_owned};
use crate::ec2::ROUTE_TABLE_DELETE;
use crate::errors::gone;
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::tags::ec2_tag_spec;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, Route, RouteTable};
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// What `ec2:route-table` compares: the blueprint's props (a read adds the
/// key of any other target a route has, see `route_json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTableProps {
    /// The VPC's id (`vpc-…`). Replaces.
    pub vpc_id: String,
    /// The routes besides the VPC's `local` one; in place, route by route.
    pub routes: Vec<RouteProps>,
}

/// One route of [`RouteTableProps::routes`]: a destination and one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteProps {
    /// The IPv4 destination, e.g. `0.0.0.0/0`; a table has one route per destination.
    pub destination_cidr_block: String,
    /// The internet gateway it goes to (`igw-…`), for the public table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<String>,
    /// The NAT gateway it goes to (`nat-…`), for the private table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<String>,
}

/// Fields whose change replaces the table, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[("vpc_id", "a route table cannot move to another VPC")];

pub struct RouteTableReconciler {
    pub aws: Aws,
}

impl RouteTableReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

const DEST: &str = "destination_cidr_block";

/// Route targets as the props name them, in the order a route's target is
/// picked (a route to an instance also names its network interface).
fn targets(r: &Route) -> [(&'static str, Option<&str>); 9] {
    [
        ("nat_gateway_id", r.nat_gateway_id()),
        ("gateway_id", r.gateway_id()),
        ("transit_gateway_id", r.transit_gateway_id()),
        ("vpc_peering_connection_id", r.vpc_peering_connection_id()),
        ("instance_id", r.instance_id()),
        ("network_interface_id", r.network_interface_id()),
        (
            "egress_only_internet_gateway_id",
            r.egress_only_internet_gateway_id(),
        ),
        ("carrier_gateway_id", r.carrier_gateway_id()),
        ("local_gateway_id", r.local_gateway_id()),
    ]
}

/// A route in the props' shape; `None` for the `local` route and for
/// destinations the props cannot express (IPv6, prefix lists).
fn route_json(r: &Route) -> Option<Value> {
    let dest = r.destination_cidr_block()?;
    if r.gateway_id() == Some("local") {
        return None;
    }
    let mut m = serde_json::Map::new();
    m.insert(DEST.into(), json!(dest));
    // Out-of-band routes to other targets keep their own key, so that they
    // show as drift and get deleted.
    if let Some((key, id)) = targets(r)
        .into_iter()
        .find_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
    {
        m.insert(key.into(), json!(id));
    }
    Some(Value::Object(m))
}

fn dest_of(v: &Value) -> String {
    v.get(DEST)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The canonical order of `routes`, the same for desired and observed.
fn sorted(routes: &[Value]) -> Vec<Value> {
    let mut out = routes.to_vec();
    out.sort_by_key(dest_of);
    out
}

fn observe(rt: &RouteTable) -> Observed {
    let routes: Vec<Value> = rt.routes().iter().filter_map(route_json).collect();
    // Not `RouteTableProps`: a route to another target keeps its own key.
    Observed {
        id: rt.route_table_id().unwrap_or_default().to_string(),
        props: props::from_json(json!({
            "vpc_id": rt.vpc_id(),
            "routes": sorted(&routes),
        })),
        attrs: Default::default(),
    }
}

/// One route change.
#[derive(Debug, PartialEq)]
enum RouteOp {
    Create(Value),
    Replace(Value),
    Delete(String),
}

/// What turns the `have` routes into the `want` routes; deletions first.
fn route_ops(want: &[Value], have: &[Value]) -> Vec<RouteOp> {
    let want: BTreeMap<String, &Value> = want.iter().map(|r| (dest_of(r), r)).collect();
    let have: BTreeMap<String, &Value> = have.iter().map(|r| (dest_of(r), r)).collect();
    let mut ops: Vec<RouteOp> = have
        .keys()
        .filter(|d| !want.contains_key(*d))
        .map(|d| RouteOp::Delete(d.clone()))
        .collect();
    for (dest, r) in &want {
        match have.get(dest) {
            None => ops.push(RouteOp::Create((*r).clone())),
            Some(h) if h != r => ops.push(RouteOp::Replace((*r).clone())),
            Some(_) => {}
        }
    }
    ops
}

/// `(target key, target id)` of a desired route of `spec`.
fn target_of<'a>(
    spec: &ResourceSpec,
    route: &'a Value,
) -> Result<(&'static str, &'a str), ReconcileError> {
    for key in ["gateway_id", "nat_gateway_id"] {
        if let Some(id) = route.get(key).and_then(Value::as_str) {
            return Ok((key, id));
        }
    }
    Err(props::config(
        spec,
        "routes",
        format!("route {route} needs a gateway_id or a nat_gateway_id"),
    ))
}

async fn create_table(
    ec2: &aws_sdk_ec2::Client,
    spec: &ResourceSpec,
    vpc_id: &str,
    token: &str,
) -> Result<String, ReconcileError> {
    let req = ec2
        .create_route_table()
        .vpc_id(vpc_id)
        // AWS returns the first table for a repeated token (the emulator
        // ignores it: `create_unless_found` looks before a repeat).
        .client_token(token)
        .tag_specifications(ec2_tag_spec(ResourceType::RouteTable, spec));
    let out = call("ec2:CreateRouteTable", Policy::AFTER_CREATE, || {
        req.clone()
            .customize()
            .config_override(one_attempt())
            .send()
    })
    .await?;
    out.route_table()
        .and_then(|t| t.route_table_id())
        .map(str::to_string)
        .ok_or_else(|| ReconcileError::Internal("CreateRouteTable returned no route table".into()))
}

async fn apply_route(
    ec2: &aws_sdk_ec2::Client,
    spec: &ResourceSpec,
    table: &str,
    op: &RouteOp,
) -> Result<(), ReconcileError> {
    match op {
        RouteOp::Delete(dest) => {
            let r = call("ec2:DeleteRoute", Policy::ONCE, || {
                ec2.delete_route()
                    .route_table_id(table)
                    .destination_cidr_block(dest)
                    .send()
            })
            .await
            .map(|_| ());
            gone(r)
        }
        RouteOp::Create(route) => {
            let (key, id) = target_of(spec, route)?;
            let req = ec2
                .create_route()
                .route_table_id(table)
                .destination_cidr_block(dest_of(route));
            let req = match key {
                "nat_gateway_id" => req.nat_gateway_id(id),
                _ => req.gateway_id(id),
            };
            // The gateway or NAT (and the table) may be moments old.
            call("ec2:CreateRoute", Policy::AFTER_CREATE, || {
                req.clone().send()
            })
            .await
            .map(|_| ())
        }
        RouteOp::Replace(route) => {
            let (key, id) = target_of(spec, route)?;
            let req = ec2
                .replace_route()
                .route_table_id(table)
                .destination_cidr_block(dest_of(route));
            let req = match key {
                "nat_gateway_id" => req.nat_gateway_id(id),
                _ => req.gateway_id(id),
            };
            // The gateway or NAT (and the table) may be moments old.
            call("ec2:ReplaceRoute", Policy::AFTER_CREATE, || {
                req.clone().send()
            })
            .await
            .map(|_| ())
        }
    }
}

/// The observed routes of `props`, as `read` reported them.
fn routes_of(props: &drctl_core::model::Props) -> Vec<Value> {
    props
        .get("routes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The desired routes in the observed routes' shape, to compare with them.
fn desired_routes(p: &RouteTableProps) -> Vec<Value> {
    p.routes
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect()
}

#[async_trait]
impl Reconciler for RouteTableReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::ROUTE_TABLE
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

    /// Routes are compared in the canonical order on both sides.
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut desired = spec.props.clone();
        if let Some(Value::Array(routes)) = desired.get_mut("routes") {
            *routes = sorted(routes);
        }
        diff_props(&desired, &observed.props, self.replace_on())
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        Ok(read_owned::<RouteTable>(&self.aws, cx, spec, known_id)
            .await?
            .observed(observe))
    }

    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: RouteTableProps = props::typed(spec)?;
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let id = create_unless_found::<RouteTable, _, _, _>(
            &self.aws,
            cx,
            spec,
            "ec2:CreateRouteTable",
            || create_table(&ec2, spec, &p.vpc_id, token),
            |t| Ok(t.route_table_id().unwrap_or_default().to_string()),
        )
        .await?;
        for op in route_ops(&desired_routes(&p), &[]) {
            apply_route(&ec2, spec, &id, &op).await?;
        }
        Ok(Observed {
            id,
            props: spec.props.clone(),
            attrs: Default::default(),
        })
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // Only the routes change in place (vpc_id replaces).
        let p: RouteTableProps = props::typed(spec)?;
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        for op in route_ops(&desired_routes(&p), &routes_of(&current.props)) {
            tracing::debug!(table = %current.id, ?op, "route");
            apply_route(&ec2, spec, &current.id, &op).await?;
        }
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
            "route table {} ({}) to be deletable: it still has subnet associations (DependencyViolation)",
            current.id, spec.address
        );
        delete_when_unblocked(&what, ROUTE_TABLE_DELETE, || {
            call("ec2:DeleteRouteTable", Policy::ONCE, || {
                ec2.delete_route_table().route_table_id(&current.id).send()
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::{mock_ec2, spec};
    use aws_sdk_ec2::operation::create_route_table::CreateRouteTableOutput;
    use aws_sdk_ec2::Client;
    use aws_smithy_mocks::{mock, RuleMode};

    const TOKEN: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<RouteTableProps>(
            drctl_stack::kinds::ROUTE_TABLE,
        );
        // Every route has exactly one target, the shape `route_json` reads back.
        for p in &all {
            for r in &p.routes {
                assert_eq!(r.destination_cidr_block, "0.0.0.0/0");
                assert!(
                    r.gateway_id.is_some() != r.nat_gateway_id.is_some(),
                    "{r:?}"
                );
            }
        }
        assert!(all.iter().any(|p| p.routes[0].nat_gateway_id.is_some()));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // The desired routes compare equal to what a read of them reports.
        let r = &all[0].routes[0];
        let route = Route::builder()
            .destination_cidr_block(&r.destination_cidr_block)
            .set_gateway_id(r.gateway_id.clone())
            .set_nat_gateway_id(r.nat_gateway_id.clone())
            .build();
        assert_eq!(desired_routes(&all[0]), vec![route_json(&route).unwrap()]);
    }

    #[test]
    fn a_route_without_a_target_is_the_routes_property_s_fault() {
        let route = json!({"destination_cidr_block": "0.0.0.0/0"});
        let s = spec("ec2:route-table", json!({"routes": [route.clone()]}));
        let err = target_of(&s, &route).unwrap_err();
        assert!(
            matches!(&err, ReconcileError::Config { field, .. } if field == "routes"),
            "{err:?}"
        );
        assert!(err.to_string().contains("needs a gateway_id"), "{err}");
    }

    #[tokio::test]
    async fn create_sends_the_token_and_the_tags() {
        let create = mock!(Client::create_route_table)
            .match_requests(|r| {
                r.client_token() == Some(TOKEN)
                    && r.vpc_id() == Some("vpc-1")
                    && r.tag_specifications()
                        .first()
                        .is_some_and(|t| t.resource_type() == Some(&ResourceType::RouteTable))
            })
            .then_output(|| {
                CreateRouteTableOutput::builder()
                    .route_table(RouteTable::builder().route_table_id("rtb-1").build())
                    .build()
            });
        let ec2 = mock_ec2(RuleMode::Sequential, &[&create]);
        let s = spec(
            drctl_stack::kinds::ROUTE_TABLE,
            json!({"vpc_id": "vpc-1", "routes": []}),
        );
        let p: RouteTableProps = props::typed(&s).unwrap();
        assert_eq!(
            create_table(&ec2, &s, &p.vpc_id, TOKEN).await.unwrap(),
            "rtb-1"
        );
        assert_eq!(create.num_calls(), 1);
    }

    #[test]
    fn observed_routes_leave_out_local_and_are_sorted() {
        let rt = RouteTable::builder()
            .route_table_id("rtb-1")
            .vpc_id("vpc-1")
            .routes(
                Route::builder()
                    .destination_cidr_block("10.0.0.0/16")
                    .gateway_id("local")
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("192.168.0.0/16")
                    .gateway_id("igw-1")
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .nat_gateway_id("nat-1")
                    .build(),
            )
            .build();
        assert_eq!(
            observe(&rt).props["routes"],
            json!([
                {"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"},
                {"destination_cidr_block": "192.168.0.0/16", "gateway_id": "igw-1"},
            ])
        );
    }

    #[test]
    fn route_changes_add_replace_and_delete() {
        let want = vec![
            json!({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-2"}),
            json!({"destination_cidr_block": "10.9.0.0/16", "gateway_id": "igw-1"}),
        ];
        let have = vec![
            json!({"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1"}),
            json!({"destination_cidr_block": "172.16.0.0/12", "gateway_id": "igw-1"}),
        ];
        assert_eq!(
            route_ops(&want, &have),
            vec![
                RouteOp::Delete("172.16.0.0/12".into()),
                RouteOp::Replace(want[0].clone()),
                RouteOp::Create(want[1].clone()),
            ]
        );
        assert!(route_ops(&want, &want).is_empty());
    }

    #[test]
    fn diff_compares_routes_in_canonical_order() {
        let r = RouteTableReconciler::new(&crate::Aws::from_config(
            aws_types::SdkConfig::builder().build(),
            None,
        ));
        let a = json!({"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1"});
        let b = json!({"destination_cidr_block": "10.9.0.0/16", "gateway_id": "igw-1"});
        let s = spec(
            drctl_stack::kinds::ROUTE_TABLE,
            json!({"vpc_id": "vpc-1", "routes": [b.clone(), a.clone()]}),
        );
        let o = Observed {
            id: "rtb-1".into(),
            props: props::from_json(json!({"vpc_id": "vpc-1", "routes": [a, b]})),
            attrs: Default::default(),
        };
        assert!(r.diff(&s, &o).is_empty());
    }
}

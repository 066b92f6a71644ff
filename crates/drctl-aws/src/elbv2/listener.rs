//! `elbv2:listener` — the ALB's HTTP:80 listener forwarding to the target group.
//!
//! Listeners have no name: found by ARN (the physical id) when known, else
//! among the load balancer's listeners (`load_balancer_arn`) by `port`;
//! several on the port are an error. Ownership: DescribeTags.
//!
//! Props: [`ListenerProps`]. Attrs: `arn`.
//!
//! Caveats: while its load balancer does not exist yet the listener cannot
//! exist either, so an unknown `load_balancer_arn` reads as not found.

use crate::elbv2::elbv2_tags;
use crate::errors::{found, gone};
use crate::retry::{call, Policy};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Listener, ProtocolEnum};
use aws_sdk_elasticloadbalancingv2::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `elbv2:listener` compares; all but the load balancer change in place
/// with ModifyListener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerProps {
    /// The load balancer's ARN. Replaces: a listener belongs to one load balancer.
    pub load_balancer_arn: String,
    /// `HTTP` (the listener's protocol). In place.
    pub protocol: String,
    /// Port it listens on (1-65535); also how a read finds it. In place.
    pub port: i32,
    /// The target group's ARN, of the default forward action. In place.
    pub target_group_arn: String,
}

/// Fields whose change replaces the listener, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[(
    "load_balancer_arn",
    "a listener cannot move to another load balancer",
)];

pub struct ListenerReconciler {
    pub aws: Aws,
}

impl ListenerReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

async fn describe(
    elb: &Client,
    arn: Option<&str>,
    lb_arn: &str,
) -> Result<Vec<Listener>, ReconcileError> {
    let req = match arn {
        Some(arn) => elb.describe_listeners().listener_arns(arn),
        None => elb.describe_listeners().load_balancer_arn(lb_arn),
    };
    let out = call("elbv2:DescribeListeners", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await;
    Ok(found(out)?
        .map(|o| o.listeners().to_vec())
        .unwrap_or_default())
}

/// The target group of the default forward action.
fn forward_target(l: &Listener) -> Option<&str> {
    let a = l
        .default_actions()
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))?;
    a.target_group_arn().or_else(|| {
        a.forward_config()
            .and_then(|f| f.target_groups().first())
            .and_then(|t| t.target_group_arn())
    })
}

fn observe(spec: &ResourceSpec, l: &Listener) -> Result<Observed, ReconcileError> {
    let arn = l.listener_arn().ok_or_else(|| {
        ReconcileError::Internal(format!("{}: listener without an ARN", spec.address))
    })?;
    // Not `ListenerProps`: a field AWS does not report is null, not a default.
    Ok(Observed {
        id: arn.to_string(),
        props: props::from_json(json!({
            "load_balancer_arn": l.load_balancer_arn(),
            "protocol": l.protocol().map(|p| p.as_str()),
            "port": l.port(),
            "target_group_arn": forward_target(l),
        })),
        attrs: props::from_json(json!({ "arn": arn })),
    })
}

fn forward(p: &ListenerProps) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(&p.target_group_arn)
        .build()
}

/// The port alone, for a read (which may see an unresolved spec).
fn port(spec: &ResourceSpec) -> Result<i32, ReconcileError> {
    i32::try_from(props::i64(spec, "port")?)
        .map_err(|_| props::config(spec, "port", "'port' is out of range"))
}

#[async_trait]
impl Reconciler for ListenerReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::LISTENER
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
        crate::elbv2::elbv2_write_tags(&self.aws, spec, &current.id, writes).await
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
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        let lb_arn = spec.props.get("load_balancer_arn").and_then(|v| v.as_str());
        let listeners = match (known_id, lb_arn) {
            (Some(id), _) => describe(&elb, Some(id), "").await?,
            (None, Some(lb)) => {
                let want = port(spec)?;
                describe(&elb, None, lb)
                    .await?
                    .into_iter()
                    .filter(|l| l.port() == Some(want))
                    .collect()
            }
            // No load balancer yet: no listener either.
            (None, None) => return Ok(ReadOutcome::NotFound),
        };
        crate::elbv2::read_one(
            &self.aws,
            cx,
            spec,
            listeners,
            |x| x.listener_arn(),
            |x| observe(spec, x),
        )
        .await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let p: ListenerProps = props::typed(spec)?;
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        // No token in this API; a crashed create is found again by load
        // balancer and port, and AWS refuses a second listener on the port.
        let req = elb
            .create_listener()
            .load_balancer_arn(&p.load_balancer_arn)
            .protocol(ProtocolEnum::from(p.protocol.as_str()))
            .port(p.port)
            .default_actions(forward(&p))
            .set_tags(Some(elbv2_tags(spec)));
        let out = call("elbv2:CreateListener", Policy::ONCE, || req.clone().send()).await?;
        let l = out.listeners().first().ok_or_else(|| {
            ReconcileError::Internal("elbv2:CreateListener returned no listener".into())
        })?;
        let mut o = observe(spec, l)?;
        o.props = spec.props.clone();
        Ok(o)
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: ListenerProps = props::typed(spec)?;
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        let req = elb
            .modify_listener()
            .listener_arn(&current.id)
            .protocol(ProtocolEnum::from(p.protocol.as_str()))
            .port(p.port)
            .default_actions(forward(&p));
        call("elbv2:ModifyListener", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let elb = self.aws.elbv2(self.aws.region_of(spec));
        gone(
            call("elbv2:DeleteListener", Policy::TRANSIENT, || {
                elb.delete_listener().listener_arn(&current.id).send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{ForwardActionConfig, TargetGroupTuple};

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all =
            crate::testing::assert_blueprint_props::<ListenerProps>(drctl_stack::kinds::LISTENER);
        assert!(all.iter().all(|p| p.port == 80
            && p.protocol == "HTTP"
            && p.target_group_arn.ends_with("compute/tg.id")));
        let fields = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(fields.get(field).is_some(), "{field}");
        }
        // What a read reports for the blueprint's listener has the same shape.
        let l = Listener::builder()
            .listener_arn("arn:l")
            .load_balancer_arn(&all[0].load_balancer_arn)
            .protocol(ProtocolEnum::Http)
            .port(80)
            .default_actions(forward(&all[0]))
            .build();
        let s = &crate::testing::blueprint_specs(drctl_stack::kinds::LISTENER)[0];
        assert_eq!(observe(s, &l).unwrap().props, props::to_props(&all[0]));
    }

    #[test]
    fn the_target_group_is_read_from_either_form_of_forward_action() {
        let simple = Listener::builder()
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .target_group_arn("tg-1")
                    .build(),
            )
            .build();
        assert_eq!(forward_target(&simple), Some("tg-1"));
        let weighted = Listener::builder()
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .forward_config(
                        ForwardActionConfig::builder()
                            .target_groups(
                                TargetGroupTuple::builder().target_group_arn("tg-2").build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(forward_target(&weighted), Some("tg-2"));
    }
}

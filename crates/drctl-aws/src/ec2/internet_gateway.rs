//! `ec2:internet-gateway` — the internet gateway of a region (its
//! attachment to the VPC is the separate kind `ec2:igw-attachment`).
//!
//! Found by id, else by ownership tags (only a `Name` tag, not unique).
//! Props: [`InternetGatewayProps`]. Attrs: none beyond `id`.
//!
//! Caveats: AWS refuses DeleteInternetGateway while it is attached
//! (`DependencyViolation`); the attachment is deleted first (destroy rules),
//! and delete waits out a detach still in progress.

use crate::ec2::lookup::{create_unless_found, one_attempt, read_owned};
use crate::ec2::INTERNET_GATEWAY_DELETE;
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::tags::ec2_tag_spec;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{InternetGateway, ResourceType};
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};

/// What `ec2:internet-gateway` compares: nothing (`{}`); a gateway has no
/// settings, only tags, and its VPC is the attachment's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternetGatewayProps {}

/// Nothing replaces a gateway (it has no props).
const REPLACE_ON: &[(&str, &str)] = &[];

pub struct InternetGatewayReconciler {
    pub aws: Aws,
}

impl InternetGatewayReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn observe(igw: &InternetGateway) -> Observed {
    Observed {
        id: igw.internet_gateway_id().unwrap_or_default().to_string(),
        props: props::to_props(&InternetGatewayProps {}),
        attrs: Default::default(),
    }
}

#[async_trait]
impl Reconciler for InternetGatewayReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::INTERNET_GATEWAY
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

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        Ok(read_owned::<InternetGateway>(&self.aws, cx, spec, known_id)
            .await?
            .observed(observe))
    }

    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let InternetGatewayProps {} = props::typed(spec)?;
        // No client token: an unanswered attempt is followed by the
        // ownership-tag lookup, which is why the tags go in this call.
        let req = self
            .aws
            .ec2(self.aws.region_of(spec))
            .create_internet_gateway()
            .tag_specifications(ec2_tag_spec(ResourceType::InternetGateway, spec));
        create_unless_found::<InternetGateway, _, _, _>(
            &self.aws,
            cx,
            spec,
            "ec2:CreateInternetGateway",
            || async {
                let out = call("ec2:CreateInternetGateway", Policy::ONCE, || {
                    req.clone()
                        .customize()
                        .config_override(one_attempt())
                        .send()
                })
                .await?;
                out.internet_gateway().map(observe).ok_or_else(|| {
                    ReconcileError::Internal("CreateInternetGateway returned no gateway".into())
                })
            },
            |igw| Ok(observe(&igw)),
        )
        .await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        // No props: nothing can differ (the call refuses a misspelt one).
        let InternetGatewayProps {} = props::typed(spec)?;
        Ok(current.clone())
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let what = format!(
            "internet gateway {} ({}) to be deletable: it is still attached (DependencyViolation)",
            current.id, spec.address
        );
        delete_when_unblocked(&what, INTERNET_GATEWAY_DELETE, || {
            call("ec2:DeleteInternetGateway", Policy::ONCE, || {
                ec2.delete_internet_gateway()
                    .internet_gateway_id(&current.id)
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
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<InternetGatewayProps>(
            drctl_stack::kinds::INTERNET_GATEWAY,
        );
        // One gateway per region of each plan.
        assert!(all.len() >= 3, "{}", all.len());
        assert!(REPLACE_ON.is_empty());
        // A key the gateway does not have is refused.
        let s = crate::testing::spec(
            "us-east-1/network/igw",
            drctl_stack::kinds::INTERNET_GATEWAY,
            "igw",
            serde_json::json!({"vpc_id": "vpc-1"}),
        );
        assert!(props::typed::<InternetGatewayProps>(&s).is_err());
    }
}

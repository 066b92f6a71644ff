//! How EC2 reconcilers find their resource: one describe per region and type.
//!
//! A region of the stack holds a VPC, four subnets, two route tables, three
//! security groups, ... Describing each by itself costs a call per resource.
//! Instead the first reconciler to ask describes *every* resource of that
//! type carrying the env's `drctl:env` tag (all pages), the answer is shared
//! through the run's [`ReadCache`](crate::cache::ReadCache), and each
//! reconciler picks its own: by the id the state recorded, else by its
//! `drctl:address` tag.
//!
//! Guarantee: a resource the state names is never reported gone just
//! because it lost its `drctl:env` tag. When the recorded id is not in the
//! region's set, it is described by id, so a resource whose tags were
//! changed shows up (and `check_owned` reports the clash) instead of being
//! created a second time.

use crate::errors::found;
use crate::retry::{call, Policy, TRANSIENT};
use crate::tags::{ambiguous, check_owned, from_ec2, with_tags};
use crate::Aws;
use aws_sdk_ec2::types::{
    Address, Filter, InternetGateway, NatGateway, RouteTable, SecurityGroup, Subnet, Tag, Vpc,
};
use aws_sdk_ec2::Client;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec, TAG_ADDRESS, TAG_ENV};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError};
use std::future::Future;

/// An EC2 resource type that can be described by ids or by filters.
pub(crate) trait Ec2Resource: Clone + Send + Sync + 'static {
    /// The describe operation, as errors and the call log name it.
    const OP: &'static str;
    fn id(&self) -> Option<&str>;
    fn tags(&self) -> &[Tag];
    /// One describe call, all pages: `ids` if any, else `filters`.
    fn describe(
        ec2: Client,
        ids: Option<Vec<String>>,
        filters: Option<Vec<Filter>>,
    ) -> impl Future<Output = Result<Vec<Self>, ReconcileError>> + Send;
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(Tag::value)
}

/// Every `T` in `region` carrying this env's tag: one describe per run
/// (per write, see [`ReadCache`](crate::cache::ReadCache)).
pub(crate) async fn env_set<T: Ec2Resource>(
    aws: &Aws,
    region: &str,
    env: &str,
) -> Result<Vec<T>, ReconcileError> {
    let key = format!("{}|{region}|{env}", T::OP);
    aws.cache()
        .get_or_fetch(key, || {
            let ec2 = aws.ec2(region);
            let by_env = Filter::builder()
                .name(format!("tag:{TAG_ENV}"))
                .values(env)
                .build();
            Policy::TRANSIENT.run(T::OP, move || {
                T::describe(ec2.clone(), None, Some(vec![by_env.clone()]))
            })
        })
        .await
}

/// Whether anything in `region` carries this env's tag: one DescribeTags
/// per region (per write, like [`env_set`]) answers for every EC2 type.
///
/// A lookup by ownership tags (no recorded id) asks this first, so the
/// refresh of an env with nothing in a region yet (a first apply) makes one
/// call there instead of one describe per type. Only "anything at all" is
/// used, not the resource types listed: their names differ between AWS
/// (`natgateway`, `elastic-ip`) and the emulator (`nat-gateway`,
/// `vpc-elastic-ip`). A kept `drctl:env` tag is in both answers alike
/// (EC2's one tag store), so a resource a killed run made is never missed.
pub(crate) async fn env_has_any(
    aws: &Aws,
    region: &str,
    env: &str,
) -> Result<bool, ReconcileError> {
    let key = format!("ec2:DescribeTags|{region}|{env}");
    aws.cache()
        .get_or_fetch(key, || {
            let ec2 = aws.ec2(region);
            let filters = vec![
                Filter::builder().name("key").values(TAG_ENV).build(),
                Filter::builder().name("value").values(env).build(),
            ];
            async move {
                let tags: Vec<_> = call("ec2:DescribeTags", Policy::TRANSIENT, || {
                    ec2.describe_tags()
                        .set_filters(Some(filters.clone()))
                        .into_paginator()
                        .items()
                        .send()
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
                // Checked here too: the emulator ignores some tag filters.
                Ok(tags
                    .iter()
                    .any(|t| t.key() == Some(TAG_ENV) && t.value() == Some(env)))
            }
        })
        .await
}

/// `T` by id; empty when AWS no longer knows the id.
pub(crate) async fn by_id<T: Ec2Resource>(
    aws: &Aws,
    region: &str,
    id: &str,
) -> Result<Vec<T>, ReconcileError> {
    let ec2 = aws.ec2(region);
    let found = found(
        Policy::TRANSIENT
            .run(T::OP, || {
                T::describe(ec2.clone(), Some(vec![id.to_string()]), None)
            })
            .await,
    )?;
    Ok(found.unwrap_or_default())
}

/// The `T` with this id: from the region's env set, else described by id
/// (it lost its env tag, or is gone: `None`).
pub(crate) async fn with_id<T: Ec2Resource>(
    aws: &Aws,
    region: &str,
    env: &str,
    id: &str,
) -> Result<Option<T>, ReconcileError> {
    let all = env_set::<T>(aws, region, env).await?;
    if let Some(hit) = all.into_iter().find(|r| r.id() == Some(id)) {
        return Ok(Some(hit));
    }
    Ok(by_id::<T>(aws, region, id).await?.into_iter().next())
}

/// The resources answering to `spec`: the one with `known_id` (from the
/// state), else those whose `drctl:address` tag is the spec's address (none
/// without a describe when [`env_has_any`] says the region holds nothing of
/// the env).
/// More than one is for the caller to report as ambiguous.
pub(crate) async fn lookup<T: Ec2Resource>(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<Vec<T>, ReconcileError> {
    let region = aws.region_of(spec);
    if known_id.is_none() && !env_has_any(aws, region, &cx.env).await? {
        return Ok(Vec::new());
    }
    let all = env_set::<T>(aws, region, &cx.env).await?;
    let hits: Vec<T> = all
        .into_iter()
        .filter(|r| match known_id {
            Some(id) => r.id() == Some(id),
            // The env too: the emulator ignores some tag filters. A deposed
            // object carries the address too, and is never the current one.
            None => {
                tag(r.tags(), TAG_ENV) == Some(cx.env.as_str())
                    && tag(r.tags(), TAG_ADDRESS) == Some(spec.address.as_str())
                    && !r.id().is_some_and(|id| cx.is_deposed(&spec.address, id))
            }
        })
        .collect();
    match known_id {
        Some(id) if hits.is_empty() => by_id(aws, region, id).await,
        _ => Ok(hits),
    }
}

/// What a read found for a spec: the one resource it owns, or the outcome
/// to report instead (not found, or a clash naming what is wrong).
pub(crate) enum Owned<T> {
    Mine(T),
    Not(ReadOutcome),
}

impl<T: Ec2Resource> Owned<T> {
    /// The read's outcome, with `observe` turning ours into `Found` (its
    /// tags reported for the diff).
    pub(crate) fn observed(self, observe: impl FnOnce(&T) -> Observed) -> ReadOutcome {
        match self {
            Owned::Mine(r) => ReadOutcome::Found(with_tags(observe(&r), &from_ec2(r.tags()))),
            Owned::Not(outcome) => outcome,
        }
    }
}

/// The one resource among `hits` that carries this env's and this spec's
/// tags; several hits are an error naming them all.
pub(crate) fn pick_owned<T: Ec2Resource>(
    cx: &Ctx,
    spec: &ResourceSpec,
    hits: Vec<T>,
) -> Result<Owned<T>, ReconcileError> {
    match hits.as_slice() {
        [] => Ok(Owned::Not(ReadOutcome::NotFound)),
        [one] => {
            let id = one.id().unwrap_or_default();
            Ok(
                match check_owned(cx, spec, id, &from_ec2(one.tags()), Observed::default) {
                    ReadOutcome::Found(_) => Owned::Mine(one.clone()),
                    other => Owned::Not(other),
                },
            )
        }
        many => Err(ambiguous(spec, many, |r| r.id().map(str::to_string))),
    }
}

/// [`lookup`] then [`pick_owned`]: the whole read of most EC2 kinds.
pub(crate) async fn read_owned<T: Ec2Resource>(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<Owned<T>, ReconcileError> {
    pick_owned(cx, spec, lookup(aws, cx, spec, known_id).await?)
}

/// The EC2 client settings for one create attempt: no SDK retries, so that
/// an attempt whose outcome is unknown is never repeated blindly.
pub(crate) fn one_attempt() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default()
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
}

/// Creates the `T` of `spec` with `create` (which must send with
/// [`one_attempt`]); `found` turns the resource a lookup found instead into
/// the same answer. The shared rule for EC2 creates, whether or not the
/// call takes a client token (the emulator ignores tokens).
///
/// - Throttling means the call was not processed: it is repeated.
/// - Any other temporary failure (5xx, timeout, lost connection) leaves the
///   outcome unknown: the resource may exist. It is looked up by its
///   ownership tags (fresh, not from the run's cache) and created again
///   only if absent. Creates tag in the call itself, so a made resource is
///   always found.
///
/// Gives up after [`TRANSIENT`]'s total time with the last error.
pub(crate) async fn create_unless_found<T, R, F, Fut>(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    what: &str,
    mut create: F,
    found: impl FnOnce(T) -> Result<R, ReconcileError>,
) -> Result<R, ReconcileError>
where
    T: Ec2Resource,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, ReconcileError>>,
{
    let deadline = tokio::time::Instant::now() + TRANSIENT.total;
    let mut attempt = 0;
    loop {
        let err = match create().await {
            Ok(r) => return Ok(r),
            Err(e) => e,
        };
        let class = err.class();
        if !matches!(class, ErrorClass::Throttled | ErrorClass::Retryable)
            || tokio::time::Instant::now() >= deadline
        {
            return Err(err);
        }
        tokio::time::sleep(TRANSIENT.delay(attempt)).await;
        attempt += 1;
        if class == ErrorClass::Retryable {
            tracing::debug!(what, error = %err, "outcome unknown: looking before creating again");
            aws.forget_reads();
            if let Owned::Mine(made) = read_owned::<T>(aws, cx, spec, None).await? {
                tracing::info!(what, id = made.id(), address = %spec.address, "the unanswered create took effect; using what it made");
                return found(made);
            }
        }
    }
}

/// Implements [`Ec2Resource`] for a paginated describe call.
macro_rules! paginated {
    ($ty:ty, $op:literal, $call:ident, $set_ids:ident, $set_filters:ident, $id:ident) => {
        impl Ec2Resource for $ty {
            const OP: &'static str = $op;
            fn id(&self) -> Option<&str> {
                self.$id()
            }
            fn tags(&self) -> &[Tag] {
                <$ty>::tags(self)
            }
            async fn describe(
                ec2: Client,
                ids: Option<Vec<String>>,
                filters: Option<Vec<Filter>>,
            ) -> Result<Vec<Self>, ReconcileError> {
                call($op, Policy::ONCE, || {
                    ec2.$call()
                        .$set_ids(ids.clone())
                        .$set_filters(filters.clone())
                        .into_paginator()
                        .items()
                        .send()
                        .collect::<Result<Vec<_>, _>>()
                })
                .await
            }
        }
    };
}

paginated!(
    Vpc,
    "ec2:DescribeVpcs",
    describe_vpcs,
    set_vpc_ids,
    set_filters,
    vpc_id
);
paginated!(
    Subnet,
    "ec2:DescribeSubnets",
    describe_subnets,
    set_subnet_ids,
    set_filters,
    subnet_id
);
paginated!(
    InternetGateway,
    "ec2:DescribeInternetGateways",
    describe_internet_gateways,
    set_internet_gateway_ids,
    set_filters,
    internet_gateway_id
);
paginated!(
    NatGateway,
    "ec2:DescribeNatGateways",
    describe_nat_gateways,
    set_nat_gateway_ids,
    set_filter,
    nat_gateway_id
);
paginated!(
    RouteTable,
    "ec2:DescribeRouteTables",
    describe_route_tables,
    set_route_table_ids,
    set_filters,
    route_table_id
);
paginated!(
    SecurityGroup,
    "ec2:DescribeSecurityGroups",
    describe_security_groups,
    set_group_ids,
    set_filters,
    group_id
);

// DescribeAddresses is not paginated: one call answers for the region.
impl Ec2Resource for Address {
    const OP: &'static str = "ec2:DescribeAddresses";
    fn id(&self) -> Option<&str> {
        self.allocation_id()
    }
    fn tags(&self) -> &[Tag] {
        Address::tags(self)
    }
    async fn describe(
        ec2: Client,
        ids: Option<Vec<String>>,
        filters: Option<Vec<Filter>>,
    ) -> Result<Vec<Self>, ReconcileError> {
        call(Self::OP, Policy::ONCE, || {
            ec2.describe_addresses()
                .set_allocation_ids(ids.clone())
                .set_filters(filters.clone())
                .send()
        })
        .await
        .map(|o| o.addresses().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::testing::{mock_ec2, spec};
    use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput;
    use aws_sdk_ec2::operation::describe_tags::DescribeTagsOutput;
    use aws_sdk_ec2::types::TagDescription;
    use aws_smithy_mocks::{mock, RuleMode};

    fn env_tag(env: &str) -> TagDescription {
        TagDescription::builder()
            .key(TAG_ENV)
            .value(env)
            .resource_id("vpc-1")
            .build()
    }

    fn subnet_of(address: &str) -> Subnet {
        Subnet::builder()
            .subnet_id("subnet-1")
            .tags(Tag::builder().key(TAG_ENV).value("dev").build())
            .tags(Tag::builder().key(TAG_ADDRESS).value(address).build())
            .build()
    }

    /// A first apply: nothing of the env in the region. One DescribeTags
    /// answers for every type; no describe per type follows.
    #[tokio::test]
    async fn an_empty_region_is_one_call_for_every_type() {
        let tags = mock!(aws_sdk_ec2::Client::describe_tags)
            .then_output(|| DescribeTagsOutput::builder().build());
        let subnets = mock!(aws_sdk_ec2::Client::describe_subnets)
            .then_output(|| DescribeSubnetsOutput::builder().build());
        let aws = crate::testing::test_aws();
        aws.use_client(
            "ec2",
            "us-east-1",
            mock_ec2(RuleMode::MatchAny, &[&tags, &subnets]),
        );
        let s = spec(drctl_stack::kinds::SUBNET, serde_json::json!({}));
        let cx = Ctx::new("dev");
        assert!(lookup::<Subnet>(&aws, &cx, &s, None)
            .await
            .unwrap()
            .is_empty());
        assert!(lookup::<Vpc>(&aws, &cx, &s, None).await.unwrap().is_empty());
        assert_eq!(tags.num_calls(), 1, "one census for the region");
        assert_eq!(subnets.num_calls(), 0);
    }

    /// Anything of the env there (another env's tags do not count): the
    /// type is described, and a resource a killed run made is found.
    #[tokio::test]
    async fn a_region_holding_the_env_is_described() {
        let tags = mock!(aws_sdk_ec2::Client::describe_tags).then_output(|| {
            DescribeTagsOutput::builder()
                .tags(env_tag("other"))
                .tags(env_tag("dev"))
                .build()
        });
        let s = spec(drctl_stack::kinds::SUBNET, serde_json::json!({}));
        let address = s.address.to_string();
        let subnets = mock!(aws_sdk_ec2::Client::describe_subnets).then_output(move || {
            DescribeSubnetsOutput::builder()
                .subnets(subnet_of(&address))
                .build()
        });
        let aws = crate::testing::test_aws();
        aws.use_client(
            "ec2",
            "us-east-1",
            mock_ec2(RuleMode::MatchAny, &[&tags, &subnets]),
        );
        let found = lookup::<Subnet>(&aws, &Ctx::new("dev"), &s, None)
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(subnets.num_calls(), 1);

        // Only another env's resources: nothing to describe.
        let tags = mock!(aws_sdk_ec2::Client::describe_tags)
            .then_output(|| DescribeTagsOutput::builder().tags(env_tag("other")).build());
        let aws = crate::testing::test_aws();
        aws.use_client(
            "ec2",
            "us-east-1",
            mock_ec2(RuleMode::MatchAny, &[&tags, &subnets]),
        );
        assert!(lookup::<Subnet>(&aws, &Ctx::new("dev"), &s, None)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(subnets.num_calls(), 1, "no second describe");
    }
}

//! Finding every resource tagged `drctl:env=<env>`, for the plan's orphan
//! report (the decision itself is `drctl_core::orphans::find_orphans`).
//!
//! One paginated Resource Groups Tagging API `GetResources` per region the
//! stack uses; us-east-1 also lists the global Route53 zones and health
//! checks. The tagging API does not list IAM roles or instance profiles, so
//! those are never reported. Missing `tag:GetResources` permission does not
//! fail the plan: the scan returns a warning saying orphans were not checked.
//!
//! Caveat (emulator): LocalStack's tagging API only sees what moto's
//! tagging backend sees (EC2 but EIPs and launch templates, ELBv2, RDS DB
//! instances, SNS, Secrets Manager, DynamoDB tables); on AWS every service
//! drctl uses but IAM is covered. See tests/harness/README.md.

use crate::ec2::lookup::env_set;
use crate::tag_index::{index, Tagged};
use crate::Aws;
use aws_sdk_ec2::types::{NatGateway, NatGatewayState};
use drctl_core::model::TAG_ADDRESS;
use drctl_core::orphans::{region_of, resource_type_of, TaggedResource};
use drctl_core::reconcile::ReconcileError;
use std::future::Future;

/// Types that carry drctl's tags without drctl creating them: instances and
/// volumes get them from the launch template (through the ASG), network
/// interfaces from the services that attach them. Their owner is managed.
const INHERITED_TYPES: &[&str] = &["ec2:instance", "ec2:volume", "ec2:network-interface"];

/// Error codes that mean "not allowed", which the scan reports as a warning.
/// Matched here rather than in the error table: no reconciler may treat a
/// denied call as anything but fatal, only this optional check may.
const DENIED_CODES: &[&str] = &[
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
];

/// What the tag search found.
#[derive(Debug, Default)]
pub struct Scan {
    pub items: Vec<TaggedResource>,
    /// Why some (or all) regions were not checked.
    pub warnings: Vec<String>,
}

/// Lists the resources tagged `drctl:env=<env>` in each of `regions`
/// (duplicates in `regions` are searched once).
pub async fn scan(aws: &Aws, env: &str, regions: &[&str]) -> Result<Scan, ReconcileError> {
    let mut regions: Vec<String> = regions.iter().map(|r| r.to_string()).collect();
    regions.sort_unstable();
    regions.dedup();
    // Both come from the run's cache: the refresh already made these calls.
    let (a, owner) = (aws.clone(), env.to_string());
    let search = move |region: String| {
        let (aws, env) = (a.clone(), owner.clone());
        async move { Ok(index(&aws, &region, &env).await?.to_vec()) }
    };
    let (a, owner) = (aws.clone(), env.to_string());
    let nats = move |region: String| {
        let (aws, env) = (a.clone(), owner.clone());
        async move { env_set::<NatGateway>(&aws, &region, &env).await }
    };
    scan_with(regions, search, nats).await
}

/// [`scan`] with given sources, per region, of the tag search and of the
/// region's NAT gateways (tests pass mocks).
async fn scan_with<S, SFut, N, NFut>(
    regions: Vec<String>,
    search: S,
    nats: N,
) -> Result<Scan, ReconcileError>
where
    S: Fn(String) -> SFut,
    SFut: Future<Output = Result<Vec<Tagged>, ReconcileError>> + Send + 'static,
    N: Fn(String) -> NFut,
    NFut: Future<Output = Result<Vec<NatGateway>, ReconcileError>> + Send + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for region in regions {
        let (found, nats) = (search(region.clone()), nats(region.clone()));
        tasks.spawn(async move {
            let r = match found.await {
                Ok(found) => drop_deleted_nats(nats, candidates(found, &region)).await,
                Err(e) => Err(e),
            };
            (region, r)
        });
    }
    let mut out = Scan::default();
    let mut denied = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (region, r) = joined.map_err(|e| {
            ReconcileError::Internal(format!("internal error: the orphan scan failed: {e}"))
        })?;
        match r {
            Ok(items) => out.items.extend(items),
            Err(ReconcileError::Api { code, .. }) if DENIED_CODES.contains(&code.as_str()) => {
                denied.push(region)
            }
            Err(e) => return Err(e),
        }
    }
    if !denied.is_empty() {
        denied.sort();
        out.warnings.push(format!(
            "orphans were not checked in {}: the credentials lack the tag:GetResources permission",
            denied.join(", ")
        ));
    }
    out.items.sort_by(|a, b| a.arn.cmp(&b.arn));
    Ok(out)
}

/// What the search found in `region`, minus inherited types.
fn candidates(found: Vec<Tagged>, region: &str) -> Vec<TaggedResource> {
    found
        .into_iter()
        .filter_map(|t| {
            let resource_type = resource_type_of(&t.arn);
            if INHERITED_TYPES.contains(&resource_type.as_str()) {
                return None;
            }
            Some(TaggedResource {
                region: region_of(&t.arn, region),
                resource_type,
                address: t.tags.get(TAG_ADDRESS).cloned(),
                arn: t.arn,
            })
        })
        .collect()
}

/// NAT gateways stay listed, tags and all, for about an hour after they
/// are deleted (state `deleted`): those are gone, not orphans. One
/// The region's NATs come from the refresh's own listing (one cached
/// DescribeNatGateways), only when the search found NATs.
async fn drop_deleted_nats(
    nats: impl std::future::Future<Output = Result<Vec<NatGateway>, ReconcileError>>,
    items: Vec<TaggedResource>,
) -> Result<Vec<TaggedResource>, ReconcileError> {
    let nat_id = |t: &TaggedResource| {
        (t.resource_type == "ec2:natgateway")
            .then(|| t.arn.rsplit('/').next().unwrap_or_default().to_string())
    };
    if !items.iter().any(|t| nat_id(t).is_some()) {
        return Ok(items);
    }
    let nats = nats.await?;
    let live: Vec<&str> = nats
        .iter()
        .filter(|n| {
            !matches!(
                n.state(),
                Some(
                    NatGatewayState::Deleted | NatGatewayState::Deleting | NatGatewayState::Failed
                )
            )
        })
        .filter_map(|n| n.nat_gateway_id())
        .collect();
    Ok(items
        .into_iter()
        .filter(|t| nat_id(t).is_none_or(|id| live.contains(&id.as_str())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tag_index::fetch;
    use aws_sdk_resourcegroupstagging::operation::get_resources::{
        GetResourcesError, GetResourcesOutput,
    };
    use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
    use aws_sdk_resourcegroupstagging::Client;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use drctl_core::model::TAG_ENV;

    fn client(rules: &[&Rule]) -> Client {
        crate::mock_client!(
            aws_sdk_resourcegroupstagging,
            "us-east-1",
            RuleMode::MatchAny,
            rules
        )
    }

    /// An EC2 client answered only by `rules`.
    async fn no_nats(_region: String) -> Result<Vec<NatGateway>, ReconcileError> {
        Ok(Vec::new())
    }

    fn tag(k: &str, v: &str) -> Tag {
        Tag::builder().key(k).value(v).build().unwrap()
    }

    async fn scan_region(
        client: &Client,
        env: &str,
        region: &str,
    ) -> Result<Vec<TaggedResource>, ReconcileError> {
        Ok(candidates(fetch(client, env, region).await?, region))
    }

    /// [`scan_with`] over one mock tagging client per region.
    async fn scan_clients<N, NFut>(
        clients: Vec<(String, Client)>,
        env: &str,
        nats: N,
    ) -> Result<Scan, ReconcileError>
    where
        N: Fn(String) -> NFut,
        NFut: Future<Output = Result<Vec<NatGateway>, ReconcileError>> + Send + 'static,
    {
        let regions = clients.iter().map(|(r, _)| r.clone()).collect();
        let env = env.to_string();
        let search = move |region: String| {
            let client = clients
                .iter()
                .find(|(r, _)| *r == region)
                .map(|(_, c)| c.clone());
            let env = env.clone();
            async move {
                match client {
                    Some(c) => fetch(&c, &env, &region).await,
                    None => Ok(Vec::new()),
                }
            }
        };
        scan_with(regions, search, nats).await
    }

    fn mapping(arn: &str, env: &str, address: Option<&str>) -> ResourceTagMapping {
        let mut b = ResourceTagMapping::builder()
            .resource_arn(arn)
            .tags(tag(TAG_ENV, env));
        if let Some(a) = address {
            b = b.tags(tag(TAG_ADDRESS, a));
        }
        b.build()
    }

    #[tokio::test]
    async fn pages_are_followed_with_the_env_filter_and_inherited_types_dropped() {
        let first = mock!(Client::get_resources)
            .match_requests(|r| {
                r.pagination_token().is_none()
                    && r.tag_filters().len() == 1
                    && r.tag_filters()[0].key() == Some(TAG_ENV)
                    && r.tag_filters()[0].values() == ["t"]
            })
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping(
                        "arn:aws:ec2:us-east-1:1:security-group/sg-1",
                        "t",
                        Some("us-east-1/network/sg"),
                    ))
                    .resource_tag_mapping_list(mapping(
                        "arn:aws:ec2:us-east-1:1:instance/i-1",
                        "t",
                        Some("us-east-1/compute/launch-template"),
                    ))
                    .pagination_token("next")
                    .build()
            });
        let second = mock!(Client::get_resources)
            .match_requests(|r| r.pagination_token() == Some("next"))
            .then_output(|| {
                GetResourcesOutput::builder()
                    .resource_tag_mapping_list(mapping("arn:aws:s3:::b", "t", None))
                    .resource_tag_mapping_list(mapping(
                        "arn:aws:sns:us-east-1:1:other",
                        "other-env",
                        Some("x"),
                    ))
                    .pagination_token("")
                    .build()
            });
        let items = scan_region(&client(&[&first, &second]), "t", "us-east-1")
            .await
            .unwrap();
        assert_eq!(
            items,
            vec![
                TaggedResource {
                    arn: "arn:aws:ec2:us-east-1:1:security-group/sg-1".into(),
                    region: "us-east-1".into(),
                    resource_type: "ec2:security-group".into(),
                    address: Some("us-east-1/network/sg".into()),
                },
                TaggedResource {
                    arn: "arn:aws:s3:::b".into(),
                    region: "us-east-1".into(),
                    resource_type: "s3:bucket".into(),
                    address: None,
                },
            ]
        );
        assert_eq!(first.num_calls(), 1);
        assert_eq!(second.num_calls(), 1);
    }

    #[tokio::test]
    async fn access_denied_is_typed_so_the_scan_can_warn() {
        let denied = mock!(Client::get_resources).then_error(|| {
            GetResourcesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("User is not authorized to perform: tag:GetResources")
                    .build(),
            )
        });
        let err = scan_region(&client(&[&denied]), "t", "us-east-1")
            .await
            .unwrap_err();
        match err {
            ReconcileError::Api {
                operation, code, ..
            } => {
                assert_eq!(operation, "tag:GetResources");
                assert!(DENIED_CODES.contains(&code.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(denied.num_calls(), 1, "a denial is not retried");
    }

    #[tokio::test]
    async fn a_denied_region_is_a_warning_naming_the_permission() {
        let denied = mock!(Client::get_resources).then_error(|| {
            GetResourcesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .build(),
            )
        });
        let found = mock!(Client::get_resources).then_output(|| {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(mapping(
                    "arn:aws:sns:us-west-2:1:alerts",
                    "t",
                    Some("us-west-2/alerts/topic"),
                ))
                .build()
        });
        let scan = scan_clients(
            vec![
                ("us-east-1".into(), client(&[&denied])),
                ("us-west-2".into(), client(&[&found])),
            ],
            "t",
            no_nats,
        )
        .await
        .unwrap();
        assert_eq!(scan.items.len(), 1);
        assert_eq!(
            scan.warnings,
            vec!["orphans were not checked in us-east-1: the credentials lack the tag:GetResources permission"]
        );
    }

    #[tokio::test]
    async fn other_errors_fail_the_scan() {
        let bad = mock!(Client::get_resources).then_error(|| {
            GetResourcesError::generic(
                ErrorMetadata::builder()
                    .code("InvalidParameterException")
                    .build(),
            )
        });
        let err = scan_clients(vec![("us-east-1".into(), client(&[&bad]))], "t", no_nats)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("InvalidParameterException"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn deleted_nat_gateways_still_listed_by_the_tag_search_are_dropped() {
        let found = mock!(Client::get_resources).then_output(|| {
            GetResourcesOutput::builder()
                .resource_tag_mapping_list(mapping(
                    "arn:aws:ec2:us-east-1:1:natgateway/nat-live",
                    "t",
                    Some("us-east-1/network/nat"),
                ))
                .resource_tag_mapping_list(mapping(
                    "arn:aws:ec2:us-east-1:1:natgateway/nat-old",
                    "t",
                    Some("us-east-1/network/nat"),
                ))
                .resource_tag_mapping_list(mapping(
                    "arn:aws:ec2:us-east-1:1:natgateway/nat-gone",
                    "t",
                    Some("us-east-1/network/nat"),
                ))
                .build()
        });
        let nat = |id: &str, state| {
            NatGateway::builder()
                .nat_gateway_id(id)
                .state(state)
                .build()
        };
        let listed = vec![
            nat("nat-live", NatGatewayState::Available),
            nat("nat-old", NatGatewayState::Deleted),
        ];
        let scan = scan_clients(vec![("us-east-1".into(), client(&[&found]))], "t", |_| {
            let listed = listed.clone();
            async move { Ok(listed) }
        })
        .await
        .unwrap();
        let arns: Vec<&str> = scan.items.iter().map(|t| t.arn.as_str()).collect();
        assert_eq!(arns, vec!["arn:aws:ec2:us-east-1:1:natgateway/nat-live"]);
    }
}

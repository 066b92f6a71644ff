//! The env's tags, region by region, from the Resource Groups Tagging API.
//!
//! One paginated `GetResources` (filter `drctl:env=<env>`) lists every
//! resource of the env in a region with all its tags. The orphan report is
//! built from it, and reconcilers use it as their ownership-tag source
//! instead of a tag call per resource ([`tags_of`]); it is read once per run
//! through the [`ReadCache`](crate::cache::ReadCache).
//!
//! Caveats: the index is eventually consistent and does not cover every
//! service (IAM never; the emulator sees only part, see the harness README).
//! So it only ever *confirms* tags: a resource missing from it, or a region
//! where the search failed (e.g. no `tag:GetResources` permission), falls
//! back to the service's own tag call, which decides.

use crate::errors::api_error;
use crate::retry::Policy;

use crate::tags::Tags;
use crate::Aws;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use aws_sdk_resourcegroupstagging::Client;
use drctl_core::model::TAG_ENV;
use drctl_core::reconcile::ReconcileError;
use std::sync::Arc;

/// One resource the search found, with all its tags.
#[derive(Clone, Debug, PartialEq)]
pub struct Tagged {
    pub arn: String,
    pub tags: Tags,
}

/// Every resource of `region` tagged `drctl:env=<env>` (all pages).
pub async fn fetch(
    client: &Client,
    env: &str,
    region: &str,
) -> Result<Vec<Tagged>, ReconcileError> {
    Policy::TRANSIENT
        .run(&format!("tag:GetResources in {region}"), || async {
            let mut pages = client
                .get_resources()
                .tag_filters(TagFilter::builder().key(TAG_ENV).values(env).build())
                .into_paginator()
                .send();
            let mut items = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| api_error("tag:GetResources", e))?;
                for m in page.resource_tag_mapping_list() {
                    // A mapping without an ARN names nothing.
                    let Some(arn) = m.resource_arn() else {
                        continue;
                    };
                    let tags: Tags = m
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect();
                    // The filter already asks for this env; a service that
                    // ignores filters must not make another env's resources ours.
                    if tags.get(TAG_ENV).map(String::as_str) != Some(env) {
                        continue;
                    }
                    items.push(Tagged {
                        arn: arn.to_string(),
                        tags,
                    });
                }
            }
            Ok(items)
        })
        .await
}

/// [`fetch`] once per run and region. A failure is kept too: without the
/// permission, every resource asking would otherwise repeat the denied call.
pub async fn index(aws: &Aws, region: &str, env: &str) -> Result<Arc<Vec<Tagged>>, ReconcileError> {
    let client = aws.tagging(region);
    aws.cache()
        .get_or_fetch(format!("tag:GetResources|{region}|{env}"), || async move {
            Ok(fetch(&client, env, region).await.map(Arc::new))
        })
        .await?
}

/// The tags of `arn` if the env's index has it; `None` means "ask the
/// service" (not indexed, or the search failed).
pub async fn tags_of(aws: &Aws, region: &str, env: &str, arn: &str) -> Option<Tags> {
    match index(aws, region, env).await {
        Ok(items) => items.iter().find(|t| t.arn == arn).map(|t| t.tags.clone()),
        Err(e) => {
            tracing::debug!(error = %e, region, "tag index unavailable; asking each service");
            None
        }
    }
}

/// Ownership tags of `arn`: from the env's index when it has them, else
/// from `ask`, the service's own tag call (which then decides).
pub async fn tags_or<F, Fut>(
    aws: &Aws,
    region: &str,
    env: &str,
    arn: &str,
    ask: F,
) -> Result<Tags, ReconcileError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Tags, ReconcileError>>,
{
    match tags_of(aws, region, env, arn).await {
        Some(tags) => Ok(tags),
        None => ask().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_types::region::Region;
    use aws_types::SdkConfig;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Clients pointed at a port nothing listens on: every call fails.
    fn unreachable_aws() -> Aws {
        let conf = SdkConfig::builder()
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_sdk_resourcegroupstagging::config::SharedCredentialsProvider::new(
                    aws_sdk_resourcegroupstagging::config::Credentials::new(
                        "test", "test", None, None, "test",
                    ),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Aws::from_config(conf, Some("http://127.0.0.1:9".into()))
    }

    fn searches(aws: &Aws) -> u64 {
        aws.calls()
            .snapshot()
            .iter()
            .filter(|(k, _)| k.ends_with(":GetResources"))
            .map(|(_, n)| *n)
            .sum()
    }

    // Paused time: the retries of the unreachable endpoint do not wait.
    #[tokio::test(start_paused = true)]
    async fn without_an_index_each_service_is_asked_and_the_failed_search_is_not_repeated() {
        let aws = unreachable_aws();
        let asked = AtomicUsize::new(0);
        let mut after_first = None;
        for arn in ["arn:aws:sns:us-east-1:1:a", "arn:aws:sns:us-east-1:1:b"] {
            let tags = tags_or(&aws, "us-east-1", "dev", arn, || async {
                asked.fetch_add(1, Ordering::SeqCst);
                Ok(Tags::from([("drctl:env".to_string(), "dev".to_string())]))
            })
            .await
            .expect("the fallback answers");
            assert_eq!(tags.get("drctl:env").map(String::as_str), Some("dev"));
            after_first.get_or_insert(searches(&aws));
        }
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert!(after_first.is_some_and(|n| n >= 1));
        assert_eq!(
            Some(searches(&aws)),
            after_first,
            "the failed search is kept for the run, not repeated per resource"
        );
    }
}

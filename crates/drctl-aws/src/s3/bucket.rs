//! `s3:bucket` — the data bucket `trading-data-{env}-{account}` (primary)
//! and its replica `...-replica` (secondary).
//!
//! Found by name (bucket names are global; the name is the physical id):
//! HeadBucket 404 = not found; 403 = the name is taken by someone else, and
//! a bucket in another region is not this one either (both clashes).
//! Ownership from GetBucketTagging.
//! Props: [`BucketProps`], all in place. Attrs: `name`, `arn`, `region`.
//!
//! Caveats:
//! - Tags go in CreateBucket (`CreateBucketConfiguration.Tags`, which this
//!   SDK version has and the emulator honours).
//! - Versioning, encryption and the public access block are separate calls
//!   after CreateBucket (S3 has no way to set them in it). The emulator
//!   already reports AES256 and a full block on a bare bucket, so drctl
//!   always makes those calls on create rather than trusting what it reads.
//! - Delete empties the bucket first: every object version and delete
//!   marker (ListObjectVersions, DeleteObjects by 1000), then DeleteBucket;
//!   BucketNotEmpty (objects written meanwhile) is retried.

use crate::errors::{api_error, found, gone};
use crate::retry::{call, delete_when_unblocked, Policy};
use crate::s3::BUCKET_DELETE;
use crate::s3::{bucket_arn, bucket_tags};
use crate::tags::{check_owned, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, VersioningConfiguration,
};
use aws_sdk_s3::Client;
use aws_smithy_types::error::operation::BuildError;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `s3:bucket` compares: the blueprint's props. All in place (one
/// call per group: versioning, encryption, public access block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketProps {
    /// `Enabled` or `Suspended` (a read of a bucket never versioned gives
    /// null). In place (PutBucketVersioning).
    pub versioning: String,
    /// Default encryption: `AES256` or `aws:kms`. In place (PutBucketEncryption).
    pub sse_algorithm: String,
    /// Public access block: reject public ACLs. In place (PutPublicAccessBlock).
    pub block_public_acls: bool,
    /// Public access block: ignore existing public ACLs. In place.
    pub ignore_public_acls: bool,
    /// Public access block: reject public bucket policies. In place.
    pub block_public_policy: bool,
    /// Public access block: only the owner and AWS services when public. In place.
    pub restrict_public_buckets: bool,
}

pub struct BucketReconciler {
    pub aws: Aws,
}

impl BucketReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

const PUBLIC_ACCESS_FIELDS: [&str; 4] = [
    "block_public_acls",
    "ignore_public_acls",
    "block_public_policy",
    "restrict_public_buckets",
];

fn build_error(what: &str, e: BuildError) -> ReconcileError {
    ReconcileError::Internal(format!("{what}: {e}"))
}

fn s3_tags(spec: &ResourceSpec) -> Result<Vec<Tag>, ReconcileError> {
    spec.tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error("S3 tag", e))
        })
        .collect()
}

/// A bucket's tag writes. PutBucketTagging replaces the whole set ("it will
/// overwrite any current tags the bucket already has", S3 API reference),
/// and S3 refuses a set that drops an `aws:` tag while a requester can
/// never write one (AWS tagging rules: the `aws:` prefix is reserved), so
/// the set sent is the bucket's current tags, `aws:` ones unchanged, with
/// `writes` made: the same merge terraform-provider-aws does
/// (internal/service/s3/tags.go, bucketUpdateTags: desired tags merged
/// with the ignored ones read back).
pub(crate) async fn put_tags(
    s3: &Client,
    current: &Observed,
    writes: &drctl_core::diff::TagWrites,
) -> Result<(), ReconcileError> {
    let tags = crate::tags::whole_set(current, writes)
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| build_error("S3 tag", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tagging = aws_sdk_s3::types::Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(|e| build_error("S3 tagging", e))?;
    crate::tag_call!(
        "s3:PutBucketTagging",
        s3.put_bucket_tagging().bucket(&current.id).tagging(tagging)
    )?;
    Ok(())
}

/// What HeadBucket says about a name.
#[derive(Debug, PartialEq)]
enum Head {
    Missing,
    /// Ours to look at; the region S3 reports, if any.
    Exists(Option<String>),
    /// 403 or a redirect: someone else's, or in another region.
    Foreign(String),
}

async fn head(s3: &Client, name: &str) -> Result<Head, ReconcileError> {
    let out = Policy::TRANSIENT
        .run("s3:HeadBucket", || async {
            match s3.head_bucket().bucket(name).send().await {
                Ok(o) => Ok(Head::Exists(o.bucket_region().map(str::to_string))),
                Err(e) => {
                    // HEAD answers have no body, so the status is all there is.
                    let status = e.raw_response().map(|r| r.status().as_u16());
                    match status {
                    Some(403) => Ok(Head::Foreign(
                        "HeadBucket answers 403 Forbidden: the name is taken by another account"
                            .into(),
                    )),
                    Some(301) => Ok(Head::Foreign(format!(
                        "it exists in another region ({})",
                        e.raw_response()
                            .and_then(|r| r.headers().get("x-amz-bucket-region"))
                            .unwrap_or("unknown")
                    ))),
                    _ => Err(api_error("s3:HeadBucket", e)),
                }
                }
            }
        })
        .await;
    match found(out)? {
        None => Ok(Head::Missing),
        Some(h) => Ok(h),
    }
}

/// Versioning, encryption and public access block, in the blueprint's shapes.
async fn observe_config(
    s3: &Client,
    name: &str,
) -> Result<drctl_core::model::Props, ReconcileError> {
    let versioning = async {
        call("s3:GetBucketVersioning", Policy::TRANSIENT, || {
            s3.get_bucket_versioning().bucket(name).send()
        })
        .await
    };
    let encryption = async {
        found(
            call("s3:GetBucketEncryption", Policy::TRANSIENT, || {
                s3.get_bucket_encryption().bucket(name).send()
            })
            .await,
        )
    };
    let block = async {
        found(
            call("s3:GetPublicAccessBlock", Policy::TRANSIENT, || {
                s3.get_public_access_block().bucket(name).send()
            })
            .await,
        )
    };
    let (versioning, encryption, block) = tokio::try_join!(versioning, encryption, block)?;
    let status = versioning.status().map(|s| s.as_str().to_string());
    let sse = encryption.and_then(|e| {
        e.server_side_encryption_configuration()?
            .rules()
            .iter()
            .find_map(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_string())
    });
    let pab = block.and_then(|b| b.public_access_block_configuration);
    let flag = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| {
        pab.as_ref().and_then(f).unwrap_or(false)
    };
    // json! rather than `BucketProps`: a bucket never versioned, or without
    // default encryption, reads null there.
    Ok(props::from_json(json!({
        "versioning": status,
        "sse_algorithm": sse,
        "block_public_acls": flag(PublicAccessBlockConfiguration::block_public_acls),
        "ignore_public_acls": flag(PublicAccessBlockConfiguration::ignore_public_acls),
        "block_public_policy": flag(PublicAccessBlockConfiguration::block_public_policy),
        "restrict_public_buckets": flag(PublicAccessBlockConfiguration::restrict_public_buckets),
    })))
}

fn attrs(name: &str, region: &str) -> drctl_core::model::Props {
    props::from_json(json!({"name": name, "arn": bucket_arn(name), "region": region}))
}

/// `indexed`: the bucket's tags from the env's tag index of `region`.
/// Being there says the bucket exists in this region with these tags, so
/// HeadBucket is skipped; the configuration reads still prove it exists.
async fn read_bucket(
    s3: &Client,
    region: &str,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
    indexed: Option<Tags>,
) -> Result<ReadOutcome, ReconcileError> {
    let name = known_id.unwrap_or(&spec.name);
    if let Some(tags) = indexed {
        return match check_owned(cx, spec, name, &tags, Observed::default) {
            ReadOutcome::Found(_) => match observe_config(s3, name).await {
                Ok(props) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                    Observed {
                        id: name.to_string(),
                        props,
                        attrs: attrs(name, region),
                    },
                    &tags,
                ))),
                // The index lags behind a deletion.
                Err(e) if e.class() == ErrorClass::NotFound => Ok(ReadOutcome::NotFound),
                Err(e) => Err(e),
            },
            other => Ok(other),
        };
    }
    match head(s3, name).await? {
        Head::Missing => Ok(ReadOutcome::NotFound),
        Head::Foreign(detail) => Ok(ReadOutcome::Clash {
            id: name.to_string(),
            detail,
        }),
        Head::Exists(Some(r)) if r != region => Ok(ReadOutcome::Clash {
            id: name.to_string(),
            detail: format!("it is in region {r}, not {region}"),
        }),
        Head::Exists(_) => {
            let tags = bucket_tags(s3, name).await?;
            match check_owned(cx, spec, name, &tags, Observed::default) {
                ReadOutcome::Found(_) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                    Observed {
                        id: name.to_string(),
                        props: observe_config(s3, name).await?,
                        attrs: attrs(name, region),
                    },
                    &tags,
                ))),
                other => Ok(other),
            }
        }
    }
}

async fn put_versioning(s3: &Client, name: &str, p: &BucketProps) -> Result<(), ReconcileError> {
    let status = BucketVersioningStatus::from(p.versioning.as_str());
    let conf = VersioningConfiguration::builder().status(status).build();
    call("s3:PutBucketVersioning", Policy::TRANSIENT, || {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(conf.clone())
            .send()
    })
    .await?;
    Ok(())
}

async fn put_encryption(s3: &Client, name: &str, p: &BucketProps) -> Result<(), ReconcileError> {
    let algorithm = ServerSideEncryption::from(p.sse_algorithm.as_str());
    let conf = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(algorithm)
                        .build()
                        .map_err(|e| build_error("ServerSideEncryptionByDefault", e))?,
                )
                .build(),
        )
        .build()
        .map_err(|e| build_error("ServerSideEncryptionConfiguration", e))?;
    call("s3:PutBucketEncryption", Policy::TRANSIENT, || {
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(conf.clone())
            .send()
    })
    .await?;
    Ok(())
}

async fn put_public_access_block(
    s3: &Client,
    name: &str,
    p: &BucketProps,
) -> Result<(), ReconcileError> {
    let conf = PublicAccessBlockConfiguration::builder()
        .block_public_acls(p.block_public_acls)
        .ignore_public_acls(p.ignore_public_acls)
        .block_public_policy(p.block_public_policy)
        .restrict_public_buckets(p.restrict_public_buckets)
        .build();
    call("s3:PutPublicAccessBlock", Policy::TRANSIENT, || {
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(conf.clone())
            .send()
    })
    .await?;
    Ok(())
}

async fn create_bucket(
    s3: &Client,
    region: &str,
    spec: &ResourceSpec,
) -> Result<Observed, ReconcileError> {
    let p: BucketProps = props::typed(spec)?;
    let name = spec.name.as_str();
    // us-east-1 is the default location and refuses an explicit constraint.
    let location = (region != "us-east-1").then(|| BucketLocationConstraint::from(region));
    let conf = CreateBucketConfiguration::builder()
        .set_location_constraint(location)
        .set_tags(Some(s3_tags(spec)?))
        .build();
    // No idempotency token exists for CreateBucket; the name is the key and
    // the tags in this call make a half-finished bucket recognisably ours.
    call("s3:CreateBucket", Policy::ONCE, || {
        s3.create_bucket()
            .bucket(name)
            .create_bucket_configuration(conf.clone())
            .send()
    })
    .await?;
    // A new bucket can answer NoSuchBucket for a moment (eventual consistency).
    let after_create = Policy::AFTER_CREATE;
    after_create
        .run("s3:PutBucketVersioning", || put_versioning(s3, name, &p))
        .await?;
    after_create
        .run("s3:PutBucketEncryption", || put_encryption(s3, name, &p))
        .await?;
    after_create
        .run("s3:PutPublicAccessBlock", || {
            put_public_access_block(s3, name, &p)
        })
        .await?;
    Ok(Observed {
        id: name.to_string(),
        props: spec.props.clone(),
        attrs: attrs(name, region),
    })
}

/// Deletes every object version and delete marker; returns how many.
async fn empty_bucket(s3: &Client, name: &str) -> Result<usize, ReconcileError> {
    let mut deleted = 0;
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let req = s3
            .list_object_versions()
            .bucket(name)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone());
        let page = call("s3:ListObjectVersions", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await?;
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(k, v)| {
                ObjectIdentifier::builder()
                    .key(k?)
                    .set_version_id(v.map(str::to_string))
                    .build()
                    .ok()
            })
            .collect();
        for batch in ids.chunks(1000) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| build_error("Delete", e))?;
            let out = call("s3:DeleteObjects", Policy::TRANSIENT, || {
                s3.delete_objects()
                    .bucket(name)
                    .delete(delete.clone())
                    .send()
            })
            .await?;
            if let Some(e) = out.errors().first() {
                // AWS's per-object refusal (AccessDenied, an object lock):
                // an error answer inside a 200, reported as one.
                return Err(ReconcileError::Api {
                    operation: "s3:DeleteObjects".into(),
                    class: drctl_core::reconcile::ErrorClass::Fatal,
                    code: e.code().unwrap_or("Unknown").into(),
                    message: format!(
                        "could not delete {} object version(s) of bucket {name}, e.g. {} ({}): {}",
                        out.errors().len(),
                        e.key().unwrap_or("?"),
                        e.version_id().unwrap_or("no version"),
                        e.message().unwrap_or("")
                    ),
                });
            }
            deleted += batch.len();
        }
        if page.is_truncated() != Some(true) {
            return Ok(deleted);
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
}

async fn delete_bucket(s3: &Client, spec: &ResourceSpec, name: &str) -> Result<(), ReconcileError> {
    let what = format!(
        "bucket {name} ({}) to be empty and deleted (BucketNotEmpty)",
        spec.address
    );
    // Objects written meanwhile (replication, a late writer): empty again.
    delete_when_unblocked(&what, BUCKET_DELETE, || async {
        let emptied = gone(empty_bucket(s3, name).await.map(|n| {
            tracing::debug!(bucket = name, versions = n, "emptied");
        }));
        emptied?;
        call("s3:DeleteBucket", Policy::ONCE, || {
            s3.delete_bucket().bucket(name).send()
        })
        .await
    })
    .await
}

#[async_trait]
impl Reconciler for BucketReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::BUCKET
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
        put_tags(&self.aws.s3(self.aws.region_of(spec)), current, writes).await
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let region = self.aws.region_of(spec);
        let name = known_id.unwrap_or(&spec.name);
        let indexed =
            crate::tag_index::tags_of(&self.aws, region, &cx.env, &bucket_arn(name)).await;
        read_bucket(&self.aws.s3(region), region, cx, spec, known_id, indexed).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let region = self.aws.region_of(spec);
        create_bucket(&self.aws.s3(region), region, spec).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: BucketProps = props::typed(spec)?;
        let region = self.aws.region_of(spec);
        let s3 = self.aws.s3(region);
        let changed = |f: &str| changes.iter().any(|c| c.field == f);
        if changed("versioning") {
            put_versioning(&s3, &current.id, &p).await?;
        }
        if changed("sse_algorithm") {
            put_encryption(&s3, &current.id, &p).await?;
        }
        if PUBLIC_ACCESS_FIELDS.iter().any(|f| changed(f)) {
            put_public_access_block(&s3, &current.id, &p).await?;
        }
        Ok(Observed {
            id: current.id.clone(),
            props: spec.props.clone(),
            attrs: attrs(&current.id, region),
        })
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let s3 = self.aws.s3(self.aws.region_of(spec));
        delete_bucket(&s3, spec, &current.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::create_bucket::CreateBucketOutput;
    use aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput;
    use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
    use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
    use aws_sdk_s3::operation::put_bucket_versioning::PutBucketVersioningOutput;
    use aws_sdk_s3::operation::put_public_access_block::PutPublicAccessBlockOutput;
    use aws_sdk_s3::types::{DeleteMarkerEntry, ObjectVersion};
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use drctl_core::model::Address;
    use std::collections::BTreeMap;

    fn client(rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_s3, "us-west-2", RuleMode::MatchAny, rules)
    }

    fn spec(region: &str) -> ResourceSpec {
        let address = Address::new(format!("{region}/storage/replica-bucket"));
        let mut tags = BTreeMap::new();
        tags.insert("drctl:env".to_string(), "t".to_string());
        tags.insert("drctl:address".to_string(), address.to_string());
        ResourceSpec {
            address,
            kind: drctl_stack::kinds::BUCKET.into(),
            region: Some(region.into()),
            name: "trading-data-t-000000000000-replica".into(),
            props: props::from_json(json!({
                "versioning": "Enabled", "sse_algorithm": "AES256",
                "block_public_acls": true, "ignore_public_acls": true,
                "block_public_policy": true, "restrict_public_buckets": true,
            })),
            tags,
            depends_on: vec![],
        }
    }

    /// PutBucketTagging replaces the whole set: the set sent keeps the
    /// bucket's `aws:` tags as they are, makes the writes, and keeps the
    /// tags the writes leave alone.
    #[tokio::test]
    async fn tag_writes_send_the_whole_set_with_aws_tags_unchanged() {
        use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
        let put = mock!(Client::put_bucket_tagging)
            .match_requests(|r| {
                let sent: BTreeMap<&str, &str> = r
                    .tagging()
                    .map(|t| t.tag_set().iter().map(|t| (t.key(), t.value())).collect())
                    .unwrap_or_default();
                sent == BTreeMap::from([
                    ("aws:cloudformation:stack-name", "legacy"),
                    ("CostCenter", "43"),
                    ("Owner", "data"),
                    ("drctl:address", "a"),
                    ("drctl:env", "t"),
                ])
            })
            .then_output(|| PutBucketTaggingOutput::builder().build());
        let s3 = client(&[&put]);
        let mut current = Observed {
            id: "b".into(),
            ..Default::default()
        };
        current.props.insert(
            drctl_core::diff::TAGS.into(),
            json!({"aws:cloudformation:stack-name": "legacy", "CostCenter": "42",
                   "Team": "x", "Owner": "data", "drctl:env": "t", "drctl:address": "a"}),
        );
        let writes = drctl_core::diff::TagWrites {
            set: BTreeMap::from([("CostCenter".to_string(), "43".to_string())]),
            delete: ["Team".to_string()].into(),
        };
        put_tags(&s3, &current, &writes).await.unwrap();
        assert_eq!(put.num_calls(), 1, "the mock matched the whole set sent");
    }

    #[tokio::test]
    async fn a_403_is_a_clash_and_a_404_is_absent() {
        let forbidden = mock!(Client::head_bucket)
            .match_requests(|r| r.bucket() == Some("taken"))
            .sequence()
            .http_status(403, None)
            .build();
        let missing = mock!(Client::head_bucket)
            .match_requests(|r| r.bucket() == Some("free"))
            .sequence()
            .http_status(404, None)
            .build();
        let s3 = client(&[&forbidden, &missing]);
        let cx = Ctx::new("t");
        match read_bucket(
            &s3,
            "us-west-2",
            &cx,
            &spec("us-west-2"),
            Some("taken"),
            None,
        )
        .await
        .unwrap()
        {
            ReadOutcome::Clash { id, detail } => {
                assert_eq!(id, "taken");
                assert!(detail.contains("403"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            read_bucket(
                &s3,
                "us-west-2",
                &cx,
                &spec("us-west-2"),
                Some("free"),
                None
            )
            .await
            .unwrap(),
            ReadOutcome::NotFound
        );
    }

    #[tokio::test]
    async fn create_tags_in_the_create_call_then_configures_everything() {
        let create = mock!(Client::create_bucket)
            .match_requests(|r| {
                let c = r.create_bucket_configuration();
                c.and_then(|c| c.location_constraint().map(|l| l.as_str().to_string()))
                    == Some("us-west-2".into())
                    && c.is_some_and(|c| c.tags().iter().any(|t| t.key() == "drctl:address"))
            })
            .then_output(|| CreateBucketOutput::builder().build());
        let versioning = mock!(Client::put_bucket_versioning)
            .match_requests(|r| {
                r.versioning_configuration().and_then(|v| v.status())
                    == Some(&BucketVersioningStatus::Enabled)
            })
            .then_output(|| PutBucketVersioningOutput::builder().build());
        let encryption = mock!(Client::put_bucket_encryption)
            .then_output(|| PutBucketEncryptionOutput::builder().build());
        let block = mock!(Client::put_public_access_block)
            .match_requests(|r| {
                r.public_access_block_configuration().is_some_and(|c| {
                    c.block_public_acls() == Some(true)
                        && c.ignore_public_acls() == Some(true)
                        && c.block_public_policy() == Some(true)
                        && c.restrict_public_buckets() == Some(true)
                })
            })
            .then_output(|| PutPublicAccessBlockOutput::builder().build());
        let s3 = client(&[&create, &versioning, &encryption, &block]);
        let o = create_bucket(&s3, "us-west-2", &spec("us-west-2"))
            .await
            .unwrap();
        assert_eq!(
            o.attrs["arn"],
            "arn:aws:s3:::trading-data-t-000000000000-replica"
        );
        for r in [&create, &versioning, &encryption, &block] {
            assert_eq!(r.num_calls(), 1);
        }
    }

    #[tokio::test]
    async fn us_east_1_gets_no_location_constraint() {
        let create = mock!(Client::create_bucket)
            .match_requests(|r| {
                r.create_bucket_configuration()
                    .is_some_and(|c| c.location_constraint().is_none() && !c.tags().is_empty())
            })
            .then_output(|| CreateBucketOutput::builder().build());
        let v = mock!(Client::put_bucket_versioning)
            .then_output(|| PutBucketVersioningOutput::builder().build());
        let e = mock!(Client::put_bucket_encryption)
            .then_output(|| PutBucketEncryptionOutput::builder().build());
        let b = mock!(Client::put_public_access_block)
            .then_output(|| PutPublicAccessBlockOutput::builder().build());
        let s3 = client(&[&create, &v, &e, &b]);
        create_bucket(&s3, "us-east-1", &spec("us-east-1"))
            .await
            .unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_object_aws_refuses_to_delete_is_an_api_error_with_its_code() {
        let list = mock!(Client::list_object_versions).then_output(|| {
            ListObjectVersionsOutput::builder()
                .versions(ObjectVersion::builder().key("k").version_id("v").build())
                .build()
        });
        let delete_objects = mock!(Client::delete_objects).then_output(|| {
            DeleteObjectsOutput::builder()
                .errors(
                    aws_sdk_s3::types::Error::builder()
                        .key("k")
                        .version_id("v")
                        .code("AccessDenied")
                        .message("Access Denied")
                        .build(),
                )
                .build()
        });
        let s3 = client(&[&list, &delete_objects]);
        let err = delete_bucket(&s3, &spec("us-west-2"), "b")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReconcileError::Api { code, operation, .. } if code == "AccessDenied" && operation == "s3:DeleteObjects"),
            "{err:?}"
        );
        assert!(err.to_string().contains("of bucket b, e.g. k (v)"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn delete_removes_every_version_and_marker_page_by_page_then_the_bucket() {
        let page = |n: usize, truncated: bool| {
            let mut b = ListObjectVersionsOutput::builder().is_truncated(truncated);
            for i in 0..n {
                b = b.versions(
                    ObjectVersion::builder()
                        .key(format!("k{i}"))
                        .version_id(format!("v{i}"))
                        .build(),
                );
            }
            b = b.delete_markers(
                DeleteMarkerEntry::builder()
                    .key("gone")
                    .version_id("m1")
                    .build(),
            );
            if truncated {
                b = b.next_key_marker("k9").next_version_id_marker("v9");
            }
            b.build()
        };
        let list = mock!(Client::list_object_versions)
            .sequence()
            .output(move || page(999, true))
            .output(move || page(3, false))
            .build();
        let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = batches.clone();
        let delete_objects = mock!(Client::delete_objects).then_compute_output(move |r| {
            seen.lock()
                .unwrap()
                .push(r.delete().map(|d| d.objects().len()).unwrap_or(0));
            DeleteObjectsOutput::builder().build()
        });
        let delete =
            mock!(Client::delete_bucket).then_output(|| DeleteBucketOutput::builder().build());
        let s3 = client(&[&list, &delete_objects, &delete]);
        delete_bucket(&s3, &spec("us-west-2"), "b").await.unwrap();
        assert_eq!(*batches.lock().unwrap(), vec![1000, 4]);
        assert_eq!(delete.num_calls(), 1);
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<BucketProps>(drctl_stack::kinds::BUCKET);
        // Safe defaults: versioned, encrypted, every public access blocked.
        assert!(all.iter().all(|p| p.versioning == "Enabled"
            && p.sse_algorithm == "AES256"
            && p.block_public_acls
            && p.ignore_public_acls
            && p.block_public_policy
            && p.restrict_public_buckets));
        let v = serde_json::to_value(&all[0]).unwrap();
        for field in PUBLIC_ACCESS_FIELDS {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

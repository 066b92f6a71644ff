//! The S3 side of remote state: [`S3Store`] implements drctl-core's
//! [`ObjectStore`] (the protocol — ETag writes, lease lock — lives in
//! `drctl_core::remote`).
//!
//! - Every put is encrypted: SSE-KMS with the configured key, else AES256.
//! - `If-None-Match: *` / `If-Match` map to [`Precondition`]; S3's 412
//!   PreconditionFailed and 409 ConditionalRequestConflict are
//!   [`ObjectError::PreconditionFailed`].
//! - Calls are counted here, apart from the reconcilers' call log, so that
//!   state writes neither clear the read cache nor blur the resource figures.
//!
//! The store blocks: it runs its futures on the runtime it was made in
//! (`block_in_place` from a worker, `block_on` from a plain thread such as
//! the lease renewer), so it needs a multi-threaded runtime.

use crate::Aws;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use drctl_core::remote::{ObjectError, ObjectStore, Precondition};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Where an S3 state lives.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
    /// `None`: the region of the default credential chain, else us-east-1.
    pub region: Option<String>,
    pub kms_key_id: Option<String>,
}

#[derive(Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key_id: Option<String>,
    handle: tokio::runtime::Handle,
    calls: Arc<Mutex<BTreeMap<String, u64>>>,
}

fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    e: aws_sdk_s3::error::SdkError<E, HttpResponse>,
) -> ObjectError {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_string();
    if matches!(status, Some(412) | Some(409))
        || code == "PreconditionFailed"
        || code == "ConditionalRequestConflict"
    {
        return ObjectError::PreconditionFailed;
    }
    let detail = match code.as_str() {
        "NoSuchBucket" => {
            "the bucket does not exist (create it, with versioning on, before using it for state)"
                .to_string()
        }
        "AccessDenied" => {
            format!("access denied: the role needs s3:{op} on the state and lock objects")
        }
        _ => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
    };
    ObjectError::Other(format!("s3:{op}: {detail}"))
}

impl S3Store {
    /// A store for `loc.bucket`, using `aws`'s credentials and endpoint.
    /// Call inside the tokio runtime that will serve its calls.
    pub fn new(aws: &Aws, loc: &S3Location) -> Self {
        let region = loc.region.clone().unwrap_or_else(|| {
            aws.default_region()
                .unwrap_or_else(|| aws.global_region().to_string())
        });
        Self::with_client(aws.s3_uncounted(&region), loc)
    }

    /// With a ready client (aws-smithy-mocks tests).
    pub fn with_client(client: aws_sdk_s3::Client, loc: &S3Location) -> Self {
        S3Store {
            client,
            bucket: loc.bucket.clone(),
            kms_key_id: loc.kms_key_id.clone(),
            handle: tokio::runtime::Handle::current(),
            calls: Arc::default(),
        }
    }

    /// S3 calls made, by operation (`s3:PutObject` ...).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn count(&self, op: &str) {
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(format!("s3:{op}")).or_insert(0) += 1;
        }
    }

    fn block<F: Future>(&self, f: F) -> F::Output {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => tokio::task::block_in_place(|| self.handle.block_on(f)),
            Err(_) => self.handle.block_on(f),
        }
    }

    /// A warning when the bucket does not keep versions (they are the
    /// state's backups); `None` when it does, or when we may not ask.
    pub async fn versioning_warning(&self) -> Option<String> {
        self.count("GetBucketVersioning");
        match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) if out.status() == Some(&BucketVersioningStatus::Enabled) => None,
            Ok(_) => Some(format!(
                "versioning is off on bucket {}: a state overwritten by mistake cannot be recovered. Turn it on: aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled",
                self.bucket, self.bucket
            )),
            Err(e) => {
                tracing::debug!(error = %e.code().unwrap_or_default(), "cannot read the state bucket's versioning");
                None
            }
        }
    }
}

impl ObjectStore for S3Store {
    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, ObjectError> {
        self.count("GetObject");
        self.block(async {
            let out = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                    return Ok(None)
                }
                Err(e) => return Err(sdk_error("GetObject", e)),
            };
            let etag = out.e_tag().unwrap_or_default().to_string();
            let body = out
                .body
                .collect()
                .await
                .map_err(|e| ObjectError::Other(format!("s3:GetObject {key}: {e}")))?;
            Ok(Some((body.to_vec(), etag)))
        })
    }

    fn put(&self, key: &str, body: &[u8], pre: Precondition) -> Result<String, ObjectError> {
        self.count("PutObject");
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body.to_vec()));
        req = match &self.kms_key_id {
            Some(k) => req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k),
            None => req.server_side_encryption(ServerSideEncryption::Aes256),
        };
        req = match pre {
            Precondition::None => req,
            Precondition::Absent => req.if_none_match("*"),
            Precondition::Matches(etag) => req.if_match(etag),
        };
        self.block(async {
            match req.send().await {
                Ok(out) => Ok(out.e_tag().unwrap_or_default().to_string()),
                Err(e) if e.code() == Some("NoSuchKey") => Err(ObjectError::PreconditionFailed),
                Err(e) => Err(sdk_error("PutObject", e)),
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), ObjectError> {
        self.count("DeleteObject");
        self.block(async {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error("DeleteObject", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_smithy_mocks::{mock, RuleMode};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn loc(kms: Option<&str>) -> S3Location {
        S3Location {
            bucket: "acme-state".into(),
            key: "dev.tfstate".into(),
            region: Some("us-east-1".into()),
            kms_key_id: kms.map(String::from),
        }
    }

    fn precondition_failed() -> aws_smithy_runtime_api::http::Response {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(412).unwrap(),
            SdkBody::from(
                "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
            ),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn conditional_puts_send_the_headers_and_map_412() {
        let create = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                r.if_none_match() == Some("*")
                    && r.if_match().is_none()
                    && r.server_side_encryption() == Some(&ServerSideEncryption::Aes256)
            })
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
        let stale = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"e0\""))
            .then_http_response(precondition_failed);
        let fresh = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_match() == Some("\"e1\""))
            .then_output(|| PutObjectOutput::builder().e_tag("\"e2\"").build());
        let client = crate::mock_client!(
            aws_sdk_s3,
            "us-east-1",
            RuleMode::MatchAny,
            [&create, &stale, &fresh]
        );
        let s = S3Store::with_client(client, &loc(None));
        assert_eq!(s.put("k", b"{}", Precondition::Absent).unwrap(), "\"e1\"");
        assert!(matches!(
            s.put("k", b"{}", Precondition::Matches("\"e0\"".into())),
            Err(ObjectError::PreconditionFailed)
        ));
        assert_eq!(
            s.put("k", b"{}", Precondition::Matches("\"e1\"".into()))
                .unwrap(),
            "\"e2\""
        );
        assert_eq!(s.calls()["s3:PutObject"], 3);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn kms_key_means_sse_kms() {
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                r.server_side_encryption() == Some(&ServerSideEncryption::AwsKms)
                    && r.ssekms_key_id() == Some("alias/drctl-state")
            })
            .then_output(|| PutObjectOutput::builder().e_tag("\"e1\"").build());
        let client = crate::mock_client!(aws_sdk_s3, "us-east-1", RuleMode::MatchAny, [&put]);
        let s = S3Store::with_client(client, &loc(Some("alias/drctl-state")));
        s.put("k", b"{}", Precondition::None).unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_lease_protocol_over_mocked_s3_fails_a_second_locker() {
        use drctl_core::backend::StateBackend;
        use drctl_core::remote::{LeaseConfig, RemoteBackend};
        // The lock exists already (If-None-Match fails), and its holder is live.
        let holder = drctl_core::remote::LeaseHolder::this_process(
            "drctl apply",
            std::time::Duration::from_secs(600),
        );
        let body = serde_json::to_vec(&holder).unwrap();
        let create = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_http_response(precondition_failed);
        let read = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
                .e_tag("\"l1\"")
                .body(ByteStream::from(body.clone()))
                .build()
        });
        let client = crate::mock_client!(
            aws_sdk_s3,
            "us-east-1",
            RuleMode::MatchAny,
            [&create, &read]
        );
        let b = RemoteBackend::new(
            Arc::new(S3Store::with_client(client, &loc(None))),
            "dev.tfstate",
            LeaseConfig::with_lease(std::time::Duration::from_secs(60)),
        );
        let err = b
            .lock("drctl plan", std::time::Duration::ZERO)
            .unwrap_err()
            .to_string();
        assert!(err.contains("s3://acme-state/dev.tfstate"), "{err}");
        assert!(err.contains(&holder.id), "{err}");
    }
}

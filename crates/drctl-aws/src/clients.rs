//! SDK clients per service and region, built from one shared configuration.
//!
//! Emulator quirks (path-style S3, checksums only when required) are applied
//! here, and only when an endpoint is set. Every request passes through a
//! [`CallLog`] interceptor that counts calls by operation, so tests and
//! benchmarks can prove that a no-change apply makes no mutating call.

use crate::cache::ReadCache;
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use aws_types::SdkConfig;
use drctl_core::reconcile::ReconcileError;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Counts of API calls by `service:Operation`.
#[derive(Debug, Default)]
pub struct CallLog {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl CallLog {
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Whether an operation changes something (everything but reads).
    pub fn is_mutating(operation: &str) -> bool {
        let op = operation.rsplit(':').next().unwrap_or(operation);
        !["Describe", "Get", "List", "Head"]
            .iter()
            .any(|p| op.starts_with(p))
    }
}

/// Counts every call, and makes cached reads stale on every write.
#[derive(Debug, Clone)]
struct CallCounter {
    log: Arc<CallLog>,
    cache: Arc<ReadCache>,
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "drctl-call-log"
    }
    // Not `read_before_execution`: client interceptors run that before the
    // operation's config (which holds its `Metadata`) is in the bag, so
    // nothing was counted. Once per operation, not per retry attempt.
    fn read_before_serialization(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let key = format!("{}:{}", m.service(), m.name());
            if CallLog::is_mutating(&key) {
                self.cache.invalidate();
            }
            if let Ok(mut c) = self.log.counts.lock() {
                *c.entry(key).or_insert(0) += 1;
            }
        }
        Ok(())
    }
}

/// Where and how to reach AWS.
#[derive(Clone)]
pub struct Aws {
    base: SdkConfig,
    endpoint: Option<String>,
    calls: Arc<CallLog>,
    cache: Arc<ReadCache>,
    limits: Arc<BTreeMap<&'static str, Arc<Semaphore>>>,
    /// One client per service and region for the whole run: a client built
    /// without an explicit HTTP client gets a new connection pool of its
    /// own, so building one per call would reconnect (and redo TLS) each time.
    clients: Arc<Mutex<ClientMap>>,
    /// The account id, asked once per run (bucket names and ARNs contain it).
    account: Arc<tokio::sync::OnceCell<String>>,
    /// Ids whose create answer already said they were ready (see
    /// [`Aws::note_ready_at_create`]).
    ready_at_create: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

type ClientMap = BTreeMap<(&'static str, String), Box<dyn std::any::Any + Send + Sync>>;

/// At most this many calls in flight per service (Route53 throttles hard).
const SERVICE_LIMITS: &[(&str, usize)] = &[("route53", 2), ("iam", 4), ("default", 8)];

macro_rules! client {
    ($fn:ident, $krate:ident) => {
        pub fn $fn(&self, region: &str) -> $krate::Client {
            self.shared(stringify!($fn), region, || {
                let mut b = $krate::config::Builder::from(&self.base)
                    .region(Region::new(region.to_string()))
                    .interceptor(self.counter());
                if let Some(e) = &self.endpoint {
                    b = b.endpoint_url(e);
                }
                $krate::Client::from_conf(b.build())
            })
        }
    };
}

impl Aws {
    /// Loads the standard credential chain (env, `AWS_PROFILE`, SSO, ...).
    /// `endpoint` (or `AWS_ENDPOINT_URL`) points every service elsewhere,
    /// e.g. at LocalStack.
    pub async fn load(endpoint: Option<String>) -> Self {
        let endpoint = endpoint
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .filter(|e| !e.is_empty());
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(shared_https_client())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
        if let Some(e) = &endpoint {
            loader = loader
                .endpoint_url(e)
                .request_checksum_calculation(
                    aws_smithy_types::checksum_config::RequestChecksumCalculation::WhenRequired,
                )
                .response_checksum_validation(
                    aws_smithy_types::checksum_config::ResponseChecksumValidation::WhenRequired,
                );
        }
        Self::from_config(loader.load().await, endpoint)
    }

    /// From a ready configuration (tests pass one with mock clients' settings).
    pub fn from_config(base: SdkConfig, endpoint: Option<String>) -> Self {
        let limits = SERVICE_LIMITS
            .iter()
            .map(|(s, n)| (*s, Arc::new(Semaphore::new(*n))))
            .collect();
        Aws {
            base,
            endpoint,
            calls: Arc::default(),
            cache: Arc::default(),
            limits: Arc::new(limits),
            clients: Arc::default(),
            account: Arc::default(),
            ready_at_create: Arc::default(),
        }
    }

    /// Records that the create answer for `id` already gave the state its
    /// waiter polls for (a subnet or VPC `available`, a table `ACTIVE`), so
    /// the waiter need not ask again: [`Aws::take_ready_at_create`].
    pub fn note_ready_at_create(&self, id: &str) {
        if let Ok(mut ready) = self.ready_at_create.lock() {
            ready.insert(id.to_string());
        }
    }

    /// Whether `id`'s create answer said it was ready (asked once: the note
    /// is removed, so a later wait on the same id polls).
    pub fn take_ready_at_create(&self, id: &str) -> bool {
        self.ready_at_create
            .lock()
            .map(|mut ready| ready.remove(id))
            .unwrap_or(false)
    }

    /// The run's client for `service` in `region`, built by `build` the first time.
    fn shared<C: Clone + Send + Sync + 'static>(
        &self,
        service: &'static str,
        region: &str,
        build: impl FnOnce() -> C,
    ) -> C {
        let key = (service, region.to_string());
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key).and_then(|c| c.downcast_ref::<C>()) {
            return c.clone();
        }
        let c = build();
        clients.insert(key, Box::new(c.clone()));
        c
    }

    /// Tests: `client` answers for `service` (the accessor's name, `"ec2"`)
    /// in `region`, so code that takes an `Aws` can run against mocks.
    #[cfg(test)]
    pub(crate) fn use_client<C: Clone + Send + Sync + 'static>(
        &self,
        service: &'static str,
        region: &str,
        client: C,
    ) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.insert((service, region.to_string()), Box::new(client));
    }

    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    pub fn calls(&self) -> &CallLog {
        &self.calls
    }

    /// Reads shared by the reconcilers of this run (see [`ReadCache`]).
    pub fn cache(&self) -> &ReadCache {
        &self.cache
    }

    /// Starts a new run: nothing an earlier plan read is reused. The CLI
    /// makes one `Aws` per command; a caller that keeps one across plans
    /// calls this before each, or it would miss what others changed since.
    pub fn forget_reads(&self) {
        self.cache.invalidate();
    }

    fn counter(&self) -> CallCounter {
        CallCounter {
            log: self.calls.clone(),
            cache: self.cache.clone(),
        }
    }

    /// Region for global services (IAM, Route53, STS).
    pub fn global_region(&self) -> &'static str {
        "us-east-1"
    }

    /// Holds one of the service's concurrency slots until dropped.
    pub async fn permit(&self, service: &str) -> tokio::sync::OwnedSemaphorePermit {
        let sem = self
            .limits
            .get(service)
            .or_else(|| self.limits.get("default"))
            .cloned()
            .unwrap_or_else(|| Arc::new(Semaphore::new(1)));
        // The semaphores are never closed, so acquiring cannot fail.
        match sem.acquire_owned().await {
            Ok(p) => p,
            Err(_) => unreachable!("drctl never closes its semaphores"),
        }
    }

    client!(ec2, aws_sdk_ec2);
    client!(elbv2, aws_sdk_elasticloadbalancingv2);
    client!(autoscaling, aws_sdk_autoscaling);
    client!(iam, aws_sdk_iam);
    client!(rds, aws_sdk_rds);
    client!(dynamodb, aws_sdk_dynamodb);
    client!(secretsmanager, aws_sdk_secretsmanager);
    client!(route53, aws_sdk_route53);
    client!(sns, aws_sdk_sns);
    client!(cloudwatch, aws_sdk_cloudwatch);
    client!(sts, aws_sdk_sts);
    client!(tagging, aws_sdk_resourcegroupstagging);

    pub fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        self.shared("s3", region, || {
            let mut b = aws_sdk_s3::config::Builder::from(&self.base)
                .region(Region::new(region.to_string()))
                .interceptor(self.counter());
            if let Some(e) = &self.endpoint {
                // Emulators serve buckets by path, not by virtual host.
                b = b.endpoint_url(e).force_path_style(true);
            }
            aws_sdk_s3::Client::from_conf(b.build())
        })
    }

    /// An S3 client outside the call log and read cache: for the state
    /// backend, which counts its own calls (see `s3_state`).
    pub fn s3_uncounted(&self, region: &str) -> aws_sdk_s3::Client {
        let mut b =
            aws_sdk_s3::config::Builder::from(&self.base).region(Region::new(region.to_string()));
        if let Some(e) = &self.endpoint {
            b = b.endpoint_url(e).force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(b.build())
    }

    /// The region of the credential chain's settings (AWS_REGION, profile), if any.
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(|r| r.to_string())
    }

    /// The account id (STS GetCallerIdentity; bucket names and ARNs contain
    /// it), asked once per `Aws` (errors are not kept: the next caller asks
    /// again). It is the first call of every run, so its errors say what to
    /// fix in one sentence: no credentials, credentials refused, endpoint
    /// unreachable.
    pub async fn account_id(&self) -> Result<String, ReconcileError> {
        self.account
            .get_or_try_init(|| self.ask_account_id())
            .await
            .cloned()
    }

    async fn ask_account_id(&self) -> Result<String, ReconcileError> {
        let out = self
            .sts(self.global_region())
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                self.first_call_error(crate::errors::api_error("sts:GetCallerIdentity", e))
            })?;
        out.account()
            .map(str::to_string)
            .ok_or_else(|| ReconcileError::Internal("GetCallerIdentity returned no account".into()))
    }

    /// The SDK's text for these is a page of nested debug output.
    fn first_call_error(&self, err: ReconcileError) -> ReconcileError {
        let text = err.to_string();
        let where_ = match &self.endpoint {
            Some(e) => format!("the endpoint {e} (from --endpoint or AWS_ENDPOINT_URL)"),
            None => "AWS STS".into(),
        };
        let invalid = ReconcileError::Environment;
        // The chain's cause (a profile not defined, IMDS refusing) when the
        // SDK gave one; its generic texts add nothing.
        let what = match &err {
            ReconcileError::Api { code, message, .. } if code == crate::errors::CREDENTIALS => {
                Some(message.clone())
            }
            _ if text.contains("loading credentials") || text.contains("no credentials found") => {
                Some("no usable AWS credentials".to_string())
            }
            _ => None,
        };
        if let Some(what) = what {
            return invalid(format!(
                "{what}: set AWS_PROFILE (SSO profiles work), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where a role is available; for LocalStack pass --endpoint URL with any test keys"
            ));
        }
        match &err {
            ReconcileError::Api { code, message, .. } if code == "Transport" => {
                let cause = [
                    ("onnection refused", "connection refused"),
                    ("dns error", "the host name does not resolve"),
                    ("failed to lookup address", "the host name does not resolve"),
                    ("timed out", "timed out"),
                    ("certificate", "TLS certificate rejected"),
                ]
                .iter()
                .find(|(needle, _)| message.contains(needle))
                .map_or("no answer", |(_, c)| c);
                invalid(format!(
                    "cannot reach {where_}: {cause}. Check the URL and that the service (or the LocalStack emulator) is running and reachable; nothing was changed"
                ))
            }
            ReconcileError::Api { code, message, .. }
                if [
                    "InvalidClientTokenId",
                    "SignatureDoesNotMatch",
                    "ExpiredToken",
                    "ExpiredTokenException",
                    "AccessDenied",
                    "InvalidAccessKeyId",
                    "UnrecognizedClientException",
                    "AuthFailure",
                ]
                .contains(&code.as_str()) =>
            {
                invalid(format!(
                    "{where_} rejected the credentials ({code}: {message}). Check AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and renew an expired session (e.g. `aws sso login`); nothing was changed"
                ))
            }
            _ => err,
        }
    }

    /// The region a resource lives in (global services use [`Self::global_region`]).
    pub fn region_of<'a>(&self, spec: &'a drctl_core::model::ResourceSpec) -> &'a str {
        spec.region.as_deref().unwrap_or("us-east-1")
    }
}

/// The one HTTPS client of a run, set on the shared [`SdkConfig`] so that every
/// SDK client built from it (each service, each region, the credential
/// providers) uses it: one TLS configuration and root store, one connection
/// pool (idle connections are reused across services on the same host, e.g.
/// an emulator). Without it each SDK client builds the SDK's default client
/// for itself: 20-odd TLS configurations, root stores and pools per run.
///
/// It is that default, built once: hyper 1 with rustls on aws-lc, the proxy
/// from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (as the default does from
/// behaviour version 2025-08-07), the connect and read timeouts and the
/// sleep of each SDK client's settings (connectors are cached per settings).
/// Source: `aws-smithy-runtime` 1.x, `client::http::default_https_client`.
fn shared_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_http_client::{proxy::ProxyConfig, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    })
}

/// `aws`, or the partition of the China and GovCloud regions.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_ready_note_is_taken_once() {
        let aws = Aws::from_config(SdkConfig::builder().build(), None);
        assert!(!aws.take_ready_at_create("subnet-1"));
        aws.note_ready_at_create("subnet-1");
        let other = aws.clone();
        assert!(other.take_ready_at_create("subnet-1"), "shared by clones");
        assert!(!aws.take_ready_at_create("subnet-1"), "a later wait polls");
    }

    use super::*;

    /// What the first call of a run says about its environment is an
    /// [`ReconcileError::Environment`] (the CLI reports it as the user's to
    /// fix), never an internal error; any other answer passes through.
    #[test]
    fn refused_credentials_and_no_answer_are_environment_errors() {
        let aws = Aws::from_config(
            SdkConfig::builder().build(),
            Some("http://127.0.0.1:9".into()),
        );
        let api = |code: &str, message: &str| ReconcileError::Api {
            operation: "sts:GetCallerIdentity".into(),
            class: drctl_core::reconcile::ErrorClass::Fatal,
            code: code.into(),
            message: message.into(),
        };
        let refused = aws.first_call_error(api("InvalidClientTokenId", "bad token"));
        assert!(
            matches!(&refused, ReconcileError::Environment(m) if m.contains("rejected the credentials")),
            "{refused:?}"
        );
        let unreachable =
            aws.first_call_error(api("Transport", "tcp connect error: Connection refused"));
        assert!(
            matches!(&unreachable, ReconcileError::Environment(m)
                if m.contains("cannot reach the endpoint http://127.0.0.1:9") && m.contains("connection refused")),
            "{unreachable:?}"
        );
        let other = api("Throttling", "slow down");
        assert_eq!(aws.first_call_error(other.clone()), other);
    }

    /// One client per service and region: the second call reuses the first
    /// (and with it its connection pool).
    #[test]
    fn clients_are_built_once_per_service_and_region() {
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let aws = Aws::from_config(base, Some("http://127.0.0.1:9".into()));
        let _ = aws.ec2("us-east-1");
        let _ = aws.ec2("us-east-1");
        let _ = aws.ec2("us-west-2");
        let _ = aws.clone().s3("us-east-1");
        let keys: Vec<(&str, String)> = aws.clients.lock().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            vec![
                ("ec2", "us-east-1".to_string()),
                ("ec2", "us-west-2".to_string()),
                ("s3", "us-east-1".to_string()),
            ]
        );
    }
}

#[cfg(test)]
mod sharing {
    use super::*;

    /// The loaded configuration carries an HTTP client, and the SDK clients
    /// built from it are configured with it: without one there, each SDK
    /// client's config has none and its runtime builds a default client of
    /// its own (both asserts fail on the code before sharing).
    #[tokio::test]
    async fn every_sdk_client_is_given_the_shared_http_client() {
        let aws = Aws::load(Some("http://127.0.0.1:9".into())).await;
        assert!(aws.base.http_client().is_some(), "set on the shared config");
        assert!(aws.ec2("us-east-1").config().http_client().is_some());
        assert!(aws.s3("us-west-2").config().http_client().is_some());
        assert!(aws
            .s3_uncounted("us-west-2")
            .config()
            .http_client()
            .is_some());
    }
}

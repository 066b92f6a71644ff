//! One table that classifies AWS error codes, used by every reconciler.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use drctl_core::reconcile::{ErrorClass, ReconcileError};

/// `code` matches exactly, or as a suffix when it starts with `*`; `message`
/// (if any) must appear in the error message. First match wins.
struct Rule {
    code: &'static str,
    message: Option<&'static str>,
    class: ErrorClass,
}

const fn rule(code: &'static str, class: ErrorClass) -> Rule {
    Rule {
        code,
        message: None,
        class,
    }
}

const fn rule_msg(code: &'static str, message: &'static str, class: ErrorClass) -> Rule {
    Rule {
        code,
        message: Some(message),
        class,
    }
}

use ErrorClass::*;

const RULES: &[Rule] = &[
    // IAM eventual consistency: a fresh instance profile or role is rejected
    // for up to ~2 minutes (terraform#1885, terraform-provider-aws#5217).
    rule_msg(
        "InvalidParameterValue",
        "Invalid IAM Instance Profile",
        Retryable,
    ),
    rule_msg("ValidationError", "Invalid IamInstanceProfile", Retryable),
    // CreateAutoScalingGroup / UpdateAutoScalingGroup: "You must use a valid
    // fully-formed launch template. Value (...) for parameter
    // iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
    // (or "... ARN"; terraform-provider-aws#4769, #24910, #29866).
    rule_msg("ValidationError", "Invalid IAM Instance Profile", Retryable),
    rule_msg("ValidationError", "instance profile", Retryable),
    rule_msg("InvalidRequest", "role", Retryable),
    rule_msg("InvalidArgument", "Role", Retryable),
    // DynamoDB uses one code for "exists" and "busy".
    rule_msg("ResourceInUseException", "already exists", AlreadyExists),
    rule_msg(
        "ResourceInUseException",
        "Table already exists",
        AlreadyExists,
    ),
    rule("ResourceInUseException", Retryable),
    // Autoscaling "not found" comes as a ValidationError.
    rule_msg("ValidationError", "not found", NotFound),
    rule_msg("ValidationError", "does not exist", NotFound),
    rule_msg("InvalidParameterValue", "does not exist", NotFound),
    // Secrets Manager keeps a deleted secret's name for its recovery window.
    rule_msg(
        "InvalidRequestException",
        "scheduled for deletion",
        AlreadyExists,
    ),
    rule("Throttling", Throttled),
    rule("ThrottlingException", Throttled),
    rule("ThrottledException", Throttled),
    rule("RequestLimitExceeded", Throttled),
    rule("TooManyRequestsException", Throttled),
    rule("PriorRequestNotComplete", Throttled),
    rule("SlowDown", Throttled),
    rule("RequestThrottled", Throttled),
    rule("ProvisionedThroughputExceededException", Throttled),
    rule("Gateway.NotAttached", NotFound),
    rule("*.NotFound", NotFound),
    rule("*.NotFoundException", NotFound),
    rule("*NotFound", NotFound),
    rule("*NotFoundException", NotFound),
    rule("*NotFoundFault", NotFound),
    rule("*NotFoundError", NotFound),
    rule("NoSuchEntity", NotFound),
    rule("NoSuchBucket", NotFound),
    rule("NoSuchKey", NotFound),
    rule("NoSuchHostedZone", NotFound),
    rule("NoSuchHealthCheck", NotFound),
    rule("NoSuchBucketPolicy", NotFound),
    rule("ServerSideEncryptionConfigurationNotFoundError", NotFound),
    rule("NoSuchPublicAccessBlockConfiguration", NotFound),
    rule("InvalidAllocationID.NotFound", NotFound),
    // AddRoleToInstanceProfile on a profile that already holds a role (the
    // quota is 1): after a lost answer, the SDK's repeat meets the role the
    // first attempt added. The executor re-reads and adopts (recover.rs).
    rule_msg(
        "LimitExceeded",
        "InstanceSessionsPerInstanceProfile",
        AlreadyExists,
    ),
    // UpdateTable ReplicaUpdates Create of a replica that exists (AWS's
    // answer; a repeat after a lost answer meets it).
    rule_msg(
        "ValidationException",
        "replicas already existed",
        AlreadyExists,
    ),
    // UpdateTable ReplicaUpdates Delete of a replica that is gone already
    // (a repeat after a lost answer meets it): nothing left to delete.
    rule_msg(
        "ValidationException",
        "replicas were not part of the global table",
        NotFound,
    ),
    rule("EntityAlreadyExists", AlreadyExists),
    rule("BucketAlreadyOwnedByYou", AlreadyExists),
    rule("ResourceExistsException", AlreadyExists),
    rule("AlreadyExists", AlreadyExists),
    rule("AlreadyExistsFault", AlreadyExists),
    rule("*AlreadyExists", AlreadyExists),
    rule("*AlreadyExistsFault", AlreadyExists),
    rule("*AlreadyExistsException", AlreadyExists),
    rule("*.Duplicate", AlreadyExists),
    rule("DuplicateLoadBalancerName", AlreadyExists),
    rule("DuplicateTargetGroupName", AlreadyExists),
    rule("DuplicateListener", AlreadyExists),
    rule("HostedZoneAlreadyExists", AlreadyExists),
    rule("HealthCheckAlreadyExists", AlreadyExists),
    rule("Resource.AlreadyAssociated", AlreadyExists),
    rule("DependencyViolation", DependencyViolation),
    rule("DeleteConflict", DependencyViolation),
    rule("ResourceInUse", DependencyViolation),
    rule("InvalidDBSubnetGroupStateFault", DependencyViolation),
    rule("HostedZoneNotEmpty", DependencyViolation),
    rule("BucketNotEmpty", DependencyViolation),
    rule("HealthCheckInUse", DependencyViolation),
    // Route53 DELETE needs a record's exact current values: when it changed
    // (or went) between drctl's read and the delete, re-read and retry.
    rule_msg("InvalidChangeBatch", "but it was not found", Retryable),
    rule_msg(
        "InvalidChangeBatch",
        "values provided do not match",
        Retryable,
    ),
    rule("InvalidIPAddress.InUse", DependencyViolation),
    // ReleaseAddress answers this while a NAT gateway being deleted still
    // holds the EIP (terraform-provider-aws); only deletes wait on the class.
    rule_msg(
        "AuthFailure",
        "permission to access the specified resource",
        DependencyViolation,
    ),
    // PITR cannot be set for a while after a table or replica turns ACTIVE.
    rule("ContinuousBackupsUnavailableException", Retryable),
    // A bucket without tags answers NoSuchTagSet: no tags, not a missing bucket.
    rule("NoSuchTagSet", NotFound),
    // Auto Scaling: another change to the group is under way.
    rule("ScalingActivityInProgress", Retryable),
    rule("ResourceContention", Throttled),
    rule("InvalidDBInstanceState", Retryable),
    rule("InvalidDBInstanceStateFault", Retryable),
    rule("IncorrectState", Retryable),
    rule("IncorrectInstanceState", Retryable),
    rule("OperationAborted", Retryable),
    rule("ConflictingDomainExists", Fatal),
    rule("InternalError", Retryable),
    rule("InternalFailure", Retryable),
    rule("InternalServerError", Retryable),
    rule("ServiceUnavailable", Retryable),
    // EC2's 503 ("The server is overloaded").
    rule("Unavailable", Retryable),
    rule("RequestTimeout", Retryable),
    rule("RequestExpired", Retryable),
];

/// The class of an AWS error code (and message).
pub fn classify(code: &str, message: &str) -> ErrorClass {
    for r in RULES {
        let code_matches = match r.code.strip_prefix('*') {
            Some(suffix) => code.ends_with(suffix),
            None => code == r.code,
        };
        if code_matches && r.message.is_none_or(|m| message.contains(m)) {
            return r.class;
        }
    }
    Fatal
}

/// Turns any SDK error into a classified [`ReconcileError`].
pub fn api_error<E, R>(operation: &str, err: SdkError<E, R>) -> ReconcileError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("Unknown").to_string();
            let message = err.message().unwrap_or("").to_string();
            ReconcileError::Api {
                operation: operation.into(),
                class: classify(&code, &message),
                code,
                message,
            }
        }
        // The credential chain found nothing usable (no keys, no profile,
        // IMDS refusing or absent): not the request's fault, and said so.
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
            if std::error::Error::source(&err).is_some_and(credentials_error) =>
        {
            ReconcileError::Api {
                operation: operation.into(),
                class: Fatal,
                code: CREDENTIALS.into(),
                message: credentials_message(std::error::Error::source(&err).map(root_cause)),
            }
        }
        SdkError::DispatchFailure(d) if !d.as_connector_error().is_some_and(transient) => {
            ReconcileError::Api {
                operation: operation.into(),
                class: Fatal,
                code: "Client".into(),
                message: format!(
                    "the request could not be sent: {}. This is not a network failure, so it was not retried; check the id or value given",
                    d.as_connector_error()
                        .map(|c| root_cause(c))
                        .unwrap_or_else(|| "no cause given".into())
                ),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ReconcileError::Api {
                operation: operation.into(),
                class: Retryable,
                code: "Transport".into(),
                message: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
            }
        }
        _ => ReconcileError::Api {
            operation: operation.into(),
            class: Fatal,
            code: "Client".into(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
        },
    }
}

/// Whether a request that got no answer may get one when sent again: the
/// SDK's own rule (a timeout, an I/O error, or a kind the connector marked
/// transient). Anything else (the endpoint could not be resolved from the
/// input, e.g. a bucket named `arn:aws:s3:::x`; a request the client
/// refused) fails the same way every time.
fn transient(e: &aws_smithy_runtime_api::client::result::ConnectorError) -> bool {
    e.is_timeout() || e.is_io() || e.as_other().is_some()
}

/// The innermost message of an error's source chain: what went wrong,
/// without the SDK's layers around it.
/// The code [`api_error`] gives a call the credential chain could not sign
/// (see [`credentials_error`]).
pub const CREDENTIALS: &str = "Credentials";

/// "no usable AWS credentials", with the chain's cause when it names one
/// (IMDS refusing, a profile's fault); the chain's list of providers that
/// were not set up says only that nothing was.
fn credentials_message(cause: Option<String>) -> String {
    match cause {
        Some(c) if !c.contains('\n') && !c.contains("not enabled") && !c.is_empty() => {
            format!("no usable AWS credentials ({})", c.trim_end_matches('.'))
        }
        _ => "no usable AWS credentials".into(),
    }
}

/// Whether `err` is, or wraps, the credential chain's own error.
fn credentials_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut e = Some(err);
    while let Some(x) = e {
        if x.is::<aws_credential_types::provider::error::CredentialsError>() {
            return true;
        }
        e = x.source();
    }
    false
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

/// `Ok(None)` for a not-found error, the value otherwise.
pub fn found<T>(r: Result<T, ReconcileError>) -> Result<Option<T>, ReconcileError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.class() == NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(())` when the thing to delete is already gone.
pub fn gone(r: Result<(), ReconcileError>) -> Result<(), ReconcileError> {
    found(r).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain's one-line cause is kept; its list of providers that were
    /// not set up is not (it would be a page on the terminal).
    #[test]
    fn a_credentials_error_names_its_cause_in_one_line() {
        assert_eq!(
            credentials_message(Some("request forbidden: IMDS is disabled.".into())),
            "no usable AWS credentials (request forbidden: IMDS is disabled)"
        );
        let list = "no providers in chain provided credentials:\n  Environment: the credential provider was not enabled";
        assert_eq!(
            credentials_message(Some(list.into())),
            "no usable AWS credentials"
        );
        assert_eq!(credentials_message(None), "no usable AWS credentials");
    }

    #[test]
    fn the_table_classifies_the_codes_the_emulator_and_aws_answer() {
        let cases = [
            ("InvalidVpcID.NotFound", "", NotFound),
            ("InvalidGroup.NotFound", "", NotFound),
            ("InvalidLaunchTemplateName.NotFoundException", "", NotFound),
            ("Gateway.NotAttached", "", NotFound),
            ("LoadBalancerNotFound", "", NotFound),
            ("DBInstanceNotFound", "", NotFound),
            ("DBSubnetGroupNotFoundFault", "", NotFound),
            ("ResourceNotFoundException", "", NotFound),
            ("TableNotFoundException", "", NotFound),
            ("NoSuchEntity", "", NotFound),
            ("ReplicationConfigurationNotFoundError", "", NotFound),
            ("ContinuousBackupsUnavailableException", "", Retryable),
            ("NoSuchTagSet", "", NotFound),
            ("ValidationError", "AutoScalingGroup name not found", NotFound),
            ("Throttling", "Rate exceeded", Throttled),
            ("RequestLimitExceeded", "", Throttled),
            ("EntityAlreadyExists", "", AlreadyExists),
            ("ValidationException", "Failed to create a new replica of table with name: 't' because one or more replicas already existed as tables.", AlreadyExists),
            ("ValidationException", "Update global table operation failed because one or more replicas were not part of the global table.", NotFound),
            ("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1", AlreadyExists),
            ("LimitExceeded", "Cannot exceed quota for RolesPerAccount: 1000", Fatal),
            ("InvalidGroup.Duplicate", "", AlreadyExists),
            ("ResourceInUseException", "Table already exists: x", AlreadyExists),
            ("ResourceInUseException", "Attempt to change a resource which is still in use", Retryable),
            ("InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.", AlreadyExists),
            ("DependencyViolation", "has some mapped public address(es)", DependencyViolation),
            ("DeleteConflict", "", DependencyViolation),
            ("HostedZoneNotEmpty", "", DependencyViolation),
            ("PriorRequestNotComplete", "", Throttled),
            ("InvalidChangeBatch", "Tried to delete resource record set [name='a.', type='A', set-identifier='x'] but it was not found", Retryable),
            ("InvalidChangeBatch", "Tried to delete resource record set [name='a.', type='A'] but the values provided do not match the current values", Retryable),
            ("InvalidChangeBatch", "RRSet of type CNAME with DNS name a. is not permitted", Fatal),
            ("AuthFailure", "You do not have permission to access the specified resource.", DependencyViolation),
            ("InvalidParameterValue", "Value (trading-ec2-profile-dev) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", Retryable),
            ("ValidationError", "You must use a valid fully-formed launch template. Value (trading-ec2-profile-dev) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", Retryable),
            ("ValidationError", "You must use a valid fully-formed launch template. Value (arn:aws:iam::1:instance-profile/p) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", Retryable),
            ("InternalError", "", Retryable),
            ("AccessDenied", "", Fatal),
            ("InvalidParameterValue", "bad cidr", Fatal),
        ];
        for (code, msg, class) in cases {
            assert_eq!(classify(code, msg), class, "{code}: {msg}");
        }
    }

    #[tokio::test]
    async fn a_request_that_cannot_be_sent_is_fatal_at_once_with_its_cause() {
        // A bucket "name" that is an ARN: S3's endpoint rules fail on it
        // before anything is sent (issue 14, finding A).
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(conf);
        let err = s3
            .head_bucket()
            .bucket("arn:aws:s3:::trading-data")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, SdkError::DispatchFailure(_)), "{err:?}");
        let e = api_error("s3:HeadBucket", err);
        assert_eq!(e.class(), Fatal, "{e}");
        let text = e.to_string();
        assert!(
            text.starts_with("s3:HeadBucket: Client: the request could not be sent: "),
            "{text}"
        );
        assert!(
            !text.contains("Interceptor") && !text.contains("dispatch failure"),
            "{text}"
        );

        let io = aws_smithy_runtime_api::client::result::ConnectorError::io("refused".into());
        let timeout =
            aws_smithy_runtime_api::client::result::ConnectorError::timeout("slow".into());
        let user = aws_smithy_runtime_api::client::result::ConnectorError::user("bad".into());
        assert!(transient(&io) && transient(&timeout) && !transient(&user));
    }
}

//! The AWS side of `drctl drill` ([`drctl_core::drill::DrillCloud`]): one
//! file per concern.
//! - [`topology`]: which resources the drill touches, from the state.
//! - [`readiness`]: read-only checks of the secondary and the replication.
//! - [`canaries`]: marker item and object written to the primary stores.
//! - [`inject`]: the failure methods and their exact undo.
//! - [`observe`]: health check status, DNS answer, secondary target health.

pub mod canaries;
pub mod inject;
pub mod observe;
pub mod readiness;
pub mod topology;

use crate::errors::api_error;
use crate::Aws;
use async_trait::async_trait;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use drctl_core::drill::{Canary, Check, DrillCloud, DrillError, Injection, Method, Observation};
pub use topology::Topology;

/// Runs a drill's AWS calls for one env.
pub struct AwsDrill {
    pub aws: Aws,
    pub topology: Topology,
    dns: observe::AlbAddresses,
}

impl AwsDrill {
    pub fn new(aws: Aws, topology: Topology) -> Self {
        AwsDrill {
            aws,
            topology,
            dns: Default::default(),
        }
    }
}

/// An SDK error as a drill error, with the operation, code and message.
pub(crate) fn cloud_err<E, R>(operation: &str, err: SdkError<E, R>) -> DrillError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DrillError::Cloud(api_error(operation, err).to_string())
}

/// True for an error the classification table calls "not found".
pub(crate) fn is_not_found<E, R>(operation: &str, err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(_) => {
            let code = err.code().unwrap_or("");
            let message = err.message().unwrap_or("");
            let _ = operation;
            crate::errors::classify(code, message) == drctl_core::reconcile::ErrorClass::NotFound
        }
        _ => false,
    }
}

#[async_trait]
impl DrillCloud for AwsDrill {
    async fn readiness(&self) -> Result<Vec<Check>, DrillError> {
        readiness::checks(self).await
    }
    fn canaries(&self, drill_id: &str) -> Vec<Canary> {
        canaries::names(&self.topology, drill_id)
    }
    async fn write_canary(&self, canary: &Canary, body: &str) -> Result<(), DrillError> {
        canaries::write(&self.aws, canary, body).await
    }
    async fn canary_replicated(&self, canary: &Canary) -> Result<bool, DrillError> {
        canaries::replicated(&self.aws, canary).await
    }
    async fn delete_canary(&self, canary: &Canary) -> Result<(), DrillError> {
        canaries::delete(&self.aws, canary).await
    }
    async fn prior(&self, method: Method) -> Result<Injection, DrillError> {
        inject::prior(&self.aws, &self.topology, method).await
    }
    async fn inject(&self, prior: &Injection) -> Result<(), DrillError> {
        inject::inject(&self.aws, prior).await
    }
    async fn restore(&self, prior: &Injection) -> Result<(), DrillError> {
        inject::restore(&self.aws, prior).await
    }
    async fn observe(&self) -> Result<Observation, DrillError> {
        observe::observe(&self.aws, &self.topology, &self.dns).await
    }
}

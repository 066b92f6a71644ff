//! `secretsmanager:secret` — the DB master password secret of one region
//! (`trading-db-password-{env}`), JSON `{"password": "<32 random chars>"}`.
//!
//! Found by ARN (the physical id), else by name (secret names are unique per
//! region); ownership from the secret's tags.
//! Props: [`SecretProps`] (settings only, never the value). Attrs: `arn`,
//! `name`.
//!
//! Caveats:
//! - The password is generated once, registered with
//!   [`drctl_core::secrets::register`] before anything else sees it, and only
//!   ever sent in the CreateSecret call: it is never in props, attrs, logs or
//!   errors. Re-applying never rotates it (an existing secret is found).
//! - A secret that is only *scheduled for deletion* (DescribeSecret has a
//!   `DeletedDate`) still holds its name. `read` reports it as
//!   [`ReadOutcome::Restorable`], so the plan shows `+ create` (with
//!   "deleted outside of drctl" when the state knew it) while its ARN stays
//!   known to dependents (no spurious `~` on the DB); `create` then gets "already scheduled for deletion" and
//!   restores it with RestoreSecret instead of making a new one: same ARN,
//!   same password. One not owned by this env is a clash at plan time.
//! - Delete: `force_delete_without_recovery` → ForceDeleteWithoutRecovery
//!   (the name is free at once, for test envs), else a 7-day recovery window.

use crate::errors::{found, gone};
use crate::retry::{call, Policy};
use crate::tags::{check_owned, with_tags, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;
use aws_sdk_secretsmanager::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ErrorClass, ReconcileError, Reconciler};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `secretsmanager:secret` compares: the blueprint's props. Only
/// non-secret settings: the value is generated in `create` and never held
/// here (nor in any props, attrs or plan).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretProps {
    /// Free text. In place (UpdateSecret, no new version).
    pub description: String,
    /// Delete at once instead of after a 7-day recovery window (the plan's
    /// `secret_force_delete`). An option of delete, echoed from the spec so
    /// it never shows as a change.
    pub force_delete_without_recovery: bool,
}

pub struct SecretReconciler {
    pub aws: Aws,
}

impl SecretReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// Characters of generated passwords: RDS refuses `/`, `@`, `"` and space;
/// quotes, backslashes and backticks are left out too so the value survives
/// shells and option files unquoted.
const PASSWORD_CHARS: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%^*+-=_~";
pub const PASSWORD_LEN: usize = 32;

/// A new random password, registered as secret before it is returned.
pub fn generate_password() -> String {
    let mut rng = rand::thread_rng();
    let password: String = (0..PASSWORD_LEN)
        .map(|_| PASSWORD_CHARS[rng.gen_range(0..PASSWORD_CHARS.len())] as char)
        .collect();
    drctl_core::secrets::register(&password);
    password
}

fn sm_tags(spec: &ResourceSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn from_sm(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect()
}

/// `force_delete_without_recovery` only matters to delete; it is echoed from
/// the spec so that it never shows as a change.
fn force_delete(spec: &ResourceSpec) -> bool {
    spec.props
        .get("force_delete_without_recovery")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

fn observed(spec: &ResourceSpec, d: &DescribeSecretOutput) -> Result<Observed, ReconcileError> {
    let arn = d.arn().ok_or_else(|| {
        ReconcileError::Internal(format!("DescribeSecret of {} returned no ARN", spec.name))
    })?;
    let name = d.name().unwrap_or(&spec.name);
    Ok(Observed {
        id: arn.to_string(),
        props: props::to_props(&SecretProps {
            description: d.description().unwrap_or("").to_string(),
            force_delete_without_recovery: force_delete(spec),
        }),
        attrs: props::from_json(json!({"arn": arn, "name": name})),
    })
}

async fn describe(sm: &Client, id: &str) -> Result<Option<DescribeSecretOutput>, ReconcileError> {
    found(
        call("secretsmanager:DescribeSecret", Policy::TRANSIENT, || {
            sm.describe_secret().secret_id(id).send()
        })
        .await,
    )
}

/// Read: by ARN or name. A secret pending deletion is restorable for drctl
/// (see the module doc) unless another env owns it.
async fn read_secret(
    sm: &Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let Some(d) = describe(sm, known_id.unwrap_or(&spec.name)).await? else {
        return Ok(ReadOutcome::NotFound);
    };
    let id = d.arn().unwrap_or(&spec.name).to_string();
    let outcome = check_owned(cx, spec, &id, &from_sm(d.tags()), Observed::default);
    match outcome {
        // `create` restores it: same ARN, same password.
        ReadOutcome::Found(_) if d.deleted_date().is_some() => {
            Ok(ReadOutcome::Restorable(observed(spec, &d)?))
        }
        ReadOutcome::Found(_) => Ok(ReadOutcome::Found(with_tags(
            observed(spec, &d)?,
            &from_sm(d.tags()),
        ))),
        ReadOutcome::Clash { id, detail } if d.deleted_date().is_some() => Ok(ReadOutcome::Clash {
            id,
            detail: format!("{detail}; it is scheduled for deletion"),
        }),
        other => Ok(other),
    }
}

/// CreateSecret with the tags and the persisted token; a name held by our
/// own secret pending deletion is restored instead.
async fn create_secret(
    sm: &Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    token: &str,
) -> Result<Observed, ReconcileError> {
    let p: SecretProps = props::typed(spec)?;
    let password = generate_password();
    let value = json!({ "password": password }).to_string();
    let req = sm
        .create_secret()
        .name(&spec.name)
        .description(&p.description)
        .secret_string(value)
        // The same token after a crash makes AWS answer with the secret the
        // first attempt created instead of a second version.
        .client_request_token(token)
        .set_tags(Some(sm_tags(spec)));
    let created = call("secretsmanager:CreateSecret", Policy::ONCE, || {
        req.clone().send()
    })
    .await;
    match created {
        Ok(out) => {
            let arn = out.arn().ok_or_else(|| {
                ReconcileError::Internal(format!("CreateSecret of {} returned no ARN", spec.name))
            })?;
            Ok(Observed {
                id: arn.to_string(),
                props: props::to_props(&p),
                attrs: props::from_json(
                    json!({"arn": arn, "name": out.name().unwrap_or(&spec.name)}),
                ),
            })
        }
        Err(e) if e.class() == ErrorClass::AlreadyExists => {
            // "already scheduled for deletion" (or a concurrent create):
            // take it over only if it is ours.
            let d = describe(sm, &spec.name).await?.ok_or(e)?;
            let id = d.arn().unwrap_or(&spec.name).to_string();
            if let ReadOutcome::Clash { id, detail } =
                check_owned(cx, spec, &id, &from_sm(d.tags()), Observed::default)
            {
                return Err(ReconcileError::NotOwned {
                    address: spec.address.to_string(),
                    id,
                    env: cx.env.clone(),
                    detail,
                });
            }
            if d.deleted_date().is_some() {
                tracing::info!(secret = %id, "restoring a secret that was scheduled for deletion (its password is kept)");
                call("secretsmanager:RestoreSecret", Policy::TRANSIENT, || {
                    sm.restore_secret().secret_id(&id).send()
                })
                .await?;
            }
            observed(spec, &d)
        }
        Err(e) => Err(e),
    }
}

async fn delete_secret(sm: &Client, id: &str, force: bool) -> Result<(), ReconcileError> {
    let req = sm.delete_secret().secret_id(id);
    let req = if force {
        req.force_delete_without_recovery(true)
    } else {
        req.recovery_window_in_days(7)
    };
    gone(
        call("secretsmanager:DeleteSecret", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await
        .map(|_| ()),
    )
}

#[async_trait]
impl Reconciler for SecretReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::SECRET
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
        let sm = &self.aws.secretsmanager(self.aws.region_of(spec));
        let id = &current.id;
        crate::tags::write_with(
            spec,
            writes,
            |add| async move {
                let req = sm
                    .tag_resource()
                    .secret_id(id)
                    .set_tags(Some(sm_tags(&add)));
                crate::tag_call!("secretsmanager:TagResource", req)
            },
            |keys| async move {
                let req = sm.untag_resource().secret_id(id).set_tag_keys(Some(keys));
                crate::tag_call!("secretsmanager:UntagResource", req)
            },
        )
        .await
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let sm = self.aws.secretsmanager(self.aws.region_of(spec));
        read_secret(&sm, cx, spec, known_id).await
    }

    async fn create(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        let sm = self.aws.secretsmanager(self.aws.region_of(spec));
        create_secret(&sm, cx, spec, token).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: SecretProps = props::typed(spec)?;
        let sm = self.aws.secretsmanager(self.aws.region_of(spec));
        if changes.iter().any(|c| c.field == "description") {
            // Description only: no SecretString, so no new version.
            call("secretsmanager:UpdateSecret", Policy::TRANSIENT, || {
                sm.update_secret()
                    .secret_id(&current.id)
                    .description(&p.description)
                    .send()
            })
            .await?;
        }
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let sm = self.aws.secretsmanager(self.aws.region_of(spec));
        let force = force_delete(spec)
            || current
                .props
                .get("force_delete_without_recovery")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
        delete_secret(&sm, &current.id, force).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::create_secret::{CreateSecretError, CreateSecretOutput};
    use aws_sdk_secretsmanager::operation::delete_secret::DeleteSecretOutput;
    use aws_sdk_secretsmanager::operation::restore_secret::RestoreSecretOutput;
    use aws_sdk_secretsmanager::types::error::InvalidRequestException;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use drctl_core::model::Address;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const ARN: &str =
        "arn:aws:secretsmanager:us-east-1:000000000000:secret:trading-db-password-t-AbCdEf";

    fn client(rules: &[&Rule]) -> Client {
        crate::mock_client!(
            aws_sdk_secretsmanager,
            "us-east-1",
            RuleMode::MatchAny,
            rules
        )
    }

    fn spec(force: bool) -> ResourceSpec {
        let address = Address::new("us-east-1/database/password-secret");
        let mut tags = BTreeMap::new();
        tags.insert("drctl:env".to_string(), "t".to_string());
        tags.insert("drctl:address".to_string(), address.to_string());
        tags.insert("Name".to_string(), "trading-db-password-t".to_string());
        ResourceSpec {
            address,
            kind: drctl_stack::kinds::SECRET.into(),
            region: Some("us-east-1".into()),
            name: "trading-db-password-t".into(),
            props: props::from_json(json!({
                "description": "db password",
                "force_delete_without_recovery": force,
            })),
            tags,
            depends_on: vec![],
        }
    }

    fn cx() -> Ctx {
        Ctx::new("t")
    }

    fn owned_tags() -> Vec<Tag> {
        sm_tags(&spec(false))
    }

    #[tokio::test]
    async fn create_sends_the_token_the_tags_and_a_fresh_registered_password() {
        let sent = Arc::new(Mutex::new(String::new()));
        let seen = sent.clone();
        let create = mock!(Client::create_secret)
            .match_requests(|r| {
                r.client_request_token() == Some(TOKEN)
                    && r.name() == Some("trading-db-password-t")
                    && r.tags().iter().any(|t| {
                        t.key() == Some("drctl:address")
                            && t.value() == Some("us-east-1/database/password-secret")
                    })
            })
            .then_compute_output(move |r| {
                *seen.lock().unwrap() = r.secret_string().unwrap_or_default().to_string();
                CreateSecretOutput::builder()
                    .arn(ARN)
                    .name("trading-db-password-t")
                    .build()
            });
        let sm = client(&[&create]);
        let o = create_secret(&sm, &cx(), &spec(true), TOKEN).await.unwrap();
        assert_eq!(create.num_calls(), 1);
        assert_eq!(o.id, ARN);
        assert_eq!(o.attrs["arn"], ARN);
        assert_eq!(o.attrs["name"], "trading-db-password-t");
        let value: serde_json::Value = serde_json::from_str(&sent.lock().unwrap()).unwrap();
        let password = value["password"].as_str().unwrap();
        assert_eq!(password.len(), PASSWORD_LEN);
        assert!(!password.contains(['/', '@', '"', ' ']));
        assert!(drctl_core::secrets::contains_secret(password), "registered");
        let shown = format!("{o:?}");
        assert!(!shown.contains(password), "never in the observed value");
    }

    #[test]
    fn passwords_avoid_what_rds_refuses_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert!(a != b);
        for p in [&a, &b] {
            assert_eq!(p.len(), 32);
            assert!(p.bytes().all(|c| PASSWORD_CHARS.contains(&c)));
            assert!(!p.contains(['/', '@', '"', ' ']));
        }
    }

    #[tokio::test]
    async fn a_secret_scheduled_for_deletion_is_restored_not_recreated() {
        let create = mock!(Client::create_secret).then_error(|| {
            CreateSecretError::InvalidRequestException(
                InvalidRequestException::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("InvalidRequestException")
                            .message("You can't create this secret because a secret with this name is already scheduled for deletion.")
                            .build(),
                    )
                    .build(),
            )
        });
        let describe = mock!(Client::describe_secret).then_output(|| {
            DescribeSecretOutput::builder()
                .arn(ARN)
                .name("trading-db-password-t")
                .description("db password")
                .deleted_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .set_tags(Some(owned_tags()))
                .build()
        });
        let restore = mock!(Client::restore_secret)
            .match_requests(|r| r.secret_id() == Some(ARN))
            .then_output(|| RestoreSecretOutput::builder().arn(ARN).build());
        let sm = client(&[&create, &describe, &restore]);

        // The plan sees a restorable secret (so it shows a create whose ARN
        // is known) ...
        let read = read_secret(&sm, &cx(), &spec(false), None).await.unwrap();
        match read {
            ReadOutcome::Restorable(o) => assert_eq!(o.id, ARN),
            other => panic!("{other:?}"),
        }
        // ... and apply restores the old one: same ARN, one create attempt.
        let o = create_secret(&sm, &cx(), &spec(false), TOKEN)
            .await
            .unwrap();
        assert_eq!(o.id, ARN);
        assert_eq!(restore.num_calls(), 1);
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_pending_deletion_secret_of_someone_else_is_a_clash_and_never_restored() {
        let describe = mock!(Client::describe_secret).then_output(|| {
            DescribeSecretOutput::builder()
                .arn(ARN)
                .name("trading-db-password-t")
                .deleted_date(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .build()
        });
        let sm = client(&[&describe]);
        match read_secret(&sm, &cx(), &spec(false), None).await.unwrap() {
            ReadOutcome::Clash { detail, .. } => {
                assert!(detail.contains("scheduled for deletion"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn delete_follows_the_force_option() {
        let forced = mock!(Client::delete_secret)
            .match_requests(|r| {
                r.force_delete_without_recovery() == Some(true)
                    && r.recovery_window_in_days().is_none()
            })
            .then_output(|| DeleteSecretOutput::builder().build());
        let windowed = mock!(Client::delete_secret)
            .match_requests(|r| {
                r.recovery_window_in_days() == Some(7)
                    && r.force_delete_without_recovery().is_none()
            })
            .then_output(|| DeleteSecretOutput::builder().build());
        let sm = client(&[&forced, &windowed]);
        delete_secret(&sm, ARN, true).await.unwrap();
        delete_secret(&sm, ARN, false).await.unwrap();
        assert_eq!(forced.num_calls(), 1);
        assert_eq!(windowed.num_calls(), 1);
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<SecretProps>(drctl_stack::kinds::SECRET);
        // dev.toml sets secret_force_delete = true; prod-dr keeps the default.
        assert!(all.iter().any(|p| p.force_delete_without_recovery));
        assert!(all.iter().any(|p| !p.force_delete_without_recovery));
        // Settings only: the struct has no field that could hold the value.
        let v = serde_json::to_value(&all[0]).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["description", "force_delete_without_recovery"]);
    }
}

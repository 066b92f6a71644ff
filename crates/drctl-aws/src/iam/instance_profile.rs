//! `iam:instance-profile` — the EC2 instance profile holding one role (global).
//!
//! Found by name (`spec.name`; unique per account); the physical id is the
//! name. Ownership: the profile's tags (GetInstanceProfile, or
//! ListInstanceProfileTags when it omits them).
//!
//! Props: [`InstanceProfileProps`]. Attrs: `name`, `arn`.
//!
//! Caveats: a fresh profile takes up to ~2 minutes to be accepted by EC2
//! and Auto Scaling; `wait_ready` waits until IAM shows it with its role,
//! and the launch template / ASG retry the "Invalid IAM Instance Profile"
//! class on top (see `retry::IAM_PROPAGATION`). Delete removes the role
//! first (AWS refuses to delete a profile that still holds one).

use crate::errors::{found, gone};
use crate::iam::PROFILE_VISIBLE;
use crate::retry::{call, wait_for, Policy, Wait};
use crate::tags::{check_owned, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_iam::types::{InstanceProfile, Tag};
use aws_sdk_iam::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// What `iam:instance-profile` compares: the blueprint's props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileProps {
    /// The name of the one role the profile holds (the role's `name`). In
    /// place: the old role is removed, the new one added.
    pub role_name: String,
}

pub struct InstanceProfileReconciler {
    pub aws: Aws,
}

impl InstanceProfileReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }

    fn client(&self) -> Client {
        self.aws.iam(self.aws.global_region())
    }
}

fn iam_tags(spec: &ResourceSpec) -> Result<Vec<Tag>, ReconcileError> {
    spec.tags
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ReconcileError::Internal(format!("{}: tag {k}: {e}", spec.address)))
        })
        .collect()
}

async fn get_profile(iam: &Client, name: &str) -> Result<Option<InstanceProfile>, ReconcileError> {
    let out = found(
        call("iam:GetInstanceProfile", Policy::TRANSIENT, || {
            iam.get_instance_profile()
                .instance_profile_name(name)
                .send()
        })
        .await,
    )?;
    Ok(out.and_then(|o| o.instance_profile().cloned()))
}

async fn profile_tags(iam: &Client, p: &InstanceProfile) -> Result<Tags, ReconcileError> {
    let tags = if p.tags().is_empty() {
        call("iam:ListInstanceProfileTags", Policy::TRANSIENT, || {
            iam.list_instance_profile_tags()
                .instance_profile_name(p.instance_profile_name())
                .max_items(1000)
                .send()
        })
        .await?
        .tags()
        .to_vec()
    } else {
        p.tags().to_vec()
    };
    Ok(tags
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect())
}

fn observed(p: &InstanceProfile) -> Observed {
    // A profile holds at most one role.
    let role = p.roles().first().map(|r| r.role_name());
    // json! rather than `InstanceProfileProps`: a profile without a role
    // reads `role_name: null`, which the struct cannot hold.
    Observed {
        id: p.instance_profile_name().to_string(),
        props: props::from_json(json!({ "role_name": role })),
        attrs: props::from_json(json!({
            "name": p.instance_profile_name(),
            "arn": p.arn(),
        })),
    }
}

async fn add_role(iam: &Client, profile: &str, role: &str) -> Result<(), ReconcileError> {
    // The role was usually created a moment ago: "not found" may be IAM's
    // eventual consistency, so it is retried briefly.
    call("iam:AddRoleToInstanceProfile", Policy::PROPAGATION, || {
        iam.add_role_to_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
    })
    .await
    .map(|_| ())
}

async fn remove_role(iam: &Client, profile: &str, role: &str) -> Result<(), ReconcileError> {
    gone(
        call(
            "iam:RemoveRoleFromInstanceProfile",
            Policy::TRANSIENT,
            || {
                iam.remove_role_from_instance_profile()
                    .instance_profile_name(profile)
                    .role_name(role)
                    .send()
            },
        )
        .await
        .map(|_| ()),
    )
}

/// Waits until IAM shows the profile holding `role`.
async fn wait_visible(
    iam: &Client,
    spec: &ResourceSpec,
    name: &str,
    role: &str,
    wait: Wait,
) -> Result<InstanceProfile, ReconcileError> {
    let what = format!(
        "instance profile {name} ({}) to be visible with role {role}",
        spec.address
    );
    wait_for(&what, wait, || async {
        Ok(get_profile(iam, name)
            .await?
            .filter(|p| p.roles().iter().any(|r| r.role_name() == role)))
    })
    .await
}

#[async_trait]
impl Reconciler for InstanceProfileReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::INSTANCE_PROFILE
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
        let iam = &self.aws.iam(self.aws.region_of(spec));
        let name = &current.id;
        crate::tags::write_with(
            spec,
            writes,
            |add| async move {
                let tags = iam_tags(&add)?;
                let req = iam.tag_instance_profile().instance_profile_name(name);
                crate::tag_call!("iam:TagInstanceProfile", req.set_tags(Some(tags)))
            },
            |keys| async move {
                let req = iam.untag_instance_profile().instance_profile_name(name);
                crate::tag_call!("iam:UntagInstanceProfile", req.set_tag_keys(Some(keys)))
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
        let _slot = self.aws.permit("iam").await;
        let iam = self.client();
        let name = known_id.unwrap_or(&spec.name);
        let Some(p) = get_profile(&iam, name).await? else {
            return Ok(ReadOutcome::NotFound);
        };
        let tags = profile_tags(&iam, &p).await?;
        Ok(check_owned(
            cx,
            spec,
            p.instance_profile_name(),
            &tags,
            || observed(&p),
        ))
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let _slot = self.aws.permit("iam").await;
        let iam = self.client();
        let p: InstanceProfileProps = props::typed(spec)?;
        let role = p.role_name.as_str();
        // No token in this API: the unique name and the tags in this call
        // make a crashed create recoverable by lookup (the role is added on
        // the next run's update when the crash came in between).
        let req = iam
            .create_instance_profile()
            .instance_profile_name(&spec.name)
            .set_tags(Some(iam_tags(spec)?));
        let out = call("iam:CreateInstanceProfile", Policy::ONCE, || {
            req.clone().send()
        })
        .await?;
        let p = out.instance_profile().ok_or_else(|| {
            ReconcileError::Internal("iam:CreateInstanceProfile returned no profile".into())
        })?;
        add_role(&iam, p.instance_profile_name(), role).await?;
        Ok(Observed {
            id: p.instance_profile_name().to_string(),
            props: spec.props.clone(),
            attrs: props::from_json(json!({
                "name": p.instance_profile_name(),
                "arn": p.arn(),
            })),
        })
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let p: InstanceProfileProps = props::typed(spec)?;
        wait_visible(
            &self.client(),
            spec,
            &created.id,
            &p.role_name,
            PROFILE_VISIBLE,
        )
        .await?;
        Ok(created)
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let _slot = self.aws.permit("iam").await;
        let iam = self.client();
        let want: InstanceProfileProps = props::typed(spec)?;
        let role = want.role_name.as_str();
        // Remove whatever role it holds now (read again: the plan may be old).
        if let Some(p) = get_profile(&iam, &current.id).await? {
            for r in p.roles().iter().filter(|r| r.role_name() != role) {
                remove_role(&iam, &current.id, r.role_name()).await?;
            }
            if !p.roles().iter().any(|r| r.role_name() == role) {
                add_role(&iam, &current.id, role).await?;
                wait_visible(&iam, spec, &current.id, role, PROFILE_VISIBLE).await?;
            }
        }
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        _spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let _slot = self.aws.permit("iam").await;
        let iam = self.client();
        let Some(p) = get_profile(&iam, &current.id).await? else {
            return Ok(());
        };
        for r in p.roles() {
            remove_role(&iam, &current.id, r.role_name()).await?;
        }
        gone(
            call("iam:DeleteInstanceProfile", Policy::TRANSIENT, || {
                iam.delete_instance_profile()
                    .instance_profile_name(&current.id)
                    .send()
            })
            .await
            .map(|_| ()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::get_instance_profile::{
        GetInstanceProfileError, GetInstanceProfileOutput,
    };
    use aws_sdk_iam::types::Role;
    use aws_smithy_mocks::{
        create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode,
    };

    fn client(rules: &[&Rule]) -> Client {
        let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
        for r in rules {
            i = i.with_rule(r);
        }
        let conf = aws_sdk_iam::Config::builder()
            .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
            .region(aws_sdk_iam::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(i)
            .build();
        Client::from_conf(conf)
    }

    fn spec() -> ResourceSpec {
        ResourceSpec {
            address: drctl_core::model::Address::new("global/iam/ec2-profile"),
            kind: drctl_stack::kinds::INSTANCE_PROFILE.into(),
            region: None,
            name: "trading-ec2-profile-dev".into(),
            props: props::from_json(json!({"role_name": "trading-ec2-role-dev"})),
            tags: Default::default(),
            depends_on: vec![],
        }
    }

    fn profile(with_role: bool) -> InstanceProfile {
        let role = Role::builder()
            .path("/")
            .role_name("trading-ec2-role-dev")
            .role_id("r")
            .arn("arn:aws:iam::1:role/trading-ec2-role-dev")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap();
        InstanceProfile::builder()
            .path("/")
            .instance_profile_name("trading-ec2-profile-dev")
            .instance_profile_id("p")
            .arn("arn:aws:iam::1:instance-profile/trading-ec2-profile-dev")
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .set_roles(Some(if with_role { vec![role] } else { vec![] }))
            .build()
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_waits_until_the_profile_shows_its_role() {
        let not_yet = mock!(Client::get_instance_profile)
            .sequence()
            .error(|| {
                GetInstanceProfileError::NoSuchEntityException(
                    aws_sdk_iam::types::error::NoSuchEntityException::builder()
                        .meta(
                            aws_smithy_types::error::ErrorMetadata::builder()
                                .code("NoSuchEntity")
                                .build(),
                        )
                        .build(),
                )
            })
            .output(|| {
                GetInstanceProfileOutput::builder()
                    .instance_profile(profile(false))
                    .build()
            })
            .output(|| {
                GetInstanceProfileOutput::builder()
                    .instance_profile(profile(true))
                    .build()
            })
            .build();
        let iam = client(&[&not_yet]);
        let p = wait_visible(
            &iam,
            &spec(),
            "trading-ec2-profile-dev",
            "trading-ec2-role-dev",
            PROFILE_VISIBLE,
        )
        .await
        .unwrap();
        assert_eq!(p.roles().len(), 1);
        assert_eq!(not_yet.num_calls(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_ready_times_out_naming_the_profile_and_role() {
        let never = mock!(Client::get_instance_profile)
            .sequence()
            .output(|| {
                GetInstanceProfileOutput::builder()
                    .instance_profile(profile(false))
                    .build()
            })
            .repeatedly()
            .build();
        let iam = client(&[&never]);
        let err = wait_visible(
            &iam,
            &spec(),
            "trading-ec2-profile-dev",
            "trading-ec2-role-dev",
            PROFILE_VISIBLE,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "timed out after 120s waiting for instance profile trading-ec2-profile-dev (global/iam/ec2-profile) to be visible with role trading-ec2-role-dev"
        );
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<InstanceProfileProps>(
            drctl_stack::kinds::INSTANCE_PROFILE,
        );
        assert!(!all.is_empty());
        // The role comes from the ec2 role's `name` attribute.
        assert!(all
            .iter()
            .all(|p| p.role_name == "global/iam/ec2-role.name"));
    }
}

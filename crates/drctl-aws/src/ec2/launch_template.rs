//! `ec2:launch-template` — the instances' launch template of one region.
//!
//! Found by id (the physical id) when known, else by name (`spec.name`;
//! `InvalidLaunchTemplateName.NotFoundException` when absent). Ownership:
//! the template's tags.
//!
//! Props: [`LaunchTemplateProps`], all of the default version. Any change
//! is an update: a new version (CreateLaunchTemplateVersion) made the
//! default (ModifyLaunchTemplate). The instances and volumes a version
//! launches carry the resource's tags (its `TagSpecifications`): read as `instance_tags` and `volume_tags`
//! (tag maps, managed tags only, like Terraform's `volume_tags`) and compared
//! with the desired tags, so a `[tags]` change makes one new version as well as re-tagging
//! the template itself (the template's own tags are the shared `tags` diff).
//! Attrs: `latest_version` — the default version's number as a string (the
//! ASG's `launch_template_version` refers to it; drctl always makes its
//! newest version the default, and a version made out of band without
//! becoming the default is not picked up) — and `name`.
//!
//! `image` is resolved when a version is written. The template
//! carries `drctl:image` (what the plan said) and `drctl:image-id` (what it
//! resolved to), so the plan keeps showing the symbolic value while the
//! version uses that AMI, and shows the AMI id once it does not.
//!
//! Caveats: `CreateLaunchTemplate` takes the persisted `ClientToken`; a
//! fresh instance profile may be rejected for a while ("Invalid IAM
//! Instance Profile"), so writes retry that class on the IAM schedule.
//! A crash between a new version and making it the default leaves an extra
//! version; the next run makes another one (harmless).

use crate::errors::{found, gone};
use crate::props::list_like_desired;
use crate::retry::{call, Policy};
use crate::tags::{ambiguous, check_owned, ec2_tags, from_ec2, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplate, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    ResponseLaunchTemplateData, Tag, TagSpecification,
};
use aws_sdk_ec2::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use drctl_core::recover::request_token;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `ec2:launch-template` compares (a read adds `instance_tags` and
/// `volume_tags`, see the module doc). Every field changes in place: a new
/// default version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchTemplateProps {
    /// The instances' type, e.g. `t3.micro` (the plan's `instance_type`).
    pub instance_type: String,
    /// An AMI id (`ami-…`) or `al2023-latest`: the newest amazon-owned
    /// `al2023-ami-2023.*-x86_64`, resolved when a version is written.
    pub image: String,
    /// The instance profile's name (not its ARN).
    pub instance_profile_name: String,
    /// The instances' security group ids (`sg-…`).
    pub security_group_ids: Vec<String>,
    /// Boot script, plain text; sent base64, compared decoded.
    pub user_data: String,
}

/// Nothing replaces a launch template: every change is a new version.
const REPLACE_ON: &[(&str, &str)] = &[];

/// The symbolic image that resolves to the newest Amazon Linux 2023 AMI.
pub const AL2023_LATEST: &str = "al2023-latest";
/// Tag on the template: the `image` the plan asked for.
pub const TAG_IMAGE: &str = "drctl:image";
/// Tag on the template: the AMI that `image` resolved to.
pub const TAG_IMAGE_ID: &str = "drctl:image-id";

pub struct LaunchTemplateReconciler {
    pub aws: Aws,
}

impl LaunchTemplateReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// The AMI `image` (the `image` of `spec`) stands for: itself, or for
/// `al2023-latest` the newest matching Amazon image (ties broken by name,
/// then id, so the choice is stable). None to be found is the `image`
/// property's fault: the plan's `image_id` names one instead.
pub async fn resolve_image(
    ec2: &Client,
    spec: &ResourceSpec,
    image: &str,
) -> Result<String, ReconcileError> {
    if image != AL2023_LATEST {
        return Ok(image.to_string());
    }
    let newest = |filter: Filter| async move {
        let out = call("ec2:DescribeImages", Policy::TRANSIENT, || {
            ec2.describe_images()
                .owners("amazon")
                .filters(filter.clone())
                .send()
        })
        .await?;
        Ok::<_, ReconcileError>(
            out.images()
                .iter()
                .filter(|i| i.image_id().is_some())
                .max_by_key(|i| (i.creation_date(), i.name(), i.image_id()))
                .and_then(|i| i.image_id().map(str::to_string)),
        )
    };
    let al2023 = Filter::builder()
        .name("name")
        .values("al2023-ami-2023.*-x86_64")
        .build();
    if let Some(id) = newest(al2023).await? {
        return Ok(id);
    }
    // Emulators may not carry Amazon Linux 2023 images.
    let any = Filter::builder()
        .name("architecture")
        .values("x86_64")
        .build();
    match newest(any).await? {
        Some(id) => {
            tracing::debug!(
                image = %id,
                "no al2023-ami-2023.*-x86_64 image; using the newest amazon-owned x86_64 image"
            );
            Ok(id)
        }
        None => Err(props::config(
            spec,
            "image",
            "no Amazon Linux 2023 (or any amazon-owned x86_64) image found for 'al2023-latest' in this region: set image_id = \"ami-…\" in the environment plan",
        )),
    }
}

/// The template data a version gets: the instances (and their volumes)
/// carry the ownership tags too.
fn template_data(
    spec: &ResourceSpec,
    p: &LaunchTemplateProps,
    ami: &str,
) -> RequestLaunchTemplateData {
    let tags = |rt: ResourceType| {
        LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(rt)
            .set_tags(Some(ec2_tags(spec)))
            .build()
    };
    RequestLaunchTemplateData::builder()
        .instance_type(InstanceType::from(p.instance_type.as_str()))
        .image_id(ami)
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(&p.instance_profile_name)
                .build(),
        )
        .set_security_group_ids(Some(p.security_group_ids.clone()))
        .user_data(aws_smithy_types::base64::encode(&p.user_data))
        .tag_specifications(tags(ResourceType::Instance))
        .tag_specifications(tags(ResourceType::Volume))
        .build()
}

fn image_tags(p: &LaunchTemplateProps, ami: &str) -> Vec<Tag> {
    vec![
        Tag::builder().key(TAG_IMAGE).value(&p.image).build(),
        Tag::builder().key(TAG_IMAGE_ID).value(ami).build(),
    ]
}

/// CreateLaunchTemplate with the persisted token; retried while IAM has
/// not propagated the instance profile.
pub(crate) async fn create_template(
    ec2: &Client,
    spec: &ResourceSpec,
    token: &str,
) -> Result<Observed, ReconcileError> {
    let p: LaunchTemplateProps = props::typed(spec)?;
    let ami = resolve_image(ec2, spec, &p.image).await?;
    let mut tags = ec2_tags(spec);
    tags.extend(image_tags(&p, &ami));
    let req = ec2
        .create_launch_template()
        .launch_template_name(&spec.name)
        .client_token(token)
        .launch_template_data(template_data(spec, &p, &ami))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::LaunchTemplate)
                .set_tags(Some(tags))
                .build(),
        );
    let out = call("ec2:CreateLaunchTemplate", Policy::IAM_PROPAGATION, || {
        req.clone().send()
    })
    .await?;
    let lt = out.launch_template().ok_or_else(|| {
        ReconcileError::Internal("ec2:CreateLaunchTemplate returned no template".into())
    })?;
    let id = lt.launch_template_id().ok_or_else(|| {
        ReconcileError::Internal("ec2:CreateLaunchTemplate returned no template id".into())
    })?;
    Ok(Observed {
        id: id.to_string(),
        props: spec.props.clone(),
        attrs: attrs(lt.default_version_number().unwrap_or(1), &spec.name),
    })
}

/// A new version from the spec on top of version `base`, made the default.
/// Returns its number. The client token is derived from the template, `base`
/// and the data: a repeat after a lost answer returns the version the first
/// call made instead of adding another.
pub(crate) async fn new_version(
    ec2: &Client,
    spec: &ResourceSpec,
    id: &str,
    base: &str,
) -> Result<i64, ReconcileError> {
    let p: LaunchTemplateProps = props::typed(spec)?;
    let ami = resolve_image(ec2, spec, &p.image).await?;
    // The tags too: a [tags] change alone makes a version with other data.
    let props = serde_json::to_string(&(&spec.props, &spec.tags))
        .map_err(|e| ReconcileError::Internal(format!("{}: {e}", spec.address)))?;
    let req = ec2
        .create_launch_template_version()
        .launch_template_id(id)
        .client_token(request_token(&[id, base, &ami, &props]))
        .launch_template_data(template_data(spec, &p, &ami));
    let out = call(
        "ec2:CreateLaunchTemplateVersion",
        Policy::IAM_PROPAGATION,
        || req.clone().send(),
    )
    .await?;
    let version = out
        .launch_template_version()
        .and_then(|v| v.version_number())
        .ok_or_else(|| {
            ReconcileError::Internal("ec2:CreateLaunchTemplateVersion returned no version".into())
        })?;
    call("ec2:ModifyLaunchTemplate", Policy::TRANSIENT, || {
        ec2.modify_launch_template()
            .launch_template_id(id)
            .default_version(version.to_string())
            .send()
    })
    .await?;
    // The template tags say which image the new version resolved.
    let tags = image_tags(&p, &ami);
    call("ec2:CreateTags", Policy::TRANSIENT, || {
        ec2.create_tags()
            .resources(id)
            .set_tags(Some(tags.clone()))
            .send()
    })
    .await?;
    Ok(version)
}

/// The props that hold the tags a version gives the resources it launches,
/// by `TagSpecifications` resource type.
const LAUNCHED_TAGS: [(&str, ResourceType); 2] = [
    ("instance_tags", ResourceType::Instance),
    ("volume_tags", ResourceType::Volume),
];

/// The `instance_tags` / `volume_tags` changes, when the default version's
/// managed tags ([`drctl_core::diff::managed_tags`]) for instances or
/// volumes are not the desired ones. None for a prop the read did not
/// report (a plan from the state, `-refresh=false`).
fn launched_tags_changes(spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
    let want = json!(drctl_core::diff::managed_tags(&spec.tags));
    LAUNCHED_TAGS
        .iter()
        .filter_map(|(field, _)| {
            let have = observed.props.get(*field)?;
            (have != &want).then(|| FieldChange {
                field: field.to_string(),
                before: Some(have.clone()),
                after: Some(want.clone()),
                replace_reason: None,
                drift: false,
            })
        })
        .collect()
}

fn attrs(version: i64, name: &str) -> drctl_core::model::Props {
    // A string: the ASG's `launch_template_version` is compared with it.
    props::from_json(json!({"latest_version": version.to_string(), "name": name}))
}

/// What the default version holds, in the spec's shapes.
fn observe(
    spec: &ResourceSpec,
    lt: &LaunchTemplate,
    tags: &Tags,
    data: Option<&ResponseLaunchTemplateData>,
) -> Result<Observed, ReconcileError> {
    let id = lt.launch_template_id().unwrap_or_default();
    let image_id = data.and_then(|d| d.image_id());
    // The symbolic image while the version still uses what it resolved to.
    let image = match (tags.get(TAG_IMAGE), tags.get(TAG_IMAGE_ID), image_id) {
        (Some(symbolic), Some(resolved), Some(actual)) if resolved == actual => {
            Some(symbolic.as_str())
        }
        _ => image_id,
    };
    let profile = data.and_then(|d| d.iam_instance_profile()).and_then(|p| {
        p.name().map(str::to_string).or_else(|| {
            p.arn()
                .and_then(|a| a.rsplit('/').next())
                .map(str::to_string)
        })
    });
    let user_data = match data.and_then(|d| d.user_data()) {
        Some(b64) => {
            let bytes = aws_smithy_types::base64::decode(b64).map_err(|e| {
                ReconcileError::Internal(format!(
                    "{}: launch template user data is not base64: {e}",
                    spec.address
                ))
            })?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        None => None,
    };
    let version = lt.default_version_number().ok_or_else(|| {
        ReconcileError::Internal(format!(
            "{}: launch template {id} has no default version",
            spec.address
        ))
    })?;
    let launched = |rt: ResourceType| -> Tags {
        data.map(|d| d.tag_specifications())
            .unwrap_or_default()
            .iter()
            .filter(|t| t.resource_type() == Some(&rt))
            .flat_map(|t| from_ec2(t.tags()))
            .collect()
    };
    // Not `LaunchTemplateProps`: a field the version lacks is null, and the
    // launched resources' tags are added below.
    let mut props = props::from_json(json!({
            "instance_type": data.and_then(|d| d.instance_type()).map(|t| t.as_str()),
            "image": image,
            "instance_profile_name": profile,
            "security_group_ids": list_like_desired(
                spec.props.get("security_group_ids"),
                data.map(|d| d.security_group_ids().to_vec()).unwrap_or_default(),
            ),
            "user_data": user_data,
    }));
    for (field, rt) in LAUNCHED_TAGS {
        let tags = drctl_core::diff::managed_tags(&launched(rt));
        props.insert(field.into(), json!(tags));
    }
    Ok(Observed {
        id: id.to_string(),
        props,
        attrs: attrs(version, lt.launch_template_name().unwrap_or(&spec.name)),
    })
}

async fn describe(
    ec2: &Client,
    id: Option<&str>,
    name: &str,
) -> Result<Vec<LaunchTemplate>, ReconcileError> {
    let req = match id {
        Some(id) => ec2.describe_launch_templates().launch_template_ids(id),
        None => ec2.describe_launch_templates().launch_template_names(name),
    };
    let out = call("ec2:DescribeLaunchTemplates", Policy::TRANSIENT, || {
        req.clone().send()
    })
    .await;
    Ok(found(out)?
        .map(|o| o.launch_templates().to_vec())
        .unwrap_or_default())
}

async fn default_version_data(
    ec2: &Client,
    lt: &LaunchTemplate,
) -> Result<Option<ResponseLaunchTemplateData>, ReconcileError> {
    let (Some(id), Some(version)) = (lt.launch_template_id(), lt.default_version_number()) else {
        return Ok(None);
    };
    let out = call(
        "ec2:DescribeLaunchTemplateVersions",
        Policy::TRANSIENT,
        || {
            ec2.describe_launch_template_versions()
                .launch_template_id(id)
                .versions(version.to_string())
                .send()
        },
    )
    .await?;
    Ok(out
        .launch_template_versions()
        .iter()
        .find(|v| v.version_number() == Some(version))
        .and_then(|v| v.launch_template_data().cloned()))
}

#[async_trait]
impl Reconciler for LaunchTemplateReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::LAUNCH_TEMPLATE
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
        crate::tags::ec2_write(&self.aws, spec, &current.id, writes).await
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    fn attrs_changed_by_update(&self) -> &'static [&'static str] {
        &["latest_version"]
    }

    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut out = drctl_core::diff::diff_props(&spec.props, &observed.props, self.replace_on());
        out.extend(launched_tags_changes(spec, observed));
        out
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let lts = describe(&ec2, known_id, &spec.name).await?;
        match lts.as_slice() {
            [] => Ok(ReadOutcome::NotFound),
            [lt] => {
                let tags = from_ec2(lt.tags());
                let id = lt.launch_template_id().unwrap_or_default();
                match check_owned(cx, spec, id, &tags, Observed::default) {
                    ReadOutcome::Found(_) => {
                        let data = default_version_data(&ec2, lt).await?;
                        Ok(ReadOutcome::Found(crate::tags::with_tags(
                            observe(spec, lt, &tags, data.as_ref())?,
                            &tags,
                        )))
                    }
                    other => Ok(other),
                }
            }
            many => Err(ambiguous(spec, many, |l| {
                l.launch_template_id().map(str::to_string)
            })),
        }
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        token: &str,
    ) -> Result<Observed, ReconcileError> {
        create_template(&self.aws.ec2(self.aws.region_of(spec)), spec, token).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        _changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        let base = current
            .attrs
            .get("latest_version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = new_version(&ec2, spec, &current.id, base).await?;
        Ok(Observed {
            id: current.id.clone(),
            props: spec.props.clone(),
            attrs: attrs(version, &spec.name),
        })
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let ec2 = self.aws.ec2(self.aws.region_of(spec));
        // By id: a missing *name* answers MissingParameter on the emulator.
        gone(
            call("ec2:DeleteLaunchTemplate", Policy::TRANSIENT, || {
                ec2.delete_launch_template()
                    .launch_template_id(&current.id)
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
    use aws_sdk_ec2::operation::create_launch_template::{
        CreateLaunchTemplateError, CreateLaunchTemplateOutput,
    };
    use aws_sdk_ec2::operation::describe_images::DescribeImagesOutput;
    use aws_sdk_ec2::types::Image;
    use aws_smithy_mocks::{
        create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode,
    };
    use aws_smithy_types::error::ErrorMetadata;

    fn client(rules: &[&Rule]) -> Client {
        let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            i = i.with_rule(r);
        }
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .http_client(create_mock_http_client())
            .interceptor(i)
            .build();
        Client::from_conf(conf)
    }

    fn spec(image: &str) -> ResourceSpec {
        ResourceSpec {
            address: drctl_core::model::Address::new("us-east-1/compute/launch-template"),
            kind: drctl_stack::kinds::LAUNCH_TEMPLATE.into(),
            region: Some("us-east-1".into()),
            name: "trading-lt-dev".into(),
            props: props::from_json(json!({
                "instance_type": "t3.micro", "image": image,
                "instance_profile_name": "trading-ec2-profile-dev",
                "security_group_ids": ["sg-1"], "user_data": "#!/bin/bash\necho ok\n",
            })),
            tags: [
                ("drctl:env".to_string(), "dev".to_string()),
                (
                    "drctl:address".to_string(),
                    "us-east-1/compute/launch-template".to_string(),
                ),
            ]
            .into(),
            depends_on: vec![],
        }
    }

    fn created() -> CreateLaunchTemplateOutput {
        CreateLaunchTemplateOutput::builder()
            .launch_template(
                LaunchTemplate::builder()
                    .launch_template_id("lt-1")
                    .launch_template_name("trading-lt-dev")
                    .default_version_number(1)
                    .latest_version_number(1)
                    .build(),
            )
            .build()
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<LaunchTemplateProps>(
            drctl_stack::kinds::LAUNCH_TEMPLATE,
        );
        assert!(all.iter().all(|p| p.user_data.starts_with("#!")
            && p.security_group_ids.len() == 1
            && p.instance_profile_name.ends_with(".name")));
        assert!(REPLACE_ON.is_empty());
        // The test spec above has the blueprint's shape.
        let p: LaunchTemplateProps = props::typed(&spec("ami-1")).unwrap();
        assert_eq!(p.image, "ami-1");
    }

    #[tokio::test]
    async fn create_sends_the_persisted_token_tags_and_encoded_user_data() {
        let create = mock!(Client::create_launch_template)
            .match_requests(|r| {
                let data = r.launch_template_data();
                let template_tags = r
                    .tag_specifications()
                    .iter()
                    .find(|t| t.resource_type() == Some(&ResourceType::LaunchTemplate))
                    .map(|t| from_ec2(t.tags()))
                    .unwrap_or_default();
                let instance_tagged = data.is_some_and(|d| {
                    d.tag_specifications().iter().any(|t| {
                        t.resource_type() == Some(&ResourceType::Instance)
                            && from_ec2(t.tags()).get("drctl:env").map(String::as_str)
                                == Some("dev")
                    })
                });
                r.client_token() == Some(TOKEN)
                    && template_tags.get("drctl:env").map(String::as_str) == Some("dev")
                    && template_tags.get(TAG_IMAGE).map(String::as_str) == Some("ami-123")
                    && instance_tagged
                    && data.and_then(|d| d.user_data())
                        == Some(aws_smithy_types::base64::encode("#!/bin/bash\necho ok\n").as_str())
            })
            .then_output(created);
        let ec2 = client(&[&create]);
        let o = create_template(&ec2, &spec("ami-123"), TOKEN)
            .await
            .unwrap();
        assert_eq!(create.num_calls(), 1, "the request carried the token");
        assert_eq!(o.id, "lt-1");
        assert_eq!(o.attrs["latest_version"], json!("1"), "a string");
    }

    #[tokio::test]
    async fn a_new_version_carries_a_token_from_its_base_version_and_data() {
        use aws_sdk_ec2::operation::create_launch_template_version::CreateLaunchTemplateVersionOutput;
        use aws_sdk_ec2::types::LaunchTemplateVersion;
        use std::sync::{Arc, Mutex};
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let version = mock!(Client::create_launch_template_version)
            .match_requests(move |r| {
                let t = r.client_token().unwrap_or_default().to_string();
                log.lock().unwrap().push(t);
                true
            })
            .then_output(|| {
                CreateLaunchTemplateVersionOutput::builder()
                    .launch_template_version(
                        LaunchTemplateVersion::builder().version_number(2).build(),
                    )
                    .build()
            });
        let modify = mock!(Client::modify_launch_template).then_output(|| {
            aws_sdk_ec2::operation::modify_launch_template::ModifyLaunchTemplateOutput::builder()
                .build()
        });
        let tags = mock!(Client::create_tags).then_output(|| {
            aws_sdk_ec2::operation::create_tags::CreateTagsOutput::builder().build()
        });
        let ec2 = client(&[&version, &modify, &tags]);
        let s = spec("ami-123");
        new_version(&ec2, &s, "lt-1", "1").await.unwrap();
        new_version(&ec2, &s, "lt-1", "1").await.unwrap();
        new_version(&ec2, &s, "lt-1", "2").await.unwrap();
        let t = seen.lock().unwrap().clone();
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].len(), 32, "{t:?}");
        assert_eq!(t[0], t[1], "the same call repeated: the same token");
        assert_ne!(t[1], t[2], "on top of another version: a new token");
    }

    #[tokio::test(start_paused = true)]
    async fn create_retries_while_the_instance_profile_propagates() {
        let create = mock!(Client::create_launch_template)
            .sequence()
            .error(|| {
                CreateLaunchTemplateError::generic(
                    ErrorMetadata::builder()
                        .code("InvalidParameterValue")
                        .message("Value (trading-ec2-profile-dev) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
                        .build(),
                )
            })
            .times(3)
            .output(created)
            .build();
        let ec2 = client(&[&create]);
        let o = create_template(&ec2, &spec("ami-123"), TOKEN)
            .await
            .unwrap();
        assert_eq!(o.id, "lt-1");
        assert_eq!(create.num_calls(), 4);
    }

    #[tokio::test]
    async fn al2023_latest_is_the_newest_matching_image_with_a_fallback() {
        let img = |id: &str, name: &str, date: &str| {
            Image::builder()
                .image_id(id)
                .name(name)
                .creation_date(date)
                .build()
        };
        let al2023 = mock!(Client::describe_images)
            .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("name")))
            .then_output(move || {
                DescribeImagesOutput::builder()
                    .images(img(
                        "ami-old",
                        "al2023-ami-2023.1-x86_64",
                        "2024-01-01T00:00:00.000Z",
                    ))
                    .images(img(
                        "ami-new",
                        "al2023-ami-2023.2-x86_64",
                        "2025-01-01T00:00:00.000Z",
                    ))
                    .build()
            });
        let ec2 = client(&[&al2023]);
        assert_eq!(
            resolve_image(&ec2, &spec(AL2023_LATEST), AL2023_LATEST)
                .await
                .unwrap(),
            "ami-new"
        );
        assert_eq!(
            resolve_image(&ec2, &spec("ami-pinned"), "ami-pinned")
                .await
                .unwrap(),
            "ami-pinned"
        );

        let none = mock!(Client::describe_images)
            .match_requests(|r| r.filters().iter().any(|f| f.name() == Some("name")))
            .then_output(|| DescribeImagesOutput::builder().build());
        let any = mock!(Client::describe_images)
            .match_requests(|r| {
                r.filters().iter().any(|f| f.name() == Some("architecture"))
                    && r.owners() == ["amazon"]
            })
            .then_output(move || {
                DescribeImagesOutput::builder()
                    .images(img("ami-x", "amzn2", "2023-01-01T00:00:00.000Z"))
                    .build()
            });
        let ec2 = client(&[&none, &any]);
        assert_eq!(
            resolve_image(&ec2, &spec(AL2023_LATEST), AL2023_LATEST)
                .await
                .unwrap(),
            "ami-x"
        );
    }

    #[tokio::test]
    async fn no_image_for_al2023_latest_is_the_image_property_s_fault() {
        let none =
            mock!(Client::describe_images).then_output(|| DescribeImagesOutput::builder().build());
        let ec2 = client(&[&none]);
        let err = resolve_image(&ec2, &spec(AL2023_LATEST), AL2023_LATEST)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ReconcileError::Config { field, .. } if field == "image"),
            "{err:?}"
        );
        assert!(err.to_string().contains("set image_id"), "{err}");
    }

    #[test]
    fn the_symbolic_image_is_shown_while_the_version_uses_what_it_resolved_to() {
        let lt = LaunchTemplate::builder()
            .launch_template_id("lt-1")
            .launch_template_name("trading-lt-dev")
            .default_version_number(3)
            .build();
        let data = ResponseLaunchTemplateData::builder()
            .image_id("ami-1")
            .instance_type(InstanceType::T3Micro)
            .user_data(aws_smithy_types::base64::encode("#!/bin/bash\necho ok\n"))
            .security_group_ids("sg-1")
            .build();
        let mut tags = Tags::new();
        tags.insert(TAG_IMAGE.into(), AL2023_LATEST.into());
        tags.insert(TAG_IMAGE_ID.into(), "ami-1".into());
        let o = observe(&spec(AL2023_LATEST), &lt, &tags, Some(&data)).unwrap();
        assert_eq!(o.props["image"], AL2023_LATEST);
        assert_eq!(o.props["user_data"], "#!/bin/bash\necho ok\n");
        assert_eq!(o.attrs["latest_version"], json!("3"));
        tags.insert(TAG_IMAGE_ID.into(), "ami-0".into());
        let o = observe(&spec(AL2023_LATEST), &lt, &tags, Some(&data)).unwrap();
        assert_eq!(o.props["image"], "ami-1", "changed out of band");
    }

    #[test]
    fn a_tags_change_is_a_change_of_the_versions_tag_specifications() {
        use aws_sdk_ec2::types::LaunchTemplateTagSpecification;
        let mut s = spec("ami-1");
        s.tags.insert("CostCenter".into(), "new".into());
        let lt = LaunchTemplate::builder()
            .launch_template_id("lt-1")
            .default_version_number(1)
            .build();
        let launched = |cost: &str| {
            let mut tags = s.tags.clone();
            tags.insert("CostCenter".into(), cost.into());
            let spec = |rt: ResourceType| {
                LaunchTemplateTagSpecification::builder()
                    .resource_type(rt)
                    .set_tags(Some(ec2_tags(&crate::tags::only(&s, &tags))))
                    .build()
            };
            ResponseLaunchTemplateData::builder()
                .image_id("ami-1")
                .instance_type(InstanceType::T3Micro)
                .iam_instance_profile(
                    aws_sdk_ec2::types::LaunchTemplateIamInstanceProfileSpecification::builder()
                        .name("trading-ec2-profile-dev")
                        .build(),
                )
                .user_data(aws_smithy_types::base64::encode("#!/bin/bash\necho ok\n"))
                .security_group_ids("sg-1")
                .tag_specifications(spec(ResourceType::Instance))
                .tag_specifications(spec(ResourceType::Volume))
                .build()
        };
        let r = LaunchTemplateReconciler::new(&crate::testing::test_aws());
        let old = observe(&s, &lt, &Tags::new(), Some(&launched("old"))).unwrap();
        let changes = r.diff(&s, &old);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["instance_tags", "volume_tags"], "{changes:?}");
        assert_eq!(changes[1].before.as_ref().unwrap()["CostCenter"], "old");
        assert_eq!(changes[0].after.as_ref().unwrap()["CostCenter"], "new");
        let now = observe(&s, &lt, &Tags::new(), Some(&launched("new"))).unwrap();
        assert_eq!(r.diff(&s, &now), vec![], "settled");
        let mut from_state = now.clone();
        from_state.props.remove("instance_tags");
        from_state.props.remove("volume_tags");
        assert_eq!(r.diff(&s, &from_state), vec![], "not read: no change");
    }
}

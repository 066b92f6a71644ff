//! `iam:role` — an IAM role with one inline policy (global).
//!
//! Found by name (`spec.name`; IAM names are unique per account); the
//! physical id is the role name. Ownership: the role's tags (GetRole, or
//! ListRoleTags when GetRole omits them).
//!
//! Props: [`IamRoleProps`], all updated in place. Attrs: `arn`, `name`.
//!
//! Caveats: GetRolePolicy and GetRole return policy documents URL-encoded;
//! documents are compared as JSON values after normalising what IAM may
//! rewrite (one-element lists vs single strings, a lone statement object).
//! Delete follows AWS's order: out of every instance profile, inline
//! policies deleted, managed ones detached, then the role
//! (`DeleteConflict` otherwise, terraform#2761).

use crate::errors::{found, gone};
use crate::props::list_like_desired;
use crate::retry::{call, Policy};
use crate::tags::{check_owned, Tags};
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_iam::types::{Role, Tag};
use aws_sdk_iam::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `iam:role` compares: the blueprint's props. All updated in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamRoleProps {
    /// The one service principal of the trust policy (`ec2.amazonaws.com`).
    /// In place (UpdateAssumeRolePolicy).
    pub assume_role_service: String,
    /// The name of the role's one inline policy. In place (PutRolePolicy;
    /// any other inline policy is reported and removed).
    pub inline_policy_name: String,
    /// The inline policy document, as JSON. In place (PutRolePolicy).
    pub inline_policy: Value,
    /// ARNs of attached managed policies (a set). In place (attach/detach).
    pub managed_policy_arns: Vec<String>,
}

pub struct IamRoleReconciler {
    pub aws: Aws,
}

impl IamRoleReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }

    fn client(&self) -> Client {
        self.aws.iam(self.aws.global_region())
    }
}

/// The trust policy that lets `service` assume the role.
pub fn trust_policy(service: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sts:AssumeRole",
        }],
    })
}

/// Parses a policy document as IAM returns it: URL-encoded (RFC 3986) JSON,
/// or plain JSON (some emulators do not encode).
pub fn parse_policy(doc: &str) -> Result<Value, ReconcileError> {
    if let Ok(v) = serde_json::from_str(doc) {
        return Ok(v);
    }
    let decoded = percent_decode(doc);
    serde_json::from_str(&decoded).map_err(|e| {
        ReconcileError::Internal(format!("IAM returned a policy that is not JSON: {e}"))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical form of a policy document for comparison: a lone statement
/// becomes a list, and the fields IAM lets be a string or a list
/// (`Action`, `Resource`, principals...) become sorted lists.
pub fn normalize_policy(v: &Value) -> Value {
    const LISTY: &[&str] = &["Action", "NotAction", "Resource", "NotResource"];
    fn as_sorted_list(v: &Value) -> Value {
        let mut items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        items.sort_by_key(|x| x.to_string());
        items.dedup();
        Value::Array(items)
    }
    fn principal(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), as_sorted_list(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    fn statement(s: &Value) -> Value {
        match s {
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| {
                        let v = if LISTY.contains(&k.as_str()) {
                            as_sorted_list(v)
                        } else if k == "Principal" || k == "NotPrincipal" {
                            principal(v)
                        } else {
                            v.clone()
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if k == "Statement" {
                        match v {
                            Value::Array(a) => Value::Array(a.iter().map(statement).collect()),
                            one => Value::Array(vec![statement(one)]),
                        }
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The observed policy in the desired shape when the two are equivalent
/// (so that no change shows), the observed one otherwise.
pub fn policy_like_desired(desired: Option<&Value>, observed: Value) -> Value {
    match desired {
        Some(d) if normalize_policy(d) == normalize_policy(&observed) => d.clone(),
        _ => observed,
    }
}

/// The service of a trust policy made by [`trust_policy`]; the whole
/// document when it is anything else (so that the diff shows it).
fn trust_service(doc: &Value, desired: Option<&str>) -> Value {
    if let Some(d) = desired {
        if normalize_policy(doc) == normalize_policy(&trust_policy(d)) {
            return json!(d);
        }
    }
    doc.clone()
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

fn from_iam(tags: &[Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// GetRole; `None` when there is no such role.
async fn get_role(iam: &Client, name: &str) -> Result<Option<Role>, ReconcileError> {
    let out = found(
        call("iam:GetRole", Policy::TRANSIENT, || {
            iam.get_role().role_name(name).send()
        })
        .await,
    )?;
    Ok(out.and_then(|o| o.role().cloned()))
}

async fn role_tags(iam: &Client, role: &Role) -> Result<Tags, ReconcileError> {
    if !role.tags().is_empty() {
        return Ok(from_iam(role.tags()));
    }
    let out = call("iam:ListRoleTags", Policy::TRANSIENT, || {
        iam.list_role_tags()
            .role_name(role.role_name())
            .max_items(1000)
            .send()
    })
    .await?;
    Ok(from_iam(out.tags()))
}

async fn inline_policy_names(iam: &Client, role: &str) -> Result<Vec<String>, ReconcileError> {
    let out = call("iam:ListRolePolicies", Policy::TRANSIENT, || {
        iam.list_role_policies()
            .role_name(role)
            .max_items(1000)
            .send()
    })
    .await?;
    Ok(out.policy_names().to_vec())
}

async fn managed_policy_arns(iam: &Client, role: &str) -> Result<Vec<String>, ReconcileError> {
    let out = call("iam:ListAttachedRolePolicies", Policy::TRANSIENT, || {
        iam.list_attached_role_policies()
            .role_name(role)
            .max_items(1000)
            .send()
    })
    .await?;
    Ok(out
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect())
}

/// The props of a role we own, in the spec's shapes.
async fn observe(
    iam: &Client,
    spec: &ResourceSpec,
    role: &Role,
) -> Result<Observed, ReconcileError> {
    let name = role.role_name();
    let trust = match role.assume_role_policy_document() {
        Some(doc) => trust_service(
            &parse_policy(doc)?,
            spec.props
                .get("assume_role_service")
                .and_then(Value::as_str),
        ),
        None => Value::Null,
    };
    let want_policy = spec.props.get("inline_policy_name").and_then(Value::as_str);
    let mut names = inline_policy_names(iam, name).await?;
    names.sort();
    // The one inline policy drctl manages; anything else shows as a change
    // of the name (and is removed by update: least privilege).
    let (policy_name, policy) = match (names.as_slice(), want_policy) {
        ([], _) => (Value::Null, Value::Null),
        ([one], _) => {
            let out = call("iam:GetRolePolicy", Policy::TRANSIENT, || {
                iam.get_role_policy()
                    .role_name(name)
                    .policy_name(one)
                    .send()
            })
            .await?;
            let doc = parse_policy(out.policy_document())?;
            (
                json!(one),
                policy_like_desired(spec.props.get("inline_policy"), doc),
            )
        }
        (many, _) => (json!(many.join(", ")), Value::Null),
    };
    let managed = managed_policy_arns(iam, name).await?;
    // json! rather than `IamRoleProps`: a role without its policy or trust
    // reads null there, which the struct cannot hold.
    Ok(Observed {
        id: name.to_string(),
        props: props::from_json(json!({
            "assume_role_service": trust,
            "inline_policy_name": policy_name,
            "inline_policy": policy,
            "managed_policy_arns": list_like_desired(spec.props.get("managed_policy_arns"), managed),
        })),
        attrs: props::from_json(json!({"arn": role.arn(), "name": name})),
    })
}

/// Makes the role's policies match the spec (inline and managed).
async fn put_policies(
    iam: &Client,
    p: &IamRoleProps,
    name: &str,
    existing_inline: &[String],
    existing_managed: &[String],
) -> Result<(), ReconcileError> {
    let policy_name = p.inline_policy_name.as_str();
    let policy = p.inline_policy.to_string();
    call("iam:PutRolePolicy", Policy::TRANSIENT, || {
        iam.put_role_policy()
            .role_name(name)
            .policy_name(policy_name)
            .policy_document(&policy)
            .send()
    })
    .await?;
    for other in existing_inline.iter().filter(|p| *p != policy_name) {
        gone(
            call("iam:DeleteRolePolicy", Policy::TRANSIENT, || {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(other)
                    .send()
            })
            .await
            .map(|_| ()),
        )?;
    }
    let wanted = &p.managed_policy_arns;
    for arn in wanted.iter().filter(|a| !existing_managed.contains(a)) {
        call("iam:AttachRolePolicy", Policy::TRANSIENT, || {
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
        })
        .await?;
    }
    for arn in existing_managed.iter().filter(|a| !wanted.contains(a)) {
        gone(
            call("iam:DetachRolePolicy", Policy::TRANSIENT, || {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
            })
            .await
            .map(|_| ()),
        )?;
    }
    Ok(())
}

/// Deletes the role and everything AWS wants gone first.
async fn delete_role(iam: &Client, name: &str) -> Result<(), ReconcileError> {
    let profiles = found(
        call("iam:ListInstanceProfilesForRole", Policy::TRANSIENT, || {
            iam.list_instance_profiles_for_role()
                .role_name(name)
                .max_items(1000)
                .send()
        })
        .await,
    )?;
    let Some(profiles) = profiles else {
        return Ok(());
    };
    for p in profiles.instance_profiles() {
        gone(
            call(
                "iam:RemoveRoleFromInstanceProfile",
                Policy::TRANSIENT,
                || {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(p.instance_profile_name())
                        .role_name(name)
                        .send()
                },
            )
            .await
            .map(|_| ()),
        )?;
    }
    for policy in found(inline_policy_names(iam, name).await)?.unwrap_or_default() {
        gone(
            call("iam:DeleteRolePolicy", Policy::TRANSIENT, || {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(&policy)
                    .send()
            })
            .await
            .map(|_| ()),
        )?;
    }
    for arn in found(managed_policy_arns(iam, name).await)?.unwrap_or_default() {
        gone(
            call("iam:DetachRolePolicy", Policy::TRANSIENT, || {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(&arn)
                    .send()
            })
            .await
            .map(|_| ()),
        )?;
    }
    gone(
        call("iam:DeleteRole", Policy::TRANSIENT, || {
            iam.delete_role().role_name(name).send()
        })
        .await
        .map(|_| ()),
    )
}

#[async_trait]
impl Reconciler for IamRoleReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::IAM_ROLE
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
                let req = iam.tag_role().role_name(name).set_tags(Some(tags));
                crate::tag_call!("iam:TagRole", req)
            },
            |keys| async move {
                let req = iam.untag_role().role_name(name).set_tag_keys(Some(keys));
                crate::tag_call!("iam:UntagRole", req)
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
        let Some(role) = get_role(&iam, name).await? else {
            return Ok(ReadOutcome::NotFound);
        };
        let tags = role_tags(&iam, &role).await?;
        match check_owned(cx, spec, role.role_name(), &tags, Observed::default) {
            ReadOutcome::Found(_) => Ok(ReadOutcome::Found(crate::tags::with_tags(
                observe(&iam, spec, &role).await?,
                &tags,
            ))),
            other => Ok(other),
        }
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let _slot = self.aws.permit("iam").await;
        let iam = self.client();
        let p: IamRoleProps = props::typed(spec)?;
        let trust = trust_policy(&p.assume_role_service).to_string();
        // CreateRole takes no token: the unique name and the tags in this
        // call make a crashed create recoverable by lookup.
        let req = iam
            .create_role()
            .role_name(&spec.name)
            .assume_role_policy_document(trust)
            .set_tags(Some(iam_tags(spec)?));
        let out = call("iam:CreateRole", Policy::ONCE, || req.clone().send()).await?;
        let role = out
            .role()
            .ok_or_else(|| ReconcileError::Internal("iam:CreateRole returned no role".into()))?;
        put_policies(&iam, &p, role.role_name(), &[], &[]).await?;
        Ok(Observed {
            id: role.role_name().to_string(),
            props: spec.props.clone(),
            attrs: props::from_json(json!({"arn": role.arn(), "name": role.role_name()})),
        })
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let _slot = self.aws.permit("iam").await;
        let iam = self.client();
        let p: IamRoleProps = props::typed(spec)?;
        let name = current.id.as_str();
        if changes.iter().any(|c| c.field == "assume_role_service") {
            let trust = trust_policy(&p.assume_role_service).to_string();
            call("iam:UpdateAssumeRolePolicy", Policy::TRANSIENT, || {
                iam.update_assume_role_policy()
                    .role_name(name)
                    .policy_document(&trust)
                    .send()
            })
            .await?;
        }
        if changes.iter().any(|c| c.field != "assume_role_service") {
            let inline = inline_policy_names(&iam, name).await?;
            let managed = managed_policy_arns(&iam, name).await?;
            put_policies(&iam, &p, name, &inline, &managed).await?;
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
        delete_role(&self.client(), &current.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_decoded_and_compared_as_json() {
        let doc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGetObject%22%2C%22Resource%22%3A%22arn%3Aaws%3As3%3A%3A%3Ab%2F*%22%7D%7D";
        let observed = parse_policy(doc).unwrap();
        assert_eq!(observed["Statement"]["Action"], "s3:GetObject");
        let desired = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}],
        });
        assert_eq!(
            policy_like_desired(Some(&desired), observed.clone()),
            desired
        );
        let other = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b/*"]}],
        });
        assert_eq!(
            policy_like_desired(Some(&other), observed.clone()),
            observed
        );
        // Plain JSON (not encoded) is accepted too.
        assert_eq!(parse_policy(&desired.to_string()).unwrap(), desired);
    }

    #[test]
    fn the_trust_policy_reads_back_as_its_service() {
        let doc = trust_policy("ec2.amazonaws.com");
        assert_eq!(
            trust_service(&doc, Some("ec2.amazonaws.com")),
            json!("ec2.amazonaws.com")
        );
        assert_eq!(trust_service(&doc, Some("s3.amazonaws.com")), doc);
    }

    #[test]
    fn lists_keep_the_desired_order_when_they_hold_the_same_items() {
        let d = json!(["b", "a"]);
        assert_eq!(list_like_desired(Some(&d), vec!["a".into(), "b".into()]), d);
        assert_eq!(list_like_desired(Some(&d), vec!["c".into()]), json!(["c"]));
        assert_eq!(list_like_desired(Some(&json!([])), vec![]), json!([]));
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all =
            crate::testing::assert_blueprint_props::<IamRoleProps>(drctl_stack::kinds::IAM_ROLE);
        assert!(all
            .iter()
            .any(|p| p.assume_role_service == "s3.amazonaws.com"
                && p.inline_policy["Version"] == "2012-10-17"));
        assert!(all.iter().all(|p| p.managed_policy_arns.is_empty()));
    }
}

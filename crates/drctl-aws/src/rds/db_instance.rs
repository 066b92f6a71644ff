//! `rds:db-instance` — the MySQL instance (`trading-db-{env}`) of one region.
//!
//! Found by identifier (= the spec's name, the physical id); the emulator
//! rejects tag filters, so ownership comes from the instance's `TagList`.
//! Props: [`DbInstanceProps`]; in place means ModifyDBInstance with
//! ApplyImmediately. Attrs: `name`, `arn`, `endpoint` ("host:port"), `port`.
//!
//! Caveats:
//! - The master password is read from `password_secret_arn` (JSON
//!   `{"password": ...}`) at create, and at update when that ARN changed
//!   (the secret was replaced: ModifyDBInstance MasterUserPassword),
//!   registered as secret at once and passed only to RDS; it is never
//!   stored, logged or put in an error (API error messages are scrubbed).
//! - `EngineVersion` is always sent: the emulator would default to 5.6.
//!   Any engine_version change is a replacement (keeps downgrades, which
//!   RDS refuses, simple).
//! - Declares its deletion protection, so a plan that would delete or
//!   replace a protected DB is refused before anything is deleted; delete
//!   itself also refuses while it is on; else it skips the final snapshot or takes
//!   `{name}-final-{unix time}`, and waits until the instance is gone.

use crate::errors::found;
use crate::rds::{from_rds, order_like, rds_tags};
use crate::rds::{DB_INSTANCE_DELETED, DB_INSTANCE_READY};
use crate::retry::{call, wait_for, Policy};
use crate::tags::check_owned;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_rds::types::DbInstance;
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, DeletionProtection, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `rds:db-instance` compares: the blueprint's props. Holds the
/// password secret's ARN only, never the password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbInstanceProps {
    /// `mysql`. Replaces.
    pub engine: String,
    /// e.g. `8.0.35` (always sent: the emulator would default to 5.6). Replaces.
    pub engine_version: String,
    /// e.g. `db.t3.micro`. In place.
    pub instance_class: String,
    /// Storage, GiB. In place when it grows; a smaller value replaces.
    pub allocated_storage: i32,
    /// A standby in a second AZ. In place.
    pub multi_az: bool,
    /// Storage encryption. Replaces (fixed at create).
    pub storage_encrypted: bool,
    /// Days of automated backups (0-35). In place.
    pub backup_retention_period: i32,
    /// A public endpoint (false: private subnets only). In place.
    pub publicly_accessible: bool,
    /// The master user's name. Replaces.
    pub master_username: String,
    /// ARN of the secret holding `{"password": ...}`, read at create and
    /// when it changes (the DB then takes the new secret's password).
    /// Echoed (RDS does not know where its password came from).
    pub password_secret_arn: String,
    /// The DB subnet group's name. Replaces.
    pub db_subnet_group_name: String,
    /// Security group ids (a set, observed in the desired order). In place.
    pub vpc_security_group_ids: Vec<String>,
    /// Refuse deletion (the plan's `db_deletion_protection`). In place.
    pub deletion_protection: bool,
    /// Delete without a final snapshot. An option of delete, echoed.
    pub skip_final_snapshot: bool,
}

/// Fields whose change replaces the instance, with the reason shown in the
/// plan (`diff` adds a smaller `allocated_storage`).
const REPLACE_ON: &[(&str, &str)] = &[
    ("engine", "an RDS instance's engine cannot change"),
    (
        "engine_version",
        "drctl does not upgrade or downgrade engine versions in place",
    ),
    (
        "storage_encrypted",
        "storage encryption is fixed when an RDS instance is created",
    ),
    (
        "master_username",
        "the master user name is fixed when an RDS instance is created",
    ),
    (
        "db_subnet_group_name",
        "moving an RDS instance to another subnet group needs a new instance",
    ),
];

pub struct DbInstanceReconciler {
    pub aws: Aws,
}

impl DbInstanceReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

fn echo(spec: &ResourceSpec, field: &str) -> Value {
    spec.props.get(field).cloned().unwrap_or(Value::Null)
}

fn flag(spec: &ResourceSpec, field: &str) -> bool {
    spec.props
        .get(field)
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn attrs(db: &DbInstance, name: &str) -> drctl_core::model::Props {
    let endpoint = db.endpoint();
    let host = endpoint.and_then(|e| e.address());
    let port = endpoint.and_then(|e| e.port());
    props::from_json(json!({
        "name": name,
        "arn": db.db_instance_arn(),
        "endpoint": host.zip(port).map(|(h, p)| format!("{h}:{p}")),
        "port": port,
    }))
}

fn observed(db: &DbInstance, spec: &ResourceSpec) -> Observed {
    let name = db.db_instance_identifier().unwrap_or(&spec.name);
    let groups: Vec<String> = db
        .vpc_security_groups()
        .iter()
        .filter(|g| g.status() != Some("removing"))
        .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
        .collect();
    // json! rather than `DbInstanceProps`: what RDS omits reads null (a
    // difference to show), and the echoed options may be absent in old states.
    Observed {
        id: name.to_string(),
        props: props::from_json(json!({
            "engine": db.engine(),
            "engine_version": db.engine_version(),
            "instance_class": db.db_instance_class(),
            "allocated_storage": db.allocated_storage(),
            "multi_az": db.multi_az().unwrap_or(false),
            "storage_encrypted": db.storage_encrypted().unwrap_or(false),
            "backup_retention_period": db.backup_retention_period(),
            "publicly_accessible": db.publicly_accessible().unwrap_or(false),
            "master_username": db.master_username(),
            // RDS does not know where its password came from; create and a
            // change of secret use it.
            "password_secret_arn": echo(spec, "password_secret_arn"),
            "db_subnet_group_name": db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
            "vpc_security_group_ids": order_like(groups, spec.props.get("vpc_security_group_ids")),
            "deletion_protection": db.deletion_protection().unwrap_or(false),
            // An option of delete, nothing to observe.
            "skip_final_snapshot": echo(spec, "skip_final_snapshot"),
        })),
        attrs: attrs(db, name),
    }
}

async fn describe(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Result<Option<DbInstance>, ReconcileError> {
    let out = found(
        call("rds:DescribeDBInstances", Policy::TRANSIENT, || {
            rds.describe_db_instances()
                .db_instance_identifier(id)
                .send()
        })
        .await,
    )?;
    Ok(out.and_then(|o| o.db_instances().first().cloned()))
}

async fn read_db(
    rds: &aws_sdk_rds::Client,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let id = known_id.unwrap_or(&spec.name);
    let Some(db) = describe(rds, id).await? else {
        return Ok(ReadOutcome::NotFound);
    };
    Ok(check_owned(cx, spec, id, &from_rds(db.tag_list()), || {
        observed(&db, spec)
    }))
}

/// Replaces every occurrence of `secret` in an error's text.
fn scrub(e: ReconcileError, secret: &str) -> ReconcileError {
    let clean = |s: String| s.replace(secret, "(redacted)");
    match e {
        ReconcileError::Api {
            operation,
            class,
            code,
            message,
        } => ReconcileError::Api {
            operation,
            class,
            code,
            message: clean(message),
        },
        ReconcileError::Internal(m) => ReconcileError::Internal(clean(m)),
        ReconcileError::Config {
            address,
            field,
            message,
        } => ReconcileError::Config {
            address,
            field,
            message: clean(message),
        },
        other => other,
    }
}

/// The master password from the secret; registered before it is returned.
async fn master_password(
    sm: &aws_sdk_secretsmanager::Client,
    spec: &ResourceSpec,
    secret_arn: &str,
) -> Result<String, ReconcileError> {
    let out = call("secretsmanager:GetSecretValue", Policy::TRANSIENT, || {
        sm.get_secret_value().secret_id(secret_arn).send()
    })
    .await?;
    let bad = || {
        props::config(
            spec,
            "password_secret_arn",
            format!("secret {secret_arn} must hold JSON {{\"password\": \"...\"}} (drctl wrote it so; restore that value with `aws secretsmanager put-secret-value`)"),
        )
    };
    let text = out.secret_string().ok_or_else(bad)?;
    // Errors of the parse are not passed on: they could quote the value.
    let value: Value = serde_json::from_str(text).map_err(|_| bad())?;
    let password = value
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_string();
    drctl_core::secrets::register(&password);
    Ok(password)
}

async fn create_db(
    rds: &aws_sdk_rds::Client,
    sm: &aws_sdk_secretsmanager::Client,
    spec: &ResourceSpec,
) -> Result<Observed, ReconcileError> {
    let p: DbInstanceProps = props::typed(spec)?;
    let password = master_password(sm, spec, &p.password_secret_arn).await?;
    // CreateDBInstance has no client token: the identifier is the key, and
    // the tags in this call make a half-created instance ours.
    let req = rds
        .create_db_instance()
        .db_instance_identifier(&spec.name)
        .engine(p.engine)
        .engine_version(p.engine_version)
        .db_instance_class(p.instance_class)
        .allocated_storage(p.allocated_storage)
        .multi_az(p.multi_az)
        .storage_encrypted(p.storage_encrypted)
        .backup_retention_period(p.backup_retention_period)
        .publicly_accessible(p.publicly_accessible)
        .master_username(p.master_username)
        .master_user_password(&password)
        .db_subnet_group_name(p.db_subnet_group_name)
        .set_vpc_security_group_ids(Some(p.vpc_security_group_ids))
        .deletion_protection(p.deletion_protection)
        .set_tags(Some(rds_tags(spec)));
    let out = call("rds:CreateDBInstance", Policy::ONCE, || req.clone().send())
        .await
        .map_err(|e| scrub(e, &password))?;
    let db = out.db_instance.ok_or_else(|| {
        ReconcileError::Internal(format!(
            "CreateDBInstance {} returned no instance",
            spec.name
        ))
    })?;
    Ok(Observed {
        id: spec.name.clone(),
        props: spec.props.clone(),
        attrs: attrs(&db, &spec.name),
    })
}

/// Waits for `available`; returns the instance as it is then.
async fn wait_available(
    rds: &aws_sdk_rds::Client,
    spec: &ResourceSpec,
    id: &str,
) -> Result<DbInstance, ReconcileError> {
    let what = format!("DB instance {id} ({}) to become available", spec.address);
    wait_for(&what, DB_INSTANCE_READY, || async {
        let db = describe(rds, id).await?;
        if let Some(status) = db.as_ref().and_then(|d| d.db_instance_status()) {
            tracing::debug!(db = id, status, "waiting for available");
        }
        Ok(db.filter(|d| d.db_instance_status() == Some("available")))
    })
    .await
}

async fn modify_db(
    rds: &aws_sdk_rds::Client,
    sm: &aws_sdk_secretsmanager::Client,
    spec: &ResourceSpec,
    current: &Observed,
    changes: &[FieldChange],
) -> Result<Observed, ReconcileError> {
    let p: DbInstanceProps = props::typed(spec)?;
    let changed = |f: &str| changes.iter().any(|c| c.field == f);
    let mut req = rds
        .modify_db_instance()
        .db_instance_identifier(&current.id)
        .apply_immediately(true);
    let mut any = false;
    if changed("instance_class") {
        req = req.db_instance_class(&p.instance_class);
        any = true;
    }
    if changed("backup_retention_period") {
        req = req.backup_retention_period(p.backup_retention_period);
        any = true;
    }
    if changed("multi_az") {
        req = req.multi_az(p.multi_az);
        any = true;
    }
    if changed("deletion_protection") {
        req = req.deletion_protection(p.deletion_protection);
        any = true;
    }
    if changed("publicly_accessible") {
        req = req.publicly_accessible(p.publicly_accessible);
        any = true;
    }
    if changed("vpc_security_group_ids") {
        req = req.set_vpc_security_group_ids(Some(p.vpc_security_group_ids.clone()));
        any = true;
    }
    if changed("allocated_storage") {
        req = req.allocated_storage(p.allocated_storage);
        any = true;
    }
    // Another secret (the old one replaced, or deleted and made again)
    // holds another password: the DB must take it, or whoever reads the
    // secret cannot log in.
    let mut password = None;
    if changed("password_secret_arn") {
        let pw = master_password(sm, spec, &p.password_secret_arn).await?;
        req = req.master_user_password(&pw);
        password = Some(pw);
        any = true;
    }
    // skip_final_snapshot has nothing to modify (an option of delete).
    if any {
        // One modification at a time: wait for the previous one to settle.
        wait_available(rds, spec, &current.id).await?;
        call("rds:ModifyDBInstance", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await
        .map_err(|e| match &password {
            Some(pw) => scrub(e, pw),
            None => e,
        })?;
    }
    let db = wait_available(rds, spec, &current.id).await?;
    Ok(Observed {
        id: current.id.clone(),
        props: spec.props.clone(),
        attrs: attrs(&db, &current.id),
    })
}

async fn delete_db(
    rds: &aws_sdk_rds::Client,
    spec: &ResourceSpec,
    current: &Observed,
    now_unix: u64,
) -> Result<(), ReconcileError> {
    let id = current.id.as_str();
    if flag(spec, "deletion_protection")
        || current.props.get("deletion_protection") == Some(&Value::Bool(true))
    {
        return Err(ReconcileError::DeletionProtected {
            address: spec.address.to_string(),
            what: format!("DB instance {id}"),
            how_to_disable: "set db_deletion_protection = false in the environment plan, run apply (this turns the protection off), then destroy again".into(),
        });
    }
    let Some(db) = describe(rds, id).await? else {
        return Ok(());
    };
    if db.db_instance_status() != Some("deleting") {
        let skip = flag(spec, "skip_final_snapshot")
            || current.props.get("skip_final_snapshot") == Some(&Value::Bool(true));
        let req = rds.delete_db_instance().db_instance_identifier(id);
        let req = if skip {
            req.skip_final_snapshot(true)
        } else {
            req.skip_final_snapshot(false)
                .final_db_snapshot_identifier(format!("{id}-final-{now_unix}"))
        };
        // InvalidDBInstanceState (e.g. still modifying) is retried.
        let r = call("rds:DeleteDBInstance", Policy::TRANSIENT, || {
            req.clone().send()
        })
        .await
        .map(|_| ());
        if found(r)?.is_none() {
            return Ok(());
        }
    }
    let what = format!("DB instance {id} ({}) to be deleted", spec.address);
    wait_for(&what, DB_INSTANCE_DELETED, || async {
        Ok(describe(rds, id).await?.is_none().then_some(()))
    })
    .await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[async_trait]
impl Reconciler for DbInstanceReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::DB_INSTANCE
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
        use crate::tags::{arn_of, only};
        let add = only(spec, &writes.set);
        crate::rds::rds_write_tags(&self.aws, spec, arn_of(current), &add, writes).await?;
        Ok(())
    }

    fn deletion_protection(&self) -> Option<DeletionProtection> {
        Some(DeletionProtection {
            field: "deletion_protection",
            how_to_disable: "set db_deletion_protection = false in the env plan (plans/{env}.toml) and run `drctl apply --env {env}`, which turns the protection off",
        })
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    /// The props, with a smaller `allocated_storage` made a replacement.
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = diff_props(&spec.props, &observed.props, self.replace_on());
        for c in &mut changes {
            let smaller = c.field == "allocated_storage"
                && matches!(
                    (c.before.as_ref().and_then(Value::as_i64), c.after.as_ref().and_then(Value::as_i64)),
                    (Some(b), Some(a)) if a < b
                );
            if smaller {
                c.replace_reason = Some("RDS storage cannot shrink".into());
            }
        }
        changes
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        read_db(&self.aws.rds(self.aws.region_of(spec)), cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let region = self.aws.region_of(spec);
        create_db(
            &self.aws.rds(region),
            &self.aws.secretsmanager(region),
            spec,
        )
        .await
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let rds = self.aws.rds(self.aws.region_of(spec));
        let db = wait_available(&rds, spec, &created.id).await?;
        Ok(Observed {
            attrs: attrs(&db, &created.id),
            ..created
        })
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let region = self.aws.region_of(spec);
        modify_db(
            &self.aws.rds(region),
            &self.aws.secretsmanager(region),
            spec,
            current,
            changes,
        )
        .await
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        delete_db(
            &self.aws.rds(self.aws.region_of(spec)),
            spec,
            current,
            unix_now(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_rds::operation::create_db_instance::CreateDbInstanceOutput;
    use aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput;
    use aws_sdk_rds::operation::describe_db_instances::{
        DescribeDBInstancesError, DescribeDbInstancesOutput,
    };
    use aws_sdk_rds::operation::modify_db_instance::ModifyDbInstanceOutput;
    use aws_sdk_rds::types::error::DbInstanceNotFoundFault;
    use aws_sdk_rds::types::Endpoint;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use drctl_core::model::Address;
    use std::collections::BTreeMap;

    fn rds_client(rules: &[&Rule]) -> aws_sdk_rds::Client {
        crate::mock_client!(aws_sdk_rds, "us-east-1", RuleMode::MatchAny, rules)
    }

    fn sm_client(rules: &[&Rule]) -> aws_sdk_secretsmanager::Client {
        crate::mock_client!(
            aws_sdk_secretsmanager,
            "us-east-1",
            RuleMode::MatchAny,
            rules
        )
    }

    const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:000000000000:secret:pw";
    const PASSWORD: &str = "Zq3-mock-password-never-shown-42";

    fn spec(protect: bool, skip: bool) -> ResourceSpec {
        let address = Address::new("us-east-1/database/db");
        let mut tags = BTreeMap::new();
        tags.insert("drctl:env".to_string(), "t".to_string());
        tags.insert("drctl:address".to_string(), address.to_string());
        ResourceSpec {
            address,
            kind: drctl_stack::kinds::DB_INSTANCE.into(),
            region: Some("us-east-1".into()),
            name: "trading-db-t".into(),
            props: props::from_json(json!({
                "engine": "mysql", "engine_version": "8.0.35",
                "instance_class": "db.t3.micro", "allocated_storage": 20,
                "multi_az": true, "storage_encrypted": true, "backup_retention_period": 7,
                "publicly_accessible": false, "master_username": "admin",
                "password_secret_arn": SECRET_ARN,
                "db_subnet_group_name": "trading-db-subnet-group-t",
                "vpc_security_group_ids": ["sg-1"],
                "deletion_protection": protect, "skip_final_snapshot": skip,
            })),
            tags,
            depends_on: vec![],
        }
    }

    fn db(status: &str) -> DescribeDbInstancesOutput {
        DescribeDbInstancesOutput::builder()
            .db_instances(
                DbInstance::builder()
                    .db_instance_identifier("trading-db-t")
                    .db_instance_arn("arn:aws:rds:us-east-1:000000000000:db:trading-db-t")
                    .db_instance_status(status)
                    .endpoint(Endpoint::builder().address("db.example").port(3306).build())
                    .build(),
            )
            .build()
    }

    fn not_found() -> DescribeDBInstancesError {
        DescribeDBInstancesError::DbInstanceNotFoundFault(
            DbInstanceNotFoundFault::builder()
                .meta(ErrorMetadata::builder().code("DBInstanceNotFound").build())
                .build(),
        )
    }

    #[tokio::test]
    async fn create_reads_the_password_from_the_secret_and_sends_it_only_to_rds() {
        let secret = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some(SECRET_ARN))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(json!({ "password": PASSWORD }).to_string())
                    .build()
            });
        let create = mock!(aws_sdk_rds::Client::create_db_instance)
            .match_requests(|r| {
                r.master_user_password() == Some(PASSWORD)
                    && r.engine_version() == Some("8.0.35")
                    && r.multi_az() == Some(true)
                    && r.storage_encrypted() == Some(true)
                    && r.publicly_accessible() == Some(false)
                    && r.backup_retention_period() == Some(7)
                    && r.tags().iter().any(|t| t.key() == Some("drctl:address"))
            })
            .then_output(|| {
                CreateDbInstanceOutput::builder()
                    .db_instance(
                        DbInstance::builder()
                            .db_instance_identifier("trading-db-t")
                            .build(),
                    )
                    .build()
            });
        let rds = rds_client(&[&create]);
        let sm = sm_client(&[&secret]);
        let o = create_db(&rds, &sm, &spec(false, true)).await.unwrap();
        assert_eq!(create.num_calls(), 1);
        assert!(drctl_core::secrets::contains_secret(PASSWORD), "registered");
        assert!(!format!("{o:?}").contains(PASSWORD));
    }

    /// A replaced password secret: the DB takes the new secret's password
    /// (before, the DB kept the old one and the secret held a password that
    /// logged nobody in). Another change sends no password.
    #[tokio::test]
    async fn a_new_password_secret_sets_the_db_password() {
        let secret = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some(SECRET_ARN))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .secret_string(json!({ "password": PASSWORD }).to_string())
                    .build()
            });
        let available =
            mock!(aws_sdk_rds::Client::describe_db_instances).then_output(|| db("available"));
        let modify = mock!(aws_sdk_rds::Client::modify_db_instance)
            .match_requests(|r| {
                r.master_user_password() == Some(PASSWORD) && r.apply_immediately() == Some(true)
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let rds = rds_client(&[&available, &modify]);
        let sm = sm_client(&[&secret]);
        let current = Observed {
            id: "trading-db-t".into(),
            props: Default::default(),
            attrs: Default::default(),
        };
        let change = |field: &str| FieldChange {
            field: field.into(),
            before: None,
            after: None,
            replace_reason: None,
            drift: false,
        };
        let o = modify_db(
            &rds,
            &sm,
            &spec(false, true),
            &current,
            &[change("password_secret_arn")],
        )
        .await
        .unwrap();
        assert_eq!((secret.num_calls(), modify.num_calls()), (1, 1));
        assert!(!format!("{o:?}").contains(PASSWORD));

        let class = mock!(aws_sdk_rds::Client::modify_db_instance)
            .match_requests(|r| {
                r.master_user_password().is_none() && r.db_instance_class().is_some()
            })
            .then_output(|| ModifyDbInstanceOutput::builder().build());
        let rds = rds_client(&[&available, &class]);
        let unused = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().build());
        let sm = sm_client(&[&unused]);
        modify_db(
            &rds,
            &sm,
            &spec(false, true),
            &current,
            &[change("instance_class")],
        )
        .await
        .unwrap();
        assert_eq!((unused.num_calls(), class.num_calls()), (0, 1));
    }

    #[tokio::test]
    async fn a_secret_without_a_password_is_the_password_secret_arn_s_fault() {
        let secret = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_output(|| {
            GetSecretValueOutput::builder()
                .secret_string("not json")
                .build()
        });
        let rds = rds_client(&[]);
        let sm = sm_client(&[&secret]);
        let err = create_db(&rds, &sm, &spec(false, true)).await.unwrap_err();
        assert!(
            matches!(&err, ReconcileError::Config { field, .. } if field == "password_secret_arn"),
            "{err:?}"
        );
        assert!(err.to_string().contains("put-secret-value"), "{err}");
    }

    #[test]
    fn errors_are_scrubbed_of_the_password() {
        let e = ReconcileError::Api {
            operation: "rds:CreateDBInstance".into(),
            class: drctl_core::reconcile::ErrorClass::Fatal,
            code: "InvalidParameterValue".into(),
            message: format!("bad password {PASSWORD}"),
        };
        assert!(!scrub(e, PASSWORD).to_string().contains(PASSWORD));
    }

    #[tokio::test(start_paused = true)]
    async fn ready_waits_through_creating_and_backing_up() {
        let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(|| db("creating"))
            .times(3)
            .output(|| db("backing-up"))
            .times(2)
            .output(|| db("available"))
            .build();
        let rds = rds_client(&[&describe]);
        let got = wait_available(&rds, &spec(false, true), "trading-db-t")
            .await
            .unwrap();
        assert_eq!(describe.num_calls(), 6);
        assert_eq!(attrs(&got, "trading-db-t")["endpoint"], "db.example:3306");
        assert_eq!(attrs(&got, "trading-db-t")["port"], 3306);
    }

    #[tokio::test(start_paused = true)]
    async fn ready_times_out_naming_the_db() {
        let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(|| db("creating"))
            .repeatedly()
            .build();
        let rds = rds_client(&[&describe]);
        let msg = wait_available(&rds, &spec(false, true), "trading-db-t")
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("timed out"), "{msg}");
        assert!(msg.contains("DB instance trading-db-t"), "{msg}");
        assert!(msg.contains("available"), "{msg}");
    }

    #[tokio::test]
    async fn delete_refuses_a_protected_db_and_says_how_to_unprotect_it() {
        let rds = rds_client(&[]);
        let s = spec(true, true);
        let current = Observed {
            id: "trading-db-t".into(),
            props: s.props.clone(),
            attrs: Default::default(),
        };
        let err = delete_db(&rds, &s, &current, 1).await.unwrap_err();
        assert!(
            matches!(&err, ReconcileError::DeletionProtected { address, .. } if address == &s.address.to_string()),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("trading-db-t"), "{msg}");
        assert!(msg.contains("deletion protection"), "{msg}");
        assert!(msg.contains("db_deletion_protection = false"), "{msg}");
    }

    #[tokio::test(start_paused = true)]
    async fn delete_takes_a_named_final_snapshot_unless_skipped_and_waits_until_gone() {
        let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(|| db("available"))
            .output(|| db("deleting"))
            .times(2)
            .error(not_found)
            .build();
        let delete = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|r| {
                r.skip_final_snapshot() == Some(false)
                    && r.final_db_snapshot_identifier() == Some("trading-db-t-final-1700000000")
            })
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let rds = rds_client(&[&describe, &delete]);
        let s = spec(false, false);
        let current = Observed {
            id: "trading-db-t".into(),
            props: s.props.clone(),
            attrs: Default::default(),
        };
        delete_db(&rds, &s, &current, 1_700_000_000).await.unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert!(describe.is_exhausted());

        let describe = mock!(aws_sdk_rds::Client::describe_db_instances)
            .sequence()
            .output(|| db("available"))
            .error(not_found)
            .build();
        let skipped = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|r| {
                r.skip_final_snapshot() == Some(true) && r.final_db_snapshot_identifier().is_none()
            })
            .then_output(|| DeleteDbInstanceOutput::builder().build());
        let rds = rds_client(&[&describe, &skipped]);
        let s = spec(false, true);
        let current = Observed {
            id: "trading-db-t".into(),
            props: s.props.clone(),
            attrs: Default::default(),
        };
        delete_db(&rds, &s, &current, 1).await.unwrap();
        assert_eq!(skipped.num_calls(), 1);
    }

    #[test]
    fn shrinking_storage_is_a_replacement_growing_is_not() {
        let aws = crate::Aws::from_config(aws_types::SdkConfig::builder().build(), None);
        let r = DbInstanceReconciler::new(&aws);
        let s = spec(false, true);
        let mut props = s.props.clone();
        props.insert("allocated_storage".into(), json!(50));
        let shrink = r.diff(
            &s,
            &Observed {
                props: props.clone(),
                ..Default::default()
            },
        );
        assert_eq!(
            shrink[0].replace_reason.as_deref(),
            Some("RDS storage cannot shrink")
        );
        props.insert("allocated_storage".into(), json!(10));
        let grow = r.diff(
            &s,
            &Observed {
                props,
                ..Default::default()
            },
        );
        assert!(grow[0].replace_reason.is_none());
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<DbInstanceProps>(
            drctl_stack::kinds::DB_INSTANCE,
        );
        assert!(all
            .iter()
            .all(|p| p.engine == "mysql" && p.storage_encrypted && !p.publicly_accessible));
        // The secret's ARN (its id), never a password.
        assert!(all.iter().all(|p| p
            .password_secret_arn
            .ends_with("/database/password-secret.id")));
        assert!(all.iter().all(|p| p.allocated_storage >= 20));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
        let mut bad = spec(false, true);
        bad.props["allocated_storage"] = json!(1_i64 << 40);
        match props::typed::<DbInstanceProps>(&bad) {
            Err(ReconcileError::Config { field, .. }) => assert_eq!(field, "allocated_storage"),
            other => panic!("{other:?}"),
        }
    }
}

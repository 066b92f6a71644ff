//! Data tier against the emulator (STACK.md sections 4, 5 and 7), checked
//! through the AWS APIs: the DB password secret, the RDS instance, the
//! global sessions table, the data buckets and their replication. Each test
//! also proves that a second plan changes nothing and makes no mutating
//! call, that drift is shown and repaired, and that destroy leaves nothing.
//!
//! Passwords read back from Secrets Manager are never printed: comparisons
//! use `assert!(a == b)`, not `assert_eq!`.

use drctl_core::model::Address;
use drctl_core::plan::{Action, Plan};
use drctl_testkit::{dev_stack, slice, unique_env, Run, ACCOUNT};
use std::collections::BTreeMap;

const PRIMARY: &str = "us-east-1";
const SECONDARY: &str = "us-west-2";

fn change<'a>(plan: &'a Plan, address: &str) -> &'a drctl_core::plan::ResourceChange {
    plan.change(&Address::new(address))
        .unwrap_or_else(|| panic!("no change for {address}: {plan:#?}"))
}

/// A second plan changes nothing and calls nothing that mutates.
async fn assert_converged(run: &Run) {
    let before = run.mutating_calls();
    let plan = run.plan().await.unwrap();
    assert!(!plan.has_changes(), "{plan:#?}");
    assert_eq!(run.mutating_calls(), before, "planning must not mutate");
}

fn calls(run: &Run, op: &str) -> u64 {
    run.aws
        .calls()
        .snapshot()
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(op))
        .map(|(_, n)| *n)
        .sum()
}

async fn password_of(sm: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    let v = sm
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("secret value");
    let json: serde_json::Value =
        serde_json::from_str(v.secret_string().expect("a string secret")).expect("JSON secret");
    let p = json["password"]
        .as_str()
        .expect("a password field")
        .to_string();
    drctl_core::secrets::register(&p);
    p
}

fn assert_strong(p: &str) {
    assert!(p.len() == 32, "password has {} chars, not 32", p.len());
    assert!(
        !p.contains(['/', '@', '"', ' ']),
        "password has a character RDS refuses"
    );
    assert!(
        p.chars().all(|c| c.is_ascii_graphic()),
        "printable ASCII only"
    );
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn secrets_are_created_once_with_a_json_password_and_never_rotated() {
    let env = unique_env("t-sec");
    let specs = slice(dev_stack(&env), |a| {
        a.ends_with("/database/password-secret")
    });
    assert_eq!(specs.len(), 2, "one secret per region");
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let name = format!("trading-db-password-{env}");

    let mut first = BTreeMap::new();
    for region in [PRIMARY, SECONDARY] {
        let sm = run.aws.secretsmanager(region);
        let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
        assert!(d.deleted_date().is_none());
        let tags: BTreeMap<_, _> = d
            .tags()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(tags["drctl:env"], env);
        assert_eq!(
            tags["drctl:address"],
            format!("{region}/database/password-secret")
        );
        assert_eq!(tags["Name"], name);
        let p = password_of(&sm, &name).await;
        assert_strong(&p);
        first.insert(region, p);
    }
    assert!(
        first[PRIMARY] != first[SECONDARY],
        "one password per region"
    );

    assert_converged(&run).await;
    // Re-applying never regenerates the password.
    run.apply().await;
    for region in [PRIMARY, SECONDARY] {
        let p = password_of(&run.aws.secretsmanager(region), &name).await;
        assert!(p == first[region], "the password changed on re-apply");
    }

    // Drift: description changed out of band.
    let sm = run.aws.secretsmanager(PRIMARY);
    sm.update_secret()
        .secret_id(&name)
        .description("edited by hand")
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &format!("{PRIMARY}/database/password-secret"));
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "description");
    assert!(c.fields[0].drift && c.drift);
    run.apply().await;
    assert_converged(&run).await;
    let p = password_of(&sm, &name).await;
    assert!(
        p == first[PRIMARY],
        "repairing the description kept the password"
    );

    // Destroy (the dev plan force-deletes): the names are free at once.
    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    for region in [PRIMARY, SECONDARY] {
        let r = run
            .aws
            .secretsmanager(region)
            .describe_secret()
            .secret_id(&name)
            .send()
            .await;
        assert!(r.is_err(), "secret {name} still exists in {region}");
    }
}

#[tokio::test]
async fn a_secret_pending_deletion_is_restored_with_its_password() {
    let env = unique_env("t-sec");
    let address = format!("{PRIMARY}/database/password-secret");
    let mut specs = slice(dev_stack(&env), |a| a == address);
    assert_eq!(specs.len(), 1);
    specs[0]
        .props
        .insert("force_delete_without_recovery".into(), false.into());
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let name = format!("trading-db-password-{env}");
    let sm = run.aws.secretsmanager(PRIMARY);
    let arn = sm
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let before = password_of(&sm, &name).await;

    // Deleted by hand with a recovery window: the name stays taken.
    sm.delete_secret()
        .secret_id(&name)
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &address);
    assert_eq!(c.action, Action::Create, "shown as a create");
    assert!(
        c.reasons.iter().any(|r| r.contains("deleted outside")),
        "{c:?}"
    );
    run.apply().await;
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert!(d.deleted_date().is_none(), "restored");
    assert_eq!(d.arn(), Some(arn.as_str()), "the same secret");
    let after = password_of(&sm, &name).await;
    assert!(after == before, "a restored secret keeps its password");
    assert_converged(&run).await;

    // Destroy without force: scheduled for deletion with a recovery window.
    run.destroy().await;
    let d = sm.describe_secret().secret_id(&name).send().await.unwrap();
    assert!(d.deleted_date().is_some(), "scheduled for deletion");
    sm.delete_secret()
        .secret_id(&name)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
}

// ---------------------------------------------------------------- RDS

async fn describe_db(
    rds: &aws_sdk_rds::Client,
    id: &str,
) -> Option<aws_sdk_rds::types::DbInstance> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(o) => o.db_instances().first().cloned(),
        Err(_) => None,
    }
}

async fn group_id(ec2: &aws_sdk_ec2::Client, name: &str) -> String {
    let out = ec2
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-name")
                .values(name)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.security_groups().len(), 1, "one group named {name}");
    out.security_groups()[0].group_id().unwrap().to_string()
}

async fn subnet_ids_named(ec2: &aws_sdk_ec2::Client, names: &[String]) -> Vec<String> {
    let out = ec2
        .describe_subnets()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:Name")
                .set_values(Some(names.to_vec()))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .subnets()
        .iter()
        .map(|s| s.subnet_id().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn database_multi_az_encrypted_private_with_a_secret_password() {
    let env = unique_env("t-db");
    let specs = slice(dev_stack(&env), |a| a.contains("/database/"));
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let db_name = format!("trading-db-{env}");
    let group_name = format!("trading-db-subnet-group-{env}");
    let secret_name = format!("trading-db-password-{env}");
    let state = run.store().state;

    for region in [PRIMARY, SECONDARY] {
        let rds = run.aws.rds(region);
        let ec2 = run.aws.ec2(region);
        let db = describe_db(&rds, &db_name).await.expect("the DB exists");
        assert_eq!(db.db_instance_status(), Some("available"));
        assert_eq!(db.engine(), Some("mysql"));
        assert_eq!(
            db.engine_version(),
            Some("8.0.35"),
            "pinned, not the emulator's 5.6"
        );
        assert_eq!(db.db_instance_class(), Some("db.t3.micro"));
        assert_eq!(db.multi_az(), Some(true));
        assert_eq!(db.storage_encrypted(), Some(true));
        assert_eq!(db.backup_retention_period(), Some(7));
        assert_eq!(db.publicly_accessible(), Some(false));
        assert_eq!(db.deletion_protection(), Some(false));
        assert_eq!(db.master_username(), Some("admin"));
        let sgs: Vec<_> = db
            .vpc_security_groups()
            .iter()
            .map(|g| g.vpc_security_group_id().unwrap().to_string())
            .collect();
        assert_eq!(
            sgs,
            [group_id(&ec2, &format!("trading-rds-sg-{env}")).await],
            "only the RDS security group"
        );
        let tags: BTreeMap<_, _> = db
            .tag_list()
            .iter()
            .map(|t| (t.key().unwrap(), t.value().unwrap()))
            .collect();
        assert_eq!(tags["drctl:env"], env);
        assert_eq!(tags["drctl:address"], format!("{region}/database/db"));

        // The subnet group holds exactly the two private subnets.
        assert_eq!(
            db.db_subnet_group().and_then(|g| g.db_subnet_group_name()),
            Some(group_name.as_str())
        );
        let g = rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&group_name)
            .send()
            .await
            .unwrap();
        let mut in_group: Vec<String> = g.db_subnet_groups()[0]
            .subnets()
            .iter()
            .map(|s| s.subnet_identifier().unwrap().to_string())
            .collect();
        in_group.sort();
        let private = subnet_ids_named(
            &ec2,
            &[
                format!("trading-private-1-{env}"),
                format!("trading-private-2-{env}"),
            ],
        )
        .await;
        assert_eq!(in_group, private);

        // The password secret: JSON {"password": ...} of the right form.
        assert_strong(&password_of(&run.aws.secretsmanager(region), &secret_name).await);

        // The endpoint other resources read.
        let rec = &state.resources[&Address::new(format!("{region}/database/db"))];
        let ep = db.endpoint().unwrap();
        assert_eq!(
            rec.attrs["endpoint"],
            format!("{}:{}", ep.address().unwrap(), ep.port().unwrap())
        );
        assert_eq!(rec.attrs["name"], db_name);
    }

    assert_converged(&run).await;

    // Drift: backups shortened and the DB made public by hand.
    let rds = run.aws.rds(PRIMARY);
    rds.modify_db_instance()
        .db_instance_identifier(&db_name)
        .backup_retention_period(1)
        .publicly_accessible(true)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &format!("{PRIMARY}/database/db"));
    assert_eq!(c.action, Action::Update, "{c:?}");
    let mut fields: Vec<_> = c.fields.iter().map(|f| f.field.as_str()).collect();
    fields.sort();
    assert_eq!(fields, ["backup_retention_period", "publicly_accessible"]);
    assert!(c.fields.iter().all(|f| f.drift));
    assert_eq!(
        change(&plan, &format!("{SECONDARY}/database/db")).action,
        Action::NoOp
    );
    run.apply().await;
    let db = describe_db(&rds, &db_name).await.unwrap();
    assert_eq!(db.backup_retention_period(), Some(7));
    assert_eq!(db.publicly_accessible(), Some(false));
    assert_converged(&run).await;

    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    for region in [PRIMARY, SECONDARY] {
        let rds = run.aws.rds(region);
        assert!(
            describe_db(&rds, &db_name).await.is_none(),
            "DB left in {region}"
        );
        let g = rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&group_name)
            .send()
            .await;
        assert!(g.is_err(), "subnet group left in {region}");
        let s = run
            .aws
            .secretsmanager(region)
            .describe_secret()
            .secret_id(&secret_name)
            .send()
            .await;
        assert!(s.is_err(), "secret left in {region}");
    }
}

#[tokio::test]
async fn the_db_password_appears_in_no_state_file_backup_or_plan() {
    let env = unique_env("t-pw");
    let specs = slice(dev_stack(&env), |a| a.contains("/database/"));
    let run = Run::new(&env, specs).await;
    let mut plans = vec![run.apply().await];
    plans.push(run.plan().await.unwrap());
    let secret_name = format!("trading-db-password-{env}");
    let mut passwords = Vec::new();
    for region in [PRIMARY, SECONDARY] {
        passwords.push(password_of(&run.aws.secretsmanager(region), &secret_name).await);
    }
    let state = std::fs::read_to_string(&run.state_path).unwrap();
    let backup_path = format!("{}.backup", run.state_path.display());
    let backup = std::fs::read_to_string(&backup_path).expect("a state backup exists");
    assert!(state.contains("/database/db"), "the DBs are in the state");
    plans.push(run.destroy().await);
    for (i, p) in passwords.iter().enumerate() {
        assert!(
            !state.contains(p.as_str()),
            "password {i} is in the state file"
        );
        assert!(
            !backup.contains(p.as_str()),
            "password {i} is in the state backup"
        );
        for plan in &plans {
            assert!(
                !format!("{plan:?}").contains(p.as_str()),
                "password {i} in a plan's Debug"
            );
            assert!(
                !format!("{plan:#?}").contains(p.as_str()),
                "password {i} in a plan's Debug"
            );
            let json = serde_json::to_string(plan).unwrap();
            assert!(!json.contains(p.as_str()), "password {i} in a plan's JSON");
        }
    }
    // After destroy the state and its backup are still clean.
    for path in [run.state_path.display().to_string(), backup_path] {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            passwords.iter().all(|p| !text.contains(p.as_str())),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_protected_db_is_not_destroyed_until_the_plan_turns_protection_off() {
    let env = unique_env("t-dbp");
    let db_addr = format!("{PRIMARY}/database/db");
    let mut specs = slice(dev_stack(&env), |a| a == db_addr);
    for s in specs.iter_mut().filter(|s| s.address.as_str() == db_addr) {
        s.props.insert("deletion_protection".into(), true.into());
        s.props.insert("skip_final_snapshot".into(), false.into());
    }
    let mut run = Run::new(&env, specs).await;
    run.apply().await;
    let db_name = format!("trading-db-{env}");
    let rds = run.aws.rds(PRIMARY);
    assert_eq!(
        describe_db(&rds, &db_name)
            .await
            .unwrap()
            .deletion_protection(),
        Some(true)
    );

    // Deleting it is refused with the way out in the message.
    let prior = run.plan().await.unwrap();
    let c = change(&prior, &db_addr);
    let spec = drctl_core::model::ResourceSpec {
        address: c.address.clone(),
        kind: c.kind.clone(),
        region: c.region.clone(),
        name: c.name.clone(),
        props: c.prior.clone().unwrap().props,
        tags: BTreeMap::new(),
        depends_on: vec![],
    };
    let cx = drctl_core::reconcile::Ctx::new(env.clone());
    let err = run
        .registry
        .get(drctl_stack::kinds::DB_INSTANCE)
        .unwrap()
        .delete(&cx, &spec, c.prior.as_ref().unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&db_name), "{err}");
    assert!(err.contains("deletion protection"), "{err}");
    assert!(err.contains("db_deletion_protection = false"), "{err}");
    assert!(describe_db(&rds, &db_name).await.is_some(), "still there");

    // The way out: protection off in the plan, apply, destroy.
    for s in run
        .specs
        .iter_mut()
        .filter(|s| s.address.as_str() == db_addr)
    {
        s.props.insert("deletion_protection".into(), false.into());
    }
    let plan = run.apply().await;
    let c = change(&plan, &db_addr);
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields[0].field, "deletion_protection");
    assert_eq!(
        describe_db(&rds, &db_name)
            .await
            .unwrap()
            .deletion_protection(),
        Some(false)
    );
    run.destroy().await;
    assert!(describe_db(&rds, &db_name).await.is_none());
    // skip_final_snapshot = false: a final snapshot named after the DB.
    let snaps = rds.describe_db_snapshots().send().await.unwrap();
    let finals: Vec<_> = snaps
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .filter(|id| id.starts_with(&format!("{db_name}-final-")))
        .map(str::to_string)
        .collect();
    assert_eq!(finals.len(), 1, "{finals:?}");
    rds.delete_db_snapshot()
        .db_snapshot_identifier(&finals[0])
        .send()
        .await
        .unwrap();
}

// ---------------------------------------------------------------- DynamoDB

async fn pitr(ddb: &aws_sdk_dynamodb::Client, table: &str) -> String {
    ddb.describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status())
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

async fn ddb_tags(ddb: &aws_sdk_dynamodb::Client, arn: &str) -> BTreeMap<String, String> {
    ddb.list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

#[tokio::test]
async fn dynamodb_global_table_with_a_replica() {
    use aws_sdk_dynamodb::types::{
        BillingMode, KeyType, ReplicaStatus, SseStatus, StreamViewType, TableStatus,
    };
    let env = unique_env("t-ddb");
    let specs = slice(dev_stack(&env), |a| a.contains("/dynamodb/"));
    assert_eq!(specs.len(), 2, "the table and its replica");
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let name = format!("trading-sessions-{env}");
    let table_addr = format!("{PRIMARY}/dynamodb/sessions-table");
    let replica_addr = format!("{SECONDARY}/dynamodb/sessions-replica");

    // The table in the primary region.
    let east = run.aws.dynamodb(PRIMARY);
    let t = east
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(t.table_status(), Some(&TableStatus::Active));
    let hash = t
        .key_schema()
        .iter()
        .find(|k| k.key_type() == &KeyType::Hash)
        .unwrap();
    assert_eq!(hash.attribute_name(), "session_id");
    assert_eq!(t.key_schema().len(), 1);
    assert_eq!(t.attribute_definitions()[0].attribute_type().as_str(), "S");
    assert_eq!(
        t.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let stream = t.stream_specification().unwrap();
    assert!(stream.stream_enabled());
    assert_eq!(
        stream.stream_view_type(),
        Some(&StreamViewType::NewAndOldImages)
    );
    assert!(t.latest_stream_arn().is_some());
    assert!(matches!(
        t.sse_description().and_then(|s| s.status()),
        Some(SseStatus::Enabled | SseStatus::Enabling)
    ));
    assert_eq!(t.global_table_version(), Some("2019.11.21"));
    assert_eq!(pitr(&east, &name).await, "ENABLED");
    let tags = ddb_tags(&east, t.table_arn().unwrap()).await;
    assert_eq!(tags["drctl:env"], env);
    assert_eq!(tags["drctl:address"], table_addr);

    // The replica, seen from both regions.
    let listed = t
        .replicas()
        .iter()
        .find(|r| r.region_name() == Some(SECONDARY))
        .expect("the primary lists the replica");
    assert_eq!(listed.replica_status(), Some(&ReplicaStatus::Active));
    let west = run.aws.dynamodb(SECONDARY);
    let r = west
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(r.table_status(), Some(&TableStatus::Active));
    let back = r
        .replicas()
        .iter()
        .find(|x| x.region_name() == Some(PRIMARY))
        .expect("the replica region lists the primary");
    assert_eq!(back.replica_status(), Some(&ReplicaStatus::Active));
    let replica_arn = r.table_arn().unwrap().to_string();
    assert!(
        replica_arn.contains(&format!(":{SECONDARY}:")),
        "{replica_arn}"
    );
    assert_eq!(
        pitr(&west, &name).await,
        "ENABLED",
        "PITR on the replica too"
    );
    let rtags = ddb_tags(&west, &replica_arn).await;
    assert_eq!(rtags["drctl:env"], env);
    assert_eq!(rtags["drctl:address"], replica_addr);
    let state = run.store().state;
    assert_eq!(
        state.resources[&Address::new(&replica_addr)].id,
        replica_arn
    );
    let table_state = &state.resources[&Address::new(&table_addr)];
    assert_eq!(table_state.attrs["arn"], t.table_arn().unwrap());
    assert_eq!(
        table_state.attrs["stream_arn"],
        t.latest_stream_arn().unwrap()
    );

    assert_converged(&run).await;

    // Drift: PITR switched off on the replica only.
    west.update_continuous_backups()
        .table_name(&name)
        .point_in_time_recovery_specification(
            aws_sdk_dynamodb::types::PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    assert_eq!(change(&plan, &table_addr).action, Action::NoOp);
    let c = change(&plan, &replica_addr);
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "point_in_time_recovery");
    assert!(c.fields[0].drift);
    run.apply().await;
    assert_eq!(pitr(&west, &name).await, "ENABLED");
    assert_converged(&run).await;

    // A replica that lost its drctl tags (as after a run killed between
    // creating and tagging it) is still found through its table and
    // re-tagged.
    west.untag_resource()
        .resource_arn(&replica_arn)
        .tag_keys("drctl:env")
        .tag_keys("drctl:address")
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &replica_addr);
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields[0].field, "ownership_tags");
    run.apply().await;
    assert_eq!(
        ddb_tags(&west, &replica_arn).await["drctl:address"],
        replica_addr
    );
    assert_converged(&run).await;

    // Destroy: replica first, then the table; nothing left in either region.
    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    for (region, ddb) in [(PRIMARY, &east), (SECONDARY, &west)] {
        let r = ddb.describe_table().table_name(&name).send().await;
        assert!(r.is_err(), "table {name} still exists in {region}");
        let names = ddb.list_tables().send().await.unwrap();
        assert!(!names.table_names().contains(&name), "{region}");
    }
}

// ---------------------------------------------------------------- S3

async fn bucket_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, String> {
    s3.get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

#[tokio::test]
async fn storage_buckets_replication_drift_and_destroy_of_versioned_objects() {
    use aws_sdk_s3::types::{BucketVersioningStatus, ReplicationRuleStatus, ServerSideEncryption};
    let env = unique_env("t-s3");
    let specs = slice(dev_stack(&env), |a| a.contains("/storage/"));
    assert_eq!(specs.len(), 4, "two buckets, the replication, its IAM role");
    let run = Run::new(&env, specs).await;
    run.apply().await;
    let primary = format!("trading-data-{env}-{ACCOUNT}");
    let replica = format!("{primary}-replica");
    let s3_east = run.aws.s3(PRIMARY);
    let s3_west = run.aws.s3(SECONDARY);

    for (bucket, s3, region, address) in [
        (
            &primary,
            &s3_east,
            PRIMARY,
            format!("{PRIMARY}/storage/data-bucket"),
        ),
        (
            &replica,
            &s3_west,
            SECONDARY,
            format!("{SECONDARY}/storage/replica-bucket"),
        ),
    ] {
        let head = s3.head_bucket().bucket(bucket).send().await.unwrap();
        assert_eq!(head.bucket_region(), Some(region), "{bucket}");
        let v = s3
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        assert_eq!(
            v.status(),
            Some(&BucketVersioningStatus::Enabled),
            "{bucket}"
        );
        let e = s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let alg = e.server_side_encryption_configuration().unwrap().rules()[0]
            .apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .clone();
        assert_eq!(alg, ServerSideEncryption::Aes256);
        let b = s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let b = b.public_access_block_configuration().unwrap();
        assert_eq!(
            (
                b.block_public_acls(),
                b.ignore_public_acls(),
                b.block_public_policy(),
                b.restrict_public_buckets()
            ),
            (Some(true), Some(true), Some(true), Some(true))
        );
        let tags = bucket_tags(s3, bucket).await;
        assert_eq!(tags["drctl:env"], env);
        assert_eq!(tags["drctl:address"], address);
        assert_eq!(tags["Application"], "TradingPlatform");
    }
    // The emulator reports AES256 and a full block on any bucket: prove
    // drctl asked for them itself, once per bucket.
    assert_eq!(calls(&run, "s3:PutBucketEncryption"), 2);
    assert_eq!(calls(&run, "s3:PutPublicAccessBlock"), 2);
    assert_eq!(calls(&run, "s3:PutBucketVersioning"), 2);
    assert_eq!(
        calls(&run, "s3:PutBucketTagging"),
        0,
        "tags went in CreateBucket"
    );

    // Replication: primary → replica through the replication role, RTC 15 min.
    let role_arn = run
        .aws
        .iam("us-east-1")
        .get_role()
        .role_name(format!("trading-s3-replication-role-{env}"))
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let conf = s3_east
        .get_bucket_replication()
        .bucket(&primary)
        .send()
        .await
        .unwrap()
        .replication_configuration
        .unwrap();
    assert_eq!(conf.role(), role_arn);
    assert_eq!(conf.rules().len(), 1);
    let rule = &conf.rules()[0];
    assert_eq!(rule.id(), Some("replicate-all"));
    assert_eq!(rule.status(), &ReplicationRuleStatus::Enabled);
    let d = rule.destination().unwrap();
    assert_eq!(d.bucket(), format!("arn:aws:s3:::{replica}"));
    let rtc = d.replication_time().unwrap();
    assert_eq!(rtc.status().as_str(), "Enabled");
    assert_eq!(rtc.time().and_then(|t| t.minutes()), Some(15));
    assert_eq!(
        d.metrics()
            .and_then(|m| m.event_threshold())
            .and_then(|t| t.minutes()),
        Some(15)
    );

    assert_converged(&run).await;

    // Drift: versioning suspended on the replica bucket by hand.
    s3_west
        .put_bucket_versioning()
        .bucket(&replica)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plan = run.plan().await.unwrap();
    let c = change(&plan, &format!("{SECONDARY}/storage/replica-bucket"));
    assert_eq!(c.action, Action::Update);
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "versioning");
    assert_eq!(c.fields[0].before, Some("Suspended".into()));
    assert!(c.fields[0].drift && c.drift);
    run.apply().await;
    let v = s3_west
        .get_bucket_versioning()
        .bucket(&replica)
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    assert_converged(&run).await;

    // Objects with several versions and a delete marker in both buckets.
    for (s3, bucket) in [(&s3_east, &primary), (&s3_west, &replica)] {
        for i in 0..3 {
            for key in ["a.txt", "dir/b.txt"] {
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(format!("version {i}").into_bytes().into())
                    .send()
                    .await
                    .unwrap();
            }
        }
        s3.delete_object()
            .bucket(bucket)
            .key("a.txt")
            .send()
            .await
            .unwrap();
        let versions = s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        // At least this bucket's own 6 versions and 1 delete marker: the
        // replica bucket also receives the primary's, replicated
        // asynchronously, so its exact count depends on timing.
        assert!(versions.versions().len() >= 6, "{versions:?}");
        assert!(!versions.delete_markers().is_empty(), "{versions:?}");
    }

    run.destroy().await;
    assert!(run.store().state.resources.is_empty());
    for (s3, bucket) in [(&s3_east, &primary), (&s3_west, &replica)] {
        let r = s3.head_bucket().bucket(bucket).send().await;
        assert!(r.is_err(), "bucket {bucket} still exists");
    }
    let left = s3_east.list_buckets().send().await.unwrap();
    assert!(
        !left
            .buckets()
            .iter()
            .any(|b| b.name().is_some_and(|n| n.contains(&env))),
        "a bucket of {env} is left"
    );
}

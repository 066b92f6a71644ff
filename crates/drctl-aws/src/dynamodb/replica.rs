//! `dynamodb:replica` — the sessions table's replica in the secondary region
//! (global tables version 2019.11.21).
//!
//! Physical id: the replica table's ARN in the replica's region.
//! Found through the table: DescribeTable in `source_region` must list this
//! region in `Replicas` (a missing table means no replica).
//! Props: [`DynamodbReplicaProps`]. Attrs: `arn`, `name`.
//!
//! Caveats:
//! - A replica cannot be tagged when it is created (UpdateTable
//!   ReplicaUpdates takes no tags), so it is tagged with TagResource in its
//!   own region as soon as it is ACTIVE, like its PITR, which AWS leaves
//!   DISABLED on a new replica.
//! - Ownership: the replica's own drctl tags. A replica with no drctl tags
//!   at all (a run killed between creating and tagging it) is ours when its
//!   table carries this env's `drctl:env` tag; the plan then shows an
//!   `ownership_tags` change, which apply makes with TagResource. Once
//!   owned, its tags are desired state like every taggable kind's.
//! - Delete: ReplicaUpdates Delete from the source region, then wait until
//!   neither region lists it.

use crate::dynamodb::{
    build_error, ddb_tags, describe_table, owner_tags, pitr_enabled, read_description, set_pitr,
};
use crate::dynamodb::{REPLICA_ACTIVE, REPLICA_DELETED};
use crate::errors::gone;
use crate::retry::{call, wait_for, Policy};
use crate::tags::check_owned;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    CreateReplicationGroupMemberAction, DeleteReplicationGroupMemberAction, ReplicaStatus,
    ReplicationGroupUpdate, TableDescription, TableStatus,
};
use aws_sdk_dynamodb::Client;
use drctl_core::diff::{diff_props, FieldChange};
use drctl_core::model::{contains_unknown, Observed, ReadOutcome, ResourceSpec, TAG_ENV};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `dynamodb:replica` compares: the blueprint's props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamodbReplicaProps {
    /// The source table's name (the table's `name`). Replaces.
    pub table_name: String,
    /// The source table's region (`us-east-1`). Replaces.
    pub source_region: String,
    /// Point-in-time recovery on this replica. In place, per replica.
    pub point_in_time_recovery: bool,
}

/// Fields whose change replaces the replica, with the reason shown in the
/// plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("table_name", "a replica belongs to one table"),
    (
        "source_region",
        "a replica is managed from its table's region",
    ),
];

pub struct DynamodbReplicaReconciler {
    pub aws: Aws,
}

impl DynamodbReplicaReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// Marker in `Observed.props` for a replica that lacks its drctl tags; the
/// `diff` turns it into a `tags` change.
const UNTAGGED: &str = "untagged";

/// Clients of the source region and of the replica's region.
struct Regions {
    source: Client,
    replica: Client,
    replica_region: String,
}

fn replica_of<'a>(
    t: &'a TableDescription,
    region: &str,
) -> Option<&'a aws_sdk_dynamodb::types::ReplicaDescription> {
    t.replicas()
        .iter()
        .find(|r| r.region_name() == Some(region))
}

/// The replica's ARN: the table's ARN with the replica's region.
fn replica_arn(t: &TableDescription, source_region: &str, region: &str) -> Option<String> {
    t.table_arn()
        .map(|a| a.replacen(&format!(":{source_region}:"), &format!(":{region}:"), 1))
}

fn echo(spec: &ResourceSpec, field: &str) -> Value {
    spec.props.get(field).cloned().unwrap_or(Value::Null)
}

async fn read_replica(
    aws: &Aws,
    rg: &Regions,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    // By id: the table name is the last part of the replica's ARN.
    let from_id = known_id.and_then(|id| id.rsplit_once(":table/").map(|(_, n)| n));
    let table_name = match (from_id, spec.props.get("table_name")) {
        (Some(n), _) => n,
        // The table is still to be created: so is its replica.
        (None, Some(v)) if contains_unknown(v) => return Ok(ReadOutcome::NotFound),
        (None, _) => props::str(spec, "table_name")?,
    };
    let source_region = props::str(spec, "source_region")?;
    let Some(table) = read_description(aws, source_region, table_name).await? else {
        return Ok(ReadOutcome::NotFound);
    };
    if replica_of(&table, &rg.replica_region).is_none() {
        return Ok(ReadOutcome::NotFound);
    }
    // The replica region's own description has the real ARN.
    let here = describe_table(&rg.replica, table_name).await?;
    let arn = here
        .as_ref()
        .and_then(|t| t.table_arn().map(str::to_string))
        .or_else(|| replica_arn(&table, source_region, &rg.replica_region))
        .ok_or_else(|| {
            ReconcileError::Internal(format!("DescribeTable {table_name}: no TableArn"))
        })?;
    let tags = owner_tags(aws, &cx.env, &rg.replica_region, &arn).await?;
    let untagged = !tags.contains_key(TAG_ENV);
    let outcome = if untagged {
        // No drctl tags on the replica: ours only if its table is this env's.
        let table_arn = table.table_arn().unwrap_or_default();
        let table_tags = owner_tags(aws, &cx.env, source_region, table_arn).await?;
        match table_tags.get(TAG_ENV) {
            Some(e) if e == &cx.env => ReadOutcome::Found(Observed::default()),
            other => ReadOutcome::Clash {
                id: arn.clone(),
                detail: format!(
                    "the replica has no drctl tags and its table {table_arn} {}",
                    match other {
                        Some(e) => format!("belongs to env '{e}'"),
                        None => "has no drctl:env tag".into(),
                    }
                ),
            },
        }
    } else {
        check_owned(cx, spec, &arn, &tags, Observed::default)
    };
    if !matches!(outcome, ReadOutcome::Found(_)) {
        return Ok(outcome);
    }
    let pitr = pitr_enabled(&rg.replica, table_name).await?;
    // json! rather than `DynamodbReplicaProps`: the observed props carry the
    // tags (or the UNTAGGED marker) besides the struct's fields.
    let mut props = props::from_json(json!({
        "table_name": table_name,
        // Where drctl manages the replica from: the region it was found through.
        "source_region": echo(spec, "source_region"),
        "point_in_time_recovery": pitr,
    }));
    if untagged {
        props.insert(UNTAGGED.into(), Value::Bool(true));
    } else {
        props.insert(drctl_core::diff::TAGS.into(), json!(tags));
    }
    Ok(ReadOutcome::Found(Observed {
        id: arn.clone(),
        props,
        attrs: props::from_json(json!({"arn": arn, "name": table_name})),
    }))
}

async fn create_replica(rg: &Regions, spec: &ResourceSpec) -> Result<Observed, ReconcileError> {
    let p: DynamodbReplicaProps = props::typed(spec)?;
    let (table_name, source_region) = (p.table_name.as_str(), p.source_region.as_str());
    let action = CreateReplicationGroupMemberAction::builder()
        .region_name(&rg.replica_region)
        .build()
        .map_err(|e| build_error("CreateReplicationGroupMemberAction", e))?;
    // No tags and no client token here (the API takes neither): a crash
    // after this call is recovered through the table (see the module doc).
    let out = call("dynamodb:UpdateTable", Policy::TRANSIENT, || {
        rg.source
            .update_table()
            .table_name(table_name)
            .replica_updates(
                ReplicationGroupUpdate::builder()
                    .create(action.clone())
                    .build(),
            )
            .send()
    })
    .await?;
    let arn = out
        .table_description()
        .and_then(|t| replica_arn(t, source_region, &rg.replica_region))
        .ok_or_else(|| {
            ReconcileError::Internal(format!("UpdateTable {table_name} returned no TableArn"))
        })?;
    Ok(Observed {
        id: arn.clone(),
        props: spec.props.clone(),
        attrs: props::from_json(json!({"arn": arn, "name": table_name})),
    })
}

/// Waits until both regions see the replica ACTIVE; returns the replica
/// region's description.
async fn wait_replica_active(
    rg: &Regions,
    spec: &ResourceSpec,
    table_name: &str,
) -> Result<TableDescription, ReconcileError> {
    let what = format!(
        "DynamoDB replica of {table_name} in {} ({}) to become ACTIVE",
        rg.replica_region, spec.address
    );
    wait_for(&what, REPLICA_ACTIVE, || async {
        let Some(source) = describe_table(&rg.source, table_name).await? else {
            return Ok(None);
        };
        let listed = replica_of(&source, &rg.replica_region)
            .is_some_and(|r| r.replica_status() == Some(&ReplicaStatus::Active));
        if !listed {
            return Ok(None);
        }
        Ok(describe_table(&rg.replica, table_name)
            .await?
            .filter(|t| t.table_status() == Some(&TableStatus::Active)))
    })
    .await
}

async fn tag_replica(rg: &Regions, spec: &ResourceSpec, arn: &str) -> Result<(), ReconcileError> {
    let tags = ddb_tags(spec)?;
    call("dynamodb:TagResource", Policy::TRANSIENT, || {
        rg.replica
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.clone()))
            .send()
    })
    .await?;
    Ok(())
}

async fn replica_ready(
    rg: &Regions,
    spec: &ResourceSpec,
    created: Observed,
) -> Result<Observed, ReconcileError> {
    let p: DynamodbReplicaProps = props::typed(spec)?;
    let table_name = p.table_name.as_str();
    let here = wait_replica_active(rg, spec, table_name).await?;
    let arn = here.table_arn().unwrap_or(&created.id).to_string();
    // A replica just turned ACTIVE may still be unknown to some APIs.
    Policy::AFTER_CREATE
        .run("dynamodb:TagResource", || tag_replica(rg, spec, &arn))
        .await?;
    if p.point_in_time_recovery {
        Policy::AFTER_CREATE
            .run("dynamodb:UpdateContinuousBackups", || {
                set_pitr(&rg.replica, table_name, true)
            })
            .await?;
    }
    Ok(Observed {
        id: arn.clone(),
        props: created.props,
        attrs: props::from_json(json!({"arn": arn, "name": table_name})),
    })
}

async fn delete_replica(
    rg: &Regions,
    spec: &ResourceSpec,
    current: &Observed,
) -> Result<(), ReconcileError> {
    let table_name = current
        .attrs
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| spec.props.get("table_name").and_then(Value::as_str))
        .unwrap_or(&spec.name)
        .to_string();
    let Some(table) = describe_table(&rg.source, &table_name).await? else {
        return Ok(()); // no table, no replica
    };
    if replica_of(&table, &rg.replica_region).is_some() {
        let action = DeleteReplicationGroupMemberAction::builder()
            .region_name(&rg.replica_region)
            .build()
            .map_err(|e| build_error("DeleteReplicationGroupMemberAction", e))?;
        // "Not part of the global table": a repeat of a delete whose
        // answer was lost; the wait below confirms it is gone.
        gone(
            call("dynamodb:UpdateTable", Policy::TRANSIENT, || {
                rg.source
                    .update_table()
                    .table_name(&table_name)
                    .replica_updates(
                        ReplicationGroupUpdate::builder()
                            .delete(action.clone())
                            .build(),
                    )
                    .send()
            })
            .await
            .map(|_| ()),
        )?;
    }
    let what = format!(
        "DynamoDB replica of {table_name} in {} ({}) to be deleted",
        rg.replica_region, spec.address
    );
    wait_for(&what, REPLICA_DELETED, || async {
        let listed = describe_table(&rg.source, &table_name)
            .await?
            .is_some_and(|t| replica_of(&t, &rg.replica_region).is_some());
        if listed {
            return Ok(None);
        }
        Ok(describe_table(&rg.replica, &table_name)
            .await?
            .is_none()
            .then_some(()))
    })
    .await
}

impl DynamodbReplicaReconciler {
    fn regions(&self, spec: &ResourceSpec) -> Result<Regions, ReconcileError> {
        let replica_region = self.aws.region_of(spec).to_string();
        let source_region = spec
            .props
            .get("source_region")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                props::config(
                    spec,
                    "source_region",
                    "property 'source_region' must be a string",
                )
            })?;
        Ok(Regions {
            source: self.aws.dynamodb(source_region),
            replica: self.aws.dynamodb(&replica_region),
            replica_region,
        })
    }
}

#[async_trait]
impl Reconciler for DynamodbReplicaReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::DYNAMODB_REPLICA
    }

    fn taggable(&self) -> bool {
        true
    }

    /// In the replica's own region, on the replica table's ARN.
    async fn write_tags(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        writes: &drctl_core::diff::TagWrites,
    ) -> Result<(), ReconcileError> {
        let rg = self.regions(spec)?;
        let add = crate::tags::only(spec, &writes.set);
        crate::dynamodb::ddb_write_tags(&rg.replica, spec, &current.id, &add, writes).await
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    /// The props, plus a `tags` change for a replica whose drctl tags are
    /// missing (see the module doc).
    fn diff(&self, spec: &ResourceSpec, observed: &Observed) -> Vec<FieldChange> {
        let mut changes = diff_props(&spec.props, &observed.props, self.replace_on());
        if observed.props.get(UNTAGGED) == Some(&Value::Bool(true)) {
            changes.push(FieldChange {
                field: crate::tags::UNTAGGED.into(),
                before: None,
                after: Some(json!(spec.tags)),
                replace_reason: None,
                drift: false,
            });
        }
        changes
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        read_replica(&self.aws, &self.regions(spec)?, cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        create_replica(&self.regions(spec)?, spec).await
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        replica_ready(&self.regions(spec)?, spec, created).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let p: DynamodbReplicaProps = props::typed(spec)?;
        let rg = self.regions(spec)?;
        if changes.iter().any(|c| c.field == crate::tags::UNTAGGED) {
            tag_replica(&rg, spec, &current.id).await?;
        }
        if changes.iter().any(|c| c.field == "point_in_time_recovery") {
            set_pitr(&rg.replica, &p.table_name, p.point_in_time_recovery).await?;
        }
        Ok(current.updated_to(spec))
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        delete_replica(&self.regions(spec)?, spec, current).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
    use aws_sdk_dynamodb::operation::tag_resource::TagResourceOutput;
    use aws_sdk_dynamodb::operation::update_continuous_backups::UpdateContinuousBackupsOutput;
    use aws_sdk_dynamodb::types::ReplicaDescription;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use drctl_core::model::Address;
    use std::collections::BTreeMap;

    fn client(region: &str, rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_dynamodb, region, RuleMode::MatchAny, rules)
    }

    fn spec() -> ResourceSpec {
        let address = Address::new("us-west-2/dynamodb/sessions-replica");
        let mut tags = BTreeMap::new();
        tags.insert("drctl:env".to_string(), "t".to_string());
        tags.insert("drctl:address".to_string(), address.to_string());
        ResourceSpec {
            address,
            kind: drctl_stack::kinds::DYNAMODB_REPLICA.into(),
            region: Some("us-west-2".into()),
            name: "trading-sessions-t".into(),
            props: props::from_json(json!({
                "table_name": "trading-sessions-t", "source_region": "us-east-1",
                "point_in_time_recovery": true,
            })),
            tags,
            depends_on: vec![],
        }
    }

    const SOURCE_ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/trading-sessions-t";
    const REPLICA_ARN: &str = "arn:aws:dynamodb:us-west-2:000000000000:table/trading-sessions-t";

    fn source(status: ReplicaStatus) -> DescribeTableOutput {
        DescribeTableOutput::builder()
            .table(
                TableDescription::builder()
                    .table_name("trading-sessions-t")
                    .table_arn(SOURCE_ARN)
                    .table_status(TableStatus::Active)
                    .replicas(
                        ReplicaDescription::builder()
                            .region_name("us-west-2")
                            .replica_status(status)
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn here(status: TableStatus) -> DescribeTableOutput {
        DescribeTableOutput::builder()
            .table(
                TableDescription::builder()
                    .table_name("trading-sessions-t")
                    .table_arn(REPLICA_ARN)
                    .table_status(status)
                    .build(),
            )
            .build()
    }

    #[tokio::test(start_paused = true)]
    async fn ready_waits_for_both_regions_then_tags_and_turns_pitr_on_in_the_replica_region() {
        let src = mock!(Client::describe_table)
            .sequence()
            .output(|| source(ReplicaStatus::Creating))
            .times(2)
            .output(|| source(ReplicaStatus::Active))
            .repeatedly()
            .build();
        let rep_describe = mock!(Client::describe_table)
            .sequence()
            .output(|| here(TableStatus::Creating))
            .output(|| here(TableStatus::Active))
            .repeatedly()
            .build();
        let tag = mock!(Client::tag_resource)
            .match_requests(|r| {
                r.resource_arn() == Some(REPLICA_ARN)
                    && r.tags().iter().any(|t| t.key() == "drctl:address")
            })
            .then_output(|| TagResourceOutput::builder().build());
        let pitr = mock!(Client::update_continuous_backups)
            .then_output(|| UpdateContinuousBackupsOutput::builder().build());
        let rg = Regions {
            source: client("us-east-1", &[&src]),
            replica: client("us-west-2", &[&rep_describe, &tag, &pitr]),
            replica_region: "us-west-2".into(),
        };
        let created = Observed {
            id: REPLICA_ARN.into(),
            props: spec().props,
            ..Default::default()
        };
        let o = replica_ready(&rg, &spec(), created).await.unwrap();
        assert_eq!(o.id, REPLICA_ARN);
        assert_eq!(src.num_calls(), 4, "CREATING twice, then ACTIVE twice");
        assert_eq!(rep_describe.num_calls(), 2);
        assert_eq!(tag.num_calls(), 1, "tagged in the replica region");
        assert_eq!(pitr.num_calls(), 1, "PITR on in the replica region");
    }

    #[tokio::test(start_paused = true)]
    async fn ready_times_out_naming_the_replica() {
        let src = mock!(Client::describe_table)
            .sequence()
            .output(|| source(ReplicaStatus::Creating))
            .repeatedly()
            .build();
        let rg = Regions {
            source: client("us-east-1", &[&src]),
            replica: client("us-west-2", &[]),
            replica_region: "us-west-2".into(),
        };
        let msg = replica_ready(&rg, &spec(), Observed::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("replica of trading-sessions-t in us-west-2"),
            "{msg}"
        );
    }

    /// The delete's answer was lost and the SDK sent it again: AWS answers
    /// the repeat "not part of the global table". The replica is gone; the
    /// delete succeeds once the listing agrees.
    #[tokio::test(start_paused = true)]
    async fn a_repeated_delete_of_a_gone_replica_succeeds() {
        use aws_sdk_dynamodb::operation::update_table::UpdateTableError;
        let gone_listing = || {
            DescribeTableOutput::builder()
                .table(
                    TableDescription::builder()
                        .table_name("trading-sessions-t")
                        .table_arn(SOURCE_ARN)
                        .table_status(TableStatus::Active)
                        .build(),
                )
                .build()
        };
        let src = mock!(Client::describe_table)
            .sequence()
            .output(|| source(ReplicaStatus::Active))
            .output(gone_listing)
            .repeatedly()
            .build();
        let repeat = mock!(Client::update_table).then_error(|| {
            UpdateTableError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("ValidationException")
                    .message("Update global table operation failed because one or more replicas were not part of the global table.")
                    .build(),
            )
        });
        let not_here = mock!(Client::describe_table).then_error(|| {
            aws_sdk_dynamodb::operation::describe_table::DescribeTableError::generic(
                aws_smithy_types::error::ErrorMetadata::builder()
                    .code("ResourceNotFoundException")
                    .build(),
            )
        });
        let rg = Regions {
            source: client("us-east-1", &[&src, &repeat]),
            replica: client("us-west-2", &[&not_here]),
            replica_region: "us-west-2".into(),
        };
        let current = Observed {
            id: REPLICA_ARN.into(),
            attrs: props::from_json(json!({"name": "trading-sessions-t"})),
            ..Default::default()
        };
        delete_replica(&rg, &spec(), &current).await.unwrap();
        assert_eq!(repeat.num_calls(), 1);
    }

    #[test]
    fn an_untagged_replica_shows_a_tags_change() {
        let aws = crate::Aws::from_config(aws_types::SdkConfig::builder().build(), None);
        let r = DynamodbReplicaReconciler::new(&aws);
        let mut props = spec().props;
        props.insert(UNTAGGED.into(), Value::Bool(true));
        let changes = r.diff(
            &spec(),
            &Observed {
                id: REPLICA_ARN.into(),
                props,
                attrs: Default::default(),
            },
        );
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].field, crate::tags::UNTAGGED);
        assert!(r
            .diff(
                &spec(),
                &Observed {
                    props: spec().props,
                    ..Default::default()
                }
            )
            .is_empty());
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<DynamodbReplicaProps>(
            drctl_stack::kinds::DYNAMODB_REPLICA,
        );
        assert!(all.iter().all(|p| p.point_in_time_recovery
            && p.table_name == "us-east-1/dynamodb/sessions-table.name"));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

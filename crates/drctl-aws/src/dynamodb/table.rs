//! `dynamodb:table` — the sessions table (`trading-sessions-{env}`) in the
//! primary region; [`crate::dynamodb::replica`] makes it global.
//!
//! Found by name (table names are unique per region; the name is the
//! physical id); ownership from ListTagsOfResource on its ARN.
//! Props: [`DynamodbTableProps`]. Attrs: `name`, `arn`, `stream_arn`.
//!
//! Caveats:
//! - `sse_enabled` is true when SSEDescription is ENABLED/ENABLING/UPDATING,
//!   whatever the SSEType (`SSESpecification {Enabled: true}` reports KMS).
//! - PITR can only be turned on once the table is ACTIVE, so `wait_ready`
//!   does it; if that is interrupted, the next plan shows the difference.
//! - Delete waits until the table has no replicas left and is ACTIVE (a
//!   former replica source refuses deletion for a while); ResourceInUse is
//!   retried, then it waits until the table is gone.

use crate::dynamodb::{
    build_error, ddb_tags, describe_table, owner_tags, pitr_enabled, read_description, set_pitr,
};
use crate::dynamodb::{REPLICAS_GONE, TABLE_ACTIVE, TABLE_DELETED};
use crate::errors::gone;
use crate::retry::{call, wait_for, Policy};
use crate::tags::check_owned;
use crate::{props, Aws};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    SseSpecification, SseStatus, StreamSpecification, StreamViewType, TableDescription,
    TableStatus,
};
use aws_sdk_dynamodb::Client;
use drctl_core::diff::FieldChange;
use drctl_core::model::{Observed, ReadOutcome, ResourceSpec};
use drctl_core::reconcile::{Ctx, ReconcileError, Reconciler};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `dynamodb:table` compares: the blueprint's props.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamodbTableProps {
    /// The partition key's attribute name (`session_id`). Replaces.
    pub hash_key: String,
    /// The partition key's type: `S`, `N` or `B`. Replaces.
    pub hash_key_type: String,
    /// Only `PAY_PER_REQUEST` is supported. In place.
    pub billing_mode: String,
    /// The stream's view type (`NEW_AND_OLD_IMAGES`; global tables need
    /// one), null for no stream. In place (off first, then on).
    #[serde(default)]
    pub stream_view_type: Option<String>,
    /// Server-side encryption on. In place.
    pub sse_enabled: bool,
    /// Point-in-time recovery on (set once the table is ACTIVE). In place.
    pub point_in_time_recovery: bool,
}

/// Fields whose change replaces the table, with the reason shown in the plan.
const REPLACE_ON: &[(&str, &str)] = &[
    ("hash_key", "a DynamoDB table's key schema cannot change"),
    (
        "hash_key_type",
        "a DynamoDB table's key schema cannot change",
    ),
];

pub struct DynamodbTableReconciler {
    pub aws: Aws,
}

impl DynamodbTableReconciler {
    pub fn new(aws: &Aws) -> Self {
        Self { aws: aws.clone() }
    }
}

/// Waits until the table exists and is ACTIVE; returns its description.
pub(crate) async fn wait_active(
    ddb: &Client,
    name: &str,
    what: &str,
) -> Result<TableDescription, ReconcileError> {
    wait_for(what, TABLE_ACTIVE, || async {
        Ok(describe_table(ddb, name)
            .await?
            .filter(|t| t.table_status() == Some(&TableStatus::Active)))
    })
    .await
}

fn sse_on(t: &TableDescription) -> bool {
    matches!(
        t.sse_description().and_then(|s| s.status()),
        Some(SseStatus::Enabled | SseStatus::Enabling | SseStatus::Updating)
    )
}

fn attrs(t: &TableDescription, name: &str) -> drctl_core::model::Props {
    props::from_json(json!({
        "name": name,
        "arn": t.table_arn(),
        "stream_arn": t.latest_stream_arn(),
    }))
}

/// The props of a described table, in the blueprint's shapes.
fn observed_props(t: &TableDescription, pitr: bool) -> drctl_core::model::Props {
    let hash_key = t
        .key_schema()
        .iter()
        .find(|k| k.key_type() == &KeyType::Hash)
        .map(|k| k.attribute_name().to_string());
    let hash_key_type = hash_key.as_deref().and_then(|h| {
        t.attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == h)
            .map(|a| a.attribute_type().as_str().to_string())
    });
    // An absent summary means PROVISIONED (the API's default).
    let billing = t
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .map(|b| b.as_str().to_string())
        .unwrap_or_else(|| "PROVISIONED".into());
    let stream = t
        .stream_specification()
        .filter(|s| s.stream_enabled())
        .and_then(|s| s.stream_view_type())
        .map(|v| v.as_str().to_string());
    // json! rather than `DynamodbTableProps`: a table without a hash key
    // (never seen, but the API allows the shape) reads null.
    props::from_json(json!({
        "hash_key": hash_key,
        "hash_key_type": hash_key_type,
        "billing_mode": billing,
        "stream_view_type": stream,
        "sse_enabled": sse_on(t),
        "point_in_time_recovery": pitr,
    }))
}

fn billing_mode(spec: &ResourceSpec, mode: &str) -> Result<BillingMode, ReconcileError> {
    match mode {
        "PAY_PER_REQUEST" => Ok(BillingMode::PayPerRequest),
        other => Err(props::config(spec, "billing_mode", format!(
            "billing_mode {other} is not supported (PAY_PER_REQUEST only: provisioned tables need capacity settings drctl does not manage)"
        ))),
    }
}

fn stream_spec(view: Option<&str>) -> Result<StreamSpecification, ReconcileError> {
    let b = StreamSpecification::builder().stream_enabled(view.is_some());
    let b = match view {
        Some(v) => b.stream_view_type(StreamViewType::from(v)),
        None => b,
    };
    b.build().map_err(|e| build_error("StreamSpecification", e))
}

async fn read_table(
    aws: &Aws,
    cx: &Ctx,
    spec: &ResourceSpec,
    known_id: Option<&str>,
) -> Result<ReadOutcome, ReconcileError> {
    let region = aws.region_of(spec);
    let ddb = &aws.dynamodb(region);
    let name = known_id.unwrap_or(&spec.name);
    let Some(t) = read_description(aws, region, name).await? else {
        return Ok(ReadOutcome::NotFound);
    };
    let arn = t
        .table_arn()
        .ok_or_else(|| ReconcileError::Internal(format!("DescribeTable {name}: no TableArn")))?;
    let tags = owner_tags(aws, &cx.env, region, arn).await?;
    match check_owned(cx, spec, name, &tags, Observed::default) {
        ReadOutcome::Found(_) => {
            let pitr = pitr_enabled(ddb, name).await?;
            Ok(ReadOutcome::Found(crate::tags::with_tags(
                Observed {
                    id: name.to_string(),
                    props: observed_props(&t, pitr),
                    attrs: attrs(&t, name),
                },
                &tags,
            )))
        }
        other => Ok(other),
    }
}

/// The table as created, and whether the answer already said ACTIVE.
async fn create_table(
    ddb: &Client,
    spec: &ResourceSpec,
) -> Result<(Observed, bool), ReconcileError> {
    let p: DynamodbTableProps = props::typed(spec)?;
    let (hash_key, key_type) = (p.hash_key.as_str(), p.hash_key_type.as_str());
    let view = p.stream_view_type.as_deref();
    // CreateTable takes no client token: a crash after it is recovered by
    // the lookup by name, and the tags in this call make it ours.
    let req = ddb
        .create_table()
        .table_name(&spec.name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(hash_key)
                .attribute_type(ScalarAttributeType::from(key_type))
                .build()
                .map_err(|e| build_error("AttributeDefinition", e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(hash_key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| build_error("KeySchemaElement", e))?,
        )
        .billing_mode(billing_mode(spec, &p.billing_mode)?)
        .stream_specification(stream_spec(view)?)
        .sse_specification(SseSpecification::builder().enabled(p.sse_enabled).build())
        .set_tags(Some(ddb_tags(spec)?));
    let out = call("dynamodb:CreateTable", Policy::ONCE, || req.clone().send()).await?;
    let t = out.table_description.ok_or_else(|| {
        ReconcileError::Internal(format!("CreateTable {} returned no table", spec.name))
    })?;
    let active = t.table_status() == Some(&TableStatus::Active);
    let created = Observed {
        id: spec.name.clone(),
        props: spec.props.clone(),
        attrs: attrs(&t, &spec.name),
    };
    Ok((created, active))
}

/// ACTIVE, then PITR as asked (it cannot be set before).
async fn table_ready(
    ddb: &Client,
    spec: &ResourceSpec,
    created: Observed,
    active_at_create: bool,
) -> Result<Observed, ReconcileError> {
    let what = format!(
        "DynamoDB table {} ({}) to become ACTIVE",
        created.id, spec.address
    );
    // A create answer that said ACTIVE already gave the attrs: no poll.
    let attrs = match active_at_create {
        true => created.attrs.clone(),
        false => attrs(&wait_active(ddb, &created.id, &what).await?, &created.id),
    };
    let p: DynamodbTableProps = props::typed(spec)?;
    if p.point_in_time_recovery {
        set_pitr(ddb, &created.id, true).await?;
    }
    Ok(Observed { attrs, ..created })
}

async fn update_table(
    ddb: &Client,
    spec: &ResourceSpec,
    current: &Observed,
    changes: &[FieldChange],
) -> Result<Observed, ReconcileError> {
    let p: DynamodbTableProps = props::typed(spec)?;
    let name = current.id.as_str();
    let changed = |f: &str| changes.iter().any(|c| c.field == f);
    let what = format!("DynamoDB table {name} ({}) to become ACTIVE", spec.address);
    // One table update at a time: each waits for the previous to settle.
    let update =
        |req: aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder| {
            let what = what.clone();
            async move {
                wait_active(ddb, name, &what).await?;
                call("dynamodb:UpdateTable", Policy::TRANSIENT, || {
                    req.clone().send()
                })
                .await
            }
        };
    if changed("billing_mode") {
        update(
            ddb.update_table()
                .table_name(name)
                .billing_mode(billing_mode(spec, &p.billing_mode)?),
        )
        .await?;
    }
    if changed("stream_view_type") {
        let want = p.stream_view_type.as_deref();
        let have = current
            .props
            .get("stream_view_type")
            .and_then(Value::as_str);
        // A view type cannot change while streams are on: off first.
        if have.is_some() {
            update(
                ddb.update_table()
                    .table_name(name)
                    .stream_specification(stream_spec(None)?),
            )
            .await?;
        }
        if want.is_some() {
            update(
                ddb.update_table()
                    .table_name(name)
                    .stream_specification(stream_spec(want)?),
            )
            .await?;
        }
    }
    if changed("sse_enabled") {
        let sse = SseSpecification::builder().enabled(p.sse_enabled).build();
        update(ddb.update_table().table_name(name).sse_specification(sse)).await?;
    }
    if changed("point_in_time_recovery") {
        set_pitr(ddb, name, p.point_in_time_recovery).await?;
    }
    let t = wait_active(ddb, name, &what).await?;
    Ok(Observed {
        id: current.id.clone(),
        props: spec.props.clone(),
        attrs: attrs(&t, name),
    })
}

async fn delete_table(ddb: &Client, spec: &ResourceSpec, name: &str) -> Result<(), ReconcileError> {
    // Replicas go first (their reconciler removes them); AWS refuses to
    // delete a table that is UPDATING or still has replicas.
    let what = format!(
        "DynamoDB table {name} ({}) to have no replicas and be ACTIVE before deletion",
        spec.address
    );
    let last_replicas = std::sync::Mutex::new(Vec::<String>::new());
    let ready = wait_for(&what, REPLICAS_GONE, || async {
        let Some(t) = describe_table(ddb, name).await? else {
            return Ok(Some(false)); // already gone
        };
        let replicas: Vec<String> = t
            .replicas()
            .iter()
            .filter_map(|r| r.region_name().map(str::to_string))
            .collect();
        let done = replicas.is_empty() && t.table_status() == Some(&TableStatus::Active);
        if let Ok(mut last) = last_replicas.lock() {
            *last = replicas;
        }
        Ok(done.then_some(true))
    })
    .await;
    let exists = match ready {
        Ok(exists) => exists,
        Err(ReconcileError::Timeout { what, secs }) => {
            let left = last_replicas
                .lock()
                .map(|l| l.join(", "))
                .unwrap_or_default();
            let what = if left.is_empty() {
                what
            } else {
                format!("{what} (replicas left in {left})")
            };
            return Err(ReconcileError::Timeout { what, secs });
        }
        Err(e) => return Err(e),
    };
    if !exists {
        return Ok(());
    }
    gone(
        call("dynamodb:DeleteTable", Policy::TRANSIENT, || {
            ddb.delete_table().table_name(name).send()
        })
        .await
        .map(|_| ()),
    )?;
    let what = format!("DynamoDB table {name} ({}) to be deleted", spec.address);
    wait_for(&what, TABLE_DELETED, || async {
        Ok(describe_table(ddb, name).await?.is_none().then_some(()))
    })
    .await
}

#[async_trait]
impl Reconciler for DynamodbTableReconciler {
    fn kind(&self) -> &'static str {
        drctl_stack::kinds::DYNAMODB_TABLE
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
        let ddb = self.aws.dynamodb(self.aws.region_of(spec));
        crate::dynamodb::ddb_write_tags(&ddb, spec, arn_of(current), &add, writes).await?;
        Ok(())
    }

    fn replace_on(&self) -> &'static [(&'static str, &'static str)] {
        REPLACE_ON
    }

    async fn read(
        &self,
        cx: &Ctx,
        spec: &ResourceSpec,
        known_id: Option<&str>,
    ) -> Result<ReadOutcome, ReconcileError> {
        read_table(&self.aws, cx, spec, known_id).await
    }

    async fn create(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        _token: &str,
    ) -> Result<Observed, ReconcileError> {
        let ddb = self.aws.dynamodb(self.aws.region_of(spec));
        let (created, active) = create_table(&ddb, spec).await?;
        if active {
            self.aws.note_ready_at_create(&created.id);
        }
        Ok(created)
    }

    async fn wait_ready(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        created: Observed,
    ) -> Result<Observed, ReconcileError> {
        let ddb = self.aws.dynamodb(self.aws.region_of(spec));
        let active = self.aws.take_ready_at_create(&created.id);
        table_ready(&ddb, spec, created, active).await
    }

    async fn update(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
        changes: &[FieldChange],
    ) -> Result<Observed, ReconcileError> {
        let ddb = self.aws.dynamodb(self.aws.region_of(spec));
        update_table(&ddb, spec, current, changes).await
    }

    async fn delete(
        &self,
        _cx: &Ctx,
        spec: &ResourceSpec,
        current: &Observed,
    ) -> Result<(), ReconcileError> {
        let ddb = self.aws.dynamodb(self.aws.region_of(spec));
        delete_table(&ddb, spec, &current.id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::delete_table::DeleteTableOutput;
    use aws_sdk_dynamodb::operation::describe_table::{DescribeTableError, DescribeTableOutput};
    use aws_sdk_dynamodb::operation::update_continuous_backups::UpdateContinuousBackupsOutput;
    use aws_sdk_dynamodb::types::error::ResourceNotFoundException;
    use aws_sdk_dynamodb::types::ReplicaDescription;
    use aws_smithy_mocks::{mock, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use drctl_core::model::Address;

    pub(crate) fn client(rules: &[&Rule]) -> Client {
        crate::mock_client!(aws_sdk_dynamodb, "us-east-1", RuleMode::MatchAny, rules)
    }

    fn spec() -> ResourceSpec {
        ResourceSpec {
            address: Address::new("us-east-1/dynamodb/sessions-table"),
            kind: drctl_stack::kinds::DYNAMODB_TABLE.into(),
            region: Some("us-east-1".into()),
            name: "trading-sessions-t".into(),
            props: props::from_json(json!({
                "hash_key": "session_id", "hash_key_type": "S", "billing_mode": "PAY_PER_REQUEST",
                "stream_view_type": "NEW_AND_OLD_IMAGES", "sse_enabled": true, "point_in_time_recovery": true,
            })),
            tags: Default::default(),
            depends_on: vec![],
        }
    }

    fn table(status: TableStatus, replicas: &[&str]) -> DescribeTableOutput {
        let mut t = TableDescription::builder()
            .table_name("trading-sessions-t")
            .table_arn("arn:aws:dynamodb:us-east-1:000000000000:table/trading-sessions-t")
            .table_status(status);
        for r in replicas {
            t = t.replicas(ReplicaDescription::builder().region_name(*r).build());
        }
        DescribeTableOutput::builder().table(t.build()).build()
    }

    fn not_found() -> DescribeTableError {
        DescribeTableError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn ready_waits_for_active_then_turns_pitr_on() {
        let describe = mock!(Client::describe_table)
            .sequence()
            .output(|| table(TableStatus::Creating, &[]))
            .times(3)
            .output(|| table(TableStatus::Active, &[]))
            .build();
        let pitr = mock!(Client::update_continuous_backups)
            .match_requests(|r| {
                r.point_in_time_recovery_specification()
                    .is_some_and(|p| p.point_in_time_recovery_enabled())
            })
            .then_output(|| UpdateContinuousBackupsOutput::builder().build());
        let ddb = client(&[&describe, &pitr]);
        let created = Observed {
            id: "trading-sessions-t".into(),
            ..Default::default()
        };
        let o = table_ready(&ddb, &spec(), created, false).await.unwrap();
        assert_eq!(describe.num_calls(), 4);
        assert_eq!(pitr.num_calls(), 1, "PITR only once ACTIVE");
        assert_eq!(
            o.attrs["arn"],
            "arn:aws:dynamodb:us-east-1:000000000000:table/trading-sessions-t"
        );
    }

    /// A create answer that said ACTIVE: no DescribeTable at all, PITR at once.
    #[tokio::test]
    async fn ready_at_create_makes_no_poll() {
        let describe =
            mock!(Client::describe_table).then_output(|| table(TableStatus::Active, &[]));
        let pitr = mock!(Client::update_continuous_backups)
            .then_output(|| UpdateContinuousBackupsOutput::builder().build());
        let ddb = client(&[&describe, &pitr]);
        let created = Observed {
            id: "trading-sessions-t".into(),
            attrs: props::from_json(json!({"arn": "arn:t"})),
            ..Default::default()
        };
        let o = table_ready(&ddb, &spec(), created, true).await.unwrap();
        assert_eq!(describe.num_calls(), 0);
        assert_eq!(pitr.num_calls(), 1);
        assert_eq!(o.attrs["arn"], "arn:t", "the create answer's attrs");
    }

    #[tokio::test(start_paused = true)]
    async fn ready_times_out_naming_the_table() {
        let describe = mock!(Client::describe_table)
            .sequence()
            .output(|| table(TableStatus::Creating, &[]))
            .repeatedly()
            .build();
        let ddb = client(&[&describe]);
        let created = Observed {
            id: "trading-sessions-t".into(),
            ..Default::default()
        };
        let e = table_ready(&ddb, &spec(), created, false)
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("trading-sessions-t"), "{msg}");
        assert!(msg.contains("ACTIVE"), "{msg}");
    }

    #[tokio::test(start_paused = true)]
    async fn delete_waits_for_the_replicas_to_go_then_until_gone() {
        let describe = mock!(Client::describe_table)
            .sequence()
            .output(|| table(TableStatus::Active, &["us-west-2"]))
            .times(2)
            .output(|| table(TableStatus::Updating, &[]))
            .output(|| table(TableStatus::Active, &[]))
            .output(|| table(TableStatus::Deleting, &[]))
            .error(not_found)
            .build();
        let delete =
            mock!(Client::delete_table).then_output(|| DeleteTableOutput::builder().build());
        let ddb = client(&[&describe, &delete]);
        delete_table(&ddb, &spec(), "trading-sessions-t")
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1);
        assert!(describe.is_exhausted());
    }

    #[tokio::test(start_paused = true)]
    async fn delete_times_out_naming_the_replicas_left() {
        let describe = mock!(Client::describe_table)
            .sequence()
            .output(|| table(TableStatus::Active, &["us-west-2"]))
            .repeatedly()
            .build();
        let ddb = client(&[&describe]);
        let msg = delete_table(&ddb, &spec(), "trading-sessions-t")
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("replicas left in us-west-2"), "{msg}");
    }

    #[test]
    fn sse_of_any_type_counts_as_enabled() {
        use aws_sdk_dynamodb::types::{SseDescription, SseType};
        let t = TableDescription::builder()
            .sse_description(
                SseDescription::builder()
                    .status(SseStatus::Enabled)
                    .sse_type(SseType::Kms)
                    .build(),
            )
            .build();
        assert!(sse_on(&t));
        assert!(!sse_on(&TableDescription::builder().build()));
    }

    #[test]
    fn the_blueprint_props_fit_the_struct() {
        let all = crate::testing::assert_blueprint_props::<DynamodbTableProps>(
            drctl_stack::kinds::DYNAMODB_TABLE,
        );
        assert!(all.iter().all(|p| p.billing_mode == "PAY_PER_REQUEST"
            && p.stream_view_type.as_deref() == Some("NEW_AND_OLD_IMAGES")));
        let v = serde_json::to_value(&all[0]).unwrap();
        for (field, _) in REPLACE_ON {
            assert!(v.get(field).is_some(), "{field}");
        }
    }
}

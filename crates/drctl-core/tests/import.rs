//! `drctl import`'s one rule ([`drctl_core::import`]) on the fake cloud:
//! what it adopts (and how it tags it), and what it refuses without
//! writing anything: another kind's id, another resource (a field that
//! cannot change in place), another env's or another address's resource,
//! a kind without tags.

use drctl_core::import::{import, ImportError};
use drctl_core::model::{ResourceSpec, TAG_ADDRESS, TAG_ENV};
use drctl_core::reconcile::{changes, Ctx};
use drctl_core::testing::{registry, spec_of, FakeCloud};
use serde_json::json;

const ENV: &str = "dev";
const ADDRESS: &str = "r/data/table";

fn spec(kind: &str) -> ResourceSpec {
    let mut s = spec_of(kind, ADDRESS, &[]);
    s.props.insert("zone".into(), json!("a"));
    s.tags.insert(TAG_ENV.into(), ENV.into());
    s.tags.insert(TAG_ADDRESS.into(), ADDRESS.into());
    s.tags.insert("CostCenter".into(), "42".into());
    s
}

/// A resource made by hand as `spec` describes it, with a tag of its own.
fn by_hand(cloud: &FakeCloud, kind: &str) -> String {
    let id = cloud.insert_foreign(kind, &spec(kind).name);
    cloud.set_prop(&id, "size", json!(1));
    cloud.set_prop(&id, "zone", json!("a"));
    cloud.set_tag(&id, "Team", "payments");
    id
}

#[tokio::test]
async fn adopts_a_matching_resource_with_the_kinds_tag_call_and_keeps_its_own_tags() {
    let cloud = FakeCloud::new();
    let reg = registry(&cloud);
    let r = reg.get("fake-tagged").unwrap();
    let cx = Ctx::new(ENV);
    let id = by_hand(&cloud, "fake-tagged");
    cloud.reset_calls();

    let done = import(r.as_ref(), &cx, &spec("fake-tagged"), &id, "its id")
        .await
        .unwrap();
    assert_eq!(done.observed.id, id);
    let tags = cloud.tags_of_id(&id).unwrap();
    assert_eq!(tags.get(TAG_ENV).map(String::as_str), Some(ENV));
    assert_eq!(tags.get(TAG_ADDRESS).map(String::as_str), Some(ADDRESS));
    assert_eq!(tags.get("CostCenter").map(String::as_str), Some("42"));
    assert_eq!(
        tags.get("Team").map(String::as_str),
        Some("payments"),
        "kept"
    );
    let ops: Vec<_> = cloud
        .mutating_calls()
        .into_iter()
        .map(|(_, op)| op)
        .collect();
    assert_eq!(ops, ["tag"], "one tag call, nothing else");
    // The only difference left is the tag found on it: the next plan's `~ tags`.
    let fields: Vec<_> = done.differs.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["tags"], "{:#?}", done.differs);
    // Owned now: a plain read finds it, and its changes are the same.
    let again = changes(r.as_ref(), &cx, &spec("fake-tagged"), &done.observed);
    assert_eq!(again, done.differs);

    // Importing it again changes nothing (the ownership tags are there).
    cloud.reset_calls();
    import(r.as_ref(), &cx, &spec("fake-tagged"), &id, "its id")
        .await
        .unwrap();
    assert_eq!(cloud.mutations(), 0);
}

#[tokio::test]
async fn puts_back_ownership_tags_removed_by_hand() {
    let cloud = FakeCloud::new();
    let reg = registry(&cloud);
    let r = reg.get("fake-tagged").unwrap();
    let id = cloud.insert_owned("fake-tagged", ENV, ADDRESS);
    cloud.set_prop(&id, "zone", json!("a"));
    cloud.retag(ADDRESS, |t| {
        t.remove(TAG_ENV);
    });
    import(
        r.as_ref(),
        &Ctx::new(ENV),
        &spec("fake-tagged"),
        &id,
        "its id",
    )
    .await
    .unwrap();
    assert_eq!(
        cloud
            .tags_of_id(&id)
            .unwrap()
            .get(TAG_ENV)
            .map(String::as_str),
        Some(ENV)
    );
}

/// Runs a refused import and checks that nothing was written.
async fn refused(
    cloud: &std::sync::Arc<FakeCloud>,
    kind: &str,
    spec_kind: &str,
    id: &str,
) -> ImportError {
    let reg = registry(cloud);
    let r = reg.get(spec_kind).unwrap();
    let before = cloud.resources();
    cloud.reset_calls();
    let err = import(r.as_ref(), &Ctx::new(ENV), &spec(spec_kind), id, "its id")
        .await
        .expect_err(kind);
    assert_eq!(cloud.mutations(), 0, "{err}");
    assert_eq!(cloud.resources(), before, "{err}");
    err
}

#[tokio::test]
async fn refuses_the_id_of_another_kind() {
    let cloud = FakeCloud::new();
    let id = by_hand(&cloud, "fake-cbd");
    let err = refused(&cloud, "other kind", "fake-tagged", &id).await;
    assert!(matches!(err, ImportError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("no fake-tagged with id {id} in r")),
        "{msg}"
    );
    assert!(msg.contains("Nothing was imported"), "{msg}");
}

#[tokio::test]
async fn refuses_another_resource_naming_the_field_that_differs() {
    let cloud = FakeCloud::new();
    let id = by_hand(&cloud, "fake-tagged");
    cloud.set_prop(&id, "zone", json!("b"));
    let err = refused(&cloud, "other identity", "fake-tagged", &id).await;
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{id} is not the resource {ADDRESS} describes: zone is \"b\", the plan's is \"a\" (the zone cannot change in place: it cannot be changed in place)")),
        "{msg}"
    );
}

#[tokio::test]
async fn refuses_another_envs_resource_and_another_address() {
    let cloud = FakeCloud::new();
    let id = cloud.insert_owned("fake-tagged", "prod", ADDRESS);
    let err = refused(&cloud, "other env", "fake-tagged", &id).await;
    assert!(
        err.to_string().contains(&format!(
            "{id} carries the ownership tags of env 'prod' (drctl:env=prod): drctl will not take a resource from another env"
        )),
        "{err}"
    );

    let cloud = FakeCloud::new();
    let id = cloud.insert_owned("fake-tagged", ENV, "r/data/other");
    cloud.set_prop(&id, "zone", json!("a"));
    let err = refused(&cloud, "other address", "fake-tagged", &id).await;
    assert!(
        err.to_string()
            .contains(&format!("{id} is already this env's r/data/other")),
        "{err}"
    );
}

#[tokio::test]
async fn refuses_a_kind_without_tags() {
    let cloud = FakeCloud::new();
    let id = by_hand(&cloud, "fake");
    let err = refused(&cloud, "untaggable", "fake", &id).await;
    assert!(
        err.to_string()
            .contains("drctl import does not take fake resources (")
            && err.to_string().contains("AWS cannot tag the kind"),
        "{err}"
    );
}

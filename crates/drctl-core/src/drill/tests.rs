//! The drill's phases over a fake cloud: journal before change, failback to
//! exactly the prior values, abort of a killed drill, breaches.

use super::*;
use crate::state::StateStore;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// Route53 answers with the secondary `lag` observations after the injection,
/// and with the primary as soon as the setting is restored.
#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    injected: Mutex<bool>,
    observes_since_inject: Mutex<u32>,
    lag: u32,
    fail_inject: bool,
}

impl Fake {
    fn log(&self, s: impl Into<String>) {
        self.log.lock().unwrap().push(s.into());
    }
    fn calls(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn prior() -> Injection {
    Injection::Asg {
        region: "us-east-1".into(),
        name: "trading-asg-t".into(),
        min_size: 2,
        desired_capacity: 3,
    }
}

#[async_trait]
impl DrillCloud for Fake {
    async fn readiness(&self) -> Result<Vec<Check>, DrillError> {
        Ok(vec![Check {
            name: "replica ACTIVE".into(),
            ok: true,
            detail: "ACTIVE".into(),
        }])
    }
    fn canaries(&self, id: &str) -> Vec<Canary> {
        vec![Canary::Dynamodb {
            region: "us-east-1".into(),
            replica_region: "us-west-2".into(),
            table: "t".into(),
            key: format!("drctl-drill-{id}"),
        }]
    }
    async fn write_canary(&self, _: &Canary, _: &str) -> Result<(), DrillError> {
        self.log("write canary");
        Ok(())
    }
    async fn canary_replicated(&self, _: &Canary) -> Result<bool, DrillError> {
        Ok(true)
    }
    async fn delete_canary(&self, _: &Canary) -> Result<(), DrillError> {
        self.log("delete canary");
        Ok(())
    }
    async fn prior(&self, _: Method) -> Result<Injection, DrillError> {
        Ok(prior())
    }
    async fn inject(&self, _: &Injection) -> Result<(), DrillError> {
        if self.fail_inject {
            return Err(DrillError::Cloud("boom".into()));
        }
        *self.injected.lock().unwrap() = true;
        self.log("inject");
        Ok(())
    }
    async fn restore(&self, p: &Injection) -> Result<(), DrillError> {
        *self.injected.lock().unwrap() = false;
        self.log(format!("restore {p:?}"));
        Ok(())
    }
    async fn observe(&self) -> Result<Observation, DrillError> {
        let injected = *self.injected.lock().unwrap();
        let mut n = self.observes_since_inject.lock().unwrap();
        let down = injected && {
            *n += 1;
            *n > self.lag
        };
        Ok(Observation {
            primary_check_healthy: !down,
            primary_check_detail: "3/3".into(),
            dns: if down {
                DnsAnswer::Secondary
            } else {
                DnsAnswer::Primary
            },
            secondary_healthy_targets: 2,
        })
    }
}

fn opts(targets: Targets) -> DrillOptions {
    DrillOptions {
        env: "t".into(),
        method: Method::Asg,
        targets,
        poll: Duration::from_millis(5),
        timeout: Duration::from_secs(5),
    }
}

fn store() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = StateStore::open(&dir.path().join("t.state.json"), "t").unwrap();
    (dir, s)
}

fn no_changes<'a>() -> PlanProbe<'a> {
    plan_probe(|| async { Ok(vec![]) })
}

#[tokio::test]
async fn a_drill_injects_after_journaling_fails_back_and_clears_the_journal() {
    let fake = Fake {
        lag: 2,
        ..Default::default()
    };
    let (_d, mut store) = store();
    let mut events = vec![];
    let stop = AtomicBool::new(false);
    let report = run(
        &fake,
        &no_changes(),
        &mut store,
        &opts(Targets::default()),
        "us-west-2",
        &stop,
        &mut |e| events.push(e),
    )
    .await
    .unwrap();
    assert!(report.passed, "{:?}", report.breaches);
    assert!(report.rto_seconds.is_some());
    assert!(report.failback_seconds.is_some());
    assert_eq!(report.rpo_seconds.s3, None);
    assert!(report.rpo_seconds.dynamodb.is_some());
    assert_eq!(
        fake.calls(),
        vec![
            "write canary".to_string(),
            "inject".into(),
            format!("restore {:?}", prior()),
            "delete canary".into()
        ]
    );
    assert_eq!(store.state.drill, None);
    // The file on disk has no journal either.
    let again = StateStore::open(store.path(), "t").unwrap();
    assert_eq!(again.state.drill, None);
    let phases: Vec<Phase> = report.phases.iter().map(|p| p.phase).collect();
    for p in [
        Phase::Readiness,
        Phase::Canaries,
        Phase::Injection,
        Phase::Observation,
        Phase::Failback,
        Phase::Verify,
    ] {
        assert!(phases.contains(&p), "{p:?} missing from {phases:?}");
    }
    assert!(events.len() >= report.phases.len());
}

#[tokio::test]
async fn a_failed_injection_leaves_the_prior_values_journaled_and_abort_restores_them() {
    let fake = Fake {
        fail_inject: true,
        ..Default::default()
    };
    let (_d, mut store) = store();
    let stop = AtomicBool::new(false);
    let o = opts(Targets::default());
    let err = run(
        &fake,
        &no_changes(),
        &mut store,
        &o,
        "us-west-2",
        &stop,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    let on_disk = StateStore::open(store.path(), "t").unwrap();
    let journal = on_disk.state.drill.clone().expect("journal kept");
    assert_eq!(journal.injection, Some(prior()));
    assert_eq!(journal.canaries.len(), 1);

    let mut reopened = on_disk;
    assert!(abort(&fake, &mut reopened, &o, &mut |_| {}).await.unwrap());
    assert!(fake.calls().contains(&format!("restore {:?}", prior())));
    assert!(fake.calls().contains(&"delete canary".to_string()));
    assert_eq!(
        StateStore::open(store.path(), "t").unwrap().state.drill,
        None
    );
    // Nothing left to abort.
    assert!(!abort(&fake, &mut reopened, &o, &mut |_| {}).await.unwrap());
}

#[tokio::test]
async fn an_rto_over_the_target_is_a_breach() {
    let fake = Fake {
        lag: 3,
        ..Default::default()
    };
    let (_d, mut store) = store();
    let stop = AtomicBool::new(false);
    let targets = Targets {
        rto: Duration::from_millis(1),
        ..Targets::default()
    };
    let report = run(
        &fake,
        &no_changes(),
        &mut store,
        &opts(targets),
        "us-west-2",
        &stop,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(!report.passed);
    assert!(
        report.breaches.iter().any(|b| b.starts_with("RTO ")),
        "{:?}",
        report.breaches
    );
    // Failback happened all the same.
    assert_eq!(store.state.drill, None);
}

#[tokio::test]
async fn a_plan_with_changes_in_the_secondary_fails_readiness_and_changes_nothing() {
    let fake = Fake::default();
    let (_d, mut store) = store();
    let stop = AtomicBool::new(false);
    let plan = plan_probe(|| async {
        Ok(vec![
            "us-west-2/dynamodb/sessions-replica (create)".to_string()
        ])
    });
    let report = run(
        &fake,
        &plan,
        &mut store,
        &opts(Targets::default()),
        "us-west-2",
        &stop,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(!report.passed);
    assert!(
        report.breaches[0].contains("sessions-replica"),
        "{:?}",
        report.breaches
    );
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(store.state.drill, None);
}

#[test]
fn the_journal_round_trips_in_the_state_file_format() {
    let j = DrillJournal {
        id: "abc".into(),
        method: Method::Sg,
        started_at: "2026-01-01T00:00:00.000Z".into(),
        canaries: vec![],
        injection: Some(Injection::Sg {
            region: "us-east-1".into(),
            group_id: "sg-1".into(),
            ingress: vec![IngressRule {
                protocol: "tcp".into(),
                from_port: 80,
                to_port: 80,
                cidr: "0.0.0.0/0".into(),
            }],
        }),
    };
    let text = serde_json::to_string(&j).unwrap();
    assert!(text.contains(r#""method":"sg""#), "{text}");
    assert_eq!(serde_json::from_str::<DrillJournal>(&text).unwrap(), j);
}

#[test]
fn the_probe_lists_what_calls_the_cloud_or_adopts_then_what_is_forgotten() {
    let change = |address: &str, action: &str, adopt: bool| {
        serde_json::json!({
            "address": address, "kind": "k", "name": "n", "action": action, "adopt": adopt,
        })
    };
    let plan: crate::plan::Plan = serde_json::from_value(serde_json::json!({
        "format_version": crate::plan::PLAN_FORMAT_VERSION,
        "env": "t", "lineage": "l", "serial": 1,
        "changes": [
            change("us-east-1/network/vpc", "no-op", false),
            change("us-west-2/dynamodb/replica", "create", false),
            change("global/dns/zone", "no-op", true),
            change("us-east-1/compute/lt", "replace", false),
        ],
        "forget": ["us-east-1/compute/old"],
    }))
    .unwrap();
    assert_eq!(
        plan_changes(&plan),
        [
            "us-west-2/dynamodb/replica (create)",
            "global/dns/zone (noop)",
            "us-east-1/compute/lt (replace)",
            "us-east-1/compute/old (forget)",
        ]
    );
}

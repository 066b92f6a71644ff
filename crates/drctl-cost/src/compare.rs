//! The cost of a plan: the env's monthly cost before it (what exists, as
//! read from the cloud or the state) and after it (what the plan leaves),
//! per region and per resource, and the difference.

use crate::prices::PriceTable;
use crate::rules::{estimate, Estimate, Item, Money};
use drctl_core::model::{Address, ResourceSpec};
use drctl_core::plan::{Action, Plan};
use drctl_stack::usage::Usage;
use serde::Serialize;

/// One region's monthly cost before and after.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionChange {
    /// AWS region, or "global".
    pub region: String,
    pub before: Money,
    pub after: Money,
}

/// One resource whose monthly cost changes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceChangeCost {
    pub address: Address,
    pub kind: String,
    pub region: String,
    pub before: Option<Money>,
    pub after: Option<Money>,
}

/// What a plan does to the monthly cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostChange {
    pub before: Estimate,
    pub after: Estimate,
    pub hours_per_month: f64,
    /// Origin of the price table used.
    pub prices: String,
}

/// The difference of two amounts: `None` when either has unknown lines.
pub fn delta(before: Money, after: Money) -> Option<f64> {
    Some(after.known()? - before.known()?)
}

impl CostChange {
    pub fn regions(&self) -> Vec<RegionChange> {
        let mut names = self.before.regions();
        for r in self.after.regions() {
            if !names.contains(&r) {
                names.push(r);
            }
        }
        // "global" last.
        names.sort_by_key(|r| r == "global");
        names
            .into_iter()
            .map(|region| RegionChange {
                before: self.before.region_total(&region),
                after: self.after.region_total(&region),
                region,
            })
            .collect()
    }

    /// Resources whose cost differs (added, removed, or changed lines).
    pub fn changed_resources(&self) -> Vec<ResourceChangeCost> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for r in self.after.resources.iter().chain(&self.before.resources) {
            if seen.contains(&&r.address) {
                continue;
            }
            seen.push(&r.address);
            let b = self.before.resource(&r.address);
            let a = self.after.resource(&r.address);
            if b.map(|x| &x.lines) == a.map(|x| &x.lines) {
                continue;
            }
            out.push(ResourceChangeCost {
                address: r.address.clone(),
                kind: r.kind.clone(),
                region: r.region.clone(),
                before: b.map(|x| x.total()),
                after: a.map(|x| x.total()),
            });
        }
        out.sort_by(|x, y| {
            (x.region == "global", &x.region, &x.address).cmp(&(
                y.region == "global",
                &y.region,
                &y.address,
            ))
        });
        out
    }

    pub fn total_before(&self) -> Money {
        self.before.total()
    }
    pub fn total_after(&self) -> Money {
        self.after.total()
    }

    /// Every warning of both sides, once.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for w in self.before.warnings.iter().chain(&self.after.warnings) {
            if !out.contains(w) {
                out.push(w.clone());
            }
        }
        out
    }
}

/// The items of `specs` (the desired stack) as the cost model sees them.
pub fn desired_items<'a>(specs: impl IntoIterator<Item = &'a ResourceSpec>) -> Vec<Item> {
    specs
        .into_iter()
        .map(|s| Item {
            address: s.address.clone(),
            kind: s.kind.clone(),
            region: s.region.clone(),
            props: s.props.clone(),
        })
        .collect()
}

/// What exists before `plan`: every resource the plan found (its observed
/// properties).
pub fn existing_items(plan: &Plan) -> Vec<Item> {
    plan.changes
        .iter()
        .filter_map(|c| {
            let prior = c.prior.as_ref()?;
            Some(Item {
                address: c.address.clone(),
                kind: c.kind.clone(),
                region: c.region.clone(),
                props: prior.props.clone(),
            })
        })
        .collect()
}

/// The cost before and after `plan`. `desired` is the stack the plan moves
/// to (ignored for a destroy plan, which leaves nothing). Only resources the
/// plan covers count on either side, so a `-target` plan shows the cost of
/// what it targets. Only resources the
/// plan covers count on either side, so a `--target` plan shows the cost of
/// its targets.
pub fn compare<'a>(
    plan: &Plan,
    desired: impl IntoIterator<Item = &'a ResourceSpec>,
    usage: &Usage,
    table: &PriceTable,
) -> CostChange {
    let before = existing_items(plan);
    let after: Vec<Item> = if plan.destroy {
        Vec::new()
    } else {
        desired_items(desired)
            .into_iter()
            .filter(|i| {
                plan.change(&i.address)
                    .is_some_and(|c| c.action != Action::Delete)
            })
            .collect()
    };
    CostChange {
        before: estimate(&before, usage, table),
        after: estimate(&after, usage, table),
        hours_per_month: table.hours_per_month,
        prices: table.origin.clone(),
    }
}

//! Refresh-only (Terraform's `-refresh-only`): accept what changed outside
//! of drctl into the state, change nothing in the cloud.
//!
//! From an ordinary plan (read with refresh): every drifted field of a
//! recorded resource takes the cloud's value as "last applied", and every
//! recorded resource deleted outside of drctl is forgotten. The next plan
//! then shows the cloud's values as ordinary changes the plan file asks for
//! (no longer as drift). Resources the state does not record are never added.

use crate::model::Address;
use crate::plan::{Action, Plan};
use crate::state::State;
use serde::Serialize;

/// What a refresh-only apply does to the state.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RefreshOnly {
    /// Recorded resources whose drifted fields are accepted: (address, fields).
    pub update: Vec<(Address, Vec<String>)>,
    /// Recorded resources that no longer exist in the cloud.
    pub forget: Vec<Address>,
}

impl RefreshOnly {
    /// What `plan` (made with refresh from `state`) would change in `state`.
    pub fn from_plan(plan: &Plan, state: &State) -> RefreshOnly {
        let mut out = RefreshOnly::default();
        for c in &plan.changes {
            if !state.resources.contains_key(&c.address) {
                continue;
            }
            if c.action == Action::Create {
                out.forget.push(c.address.clone());
            } else if c.drift {
                let fields = c.fields.iter().filter(|f| f.drift);
                out.update
                    .push((c.address.clone(), fields.map(|f| f.field.clone()).collect()));
            }
        }
        out.forget.extend(
            plan.forget
                .iter()
                .filter(|a| state.resources.contains_key(*a) || state.pending.contains_key(*a))
                .cloned(),
        );
        out
    }

    /// Whether a refresh-only apply would change nothing in the state.
    pub fn is_empty(&self) -> bool {
        self.update.is_empty() && self.forget.is_empty()
    }

    /// Writes it into `state` (the caller saves): drifted fields take the
    /// cloud's value, ids and attributes the cloud's current ones.
    pub fn apply_to(&self, plan: &Plan, state: &mut State) {
        for (address, _) in &self.update {
            let (Some(c), Some(r)) = (plan.change(address), state.resources.get_mut(address))
            else {
                continue;
            };
            for f in c.fields.iter().filter(|f| f.drift) {
                match &f.before {
                    Some(v) => r.applied.insert(f.field.clone(), v.clone()),
                    None => r.applied.remove(&f.field),
                };
            }
            if let Some(o) = &c.prior {
                r.id = o.id.clone();
                r.attrs = o.attrs.clone();
            }
        }
        for a in &self.forget {
            state.resources.remove(a);
            state.pending.remove(a);
        }
    }
}

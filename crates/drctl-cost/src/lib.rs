//! drctl's cost model: what the stack costs a month, per region, from the
//! planned resources' properties and a price table shipped as data
//! (`prices/aws.toml`, embedded in the binary). No AWS call, no SDK.
//!
//! - [`prices`]: the price table (unit prices, each with its source and date).
//! - [`rules`]: which billable lines each kind of resource has, and their
//!   arithmetic (730 hours a month, Multi-AZ doubling, usage-based lines).
//! - [`compare`]: the cost before and after a plan, per region and resource.
//!
//! Figures are on-demand list prices without free tiers, taxes, credits,
//! Savings Plans or reserved instances. A price the table lacks is never
//! counted as $0: the line is *unknown* and a warning names it.

pub mod compare;
pub mod prices;
pub mod rules;

pub use compare::{compare, CostChange, RegionChange, ResourceChangeCost};
pub use prices::{Price, PriceTable, PricesError};
pub use rules::{estimate, Estimate, Item, Line, Money, ResourceCost};

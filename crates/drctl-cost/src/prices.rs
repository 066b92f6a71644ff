//! The price table: on-demand unit prices by (item, variant, region), each
//! with its source and the date it was taken. The shipped table is
//! `prices/aws.toml` (its header documents every field); another file of the
//! same shape can replace it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;
use thiserror::Error;

/// The table shipped in the repo, embedded at build time.
pub const EMBEDDED: &str = include_str!("../prices/aws.toml");

/// Where the embedded table lives in the repo (shown as its origin).
pub const EMBEDDED_ORIGIN: &str = "crates/drctl-cost/prices/aws.toml (built in)";

/// One unit price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// What is billed, e.g. `ec2/instance-hour`.
    pub item: String,
    /// Instance type or DB class for per-type items; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    /// AWS region, or `global`.
    pub region: String,
    /// US dollars per `unit`.
    pub usd: f64,
    pub unit: String,
    /// The page the figure was read from.
    pub source: String,
    /// When it was read (YYYY-MM-DD).
    pub taken: String,
    /// The figure was seen in `source` (false: to be checked there).
    #[serde(default = "yes")]
    pub confirmed: bool,
}

fn yes() -> bool {
    true
}

/// A whole price table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub format_version: u32,
    pub currency: String,
    /// Hours an always-on resource runs in a month (730, as Infracost).
    pub hours_per_month: f64,
    #[serde(rename = "price", default)]
    pub prices: Vec<Price>,
    /// Where the table was loaded from (not part of the file).
    #[serde(skip)]
    pub origin: String,
}

#[derive(Debug, Error)]
pub enum PricesError {
    #[error("cannot read the price table {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the price table {origin} is not valid: {message}")]
    Invalid { origin: String, message: String },
}

impl PriceTable {
    /// The table shipped with drctl.
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED, EMBEDDED_ORIGIN).expect("the embedded price table is valid (tested)")
    }

    /// Reads and checks a table file.
    pub fn load(path: &Path) -> Result<Self, PricesError> {
        let text = std::fs::read_to_string(path).map_err(|source| PricesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks: format version 1, USD, positive hours, prices
    /// finite and not negative, no (item, variant, region) twice.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PricesError> {
        let invalid = |message: String| PricesError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut table: PriceTable =
            toml::from_str(text).map_err(|e| invalid(e.message().trim().to_string()))?;
        table.origin = origin.to_string();
        if table.format_version != 1 {
            return Err(invalid(format!(
                "format_version {} is not supported (this drctl reads 1)",
                table.format_version
            )));
        }
        if table.currency != "USD" {
            return Err(invalid(format!(
                "currency must be USD (got {})",
                table.currency
            )));
        }
        if !(table.hours_per_month.is_finite() && table.hours_per_month > 0.0) {
            return Err(invalid("hours_per_month must be a positive number".into()));
        }
        let mut seen = BTreeSet::new();
        for p in &table.prices {
            let what = format!("{} {} in {}", p.item, p.variant, p.region);
            if !(p.usd.is_finite() && p.usd >= 0.0) {
                return Err(invalid(format!(
                    "{what}: usd must be zero or more (got {})",
                    p.usd
                )));
            }
            if p.source.trim().is_empty() || p.taken.trim().is_empty() {
                return Err(invalid(format!(
                    "{what}: every price needs a source and the date it was taken"
                )));
            }
            if !seen.insert((p.item.as_str(), p.variant.as_str(), p.region.as_str())) {
                return Err(invalid(format!("{what} is listed twice")));
            }
        }
        Ok(table)
    }

    /// The price of `item` (with `variant`, or "" for none) in `region`.
    pub fn get(&self, item: &str, variant: &str, region: &str) -> Option<&Price> {
        self.prices
            .iter()
            .find(|p| p.item == item && p.variant == variant && p.region == region)
    }

    /// The table as TOML (for writing a refreshed table).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

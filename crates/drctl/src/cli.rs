//! Command-line definitions (clap derive). Parsing only.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Provision, diff and tear down the two-region trading DR stack on AWS.
///
/// drctl reads an environment plan (plans/<env>.toml), compares it with what
/// exists in both regions, and creates, updates or deletes resources through
/// the AWS APIs, recording physical ids in a state file
/// (.drctl/<env>.state.json). It only ever modifies resources that carry its
/// ownership tags (drctl:env, drctl:address).
#[derive(Debug, Parser)]
#[command(
    name = "drctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: Global,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Folder holding the environment plans (<env>.toml).
    #[arg(long, global = true, default_value = "plans", value_name = "DIR")]
    pub plans_dir: PathBuf,
    /// State: a file, or s3://BUCKET/KEY [default: the plan's [state] table, else .drctl/<env>.state.json].
    #[arg(
        long,
        global = true,
        env = "DRCTL_STATE",
        value_name = "PATH|s3://BUCKET/KEY"
    )]
    pub state: Option<String>,
    /// Send every AWS call to this endpoint (e.g. LocalStack); AWS_ENDPOINT_URL works too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Plain output without colours (NO_COLOR=1 does the same).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// How long to wait for another drctl holding the state lock (e.g. 30s, 2m).
    #[arg(long, global = true, default_value = "0s", value_parser = parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// How many resources are read or changed at once.
    #[arg(long, global = true, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
}

#[derive(Debug, Args, Clone)]
pub struct EnvArg {
    /// The environment: loads <plans-dir>/<env>.toml.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change, including drift made outside of drctl.
    Plan(PlanArgs),
    /// Make the cloud match the environment plan (or apply a saved plan).
    Apply(ApplyArgs),
    /// Delete everything this environment owns, in both regions.
    Destroy(DestroyArgs),
    /// Print the stack's outputs (ALB DNS names, DB endpoints, ...) from the state.
    Output(OutputArgs),
    /// Inspect the state file.
    #[command(subcommand)]
    State(StateCommand),
    /// Print the resource graph of both regions as Graphviz DOT.
    Graph(EnvArg),
    /// Check an environment plan without calling AWS.
    Validate(EnvArg),
    /// Remove a state lock left by a drctl that was killed (S3 state: give its LOCK_ID).
    ForceUnlock(ForceUnlockArgs),
    /// Show a plan saved with `drctl plan --out FILE`, without calling AWS.
    Show(ShowArgs),
    /// Adopt an existing resource at ADDR: check it, tag it with this env's
    /// ownership tags and record it in the state.
    Import(ImportArgs),
    /// Run the DR drill: fail the primary, measure RTO and RPO, fail back.
    Drill(DrillArgs),
    /// Print the env's monthly cost: per region, per resource, baseline vs usage-based.
    Cost(CostArgs),
}

#[derive(Debug, Args)]
pub struct CostArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Print the breakdown as JSON.
    #[arg(long)]
    pub json: bool,
    /// Price table file to use [default: .drctl/prices.toml if present, else the built-in table].
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The saved plan file.
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: PathBuf,
    /// Print the plan as the JSON plan document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Address in the stack, e.g. us-east-1/network/vpc (see `drctl graph`).
    pub address: String,
    /// The resource's physical id (VPC id, ARN, name...; what `drctl state list` shows).
    pub id: String,
}

/// Options that narrow or change what a plan (and so an apply) does.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanScope {
    /// Plan only this resource and what it depends on (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub target: Vec<String>,
    /// Replace this resource even though nothing forces it (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub replace: Vec<String>,
    /// Update the state to match the cloud (drift accepted, deleted resources
    /// forgotten); change nothing in the cloud.
    #[arg(long, conflicts_with_all = ["target", "replace"])]
    pub refresh_only: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Read the cloud (default) or plan from the state alone (--refresh=false).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Write the plan to FILE so that `drctl apply FILE` applies exactly it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write a Markdown summary for a pull request (GITHUB_STEP_SUMMARY is used when set).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Plan the destruction of everything the env owns.
    #[arg(long)]
    pub destroy: bool,
    #[command(flatten)]
    pub scope: PlanScope,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The environment (not needed with a saved plan file).
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: Option<String>,
    /// A plan saved with `drctl plan --out FILE`: applied as is, without a prompt.
    #[arg(value_name = "PLAN_FILE")]
    pub plan_file: Option<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Print machine-readable progress (JSON lines) instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub scope: PlanScope,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Print machine-readable progress (JSON lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// One output, e.g. domain_name or us-east-1.alb_dns_name: its bare value.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Print the outputs as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List every resource in the state with its physical id.
    List(EnvArg),
    /// Show one resource's state entry.
    Show {
        /// Address, e.g. us-east-1/network/vpc.
        address: String,
        #[command(flatten)]
        env: EnvArg,
    },
    /// Forget resources: drctl stops managing them and leaves them in the
    /// cloud (the previous state is kept as a backup).
    Rm {
        /// Addresses to forget, e.g. us-east-1/network/vpc.
        #[arg(required = true)]
        addresses: Vec<String>,
        #[command(flatten)]
        env: EnvArg,
    },
    /// Print the raw state document to stdout.
    Pull(EnvArg),
    /// Replace the stored state with FILE (refuses a lower serial or another lineage).
    Push {
        /// A state file, e.g. from `drctl state pull`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        env: EnvArg,
        /// Push even with another lineage or a lower serial (overwrites newer state).
        #[arg(long)]
        force: bool,
    },
    /// Copy the state to another backend (lineage and serial kept), verify, release the source.
    Migrate {
        /// Target: s3://BUCKET/KEY or a file path.
        #[arg(long, value_name = "s3://BUCKET/KEY|FILE")]
        to: String,
        #[command(flatten)]
        env: EnvArg,
        /// Overwrite a target that holds another lineage or a higher serial.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id printed by the run that holds it (required for S3 state).
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: Option<String>,
    #[command(flatten)]
    pub env: EnvArg,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub force: bool,
}

/// How `drctl drill` simulates the primary's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DrillMethod {
    /// Primary ASG min and desired capacity to 0 (the document's option A).
    Asg,
    /// Revoke the primary ALB security group's 80/443 ingress (option B).
    Sg,
    /// Invert the primary Route53 health check (least invasive).
    HealthCheck,
}

/// `drctl drill`: readiness, canaries, failure injection, observation,
/// failback, and a report of the measured RTO and RPO against the plan's
/// targets (`rto_target`, `rpo_target_dynamodb`, `rpo_target_s3`).
/// Exit 0 when the drill passes, 1 on a breach or a failed readiness check.
#[derive(Debug, Args)]
pub struct DrillArgs {
    #[command(flatten)]
    pub env: EnvArg,
    /// How to simulate the primary's failure.
    #[arg(long, value_enum, default_value = "health-check")]
    pub method: DrillMethod,
    /// Only check readiness (read-only; for a nightly CI job).
    #[arg(long, conflicts_with = "abort")]
    pub check: bool,
    /// Undo a drill that was killed: restore the journaled values, delete the canaries.
    #[arg(long)]
    pub abort: bool,
    /// Print the report as JSON (the timeline goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Also write the report as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Time between polls of the health check, the DNS answer and the targets.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,
    /// Longest wait for the failover, the failback or a canary.
    #[arg(long, default_value = "15m", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// "30s", "2m", "1h", "500ms" or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s, 2m or 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("'{s}' has an unknown unit; use ms, s, m or h")),
    }
}

/// Every long flag name of the command line (`auto-approve`, `out`, ...),
/// from clap's own definition so that new flags are covered.
fn long_flag_names() -> std::collections::BTreeSet<String> {
    fn walk(cmd: &clap::Command, out: &mut std::collections::BTreeSet<String>) {
        for a in cmd.get_arguments() {
            if let Some(l) = a.get_long() {
                out.insert(l.to_string());
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&<Cli as clap::CommandFactory>::command(), &mut out);
    out.insert("help".into());
    out.insert("version".into());
    out
}

/// Accepts Terraform's single-dash spellings (`-auto-approve`, `-out=FILE`,
/// `-refresh=false`, `-target=ADDR`, ...): an argument of one dash and a
/// known long flag name becomes the two-dash form. Short flags (`-e`, `-vv`)
/// and everything after `--` are left alone.
pub fn terraform_spellings<I, T>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString>,
{
    let names = long_flag_names();
    let mut rest = false;
    args.into_iter()
        .map(|a| {
            let a: std::ffi::OsString = a.into();
            if rest {
                return a;
            }
            let Some(s) = a.to_str() else { return a };
            if s == "--" {
                rest = true;
                return a;
            }
            match s.strip_prefix('-') {
                Some(flag) if !flag.starts_with('-') => {
                    let name = flag.split('=').next().unwrap_or(flag);
                    if name.len() > 1 && names.contains(name) {
                        return format!("-{s}").into();
                    }
                    a
                }
                _ => a,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelled(args: &[&str]) -> Vec<String> {
        terraform_spellings(args.iter().copied())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn terraform_single_dash_flags_become_long_flags() {
        assert_eq!(
            spelled(&[
                "drctl",
                "apply",
                "-auto-approve",
                "-no-color",
                "-json",
                "-e",
                "dev",
                "-vv"
            ]),
            [
                "drctl",
                "apply",
                "--auto-approve",
                "--no-color",
                "--json",
                "-e",
                "dev",
                "-vv"
            ]
        );
        assert_eq!(
            spelled(&[
                "drctl",
                "plan",
                "-refresh=false",
                "-out=p.json",
                "-detailed-exitcode"
            ]),
            [
                "drctl",
                "plan",
                "--refresh=false",
                "--out=p.json",
                "--detailed-exitcode"
            ]
        );
        // A value after `--` is never touched.
        assert_eq!(spelled(&["drctl", "--", "-json"]), ["drctl", "--", "-json"]);
    }
}

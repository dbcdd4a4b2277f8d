//! `mailroom sandbox`: serve the local office simulator.
//!
//! Binds loopback unless told otherwise: the sandbox accepts its well-known credentials, so
//! exposing it on a network is refused without `--allow-remote`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use mailroom_sandbox::{MyepoProfile, OpsPrefixEra, Sandbox, SandboxOptions, Urls};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (port 0 = any free port)
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Keep the sandbox's state (mailbox, case advances, quota counters) here across restarts
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Once listening, print a complete mailroom configuration for this sandbox on stdout
    #[arg(long)]
    print_config: bool,
    /// Where the printed configuration puts the database and archive
    #[arg(long, value_name = "DIR", default_value = "mailroom-data")]
    data_dir: PathBuf,
    /// Allow a non-loopback listen address
    #[arg(long)]
    allow_remote: bool,
    /// Seed for generated communications (same seed, same bytes)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run rate windows and the JPO day this many times faster than real time
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    time_scale: f64,
    /// MyEPO contract variant(s), joined with + (e.g. aliases+nested+mark-204)
    #[arg(long, default_value = "default", value_name = "PROFILE", value_parser = parse_profile)]
    myepo_profile: MyepoProfile,
    /// Namespace-prefix era of OPS register XML: 2025 (ns2/ns3) or 2022 (ops/reg)
    #[arg(long, default_value = "2025", value_name = "ERA", value_parser = parse_era)]
    ops_prefix_era: OpsPrefixEra,
}

fn parse_profile(s: &str) -> Result<MyepoProfile, String> {
    s.parse::<MyepoProfile>().map_err(|e| e.to_string())
}

fn parse_era(s: &str) -> Result<OpsPrefixEra, String> {
    s.parse::<OpsPrefixEra>().map_err(|e| e.to_string())
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        bail!(
            "refusing to listen on {}: not a loopback address (add --allow-remote to expose the sandbox)",
            args.listen
        );
    }
    if !(args.time_scale.is_finite() && args.time_scale > 0.0) {
        bail!("--time-scale {}: must be a positive number", args.time_scale);
    }
    let opts = SandboxOptions {
        seed: args.seed,
        time_scale: args.time_scale,
        state_dir: args.state_dir.clone(),
        myepo_profile: args.myepo_profile,
        ops_prefix_era: args.ops_prefix_era,
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::new(opts)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    let base = format!("http://{addr}");
    tracing::info!(%base, state_dir = ?args.state_dir, "sandbox listening (MyEPO /myepo, OPS /ops/3.2, JPO /jpo, scenario /_sandbox)");
    if args.print_config {
        let data_dir = std::path::absolute(&args.data_dir)
            .with_context(|| format!("--data-dir {}: cannot make it absolute", args.data_dir.display()))?;
        super::print_stdout(&crate::config::sandbox_config_toml(
            &Urls::for_base(&base),
            &data_dir,
            args.time_scale,
        ))?;
    }
    sandbox.serve(listener, crate::signals::shutdown()).await?;
    tracing::info!("sandbox stopped");
    Ok(())
}

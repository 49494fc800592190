//! The `nines` binary: CLI, configuration, wiring and background tasks.

mod client;
mod config;
mod deploy_cli;
mod dora_cli;
mod events;
mod events_cli;
mod gate_cli;
mod heartbeat_task;
mod incident_cli;
mod maintenance_cli;
mod notify_task;
mod oncall_cli;
mod page_cli;
mod postmortem_cli;
mod reload;
mod rules_task;
mod rules_test_cli;
mod serve;
mod silence_cli;
mod slo_cli;
mod slo_task;
mod targets;
mod units;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// SRE infrastructure in one binary: metrics, SLOs, error budgets, paging,
/// incidents and release gates.
#[derive(Debug, Parser)]
#[command(name = "nines", version, about, long_about = None, args_override_self = true)]
struct Cli {
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    /// Log line format: `text` for people, `json` (one object per line)
    /// for log shippers.
    #[arg(long, global = true, default_value = "text")]
    log_format: LogFormat,
    /// API token for commands that talk to a server (sent as a bearer
    /// token). Prefer the environment variable: arguments show in `ps`.
    #[arg(long, global = true, env = "NINES_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM CA certificate(s) to trust for an `https://` server instead of
    /// the public web roots (a private CA or a self-signed certificate).
    #[arg(long, global = true, env = "NINES_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `nines slo ...`
#[derive(Debug, Subcommand)]
enum SloCommand {
    /// Every SLO with its attainment, budget left, 1h burn rate and state.
    List {
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Convert OpenSLO v1 or Sloth prometheus/v1 specs into nines SLOs:
    /// prints the `slos:` YAML, and on stderr what did not carry over.
    Import {
        /// Spec files (YAML, several documents each allowed); `-` reads stdin.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The owning team, for specs that name none.
        #[arg(long)]
        owner: Option<String>,
        /// The window of Sloth SLOs (Sloth's default: 30d).
        #[arg(long)]
        sloth_window: Option<String>,
    },
    /// Prometheus recording and alerting rules equivalent to nines's
    /// evaluation of the config's SLOs, for a Prometheus of your own: the
    /// rule file on stdout, where it differs from nines on stderr.
    Rules {
        /// Configuration file (YAML) holding the SLOs.
        #[arg(long, short)]
        config: PathBuf,
        /// Only this service's SLOs.
        #[arg(long)]
        service: Option<String>,
    },
    /// One SLO in full: budget, burn rates, exhaustion, alerts.
    Show {
        /// SERVICE/SLO.
        id: String,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
}

/// `nines oncall ...`
#[derive(Debug, Subcommand)]
enum OncallCommand {
    /// Who is on call now (or at --at), per schedule.
    Who {
        /// Only this schedule.
        #[arg(long, short)]
        schedule: Option<String>,
        /// The instant to ask about (RFC 3339 or Unix seconds).
        #[arg(long)]
        at: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Pages per person and per shift, out-of-hours pages and time to
    /// ack over a period (default: the last 28 days).
    Load {
        /// Start of the period (RFC 3339 or Unix seconds).
        #[arg(long)]
        start: Option<String>,
        /// End of the period.
        #[arg(long)]
        end: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// The shifts of a schedule over a period (default: the next 7 days).
    Shifts {
        /// The schedule.
        #[arg(long, short)]
        schedule: String,
        /// Start of the period (RFC 3339 or Unix seconds).
        #[arg(long)]
        start: Option<String>,
        /// End of the period.
        #[arg(long)]
        end: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
}

/// `nines deploy ...`
#[derive(Debug, Subcommand)]
enum DeployCommand {
    /// Record a deploy (and the commits it ships) in the event log.
    Record(deploy_cli::RecordArgs),
}

/// `nines page ...`
#[derive(Debug, Subcommand)]
enum PageCommand {
    /// Pages, newest first.
    List {
        /// `open`, `triggered`, `acknowledged`, `resolved` or `all`.
        #[arg(long, short, default_value = "open")]
        status: String,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Acknowledge pages: escalation stops.
    Ack {
        /// Their ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Who acknowledges (the token's name if not given).
        #[arg(long)]
        by: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Resolve pages by hand.
    Resolve {
        /// Their ids.
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Who resolves (the token's name if not given).
        #[arg(long)]
        by: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
}

/// `nines silence ...`
#[derive(Debug, Subcommand)]
enum SilenceCommand {
    /// Mute alerts matching every MATCHER for a while; prints the id.
    Add {
        #[command(flatten)]
        args: silence_cli::AddArgs,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
    },
    /// Silences that are active or pending (or, with --expired, over).
    List {
        /// List expired silences instead.
        #[arg(long)]
        expired: bool,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// End silences now.
    Expire {
        /// Their ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
    },
}

/// `nines maintenance ...`
#[derive(Debug, Subcommand)]
enum MaintenanceCommand {
    /// Every recorded window, ended and withdrawn ones too.
    List {
        /// Only this service's windows.
        #[arg(long)]
        service: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Record a one-off window: its events leave the service's budgets,
    /// also for minutes already past.
    Add {
        #[command(flatten)]
        args: maintenance_cli::AddArgs,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// End a window now (work finished early): later events count again.
    End {
        /// The window's id.
        id: i64,
        /// Who ends it.
        #[arg(long)]
        by: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Withdraw a window (recorded by mistake): all its events count again.
    Withdraw {
        /// The window's id.
        id: i64,
        /// Who withdraws it.
        #[arg(long)]
        by: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
}

/// `nines gate`: a release decision, or overrides.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct GateArgs {
    #[command(subcommand)]
    action: Option<GateAction>,
    /// The service about to release.
    #[arg(long, required = false)]
    service: Option<String>,
    /// Treat warn as block.
    #[arg(long)]
    strict: bool,
    /// The server to ask.
    #[arg(long, default_value = "http://127.0.0.1:9999")]
    server: String,
    /// `table` (the decision and its reasons) or `json` (the API's answer).
    #[arg(long, short, default_value = "table")]
    output: targets::Output,
}

/// `nines gate override|overrides|revoke`
#[derive(Debug, Subcommand)]
enum GateAction {
    /// Let a service release through a block, for a while, with a reason
    /// (recorded with who and when).
    Override {
        #[command(flatten)]
        args: gate_cli::OverrideArgs,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Every override, expired and revoked ones too.
    Overrides {
        /// Only this service's.
        #[arg(long)]
        service: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
    /// Revoke an override before it expires.
    Revoke {
        /// The override's id.
        id: i64,
        /// Who revokes it.
        #[arg(long)]
        by: Option<String>,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Whether SERVICE may release now, from its error budgets, pages and
    /// change freezes: exit 0 on allow or warn, 1 on block, 2 when no
    /// decision could be had. `nines gate override` lets a release through.
    Gate(GateArgs),
    /// SLO status of a running server.
    #[command(subcommand)]
    Slo(SloCommand),
    /// Maintenance windows: planned time kept out of error budgets.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Silences: mute alerts that match, for a while.
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// On-call schedules: who is on call, and when.
    #[command(subcommand)]
    Oncall(OncallCommand),
    /// Pages: alerts escalating to people until someone acknowledges.
    #[command(subcommand)]
    Page(PageCommand),
    /// The event log: pages, notifications, silences, deploys, changes.
    Events(events_cli::EventsArgs),
    /// Deploys: what went out, when, with which commits.
    #[command(subcommand)]
    Deploy(DeployCommand),
    /// DORA's delivery metrics: deployment frequency, lead time, change
    /// failure rate, recovery time, rework rate.
    Dora(dora_cli::DoraArgs),
    /// Incidents: declare, follow, resolve, learn from.
    Incident {
        #[command(subcommand)]
        command: incident_cli::IncidentCommand,
        /// The server to ask.
        #[arg(long, default_value = "http://127.0.0.1:9999", global = true)]
        server: String,
        /// Who acts; $USER if not given.
        #[arg(long, env = "USER", global = true)]
        user: Option<String>,
        /// `table` or `json` (the API's data).
        #[arg(long, short, default_value = "table", global = true)]
        output: targets::Output,
    },
    /// Run the server: ingestion, storage and the HTTP API.
    Serve {
        /// Configuration file (YAML). Without one, defaults apply.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Address to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory (overrides storage.path).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The folder backups over HTTP may be written under (overrides
        /// storage.backup_root).
        #[arg(long)]
        backup_root: Option<PathBuf>,
        /// Serve without API tokens on a non-loopback address (only behind
        /// something else that controls access).
        #[arg(long)]
        insecure_allow_unauthenticated: bool,
    },
    /// Run unit tests.
    #[command(subcommand)]
    Test(TestCommand),
    /// Validate a configuration file; prints every problem with file, line
    /// and column, and exits non-zero if there is any.
    Check {
        /// Configuration file (YAML).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Take a consistent backup of a running server's store into DIR (a
    /// folder that does not exist or is empty). Start a server on the
    /// backup with `nines serve --data-dir DIR`.
    Backup {
        /// Where to write the backup.
        dir: PathBuf,
        /// The running server.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
    },
    /// Show the scrape targets of a running server and how their last
    /// scrape went.
    Targets {
        /// The running server.
        #[arg(long, default_value = "http://127.0.0.1:9999")]
        server: String,
        /// Only targets of this job.
        #[arg(long)]
        job: Option<String>,
        /// `table` or `json` (the API's data as returned).
        #[arg(long, short, default_value = "table")]
        output: targets::Output,
    },
}

#[derive(Debug, Subcommand)]
enum TestCommand {
    /// Rule unit tests in promtool's `test rules` format: input series,
    /// alerts expected firing at given times, expressions' expected
    /// results. Exit 1 if any fails.
    Rules {
        /// Test files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_logging(&cli.log_level, cli.log_format);
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            backup_root,
            insecure_allow_unauthenticated,
        } => serve::run(serve::ServeArgs {
            config,
            overrides: reload::Overrides {
                listen,
                data_dir,
                backup_root: backup_root.and_then(|r| std::path::absolute(r).ok()),
            },
            insecure_allow_unauthenticated,
        }),
        Command::Check { config } => check(&config),
        Command::Test(TestCommand::Rules { files }) => rules_test_cli::run(&files),
        Command::Backup { dir, server } => with_client(&cli.token, &cli.ca_file, |c| backup(&dir, &server, c)),
        Command::Slo(SloCommand::List { server, output }) => {
            with_client(&cli.token, &cli.ca_file, |c| slo_cli::list(&server, output, c))
        }
        Command::Slo(SloCommand::Import {
            files,
            owner,
            sloth_window,
        }) => slo_cli::import(&files, owner, sloth_window),
        Command::Slo(SloCommand::Rules { config, service }) => match load_config(&config) {
            Ok(c) => slo_cli::rules(&c.slos_loaded, &config, service.as_deref()),
            Err(code) => code,
        },
        Command::Slo(SloCommand::Show { id, server, output }) => {
            with_client(&cli.token, &cli.ca_file, |c| slo_cli::show(&server, &id, output, c))
        }
        // A gate that cannot even build its client has no decision: 2, not 1.
        Command::Gate(g) => match client::Client::new(cli.token.as_deref(), cli.ca_file.as_deref()) {
            Err(e) => {
                eprintln!("nines: {e}");
                ExitCode::from(2)
            }
            Ok(client) => gate(g, &client),
        },
        Command::Maintenance(cmd) => with_client(&cli.token, &cli.ca_file, |c| match cmd {
            MaintenanceCommand::List {
                service,
                server,
                output,
            } => maintenance_cli::list(&server, service.as_deref(), output, c),
            MaintenanceCommand::Add { args, server, output } => {
                let now = nines_slo::status::rfc3339(nines_clock::system().now_millis());
                maintenance_cli::add(&server, &args, output, &now, c)
            }
            MaintenanceCommand::End { id, by, server, output } => {
                maintenance_cli::finish(&server, id, false, by.as_deref(), output, c)
            }
            MaintenanceCommand::Withdraw { id, by, server, output } => {
                maintenance_cli::finish(&server, id, true, by.as_deref(), output, c)
            }
        }),
        Command::Silence(cmd) => with_client(&cli.token, &cli.ca_file, |c| match cmd {
            SilenceCommand::Add { args, server } => {
                silence_cli::add(&server, &args, nines_clock::system().now_millis(), c)
            }
            SilenceCommand::List {
                expired,
                server,
                output,
            } => silence_cli::list(&server, expired, output, c),
            SilenceCommand::Expire { ids, server } => silence_cli::expire(&server, &ids, c),
        }),
        Command::Incident {
            command,
            server,
            user,
            output,
        } => with_client(&cli.token, &cli.ca_file, |c| {
            incident_cli::run(command, &server, user.as_deref(), output, c)
        }),
        Command::Deploy(DeployCommand::Record(args)) => {
            with_client(&cli.token, &cli.ca_file, |c| deploy_cli::record(&args, c))
        }
        Command::Events(args) => with_client(&cli.token, &cli.ca_file, |c| events_cli::run(&args, c)),
        Command::Dora(args) => with_client(&cli.token, &cli.ca_file, |c| dora_cli::run(&args, c)),
        Command::Page(cmd) => with_client(&cli.token, &cli.ca_file, |c| match cmd {
            PageCommand::List { status, server, output } => page_cli::list(&server, &status, output, c),
            PageCommand::Ack {
                ids,
                by,
                server,
                output,
            } => page_cli::respond(&server, "ack", &ids, by.as_deref(), output, c),
            PageCommand::Resolve {
                ids,
                by,
                server,
                output,
            } => page_cli::respond(&server, "resolve", &ids, by.as_deref(), output, c),
        }),
        Command::Oncall(cmd) => with_client(&cli.token, &cli.ca_file, |c| match cmd {
            OncallCommand::Who {
                schedule,
                at,
                server,
                output,
            } => oncall_cli::who(&server, schedule.as_deref(), at.as_deref(), output, c),
            OncallCommand::Shifts {
                schedule,
                start,
                end,
                server,
                output,
            } => oncall_cli::shifts(&server, &schedule, start.as_deref(), end.as_deref(), output, c),
            OncallCommand::Load {
                start,
                end,
                server,
                output,
            } => oncall_cli::load(&server, start.as_deref(), end.as_deref(), output, c),
        }),
        Command::Targets { server, job, output } => with_client(&cli.token, &cli.ca_file, |c| {
            targets::run(&server, job.as_deref(), output, c)
        }),
    }
}

/// glibc gives each thread that allocates its own arena (up to 8 per core),
/// and ingestion runs on many short-lived blocking threads: freed memory
/// then stays spread over arenas. Two arenas cut peak RSS under remote_write
/// load by about a sixth at no measurable CPU cost (docs/benchmarks.md).
/// `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in main, before any other thread
        // exists; mallopt only adjusts allocator tuning.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(level: &str, format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match load_config(path) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            let rules: usize = c.rules_loaded.iter().map(|g| g.rules.len()).sum();
            println!(
                "{}: OK ({} scrape jobs, {} SLOs, {} rule groups with {rules} rules)",
                path.display(),
                c.scrape_configs.len(),
                c.slos_loaded.len(),
                c.rules_loaded.len(),
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// The config at `path`, or every problem printed and the exit code.
fn load_config(path: &std::path::Path) -> Result<config::Config, ExitCode> {
    config::load(path).map_err(|problems| {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("{}: {} problem(s)", path.display(), problems.len());
        ExitCode::FAILURE
    })
}

fn gate(g: GateArgs, c: &client::Client) -> ExitCode {
    match g.action {
        None => match g.service {
            Some(service) => gate_cli::check(&g.server, &service, g.strict, g.output, c),
            None => {
                eprintln!("gate: --service is required (which service is releasing?)");
                ExitCode::from(2)
            }
        },
        Some(GateAction::Override { args, server, output }) => gate_cli::add_override(&server, &args, output, c),
        Some(GateAction::Overrides {
            service,
            server,
            output,
        }) => gate_cli::list_overrides(&server, service.as_deref(), output, c),
        Some(GateAction::Revoke { id, by, server, output }) => gate_cli::revoke(&server, id, by.as_deref(), output, c),
    }
}

fn with_client(
    token: &Option<String>,
    ca_file: &Option<PathBuf>,
    run: impl FnOnce(&client::Client) -> ExitCode,
) -> ExitCode {
    match client::Client::new(token.as_deref(), ca_file.as_deref()) {
        Ok(c) => run(&c),
        Err(e) => {
            eprintln!("nines: {e}");
            ExitCode::FAILURE
        }
    }
}

fn backup(dir: &std::path::Path, server: &str, client: &client::Client) -> ExitCode {
    let dir = match std::path::absolute(dir) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("backup: cannot resolve {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}/api/v1/admin/backup", server.trim_end_matches('/'));
    let dir_text = dir.to_string_lossy().to_string();
    match client.post(&url).query("dir", &dir_text).call() {
        Ok(resp) => {
            let body = resp.into_string().unwrap_or_default();
            println!("backup written to {}: {body}", dir.display());
            ExitCode::SUCCESS
        }
        Err(ureq::Error::Status(code, resp)) => {
            let body = resp.into_string().unwrap_or_default();
            eprintln!("backup failed ({code}): {body}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("backup: cannot reach {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

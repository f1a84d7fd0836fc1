//! Command-line arguments of `residence` and what each command runs.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::config::{self, ConfigCommand};
use crate::demo::{self, DemoOptions, DemoOutcome};
use crate::dlq::{self, ListOptions, ReplayOptions, Selection};
use crate::license::{self, LicenseCommand};
use crate::rules;
use crate::system::Database;

/// Exit status after Ctrl-C or SIGTERM, as shells report a SIGINT.
const INTERRUPTED: u8 = 130;

/// Operator tools for the 居住证签注 (residence-permit endorsement) system.
#[derive(Debug, Parser)]
#[command(name = "residence", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate the domain rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Start the whole system on this machine and drive it with synthetic applications.
    Demo(DemoArgs),
    /// Measure throughput and latency of the whole pipeline, and the limits beneath it.
    Bench(crate::bench::BenchArgs),
    /// Inspect and replay the events consumers gave up on (dead letters).
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Verify electronic licenses, export them, and follow up what platforms refused.
    #[command(subcommand)]
    License(LicenseCommand),
    /// Make staff signing keys and issue staff tokens.
    #[command(subcommand)]
    Token(crate::staff::TokenCommand),
    /// Work the manual review queue (reviewers).
    #[command(subcommand)]
    Review(crate::desk::ReviewCommand),
    /// Decide referred cases (the deciding officer).
    #[command(subcommand)]
    Decide(crate::desk::DecideCommand),
    /// Figures per town and stage against the time limits, and the applicants' ratings
    /// (supervisors, deciding officers, operators).
    Report(crate::supervision::ReportArgs),
    /// Work the follow-up tasks of dissatisfied ratings (差评整改).
    #[command(subcommand)]
    FollowUps(crate::supervision::FollowUpCommand),
    /// Show a case, its steps and ratings: with its access code, or with a staff token.
    Track(crate::applicant::TrackArgs),
    /// Withdraw an application before it is decided (撤回申请), with its access code.
    Withdraw(crate::applicant::WithdrawArgs),
    /// Rate a closed case (好差评), with its access code.
    Rate(crate::applicant::RateArgs),
    /// Check the audit trails' hash chains.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// Check the services' configuration and print it, secrets hidden.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `residence rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Answer JSON-lines rule cases (`{"id", "rule", "input"}`), one answer line per case.
    Eval(EvalArgs),
}

/// `residence rules eval`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// File of cases; standard input when left out or `-`.
    pub file: Option<PathBuf>,

    /// Directory of holiday calendars, one `YYYY.toml` per year [default:
    /// <project root>/deploy/calendars].
    #[arg(long, env = "RESIDENCE_CALENDAR_DIR")]
    pub calendar_dir: Option<PathBuf>,
}

/// `residence demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Applications to submit.
    #[arg(long, default_value_t = 100)]
    pub applications: usize,

    /// Where the services keep their state.
    #[arg(long, value_enum, default_value_t = Database::Sqlite)]
    pub database: Database,

    /// End standard output with the summary as one JSON object on one line.
    #[arg(long)]
    pub json: bool,

    /// Share of parcels the logistics partner fails to deliver, 0.0 to 1.0.
    #[arg(long, default_value_t = 0.1, value_parser = share)]
    pub courier_failure_share: f64,

    /// Submissions in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,

    /// Keep the run folder (logs, databases, records) afterwards.
    #[arg(long)]
    pub keep: bool,

    /// Seconds allowed for every case to become final [default: 120 + 0.5 per application].
    #[arg(long)]
    pub timeout_seconds: Option<u64>,

    /// Seed of the synthetic applications and the logistics partner.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Kill a service (SIGKILL) every few seconds and start it again, and restart the broker
    /// once, all drawn from the seed; the summary must still show nothing lost or doubled.
    #[arg(long)]
    pub chaos: bool,
}

impl DemoArgs {
    /// The demo's options.
    pub fn options(&self) -> DemoOptions {
        DemoOptions {
            applications: self.applications,
            database: self.database,
            json: self.json,
            courier_failure_share: self.courier_failure_share,
            concurrency: usize::from(self.concurrency),
            keep: self.keep,
            timeout: self.timeout_seconds.map(Duration::from_secs),
            seed: self.seed,
            chaos: self.chaos,
        }
    }
}

/// `residence dlq ...`
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List parked events, oldest first, without changing them.
    List(DlqListArgs),
    /// Publish parked events to their original subjects again, then remove them.
    Replay(DlqReplayArgs),
}

/// The broker the `dlq` commands talk to.
#[derive(Debug, Args)]
pub struct NatsArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = dlq::DEFAULT_NATS_URL)]
    pub nats_url: String,

    /// NATS user, for a server with accounts: a user of the services' account.
    #[arg(long, env = "NATS_USER", requires = "nats_password_file")]
    pub nats_user: Option<String>,

    /// File holding that user's password on its first line.
    #[arg(long, env = "NATS_PASSWORD_FILE", requires = "nats_user")]
    pub nats_password_file: Option<std::path::PathBuf>,
}

impl NatsArgs {
    /// The credentials to log in with, reading the password file; none without a user.
    pub fn credentials(&self) -> Result<Option<residence_runtime::messaging::NatsCredentials>> {
        let (Some(user), Some(file)) = (&self.nats_user, &self.nats_password_file) else {
            return Ok(None);
        };
        residence_runtime::messaging::NatsCredentials::read(user, file).map(Some)
    }
}

/// `residence dlq list`
#[derive(Debug, Args)]
pub struct DlqListArgs {
    #[command(flatten)]
    pub nats: NatsArgs,

    /// Only the events this consumer (durable name) parked.
    #[arg(long, value_name = "NAME")]
    pub consumer: Option<String>,

    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Show payloads too, with identity numbers masked; they may hold other personal data.
    #[arg(long)]
    pub show_payload: bool,
}

impl DlqListArgs {
    /// The listing's options.
    pub fn options(&self) -> ListOptions {
        ListOptions {
            consumer: self.consumer.clone(),
            json: self.json,
            show_payload: self.show_payload,
        }
    }
}

/// `residence dlq replay`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("events").required(true).args(["seq", "consumer", "all"])))]
pub struct DlqReplayArgs {
    #[command(flatten)]
    pub nats: NatsArgs,

    /// Dead-letter sequences to replay, as `dlq list` shows them.
    #[arg(long, value_name = "N", num_args = 1..)]
    pub seq: Vec<u64>,

    /// Replay everything this consumer (durable name) parked.
    #[arg(long, value_name = "NAME")]
    pub consumer: Option<String>,

    /// Replay everything parked.
    #[arg(long)]
    pub all: bool,

    /// Only say what would be replayed.
    #[arg(long)]
    pub dry_run: bool,
}

impl DlqReplayArgs {
    /// The replay's options.
    pub fn options(&self) -> ReplayOptions {
        let selection = if self.all {
            Selection::All
        } else if let Some(name) = &self.consumer {
            Selection::Consumer(name.clone())
        } else {
            Selection::Sequences(self.seq.clone())
        };
        ReplayOptions {
            selection,
            dry_run: self.dry_run,
        }
    }
}

fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("expected a number, got {text:?}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("expected a share from 0.0 to 1.0, got {value}"))
    }
}

/// Runs `cli` and returns the process exit status; errors are printed to stderr.
pub fn run(cli: Cli) -> ExitCode {
    init_logging();
    let result = match cli.command {
        Command::Rules(RulesCommand::Eval(args)) => eval(&args).map(|()| ExitCode::SUCCESS),
        Command::Demo(args) => run_demo(&args),
        Command::Bench(args) => crate::bench::run_command(&args),
        Command::Dlq(command) => run_dlq(&command),
        Command::License(command) => license::run(&command),
        Command::Token(command) => {
            crate::staff::run(&command, &mut io::stdout()).map(|()| ExitCode::SUCCESS)
        }
        Command::Review(command) => crate::desk::run_review(&command, &mut io::stdout()),
        Command::Decide(command) => crate::desk::run_decide(&command, &mut io::stdout()),
        Command::Report(args) => crate::supervision::run_report(&args, &mut io::stdout()),
        Command::FollowUps(command) => {
            crate::supervision::run_follow_ups(&command, &mut io::stdout())
        }
        Command::Track(args) => crate::applicant::run_track(&args, &mut io::stdout()),
        Command::Withdraw(args) => crate::applicant::run_withdraw(&args, &mut io::stdout()),
        Command::Rate(args) => crate::applicant::run_rate(&args, &mut io::stdout()),
        Command::Audit(command) => crate::audit::run(&command, &mut io::stdout()),
        Command::Config(command) => config::run(&command),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error:#}");
        ExitCode::FAILURE
    })
}

fn eval(args: &EvalArgs) -> Result<()> {
    let dir = match &args.calendar_dir {
        Some(dir) => dir.clone(),
        None => rules::default_calendar_dir()?,
    };
    let calendar = rules::load_calendar(&dir)?;
    let stdout = io::stdout().lock();
    match args.file.as_deref() {
        None => rules::eval_lines(io::stdin().lock(), stdout, &calendar),
        Some(path) if path.as_os_str() == "-" => {
            rules::eval_lines(io::stdin().lock(), stdout, &calendar)
        }
        Some(path) => {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            rules::eval_lines(BufReader::new(file), stdout, &calendar)
        }
    }
    .context("cannot read the cases or write the answers")?;
    Ok(())
}

fn run_demo(args: &DemoArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let outcome = runtime.block_on(demo::run(args.options()))?;
    Ok(match outcome {
        DemoOutcome::Interrupted => ExitCode::from(INTERRUPTED),
        DemoOutcome::Finished(report) if report.succeeded() => ExitCode::SUCCESS,
        DemoOutcome::Finished(_) => ExitCode::FAILURE,
    })
}

fn run_dlq(command: &DlqCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        match command {
            DlqCommand::List(args) => {
                let dead_letters =
                    dlq::open(&args.nats.nats_url, args.nats.credentials()?.as_ref()).await?;
                dlq::list(&dead_letters, &args.options(), &mut io::stdout()).await?;
                Ok(ExitCode::SUCCESS)
            }
            DlqCommand::Replay(args) => {
                let dead_letters =
                    dlq::open(&args.nats.nats_url, args.nats.credentials()?.as_ref()).await?;
                let options = args.options();
                let all_replayed = dlq::replay(
                    &dead_letters,
                    &options,
                    &mut io::stdout(),
                    &mut io::stderr(),
                )
                .await?;
                Ok(if all_replayed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
        }
    })
}

/// Warnings and errors from the launcher on stderr; `RUST_LOG` shows more.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Fails only when a subscriber is already set, which then serves as well.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_flags_parse_with_their_defaults() {
        let cli = Cli::try_parse_from(["residence", "demo", "--applications", "20"]).unwrap();
        let Command::Demo(args) = cli.command else {
            panic!("expected the demo command");
        };
        let options = args.options();
        assert_eq!(options.applications, 20);
        assert_eq!(options.database, Database::Sqlite);
        assert_eq!(options.concurrency, 8);
        assert_eq!(options.courier_failure_share, 0.1);
        assert!(!options.chaos);
        assert_eq!(options.effective_timeout(), Duration::from_secs(130));

        let cli = Cli::try_parse_from([
            "residence",
            "demo",
            "--applications",
            "5",
            "--database",
            "postgres",
            "--json",
            "--courier-failure-share",
            "0.5",
            "--concurrency",
            "2",
            "--keep",
            "--timeout-seconds",
            "30",
            "--chaos",
        ])
        .unwrap();
        let Command::Demo(args) = cli.command else {
            panic!("expected the demo command");
        };
        let options = args.options();
        assert_eq!(options.database, Database::Postgres);
        assert!(options.json && options.keep && options.chaos);
        assert_eq!(options.concurrency, 2);
        assert_eq!(options.effective_timeout(), Duration::from_secs(30));
        assert!(
            Cli::try_parse_from(["residence", "demo", "--courier-failure-share", "1.5"]).is_err()
        );
    }

    #[test]
    fn applicant_commands_take_the_access_code_and_check_the_rating() {
        let cli = Cli::try_parse_from([
            "residence",
            "withdraw",
            "C-1",
            "--code",
            "AB12",
            "--reason",
            "已在外地办理",
        ])
        .unwrap();
        let Command::Withdraw(args) = cli.command else {
            panic!("expected the withdraw command");
        };
        assert_eq!(
            (
                args.case.case_number.as_str(),
                args.case.access_code.as_str()
            ),
            ("C-1", "AB12")
        );
        assert!(Cli::try_parse_from(["residence", "withdraw", "C-1", "--code", "AB12"]).is_err());

        let rate = ["residence", "rate", "C-1", "--code", "AB12", "--channel"];
        let cli = Cli::try_parse_from(rate.iter().chain(&["sms", "--level", "4"])).unwrap();
        let Command::Rate(args) = cli.command else {
            panic!("expected the rate command");
        };
        assert_eq!(args.channel, residence_proto::v1::RatingChannel::Sms);
        assert_eq!(args.level, residence_proto::v1::RatingLevel::Satisfied);
        assert_eq!(args.comment, "");
        assert!(Cli::try_parse_from(rate.iter().chain(&["fax", "--level", "4"])).is_err());
        assert!(Cli::try_parse_from(rate.iter().chain(&["web", "--level", "6"])).is_err());
    }

    fn replay_options(arguments: &[&str]) -> Result<ReplayOptions, clap::Error> {
        let arguments = ["residence", "dlq", "replay"].iter().chain(arguments);
        let cli = Cli::try_parse_from(arguments)?;
        let Command::Dlq(DlqCommand::Replay(args)) = cli.command else {
            panic!("expected the dlq replay command");
        };
        Ok(args.options())
    }

    #[test]
    fn dlq_replay_takes_exactly_one_selection() {
        let options = replay_options(&["--seq", "3", "9", "--dry-run"]).unwrap();
        assert_eq!(options.selection, Selection::Sequences(vec![3, 9]));
        assert!(options.dry_run);
        let options = replay_options(&["--consumer", "review-accepted"]).unwrap();
        assert_eq!(
            options.selection,
            Selection::Consumer("review-accepted".into())
        );
        assert_eq!(
            replay_options(&["--all"]).unwrap().selection,
            Selection::All
        );

        assert!(replay_options(&[]).is_err());
        assert!(replay_options(&["--all", "--seq", "3"]).is_err());
        assert!(replay_options(&["--all", "--consumer", "review-accepted"]).is_err());
    }
}

//! `residence license`: checks electronic licenses offline (with the published public keys)
//! and online (asking the e-license service), exports the signed license documents an
//! e-license database holds, saves the public key document, and lists what the e-license
//! platforms rejected or never answered.
//!
//! Nothing printed holds a holder's full name or ID number; exported files do, by design.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args, Subcommand};
use residence_elicense::document;
use residence_elicense::entity::license;
use residence_events::partner::LicenseIssuedMessage;
use residence_license::qr::QrClaims;
use residence_license::{PublicKeys, Verification, mask_name, verify};
use residence_proto::v1::elicense_service_client::ElicenseServiceClient;
use residence_proto::v1::verify_license_document_request::Document;
use residence_proto::v1::{self as pb};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tonic::transport::{Channel, Endpoint};

/// The e-license service's gRPC address when none is given.
pub const DEFAULT_ELICENSE_URL: &str = "http://127.0.0.1:50056";

/// `residence license ...`
#[derive(Debug, Subcommand)]
pub enum LicenseCommand {
    /// Check a license: offline with the public keys, online with the e-license service, or
    /// both. Exits with status 0 only when every check passed.
    Verify(VerifyArgs),
    /// Write the signed license documents of an e-license database, one JSON file each.
    Export(ExportArgs),
    /// Save the public key document of a running e-license service.
    Keys(KeysArgs),
    /// List license messages the e-license platforms rejected or never acknowledged.
    Problems(ProblemsArgs),
}

/// Where the e-license service answers.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// gRPC URL of the e-license service.
    #[arg(long, env = "RESIDENCE_ELICENSE_URL", default_value = DEFAULT_ELICENSE_URL)]
    pub elicense_url: String,
}

/// `residence license verify`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("license").required(true).args(["file", "qr", "identifier"])))]
#[command(group(ArgGroup::new("how").required(true).multiple(true)
    .args(["public_keys", "elicense_url"])))]
pub struct VerifyArgs {
    /// A signed license document (JSON, as `export` writes it); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// The payload of a license's QR code, `RP1.…`.
    #[arg(long, value_name = "PAYLOAD")]
    pub qr: Option<String>,

    /// A license identifier (online only).
    #[arg(long, value_name = "IDENTIFIER", conflicts_with = "public_keys")]
    pub identifier: Option<String>,

    /// Check offline with these public keys: the key document, an SPKI PEM file named
    /// `<key id>.pem`, or a directory of them.
    #[arg(long, value_name = "PATH")]
    pub public_keys: Option<PathBuf>,

    /// Check online with the e-license service at this gRPC URL: issued there, unchanged,
    /// and its status.
    #[arg(long, value_name = "URL", env = "RESIDENCE_ELICENSE_URL")]
    pub elicense_url: Option<String>,

    /// Also fail when the license is no longer current (superseded or revoked); needs the
    /// online check.
    #[arg(long, requires = "elicense_url")]
    pub require_current: bool,
}

/// `residence license export`
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["case", "identifier"])))]
pub struct ExportArgs {
    /// The e-license service's database URL [default: the SQLite file
    /// `<data-dir>/elicense.db`].
    #[arg(long, env = "RESIDENCE_ELICENSE_DATABASE_URL")]
    pub database_url: Option<String>,

    /// The data directory of the e-license service, as its `--data-dir`.
    #[arg(long, env = "RESIDENCE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// The e-license service's data key, which opens the holders' sealed data, as its
    /// `--data-key-file` [default: <data-dir>/data.key].
    #[arg(long, env = "RESIDENCE_DATA_KEY_FILE")]
    pub data_key_file: Option<PathBuf>,

    /// Only the license of this case.
    #[arg(long, value_name = "CASE_NUMBER")]
    pub case: Option<String>,

    /// Only the license with this identifier.
    #[arg(long, value_name = "IDENTIFIER")]
    pub identifier: Option<String>,

    /// Folder to write `<identifier>.json` files to; without it one license is written to
    /// standard output. The files hold the holder's name, ID number and address: handle them
    /// as personal data.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `residence license keys`
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    pub service: ServiceArgs,

    /// File to write the key document to; standard output when left out.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `residence license problems`
#[derive(Debug, Args)]
pub struct ProblemsArgs {
    #[command(flatten)]
    pub service: ServiceArgs,

    /// An operator's or supervisor's token: the platforms' reasons may quote holders' data.
    #[command(flatten)]
    pub token: crate::staff::TokenArgs,

    /// Rows to list, newest first (1 to 500).
    #[arg(long, default_value_t = 100,
        value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: u32,

    /// One JSON object per line instead of a table; includes the platforms' reasons.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `license` command.
pub fn run(command: &LicenseCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut stdout = io::stdout().lock();
        match command {
            LicenseCommand::Verify(args) => {
                let passed = verify_license(args, &mut stdout).await?;
                Ok(if passed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                })
            }
            LicenseCommand::Export(args) => {
                let written = export(args, &mut stdout).await?;
                if args.out.is_some() {
                    eprintln!("{written} license documents written");
                }
                Ok(ExitCode::SUCCESS)
            }
            LicenseCommand::Keys(args) => {
                keys(args, &mut stdout).await?;
                Ok(ExitCode::SUCCESS)
            }
            LicenseCommand::Problems(args) => {
                problems(args, &mut stdout).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// What was presented for checking.
enum Presented {
    Document(Box<LicenseIssuedMessage>, String),
    Qr(String),
    Identifier(String),
}

/// Checks a license as `args` say, writing one line per check; true when all passed.
pub async fn verify_license(args: &VerifyArgs, out: &mut impl Write) -> Result<bool> {
    let presented = match presented(args)? {
        Ok(presented) => presented,
        Err(problem) => {
            writeln!(out, "REJECTED: {problem}")?;
            return Ok(false);
        }
    };
    let mut passed = true;
    if let Some(path) = &args.public_keys {
        let keys = PublicKeys::read(path)
            .with_context(|| format!("cannot read the public keys {}", path.display()))?;
        passed &= check_offline(&presented, &keys, out)?;
    }
    if let Some(url) = &args.elicense_url {
        let mut client = client(url)?;
        passed &= check_online(&presented, &mut client, args.require_current, out).await?;
    }
    writeln!(out, "{}", if passed { "VERIFIED" } else { "REJECTED" })?;
    Ok(passed)
}

/// The license to check; a file that is no license document is a failed check, not an error.
fn presented(args: &VerifyArgs) -> Result<Result<Presented, String>> {
    if let Some(path) = &args.file {
        let text = read_input(path)?;
        return Ok(match verify::parse_document(text.as_bytes()) {
            Ok(document) => Ok(Presented::Document(Box::new(document), text)),
            Err(problem) => Err(problem.to_string()),
        });
    }
    if let Some(text) = &args.qr {
        return Ok(Ok(Presented::Qr(text.trim().to_owned())));
    }
    let identifier = args.identifier.clone().unwrap_or_default();
    Ok(Ok(Presented::Identifier(identifier.trim().to_owned())))
}

fn read_input(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn check_offline(presented: &Presented, keys: &PublicKeys, out: &mut impl Write) -> Result<bool> {
    let verification = match presented {
        Presented::Document(document, _) => {
            describe_document(document, out)?;
            verify::document(document, keys)
        }
        Presented::Qr(text) => match verify::qr_payload(text, keys) {
            Ok((claims, verification)) => {
                describe_claims(&claims, out)?;
                verification
            }
            Err(problem) => {
                writeln!(out, "offline: not a QR payload: {problem}")?;
                return Ok(false);
            }
        },
        Presented::Identifier(_) => bail!("an identifier alone can only be checked online"),
    };
    report_offline(&verification, out)?;
    Ok(verification.is_authentic())
}

fn describe_document(document: &LicenseIssuedMessage, out: &mut impl Write) -> Result<()> {
    let license = &document.license;
    writeln!(out, "identifier: {}", license.identifier)?;
    writeln!(
        out,
        "license: {} version {}, issued {} by {}, valid {} to {}",
        license.license_name,
        license.version,
        license.issued_on,
        license.issuing_authority,
        license.valid_from,
        license.valid_until
    )?;
    writeln!(
        out,
        "holder: {} {}",
        mask_name(&license.holder.name),
        residence_rules::mask_id_number(&license.holder.id_number)
    )?;
    Ok(())
}

fn describe_claims(claims: &QrClaims, out: &mut impl Write) -> Result<()> {
    writeln!(out, "identifier: {}", claims.id)?;
    writeln!(
        out,
        "license: version {}, valid {} to {}",
        claims.ver, claims.from, claims.until
    )?;
    writeln!(out, "holder: {} {}", claims.holder, claims.holder_id)?;
    Ok(())
}

fn report_offline(verification: &Verification, out: &mut impl Write) -> Result<()> {
    if verification.is_authentic() {
        writeln!(
            out,
            "offline: signature and check character verified (key {})",
            verification.key_id
        )?;
    } else {
        for problem in verification.problems() {
            writeln!(out, "offline: {problem}")?;
        }
    }
    Ok(())
}

async fn check_online(
    presented: &Presented,
    client: &mut ElicenseServiceClient<Channel>,
    require_current: bool,
    out: &mut impl Write,
) -> Result<bool> {
    let response = match presented {
        Presented::Identifier(identifier) => {
            let request = pb::VerifyLicenseRequest {
                identifier: identifier.clone(),
            };
            client.verify_license(request).await
        }
        Presented::Document(_, json) => {
            let document = Some(Document::LicenseJson(json.clone()));
            let request = pb::VerifyLicenseDocumentRequest { document };
            client.verify_license_document(request).await
        }
        Presented::Qr(text) => {
            let document = Some(Document::QrPayload(text.clone()));
            let request = pb::VerifyLicenseDocumentRequest { document };
            client.verify_license_document(request).await
        }
    };
    let response = response.context("the e-license service did not answer")?;
    let response = response.into_inner();
    let status = response.status();
    if matches!(presented, Presented::Identifier(_)) && response.valid {
        writeln!(out, "identifier: {}", response.identifier)?;
        writeln!(
            out,
            "holder: {} {}",
            response.masked_holder_name, response.masked_id_number
        )?;
    }
    if response.valid {
        writeln!(
            out,
            "online: issued here and unchanged, status {}",
            status_name(status)
        )?;
    } else {
        for problem in &response.problems {
            writeln!(out, "online: {problem}")?;
        }
    }
    if !response.superseded_by.is_empty() {
        writeln!(out, "online: superseded by {}", response.superseded_by)?;
    }
    if !response.revoked_at.is_empty() {
        writeln!(out, "online: revoked at {}", response.revoked_at)?;
    }
    let current = status == pb::LicenseStatus::Current;
    if require_current && response.valid && !current {
        writeln!(out, "online: the license is not current")?;
    }
    Ok(response.valid && (current || !require_current))
}

fn status_name(status: pb::LicenseStatus) -> &'static str {
    match status {
        pb::LicenseStatus::Current => "current",
        pb::LicenseStatus::Superseded => "superseded",
        pb::LicenseStatus::Revoked => "revoked",
        pb::LicenseStatus::Unspecified => "unknown",
    }
}

fn client(url: &str) -> Result<ElicenseServiceClient<Channel>> {
    let endpoint =
        Endpoint::from_shared(url.to_owned()).with_context(|| format!("not a gRPC URL: {url}"))?;
    Ok(ElicenseServiceClient::new(endpoint.connect_lazy()))
}

/// Writes the selected licenses' signed documents; returns how many were written.
pub async fn export(args: &ExportArgs, out: &mut impl Write) -> Result<usize> {
    let url = export_database_url(args)?;
    let key_file = args
        .data_key_file
        .clone()
        .unwrap_or_else(|| args.data_dir.join("data.key"));
    let secret = residence_sealing::read_key(&key_file, "data key")?;
    residence_sealing::install(residence_sealing::DataKeys::new(&secret)?)?;
    let db = residence_runtime::database::connect("elicense", &url).await?;
    let mut query = license::Entity::find().order_by_asc(license::Column::CreatedAt);
    if let Some(case) = &args.case {
        query = query.filter(license::Column::CaseNumber.eq(case.trim()));
    }
    if let Some(identifier) = &args.identifier {
        let identifier = identifier.trim().to_ascii_uppercase();
        query = query.filter(license::Column::Identifier.eq(identifier));
    }
    let rows = query.all(&db).await.context("cannot read the licenses")?;
    db.close().await.ok();

    let documents: Vec<LicenseIssuedMessage> = rows
        .iter()
        .filter_map(|row| {
            let document = document::issued_message(row);
            if document.is_none() {
                eprintln!(
                    "skipped {}: issued before licenses were signed",
                    row.identifier
                );
            }
            document
        })
        .collect();
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for document in &documents {
                let path = dir.join(format!("{}.json", document.license.identifier));
                std::fs::write(&path, pretty(document)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        None => match documents.as_slice() {
            [document] => out.write_all(pretty(document)?.as_bytes())?,
            [] => bail!("no license matches"),
            _ => bail!(
                "{} licenses match: give --out DIR, or --case or --identifier",
                documents.len()
            ),
        },
    }
    Ok(documents.len())
}

fn pretty(document: &LicenseIssuedMessage) -> Result<String> {
    Ok(serde_json::to_string_pretty(document)? + "\n")
}

/// The database to export from; a SQLite file that is not there is an error, not a new file.
fn export_database_url(args: &ExportArgs) -> Result<String> {
    if let Some(url) = &args.database_url {
        return Ok(url.clone());
    }
    let file = args.data_dir.join("elicense.db");
    if !file.is_file() {
        bail!(
            "no e-license database at {}: give --data-dir or --database-url",
            file.display()
        );
    }
    Ok(format!("sqlite://{}", file.display()))
}

async fn keys(args: &KeysArgs, out: &mut impl Write) -> Result<()> {
    let mut client = client(&args.service.elicense_url)?;
    let response = client
        .list_signing_keys(pb::ListSigningKeysRequest {})
        .await
        .context("the e-license service did not answer")?
        .into_inner();
    let document = response.key_document_json + "\n";
    match &args.out {
        Some(path) => std::fs::write(path, document)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out.write_all(document.as_bytes())?,
    }
    Ok(())
}

async fn problems(args: &ProblemsArgs, out: &mut impl Write) -> Result<()> {
    let channel = crate::staff::channel(&args.service.elicense_url, args.token.bearer()?)?;
    let mut client = ElicenseServiceClient::new(channel);
    let request = pb::ListPlatformProblemsRequest { limit: args.limit };
    let problems = client
        .list_platform_problems(request)
        .await
        .context("the e-license service did not answer")?
        .into_inner()
        .problems;
    if args.json {
        for problem in &problems {
            let line = serde_json::json!({
                "identifier": problem.identifier,
                "case_number": problem.case_number,
                "action": problem.action,
                "state": problem.state,
                "platform": problem.platform,
                "reason": problem.reason,
                "sends": problem.sends,
                "created_at": problem.created_at,
                "updated_at": problem.updated_at,
            });
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    out.write_all(problem_table(&problems).as_bytes())?;
    Ok(())
}

/// The problems as a table; the platforms' reasons only with `--json`, since they may quote
/// personal data.
fn problem_table(problems: &[pb::PlatformProblem]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<25}  {:<7}  {:<14}  {:>5}  {:<16}  {:<52}  CASE",
        "UPDATED", "ACTION", "STATE", "SENDS", "PLATFORM", "IDENTIFIER"
    );
    for p in problems {
        let _ = writeln!(
            table,
            "{:<25}  {:<7}  {:<14}  {:>5}  {:<16}  {:<52}  {}",
            p.updated_at, p.action, p.state, p.sends, p.platform, p.identifier, p.case_number
        );
    }
    let _ = writeln!(table, "{} problems", problems.len());
    table
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(arguments: &[&str]) -> Result<LicenseCommand, clap::Error> {
        let arguments = ["residence", "license"].iter().chain(arguments);
        let cli = Cli::try_parse_from(arguments)?;
        let Command::License(command) = cli.command else {
            panic!("expected the license command");
        };
        Ok(command)
    }

    #[test]
    fn verify_needs_a_license_and_a_way_to_check_it() {
        let command = parse(&["verify", "--file", "l.json", "--public-keys", "k.json"]).unwrap();
        let LicenseCommand::Verify(args) = command else {
            panic!("expected verify");
        };
        assert_eq!(args.file, Some(PathBuf::from("l.json")));
        assert!(parse(&["verify", "--file", "l.json"]).is_err());
        assert!(parse(&["verify", "--public-keys", "k.json"]).is_err());
        assert!(
            parse(&[
                "verify",
                "--qr",
                "RP1.x",
                "--file",
                "l",
                "--public-keys",
                "k"
            ])
            .is_err()
        );
        assert!(parse(&["verify", "--identifier", "1.2", "--public-keys", "k"]).is_err());
        assert!(
            parse(&[
                "verify",
                "--identifier",
                "1.2",
                "--elicense-url",
                "http://x"
            ])
            .is_ok()
        );
        assert!(
            parse(&[
                "verify",
                "--qr",
                "RP1.x",
                "--public-keys",
                "k",
                "--require-current"
            ])
            .is_err()
        );
    }

    #[test]
    fn export_takes_at_most_one_selection() {
        assert!(parse(&["export", "--out", "licenses"]).is_ok());
        assert!(parse(&["export", "--case", "C1"]).is_ok());
        assert!(parse(&["export", "--case", "C1", "--identifier", "I"]).is_err());
    }

    #[test]
    fn the_problem_table_leaves_out_reasons() {
        let problem = pb::PlatformProblem {
            identifier: "1.2.156.3005.2.1.2.3.001.X".to_owned(),
            case_number: "CASE-1".to_owned(),
            action: "issued".to_owned(),
            state: "rejected".to_owned(),
            platform: "henan-elicense".to_owned(),
            reason: "王小明 411721199001011237 核验未通过".to_owned(),
            sends: 1,
            created_at: "2026-12-04T09:00:00+08:00".to_owned(),
            updated_at: "2026-12-04T09:00:02+08:00".to_owned(),
        };
        let table = problem_table(&[problem]);
        assert!(
            table.contains("CASE-1") && table.contains("rejected"),
            "{table}"
        );
        assert!(!table.contains("411721199001011237"), "{table}");
        assert!(table.ends_with("1 problems\n"));
    }
}

//! `residence config check`: the effective configuration of each service, as it would start
//! here with this environment, with where each value came from and every secret hidden.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use residence_item::ServiceItem;
use residence_runtime::calendar::SharedCalendar;
use residence_runtime::config_file::{self, CONFIG_ENV, ConfigError, Loaded, Setting};
use residence_staff::StaffKeys;

/// `residence config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (all services, or one) and check it, exiting
    /// non-zero with the bad key named when something is wrong.
    Check(CheckArgs),
}

/// `residence config check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Only this service: intake, review, decision, delivery, courier or elicense.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(config_file::SERVICES))]
    pub service: Option<String>,

    /// The TOML configuration file [env: RESIDENCE_CONFIG].
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `command`.
pub fn run(command: &ConfigCommand) -> Result<ExitCode> {
    let ConfigCommand::Check(args) = command;
    let file = args.config.clone();
    let services: Vec<&str> = match &args.service {
        Some(service) => vec![service.as_str()],
        None => config_file::SERVICES.to_vec(),
    };

    let mut failed = Vec::new();
    let mut out = std::io::stdout().lock();
    for service in services {
        let checked = check(service, file.clone()).map_err(|error| error.to_string());
        match checked.and_then(|settings| check_files(&settings).map(|()| settings)) {
            Ok(settings) => print(&mut out, service, &settings)?,
            Err(error) => {
                eprintln!("error: {service}: {error}");
                failed.push(service);
            }
        }
    }
    if !failed.is_empty() {
        bail!("configuration of {} is not usable", failed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The settings `service` would start with, given `--config FILE` (else `RESIDENCE_CONFIG`)
/// and this environment.
fn check(service: &str, file: Option<PathBuf>) -> Result<Vec<Setting>, ConfigError> {
    let mut argv = vec![OsString::from(format!("residence-{service}"))];
    if let Some(file) = file {
        argv.extend([OsString::from("--config"), file.into_os_string()]);
    }
    let file = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
    match service {
        "intake" => load::<residence_intake::Args>(service, argv, file),
        "review" => load::<residence_review::Args>(service, argv, file),
        "decision" => load::<residence_decision::Args>(service, argv, file),
        "delivery" => load::<residence_delivery::Args>(service, argv, file),
        "courier" => load::<residence_courier::Args>(service, argv, file),
        _ => load::<residence_elicense::Args>(service, argv, file),
    }
}

/// Checks the files the settings name, as the service would at start: the service item, the
/// holiday calendars, intake's message templates, staff keys given by folder, and the secret
/// files that must exist to be read. A service's own files it makes on first start (signing
/// keys, the access-code secret) are not required.
fn check_files(settings: &[Setting]) -> Result<(), String> {
    let value = |key: &str| {
        settings
            .iter()
            .find(|setting| setting.key == key && !setting.value.is_empty())
            .map(|setting| Path::new(setting.value.as_str()))
    };
    let mut problems = Vec::new();
    if let Some(path) = value("service_item")
        && let Err(error) = ServiceItem::load(path)
    {
        problems.push(format!("service_item: {}: {error}", path.display()));
    }
    if let Some(path) = value("calendar_dir")
        && let Err(error) = SharedCalendar::load(path)
    {
        problems.push(format!("calendar_dir: {error}"));
    }
    if let Some(path) = value("notification_templates")
        && let Err(error) = residence_intake::notify::Templates::load(path)
    {
        problems.push(format!("notification_templates: {error}"));
    }
    if let Some(path) = value("staff_keys_dir")
        && let Err(error) = StaffKeys::load_dir(path)
    {
        problems.push(format!("staff_keys_dir: {error}"));
    }
    for key in ["nats_password_file", "database_url_file"] {
        let Some(path) = value(key) else { continue };
        match std::fs::read_to_string(path) {
            Err(error) => problems.push(format!("{key}: cannot read {}: {error}", path.display())),
            Ok(text) => {
                let first = text.lines().next().unwrap_or_default().trim();
                if first.is_empty() {
                    problems.push(format!("{key}: {} is empty", path.display()));
                } else if key == "database_url_file"
                    && !["sqlite:", "postgres://", "postgresql://"]
                        .iter()
                        .any(|scheme| first.starts_with(scheme))
                {
                    problems.push(format!(
                        "{key}: {} does not hold a sqlite: or postgres:// URL",
                        path.display()
                    ));
                }
            }
        }
    }
    // Keys made on first start may be missing; one that exists must be usable.
    let data_dir = value("data_dir").unwrap_or(Path::new("data"));
    let data_key =
        value("data_key_file").map_or_else(|| data_dir.join("data.key"), Path::to_path_buf);
    if data_key.exists()
        && let Err(error) = residence_sealing::read_key(&data_key, "data key")
            .and_then(|secret| residence_sealing::DataKeys::new(&secret))
    {
        problems.push(format!("data_key_file: {error:#}"));
    }
    if let Some(path) = value("access_code_key_file")
        && path.exists()
        && let Err(error) = residence_sealing::read_key(path, "access code key")
    {
        problems.push(format!("access_code_key_file: {error:#}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn load<A: clap::Parser>(
    service: &str,
    argv: Vec<OsString>,
    file: Option<PathBuf>,
) -> Result<Vec<Setting>, ConfigError> {
    let loaded: Loaded<A> = config_file::load(service, argv, file)?;
    Ok(loaded.settings)
}

fn print(out: &mut impl Write, service: &str, settings: &[Setting]) -> Result<()> {
    writeln!(out, "[{service}]")?;
    let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for setting in settings {
        let value = if setting.value.is_empty() {
            "(not set)".to_owned()
        } else {
            format!("{:?}", setting.value)
        };
        let key = &setting.key;
        writeln!(out, "{key:width$} = {value}  # {}", setting.source)?;
    }
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use residence_runtime::config_file::Source;

    use super::*;

    #[test]
    fn every_service_reads_the_shipped_example() {
        let root = residence_launcher::project_root().unwrap();
        let file = root.join("deploy/residence.toml");
        for service in config_file::SERVICES {
            let settings = check(service, Some(file.clone())).unwrap();
            let replicas = settings
                .iter()
                .find(|setting| setting.key == "stream_replicas")
                .unwrap();
            assert_eq!(replicas.value, "3", "{service}");
            assert_eq!(replicas.source, Source::File, "{service}");
        }
    }

    #[test]
    fn notification_templates_are_checked_as_intake_would() {
        let dir = std::env::temp_dir().join(format!("config-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let templates = dir.join("notifications.toml");
        let shipped = residence_intake::notify::DEFAULT_TEMPLATES;
        std::fs::write(&templates, shipped.replace("{due_on}", "{decided_on}")).unwrap();
        let file = dir.join("residence.toml");
        let line = format!(
            "[intake]\nnotification_templates = {:?}\n",
            templates.display()
        );
        std::fs::write(&file, line).unwrap();
        let mut settings = check("intake", Some(file)).unwrap();
        // The other files are named relative to the project root, not this crate's folder.
        settings.retain(|setting| setting.key == "notification_templates");
        let problem = check_files(&settings).unwrap_err();
        assert!(problem.contains("{decided_on} is not offered"), "{problem}");
        std::fs::write(&templates, shipped).unwrap();
        assert_eq!(check_files(&settings), Ok(()));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_service_item_calendars_and_secret_files_are_checked_as_a_service_would() {
        let root = residence_launcher::project_root().unwrap();
        let dir = std::env::temp_dir().join(format!("config-files-{}", std::process::id()));
        let calendars = dir.join("calendars");
        std::fs::create_dir_all(&calendars).unwrap();
        for entry in std::fs::read_dir(root.join("deploy/calendars")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), calendars.join(entry.file_name())).unwrap();
        }
        let item = dir.join("service-item.toml");
        let shipped_item = std::fs::read_to_string(root.join("deploy/service-item.toml")).unwrap();
        std::fs::write(&item, &shipped_item).unwrap();
        let file = dir.join("residence.toml");
        let config = format!(
            "[common]\nservice_item = {:?}\ncalendar_dir = {:?}\n\
             nats_password_file = {:?}\n",
            item.display(),
            calendars.display(),
            dir.join("nats-password").display()
        );
        std::fs::write(&file, config).unwrap();
        let settings = check("review", Some(file)).unwrap();

        let problem = check_files(&settings).unwrap_err();
        assert!(
            problem.starts_with("nats_password_file: cannot read"),
            "{problem}"
        );
        std::fs::write(dir.join("nats-password"), "\n").unwrap();
        let problem = check_files(&settings).unwrap_err();
        assert!(problem.contains("is empty"), "{problem}");
        std::fs::write(dir.join("nats-password"), "synthetic\n").unwrap();
        assert_eq!(check_files(&settings), Ok(()));

        let key = dir.join("data.key");
        let with_key = |text: &str| {
            std::fs::write(&key, text).unwrap();
            let mut settings = settings.clone();
            settings.retain(|setting| setting.key != "data_key_file");
            settings.push(Setting {
                key: "data_key_file".to_owned(),
                value: key.display().to_string(),
                source: residence_runtime::config_file::Source::File,
            });
            check_files(&settings)
        };
        let problem = with_key("short").unwrap_err();
        assert!(
            problem.contains("data_key_file") && problem.contains("too short"),
            "{problem}"
        );
        assert_eq!(with_key(&"c".repeat(64)), Ok(()));

        std::fs::write(calendars.join("2031.toml"), "holidays = [\"not a date\"]\n").unwrap();
        std::fs::write(&item, format!("{shipped_item}\nnot = toml = at all\n")).unwrap();
        let problems = check_files(&settings).unwrap_err();
        assert!(problems.contains("service_item: "), "{problems}");
        assert!(problems.contains("calendar_dir: "), "{problems}");
        assert!(problems.contains("2031.toml"), "{problems}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_key_of_another_service_is_refused_in_its_table() {
        let file = std::env::temp_dir().join(format!("config-check-{}.toml", std::process::id()));
        std::fs::write(&file, "[review]\nsigning_key_id = \"key-2\"\n").unwrap();
        let error = check("review", Some(file.clone())).unwrap_err();
        assert!(
            error.to_string().contains("`review.signing_key_id`"),
            "{error}"
        );
        assert!(
            check("elicense", Some(file.clone())).is_ok(),
            "not elicense's table"
        );
        std::fs::remove_file(file).unwrap();
    }
}

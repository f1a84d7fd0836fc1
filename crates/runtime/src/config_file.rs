//! Layered configuration: built-in defaults, then an optional TOML file, then environment
//! variables, then flags. The file's values become the flags' defaults, so clap's own order
//! (flag, then environment variable, then default) gives the layering; every file value is
//! checked with its flag's parser first, so an error names the key in the file.
//!
//! The file has a `[common]` table for the flags every service takes and one table per
//! service (`[intake]`, `[elicense]`, …) whose values win over `[common]` for that service.
//! Keys are the flag names with `_` for `-`: `calendar_reload_secs = 600`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::builder::Resettable;
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// The flag and environment variable that name the configuration file.
pub const CONFIG_FLAG: &str = "--config";
/// The environment variable naming the configuration file when `--config` is not given.
pub const CONFIG_ENV: &str = "RESIDENCE_CONFIG";

/// Every service's table name in the file.
pub const SERVICES: [&str; 6] = [
    "intake", "review", "decision", "delivery", "courier", "elicense",
];

/// The table whose values apply to every service.
const COMMON: &str = "common";

/// What is wrong with the configuration, naming the file and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A key or table this service does not know.
    #[error("unknown key `{key}` in configuration file {path}{hint}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        hint: String,
    },
    /// A value of the wrong type or out of range.
    #[error("bad value for `{key}` in configuration file {path}: {message}")]
    BadValue {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A flag or environment variable is wrong (or help was asked for); clap's message
    /// names it.
    #[error("{0}")]
    Flags(clap::Error),
}

/// Where a setting's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The configuration file.
    File,
    /// An environment variable.
    Env,
    /// A command-line flag.
    Flag,
    /// Not set anywhere.
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::File => "file",
            Self::Env => "env",
            Self::Flag => "flag",
            Self::Unset => "unset",
        })
    }
}

/// One setting of the effective configuration, ready to print.
#[derive(Clone, Debug)]
pub struct Setting {
    /// The key, as in the file: `nats_url`.
    pub key: String,
    /// The value, with any secret in it replaced by `****`.
    pub value: String,
    /// Where the value came from.
    pub source: Source,
}

/// A service's parsed flags and the effective configuration they came from.
#[derive(Debug)]
pub struct Loaded<A> {
    /// The parsed flags.
    pub args: A,
    /// Every setting, in flag order.
    pub settings: Vec<Setting>,
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
}

/// Parses the flags of `service` from the process's arguments and environment with the
/// configuration file's values as defaults; on an error prints it and exits with status 2,
/// before anything is opened or bound.
pub fn parse<A: clap::Parser>(service: &str) -> A {
    let env_file = std::env::var_os(CONFIG_ENV).map(PathBuf::from);
    match load::<A>(service, std::env::args_os(), env_file) {
        Ok(loaded) => loaded.args,
        // Clap prints its own message (and `--help`) the way it always does.
        Err(ConfigError::Flags(error)) => error.exit(),
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2)
        }
    }
}

/// Parses `argv` for `service` with the file named by `--config` in `argv` (or else
/// `env_file`, the value of `RESIDENCE_CONFIG`) read into the defaults.
pub fn load<A: clap::Parser>(
    service: &str,
    argv: impl IntoIterator<Item = OsString>,
    env_file: Option<PathBuf>,
) -> Result<Loaded<A>, ConfigError> {
    let argv: Vec<OsString> = argv.into_iter().collect();
    let file = config_flag(&argv).or(env_file);
    let mut command = A::command();
    // Changing an argument moves it to the end; settings are listed in the flags' order.
    let order: Vec<String> = command
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    let mut from_file = BTreeSet::new();
    if let Some(path) = &file {
        let values = read_file(path, service, &command)?;
        for (id, value) in values {
            command = command.mut_arg(&id, |arg| arg.default_value(value));
            from_file.insert(id);
        }
    }
    let matches = command
        .clone()
        .try_get_matches_from(&argv)
        .map_err(ConfigError::Flags)?;
    let args = A::from_arg_matches(&matches).map_err(ConfigError::Flags)?;
    let settings = settings(&command, &order, &matches, &from_file);
    Ok(Loaded {
        args,
        settings,
        file,
    })
}

/// The value of `--config FILE` or `--config=FILE` in `argv`.
fn config_flag(argv: &[OsString]) -> Option<PathBuf> {
    let mut words = argv.iter().skip(1);
    while let Some(word) = words.next() {
        let text = word.to_string_lossy();
        if text == CONFIG_FLAG {
            return words.next().map(PathBuf::from);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(PathBuf::from(value));
        }
    }
    None
}

/// The file's values for `service`, `[common]` first and the service's table over it, each
/// checked with its flag's parser.
fn read_file(
    path: &Path,
    service: &str,
    command: &Command,
) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table =
        text.parse()
            .map_err(|error: toml::de::Error| ConfigError::Syntax {
                path: path.to_path_buf(),
                message: error.to_string().trim().to_owned(),
            })?;

    let common_ids = common_ids();
    let mut values = Vec::new();
    for (section, content) in &table {
        let known_section = section == COMMON || SERVICES.contains(&section.as_str());
        let Some(entries) = content.as_table().filter(|_| known_section) else {
            return Err(unknown(
                path,
                section,
                "; expected tables [common] or [<service>]",
            ));
        };
        let applies = section == COMMON || section == service;
        for (key, value) in entries {
            let key_path = format!("{section}.{key}");
            let known = if section == COMMON {
                common_ids.contains(key)
            } else {
                // Another service's table is checked when that service reads the file.
                !applies || command.get_arguments().any(|arg| arg.get_id() == key)
            };
            if !known {
                return Err(unknown(path, &key_path, ""));
            }
            if applies {
                let value = text_of(path, &key_path, value)?;
                check_value(path, &key_path, key, &value, command)?;
                values.push((section == COMMON, key.clone(), value));
            }
        }
    }
    // `[common]` first, so that the service's own table wins.
    values.sort_by_key(|(common, _, _)| !common);
    Ok(values
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect())
}

fn unknown(path: &Path, key: &str, hint: &str) -> ConfigError {
    ConfigError::UnknownKey {
        path: path.to_path_buf(),
        key: key.to_owned(),
        hint: hint.to_owned(),
    }
}

/// The keys `[common]` may hold: the flags of [`crate::CommonArgs`].
fn common_ids() -> BTreeSet<String> {
    use clap::Args;
    crate::CommonArgs::augment_args(Command::new("common"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect()
}

/// A TOML scalar as the text a flag would be given.
fn text_of(path: &Path, key: &str, value: &toml::Value) -> Result<String, ConfigError> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(number) => Ok(number.to_string()),
        toml::Value::Float(number) => Ok(number.to_string()),
        toml::Value::Boolean(flag) => Ok(flag.to_string()),
        other => Err(ConfigError::BadValue {
            path: path.to_path_buf(),
            key: key.to_owned(),
            message: format!(
                "expected a string, number or boolean, got {}",
                other.type_str()
            ),
        }),
    }
}

/// Runs the flag's own parser on `value`, so a file value is held to the flag's rules.
fn check_value(
    path: &Path,
    key_path: &str,
    id: &str,
    value: &str,
    command: &Command,
) -> Result<(), ConfigError> {
    let bad = |message: String| ConfigError::BadValue {
        path: path.to_path_buf(),
        key: key_path.to_owned(),
        message,
    };
    let Some(arg) = command.get_arguments().find(|arg| arg.get_id() == id) else {
        return Ok(());
    };
    if !arg.get_action().takes_values() {
        return match value {
            "true" | "false" => Ok(()),
            other => Err(bad(format!("expected true or false, got {other:?}"))),
        };
    }
    let Some(long) = arg.get_long() else {
        return Ok(());
    };
    // The flag alone, without its environment variable or the flags it needs.
    let probe = arg
        .clone()
        .env(Resettable::Reset)
        .requires(Resettable::Reset)
        .required(false);
    Command::new("check")
        .no_binary_name(true)
        .arg(probe)
        .try_get_matches_from([format!("--{long}={value}")])
        .map(drop)
        .map_err(|error| bad(first_line(&error.to_string())))
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.trim_start_matches("error: ").to_owned()
}

/// Every flag's value and source in `order`, secrets hidden.
fn settings(
    command: &Command,
    order: &[String],
    matches: &ArgMatches,
    from_file: &BTreeSet<String>,
) -> Vec<Setting> {
    order
        .iter()
        .map(String::as_str)
        .filter(|id| command.get_arguments().any(|arg| arg.get_id() == *id))
        .filter(|id| !matches!(*id, "help" | "version"))
        .map(|id| {
            let raw: Option<Vec<String>> = matches.get_raw(id).map(|values| {
                values
                    .map(|value| value.to_string_lossy().into_owned())
                    .collect()
            });
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => Source::Flag,
                Some(ValueSource::EnvVariable) => Source::Env,
                Some(ValueSource::DefaultValue) if from_file.contains(id) => Source::File,
                Some(_) => Source::Default,
                None => Source::Unset,
            };
            let value = raw.map(|values| values.join(",")).unwrap_or_default();
            Setting {
                key: id.to_owned(),
                value: hide_secrets(id, &value),
                source,
            }
        })
        .collect()
}

/// `value` with any secret in it replaced: a whole value whose key names a secret, or the
/// password in a URL's user part (`postgres://user:****@host/db`).
pub fn hide_secrets(key: &str, value: &str) -> String {
    let secret_key = ["password", "secret", "token"]
        .iter()
        .any(|word| key.contains(word) && !key.ends_with("_file") && !key.ends_with("_dir"));
    if secret_key && !value.is_empty() {
        return "****".to_owned();
    }
    hide_url_password(value)
}

fn hide_url_password(value: &str) -> String {
    let Some((scheme, rest)) = value.split_once("://") else {
        return value.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return value.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:****{}", &rest[at..]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        common: crate::CommonArgs,

        /// A service's own setting.
        #[arg(long, env = "RESIDENCE_TEST_ONLY_SECS", default_value_t = 5)]
        wait_secs: u64,
    }

    fn file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("{name}-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn argv(flags: &[&str]) -> Vec<OsString> {
        std::iter::once("residence-intake")
            .chain(flags.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn setting<'a>(loaded: &'a Loaded<Flags>, key: &str) -> &'a Setting {
        loaded.settings.iter().find(|s| s.key == key).unwrap()
    }

    #[test]
    fn the_file_sits_between_the_defaults_and_the_flags() {
        let path = file(
            "layers",
            "[common]\ncalendar_reload_secs = 600\nlog_format = \"json\"\n\
             [intake]\ncalendar_reload_secs = 900\nwait_secs = 7\n\
             [review]\nnot_checked_here = 1\n",
        );
        let config = path.display().to_string();
        let loaded: Loaded<Flags> = load("intake", argv(&["--config", &config]), None).unwrap();
        assert_eq!(
            loaded.args.common.calendar_reload_secs, 900,
            "service table wins"
        );
        assert_eq!(loaded.args.wait_secs, 7);
        assert_eq!(setting(&loaded, "wait_secs").source, Source::File);
        assert_eq!(setting(&loaded, "data_dir").source, Source::Default);
        assert!(!loaded.args.common.migrate_only);

        let switch = file("switch", "[common]\nmigrate_only = true\n");
        let loaded: Loaded<Flags> = load("intake", argv(&[]), Some(switch.clone())).unwrap();
        assert!(
            loaded.args.common.migrate_only,
            "a switch can be set in the file"
        );
        std::fs::remove_file(switch).unwrap();

        let flags = argv(&["--calendar-reload-secs", "60", "--data-dir", "/srv"]);
        let loaded: Loaded<Flags> = load("intake", flags, Some(path.clone())).unwrap();
        assert_eq!(
            loaded.args.common.calendar_reload_secs, 60,
            "flag wins over file"
        );
        assert_eq!(
            setting(&loaded, "calendar_reload_secs").source,
            Source::Flag
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let typo = file("typo", "[common]\nnats_ulr = \"nats://x:4222\"\n");
        let error = load::<Flags>("intake", argv(&[]), Some(typo.clone())).unwrap_err();
        assert!(error.to_string().contains("`common.nats_ulr`"), "{error}");

        let section = file("section", "[intak]\nwait_secs = 1\n");
        let error = load::<Flags>("intake", argv(&[]), Some(section.clone())).unwrap_err();
        assert!(error.to_string().contains("`intak`"), "{error}");

        let bad = file("bad", "[intake]\ncalendar_reload_secs = \"hourly\"\n");
        let error = load::<Flags>("intake", argv(&[]), Some(bad.clone())).unwrap_err();
        assert!(
            error.to_string().contains("`intake.calendar_reload_secs`"),
            "{error}"
        );

        let range = file("range", "[common]\nstream_replicas = 9\n");
        let error = load::<Flags>("intake", argv(&[]), Some(range.clone())).unwrap_err();
        assert!(
            error.to_string().contains("`common.stream_replicas`"),
            "{error}"
        );
        for path in [typo, section, bad, range] {
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(
            hide_secrets("database_url", "postgres://app:s3cret@db:5432/residence"),
            "postgres://app:****@db:5432/residence"
        );
        assert_eq!(
            hide_secrets("database_url", "sqlite://data/intake.db"),
            "sqlite://data/intake.db"
        );
        assert_eq!(hide_secrets("api_token", "abc"), "****");
        assert_eq!(
            hide_secrets("nats_password_file", "/run/secrets/nats"),
            "/run/secrets/nats"
        );
    }
}

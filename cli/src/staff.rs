//! `residence token`: staff signing keys and tokens, and what every staff command shares: the
//! token it sends and the channel that sends it.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use residence_staff::keys::{self, GeneratedKey};
use residence_staff::{BearerToken, Claims, Role, Scope};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// A channel to a service that sends a staff token with every call.
pub type StaffChannel = InterceptedService<Channel, BearerToken>;

/// How long a token lives when `--ttl` is not given: one working day.
pub const DEFAULT_TTL: &str = "8h";

/// `residence token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a signing key pair: `<name>.key.pem` stays with whoever issues tokens,
    /// `<name>.pub.pem` goes into every service's `--staff-keys-dir`.
    Keygen(KeygenArgs),
    /// Issue a signed staff token for one person, role and town or county.
    Issue(IssueArgs),
}

/// `residence token keygen`
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Folder to write the two files to; created if missing. Existing files are never
    /// overwritten.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Name of the key pair: 1 to 64 letters, digits, `-` or `_`.
    #[arg(long, default_value = "staff")]
    pub name: String,
}

/// `residence token issue`
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// What the bearer does.
    #[arg(long, value_enum)]
    pub role: Role,

    /// The town (9-digit division code) or county (6 digits) the bearer acts for.
    #[arg(long, value_parser = parse_scope)]
    pub scope: Scope,

    /// The bearer's staff id, such as `clerk-1`: 1 to 64 letters, digits, `.`, `-` or `_`.
    #[arg(long)]
    pub subject: String,

    /// How long the token is valid: seconds, or a number with `s`, `m`, `h` or `d`; at most
    /// 31 days.
    #[arg(long, default_value = DEFAULT_TTL, value_parser = parse_ttl)]
    pub ttl: Duration,

    /// The private key file (`<name>.key.pem`) to sign with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,

    /// File to write the token to (mode 0600); standard output when left out.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The staff token a command sends. Like every secret, it comes from a file, never from the
/// command line, which other users of the machine can read.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// File holding the staff token (from `residence token issue --out`) on its first line.
    #[arg(long, env = "RESIDENCE_STAFF_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl TokenArgs {
    /// The token to send; an error when none was given.
    pub fn bearer(&self) -> Result<BearerToken> {
        let Some(file) = &self.token_file else {
            bail!(
                "this command needs a staff token: give --token-file (RESIDENCE_STAFF_TOKEN_FILE)"
            );
        };
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read token file {}", file.display()))?;
        let token = text.lines().next().unwrap_or_default();
        Ok(BearerToken::new(token)?)
    }
}

/// Runs a `token` command.
pub fn run(command: &TokenCommand, out: &mut impl Write) -> Result<()> {
    match command {
        TokenCommand::Keygen(args) => {
            let GeneratedKey {
                private_key_file,
                public_key_file,
                key_id,
            } = keys::generate(&args.out, &args.name)?;
            writeln!(out, "private key {}", private_key_file.display())?;
            writeln!(out, "public key  {}", public_key_file.display())?;
            writeln!(out, "key id      {key_id}")?;
        }
        TokenCommand::Issue(args) => {
            let token = issue(args)?;
            match &args.out {
                Some(path) => write_secret(path, &token)?,
                None => writeln!(out, "{token}")?,
            }
        }
    }
    Ok(())
}

/// Signs the token `args` describe.
pub fn issue(args: &IssueArgs) -> Result<String> {
    let key = keys::read_signing_key(&args.key)?;
    let now = chrono::Utc::now().timestamp();
    let ttl = i64::try_from(args.ttl.as_secs()).unwrap_or(i64::MAX);
    let claims = Claims {
        sub: args.subject.trim().to_owned(),
        role: args.role,
        scope: args.scope.clone(),
        iat: now,
        exp: now.saturating_add(ttl),
    };
    Ok(residence_staff::token::issue(&claims, &key)?)
}

fn write_secret(path: &std::path::Path, token: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{token}").with_context(|| format!("cannot write {}", path.display()))
}

/// A lazily connecting channel to `url` that sends `token` with every call.
pub fn channel(url: &str, token: BearerToken) -> Result<StaffChannel> {
    let endpoint =
        Endpoint::from_shared(url.to_owned()).with_context(|| format!("bad url {url:?}"))?;
    Ok(InterceptedService::new(endpoint.connect_lazy(), token))
}

/// A throwaway staff signing key for a system started on this machine, its public half in the
/// key directory the services read, and the county its tokens are for.
#[derive(Debug)]
pub struct LocalStaff {
    issuer: residence_staff::Issuer,
    keys_dir: PathBuf,
    county: String,
}

impl LocalStaff {
    /// How long the tokens it issues live: longer than any run.
    const LIFETIME_SECS: i64 = 24 * 3600;

    /// Makes a key pair under `run_dir`: the private key in `staff-signing/`, the public key
    /// in `staff-keys/` for the services' `--staff-keys-dir`.
    pub fn create(run_dir: &std::path::Path, county: &str) -> Result<Self> {
        let generated = keys::generate(&run_dir.join("staff-signing"), "system")?;
        let keys_dir = run_dir.join("staff-keys");
        std::fs::create_dir_all(&keys_dir)
            .with_context(|| format!("create {}", keys_dir.display()))?;
        let public = keys_dir.join("system.pub.pem");
        std::fs::copy(&generated.public_key_file, &public)
            .with_context(|| format!("copy the staff public key to {}", public.display()))?;
        Ok(Self {
            issuer: residence_staff::Issuer::from_file(&generated.private_key_file)?,
            keys_dir,
            county: county.to_owned(),
        })
    }

    /// The directory of public keys the services verify tokens with.
    pub fn keys_dir(&self) -> &std::path::Path {
        &self.keys_dir
    }

    /// The county's division code.
    pub fn county(&self) -> &str {
        &self.county
    }

    /// A token for `subject` in `role` over `scope` (a town, or the county).
    pub fn token(&self, role: Role, scope: &str, subject: &str) -> Result<String> {
        let scope = Scope::parse(scope)?;
        Ok(self
            .issuer
            .issue(subject, role, scope, Self::LIFETIME_SECS)?)
    }

    /// Writes a token for `subject` in `role` over `scope` to `<run>/staff-tokens/<subject>`
    /// (mode 0600), for the CLI's `--token-file`, and returns the file.
    pub fn token_file(&self, role: Role, scope: &str, subject: &str) -> Result<PathBuf> {
        let token = self.token(role, scope, subject)?;
        let dir = self.keys_dir.with_file_name("staff-tokens");
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let file = dir.join(subject);
        write_secret(&file, &token)?;
        Ok(file)
    }

    /// The interceptor sending a token for `subject` in `role` over the whole county.
    pub fn county_bearer(&self, role: Role, subject: &str) -> Result<BearerToken> {
        let token = self.token(role, &self.county, subject)?;
        Ok(BearerToken::new(&token)?)
    }
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text).map_err(|error| error.to_string())
}

/// `90`, `90s`, `30m`, `8h` or `2d`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((index, unit)) if unit.is_ascii_alphabetic() => (&text[..index], unit),
        _ => (text, 's'),
    };
    let seconds_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(format!("unit must be s, m, h or d, got {unit:?}")),
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("expected a number with s, m, h or d, got {text:?}"))?;
    let seconds = count.saturating_mul(seconds_per);
    let longest = u64::try_from(residence_staff::token::MAX_LIFETIME_SECS).unwrap_or(0);
    if seconds == 0 || seconds > longest {
        return Err(format!("must be 1 s to 31 days, got {text:?}"));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_take_a_unit_and_stay_within_a_month() {
        assert_eq!(parse_ttl("8h").unwrap(), Duration::from_secs(8 * 3600));
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(2 * 86_400));
        for bad in ["", "0s", "8w", "h", "32d", "-1h"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_issued_token_verifies_with_the_generated_public_key() {
        let dir = std::env::temp_dir().join(format!("token-cli-{}", uuid::Uuid::new_v4()));
        let generated = keys::generate(&dir, "county").unwrap();
        let args = IssueArgs {
            role: Role::Reviewer,
            scope: Scope::parse("412824101").unwrap(),
            subject: "clerk-1".into(),
            ttl: Duration::from_secs(600),
            key: generated.private_key_file.clone(),
            out: None,
        };
        let token = issue(&args).unwrap();
        let public = residence_staff::StaffKeys::load_dir(&dir).unwrap();
        let claims =
            residence_staff::token::verify(&token, &public, chrono::Utc::now().timestamp())
                .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role),
            ("clerk-1", Role::Reviewer)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

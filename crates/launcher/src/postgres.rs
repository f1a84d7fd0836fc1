//! A throwaway PostgreSQL cluster listening on 127.0.0.1, run as the `postgres` system user
//! when this process is root, since the server refuses to run as root.

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Output, Stdio};

use anyhow::{Context, Result, bail, ensure};
use nix::unistd::{Gid, Uid, User};
use tokio::process::Command;

use crate::net::free_port;
use crate::paths::find_on_path;
use crate::process;

/// Names a folder holding `initdb` and `pg_ctl` to use instead of searching for one.
const BIN_DIR_ENV: &str = "RESIDENCE_PG_BIN";

/// Where Debian and Ubuntu install the server tools, one folder per major version.
const DEBIAN_INSTALL_ROOT: &str = "/usr/lib/postgresql";

/// The system user the server runs as when this process is root, and the superuser role.
const SERVER_USER: &str = "postgres";

/// The database every new cluster has.
const DEFAULT_DATABASE: &str = "postgres";

/// How often a start is retried when another process took the chosen port meanwhile.
const START_ATTEMPTS: usize = 3;

/// How long `pg_ctl` waits for the server to accept connections, in seconds.
const START_TIMEOUT_SECONDS: &str = "60";

/// Longest Unix socket path the kernel accepts (`sun_path` less its terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The longest name the server gives its socket file.
const LONGEST_SOCKET_NAME: &str = ".s.PGSQL.65535";

/// A PostgreSQL server on 127.0.0.1 with its own throwaway cluster and trust authentication.
///
/// The server is stopped when this value is dropped; a cluster folder this type created in
/// `/tmp` is removed as well, after copying its log to the folder given to [`Postgres::start`].
pub struct Postgres {
    bin_dir: PathBuf,
    server_user: Option<ServerUser>,
    cluster_dir: PathBuf,
    /// Set when the cluster lives in a folder of its own under `/tmp`: where to leave the log.
    log_copy: Option<PathBuf>,
    port: u16,
    running: bool,
}

impl Postgres {
    /// Creates a cluster in `<dir>/pgdata` (reusing one already there) and starts it on a
    /// free port, logging to `<dir>/postgres.log`.
    ///
    /// As root, the cluster moves to a fresh folder under `/tmp` when the `postgres` user
    /// cannot reach `dir`, and likewise whenever the socket path would be too long.
    pub async fn start(dir: &Path) -> Result<Postgres> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(dir)
            .with_context(|| format!("create postgres folder {}", dir.display()))?;
        let server_user = if nix::unistd::geteuid().is_root() {
            Some(ServerUser::lookup().await?)
        } else {
            None
        };
        let (cluster_dir, log_copy) = choose_cluster_dir(dir, server_user.as_ref())?;

        let mut postgres = Postgres {
            bin_dir,
            server_user,
            cluster_dir,
            log_copy,
            port: 0,
            running: false,
        };
        postgres.init().await?;
        postgres.start_on_free_port().await?;
        Ok(postgres)
    }

    /// The URL of the `postgres` database as the `postgres` superuser.
    pub fn url(&self) -> String {
        self.database_url(DEFAULT_DATABASE)
    }

    /// The URL of database `name` as the `postgres` superuser.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://{SERVER_USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the server was started and not stopped since.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The folder holding the server tools this cluster runs with (`psql`, `pg_dump`, ...).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The folder holding the data directory, the socket folder and the log.
    pub fn cluster_dir(&self) -> &Path {
        &self.cluster_dir
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.cluster_dir.join("postgres.log")
    }

    /// Creates database `name` and returns its URL.
    ///
    /// The name must be a plain lowercase identifier: letters, digits and underscores.
    pub async fn create_database(&self, name: &str) -> Result<String> {
        ensure!(
            is_plain_identifier(name),
            "database name {name:?} must be 1 to 63 lowercase letters, digits or underscores, \
             not starting with a digit"
        );
        let output = self.client_command("createdb").arg(name).output().await;
        expect_success(output, &format!("createdb {name}"))?;
        Ok(self.database_url(name))
    }

    /// Runs `sql` with `psql` in `database` and returns its unaligned, tuples-only output.
    pub async fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let output = self
            .client_command("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()
            .await;
        let output = expect_success(output, "psql")?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// Stops the server (`pg_ctl stop -m fast`) and starts it again on the same port.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await;
        ensure!(
            !self.running,
            "postgres did not stop; see {}",
            self.log_file().display()
        );
        self.start_again().await
    }

    /// Starts a stopped server again on the same port and cluster, so that clients reconnect
    /// to the URL they know; does nothing while the server runs.
    ///
    /// Together with [`Postgres::stop`] this lets a test keep the database away for a while.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.running {
            return Ok(());
        }
        self.start_server().await
    }

    /// Stops the server with `pg_ctl stop -m fast`, which rolls back open transactions and
    /// closes connections.
    pub async fn stop(&mut self) {
        if !self.running {
            return;
        }
        let command = self.pg_ctl_stop("fast");
        match expect_success(Command::from(command).output().await, "pg_ctl stop") {
            Ok(_) => self.running = false,
            Err(error) => tracing::warn!(error = format!("{error:#}"), "could not stop postgres"),
        }
    }

    /// Prepares the folders and runs `initdb` unless a cluster is already there.
    async fn init(&self) -> Result<()> {
        for dir in [self.data_dir(), self.socket_dir()] {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("create postgres folder {}", dir.display()))?;
            // The server insists that nobody else can read its data folder.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            self.hand_over(&dir)?;
        }
        process::open_log(&self.log_file())?;
        self.hand_over(&self.log_file())?;

        if self.data_dir().join("PG_VERSION").is_file() {
            return Ok(());
        }
        let data_dir = self.data_dir();
        let args = [
            OsStr::new("-D"),
            OsStr::new(&data_dir),
            OsStr::new("-A"),
            OsStr::new("trust"),
            OsStr::new("-U"),
            OsStr::new(SERVER_USER),
            OsStr::new("--encoding=UTF8"),
            OsStr::new("--no-locale"),
        ];
        let command = self.server_command("initdb", &args);
        expect_success(Command::from(command).output().await, "initdb")?;
        Ok(())
    }

    async fn start_on_free_port(&mut self) -> Result<()> {
        let mut attempt = 1;
        loop {
            self.port = free_port()?;
            match self.start_server().await {
                Ok(()) => return Ok(()),
                Err(error) if attempt < START_ATTEMPTS && self.lost_port_race() => {
                    tracing::debug!(
                        error = format!("{error:#}"),
                        attempt,
                        "port taken, retrying"
                    );
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn start_server(&mut self) -> Result<()> {
        let (data_dir, options, log_file) =
            (self.data_dir(), self.server_options(), self.log_file());
        let args = [
            OsStr::new("-D"),
            OsStr::new(&data_dir),
            OsStr::new("-o"),
            OsStr::new(&options),
            OsStr::new("-l"),
            OsStr::new(&log_file),
            OsStr::new("-w"),
            OsStr::new("-t"),
            OsStr::new(START_TIMEOUT_SECONDS),
            OsStr::new("start"),
        ];
        let command = self.server_command("pg_ctl", &args);
        let started = expect_success(Command::from(command).output().await, "pg_ctl start");
        if let Err(error) = started {
            let log = process::tail(&self.log_file(), 20);
            return Err(error.context(format!("postgres did not start; last log lines:\n{log}")));
        }
        self.running = true;
        Ok(())
    }

    /// The options `pg_ctl` hands to the server through a shell, hence the quoting.
    fn server_options(&self) -> OsString {
        let mut options = format!("-p {} -k ", self.port).into_bytes();
        options.extend(shell_quote(self.socket_dir().as_os_str()));
        options.extend(b" -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=400");
        OsString::from_vec(options)
    }

    /// `pg_ctl stop` in `mode`: `fast` rolls back open transactions and closes connections,
    /// `immediate` aborts at once and leaves recovery to the next start.
    fn pg_ctl_stop(&self, mode: &str) -> StdCommand {
        let data_dir = self.data_dir();
        let args = [
            OsStr::new("-D"),
            OsStr::new(&data_dir),
            OsStr::new("-m"),
            OsStr::new(mode),
            OsStr::new("-w"),
            OsStr::new("stop"),
        ];
        self.server_command("pg_ctl", &args)
    }

    fn lost_port_race(&self) -> bool {
        process::tail(&self.log_file(), 20).contains("Address already in use")
    }

    fn data_dir(&self) -> PathBuf {
        self.cluster_dir.join("pgdata")
    }

    fn socket_dir(&self) -> PathBuf {
        self.cluster_dir.join("sock")
    }

    /// Gives `path` to the server user, when the server runs as one.
    fn hand_over(&self, path: &Path) -> Result<()> {
        match &self.server_user {
            Some(user) => user.chown(path),
            None => Ok(()),
        }
    }

    /// A server tool run as the server user, from inside the cluster folder so that the
    /// tool never starts in a folder that user cannot enter.
    fn server_command(&self, tool: &str, args: &[&OsStr]) -> StdCommand {
        let program = self.bin_dir.join(tool);
        let mut command = match &self.server_user {
            Some(user) => user.command(&program, args),
            None => {
                let mut command = StdCommand::new(&program);
                command.args(args);
                command
            }
        };
        command.current_dir(&self.cluster_dir).stdin(Stdio::null());
        command
    }

    /// A client tool connecting over TCP as the superuser; trust authentication needs no
    /// password and no change of user.
    fn client_command(&self, tool: &str) -> Command {
        let bundled = self.bin_dir.join(tool);
        let program = if bundled.is_file() {
            bundled
        } else {
            PathBuf::from(tool)
        };
        let mut command = Command::new(program);
        command
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                SERVER_USER,
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let stopped = self
                .pg_ctl_stop("immediate")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !stopped.is_ok_and(|status| status.success()) {
                tracing::warn!(port = self.port, "could not stop postgres");
            }
        }

        if let Some(log_copy) = &self.log_copy {
            let _ = std::fs::copy(self.log_file(), log_copy);
            if let Err(error) = std::fs::remove_dir_all(&self.cluster_dir) {
                let path = self.cluster_dir.display();
                tracing::warn!(path = %path, %error, "could not remove postgres folder");
            }
        }
    }
}

/// The unprivileged account the server runs as when this process is root.
struct ServerUser {
    uid: Uid,
    gid: Gid,
    switch: SwitchUser,
}

/// How to run a command as the server user.
enum SwitchUser {
    /// `runuser -u postgres -- program args...`
    Runuser(PathBuf),
    /// `su postgres -s /bin/sh -c 'program args...'`
    Su(PathBuf),
}

impl ServerUser {
    async fn lookup() -> Result<ServerUser> {
        let user = User::from_name(SERVER_USER)
            .context("look up the postgres system user")?
            .context(
                "PostgreSQL refuses to run as root and there is no `postgres` system user to \
                 run it as; install the postgresql package or run as an unprivileged user",
            )?;
        let switch = SwitchUser::find().await?;
        Ok(ServerUser {
            uid: user.uid,
            gid: user.gid,
            switch,
        })
    }

    fn command(&self, program: &Path, args: &[&OsStr]) -> StdCommand {
        match &self.switch {
            SwitchUser::Runuser(runuser) => {
                let mut command = StdCommand::new(runuser);
                command
                    .args(["-u", SERVER_USER, "--"])
                    .arg(program)
                    .args(args);
                command
            }
            SwitchUser::Su(su) => {
                let mut command = StdCommand::new(su);
                command
                    .args([SERVER_USER, "-s", "/bin/sh", "-c"])
                    .arg(shell_line(program, args));
                command
            }
        }
    }

    fn chown(&self, path: &Path) -> Result<()> {
        nix::unistd::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("give {} to the postgres user", path.display()))
    }

    /// Whether this user may search every folder on the way to `dir`, judged from the mode
    /// bits (supplementary groups and ACLs are not considered, which only errs towards /tmp).
    fn can_traverse(&self, dir: &Path) -> bool {
        dir.ancestors()
            .all(|folder| folder.metadata().is_ok_and(|meta| self.may_search(&meta)))
    }

    fn may_search(&self, meta: &Metadata) -> bool {
        let mode = meta.mode();
        if meta.uid() == self.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == self.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        }
    }
}

impl SwitchUser {
    /// Prefers `runuser`, but only if it works here (it can fail without a PAM setup).
    async fn find() -> Result<SwitchUser> {
        if let Some(runuser) = find_on_path("runuser") {
            let probe = Command::new(&runuser)
                .args(["-u", SERVER_USER, "--", "true"])
                .stdin(Stdio::null())
                .output()
                .await;
            if probe.is_ok_and(|output| output.status.success()) {
                return Ok(SwitchUser::Runuser(runuser));
            }
        }
        find_on_path("su")
            .map(SwitchUser::Su)
            .context("running as root needs `runuser` or `su` to start PostgreSQL as postgres")
    }
}

/// Picks where the cluster lives: `dir` itself when the server can use it, else a fresh folder
/// under `/tmp`, returned with the path the log is copied to when it is removed.
fn choose_cluster_dir(
    dir: &Path,
    server_user: Option<&ServerUser>,
) -> Result<(PathBuf, Option<PathBuf>)> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolve {}", dir.display()))?;
    let reachable = server_user.is_none_or(|user| user.can_traverse(&dir));
    if reachable && socket_path_fits(&dir) {
        return Ok((dir, None));
    }

    let temp = create_temp_dir()?;
    if let Some(user) = server_user {
        user.chown(&temp)?;
    }
    tracing::debug!(
        requested = %dir.display(),
        cluster = %temp.display(),
        "postgres cannot use the requested folder, placing the cluster in /tmp"
    );
    Ok((temp, Some(dir.join("postgres.log"))))
}

fn socket_path_fits(cluster_dir: &Path) -> bool {
    let socket = cluster_dir.join("sock").join(LONGEST_SOCKET_NAME);
    socket.as_os_str().len() <= MAX_SOCKET_PATH
}

fn create_temp_dir() -> Result<PathBuf> {
    loop {
        let path = Path::new("/tmp").join(format!("residence-pg-{:08x}", rand::random::<u32>()));
        match std::fs::create_dir(&path) {
            Ok(()) => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
                return Ok(path);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("create {}", path.display()));
            }
        }
    }
}

/// Finds the folder with `initdb` and `pg_ctl`: `$RESIDENCE_PG_BIN`, then the one `initdb` on
/// `PATH` resolves to, then the newest `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        let dir = PathBuf::from(dir);
        ensure!(
            has_server_tools(&dir),
            "{BIN_DIR_ENV}={} lacks initdb or pg_ctl",
            dir.display()
        );
        return Ok(dir);
    }

    // Links such as /usr/local/bin/initdb are followed to the folder holding the other tools.
    let from_path = find_on_path("initdb")
        .and_then(|initdb| initdb.canonicalize().ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .filter(|dir| has_server_tools(dir));
    from_path.or_else(newest_installed_bin_dir).context(
        "PostgreSQL server tools not found: need initdb and pg_ctl on PATH or in \
         /usr/lib/postgresql/<version>/bin (on Debian: apt-get install postgresql)",
    )
}

fn newest_installed_bin_dir() -> Option<PathBuf> {
    let entries = std::fs::read_dir(DEBIAN_INSTALL_ROOT).ok()?;
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = parse_major_version(&entry.file_name().to_string_lossy())?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_server_tools(bin))
        .max_by(|(left, _), (right, _)| left.cmp(right))
        .map(|(_, bin)| bin)
}

/// Reads folder names such as `15` or `9.6` as comparable version numbers.
fn parse_major_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn has_server_tools(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    valid_start && valid_rest && name.len() <= 63
}

/// Checks that a tool ran and exited successfully, describing its output if not.
fn expect_success(output: std::io::Result<Output>, what: &str) -> Result<Output> {
    let output = output.with_context(|| format!("run {what}"))?;
    if !output.status.success() {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{what} failed with {}: {}{}",
            output.status,
            stdout.trim(),
            stderr.trim()
        );
    }
    Ok(output)
}

/// Quotes `word` for a POSIX shell: single quotes, with embedded ones as `'\''`.
fn shell_quote(word: &OsStr) -> Vec<u8> {
    let mut quoted = vec![b'\''];
    for &byte in word.as_bytes() {
        match byte {
            b'\'' => quoted.extend(b"'\\''"),
            _ => quoted.push(byte),
        }
    }
    quoted.push(b'\'');
    quoted
}

/// A shell command line that runs `program` with `args`, each quoted.
fn shell_line(program: &Path, args: &[&OsStr]) -> OsString {
    let mut line = b"exec ".to_vec();
    line.extend(shell_quote(program.as_os_str()));
    for arg in args {
        line.push(b' ');
        line.extend(shell_quote(arg));
    }
    OsString::from_vec(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_words_for_the_shell() {
        assert_eq!(shell_quote(OsStr::new("a b")), b"'a b'");
        assert_eq!(shell_quote(OsStr::new("it's")), b"'it'\\''s'");
        let line = shell_line(
            Path::new("/bin/pg_ctl"),
            &[OsStr::new("-D"), OsStr::new("x y")],
        );
        assert_eq!(line, OsString::from("exec '/bin/pg_ctl' '-D' 'x y'"));
    }

    #[test]
    fn both_ways_of_switching_user_reach_the_server_user() {
        let Ok(Some(user)) = User::from_name(SERVER_USER) else {
            return;
        };
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let switches = [
            find_on_path("runuser").map(SwitchUser::Runuser),
            find_on_path("su").map(SwitchUser::Su),
        ];
        for switch in switches.into_iter().flatten() {
            let server_user = ServerUser {
                uid: user.uid,
                gid: user.gid,
                switch,
            };
            let args = [OsStr::new("-c"), OsStr::new("echo \"$(id -un) it's\"")];
            let output = server_user
                .command(Path::new("/bin/sh"), &args)
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                "postgres it's"
            );
        }
    }

    #[test]
    fn accepts_only_plain_database_names() {
        assert!(is_plain_identifier("intake_test_1"));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("drop table"));
        assert!(!is_plain_identifier(""));
        assert!(!is_plain_identifier(&"a".repeat(64)));
    }

    #[test]
    fn orders_installed_versions_numerically() {
        assert!(parse_major_version("15") > parse_major_version("9.6"));
        assert_eq!(parse_major_version("main"), None);
    }

    #[test]
    fn rejects_socket_paths_the_kernel_cannot_bind() {
        assert!(socket_path_fits(Path::new("/tmp/run")));
        assert!(!socket_path_fits(&Path::new("/tmp").join("x".repeat(100))));
    }
}

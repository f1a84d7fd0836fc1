//! Starts the real infrastructure and a child process the way the demo and system tests do.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use residence_launcher::{
    NatsServer, Postgres, RunDir, ServiceProcess, ServiceSpec, ensure_nats_server, free_port,
    free_ports, project_root, wait_for_tcp,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

/// Reads the `INFO {...}` greeting a NATS server sends every new client.
async fn nats_info(port: u16) -> serde_json::Value {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to nats");
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .await
        .expect("read INFO line");
    let json = line
        .strip_prefix("INFO ")
        .expect("greeting starts with INFO");
    serde_json::from_str(json.trim()).expect("INFO carries JSON")
}

fn version_of(info: &serde_json::Value) -> (u32, u32) {
    let version = info["version"].as_str().expect("INFO has a version");
    let mut parts = version
        .split('.')
        .map(|part| part.parse::<u32>().expect("numeric version"));
    (parts.next().unwrap(), parts.next().unwrap())
}

async fn refuses_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).await.is_err()
}

#[tokio::test]
async fn nats_server_runs_jetstream_and_survives_a_restart() {
    let run = RunDir::new("launcher-nats").unwrap();
    let binary = ensure_nats_server(&project_root().unwrap()).await.unwrap();
    let mut nats = NatsServer::start(&binary, run.path()).await.unwrap();
    assert_eq!(nats.url(), format!("nats://127.0.0.1:{}", nats.port()));

    let info = nats_info(nats.port()).await;
    assert!(version_of(&info) >= (2, 10), "too old: {info}");
    assert_ne!(
        info["jetstream"],
        serde_json::Value::Bool(false),
        "no jetstream: {info}"
    );

    let port = nats.port();
    nats.restart().await.unwrap();
    assert_eq!(nats.port(), port);
    assert_eq!(nats_info(port).await["version"], info["version"]);
    assert!(nats.store_dir().is_dir());

    nats.stop().await;
    assert!(!nats.is_running());
    assert!(refuses_connections(port).await);
}

#[tokio::test]
async fn postgres_creates_databases_and_survives_a_restart() {
    let run = RunDir::new("launcher-postgres").unwrap();
    let mut postgres = Postgres::start(run.path()).await.unwrap();
    let port = postgres.port();
    assert_eq!(
        postgres.url(),
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    );

    let url = postgres.create_database("launcher_check").await.unwrap();
    assert_eq!(
        url,
        format!("postgres://postgres@127.0.0.1:{port}/launcher_check")
    );
    assert_eq!(
        postgres.psql("launcher_check", "select 1").await.unwrap(),
        "1"
    );

    postgres
        .psql(
            "launcher_check",
            "create table kept (id int); insert into kept values (7)",
        )
        .await
        .unwrap();
    postgres.restart().await.unwrap();
    assert_eq!(postgres.port(), port);
    assert_eq!(
        postgres
            .psql("launcher_check", "select id from kept")
            .await
            .unwrap(),
        "7"
    );

    postgres.stop().await;
    assert!(refuses_connections(port).await);
    assert!(postgres.psql("postgres", "select 1").await.is_err());

    let cluster = postgres.cluster_dir().to_path_buf();
    let kept = run.is_kept();
    drop(postgres);
    drop(run);
    assert_eq!(cluster.exists(), kept, "{}", cluster.display());
}

#[tokio::test]
async fn postgres_in_a_private_folder_is_cleaned_up_on_drop() {
    let run = RunDir::new("launcher-postgres-private").unwrap();
    let private = run.path().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();

    let postgres = Postgres::start(&private).await.unwrap();
    let port = postgres.port();
    assert_eq!(postgres.psql("postgres", "select 1").await.unwrap(), "1");

    // As root the postgres user cannot enter the folder, so the cluster lives in /tmp.
    let cluster = postgres.cluster_dir().to_path_buf();
    drop(postgres);
    assert!(refuses_connections(port).await);
    if !cluster.starts_with(run.path().canonicalize().unwrap()) {
        assert!(!cluster.exists(), "{} was left behind", cluster.display());
        assert!(
            private.join("postgres.log").is_file(),
            "the log was not kept"
        );
    }
}

fn sleeper(run: &RunDir) -> ServiceSpec {
    ServiceSpec {
        name: "sleeper".into(),
        binary: PathBuf::from("/bin/sh"),
        args: vec![
            "-c".into(),
            "echo \"started as $RESIDENCE_ROLE\"; exec sleep 60".into(),
        ],
        env: vec![("RESIDENCE_ROLE".into(), "sleeper".into())],
        log_file: run.path().join("logs").join("sleeper.log"),
        ready_addr: None,
    }
}

/// Waits until `needle` appears `count` times in the service's log.
async fn wait_for_log(service: &ServiceProcess, needle: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while service.log_tail(50).matches(needle).count() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "log: {}",
            service.log_tail(50)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn service_process_can_be_killed_respawned_and_stopped() {
    let run = RunDir::new("launcher-service").unwrap();
    let mut service = ServiceProcess::spawn(sleeper(&run)).await.unwrap();
    assert_eq!(service.name(), "sleeper");
    let first_pid = service.pid().unwrap();
    assert!(service.is_running());
    wait_for_log(&service, "started as sleeper", 1).await;

    service.kill().await;
    assert!(!service.is_running());

    service.respawn().await.unwrap();
    assert!(service.is_running());
    assert_ne!(service.pid(), Some(first_pid));

    // Both runs append to the same log, and both get the variables from the spec.
    wait_for_log(&service, "started as sleeper", 2).await;

    service.stop().await.unwrap();
    assert!(!service.is_running());
}

#[tokio::test]
async fn service_that_exits_early_reports_its_log() {
    let run = RunDir::new("launcher-service-crash").unwrap();
    let spec = ServiceSpec {
        name: "crasher".into(),
        binary: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), "echo \"bad config: $MODE\" >&2; exit 3".into()],
        env: vec![("MODE".into(), "broken".into())],
        log_file: run.path().join("crasher.log"),
        ready_addr: Some(SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()))),
    };
    let error = ServiceProcess::spawn(spec)
        .await
        .err()
        .expect("spawn should fail");
    let message = format!("{error:#}");
    assert!(message.contains("bad config: broken"), "{message}");
    assert!(message.contains("crasher exited"), "{message}");
}

#[tokio::test]
async fn service_is_ready_once_its_address_accepts_connections() {
    let run = RunDir::new("launcher-service-ready").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let spec = ServiceSpec {
        ready_addr: Some(listener.local_addr().unwrap()),
        ..sleeper(&run)
    };
    let mut service = ServiceProcess::spawn(spec).await.unwrap();
    service.stop().await.unwrap();
}

#[tokio::test]
async fn waiting_for_a_closed_port_gives_up_at_the_deadline() {
    let port = free_port().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let error = wait_for_tcp(addr, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("did not accept connections"),
        "{error}"
    );
}

#[test]
fn free_ports_are_distinct() {
    let mut ports = free_ports(8);
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 8);
}

#[test]
fn free_ports_are_never_handed_out_twice_by_one_process() {
    let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap()).collect();
    let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len());
}

#[test]
fn free_ports_lie_outside_the_range_outgoing_connections_draw_from() {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let bounds: Vec<u16> = text
        .split_whitespace()
        .map(|bound| bound.parse().unwrap())
        .collect();
    for port in free_ports(50) {
        assert!(
            !(bounds[0]..=bounds[1]).contains(&port),
            "{port} is in the ephemeral range {bounds:?}"
        );
    }
}

#[test]
fn a_free_port_stays_claimed_against_other_launchers() {
    let port = free_port().unwrap();
    let lock = std::env::temp_dir()
        .join("residence-ports")
        .join(format!("{port}.lock"));
    // A second open file description is what another process would have.
    let other = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    assert!(other.try_lock().is_err(), "{} is not held", lock.display());
}

#[test]
fn run_dir_is_removed_unless_kept() {
    let run = RunDir::new("launcher-run-dir").unwrap();
    let path = run.path().to_path_buf();
    assert!(path.is_dir());
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("launcher-run-dir-")
    );
    let kept_by_env = run.is_kept();
    drop(run);
    assert_eq!(path.exists(), kept_by_env);

    let mut kept = RunDir::new("launcher-run-dir-kept").unwrap();
    kept.keep();
    let path = kept.path().to_path_buf();
    drop(kept);
    assert!(path.is_dir());
    std::fs::remove_dir_all(path).unwrap();
}

//! A gRPC server that runs out of file descriptors waits instead of spinning, and serves again
//! once descriptors are free. Alone in its test binary: it lowers the process's descriptor
//! limit.

use std::net::TcpStream;
use std::time::Duration;

use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

fn open_descriptors() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count() as u64)
}

fn cpu_time() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let user = usage.user_time();
    let system = usage.system_time();
    let micros = |time: nix::sys::time::TimeVal| {
        Duration::from_secs(time.tv_sec() as u64) + Duration::from_micros(time.tv_usec() as u64)
    };
    micros(user) + micros(system)
}

async fn connect(url: &str) -> HealthClient<Channel> {
    let channel = Channel::from_shared(url.to_owned()).unwrap();
    HealthClient::new(channel.connect().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_the_server_pauses_and_recovers() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let server = tonic::transport::Server::builder()
        .add_service(health)
        .serve_with_incoming(residence_runtime::accept::incoming(listener));
    let server = tokio::spawn(server);

    let url = format!("http://{addr}");
    let mut client = connect(&url).await;
    client
        .check(HealthCheckRequest::default())
        .await
        .expect("served before the shortage");

    // Clients take the last descriptors; the connection of the last one is completed by the
    // kernel, but the server has no descriptor left to accept it with.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, open_descriptors() + 16, hard).unwrap();
    let mut waiting = Vec::new();
    while let Ok(stream) = TcpStream::connect(addr) {
        waiting.push(stream);
    }
    assert!(!waiting.is_empty(), "no client could connect");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let before = cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_time() - before;
    assert!(
        spent < Duration::from_millis(300),
        "the server spun for {spent:?} of CPU in one second without descriptors"
    );

    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    drop(waiting);
    let mut fresh = tokio::time::timeout(Duration::from_secs(10), connect(&url))
        .await
        .expect("connect in time");
    tokio::time::timeout(
        Duration::from_secs(10),
        fresh.check(HealthCheckRequest::default()),
    )
    .await
    .expect("served in time")
    .expect("served after the shortage");
    server.abort();
}

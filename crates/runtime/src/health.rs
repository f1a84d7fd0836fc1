//! Whether a service can do its work, told three ways: `/healthz` (the process answers),
//! `/readyz` (its database answers a query and NATS is connected) and `/metrics` on a small
//! HTTP server, and the same readiness in `grpc.health.v1`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The environment variable naming the address of the metrics and health server.
pub const METRICS_ADDR_VARIABLE: &str = "RESIDENCE_METRICS_ADDR";

/// How much higher than the gRPC port the metrics port is when no address is configured.
pub const METRICS_PORT_OFFSET: u16 = 1000;

/// How long one readiness check may take before it counts as a failure.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// How often gRPC health is brought in line with readiness.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// What a readiness check looks at.
#[derive(Clone, Debug)]
pub struct Readiness {
    db: DatabaseConnection,
    nats: async_nats::Client,
    /// The SQLite file, which must still be where the service opened it.
    sqlite_file: Option<PathBuf>,
}

impl Readiness {
    /// Checks `db` (and `sqlite_file`, for a SQLite database) and the `nats` connection.
    pub fn new(
        db: DatabaseConnection,
        nats: async_nats::Client,
        sqlite_file: Option<PathBuf>,
    ) -> Self {
        Self {
            db,
            nats,
            sqlite_file,
        }
    }

    /// `Ok` when the database answers a query and NATS is connected, else what is wrong.
    pub async fn check(&self) -> Result<(), String> {
        let state = self.nats.connection_state();
        if state != async_nats::connection::State::Connected {
            return Err(format!("nats is not connected ({state})"));
        }
        if let Some(file) = &self.sqlite_file {
            // An open SQLite connection keeps answering after its file is gone or unreadable.
            tokio::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(file)
                .await
                .map_err(|error| format!("the database file cannot be opened: {error}"))?;
        }
        match tokio::time::timeout(CHECK_TIMEOUT, self.db.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("the database does not answer: {error}")),
            Err(_) => Err("the database did not answer in time".to_owned()),
        }
    }
}

/// The address of the metrics and health server: `RESIDENCE_METRICS_ADDR` when set, else
/// loopback on the gRPC port plus [`METRICS_PORT_OFFSET`]. The flag is whether it was set.
pub fn metrics_addr(grpc: SocketAddr) -> anyhow::Result<(SocketAddr, bool)> {
    // TODO(config): a `--metrics-addr` flag and config-file key belong with the other common
    // settings in `CommonArgs`; until they are there, only the variable sets the address.
    address_from(grpc, std::env::var(METRICS_ADDR_VARIABLE).ok().as_deref())
}

fn address_from(grpc: SocketAddr, set: Option<&str>) -> anyhow::Result<(SocketAddr, bool)> {
    if let Some(value) = set.map(str::trim).filter(|value| !value.is_empty()) {
        let addr = value.parse().map_err(|error| {
            anyhow::anyhow!("{METRICS_ADDR_VARIABLE} must be host:port, got {value:?}: {error}")
        })?;
        return Ok((addr, true));
    }
    let port = grpc.port().saturating_add(METRICS_PORT_OFFSET);
    Ok((SocketAddr::from(([127, 0, 0, 1], port)), false))
}

/// Binds the metrics and health server's address. A configured address that is taken stops
/// start-up; the default one is only warned about, and the service runs without the server.
pub async fn bind(addr: SocketAddr, configured: bool) -> anyhow::Result<Option<TcpListener>> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(error) if configured => Err(anyhow::anyhow!("cannot listen on {addr}: {error}")),
        Err(error) => {
            tracing::warn!(
                %addr,
                %error,
                "metrics and health port taken; running without it (see RESIDENCE_METRICS_ADDR)"
            );
            Ok(None)
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, readiness: Readiness, shutdown: CancellationToken) {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/readyz", axum::routing::get(ready))
        .with_state(readiness);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::warn!(%error, "metrics and health server stopped");
    }
}

async fn metrics() -> impl IntoResponse {
    let text = residence_metrics::global().render();
    (
        [(header::CONTENT_TYPE, residence_metrics::CONTENT_TYPE)],
        text,
    )
}

async fn ready(
    axum::extract::State(readiness): axum::extract::State<Readiness>,
) -> impl IntoResponse {
    match readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        ),
    }
}

/// Keeps `grpc.health.v1` for `names` (the API and the whole server, `""`) and the
/// `residence_ready` gauge in line with readiness until `shutdown`, logging each change.
pub async fn watch(
    readiness: Readiness,
    reporter: HealthReporter,
    names: Vec<String>,
    shutdown: CancellationToken,
) {
    let mut was_ready = true;
    loop {
        let checked = readiness.check().await;
        let ready = checked.is_ok();
        if ready != was_ready {
            match &checked {
                Ok(()) => tracing::info!("ready again: database and nats reachable"),
                Err(reason) => tracing::warn!(%reason, "not ready"),
            }
            let status = if ready {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            for name in &names {
                reporter.set_service_status(name, status).await;
            }
            was_ready = ready;
        }
        residence_metrics::global().ready.set(i64::from(ready));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_address_is_set_or_follows_the_grpc_port() {
        let grpc = SocketAddr::from(([127, 0, 0, 1], 50051));
        let (addr, configured) = address_from(grpc, None).unwrap();
        assert_eq!(
            (addr.to_string().as_str(), configured),
            ("127.0.0.1:51051", false)
        );
        let (addr, configured) = address_from(grpc, Some(" 0.0.0.0:9090 ")).unwrap();
        assert_eq!(
            (addr.to_string().as_str(), configured),
            ("0.0.0.0:9090", true)
        );
        assert!(address_from(grpc, Some("9090")).is_err());
        assert!(!address_from(grpc, Some("")).unwrap().1);
    }
}

//! The start-up every service shares: database and migrations, NATS, the gRPC listener, the
//! outbox relay, the calendar watch and the event consumers, then serving until SIGTERM and
//! letting the background tasks finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use async_nats::jetstream;
use residence_eventing::{ConsumerSpec, Handler, OutboxWriter, Relay, RelayHandle, run_consumer};
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic_health::pb::health_server::{Health, HealthServer};

use crate::calendar::{self, SharedCalendar};
use crate::{CommonArgs, database, grpc, health, messaging, sampling, shutdown};

/// A started service: connected, listening, its relay and calendar watch running. Declare the
/// event consumers with [`Service::consume`], then hand the gRPC API to [`Service::serve`].
#[derive(Debug)]
pub struct Service {
    name: &'static str,
    db: DatabaseConnection,
    jetstream: jetstream::Context,
    listener: TcpListener,
    local_addr: SocketAddr,
    readiness: health::Readiness,
    shutdown: CancellationToken,
    relay: RelayHandle,
    calendar: SharedCalendar,
    tasks: Vec<JoinHandle<()>>,
}

impl Service {
    /// Starts the service `name`.
    ///
    /// Reads the holiday calendar and the data key first, so that a malformed one stops the
    /// service before it connects anywhere or binds a port. Then opens the database and migrates it with `M`,
    /// connects to NATS, binds the gRPC address (`--grpc-addr`, else `default_port` on
    /// loopback) and the metrics and health address (see [`health::metrics_addr`]), and starts
    /// the HTTP server for `/metrics`, `/healthz` and `/readyz`, the outbox sampler, the outbox
    /// relay, the consumer of resend requests (see [`residence_eventing::resend`]) and the
    /// calendar watch. With `--migrate-only` the
    /// process exits once the database is migrated.
    pub async fn start<M: MigratorTrait>(
        name: &'static str,
        common: &CommonArgs,
        default_port: u16,
    ) -> anyhow::Result<Self> {
        let calendar = common.load_calendar()?;
        let nats_credentials = common.nats_credentials()?;
        residence_sealing::install(common.load_data_keys()?)?;

        let database_url = common.database_url(name)?;
        let db = database::connect(name, &database_url).await?;
        M::up(&db, None).await?;
        residence_sealing::check_database(&db, residence_sealing::keys())
            .await
            .map_err(|error| {
                error.context(format!("the {name} database needs its own data key"))
            })?;
        if common.migrate_only {
            tracing::info!(
                service = name,
                "database migrated, exiting as --migrate-only asks"
            );
            db.close().await?;
            std::process::exit(0);
        }
        residence_eventing::streams::set_replicas(common.stream_replicas.into());
        let messaging =
            messaging::connect(&common.nats_url, nats_credentials.as_ref(), name).await?;
        let listener = grpc::bind(common.grpc_addr_or(default_port)).await?;
        let local_addr = listener.local_addr()?;
        let (metrics_addr, configured) = health::metrics_addr(local_addr)?;
        let metrics_listener = health::bind(metrics_addr, configured).await?;
        let shutdown = shutdown::on_signal();
        let readiness = health::Readiness::new(
            db.clone(),
            messaging.client.clone(),
            database::sqlite_file(&database_url),
        );
        let mut tasks = Vec::new();
        if let Some(listener) = metrics_listener {
            tracing::info!(addr = %metrics_addr, "metrics and health served over http");
            let server = health::serve(listener, readiness.clone(), shutdown.clone());
            tasks.push(tokio::spawn(server));
        }
        let sampler = sampling::outbox(db.clone(), shutdown.clone());
        tasks.push(tokio::spawn(sampler));

        let relay = Relay::new(db.clone(), messaging.jetstream.clone());
        let relay_handle = relay.handle();
        let relay_task = tokio::spawn(relay.run(shutdown.clone()));
        // Every service answers resend requests for stuck cases from its own outbox.
        let resend = residence_eventing::resend::ResendHandler {
            db: db.clone(),
            relay: relay_handle.clone(),
        };
        let resend_task = tokio::spawn(run_consumer(
            messaging.jetstream.clone(),
            residence_eventing::resend::spec(name),
            Arc::new(resend),
            shutdown.clone(),
        ));
        let every = common.calendar_reload_interval();
        let watch_task = calendar::spawn_watch(calendar.clone(), every, shutdown.clone());

        Ok(Self {
            name,
            db,
            jetstream: messaging.jetstream,
            listener,
            local_addr,
            readiness,
            shutdown,
            relay: relay_handle,
            calendar,
            tasks: tasks
                .into_iter()
                .chain([relay_task, resend_task, watch_task])
                .collect(),
        })
    }

    /// The service's own database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The handle that wakes the outbox relay after a commit.
    pub fn relay(&self) -> RelayHandle {
        self.relay.clone()
    }

    /// A writer for this service's outbox.
    pub fn outbox(&self) -> OutboxWriter {
        OutboxWriter::new(self.name)
    }

    /// The JetStream context the service is connected with.
    pub fn jetstream(&self) -> jetstream::Context {
        self.jetstream.clone()
    }

    /// The holiday calendar, kept current by the calendar watch.
    pub fn calendar(&self) -> SharedCalendar {
        self.calendar.clone()
    }

    /// The address the gRPC server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Starts consuming `spec`'s events with `handler` until shutdown.
    pub fn consume<H: Handler>(&mut self, spec: ConsumerSpec, handler: H) {
        let jetstream = self.jetstream.clone();
        let handler = Arc::new(handler);
        self.spawn(|shutdown| run_consumer(jetstream, spec, handler, shutdown));
    }

    /// Seals, in the background, what the outbox and `columns` still hold in the clear from
    /// before sealing existed (see [`residence_sealing::seal_legacy_rows`]).
    pub fn seal_legacy_rows(&mut self, columns: &[residence_sealing::SealedColumn]) {
        let db = self.db.clone();
        let mut columns = columns.to_vec();
        columns.push(residence_sealing::OUTBOX_PAYLOAD);
        self.spawn(|_shutdown| async move {
            match residence_sealing::seal_legacy_rows(&db, &columns).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "sealed values written before sealing"),
                Err(error) => {
                    tracing::warn!(%error, "could not seal values written before sealing");
                }
            }
        });
    }

    /// Starts a background task, handing it the token cancelled at shutdown; [`Service::serve`]
    /// waits for it to return before it does.
    pub fn spawn<F>(&mut self, task: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = task(self.shutdown.clone());
        self.tasks.push(tokio::spawn(task));
    }

    /// Serves `api` with health and reflection until SIGTERM, then waits for the relay, the
    /// consumers and every other background task to finish their work in flight. Every API
    /// refuses request messages over [`grpc::MAX_REQUEST_BYTES`] with `OUT_OF_RANGE`.
    pub async fn serve<S: Api>(self, api: S) -> anyhow::Result<()> {
        let api = api.with_max_request_bytes(grpc::MAX_REQUEST_BYTES);
        self.serve_routes(&[S::NAME], Routes::new(api)).await
    }

    /// Serves two APIs from one port, as [`Service::serve`] serves one; health reports both.
    pub async fn serve_two<S: Api, T: Api>(self, api: S, second: T) -> anyhow::Result<()> {
        let api = api.with_max_request_bytes(grpc::MAX_REQUEST_BYTES);
        let second = second.with_max_request_bytes(grpc::MAX_REQUEST_BYTES);
        let routes = Routes::new(api).add_service(second);
        self.serve_routes(&[S::NAME, T::NAME], routes).await
    }

    /// Serves health and reflection only, reporting `health_name` as serving, for a service
    /// whose work is all events.
    pub async fn serve_health_only(self, health_name: &str) -> anyhow::Result<()> {
        self.serve_routes(&[health_name], Routes::default()).await
    }

    async fn serve_routes(self, health_names: &[&str], api: Routes) -> anyhow::Result<()> {
        let (reporter, health_service) = grpc::health(health_names).await;
        let mut names: Vec<String> = health_names.iter().map(|name| (*name).to_owned()).collect();
        names.push(String::new());
        let watch = health::watch(self.readiness, reporter, names, self.shutdown.clone());
        let watch = tokio::spawn(watch);
        let served = serve_until_shutdown(self.listener, health_service, api, &self.shutdown).await;

        // The relay publishes its batch in flight, each consumer settles its message.
        self.shutdown.cancel();
        for task in self.tasks {
            // A task that panicked has nothing left to finish.
            let _ = task.await;
        }
        let _ = watch.await;
        served
    }
}

async fn serve_until_shutdown<H: Health>(
    listener: TcpListener,
    health_service: HealthServer<H>,
    api: Routes,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let health_service = health_service.max_decoding_message_size(grpc::MAX_REQUEST_BYTES);
    let reflection = grpc::reflection()?.max_decoding_message_size(grpc::MAX_REQUEST_BYTES);
    let routes = api.add_service(health_service).add_service(reflection);
    // Every call gets a span continuing its caller's trace, and is counted.
    // HTTP/2 pings find clients that vanished without closing their connection (a crashed
    // host, a dropped NAT entry), so that their connections and streams are freed.
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(grpc::KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(grpc::KEEPALIVE_TIMEOUT))
        .layer(crate::calls::TracedCallLayer)
        .add_routes(routes)
        .serve_with_incoming_shutdown(crate::accept::incoming(listener), grpc::until(shutdown))
        .await?;
    Ok(())
}

/// A generated gRPC server of ours, ready for [`Service::serve`], whose largest accepted
/// request message can be set.
pub trait Api:
    tonic::codegen::Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + NamedService
    + Clone
    + Send
    + Sync
    + 'static
{
    /// The same server, refusing a request message larger than `bytes` before decoding it.
    fn with_max_request_bytes(self, bytes: usize) -> Self;
}

macro_rules! api {
    ($($module:ident::$server:ident<$service:ident>),* $(,)?) => {$(
        impl<T: residence_proto::v1::$module::$service> Api
            for residence_proto::v1::$module::$server<T>
        {
            fn with_max_request_bytes(self, bytes: usize) -> Self {
                self.max_decoding_message_size(bytes)
            }
        }
    )*};
}

api!(
    intake_service_server::IntakeServiceServer<IntakeService>,
    review_service_server::ReviewServiceServer<ReviewService>,
    decision_service_server::DecisionServiceServer<DecisionService>,
    delivery_service_server::DeliveryServiceServer<DeliveryService>,
    elicense_service_server::ElicenseServiceServer<ElicenseService>,
    supervision_service_server::SupervisionServiceServer<SupervisionService>,
);

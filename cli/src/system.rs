//! The whole system on one machine: a NATS server, optionally PostgreSQL, every service and
//! both partner simulators as child processes, with their data and logs in one run folder.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use futures::future::try_join_all;
use residence_launcher::{
    NatsServer, Postgres, RunDir, ServiceProcess, ServiceSpec, binary_path, ensure_nats_server,
    free_port, free_ports, project_root,
};
use residence_proto::v1::decision_service_client::DecisionServiceClient;
use residence_proto::v1::delivery_service_client::DeliveryServiceClient;
use residence_proto::v1::elicense_service_client::ElicenseServiceClient;
use residence_proto::v1::intake_service_client::IntakeServiceClient;
use residence_proto::v1::review_service_client::ReviewServiceClient;
use residence_proto::v1::supervision_service_client::SupervisionServiceClient;
use residence_runtime::health::METRICS_ADDR_VARIABLE;
use residence_staff::{BearerToken, Role};
use tonic::transport::{Channel, Endpoint};

use crate::staff::{LocalStaff, StaffChannel};
use crate::summary::{Databases, Sources, Summary};

/// The database the services keep their state in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Database {
    /// One SQLite file per service in `<run>/data`.
    #[default]
    Sqlite,
    /// One throwaway PostgreSQL server; each service works in a schema named after it.
    Postgres,
}

impl Database {
    /// `sqlite` or `postgres`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One of the six services, each its own process with its own database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// 收件 and 受理.
    Intake,
    /// 审核.
    Review,
    /// 决定.
    Decision,
    /// 送达.
    Delivery,
    /// Courier dispatch to the logistics partners.
    Courier,
    /// 电子证照 issuance.
    Elicense,
}

impl Service {
    /// Every service, in pipeline order.
    pub const ALL: [Service; 6] = [
        Self::Intake,
        Self::Review,
        Self::Decision,
        Self::Delivery,
        Self::Courier,
        Self::Elicense,
    ];

    /// Short name: the process name in logs and the database schema, such as `intake`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::Review => "review",
            Self::Decision => "decision",
            Self::Delivery => "delivery",
            Self::Courier => "courier",
            Self::Elicense => "elicense",
        }
    }

    /// The workspace binary, such as `residence-intake`.
    pub fn binary(self) -> String {
        format!("residence-{}", self.name())
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One of the partner simulators, which stand in for systems outside the county.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Simulator {
    /// A logistics partner that takes waybill requests and reports parcel status.
    LogisticsPartner,
    /// A provincial e-license platform that registers issued licenses.
    ElicensePlatform,
}

impl Simulator {
    /// Both simulators.
    pub const ALL: [Simulator; 2] = [Self::LogisticsPartner, Self::ElicensePlatform];

    /// Short name: the process name and the stem of its record file.
    pub fn name(self) -> &'static str {
        match self {
            Self::LogisticsPartner => "logistics-partner",
            Self::ElicensePlatform => "elicense-platform",
        }
    }

    /// The workspace binary, such as `logistics-partner-simulator`.
    pub fn binary(self) -> String {
        format!("{}-simulator", self.name())
    }

    /// The JSON-lines file the simulator appends one line to per message it acted on.
    pub fn record_file(self, records_dir: &Path) -> PathBuf {
        records_dir.join(format!("{}.jsonl", self.name()))
    }
}

/// How to start a [`System`].
#[derive(Clone, Debug)]
pub struct SystemOptions {
    /// Where the services keep their state.
    pub database: Database,
    /// Share of parcels, 0.0 to 1.0, the logistics partner fails to deliver.
    pub courier_failure_share: f64,
    /// Leave the run folder (logs, databases, records) in place after the system stops.
    pub keep_run_dir: bool,
    /// Environment variables set for every service and simulator.
    pub extra_env: Vec<(String, String)>,
    /// Seed of the logistics partner's random choices, so a run can be repeated.
    pub partner_seed: u64,
    /// Start of the run folder's name, such as `demo`.
    pub run_prefix: String,
    /// NATS client URLs, comma-separated, of servers started elsewhere (a cluster, say) to use
    /// instead of starting a NATS server; `None` starts one.
    pub nats_urls: Option<String>,
    /// Copies of each JetStream stream the services create: 3 on a three-node cluster.
    pub stream_replicas: u8,
    /// Processes per service, sharing its database and its durable consumers. The first is
    /// named after the service (`intake`), the others get a number (`intake-2`); each listens
    /// on a port of its own, and the system's clients talk to the first.
    pub replicas: usize,
}

impl Default for SystemOptions {
    fn default() -> Self {
        Self {
            database: Database::Sqlite,
            courier_failure_share: 0.1,
            keep_run_dir: false,
            extra_env: Vec::new(),
            partner_seed: 1,
            run_prefix: "system".into(),
            nats_urls: None,
            stream_replicas: 1,
            replicas: 1,
        }
    }
}

/// The running system. Dropping it kills every child process; [`System::stop`] stops them
/// gracefully instead.
pub struct System {
    // Field order is drop order: the processes go before the servers they talk to, and the
    // run folder goes last.
    processes: Vec<ServiceProcess>,
    nats: Option<NatsServer>,
    nats_urls: String,
    postgres: Option<Postgres>,
    database: Database,
    database_url: Option<String>,
    grpc_addrs: BTreeMap<Service, SocketAddr>,
    staff: LocalStaff,
    root: PathBuf,
    run_dir: RunDir,
}

impl System {
    /// Starts NATS, PostgreSQL when asked for, every service (waiting until each accepts
    /// gRPC connections) and then both simulators.
    ///
    /// Fails, with the tail of the service's log, if a service exits or is not ready within
    /// a minute; whatever was started by then is killed.
    pub async fn start(options: SystemOptions) -> Result<System> {
        validate(&options)?;
        let root = project_root()?;
        let mut run_dir = RunDir::new(&options.run_prefix)?;
        if options.keep_run_dir {
            run_dir.keep();
        }
        for folder in ["data", "logs", "records"] {
            let path = run_dir.path().join(folder);
            std::fs::create_dir_all(&path)
                .with_context(|| format!("create run folder {}", path.display()))?;
        }
        // A key of the run's own signs the staff tokens its tests and demo use.
        let item = residence_item::ServiceItem::load(&root.join("deploy/service-item.toml"))?;
        let staff = LocalStaff::create(run_dir.path(), &item.implementing_body.region_code)?;

        let (nats, nats_urls) = match &options.nats_urls {
            Some(urls) => (None, urls.clone()),
            None => {
                let nats_binary = ensure_nats_server(&root).await?;
                let nats = NatsServer::start(&nats_binary, &run_dir.path().join("nats")).await?;
                let url = nats.url();
                (Some(nats), url)
            }
        };

        let (postgres, database_url) = match options.database {
            Database::Sqlite => (None, None),
            Database::Postgres => {
                let postgres = Postgres::start(&run_dir.path().join("postgres")).await?;
                let url = postgres.create_database("residence").await?;
                (Some(postgres), Some(url))
            }
        };

        let ports = free_ports(Service::ALL.len());
        let grpc_addrs: BTreeMap<Service, SocketAddr> = Service::ALL
            .into_iter()
            .zip(ports)
            .map(|(service, port)| (service, SocketAddr::from(([127, 0, 0, 1], port))))
            .collect();

        let mut system = System {
            processes: Vec::new(),
            nats,
            nats_urls,
            postgres,
            database: options.database,
            database_url,
            grpc_addrs,
            staff,
            root,
            run_dir,
        };
        system.spawn_services(&options).await?;
        system.spawn_simulators(&options).await?;
        Ok(system)
    }

    /// Starts the first process of every service, then the further replicas, so that what a
    /// service makes on its first start (the e-license signing key) exists before they come.
    async fn spawn_services(&mut self, options: &SystemOptions) -> Result<()> {
        let specs = Service::ALL
            .into_iter()
            .map(|service| self.service_spec(service, options))
            .collect::<Result<Vec<_>>>()?;
        let started = try_join_all(specs.into_iter().map(ServiceProcess::spawn)).await?;
        self.processes.extend(started);

        for replica in 2..=options.replicas {
            let ports = free_ports(Service::ALL.len());
            let specs = Service::ALL
                .into_iter()
                .zip(ports)
                .map(|(service, port)| {
                    let mut spec = self.service_spec(service, options)?;
                    let addr = SocketAddr::from(([127, 0, 0, 1], port));
                    spec.name = replica_name(service, replica);
                    spec.args[1] = addr.to_string();
                    spec.log_file = self.log_file(&spec.name);
                    spec.ready_addr = Some(addr);
                    Ok(spec)
                })
                .collect::<Result<Vec<_>>>()?;
            let started = try_join_all(specs.into_iter().map(ServiceProcess::spawn)).await?;
            self.processes.extend(started);
        }
        Ok(())
    }

    fn service_spec(&self, service: Service, options: &SystemOptions) -> Result<ServiceSpec> {
        let deploy = self.root.join("deploy");
        // The first argument pair must stay the gRPC address: replicas replace it.
        let mut args = vec![
            "--grpc-addr".to_owned(),
            self.grpc_addr(service).to_string(),
            "--nats-url".to_owned(),
            self.nats_url(),
            "--stream-replicas".to_owned(),
            options.stream_replicas.to_string(),
            "--data-dir".to_owned(),
            path_arg(&self.data_dir()),
            "--service-item".to_owned(),
            path_arg(&deploy.join("service-item.toml")),
            "--calendar-dir".to_owned(),
            path_arg(&deploy.join("calendars")),
        ];
        if let Some(url) = &self.database_url {
            args.extend(["--database-url".to_owned(), url.clone()]);
        }
        // The courier serves no staff calls; every other service checks staff tokens.
        if service != Service::Courier {
            let keys = path_arg(self.staff.keys_dir());
            args.extend(["--staff-keys-dir".to_owned(), keys]);
        }
        // A port of its own for every process, replicas included, so none collide.
        let metrics_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let mut env = vec![(METRICS_ADDR_VARIABLE.to_owned(), metrics_addr.to_string())];
        env.extend(options.extra_env.iter().cloned());
        Ok(ServiceSpec {
            name: service.name().to_owned(),
            binary: binary_path(&service.binary())?,
            args,
            env,
            log_file: self.log_file(service.name()),
            ready_addr: Some(self.grpc_addr(service)),
        })
    }

    async fn spawn_simulators(&mut self, options: &SystemOptions) -> Result<()> {
        for simulator in Simulator::ALL {
            // One server is enough: the client learns the cluster's other nodes from it.
            let first_url = self
                .nats_url()
                .split(',')
                .next()
                .unwrap_or_default()
                .to_owned();
            let mut args = vec!["--nats-url".to_owned(), first_url];
            if simulator == Simulator::LogisticsPartner {
                args.extend([
                    "--partner".to_owned(),
                    "ems".to_owned(),
                    "--failure-share".to_owned(),
                    options.courier_failure_share.to_string(),
                    "--seed".to_owned(),
                    options.partner_seed.to_string(),
                ]);
            }
            if simulator == Simulator::ElicensePlatform {
                // The key document the e-license service wrote when it started.
                let keys = self.elicense_public_keys_file();
                args.extend(["--trusted-keys".to_owned(), path_arg(&keys)]);
            }
            args.extend([
                "--record-file".to_owned(),
                path_arg(&simulator.record_file(&self.records_dir())),
            ]);
            let spec = ServiceSpec {
                name: simulator.name().to_owned(),
                binary: binary_path(&simulator.binary())?,
                args,
                env: options.extra_env.clone(),
                log_file: self.log_file(simulator.name()),
                // Simulators serve nothing; they retry until the streams they use exist.
                ready_addr: None,
            };
            self.processes.push(ServiceProcess::spawn(spec).await?);
        }
        Ok(())
    }

    /// The run folder holding `data/`, `logs/`, `records/`, `nats/` and `postgres/`.
    pub fn run_dir(&self) -> &Path {
        self.run_dir.path()
    }

    /// Keeps the run folder after the system stops, for reading logs afterwards.
    pub fn keep_run_dir(&mut self) {
        self.run_dir.keep();
    }

    /// Whether the run folder will be left in place.
    pub fn is_run_dir_kept(&self) -> bool {
        self.run_dir.is_kept()
    }

    /// The services' data folder, `<run>/data`, where each SQLite file is `<service>.db`.
    pub fn data_dir(&self) -> PathBuf {
        self.run_dir().join("data")
    }

    /// The public key document the e-license service writes at start, in the data folder.
    pub fn elicense_public_keys_file(&self) -> PathBuf {
        self.data_dir().join("elicense-public-keys.json")
    }

    /// The simulators' record folder, `<run>/records`.
    pub fn records_dir(&self) -> PathBuf {
        self.run_dir().join("records")
    }

    /// The log file of the process named `name`: `<run>/logs/<name>.log`.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.run_dir().join("logs").join(format!("{name}.log"))
    }

    /// The project checkout the binaries and `deploy/` files come from.
    pub fn project_root(&self) -> &Path {
        &self.root
    }

    /// The NATS client URL; several, comma-separated, when the system uses a cluster.
    pub fn nats_url(&self) -> String {
        self.nats_urls.clone()
    }

    /// The NATS server, for tests that restart or kill it.
    ///
    /// # Panics
    ///
    /// If the system was started with [`SystemOptions::nats_urls`] and so has no server of
    /// its own.
    pub fn nats_server(&mut self) -> &mut NatsServer {
        self.nats
            .as_mut()
            .expect("the system uses NATS servers started elsewhere")
    }

    /// The names of `service`'s processes: `intake`, then `intake-2` and so on.
    pub fn replica_names(&self, service: Service) -> Vec<String> {
        let prefix = format!("{}-", service.name());
        self.processes
            .iter()
            .map(|p| p.name())
            .filter(|name| {
                *name == service.name()
                    || name
                        .strip_prefix(&prefix)
                        .is_some_and(|n| n.parse::<usize>().is_ok())
            })
            .map(str::to_owned)
            .collect()
    }

    /// Which database the services use.
    pub fn database(&self) -> Database {
        self.database
    }

    /// The PostgreSQL server, when the services use one.
    pub fn postgres(&self) -> Option<&Postgres> {
        self.postgres.as_ref()
    }

    /// The PostgreSQL server, for tests that restart it.
    pub fn postgres_mut(&mut self) -> Option<&mut Postgres> {
        self.postgres.as_mut()
    }

    /// The URL `service` keeps its state at: its SQLite file, or the shared PostgreSQL
    /// database, where its tables live in the schema named after it.
    pub fn database_url(&self, service: Service) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => {
                let file = self.data_dir().join(format!("{}.db", service.name()));
                format!("sqlite://{}", file.display())
            }
        }
    }

    /// The address of the metrics and health server (`/metrics`, `/healthz`, `/readyz`) of the
    /// process named `name` (a service's first process is named after it: `intake`).
    pub fn metrics_addr(&self, name: &str) -> Option<SocketAddr> {
        let spec = self.process(name)?.spec();
        let (_, addr) = spec
            .env
            .iter()
            .rev()
            .find(|(key, _)| key == METRICS_ADDR_VARIABLE)?;
        addr.parse().ok()
    }

    /// The gRPC address of `service`.
    pub fn grpc_addr(&self, service: Service) -> SocketAddr {
        self.grpc_addrs[&service]
    }

    /// The gRPC endpoint URL of `service`, `http://127.0.0.1:PORT`.
    pub fn grpc_url(&self, service: Service) -> String {
        format!("http://{}", self.grpc_addr(service))
    }

    /// A channel to `service`, connecting lazily on first use.
    pub fn channel(&self, service: Service) -> Result<Channel> {
        let endpoint = Endpoint::from_shared(self.grpc_url(service))
            .with_context(|| format!("{service} endpoint"))?;
        Ok(endpoint.connect_lazy())
    }

    /// A client of the intake service.
    pub fn intake_client(&self) -> Result<IntakeServiceClient<Channel>> {
        Ok(IntakeServiceClient::new(self.channel(Service::Intake)?))
    }

    /// A client of the review service, as a reviewer of the whole county (`reviewer-1`).
    pub fn review_client(&self) -> Result<ReviewServiceClient<StaffChannel>> {
        let bearer = self.staff.county_bearer(Role::Reviewer, "reviewer-1")?;
        Ok(ReviewServiceClient::new(
            self.staff_channel(Service::Review, bearer)?,
        ))
    }

    /// A client of the decision service, as the county's deciding officer (`officer-1`).
    pub fn decision_client(&self) -> Result<DecisionServiceClient<StaffChannel>> {
        let bearer = self.staff.county_bearer(Role::Decider, "officer-1")?;
        Ok(DecisionServiceClient::new(
            self.staff_channel(Service::Decision, bearer)?,
        ))
    }

    /// A client of the delivery service, as a window operator of the county (`clerk-1`).
    pub fn delivery_client(&self) -> Result<DeliveryServiceClient<StaffChannel>> {
        let bearer = self.staff.county_bearer(Role::Operator, "clerk-1")?;
        Ok(DeliveryServiceClient::new(
            self.staff_channel(Service::Delivery, bearer)?,
        ))
    }

    /// A client of supervision (served by intake), as a window operator of the county
    /// (`clerk-1`), who follows up dissatisfied ratings.
    pub fn supervision_client(&self) -> Result<SupervisionServiceClient<StaffChannel>> {
        let bearer = self.staff.county_bearer(Role::Operator, "clerk-1")?;
        Ok(SupervisionServiceClient::new(
            self.staff_channel(Service::Intake, bearer)?,
        ))
    }

    /// A client of the e-license service, as an operator of the county (`clerk-1`).
    pub fn elicense_client(&self) -> Result<ElicenseServiceClient<StaffChannel>> {
        let bearer = self.staff.county_bearer(Role::Operator, "clerk-1")?;
        Ok(ElicenseServiceClient::new(
            self.staff_channel(Service::Elicense, bearer)?,
        ))
    }

    /// A channel to `service` that sends `bearer` with every call: any client, as anyone.
    pub fn staff_channel(&self, service: Service, bearer: BearerToken) -> Result<StaffChannel> {
        crate::staff::channel(&self.grpc_url(service), bearer)
    }

    /// A staff token signed with the run's own key, which every service trusts: `subject` in
    /// `role` over `scope` (a town's 9-digit code or the county's 6).
    pub fn staff_token(&self, role: Role, scope: &str, subject: &str) -> Result<String> {
        self.staff.token(role, scope, subject)
    }

    /// [`System::staff_token`] written to a file (mode 0600) for the CLI's `--token-file`.
    pub fn staff_token_file(&self, role: Role, scope: &str, subject: &str) -> Result<PathBuf> {
        self.staff.token_file(role, scope, subject)
    }

    /// The county's division code, which staff tokens of this system are scoped within.
    pub fn county(&self) -> &str {
        self.staff.county()
    }

    /// Names of every child process: the services, then the simulators.
    pub fn process_names(&self) -> Vec<String> {
        self.processes.iter().map(|p| p.name().to_owned()).collect()
    }

    /// The child process named `name` (a [`Service`] or [`Simulator`] name).
    pub fn process(&self, name: &str) -> Option<&ServiceProcess> {
        self.processes.iter().find(|p| p.name() == name)
    }

    /// The child process named `name`, to kill or respawn it.
    pub fn process_mut(&mut self, name: &str) -> Option<&mut ServiceProcess> {
        self.processes.iter_mut().find(|p| p.name() == name)
    }

    /// Kills the process named `name` with SIGKILL, as a crash would.
    pub async fn kill(&mut self, name: &str) -> Result<()> {
        self.named(name)?.kill().await;
        Ok(())
    }

    /// Starts the process named `name` again with the same arguments and port, stopping it
    /// first if it still runs, and waits until it is ready.
    pub async fn respawn(&mut self, name: &str) -> Result<()> {
        self.named(name)?.respawn().await
    }

    fn named(&mut self, name: &str) -> Result<&mut ServiceProcess> {
        let known = self.process_names().join(", ");
        self.process_mut(name)
            .with_context(|| format!("no process named {name:?}; expected one of {known}"))
    }

    /// Names of the child processes that have exited, as far as this system knows.
    pub fn exited_processes(&mut self) -> Vec<String> {
        self.processes
            .iter_mut()
            .filter_map(|p| (!p.is_running()).then(|| p.name().to_owned()))
            .collect()
    }

    /// The last `lines` lines of the log of the process named `name`.
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        self.process(name)
            .map(|p| p.log_tail(lines))
            .unwrap_or_default()
    }

    /// Where the summary reads from: the services' databases and the simulators' records.
    pub fn summary_sources(&self) -> Sources {
        let databases = match &self.database_url {
            Some(url) => Databases::Postgres { url: url.clone() },
            None => Databases::Sqlite {
                data_dir: self.data_dir(),
            },
        };
        Sources {
            databases,
            records_dir: self.records_dir(),
        }
    }

    /// Counts what the services and simulators recorded so far; see [`Summary::collect`].
    pub async fn summary(&self) -> Summary {
        Summary::collect(&self.summary_sources()).await
    }

    /// Stops every service and simulator with SIGTERM (SIGKILL after a grace period), all at
    /// once, keeping NATS and PostgreSQL running so their state can still be read.
    pub async fn stop_processes(&mut self) -> Result<()> {
        let stopped = futures::future::join_all(self.processes.iter_mut().map(|p| p.stop()));
        let errors: Vec<String> = stopped
            .await
            .into_iter()
            .filter_map(|result| result.err().map(|error| format!("{error:#}")))
            .collect();
        if !errors.is_empty() {
            bail!("could not stop every process: {}", errors.join("; "));
        }
        Ok(())
    }

    /// Stops every process gracefully, then NATS, then PostgreSQL; the run folder is removed
    /// unless it is kept.
    pub async fn stop(mut self) -> Result<()> {
        let stopped = self.stop_processes().await;
        if let Some(nats) = &mut self.nats {
            nats.stop().await;
        }
        if let Some(postgres) = &mut self.postgres {
            postgres.stop().await;
        }
        stopped
    }
}

fn validate(options: &SystemOptions) -> Result<()> {
    let share = options.courier_failure_share;
    if !(0.0..=1.0).contains(&share) {
        bail!("courier_failure_share must be between 0.0 and 1.0, got {share}");
    }
    if options.replicas == 0 {
        bail!("replicas must be at least 1");
    }
    // SQLite files are shared safely by processes on one machine only; replicas are meant to
    // show what a deployment over several machines does, which needs PostgreSQL.
    if options.replicas > 1 && options.database != Database::Postgres {
        bail!("replicas need database Postgres, got {}", options.database);
    }
    Ok(())
}

/// The process name of `service`'s replica number `replica`, counted from 1.
fn replica_name(service: Service, replica: usize) -> String {
    if replica == 1 {
        service.name().to_owned()
    } else {
        format!("{}-{replica}", service.name())
    }
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

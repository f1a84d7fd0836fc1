//! Starts real infrastructure (NATS with JetStream, PostgreSQL) and the workspace's service
//! binaries for the operator demo and the integration tests, and cleans up after them.
//!
//! Works unprivileged and as root; as root, PostgreSQL runs as the `postgres` system user.

mod nats;
mod nats_cluster;
mod nats_config;
mod net;
mod paths;
mod postgres;
mod process;
mod run_dir;
mod service;

pub use nats::{NatsServer, ensure_nats_server};
pub use nats_cluster::{CLUSTER_CONFIGS, ClusterNode, NatsCluster};
pub use nats_config::ConfiguredNatsServer;
pub use net::{free_port, free_ports, wait_for_tcp};
pub use paths::{binary_path, project_root};
pub use postgres::Postgres;
pub use run_dir::RunDir;
pub use service::{ServiceProcess, ServiceSpec};

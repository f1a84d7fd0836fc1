//! What every service does at start and at its edges: configuration, telemetry, the database
//! connection, the NATS connection, the gRPC server with health and reflection, request
//! validation and graceful shutdown.

pub mod config;
pub mod database;
pub mod grpc;
pub mod messaging;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod validate;

pub use config::CommonArgs;

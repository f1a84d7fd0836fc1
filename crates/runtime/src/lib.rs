//! What every service does at start and at its edges: configuration, telemetry, the database
//! connection, the NATS connection, the gRPC server with health and reflection, traced and
//! counted calls, metrics and readiness over HTTP, the reloadable holiday calendar, request
//! validation and graceful shutdown.

pub mod accept;
pub mod calendar;
pub mod calls;
pub mod config;
pub mod config_file;
pub mod database;
pub mod grpc;
pub mod health;
pub mod messaging;
pub mod sampling;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod validate;

pub use calendar::SharedCalendar;
pub use config::CommonArgs;
pub use service::Service;

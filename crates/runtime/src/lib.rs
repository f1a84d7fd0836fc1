//! What every service does at start and at its edges: configuration, telemetry, the database
//! connection, the NATS connection, the gRPC server with health and reflection, the reloadable
//! holiday calendar, request validation and graceful shutdown.

pub mod calendar;
pub mod config;
pub mod database;
pub mod grpc;
pub mod messaging;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod time;
pub mod validate;

pub use calendar::SharedCalendar;
pub use config::CommonArgs;
pub use service::Service;

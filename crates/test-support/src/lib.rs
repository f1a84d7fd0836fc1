//! What the services' integration tests share: staff tokens the services accept, events
//! handed straight to a handler, fresh migrated databases, and a real nats-server with
//! JetStream to run consumers against. Used by tests only, never by a service.

pub mod background;
pub mod broker;
pub mod database;
pub mod event;
pub mod fixtures;
pub mod records;
pub mod staff;
pub mod wait;

pub use background::Background;
pub use broker::Broker;
pub use event::incoming;
pub use wait::{DEADLINE, wait_until};

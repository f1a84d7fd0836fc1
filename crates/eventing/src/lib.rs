//! Reliable eventing over NATS JetStream: a transactional outbox and its relay, idempotent
//! consumers with an inbox, the CloudEvents envelope with trace context, and dead-lettering.
//!
//! Every service uses the same parts, so a handler always reads the same way: decode, claim the
//! event in the inbox, change state and enqueue new events in one transaction, then ack.

pub mod consumer;
pub mod db;
pub mod deadletter;
pub mod entity;
pub mod envelope;
mod metrics;
pub mod migration;
pub mod outbox;
pub mod relay;
pub mod resend;
pub mod streams;
pub mod trace;

pub use consumer::{ConsumerSpec, Handler, Incoming, Outcome, run_consumer};
pub use envelope::Envelope;
pub use outbox::{OutboxWriter, enqueue};
pub use relay::{Relay, RelayHandle};

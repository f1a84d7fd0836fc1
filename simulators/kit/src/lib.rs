//! What the partner simulators share: the durable consumer loop and its ack decision, reading
//! partner messages and publishing answers, the record file, stable shares, and start-up.
//!
//! Each simulator keeps only its partner: its flags, its feed and how it answers one message.

mod connection;
mod consumer;
mod message;
mod record;
mod share;
mod startup;
#[cfg(feature = "testing")]
pub mod testing;

pub use connection::{Connection, Credentials, DEFAULT_API_PREFIX, Login};
pub use consumer::{Binding, Delivery, Feed, Handler, Outcome, report_progress};
pub use message::{check_key, check_schema, decode, publish_answer};
pub use record::Recorder;
pub use share::StableShare;
pub use startup::{parse_code, parse_share, run_until_signal};

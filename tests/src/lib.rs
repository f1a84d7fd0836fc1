//! Helpers for the tests across services: the partner contract in `deploy/asyncapi.yaml`,
//! checked as an AsyncAPI 3.0 document; the messages the system published, read back and
//! checked against it; and starting, waiting on and stopping the whole system for a test.

pub mod asyncapi;
pub mod capture;
pub mod system;

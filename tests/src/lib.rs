//! Helpers for the tests across services: the partner contract in `deploy/asyncapi.yaml`,
//! checked as an AsyncAPI 3.0 document, and the messages the system published, read back and
//! checked against it.

pub mod asyncapi;
pub mod capture;

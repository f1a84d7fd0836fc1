//! The e-license service's tests, one binary: the handlers, the acknowledgement watch and the
//! API against a real SQLite database with time moved on by hand (`handlers`), and the
//! service's background work against a real nats-server with the platform simulator on the
//! other side (`platform`), and the upgrade of a database made before licenses were signed
//! (`upgrade`). The harness is in `app`.

mod app;
mod handlers;
mod platform;
mod upgrade;

//! The decision service's tests, one binary: reversing an approval through the API
//! (`reversal`) and withdrawing cases (`withdrawal`) against a real SQLite database with events
//! handed to the handlers directly, and the same against real PostgreSQL and nats-server
//! processes, where writers overlap (`broker`). The harness is in `app`.

mod app;
mod broker;
mod reversal;
mod withdrawal;

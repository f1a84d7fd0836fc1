//! The review service's tests, one binary: the handlers and the manual review API against a
//! real SQLite database, events handed to the handlers directly (`withdrawal`). The harness is
//! in `app`.

mod app;
mod withdrawal;

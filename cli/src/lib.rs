//! The operator CLI `residence`: evaluates the domain rules on JSON lines, starts the whole
//! system on one machine and drives it with synthetic applications to show and measure it,
//! inspects and replays dead-lettered events, and verifies and exports electronic licenses; for
//! staff it issues tokens, works the manual review queue and the deciding officer's desk, reports
//! on time limits and ratings and closes rating follow-ups, withdraws and rates cases at an
//! applicant's request, and checks the audit trails.
//!
//! The [`system`], [`synthetic`] and [`summary`] modules also serve the cross-service tests.

pub mod applicant;
pub mod audit;
pub mod bench;
pub mod cli;
pub mod config;
pub mod demo;
pub mod desk;
pub mod dlq;
pub mod license;
pub mod rules;
pub mod staff;
pub mod summary;
pub mod supervision;
pub mod synthetic;
pub mod system;

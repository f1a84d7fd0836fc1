//! Domain rules for 居住证签注 (residence-permit endorsement): identity numbers, masking, the
//! working-day calendar, endorsement windows, address changes and required materials.
//! Pure functions only: no I/O and no clock, so today's date is always an argument.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        reason = "rules run on untrusted input and must never panic"
    )
)]

pub mod address_change;
pub mod calendar;
pub mod check_character;
pub mod clock;
mod dates;
pub mod endorsement;
pub mod eval;
pub mod id_number;
pub mod mask;
pub mod materials;

pub use calendar::{Calendar, CalendarError, DueDate, YearSchedule};
pub use clock::{Clock, LimitKind};
pub use endorsement::{AgentPolicy, PermitKind, Refusal, Switches};
pub use id_number::{HolderKind, IdNumber, IdNumberError, Sex};
pub use mask::{mask_id_number, mask_id_numbers};

//! Parcels, free of storage: their references and how a partner's reports move them.

/// The waybill request is in the outbox or with the partner, not yet confirmed.
pub const REQUESTED: &str = "requested";
/// The partner accepted the waybill.
pub const ACCEPTED: &str = "accepted";
/// The partner collected the parcel from the sender.
pub const PICKED_UP: &str = "picked_up";
/// On its way.
pub const IN_TRANSIT: &str = "in_transit";
/// Signed for by the recipient. Terminal.
pub const DELIVERED: &str = "delivered";
/// The partner could not deliver. Terminal.
pub const FAILED: &str = "failed";
/// The partner sent the parcel back to the sender. Terminal.
pub const RETURNED: &str = "returned";

/// Prefix of every parcel reference.
const REFERENCE_PREFIX: &str = "XP";
/// Random characters after the prefix: 36^12 ≈ 4.7 × 10^18 references.
const REFERENCE_LENGTH: usize = 12;
const BASE36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A fresh parcel reference, `XP` and 12 upper-case letters or digits. It is random rather
/// than derived from the case, so a partner learns nothing about the case from it.
pub fn new_reference() -> String {
    let mut value = uuid::Uuid::new_v4().as_u128();
    let mut reference = String::with_capacity(REFERENCE_PREFIX.len() + REFERENCE_LENGTH);
    reference.push_str(REFERENCE_PREFIX);
    for _ in 0..REFERENCE_LENGTH {
        let digit = (value % 36) as usize;
        reference.push(char::from(BASE36[digit]));
        value /= 36;
    }
    reference
}

/// Whether a parcel in `state` will never move again.
pub fn is_terminal(state: &str) -> bool {
    matches!(state, DELIVERED | FAILED | RETURNED)
}

/// How far along a parcel in `state` is; every terminal state is as far as it gets.
fn progress(state: &str) -> Option<u8> {
    match state {
        REQUESTED => Some(0),
        ACCEPTED => Some(1),
        PICKED_UP => Some(2),
        IN_TRANSIT => Some(3),
        DELIVERED | FAILED | RETURNED => Some(4),
        _ => None,
    }
}

/// Whether a report of `reported` moves a parcel that is in `current`. Reports may arrive
/// late, twice or out of order: only a report further along than the current state counts,
/// and a terminal state is never left.
pub fn moves(current: &str, reported: &str) -> bool {
    if is_terminal(current) {
        return false;
    }
    match (progress(current), progress(reported)) {
        (Some(current), Some(reported)) => reported > current,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_prefixed_random_base36() {
        let reference = new_reference();
        assert_eq!(reference.len(), 14);
        assert!(reference.starts_with("XP"));
        assert!(
            reference[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        );
        let others: std::collections::HashSet<String> =
            (0..1000).map(|_| new_reference()).collect();
        assert_eq!(others.len(), 1000);
    }

    #[test]
    fn reports_move_parcels_forward_only() {
        assert!(moves(REQUESTED, ACCEPTED));
        assert!(moves(REQUESTED, DELIVERED));
        assert!(moves(ACCEPTED, IN_TRANSIT));
        assert!(moves(IN_TRANSIT, FAILED));
        assert!(moves(PICKED_UP, RETURNED));
        assert!(
            !moves(IN_TRANSIT, PICKED_UP),
            "a late report changes nothing"
        );
        assert!(!moves(PICKED_UP, PICKED_UP), "a duplicate changes nothing");
        assert!(!moves(REQUESTED, "lost"));
    }

    #[test]
    fn terminal_states_are_never_left() {
        for terminal in [DELIVERED, FAILED, RETURNED] {
            assert!(is_terminal(terminal));
            for next in [ACCEPTED, PICKED_UP, IN_TRANSIT, DELIVERED, FAILED, RETURNED] {
                assert!(!moves(terminal, next), "{terminal} -> {next}");
            }
        }
        assert!(!is_terminal(IN_TRANSIT));
    }
}

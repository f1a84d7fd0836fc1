//! Which parcels fail, and why: a pure function of the seed and the parcel reference, so a
//! request delivered again gets the same answer, even after a restart.

/// Reasons a courier gives when it cannot deliver (投递失败原因).
const FAILURE_REASONS: &[&str] = &[
    "收件人电话无法接通，三次投递失败",
    "收件地址不详，无法投递",
    "收件人拒收",
    "收件人长期不在，超过保管期限",
];

/// Mixed into the seed when picking a reason, so the reason does not follow the fail decision.
const REASON_SALT: u64 = 0x5245_4153_4f4e;

/// How a parcel's delivery ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Handed to the recipient.
    Delivered,
    /// Not delivered, with the courier's reason.
    Failed(&'static str),
}

/// The failure share and seed that decide each parcel's [`Ending`].
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    failure_share: f64,
    seed: u64,
}

impl Plan {
    /// A plan that fails about `failure_share` (0.0 to 1.0) of all parcels.
    pub(crate) fn new(failure_share: f64, seed: u64) -> Self {
        Self {
            failure_share,
            seed,
        }
    }

    /// The ending of the parcel with this reference; always the same for the same reference.
    pub(crate) fn ending(&self, parcel_reference: &str) -> Ending {
        if unit_interval(self.seed, parcel_reference) >= self.failure_share {
            return Ending::Delivered;
        }
        let pick = unit_interval(self.seed ^ REASON_SALT, parcel_reference);
        let index = (pick * FAILURE_REASONS.len() as f64) as usize;
        Ending::Failed(FAILURE_REASONS[index.min(FAILURE_REASONS.len() - 1)])
    }
}

/// Maps `(seed, key)` to a number in `[0, 1)`, evenly spread and stable across releases.
///
/// FNV-1a over the key, started from the seed, followed by the SplitMix64 finaliser so that
/// keys differing only in their last character still land far apart.
fn unit_interval(seed: u64, key: &str) -> f64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0100_0000_01b3;

    let mut hash = FNV_OFFSET ^ seed;
    for byte in key.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^= hash >> 31;

    // The top 53 bits fill an f64 mantissa exactly.
    (hash >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references() -> impl Iterator<Item = String> {
        (0..10_000).map(|n| format!("XP-2026-{n:06}"))
    }

    #[test]
    fn the_same_parcel_always_ends_the_same_way() {
        let plan = Plan::new(0.5, 42);
        for reference in references().take(200) {
            assert_eq!(
                plan.ending(&reference),
                Plan::new(0.5, 42).ending(&reference)
            );
        }
    }

    #[test]
    fn shares_of_zero_and_one_are_exact() {
        let never = Plan::new(0.0, 1);
        let always = Plan::new(1.0, 1);
        for reference in references().take(1_000) {
            assert_eq!(never.ending(&reference), Ending::Delivered);
            assert!(matches!(always.ending(&reference), Ending::Failed(_)));
        }
    }

    #[test]
    fn about_the_requested_share_fails() {
        let plan = Plan::new(0.1, 7);
        let failed = references()
            .filter(|reference| plan.ending(reference) != Ending::Delivered)
            .count();
        assert!((800..=1_200).contains(&failed), "{failed} of 10000 failed");
    }

    #[test]
    fn the_seed_changes_which_parcels_fail() {
        let first = Plan::new(0.5, 1);
        let second = Plan::new(0.5, 2);
        let differing = references()
            .take(1_000)
            .filter(|reference| first.ending(reference) != second.ending(reference))
            .count();
        assert!(differing > 300, "only {differing} of 1000 endings changed");
    }

    #[test]
    fn every_reason_gets_used() {
        let plan = Plan::new(1.0, 3);
        for reason in FAILURE_REASONS {
            let used =
                references().any(|reference| plan.ending(&reference) == Ending::Failed(reason));
            assert!(used, "{reason} never chosen");
        }
    }
}

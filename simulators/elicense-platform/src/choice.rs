//! Which licenses the platform rejects, and why: a pure function of the license identifier, so
//! a license delivered again gets the same answer, even after a restart.

/// Reasons a platform gives when it will not register a license (不予入库原因).
const REJECTION_REASONS: &[&str] = &[
    "持证人身份信息核验未通过",
    "证照类型代码未在平台目录中登记",
    "签发机构代码与证照目录不一致",
];

/// Mixed into the key when picking a reason, so the reason does not follow the verdict.
const REASON_SALT: u64 = 0x5245_4153_4f4e;

/// The platform's answer to one license.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Registered.
    Accepted,
    /// Not registered, with the platform's reason.
    Rejected(&'static str),
}

/// The share of licenses to reject.
#[derive(Clone, Debug)]
pub(crate) struct Rejections {
    share: f64,
}

impl Rejections {
    /// Rejects about `share` (0.0 to 1.0) of all licenses.
    pub(crate) fn new(share: f64) -> Self {
        Self { share }
    }

    /// The verdict on the license with this identifier; always the same for the same one.
    pub(crate) fn verdict(&self, identifier: &str) -> Verdict {
        if unit_interval(0, identifier) >= self.share {
            return Verdict::Accepted;
        }
        let pick = unit_interval(REASON_SALT, identifier);
        let index = (pick * REJECTION_REASONS.len() as f64) as usize;
        Verdict::Rejected(REJECTION_REASONS[index.min(REJECTION_REASONS.len() - 1)])
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

    fn identifiers() -> impl Iterator<Item = String> {
        (0..10_000).map(|n| format!("1.2.156.3005.2.11100000000000000.411721.{n:08}.001.X"))
    }

    #[test]
    fn the_same_license_always_gets_the_same_verdict() {
        let rejections = Rejections::new(0.5);
        for identifier in identifiers().take(200) {
            let again = Rejections::new(0.5).verdict(&identifier);
            assert_eq!(rejections.verdict(&identifier), again);
        }
    }

    #[test]
    fn shares_of_zero_and_one_are_exact() {
        for identifier in identifiers().take(1_000) {
            assert_eq!(Rejections::new(0.0).verdict(&identifier), Verdict::Accepted);
            let verdict = Rejections::new(1.0).verdict(&identifier);
            assert!(matches!(verdict, Verdict::Rejected(_)));
        }
    }

    #[test]
    fn about_the_requested_share_is_rejected() {
        let rejections = Rejections::new(0.2);
        let rejected = identifiers()
            .filter(|identifier| rejections.verdict(identifier) != Verdict::Accepted)
            .count();
        assert!(
            (1_800..=2_200).contains(&rejected),
            "{rejected} of 10000 rejected"
        );
    }
}

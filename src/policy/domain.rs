//! The payout rule, as a pure function.

use serde::{Deserialize, Serialize};

/// A version of the policy. Ratios are basis points (10000 = 100%) per hospital level 0–3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub version: i64,
    pub ratios_bp: [i64; 4],
    pub deductible_cents: i64,
    pub annual_cap_cents: i64,
}

impl Policy {
    /// The ratio for a hospital level (0 unrated, 1–3).
    pub fn ratio_bp(&self, level: i64) -> i64 {
        self.ratios_bp[level.clamp(0, 3) as usize]
    }
}

/// What the student has already used in the coverage year, from earlier approved cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct YearUsage {
    pub deductible_used_cents: i64,
    pub paid_cents: i64,
}

/// The payout, explained line by line so nobody has to ask the office why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayoutBreakdown {
    pub policy_version: i64,
    /// Sum of the covered parts (total − self-paid) of the approved invoices.
    pub covered_cents: i64,
    /// Deductible still open this year before this case.
    pub deductible_left_cents: i64,
    /// Deductible this case consumes.
    pub deductible_used_cents: i64,
    /// Covered sum after the deductible.
    pub reimbursable_cents: i64,
    pub ratio_bp: i64,
    /// reimbursable × ratio, rounded half-up to the cent.
    pub after_ratio_cents: i64,
    /// Cap still open this year before this case.
    pub cap_left_cents: i64,
    /// True when the cap cut the payout.
    pub cap_applied: bool,
    pub payout_cents: i64,
}

/// SPEC §4 rule 7: covered sum, minus what is left of the year's deductible, times the ratio
/// of the hospital level (rounded half-up to the cent), capped by what is left of the year's
/// cap. Never negative; never above the covered sum or the cap left.
pub fn compute_payout(
    policy: &Policy,
    hospital_level: i64,
    covered_cents: i64,
    usage: YearUsage,
) -> PayoutBreakdown {
    let covered = covered_cents.max(0);
    let deductible_left = (policy.deductible_cents - usage.deductible_used_cents).max(0);
    let deductible_used = deductible_left.min(covered);
    let reimbursable = covered - deductible_used;
    let ratio = policy.ratio_bp(hospital_level).clamp(0, 10_000);
    // i128: no overflow for any i64 amount; +5000 then floor = half-up for non-negative values.
    let after_ratio = ((reimbursable as i128 * ratio as i128 + 5_000) / 10_000) as i64;
    let cap_left = (policy.annual_cap_cents - usage.paid_cents).max(0);
    let payout = after_ratio.min(cap_left);
    PayoutBreakdown {
        policy_version: policy.version,
        covered_cents: covered,
        deductible_left_cents: deductible_left,
        deductible_used_cents: deductible_used,
        reimbursable_cents: reimbursable,
        ratio_bp: ratio,
        after_ratio_cents: after_ratio,
        cap_left_cents: cap_left,
        cap_applied: payout < after_ratio,
        payout_cents: payout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            version: 3,
            ratios_bp: [7000, 9000, 8500, 8000],
            deductible_cents: 20_000,
            annual_cap_cents: 5_000_000,
        }
    }

    /// Hand-computed examples.
    #[test]
    fn examples() {
        let p = policy();
        let none = YearUsage::default();
        // 1000.00 covered at a level-3 hospital: (1000 − 200) × 80% = 640.00
        assert_eq!(compute_payout(&p, 3, 100_000, none).payout_cents, 64_000);
        // Below the deductible: nothing, deductible partly used.
        let b = compute_payout(&p, 1, 15_000, none);
        assert_eq!((b.payout_cents, b.deductible_used_cents), (0, 15_000));
        // Deductible already used up by an earlier case: 100.00 × 90% = 90.00
        let used = YearUsage {
            deductible_used_cents: 20_000,
            paid_cents: 0,
        };
        assert_eq!(compute_payout(&p, 1, 10_000, used).payout_cents, 9_000);
        // Half-up at the cent: 0.05 × 85% = 0.0425 → 0.04; 0.07 × 85% = 0.0595 → 0.06
        assert_eq!(compute_payout(&p, 2, 5, used).payout_cents, 4);
        assert_eq!(compute_payout(&p, 2, 7, used).payout_cents, 6);
        // Exactly half a cent rounds up: 0.01 × 50% = 0.005 → 0.01
        let half = Policy {
            ratios_bp: [5000; 4],
            ..policy()
        };
        assert_eq!(compute_payout(&half, 0, 1, used).payout_cents, 1);
        // Cap: 49,990.00 already paid, 10 left.
        let near_cap = YearUsage {
            deductible_used_cents: 20_000,
            paid_cents: 4_999_000,
        };
        let b = compute_payout(&p, 3, 100_000, near_cap);
        assert_eq!((b.payout_cents, b.cap_applied), (1_000, true));
        // Unrated hospital (level 0) uses its own ratio: (500 − 200) × 70% = 210.00
        assert_eq!(compute_payout(&p, 0, 50_000, none).payout_cents, 21_000);
    }

    /// Property checks over a deterministic pseudo-random sample (no extra dependency).
    #[test]
    fn properties_hold() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |m: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % (m as u64)) as i64
        };
        for _ in 0..200_000 {
            let p = Policy {
                version: 1,
                ratios_bp: [next(10_001), next(10_001), next(10_001), next(10_001)],
                deductible_cents: next(100_000),
                annual_cap_cents: next(10_000_000),
            };
            let usage = YearUsage {
                deductible_used_cents: next(150_000),
                paid_cents: next(12_000_000),
            };
            let covered = next(5_000_000);
            let level = next(4);
            let b = compute_payout(&p, level, covered, usage);
            assert!(b.payout_cents >= 0);
            assert!(b.payout_cents <= covered);
            assert!(b.payout_cents <= (p.annual_cap_cents - usage.paid_cents).max(0));
            assert!(b.deductible_used_cents <= b.deductible_left_cents);
            // Half-up: the exact value is within half a cent of the result (unless capped).
            if !b.cap_applied {
                let exact_x2 = 2 * b.reimbursable_cents as i128 * b.ratio_bp as i128;
                let got_x2 = 2 * b.payout_cents as i128 * 10_000;
                assert!(
                    got_x2 - exact_x2 <= 10_000 && exact_x2 - got_x2 < 10_000,
                    "{b:?}"
                );
            }
        }
    }
}

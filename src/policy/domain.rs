//! The payout rule, as a pure function.

use serde::{Deserialize, Serialize};

use crate::money::Cents;

/// A version of the policy. Ratios are basis points (10000 = 100%) per hospital level 0–3.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub version: i64,
    pub ratios_bp: [i64; 4],
    pub deductible_cents: Cents,
    pub annual_cap_cents: Cents,
}

impl Policy {
    /// The ratio for a hospital level.
    pub fn ratio_bp(&self, level: HospitalLevel) -> i64 {
        self.ratios_bp[level.index()]
    }
}

/// A hospital's level (医院等级): 0 unrated, 1–3 for 一级, 二级, 三级. The bare number on the wire
/// and in the database; any other number read from a row is a decoding error, never a guess.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(into = "i64", try_from = "i64")]
#[schema(value_type = i64, minimum = 0, maximum = 3)]
pub struct HospitalLevel(u8);

impl HospitalLevel {
    pub const UNRATED: HospitalLevel = HospitalLevel(0);

    /// The level for a number 0–3.
    pub fn new(level: i64) -> Option<HospitalLevel> {
        (0..=3)
            .contains(&level)
            .then_some(HospitalLevel(level as u8))
    }

    pub const fn get(self) -> i64 {
        self.0 as i64
    }

    fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl From<HospitalLevel> for i64 {
    fn from(level: HospitalLevel) -> i64 {
        level.get()
    }
}

impl TryFrom<i64> for HospitalLevel {
    type Error = String;
    fn try_from(level: i64) -> Result<HospitalLevel, String> {
        HospitalLevel::new(level).ok_or_else(|| format!("unknown hospital level {level}"))
    }
}

impl std::fmt::Display for HospitalLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl sqlx::Type<sqlx::Any> for HospitalLevel {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <i64 as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Any> for HospitalLevel {
    fn decode(value: sqlx::any::AnyValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let level = <i64 as sqlx::Decode<sqlx::Any>>::decode(value)?;
        Ok(HospitalLevel::try_from(level)?)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Any> for HospitalLevel {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i64 as sqlx::Encode<sqlx::Any>>::encode(self.get(), buf)
    }
}

/// What the student has already used in the coverage year, from earlier approved cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct YearUsage {
    pub deductible_used_cents: Cents,
    pub paid_cents: Cents,
}

/// The payout, explained line by line so nobody has to ask the office why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PayoutBreakdown {
    pub policy_version: i64,
    /// Sum of the covered parts (total − self-paid) of the approved invoices.
    pub covered_cents: Cents,
    /// Deductible still open this year before this case.
    pub deductible_left_cents: Cents,
    /// Deductible this case consumes.
    pub deductible_used_cents: Cents,
    /// Covered sum after the deductible.
    pub reimbursable_cents: Cents,
    pub ratio_bp: i64,
    /// reimbursable × ratio, rounded half-up to the cent.
    pub after_ratio_cents: Cents,
    /// Cap still open this year before this case.
    pub cap_left_cents: Cents,
    /// True when the cap cut the payout.
    pub cap_applied: bool,
    pub payout_cents: Cents,
}

/// SPEC §4 rule 7: covered sum, minus what is left of the year's deductible, times the ratio
/// of the hospital level (rounded half-up to the cent), capped by what is left of the year's
/// cap. Never negative; never above the covered sum or the cap left.
pub fn compute_payout(
    policy: &Policy,
    hospital_level: HospitalLevel,
    covered_cents: Cents,
    usage: YearUsage,
) -> PayoutBreakdown {
    let covered = covered_cents.max(Cents::ZERO);
    let deductible_left = (policy.deductible_cents - usage.deductible_used_cents).max(Cents::ZERO);
    let deductible_used = deductible_left.min(covered);
    let reimbursable = covered - deductible_used;
    let ratio = policy.ratio_bp(hospital_level).clamp(0, 10_000);
    // A ratio of at most 100% of a non-negative amount always fits.
    let after_ratio = reimbursable
        .checked_mul_bp(ratio)
        .expect("a ratio of at most 100% fits");
    let cap_left = (policy.annual_cap_cents - usage.paid_cents).max(Cents::ZERO);
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

    fn lvl(n: i64) -> HospitalLevel {
        HospitalLevel::new(n).unwrap()
    }

    fn policy() -> Policy {
        Policy {
            version: 3,
            ratios_bp: [7000, 9000, 8500, 8000],
            deductible_cents: Cents::new(20_000),
            annual_cap_cents: Cents::new(5_000_000),
        }
    }

    /// Hand-computed examples.
    #[test]
    fn examples() {
        let p = policy();
        let none = YearUsage::default();
        // 1000.00 covered at a level-3 hospital: (1000 − 200) × 80% = 640.00
        assert_eq!(
            compute_payout(&p, lvl(3), Cents::new(100_000), none)
                .payout_cents
                .get(),
            64_000
        );
        // Below the deductible: nothing, deductible partly used.
        let b = compute_payout(&p, lvl(1), Cents::new(15_000), none);
        assert_eq!(
            (b.payout_cents.get(), b.deductible_used_cents.get()),
            (0, 15_000)
        );
        // Deductible already used up by an earlier case: 100.00 × 90% = 90.00
        let used = YearUsage {
            deductible_used_cents: Cents::new(20_000),
            paid_cents: Cents::new(0),
        };
        assert_eq!(
            compute_payout(&p, lvl(1), Cents::new(10_000), used)
                .payout_cents
                .get(),
            9_000
        );
        // Half-up at the cent: 0.05 × 85% = 0.0425 → 0.04; 0.07 × 85% = 0.0595 → 0.06
        assert_eq!(
            compute_payout(&p, lvl(2), Cents::new(5), used)
                .payout_cents
                .get(),
            4
        );
        assert_eq!(
            compute_payout(&p, lvl(2), Cents::new(7), used)
                .payout_cents
                .get(),
            6
        );
        // Exactly half a cent rounds up: 0.01 × 50% = 0.005 → 0.01
        let half = Policy {
            ratios_bp: [5000; 4],
            ..policy()
        };
        assert_eq!(
            compute_payout(&half, lvl(0), Cents::new(1), used)
                .payout_cents
                .get(),
            1
        );
        // Cap: 49,990.00 already paid, 10 left.
        let near_cap = YearUsage {
            deductible_used_cents: Cents::new(20_000),
            paid_cents: Cents::new(4_999_000),
        };
        let b = compute_payout(&p, lvl(3), Cents::new(100_000), near_cap);
        assert_eq!((b.payout_cents.get(), b.cap_applied), (1_000, true));
        // Unrated hospital (level 0) uses its own ratio: (500 − 200) × 70% = 210.00
        assert_eq!(
            compute_payout(&p, lvl(0), Cents::new(50_000), none)
                .payout_cents
                .get(),
            21_000
        );
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
                deductible_cents: Cents::new(next(100_000)),
                annual_cap_cents: Cents::new(next(10_000_000)),
            };
            let usage = YearUsage {
                deductible_used_cents: Cents::new(next(150_000)),
                paid_cents: Cents::new(next(12_000_000)),
            };
            let covered = next(5_000_000);
            let level = lvl(next(4));
            let b = compute_payout(&p, level, Cents::new(covered), usage);
            assert!(!b.payout_cents.is_negative());
            assert!(b.payout_cents <= Cents::new(covered));
            assert!(b.payout_cents <= (p.annual_cap_cents - usage.paid_cents).max(Cents::ZERO));
            assert!(b.deductible_used_cents <= b.deductible_left_cents);
            // Half-up: the exact value is within half a cent of the result (unless capped).
            if !b.cap_applied {
                let exact_x2 = 2 * b.reimbursable_cents.get() as i128 * b.ratio_bp as i128;
                let got_x2 = 2 * b.payout_cents.get() as i128 * 10_000;
                assert!(
                    got_x2 - exact_x2 <= 10_000 && exact_x2 - got_x2 < 10_000,
                    "{b:?}"
                );
            }
        }
    }
}

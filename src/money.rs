//! Money as integer cents (分), with the one yuan formatter and the one yuan parser.
//!
//! Plumbing: imports no bounded context. On the wire and in the database a `Cents` is the bare
//! integer it wraps (serde, sqlx and utoipa see an `i64`); only people see yuan (`12.34`).
//! Arithmetic that could overflow is checked: `checked_*` answer `None`, and the operators
//! (`+`, `-`) panic instead of wrapping, so an overflow is never silent.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An amount of money in cents (1/100 yuan). May be negative (a difference, a refund).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[sqlx(transparent)]
#[schema(value_type = i64, format = Int64)]
pub struct Cents(i64);

/// Why a yuan text is not an amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("not a plain decimal number")]
    NotDecimal,
    #[error("more than 2 decimals")]
    TooManyDecimals,
    #[error("must not be negative")]
    Negative,
    #[error("too large")]
    TooLarge,
}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    pub const fn new(cents: i64) -> Cents {
        Cents(cents)
    }

    /// The whole number of cents.
    pub const fn get(self) -> i64 {
        self.0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }

    pub fn checked_sub(self, other: Cents) -> Option<Cents> {
        self.0.checked_sub(other.0).map(Cents)
    }

    /// `self × bp / 10 000` (a ratio in basis points), rounded half-up to the cent (half away
    /// from zero for negative amounts). `None` when the result does not fit.
    pub fn checked_mul_bp(self, bp: i64) -> Option<Cents> {
        let exact = self.0 as i128 * bp as i128;
        let half = if exact < 0 { -5_000 } else { 5_000 };
        i64::try_from((exact + half) / 10_000).ok().map(Cents)
    }

    /// Sum that says when it overflowed instead of wrapping.
    pub fn checked_sum<I: IntoIterator<Item = Cents>>(items: I) -> Option<Cents> {
        items
            .into_iter()
            .try_fold(Cents::ZERO, |acc, c| acc.checked_add(c))
    }

    /// Yuan as typed (`12`, `12.3`, `12.34`, `-0.05`) to cents; never through floats.
    /// Rejects a third decimal, anything but digits and one point, and amounts beyond `i64`.
    pub fn parse_yuan(text: &str) -> Result<Cents, MoneyError> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = match unsigned.split_once('.') {
            Some((w, f)) if !f.is_empty() => (w, f),
            Some(_) => return Err(MoneyError::NotDecimal),
            None => (unsigned, ""),
        };
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::NotDecimal);
        }
        if frac.len() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        let yuan: i64 = match whole.trim_start_matches('0') {
            "" => 0,
            digits => digits.parse().map_err(|_| MoneyError::TooLarge)?,
        };
        let fen: i64 = format!("{frac:0<2}")
            .parse()
            .map_err(|_| MoneyError::NotDecimal)?;
        let cents = yuan
            .checked_mul(100)
            .and_then(|y| y.checked_add(fen))
            .ok_or(MoneyError::TooLarge)?;
        Ok(Cents(if negative { -cents } else { cents }))
    }
}

impl Cents {
    /// Largest amount a person types on a page: twelve digits of yuan.
    pub const MAX_TYPED: Cents = Cents(100_000_000_000_000 - 1);

    /// An amount a person typed into a form (`123`, `123.4`, `¥123.45`): never negative, at most
    /// twelve digits of yuan.
    pub fn parse_typed(text: &str) -> Result<Cents, MoneyError> {
        let text = text.trim().trim_start_matches('¥');
        if text.trim_start().starts_with('-') {
            return Err(MoneyError::Negative);
        }
        match Cents::parse_yuan(text)? {
            c if c > Cents::MAX_TYPED => Err(MoneyError::TooLarge),
            c => Ok(c),
        }
    }
}

/// Yuan with two decimals: `1234` → `12.34`, `-5` → `-0.05`. The only yuan formatter.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl FromStr for Cents {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Cents, MoneyError> {
        Cents::parse_yuan(s)
    }
}

impl From<Cents> for i64 {
    fn from(c: Cents) -> i64 {
        c.0
    }
}

/// Panics on overflow (amounts are bounded at the boundary; an overflow is a bug, never a
/// wrapped amount). Use `checked_add` where the operands are not bounded.
impl Add for Cents {
    type Output = Cents;
    fn add(self, other: Cents) -> Cents {
        self.checked_add(other).expect("money overflow")
    }
}

/// Panics on overflow, like `+`.
impl Sub for Cents {
    type Output = Cents;
    fn sub(self, other: Cents) -> Cents {
        self.checked_sub(other).expect("money overflow")
    }
}

impl AddAssign for Cents {
    fn add_assign(&mut self, other: Cents) {
        *self = *self + other;
    }
}

impl SubAssign for Cents {
    fn sub_assign(&mut self, other: Cents) {
        *self = *self - other;
    }
}

/// `iter.sum::<Option<Cents>>()`: `None` on overflow. There is deliberately no `Sum` into a
/// bare `Cents`.
impl Sum<Cents> for Option<Cents> {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Option<Cents> {
        Cents::checked_sum(iter)
    }
}

impl<'a> Sum<&'a Cents> for Option<Cents> {
    fn sum<I: Iterator<Item = &'a Cents>>(iter: I) -> Option<Cents> {
        Cents::checked_sum(iter.copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_yuan() {
        assert_eq!(Cents(1234).to_string(), "12.34");
        assert_eq!(Cents(5).to_string(), "0.05");
        assert_eq!(Cents(-5).to_string(), "-0.05");
        assert_eq!(Cents(-12_300).to_string(), "-123.00");
        assert_eq!(Cents(0).to_string(), "0.00");
        assert_eq!(Cents(i64::MIN).to_string(), "-92233720368547758.08");
    }

    #[test]
    fn parses_yuan() {
        assert_eq!("12.3".parse(), Ok(Cents(1230)));
        assert_eq!("12.34".parse(), Ok(Cents(1234)));
        assert_eq!(" 7 ".parse(), Ok(Cents(700)));
        assert_eq!("-0.05".parse(), Ok(Cents(-5)));
        assert_eq!("007.10".parse(), Ok(Cents(710)));
        assert_eq!("1.234".parse::<Cents>(), Err(MoneyError::TooManyDecimals));
        for bad in [
            "", "-", ".5", "1.", "1e3", "12a", "¥1", "+1", "1.2.3", "1,5", "--1",
        ] {
            assert_eq!(bad.parse::<Cents>(), Err(MoneyError::NotDecimal), "{bad:?}");
        }
        assert_eq!(
            "92233720368547758.08".parse::<Cents>(),
            Err(MoneyError::TooLarge)
        );
        assert_eq!("92233720368547758.07".parse::<Cents>(), Ok(Cents(i64::MAX)));
        assert_eq!(
            "99999999999999999999".parse::<Cents>(),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn transparent_on_the_wire() {
        assert_eq!(serde_json::to_string(&Cents(1234)).unwrap(), "1234");
        assert_eq!(serde_json::from_str::<Cents>("-5").unwrap(), Cents(-5));
    }

    #[test]
    fn basis_points_round_half_up() {
        assert_eq!(Cents(5).checked_mul_bp(8_500), Some(Cents(4))); // 4.25
        assert_eq!(Cents(7).checked_mul_bp(8_500), Some(Cents(6))); // 5.95
        assert_eq!(Cents(1).checked_mul_bp(5_000), Some(Cents(1))); // 0.5
        assert_eq!(Cents(-1).checked_mul_bp(5_000), Some(Cents(-1)));
        assert_eq!(Cents(i64::MAX).checked_mul_bp(20_000), None);
        assert_eq!(
            Cents(i64::MAX).checked_mul_bp(10_000),
            Some(Cents(i64::MAX))
        );
    }

    #[test]
    fn overflow_is_never_silent() {
        assert_eq!(Cents(i64::MAX).checked_add(Cents(1)), None);
        assert_eq!(Cents(i64::MIN).checked_sub(Cents(1)), None);
        assert_eq!(
            [Cents(i64::MAX), Cents(1)].iter().sum::<Option<Cents>>(),
            None
        );
        assert!(std::panic::catch_unwind(|| Cents(i64::MAX) + Cents(1)).is_err());
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(c in any::<i64>()) {
            prop_assert_eq!(Cents(c).to_string().parse::<Cents>(), Ok(Cents(c)));
        }

        #[test]
        fn parse_then_display_keeps_the_value(
            neg in any::<bool>(),
            whole in 0u64..100_000_000_000,
            frac in prop::option::of("[0-9]{1,2}"),
        ) {
            let text = match &frac {
                Some(f) => format!("{}{whole}.{f}", if neg { "-" } else { "" }),
                None => format!("{}{whole}", if neg { "-" } else { "" }),
            };
            let c = text.parse::<Cents>().unwrap();
            let fen: i64 = frac.map(|f| format!("{f:0<2}").parse().unwrap()).unwrap_or(0);
            let magnitude = whole as i64 * 100 + fen;
            prop_assert_eq!(c.get(), if neg { -magnitude } else { magnitude });
            prop_assert_eq!(c.to_string().parse::<Cents>(), Ok(c));
        }

        #[test]
        fn three_decimals_are_refused(whole in 0u64..1_000_000, frac in "[0-9]{3,6}") {
            prop_assert_eq!(
                format!("{whole}.{frac}").parse::<Cents>(),
                Err(MoneyError::TooManyDecimals)
            );
        }

        #[test]
        fn letters_are_refused(s in "[0-9]{0,4}[a-zA-Z¥ ,+]+[0-9]{0,4}") {
            prop_assume!(!s.trim().is_empty() && s.trim().bytes().any(|b| !b.is_ascii_digit()));
            prop_assert!(s.parse::<Cents>().is_err());
        }

        #[test]
        fn checked_add_sub_match_i128(a in any::<i64>(), b in any::<i64>()) {
            let sum = a as i128 + b as i128;
            let diff = a as i128 - b as i128;
            prop_assert_eq!(
                Cents(a).checked_add(Cents(b)).map(Cents::get),
                i64::try_from(sum).ok()
            );
            prop_assert_eq!(
                Cents(a).checked_sub(Cents(b)).map(Cents::get),
                i64::try_from(diff).ok()
            );
        }

        #[test]
        fn sum_matches_i128(items in prop::collection::vec(any::<i64>(), 0..20)) {
            let exact: i128 = items.iter().map(|&i| i as i128).sum();
            let partials_fit = items
                .iter()
                .try_fold(0i64, |acc, &i| acc.checked_add(i))
                .is_some();
            let got: Option<Cents> = items.iter().map(|&i| Cents(i)).sum();
            prop_assert_eq!(got.map(Cents::get), if partials_fit { i64::try_from(exact).ok() } else { None });
        }

        #[test]
        fn mul_bp_is_within_half_a_cent(c in -1_000_000_000_000i64..1_000_000_000_000, bp in 0i64..=10_000) {
            let got = Cents(c).checked_mul_bp(bp).unwrap().get() as i128;
            let exact_x2 = 2 * c as i128 * bp as i128;
            let got_x2 = 2 * got * 10_000;
            // Half-up (away from zero): |got − exact| ≤ ½ cent, ties away from zero.
            prop_assert!((got_x2 - exact_x2).abs() <= 10_000);
            if c >= 0 {
                prop_assert!(got_x2 - exact_x2 <= 10_000 && exact_x2 - got_x2 < 10_000);
                prop_assert!(got <= c as i128);
            }
        }
    }
}

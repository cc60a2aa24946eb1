//! Exact money: a JSON number's text to i64 cents, never through float arithmetic.
//!
//! serde_json (without `arbitrary_precision`) keeps a decimal as f64, whose shortest
//! round-trip text equals the original for up to 15 significant digits; amounts are capped well
//! below that (10^13 cents), so the text we parse is the text that was sent.

use crate::money::Cents;
pub use crate::money::MoneyError;

/// Largest amount accepted: 100 billion yuan (10^13 cents).
const MAX_CENTS: Cents = Cents::new(10_000_000_000_000);

/// Parses `"12"`, `"12.3"`, `"12.30"`, `"12.300"` (extra zeros are fine) into cents, through
/// the one yuan parser; negatives and amounts above `MAX_CENTS` are refused.
pub fn cents_from_decimal(text: &str) -> Result<Cents, MoneyError> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    // A decimal written with more places than cents is fine when the extra places are zeros.
    let text = match text.split_once('.') {
        Some((_, frac)) if frac.len() > 2 && frac[2..].bytes().all(|b| b == b'0') => {
            &text[..text.len() - (frac.len() - 2)]
        }
        _ => text,
    };
    let cents = Cents::parse_yuan(text)?;
    if cents > MAX_CENTS {
        return Err(MoneyError::TooLarge);
    }
    Ok(cents)
}

/// A JSON number to cents, through its text.
pub fn cents_from_number(n: &serde_json::Number) -> Result<Cents, MoneyError> {
    cents_from_decimal(&n.to_string())
}

/// Cents as a JSON number with exactly the decimal value (`1234` → `12.34`, `1200` → `12`).
pub fn number_from_cents(cents: Cents) -> serde_json::Number {
    let yuan = cents.to_string();
    let text = yuan.strip_suffix(".00").unwrap_or(&yuan);
    // Within MAX_CENTS the f64 nearest the decimal prints back as the same decimal.
    serde_json::from_str(text).expect("a decimal literal is a JSON number")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> serde_json::Number {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn exact_cents() {
        assert_eq!(cents_from_number(&num("0.1")), Ok(Cents::new(10)));
        assert_eq!(cents_from_number(&num("0.29")), Ok(Cents::new(29)));
        assert_eq!(cents_from_number(&num("123.45")), Ok(Cents::new(12345)));
        assert_eq!(cents_from_number(&num("123.450")), Ok(Cents::new(12345)));
        assert_eq!(cents_from_number(&num("120")), Ok(Cents::new(12000)));
        assert_eq!(
            cents_from_number(&num("99999999.99")),
            Ok(Cents::new(9_999_999_999))
        );
        assert_eq!(
            cents_from_number(&num("1.234")),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(cents_from_number(&num("-1")), Err(MoneyError::Negative));
        assert_eq!(cents_from_decimal("1."), Err(MoneyError::NotDecimal));
        assert_eq!(cents_from_decimal(".5"), Err(MoneyError::NotDecimal));
        assert_eq!(cents_from_decimal("1e3"), Err(MoneyError::NotDecimal));
        assert_eq!(
            cents_from_decimal("1.2340"),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(
            cents_from_decimal("100000000000.01"),
            Err(MoneyError::TooLarge)
        );
    }

    #[test]
    fn round_trip_through_json() {
        for cents in [0, 1, 10, 29, 12345, 100, 9_999_999_999, 123_456_789_012].map(Cents::new) {
            let n = number_from_cents(cents);
            assert_eq!(cents_from_number(&n), Ok(cents), "{cents} -> {n}");
        }
    }
}

//! Exact money: a JSON number's text to i64 cents, never through float arithmetic.
//!
//! serde_json (without `arbitrary_precision`) keeps a decimal as f64, whose shortest
//! round-trip text equals the original for up to 15 significant digits; amounts are capped well
//! below that (10^13 cents), so the text we parse is the text that was sent.

use std::fmt;

#[derive(Debug, PartialEq, Eq)]
pub enum MoneyError {
    NotDecimal,
    TooManyDecimals,
    Negative,
    TooLarge,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::NotDecimal => "not a plain decimal number",
            MoneyError::TooManyDecimals => "more than 2 decimals",
            MoneyError::Negative => "must not be negative",
            MoneyError::TooLarge => "too large",
        })
    }
}

/// Largest amount accepted: 100 billion yuan (10^13 cents).
const MAX_CENTS: i64 = 10_000_000_000_000;

/// Parses `"12"`, `"12.3"`, `"12.30"`, `"12.300"` (extra zeros are fine) into cents.
pub fn cents_from_decimal(text: &str) -> Result<i64, MoneyError> {
    let text = text.trim();
    if text.starts_with('-') {
        return Err(MoneyError::Negative);
    }
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (text.contains('.') && frac.is_empty())
    {
        return Err(MoneyError::NotDecimal);
    }
    if frac.len() > 2 && frac[2..].bytes().any(|b| b != b'0') {
        return Err(MoneyError::TooManyDecimals);
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 13 {
        return Err(MoneyError::TooLarge);
    }
    let yuan: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| MoneyError::TooLarge)?
    };
    let mut cents_text: String = frac.chars().take(2).collect();
    while cents_text.len() < 2 {
        cents_text.push('0');
    }
    let cents: i64 = cents_text.parse().map_err(|_| MoneyError::NotDecimal)?;
    let total = yuan
        .checked_mul(100)
        .and_then(|y| y.checked_add(cents))
        .ok_or(MoneyError::TooLarge)?;
    if total > MAX_CENTS {
        return Err(MoneyError::TooLarge);
    }
    Ok(total)
}

/// A JSON number to cents, through its text.
pub fn cents_from_number(n: &serde_json::Number) -> Result<i64, MoneyError> {
    cents_from_decimal(&n.to_string())
}

/// Cents as a JSON number with exactly the decimal value (`1234` → `12.34`, `1200` → `12`).
pub fn number_from_cents(cents: i64) -> serde_json::Number {
    let text = if cents % 100 == 0 {
        (cents / 100).to_string()
    } else {
        format!("{}.{:02}", cents / 100, (cents % 100).abs())
    };
    // Within MAX_CENTS the f64 nearest the decimal prints back as the same decimal.
    serde_json::from_str(&text).expect("a decimal literal is a JSON number")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> serde_json::Number {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn exact_cents() {
        assert_eq!(cents_from_number(&num("0.1")), Ok(10));
        assert_eq!(cents_from_number(&num("0.29")), Ok(29));
        assert_eq!(cents_from_number(&num("123.45")), Ok(12345));
        assert_eq!(cents_from_number(&num("123.450")), Ok(12345));
        assert_eq!(cents_from_number(&num("120")), Ok(12000));
        assert_eq!(cents_from_number(&num("99999999.99")), Ok(9_999_999_999));
        assert_eq!(
            cents_from_number(&num("1.234")),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(cents_from_number(&num("-1")), Err(MoneyError::Negative));
        assert_eq!(cents_from_decimal("1."), Err(MoneyError::NotDecimal));
        assert_eq!(cents_from_decimal(".5"), Err(MoneyError::NotDecimal));
        assert_eq!(cents_from_decimal("1e3"), Err(MoneyError::NotDecimal));
    }

    #[test]
    fn round_trip_through_json() {
        for cents in [0, 1, 10, 29, 12345, 100, 9_999_999_999, 123_456_789_012] {
            let n = number_from_cents(cents);
            assert_eq!(cents_from_number(&n), Ok(cents), "{cents} -> {n}");
        }
    }
}

//! Parse the decoded text of an invoice QR code into invoice fields. Pure, never panics.
//!
//! Three known forms, anything else is kept as raw text (`QrKind::Other`):
//! - VAT invoices: `01,<type>,<code>,<number>,<amount>,<YYYYMMDD>,<check code>,<4 chars>`;
//!   types 01, 04, 08, 10, 11, 14 carry a 10- or 12-digit code and an 8-digit number, fully
//!   digital invoices (31, 32) an empty code, a 20-digit number and an empty check code.
//! - Fiscal e-receipts (hospital receipts): `CZ-EI-<region>,<version>,<code>,<number>,
//!   <check code>,<YYYYMMDD>,<total>`; the total may carry five decimals.
//! - URLs (verification links): number, code, amount and date from the query, when present.
//!
//! A payload that looks like one form but breaks its rules is `Other`: a half-trusted number
//! or amount would only produce false comparisons for the reviewer.

use chrono::NaiveDate;
use serde::Serialize;

use crate::money::Cents;

/// Which form the QR text has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QrKind {
    Vat,
    Fiscal,
    Url,
    Other,
}

impl QrKind {
    /// The kind stored as `text` (see [`QrKind::as_str`]).
    pub fn parse(text: &str) -> Option<QrKind> {
        [QrKind::Vat, QrKind::Fiscal, QrKind::Url, QrKind::Other]
            .into_iter()
            .find(|k| k.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QrKind::Vat => "vat",
            QrKind::Fiscal => "fiscal",
            QrKind::Url => "url",
            QrKind::Other => "other",
        }
    }
}

/// The fields read from one QR code. `raw` is always the decoded text as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct InvoiceQr {
    pub kind: QrKind,
    /// Invoice code (发票代码) or receipt code; absent on fully digital invoices.
    pub code: Option<String>,
    pub number: Option<String>,
    /// The amount on the QR, in cents (rounded half-up from the printed decimal).
    pub amount_cents: Option<Cents>,
    /// Invoice date as `YYYY-MM-DD`.
    pub date: Option<String>,
    pub check_code: Option<String>,
    pub raw: String,
}

/// Earliest and latest years taken as an invoice date; outside them the date is absurd.
const YEARS: std::ops::RangeInclusive<i32> = 1990..=2100;
/// Longest integer part of an amount: a billion yuan is already far beyond any invoice.
const MAX_YUAN_DIGITS: usize = 10;
/// Most decimals accepted in an amount (fiscal receipts print five).
const MAX_DECIMALS: usize = 6;

/// Reads the decoded QR text. Never fails: what is not a known form is `QrKind::Other`.
pub fn parse(text: &str) -> InvoiceQr {
    let trimmed = text.trim();
    let parsed = if trimmed.starts_with("01,") {
        parse_vat(trimmed)
    } else if trimmed.starts_with("CZ-EI-") {
        parse_fiscal(trimmed)
    } else if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        parse_url(trimmed)
    } else {
        None
    };
    parsed.unwrap_or_else(|| other(text)).with_raw(text)
}

fn other(text: &str) -> InvoiceQr {
    InvoiceQr {
        kind: QrKind::Other,
        code: None,
        number: None,
        amount_cents: None,
        date: None,
        check_code: None,
        raw: text.to_string(),
    }
}

impl InvoiceQr {
    fn with_raw(mut self, text: &str) -> InvoiceQr {
        text.clone_into(&mut self.raw);
        self
    }
}

fn parse_vat(text: &str) -> Option<InvoiceQr> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    // Seven fields at least; the eighth (4 chars) and a trailing comma are tolerated.
    if !(7..=9).contains(&fields.len()) || fields.iter().skip(8).any(|f| !f.is_empty()) {
        return None;
    }
    let (kind, code, number) = (fields[1], fields[2], fields[3]);
    let digital = matches!(kind, "31" | "32");
    if digital {
        if !code.is_empty() || !is_digits(number, 20..=20) || !fields[6].is_empty() {
            return None;
        }
    } else if !matches!(kind, "01" | "04" | "08" | "10" | "11" | "14")
        || !(is_digits(code, 10..=10) || is_digits(code, 12..=12))
        || !is_digits(number, 8..=8)
        || !(fields[6].is_empty() || is_digits(fields[6], 1..=20))
    {
        return None;
    }
    Some(InvoiceQr {
        kind: QrKind::Vat,
        code: non_empty(code),
        number: Some(number.to_string()),
        amount_cents: Some(decimal_cents(fields[4])?),
        date: Some(compact_date(fields[5])?),
        check_code: non_empty(fields[6]),
        raw: String::new(),
    })
}

fn parse_fiscal(text: &str) -> Option<InvoiceQr> {
    let fields: Vec<&str> = text.split(',').map(str::trim).collect();
    if fields.len() != 7 {
        return None;
    }
    let region = fields[0].strip_prefix("CZ-EI-")?;
    let version_ok = !fields[1].is_empty()
        && fields[1].len() <= 16
        && fields[1].chars().all(|c| c.is_ascii_digit() || c == '.');
    let check = fields[4];
    let check_ok = check.len() <= 32 && check.chars().all(|c| c.is_ascii_alphanumeric());
    if !is_digits(region, 2..=2)
        || !version_ok
        || !is_digits(fields[2], 1..=20)
        || !is_digits(fields[3], 1..=20)
        || !check_ok
    {
        return None;
    }
    Some(InvoiceQr {
        kind: QrKind::Fiscal,
        code: Some(fields[2].to_string()),
        number: Some(fields[3].to_string()),
        amount_cents: Some(decimal_cents(fields[6])?),
        date: Some(compact_date(fields[5])?),
        check_code: non_empty(check),
        raw: String::new(),
    })
}

/// Query parameter names seen on verification links, per field (pinyin initials and English).
const URL_NUMBER: [&str; 6] = [
    "fphm",
    "pjhm",
    "number",
    "invoiceno",
    "invoice_no",
    "billno",
];
const URL_CODE: [&str; 4] = ["fpdm", "pjdm", "code", "invoicecode"];
const URL_AMOUNT: [&str; 6] = ["je", "jshj", "amount", "total", "money", "hjje"];
const URL_DATE: [&str; 3] = ["kprq", "date", "invoicedate"];

fn parse_url(text: &str) -> Option<InvoiceQr> {
    let url = url::Url::parse(text).ok()?;
    let mut qr = other(text);
    qr.kind = QrKind::Url;
    for (name, value) in url.query_pairs() {
        let name = name.to_ascii_lowercase();
        let value = value.trim();
        let is = |names: &[&str]| names.contains(&name.as_str());
        if is(&URL_NUMBER) && qr.number.is_none() && is_digits(value, 1..=20) {
            qr.number = Some(value.to_string());
        } else if is(&URL_CODE) && qr.code.is_none() && is_digits(value, 1..=20) {
            qr.code = Some(value.to_string());
        } else if is(&URL_AMOUNT) && qr.amount_cents.is_none() {
            qr.amount_cents = decimal_cents(value);
        } else if is(&URL_DATE) && qr.date.is_none() {
            qr.date = compact_date(value)
                .or_else(|| compact_date(&value.replace('-', "")).filter(|_| value.len() == 10));
        }
    }
    Some(qr)
}

fn is_digits(text: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// `YYYYMMDD` (a real calendar day in a plausible year) → `YYYY-MM-DD`.
pub(super) fn compact_date(text: &str) -> Option<String> {
    if !is_digits(text, 8..=8) {
        return None;
    }
    let date = NaiveDate::parse_from_str(text, "%Y%m%d").ok()?;
    YEARS
        .contains(&chrono::Datelike::year(&date))
        .then(|| date.format("%Y-%m-%d").to_string())
}

/// A plain non-negative decimal (`64.9`, `2851.41000`) → cents, rounded half-up. No floats.
pub(super) fn decimal_cents(text: &str) -> Option<Cents> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if !is_digits(int, 1..=MAX_YUAN_DIGITS)
        || (text.contains('.') && !is_digits(frac, 1..=MAX_DECIMALS))
    {
        return None;
    }
    let digit = |i: usize| frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    let yuan: i64 = int.parse().ok()?;
    let cents = yuan
        .checked_mul(100)?
        .checked_add(digit(0) * 10 + digit(1))?
        .checked_add(i64::from(digit(2) >= 5))?;
    Some(Cents::new(cents))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const VAT: &str = "01,10,011001605111,80100798,64.9,20161018,85342965681116380258,BE2D";
    const FISCAL: &str = "CZ-EI-31,1.1.0,356765121,1052432406110,406210,20210124,2851.41000";

    fn assert_other(text: &str) {
        let qr = parse(text);
        assert_eq!(qr.kind, QrKind::Other, "{text}");
        assert_eq!((qr.number, qr.amount_cents, qr.date), (None, None, None));
        assert_eq!(qr.raw, text);
    }

    #[test]
    fn reads_a_vat_invoice() {
        let qr = parse(VAT);
        assert_eq!(qr.kind, QrKind::Vat);
        assert_eq!(qr.code.as_deref(), Some("011001605111"));
        assert_eq!(qr.number.as_deref(), Some("80100798"));
        assert_eq!(qr.amount_cents, Some(Cents::new(6490)));
        assert_eq!(qr.date.as_deref(), Some("2016-10-18"));
        assert_eq!(qr.check_code.as_deref(), Some("85342965681116380258"));
        assert_eq!(qr.raw, VAT);
    }

    #[test]
    fn reads_a_special_vat_invoice_without_check_code_and_a_trailing_comma() {
        let qr = parse("01,01,3100201130,12345678,1000.00,20240301,,A1B2,");
        assert_eq!(qr.kind, QrKind::Vat);
        assert_eq!(qr.check_code, None);
        assert_eq!(qr.amount_cents, Some(Cents::new(100_000)));
    }

    #[test]
    fn reads_a_fully_digital_invoice_with_its_empty_code() {
        let qr = parse("01,32,,24312000000123456789,1234.56,20240615,,B7C1");
        assert_eq!(qr.kind, QrKind::Vat);
        assert_eq!(qr.code, None);
        assert_eq!(qr.number.as_deref(), Some("24312000000123456789"));
        assert_eq!(qr.amount_cents, Some(Cents::new(123_456)));
        assert_eq!(qr.date.as_deref(), Some("2024-06-15"));
        assert_eq!(qr.check_code, None);
    }

    #[test]
    fn a_digital_invoice_with_a_code_or_a_short_number_is_not_trusted() {
        assert_other("01,32,011001605111,24312000000123456789,1.00,20240615,,B7C1");
        assert_other("01,31,,80100798,1.00,20240615,,B7C1");
        assert_other("01,31,,24312000000123456789,1.00,20240615,123,B7C1");
    }

    #[test]
    fn reads_a_fiscal_receipt_rounding_five_decimals_half_up() {
        let qr = parse(FISCAL);
        assert_eq!(qr.kind, QrKind::Fiscal);
        assert_eq!(qr.code.as_deref(), Some("356765121"));
        assert_eq!(qr.number.as_deref(), Some("1052432406110"));
        assert_eq!(qr.check_code.as_deref(), Some("406210"));
        assert_eq!(qr.date.as_deref(), Some("2021-01-24"));
        assert_eq!(qr.amount_cents, Some(Cents::new(285_141)));
        let up = parse("CZ-EI-11,1.0,1,2,ab12,20210124,0.00500");
        assert_eq!(up.amount_cents, Some(Cents::new(1)));
        let down = parse("CZ-EI-11,1.0,1,2,ab12,20210124,12.34499");
        assert_eq!(down.amount_cents, Some(Cents::new(1234)));
        let carry = parse("CZ-EI-11,1.0,1,2,ab12,20210124,9.99500");
        assert_eq!(carry.amount_cents, Some(Cents::new(1000)));
    }

    #[test]
    fn missing_fields_make_it_other() {
        assert_other("01,10,011001605111,80100798,64.9,20161018");
        assert_other("01,10,011001605111");
        assert_other("01,");
        assert_other("CZ-EI-31,1.1.0,356765121,1052432406110,406210,20210124");
        assert_other("CZ-EI-31");
        assert_other("01,10,011001605111,80100798,64.9,20161018,1,BE2D,x,y");
    }

    #[test]
    fn letters_or_signs_in_amounts_make_it_other() {
        assert_other("01,10,011001605111,80100798,64.9a,20161018,1,BE2D");
        assert_other("01,10,011001605111,80100798,-64.9,20161018,1,BE2D");
        assert_other("01,10,011001605111,80100798,1e3,20161018,1,BE2D");
        assert_other("01,10,011001605111,80100798,.5,20161018,1,BE2D");
        assert_other("01,10,011001605111,80100798,5.,20161018,1,BE2D");
        assert_other("CZ-EI-31,1.1.0,356765121,1052432406110,406210,20210124,2851.4100000");
        assert_other("CZ-EI-31,1.1.0,356765121,1052432406110,406210,20210124,二十");
    }

    #[test]
    fn absurd_dates_and_huge_numbers_make_it_other() {
        for date in [
            "20210230",
            "20211301",
            "18990101",
            "99991231",
            "2021012",
            "2021-01-24",
        ] {
            assert_other(&format!("CZ-EI-31,1.1.0,1,2,3,{date},1.00"));
        }
        assert_other("CZ-EI-31,1.1.0,1,2,3,20210124,99999999999999999999999.00");
        assert_other("CZ-EI-31,1.1.0,1,123456789012345678901,3,20210124,1.00");
        assert_other("01,10,011001605111,801007981,64.9,20161018,1,BE2D");
        assert_other("01,99,011001605111,80100798,64.9,20161018,1,BE2D");
        let big = parse("CZ-EI-31,1.1.0,1,2,3,20210124,9999999999.99999");
        assert_eq!(big.amount_cents, Some(Cents::new(1_000_000_000_000)));
    }

    #[test]
    fn reads_number_and_amount_from_a_verification_link() {
        let qr = parse(
            "https://inv-veri.example.cn/verify?fpdm=011001605111&fphm=80100798&je=64.90&kprq=20161018",
        );
        assert_eq!(qr.kind, QrKind::Url);
        assert_eq!(qr.code.as_deref(), Some("011001605111"));
        assert_eq!(qr.number.as_deref(), Some("80100798"));
        assert_eq!(qr.amount_cents, Some(Cents::new(6490)));
        assert_eq!(qr.date.as_deref(), Some("2016-10-18"));
        let bare = parse("https://example.cn/e/abc?x=1&je=lots");
        assert_eq!(bare.kind, QrKind::Url);
        assert_eq!((bare.number, bare.amount_cents), (None, None));
        assert_eq!(bare.raw, "https://example.cn/e/abc?x=1&je=lots");
    }

    #[test]
    fn anything_else_is_kept_as_raw_text() {
        assert_other("");
        assert_other("hello, world");
        assert_other("http://[broken");
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_raw_text(text in ".*") {
            prop_assert_eq!(parse(&text).raw, text);
        }

        #[test]
        fn never_panics_on_near_valid_payloads(
            head in prop::sample::select(vec!["01,10,", "01,32,", "CZ-EI-31,", "https://a.cn/?je="]),
            tail in "[0-9.,a-zA-Z-]{0,60}",
        ) {
            let text = format!("{head}{tail}");
            let qr = parse(&text);
            prop_assert!(qr.amount_cents.is_none_or(|c| c.get() >= 0));
        }

        #[test]
        fn fiscal_totals_round_like_integer_arithmetic(yuan in 0u32..1_000_000, frac in 0u32..100_000) {
            let text = format!("CZ-EI-31,1.1.0,1,2,3,20210124,{yuan}.{frac:05}");
            let expected = i64::from(yuan) * 100 + i64::from(frac / 1000) + i64::from(frac % 1000 >= 500);
            prop_assert_eq!(parse(&text).amount_cents, Some(Cents::new(expected)));
        }
    }
}

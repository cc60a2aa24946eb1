//! Fuzzes the invoice QR payload parser: any text (and any bytes, read lossily) parses without
//! panicking, keeps the raw text, and never yields a negative amount or an impossible date.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Stand-in for `medclaim::money::Cents` (the parser only makes and compares them).
mod money {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
    pub struct Cents(i64);
    impl Cents {
        pub fn new(cents: i64) -> Cents {
            Cents(cents)
        }
        pub fn get(self) -> i64 {
            self.0
        }
    }
}

#[path = "../../src/invoice_qr/payload.rs"]
#[allow(dead_code)]
mod payload;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let qr = payload::parse(&text);
    assert_eq!(qr.raw, text);
    if let Some(cents) = qr.amount_cents {
        assert!(cents.get() >= 0, "negative amount from {text:?}");
    }
    if let Some(date) = &qr.date {
        assert!(
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
            "bad date {date:?} from {text:?}"
        );
    }
    if qr.kind == payload::QrKind::Other {
        assert_eq!((&qr.number, qr.amount_cents), (&None, None));
    }
});

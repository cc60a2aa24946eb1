//! The QR fields as kept on the `invoices` row (migration 0020), for the stores that read it.

use super::payload::{InvoiceQr, QrKind};
use crate::money::Cents;

/// The `qr_*` columns of an invoice; flatten into a row type with `#[sqlx(flatten)]`.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct StoredQr {
    pub qr_kind: Option<String>,
    pub qr_code: Option<String>,
    pub qr_number: Option<String>,
    pub qr_amount_cents: Option<i64>,
    pub qr_date: Option<String>,
    pub qr_check_code: Option<String>,
    pub qr_raw: Option<String>,
}

/// The columns [`StoredQr`] reads, table alias `i`.
pub const COLUMNS: &str =
    "i.qr_kind, i.qr_code, i.qr_number, i.qr_amount_cents, i.qr_date, i.qr_check_code, i.qr_raw";

impl StoredQr {
    /// What the QR code on the invoice's photo said, when it had a readable one.
    pub fn get(&self) -> Option<InvoiceQr> {
        Some(InvoiceQr {
            kind: QrKind::parse(self.qr_kind.as_deref()?)?,
            code: self.qr_code.clone(),
            number: self.qr_number.clone(),
            amount_cents: self.qr_amount_cents.map(Cents::new),
            date: self.qr_date.clone(),
            check_code: self.qr_check_code.clone(),
            raw: self.qr_raw.clone().unwrap_or_default(),
        })
    }
}

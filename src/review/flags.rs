//! Anomaly flags shown to reviewers (SPEC §8): never a silent rejection, only a pointer.
//!
//! Indexes: the same invoice number elsewhere — `invoices_no_idx (invoice_no)`; the same photo
//! — `files` primary key, then `files_sha256_idx (sha256)`, then `invoices_photo_idx
//! (photo_file_id)` (migration 0003); the hospital's usual amounts — `cases_hospital_idx
//! (hospital)` (0003), then `invoices_case_idx (case_id)`.

use crate::money::Cents;
use serde::Serialize;
use sqlx::{Any, Pool};
use utoipa::ToSchema;

use super::store::{CaseRow, InvoiceRow};
use crate::invoice_qr::compare::{QrDifference, Typed, differences};

/// An amount more than this many times the hospital's median approved invoice is flagged.
pub const OUTLIER_FACTOR: i64 = 3;
/// The median needs at least this many approved invoices of the hospital to mean anything.
pub const MIN_SAMPLES: usize = 5;
/// The median is taken over the hospital's most recent approved invoices.
const SAMPLE_LIMIT: i64 = 1000;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Flag {
    pub invoice_id: i64,
    /// `duplicate_invoice_no` (typed or on the QR code), `duplicate_photo`, `amount_outlier` or
    /// `qr_mismatch` (the typed invoice differs from its QR code: see the invoice's
    /// `qr_differences`).
    pub kind: &'static str,
    /// The other claims where the number or the photo was seen.
    pub other_case_ids: Vec<i64>,
    /// For `amount_outlier`: the hospital's median approved invoice total.
    pub median_cents: Option<Cents>,
}

pub async fn for_case(
    pool: &Pool<Any>,
    case: &CaseRow,
    invoices: &[InvoiceRow],
) -> sqlx::Result<Vec<Flag>> {
    let mut flags = Vec::new();
    for inv in invoices {
        // The typed number against typed numbers and QR numbers elsewhere; the QR number (with
        // its code: VAT numbers repeat across codes) against both too.
        let same_no: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT case_id FROM invoices
             WHERE case_id <> $2 AND (invoice_no = $1 OR qr_number = $1
                OR (qr_number = $3 AND COALESCE(qr_code, '') = $4) OR invoice_no = $3)
             ORDER BY case_id LIMIT 20",
        )
        .bind(&inv.invoice_no)
        .bind(case.id)
        .bind(inv.qr.qr_number.as_deref().unwrap_or(""))
        .bind(inv.qr.qr_code.as_deref().unwrap_or(""))
        .fetch_all(pool)
        .await?;
        if !same_no.is_empty() {
            flags.push(Flag {
                invoice_id: inv.id,
                kind: "duplicate_invoice_no",
                other_case_ids: same_no,
                median_cents: None,
            });
        }
        if !qr_differences(inv, &case.visit_date).is_empty() {
            flags.push(Flag {
                invoice_id: inv.id,
                kind: "qr_mismatch",
                other_case_ids: Vec::new(),
                median_cents: None,
            });
        }
        if let Some(file_id) = inv.photo_file_id {
            let same_photo: Vec<i64> = sqlx::query_scalar(
                "SELECT DISTINCT i.case_id FROM files f
                   JOIN files f2 ON f2.sha256 = f.sha256
                   JOIN invoices i ON i.photo_file_id = f2.id
                 WHERE f.id = $1 AND i.case_id <> $2 ORDER BY i.case_id LIMIT 20",
            )
            .bind(file_id)
            .bind(case.id)
            .fetch_all(pool)
            .await?;
            if !same_photo.is_empty() {
                flags.push(Flag {
                    invoice_id: inv.id,
                    kind: "duplicate_photo",
                    other_case_ids: same_photo,
                    median_cents: None,
                });
            }
        }
    }
    if let Some(median) = hospital_median(pool, case).await? {
        for inv in invoices {
            if inv.total_cents.get() > median.get().saturating_mul(OUTLIER_FACTOR) {
                flags.push(Flag {
                    invoice_id: inv.id,
                    kind: "amount_outlier",
                    other_case_ids: Vec::new(),
                    median_cents: Some(median),
                });
            }
        }
    }
    Ok(flags)
}

/// Where the typed invoice differs from its photo's QR code (none without a readable code).
pub fn qr_differences(inv: &InvoiceRow, visit_date: &str) -> Vec<QrDifference> {
    let Some(qr) = inv.qr.get() else {
        return Vec::new();
    };
    let typed = Typed {
        invoice_no: &inv.invoice_no,
        total: inv.total_cents,
        visit_date,
        invoice_date: inv.invoice_date.as_deref(),
    };
    differences(&qr, &typed)
}

/// The median total of the hospital's approved invoices in other cases, when there are enough.
async fn hospital_median(pool: &Pool<Any>, case: &CaseRow) -> sqlx::Result<Option<Cents>> {
    let mut totals: Vec<Cents> = sqlx::query_scalar(
        "SELECT i.total_cents FROM cases c JOIN invoices i ON i.case_id = c.id
         WHERE c.hospital = $1 AND c.id <> $2 AND i.status = 'approved'
         ORDER BY i.id DESC LIMIT $3",
    )
    .bind(&case.hospital)
    .bind(case.id)
    .bind(SAMPLE_LIMIT)
    .fetch_all(pool)
    .await?;
    Ok(median(&mut totals))
}

/// The median (lower middle for an even count) of at least [`MIN_SAMPLES`] values.
pub fn median<T: Ord + Copy>(values: &mut [T]) -> Option<T> {
    if values.len() < MIN_SAMPLES {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_needs_samples() {
        assert_eq!(super::median(&mut [1, 2, 3, 4]), None);
        assert_eq!(super::median(&mut [5, 1, 4, 2, 3]), Some(3));
        assert_eq!(super::median(&mut [6, 1, 4, 2, 3, 5]), Some(3));
    }
}

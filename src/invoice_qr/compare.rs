//! A typed invoice against what its QR code says, for the reviewer: "QR matches" or the exact
//! differences. Pure; a difference is a pointer for the reviewer, never a rejection.

use chrono::NaiveDate;
use serde::Serialize;

use super::payload::InvoiceQr;
use crate::money::Cents;

/// An invoice dated further than this from the visit is pointed out (SPEC §4: the visit is what
/// is claimed; an invoice issued long before or after it is worth a look).
pub const DATE_TOLERANCE_DAYS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QrDifference {
    /// `number`, `total`, `invoice_date` (the typed invoice date is not the QR's) or `date`
    /// (the invoice is dated more than [`DATE_TOLERANCE_DAYS`] from the visit).
    pub field: &'static str,
    /// What was typed: the invoice number, the total in yuan (`12.34`), the invoice date, or
    /// (for `date`) the visit date.
    pub typed: String,
    /// What the QR code says, in the same form; for `date` the invoice date held against the
    /// visit: the QR's, or the typed one when the code carries no date.
    pub qr: String,
}

/// What was typed for one invoice.
pub struct Typed<'a> {
    pub invoice_no: &'a str,
    pub total: Cents,
    /// The case's visit date, `YYYY-MM-DD`.
    pub visit_date: &'a str,
    /// The invoice date stored with the invoice, `YYYY-MM-DD`, when there is one.
    pub invoice_date: Option<&'a str>,
}

/// The differences between the typed invoice and its QR code; empty means "QR matches".
/// A field the QR code does not carry is not compared.
pub fn differences(qr: &InvoiceQr, typed: &Typed<'_>) -> Vec<QrDifference> {
    let mut out = Vec::new();
    if let Some(number) = &qr.number
        && !same_number(typed.invoice_no, number)
    {
        out.push(QrDifference {
            field: "number",
            typed: typed.invoice_no.to_string(),
            qr: number.clone(),
        });
    }
    if let Some(amount) = qr.amount_cents
        && amount != typed.total
    {
        out.push(QrDifference {
            field: "total",
            typed: typed.total.to_string(),
            qr: amount.to_string(),
        });
    }
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    if let (Some(date), Some(typed_date)) = (&qr.date, typed.invoice_date)
        && day(date) != day(typed_date)
    {
        out.push(QrDifference {
            field: "invoice_date",
            typed: typed_date.to_string(),
            qr: date.clone(),
        });
    }
    // The QR's date is the one to trust; the typed one stands in when the code has none.
    if let Some(date) = qr.date.as_deref().or(typed.invoice_date)
        && let (Some(invoice), Some(visit)) = (day(date), day(typed.visit_date))
        && (invoice - visit).num_days().abs() > DATE_TOLERANCE_DAYS
    {
        out.push(QrDifference {
            field: "date",
            typed: typed.visit_date.to_string(),
            qr: date.to_string(),
        });
    }
    out
}

/// Numbers are the same up to spaces and letter case (students copy them with both).
fn same_number(typed: &str, qr: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    };
    norm(typed) == norm(qr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoice_qr::parse;

    const FISCAL: &str = "CZ-EI-31,1.1.0,356765121,1052432406110,406210,20210124,2851.41000";

    fn typed<'a>(no: &'a str, total: i64, visit: &'a str) -> Typed<'a> {
        Typed {
            invoice_no: no,
            total: Cents::new(total),
            visit_date: visit,
            invoice_date: None,
        }
    }

    fn dated<'a>(no: &'a str, total: i64, visit: &'a str, date: &'a str) -> Typed<'a> {
        Typed {
            invoice_date: Some(date),
            ..typed(no, total, visit)
        }
    }

    #[test]
    fn the_same_invoice_matches() {
        let qr = parse(FISCAL);
        assert_eq!(
            differences(&qr, &typed(" 1052432406110", 285_141, "2021-01-20")),
            []
        );
        assert_eq!(
            differences(&qr, &typed("1052432406110", 285_141, "2020-12-25")),
            []
        );
    }

    #[test]
    fn each_difference_is_told_exactly() {
        let qr = parse(FISCAL);
        let got = differences(&qr, &typed("1052432406111", 285_100, "2020-12-24"));
        let fields: Vec<_> = got
            .iter()
            .map(|d| (d.field, d.typed.as_str(), d.qr.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("number", "1052432406111", "1052432406110"),
                ("total", "2851.00", "2851.41"),
                ("date", "2020-12-24", "2021-01-24"),
            ]
        );
    }

    #[test]
    fn the_typed_invoice_date_is_held_against_the_qr_date() {
        let qr = parse(FISCAL);
        let same = dated("1052432406110", 285_141, "2021-01-20", "2021-01-24");
        assert_eq!(differences(&qr, &same), []);
        let got = differences(
            &qr,
            &dated("1052432406110", 285_141, "2021-01-20", "2021-01-23"),
        );
        assert_eq!(
            got,
            [QrDifference {
                field: "invoice_date",
                typed: "2021-01-23".into(),
                qr: "2021-01-24".into(),
            }]
        );
        // A code without a date: the typed invoice date is still held against the visit.
        let url = parse("https://example.cn/v?fphm=80100798");
        let far = dated("80100798", 1, "2021-01-20", "2021-03-01");
        let got: Vec<_> = differences(&url, &far)
            .into_iter()
            .map(|d| (d.field, d.typed, d.qr))
            .collect();
        assert_eq!(got, [("date", "2021-01-20".into(), "2021-03-01".into())]);
    }

    #[test]
    fn fields_the_code_lacks_are_not_compared() {
        let qr = parse("https://example.cn/v?fphm=80100798");
        assert_eq!(differences(&qr, &typed("80100798", 1, "2000-01-01")), []);
        assert_eq!(
            differences(&parse("hello"), &typed("x", 1, "2000-01-01")),
            []
        );
    }
}

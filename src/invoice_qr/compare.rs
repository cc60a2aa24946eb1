//! A typed invoice against what its QR code says, for the reviewer: "QR matches" or the exact
//! differences. Pure; a difference is a pointer for the reviewer, never a rejection.

use chrono::NaiveDate;
use serde::Serialize;

use super::payload::InvoiceQr;
use crate::money::Cents;

/// An invoice dated further than this from the visit is pointed out.
pub const DATE_TOLERANCE_DAYS: i64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QrDifference {
    /// `number`, `total` or `date`.
    pub field: &'static str,
    /// What was typed: the invoice number, the total in yuan (`12.34`), or the visit date.
    pub typed: String,
    /// What the QR code says, in the same form.
    pub qr: String,
}

/// What was typed for one invoice.
pub struct Typed<'a> {
    pub invoice_no: &'a str,
    pub total: Cents,
    /// The case's visit date, `YYYY-MM-DD`.
    pub visit_date: &'a str,
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
    if let Some(date) = &qr.date
        && let (Some(invoice), Some(visit)) = (day(date), day(typed.visit_date))
        && (invoice - visit).num_days().abs() > DATE_TOLERANCE_DAYS
    {
        out.push(QrDifference {
            field: "date",
            typed: typed.visit_date.to_string(),
            qr: date.clone(),
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
    fn fields_the_code_lacks_are_not_compared() {
        let qr = parse("https://example.cn/v?fphm=80100798");
        assert_eq!(differences(&qr, &typed("80100798", 1, "2000-01-01")), []);
        assert_eq!(
            differences(&parse("hello"), &typed("x", 1, "2000-01-01")),
            []
        );
    }
}

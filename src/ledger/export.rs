//! The reconciliation as a workbook for finance: one sheet of mismatches, one summary sheet
//! with counts and sums per kind. Written on a blocking thread; words come from the
//! translations, so the file says what the console page says.

use crate::money::Cents;
use rust_xlsxwriter::{Format, Workbook, Worksheet};

use super::api::Reconciled;
use super::domain::{Mismatch, MismatchKind};
use super::store::Names;
use crate::http::web::Tr;
use crate::reports::domain::{neutralise, yuan_number};
use crate::reports::export::{Formats, save_to_tempfile};

/// Heading keys and column widths of the mismatch sheet.
const COLUMNS: [(&str, f64); 8] = [
    ("ledger.kind_heading", 26.0),
    ("ledger.case", 10.0),
    ("ledger.student_id", 14.0),
    ("ledger.insurer", 24.0),
    ("ledger.approved", 14.0),
    ("ledger.paid", 14.0),
    ("ledger.difference", 16.0),
    ("ledger.entries", 14.0),
];

const SUMMARY_COLUMNS: [(&str, f64); 4] = [
    ("ledger.kind_heading", 26.0),
    ("ledger.count", 10.0),
    ("ledger.approved", 14.0),
    ("ledger.paid", 14.0),
];

fn start_sheet(
    sheet: &mut Worksheet,
    name: &str,
    columns: &[(&str, f64)],
    tr: Tr,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.set_name(name)?;
    for (col, (key, width)) in columns.iter().enumerate() {
        sheet.set_column_width(col as u16, *width)?;
        sheet.write_string_with_format(0, col as u16, tr.t(key), &formats.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

fn money(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    cents: Option<Cents>,
    format: &Format,
) -> anyhow::Result<()> {
    if let Some(c) = cents {
        sheet.write_number_with_format(row, col, yuan_number(c), format)?;
    }
    Ok(())
}

pub fn kind_label(tr: Tr, kind: MismatchKind) -> String {
    tr.t(&format!("ledger.kind.{}", kind.as_str()))
}

fn mismatch_row(
    sheet: &mut Worksheet,
    row: u32,
    m: &Mismatch,
    names: &Names,
    tr: Tr,
    formats: &Formats,
) -> anyhow::Result<()> {
    sheet.write_string(row, 0, kind_label(tr, m.kind))?;
    if let Some(case_id) = m.case_id {
        sheet.write_number(row, 1, case_id as f64)?;
        if let Some(student) = names.students.get(&case_id) {
            sheet.write_string(row, 2, neutralise(student))?;
        }
    }
    let insurer = names
        .insurers
        .get(&m.insurer_id)
        .cloned()
        .unwrap_or_else(|| format!("#{}", m.insurer_id));
    sheet.write_string(row, 3, neutralise(&insurer))?;
    money(sheet, row, 4, m.approved_cents, &formats.money)?;
    money(sheet, row, 5, m.paid_cents, &formats.money)?;
    let difference = m.approved_cents.unwrap_or_default() - m.paid_cents.unwrap_or_default();
    money(sheet, row, 6, Some(difference), &formats.money)?;
    let entries: Vec<String> = m.entry_ids.iter().map(i64::to_string).collect();
    sheet.write_string(row, 7, entries.join(", "))?;
    Ok(())
}

fn summary(
    sheet: &mut Worksheet,
    rec: &Reconciled,
    tr: Tr,
    formats: &Formats,
) -> anyhow::Result<()> {
    let mut row = 0;
    let (mut count, mut approved, mut paid) = (0, Cents::ZERO, Cents::ZERO);
    for kind in MismatchKind::ALL {
        let of_kind: Vec<&Mismatch> = rec.items.iter().filter(|m| m.kind == kind).collect();
        let a = Cents::checked_sum(of_kind.iter().filter_map(|m| m.approved_cents))
            .expect("amounts are bounded at entry");
        let p = Cents::checked_sum(of_kind.iter().filter_map(|m| m.paid_cents))
            .expect("amounts are bounded at entry");
        row += 1;
        sheet.write_string(row, 0, kind_label(tr, kind))?;
        sheet.write_number(row, 1, of_kind.len() as f64)?;
        money(sheet, row, 2, Some(a), &formats.money)?;
        money(sheet, row, 3, Some(p), &formats.money)?;
        count += of_kind.len();
        approved += a;
        paid += p;
    }
    row += 1;
    sheet.write_string_with_format(row, 0, tr.t("ledger.total"), &formats.total_label)?;
    sheet.write_number_with_format(row, 1, count as f64, &formats.total_label)?;
    money(sheet, row, 2, Some(approved), &formats.total_money)?;
    money(sheet, row, 3, Some(paid), &formats.total_money)?;
    // What was asked, so the printout explains itself.
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    row += 2;
    sheet.write_string(row, 0, tr.t("ledger.period"))?;
    sheet.write_string(
        row,
        1,
        format!("{} – {}", day(rec.window.from), day(rec.window.to)),
    )?;
    row += 1;
    sheet.write_string(row, 0, tr.t("ledger.unpaid_after_days"))?;
    sheet.write_number(row, 1, rec.unpaid_after_days as f64)?;
    Ok(())
}

/// The workbook, in a rewound temp file.
pub fn reconciliation_xlsx(
    rec: &Reconciled,
    names: &Names,
    tr: Tr,
) -> anyhow::Result<std::fs::File> {
    let formats = Formats::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    start_sheet(sheet, &tr.t("ledger.sheet"), &COLUMNS, tr, &formats)?;
    for (i, m) in rec.items.iter().enumerate() {
        mismatch_row(sheet, i as u32 + 1, m, names, tr, &formats)?;
    }
    let sheet = book.add_worksheet();
    start_sheet(
        sheet,
        &tr.t("ledger.summary_sheet"),
        &SUMMARY_COLUMNS,
        tr,
        &formats,
    )?;
    summary(sheet, rec, tr, &formats)?;
    save_to_tempfile(&mut book)
}

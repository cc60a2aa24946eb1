//! Writing the exports, synchronously, on a blocking thread: rows in, a finished XLSX file or
//! CSV chunks out. Nothing here holds more than a row (plus a chunk) at a time; the XLSX
//! worksheet runs in rust_xlsxwriter's constant-memory mode, which spills rows to a temp file.

use crate::money::Cents;
use std::io::{Seek, SeekFrom};

use anyhow::Context;
use rust_xlsxwriter::{Color, Format, FormatBorder, Formula, Workbook, Worksheet};

use super::domain::{
    Cell, ColumnKind, Lang, PAYOUT_COLUMNS, Statistics, local_date, neutralise, payout_headers,
    section_heading, statistics_headers, totals_label, yuan_number,
};
use super::store::PayoutRow;
use crate::crypto::{Keys, mask_id_number, mask_phone};

/// Excel's last row (0-based) is 1,048,575; the last data row leaves room for the totals row.
const XLSX_MAX_ROWS: u32 = 1_048_576;
pub const CSV_CHUNK: usize = 64 * 1024;
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Turns payout rows into cells: masks personal data, puts a case's payout on its first invoice
/// row only (so the column adds up to what is paid) and remembers the last student, whose
/// rows usually come together.
pub struct PayoutFormatter {
    pub lang: Lang,
    tz: chrono_tz::Tz,
    keys: Keys,
    last_case: Option<i64>,
    last_student: Option<(i64, String, String)>,
    /// "University · Office" for the print header, when set.
    org: Option<String>,
}

impl PayoutFormatter {
    pub fn new(lang: Lang, tz: chrono_tz::Tz, keys: Keys) -> PayoutFormatter {
        PayoutFormatter {
            lang,
            tz,
            keys,
            last_case: None,
            last_student: None,
            org: None,
        }
    }

    /// Prints `org` ("University · Office") at the top of every printed page.
    pub fn with_org(mut self, org: Option<String>) -> PayoutFormatter {
        self.org = org;
        self
    }

    /// Finance sees phone and id number masked: the full values never leave in an export.
    fn masked_personal(&mut self, row: &PayoutRow) -> (String, String) {
        if let Some((id, phone, idno)) = &self.last_student
            && *id == row.student_id
        {
            return (phone.clone(), idno.clone());
        }
        let open = |kind: &str, sealed: &Option<String>| {
            sealed.as_deref().and_then(|s| {
                self.keys
                    .decrypt(&format!("users.{kind}|{}", row.username), s)
                    .ok()
            })
        };
        let phone = open("phone", &row.phone_enc)
            .map(|p| mask_phone(&p))
            .unwrap_or_default();
        let idno = open("id_number", &row.id_number_enc)
            .map(|i| mask_id_number(&i))
            .unwrap_or_default();
        self.last_student = Some((row.student_id, phone.clone(), idno.clone()));
        (phone, idno)
    }

    pub fn cells(&mut self, row: &PayoutRow) -> Vec<Cell> {
        let first_of_case = self.last_case != Some(row.case_id);
        self.last_case = Some(row.case_id);
        let (phone, idno) = self.masked_personal(row);
        let text = |s: &str| Cell::Text(neutralise(s).into_owned());
        vec![
            text(&row.username),
            text(&row.name),
            text(row.class_name.as_deref().unwrap_or("")),
            Cell::Text(phone),
            Cell::Text(idno),
            Cell::Text(row.case_id.to_string()),
            text(&row.hospital),
            Cell::Text(super::domain::level_label(row.hospital_level, self.lang).into()),
            text(&row.visit_date),
            Cell::Text(local_date(row.approved_at, self.tz)),
            text(&row.invoice_no),
            Cell::Money(row.total_cents),
            Cell::Money(row.self_pay_cents),
            Cell::Money(row.total_cents - row.self_pay_cents),
            match (first_of_case, row.payout_cents) {
                (true, Some(p)) => Cell::Money(p),
                _ => Cell::Empty,
            },
            Cell::Text(super::domain::status_label(row.status.as_str(), self.lang).into()),
            row.handed_in_at
                .map(|ms| Cell::Text(local_date(ms, self.tz)))
                .unwrap_or(Cell::Empty),
            row.invoice_date
                .as_deref()
                .map_or(Cell::Empty, |d| Cell::Text(d.to_string())),
        ]
    }
}

/// CSV text of one cell: money as yuan with two decimals.
fn csv_field(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => s.clone(),
        Cell::Money(c) => c.to_string(),
        Cell::Empty => String::new(),
    }
}

/// A byte buffer the CSV writer appends to and the chunker drains.
#[derive(Clone, Default)]
struct SharedBuf(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Builds a CSV in chunks of about [`CSV_CHUNK`] bytes, starting with the UTF-8 BOM.
pub struct CsvChunker {
    writer: csv::Writer<SharedBuf>,
    buf: SharedBuf,
}

impl CsvChunker {
    pub fn new(headers: &[&str]) -> anyhow::Result<CsvChunker> {
        let buf = SharedBuf::default();
        buf.0.borrow_mut().extend_from_slice(BOM);
        let mut writer = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(buf.clone());
        writer.write_record(headers)?;
        Ok(CsvChunker { writer, buf })
    }

    pub fn record<I: IntoIterator<Item = String>>(&mut self, fields: I) -> anyhow::Result<()> {
        self.writer.write_record(fields)?;
        Ok(())
    }

    pub fn payout_row(&mut self, cells: &[Cell]) -> anyhow::Result<()> {
        self.record(cells.iter().map(csv_field))
    }

    /// The bytes written so far, once there are enough of them for a chunk.
    pub fn take_chunk(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        self.writer.flush()?;
        if self.buf.0.borrow().len() < CSV_CHUNK {
            return Ok(None);
        }
        Ok(Some(std::mem::take(&mut *self.buf.0.borrow_mut())))
    }

    pub fn finish(mut self) -> anyhow::Result<Vec<u8>> {
        self.writer.flush()?;
        Ok(std::mem::take(&mut *self.buf.0.borrow_mut()))
    }
}

/// The house formats of a workbook: a blue header row, yuan with two decimals, totals.
pub(crate) struct Formats {
    pub header: Format,
    pub money: Format,
    pub total_label: Format,
    pub total_money: Format,
}

impl Formats {
    pub fn new() -> Formats {
        let money = "¥#,##0.00";
        Formats {
            header: Format::new()
                .set_bold()
                .set_font_color(Color::White)
                .set_background_color(Color::RGB(0x1f3a93))
                .set_border_bottom(FormatBorder::Thin),
            money: Format::new().set_num_format(money),
            total_label: Format::new()
                .set_bold()
                .set_border_top(FormatBorder::Double),
            total_money: Format::new()
                .set_bold()
                .set_num_format(money)
                .set_border_top(FormatBorder::Double),
        }
    }
}

fn column_letter(col: u16) -> String {
    rust_xlsxwriter::utility::column_number_to_name(col)
}

/// The print header: the university and the office (centre) and the sheet's name (right).
/// `&` starts a control code in Excel's header language, so it is doubled in the names.
fn print_header(sheet: &mut Worksheet, org: Option<&str>) {
    if let Some(org) = org {
        sheet.set_header(format!("&C{}&R&A", org.replace('&', "&&")));
    }
}

/// The workbook's properties name the university as the company.
fn brand_workbook(book: &mut Workbook, org: Option<&str>) {
    if let Some(org) = org {
        book.set_properties(&rust_xlsxwriter::DocProperties::new().set_company(org));
    }
}

/// The header row, widths and frozen header of a payout sheet.
fn start_payout_sheet(
    sheet: &mut Worksheet,
    name: &str,
    headers: &[&str],
    formats: &Formats,
    org: Option<&str>,
) -> anyhow::Result<()> {
    sheet.set_name(name)?;
    print_header(sheet, org);
    for (col, (_, _, _, width)) in PAYOUT_COLUMNS.iter().enumerate() {
        sheet.set_column_width(col as u16, *width)?;
    }
    for (col, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *h, &formats.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// Writes the payout workbook to an anonymous temp file and answers it rewound. `rows` yields
/// rows until the source is done (or `Err` when it failed).
pub fn payouts_xlsx<I>(rows: I, mut fmt: PayoutFormatter) -> anyhow::Result<std::fs::File>
where
    I: Iterator<Item = anyhow::Result<PayoutRow>>,
{
    let formats = Formats::new();
    let headers = payout_headers(fmt.lang);
    let base_name = match fmt.lang {
        Lang::Zh => "报销明细",
        Lang::En => "Payouts",
    };
    let money_cols: Vec<u16> = PAYOUT_COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.2 == ColumnKind::Money)
        .map(|(i, _)| i as u16)
        .collect();
    let org = fmt.org.clone();
    let mut book = Workbook::new();
    brand_workbook(&mut book, org.as_deref());
    let mut sheets: Vec<(String, u32)> = Vec::new(); // (name, last data row, 0-based)
    let mut sheet_name = base_name.to_string();
    let mut sheet = book.add_worksheet_with_constant_memory()?;
    start_payout_sheet(sheet, &sheet_name, &headers, &formats, org.as_deref())?;
    let mut row_no: u32 = 0;
    let mut sums = vec![Cents::ZERO; PAYOUT_COLUMNS.len()];
    for row in rows {
        let row = row?;
        if row_no + 2 >= XLSX_MAX_ROWS {
            sheets.push((sheet_name.clone(), row_no));
            sheet_name = format!("{base_name} ({})", sheets.len() + 1);
            sheet = book.add_worksheet_with_constant_memory()?;
            start_payout_sheet(sheet, &sheet_name, &headers, &formats, org.as_deref())?;
            row_no = 0;
        }
        row_no += 1;
        for (col, cell) in fmt.cells(&row).into_iter().enumerate() {
            let c = col as u16;
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(row_no, c, s)?;
                }
                Cell::Money(cents) => {
                    sums[col] += cents;
                    sheet.write_number_with_format(
                        row_no,
                        c,
                        yuan_number(cents),
                        &formats.money,
                    )?;
                }
                Cell::Empty => {}
            }
        }
    }
    sheets.push((sheet_name, row_no));
    // The totals row: formulas over every sheet's data, with the exact sum as cached result.
    let total_row = row_no + 1;
    sheet.write_string_with_format(total_row, 0, totals_label(fmt.lang), &formats.total_label)?;
    for col in money_cols {
        let letter = column_letter(col);
        let ranges: Vec<String> = sheets
            .iter()
            .filter(|(_, last)| *last >= 1)
            .map(|(name, last)| {
                if sheets.len() == 1 {
                    format!("{letter}2:{letter}{}", last + 1)
                } else {
                    format!("'{name}'!{letter}2:{letter}{}", last + 1)
                }
            })
            .collect();
        let sum = sums[col as usize];
        if ranges.is_empty() {
            sheet.write_number_with_format(total_row, col, 0.0, &formats.total_money)?;
        } else {
            let formula =
                Formula::new(format!("=SUM({})", ranges.join(","))).set_result(sum.to_string());
            sheet.write_formula_with_format(total_row, col, formula, &formats.total_money)?;
        }
    }
    save_to_tempfile(&mut book)
}

pub(crate) fn save_to_tempfile(book: &mut Workbook) -> anyhow::Result<std::fs::File> {
    let mut file = tempfile::tempfile().context("creating a temp file for the export")?;
    book.save_to_writer(&mut file)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// The statistics workbook: one sheet per section, each with a totals row of formulas.
pub fn statistics_xlsx(
    stats: &Statistics,
    lang: Lang,
    org: Option<&str>,
) -> anyhow::Result<std::fs::File> {
    let formats = Formats::new();
    let mut book = Workbook::new();
    brand_workbook(&mut book, org);
    let headers = statistics_headers(lang);
    for section in stats.sections(lang) {
        let sheet = book.add_worksheet();
        sheet.set_name(section.title)?;
        print_header(sheet, org);
        sheet.set_column_width(0, 28)?;
        sheet.write_string_with_format(0, 0, section.group_heading, &formats.header)?;
        for (i, h) in headers.iter().enumerate() {
            sheet.set_column_width(i as u16 + 1, 14)?;
            sheet.write_string_with_format(0, i as u16 + 1, *h, &formats.header)?;
        }
        sheet.set_freeze_panes(1, 0)?;
        let mut totals = super::domain::Sums::default();
        let mut r = 0u32;
        for (label, s) in &section.rows {
            r += 1;
            sheet.write_string(r, 0, neutralise(label))?;
            sheet.write_number(r, 1, s.cases as f64)?;
            sheet.write_number(r, 2, s.invoices as f64)?;
            for (col, cents) in [
                (3, s.total_cents),
                (4, s.covered_cents),
                (5, s.payout_cents),
            ] {
                sheet.write_number_with_format(r, col, yuan_number(cents), &formats.money)?;
            }
            totals.cases += s.cases;
            totals.invoices += s.invoices;
            totals.total_cents += s.total_cents;
            totals.covered_cents += s.covered_cents;
            totals.payout_cents += s.payout_cents;
        }
        let t = r + 1;
        sheet.write_string_with_format(t, 0, totals_label(lang), &formats.total_label)?;
        let cached = [
            totals.cases.to_string(),
            totals.invoices.to_string(),
            totals.total_cents.to_string(),
            totals.covered_cents.to_string(),
            totals.payout_cents.to_string(),
        ];
        for (i, result) in cached.into_iter().enumerate() {
            let col = i as u16 + 1;
            let format = if col >= 3 {
                &formats.total_money
            } else {
                &formats.total_label
            };
            if r == 0 {
                sheet.write_number_with_format(t, col, 0.0, format)?;
            } else {
                let letter = column_letter(col);
                let formula =
                    Formula::new(format!("=SUM({letter}2:{letter}{})", r + 1)).set_result(result);
                sheet.write_formula_with_format(t, col, formula, format)?;
            }
        }
    }
    save_to_tempfile(&mut book)
}

/// The statistics as one CSV with a section column.
pub fn statistics_csv(stats: &Statistics, lang: Lang) -> anyhow::Result<Vec<u8>> {
    let group = match lang {
        Lang::Zh => "项目",
        Lang::En => "Group",
    };
    let mut headers = vec![section_heading(lang), group];
    headers.extend(statistics_headers(lang));
    let mut out = CsvChunker::new(&headers)?;
    for section in stats.sections(lang) {
        for (label, s) in &section.rows {
            out.record([
                section.title.to_string(),
                neutralise(label).into_owned(),
                s.cases.to_string(),
                s.invoices.to_string(),
                s.total_cents.to_string(),
                s.covered_cents.to_string(),
                s.payout_cents.to_string(),
            ])?;
        }
    }
    out.finish()
}

//! The bank's transfer file of a batch, as CSV (UTF-8 with BOM) or XLSX: one row per case to
//! transfer (student id, name, bank, full account number, holder, yuan with two decimals, case
//! id) and a totals row. Cases whose transfer came back are left out: they are paid in a
//! later batch.

use rust_xlsxwriter::{Formula, Workbook};

use super::store::ItemRow;
use crate::money::Cents;
use crate::reports::domain::{Lang, neutralise, totals_label, yuan_number};
use crate::reports::export::{CsvChunker, Formats, save_to_tempfile};

/// One line of the file, the account number opened.
pub struct Line {
    pub username: String,
    pub student_name: String,
    pub bank_name: String,
    pub account_no: String,
    pub holder_name: String,
    pub amount: Cents,
    pub case_id: i64,
}

impl Line {
    pub fn new(item: &ItemRow, account_no: String) -> Line {
        Line {
            username: item.username.clone(),
            student_name: item.student_name.clone(),
            bank_name: item.bank_name.clone(),
            account_no,
            holder_name: item.holder_name.clone(),
            amount: item.amount_cents,
            case_id: item.case_id,
        }
    }

    fn texts(&self) -> [String; 5] {
        [
            neutralise(&self.username).into_owned(),
            neutralise(&self.student_name).into_owned(),
            neutralise(&self.bank_name).into_owned(),
            self.account_no.clone(),
            neutralise(&self.holder_name).into_owned(),
        ]
    }
}

pub fn headers(lang: Lang) -> [&'static str; 7] {
    match lang {
        Lang::Zh => [
            "学号",
            "姓名",
            "开户银行",
            "银行账号",
            "户名",
            "金额（元）",
            "病历号",
        ],
        Lang::En => [
            "Student ID",
            "Name",
            "Bank",
            "Account number",
            "Account holder",
            "Amount (yuan)",
            "Case",
        ],
    }
}

fn total(lines: &[Line]) -> Cents {
    lines
        .iter()
        .map(|l| l.amount)
        .fold(Cents::ZERO, |a, b| a + b)
}

pub fn csv(lines: &[Line], lang: Lang) -> anyhow::Result<Vec<u8>> {
    let mut csv = CsvChunker::new(&headers(lang))?;
    for line in lines {
        let [username, name, bank, account, holder] = line.texts();
        csv.record([
            username,
            name,
            bank,
            account,
            holder,
            line.amount.to_string(),
            line.case_id.to_string(),
        ])?;
    }
    csv.record([
        totals_label(lang).to_string(),
        format!("{}", lines.len()),
        String::new(),
        String::new(),
        String::new(),
        total(lines).to_string(),
        String::new(),
    ])?;
    csv.finish()
}

pub fn xlsx(lines: &[Line], lang: Lang, sheet_name: &str) -> anyhow::Result<std::fs::File> {
    let formats = Formats::new();
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name)?;
    for (col, (h, width)) in headers(lang)
        .iter()
        .zip([12.0, 12.0, 20.0, 26.0, 12.0, 14.0, 10.0])
        .enumerate()
    {
        sheet.set_column_width(col as u16, width)?;
        sheet.write_string_with_format(0, col as u16, *h, &formats.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let mut row = 0u32;
    for line in lines {
        row += 1;
        for (col, text) in line.texts().into_iter().enumerate() {
            // Account numbers stay text: 19 digits are past what a number cell keeps.
            sheet.write_string(row, col as u16, text)?;
        }
        sheet.write_number_with_format(row, 5, yuan_number(line.amount), &formats.money)?;
        sheet.write_number(row, 6, line.case_id as f64)?;
    }
    let total_row = row + 1;
    sheet.write_string_with_format(total_row, 0, totals_label(lang), &formats.total_label)?;
    sheet.write_number_with_format(total_row, 1, lines.len() as f64, &formats.total_label)?;
    let sum = total(lines);
    if lines.is_empty() {
        sheet.write_number_with_format(total_row, 5, 0.0, &formats.total_money)?;
    } else {
        let formula = Formula::new(format!("=SUM(F2:F{})", row + 1)).set_result(sum.to_string());
        sheet.write_formula_with_format(total_row, 5, formula, &formats.total_money)?;
    }
    save_to_tempfile(&mut book)
}

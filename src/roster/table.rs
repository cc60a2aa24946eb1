//! A header row and data rows from CSV (UTF-8, with or without BOM, or GB18030 as Excel saves
//! it on Chinese Windows) or the first sheet of an XLSX workbook.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader};

use super::RowError;

pub struct Table {
    /// The header row as written in the file.
    pub header: Vec<String>,
    /// Canonical column name → index.
    pub columns: HashMap<String, usize>,
    /// (line number as the user sees it, cells)
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// The trimmed cell of `column`, empty when absent.
    pub fn cell<'a>(&self, row: &'a [String], column: &str) -> &'a str {
        self.columns
            .get(column)
            .and_then(|&i| row.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    }
    pub fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }
}

/// Header names as offices write them, in English or Chinese.
pub fn canonical(header: &str) -> String {
    let h = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    match h.as_str() {
        "学号" | "student id" | "studentid" => "student_id",
        "姓名" => "name",
        "班级" => "class",
        "手机" | "手机号" | "电话" => "phone",
        "身份证号" | "身份证" | "身份证号码" => "id_number",
        "状态" | "学籍状态" => "status",
        "年度" | "参保年度" | "年份" => "year",
        "保险公司" => "insurer_id",
        "保单号" => "policy_no",
        other => other,
    }
    .to_string()
}

pub fn read_table(file_name: &str, bytes: &[u8]) -> Result<Table, RowError> {
    let is_xlsx = bytes.starts_with(b"PK\x03\x04") || file_name.to_lowercase().ends_with(".xlsx");
    let grid = if is_xlsx {
        read_xlsx(bytes)?
    } else {
        read_csv(bytes)?
    };
    let mut lines = grid.into_iter();
    let Some((_, header)) = lines.next() else {
        return Err(file_error("the file is empty"));
    };
    let columns: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (canonical(h), i))
        .collect();
    let rows = lines
        .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()))
        .collect();
    let header = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    Ok(Table {
        header,
        columns,
        rows,
    })
}

fn file_error(reason: &str) -> RowError {
    RowError {
        line: 0,
        column: String::new(),
        reason: reason.to_string(),
    }
}

fn read_csv(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => {
            let (decoded, _, bad) = encoding_rs::GB18030.decode(bytes);
            if bad {
                return Err(file_error("the file is neither UTF-8 nor GB18030 text"));
            }
            decoded.into_owned()
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| RowError {
            line: e.position().map(|p| p.line() as usize).unwrap_or(0),
            column: String::new(),
            reason: format!("not valid CSV: {e}"),
        })?;
        let line = record
            .position()
            .map(|p| p.line() as usize)
            .unwrap_or(out.len() + 1);
        out.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

fn read_xlsx(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes.to_vec()))
        .map_err(|e| file_error(&format!("not a readable XLSX workbook: {e}")))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| file_error("the workbook has no sheet"))?
        .map_err(|e| file_error(&format!("cannot read the first sheet: {e}")))?;
    let first_row = range.start().map(|(r, _)| r as usize).unwrap_or(0);
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, row)| (first_row + i + 1, row.iter().map(cell_text).collect()))
        .collect())
}

fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        // Spreadsheets turn student ids and years into numbers: 2023001.0 → "2023001".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

//! A header row and data rows from CSV (UTF-8, with or without BOM, or GB18030 as Excel saves
//! it on Chinese Windows) or the first sheet of an XLSX workbook.

use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

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
    for (line, cells) in &grid {
        if let Some(i) = cells.iter().position(|c| !crate::http::text::storable(c)) {
            return Err(RowError {
                line: *line,
                column: grid[0]
                    .1
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("{}", i + 1)),
                reason: "contains a NUL character".into(),
            });
        }
    }
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

/// The largest sheet an import reads: a roster is a few tens of thousands of rows of a few
/// columns. The bound is checked per cell while streaming, before anything is allocated for
/// it — a dense range over a sheet whose one cell sits at XFD1048576 would be 17 billion cells.
pub const MAX_ROWS: u32 = 100_000;
pub const MAX_COLUMNS: u32 = 64;

fn too_big() -> RowError {
    file_error(&format!(
        "the sheet is larger than {MAX_ROWS} rows or {MAX_COLUMNS} columns"
    ))
}

fn read_xlsx(bytes: &[u8]) -> Result<Vec<(usize, Vec<String>)>, RowError> {
    let unreadable =
        |e: calamine::XlsxError| file_error(&format!("not a readable XLSX workbook: {e}"));
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let first = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| file_error("the workbook has no sheet"))?;
    let mut cells = book
        .worksheet_cells_reader(&first)
        .map_err(|e| file_error(&format!("cannot read the first sheet: {e}")))?;
    // Sparse rows, keyed by row index; each holds only up to its last written column.
    let mut rows: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| file_error(&format!("cannot read the first sheet: {e}")))?
    {
        let (r, c) = cell.get_position();
        if r >= MAX_ROWS || c >= MAX_COLUMNS {
            return Err(too_big());
        }
        let text = cell_text(&Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        let row = rows.entry(r).or_default();
        if row.len() <= c as usize {
            row.resize(c as usize + 1, String::new());
        }
        row[c as usize] = text;
    }
    let Some(first_row) = rows.keys().next().copied() else {
        return Ok(Vec::new());
    };
    // As the dense range would: from the first used row and column; rows in between come
    // back empty (and rows may be ragged: a missing cell reads as empty).
    let last_row = rows.keys().next_back().copied().unwrap_or(first_row);
    let first_col = rows
        .values()
        .filter_map(|r| r.iter().position(|c| !c.is_empty()))
        .min()
        .unwrap_or(0);
    Ok((first_row..=last_row)
        .map(|r| {
            let mut row = rows.remove(&r).unwrap_or_default();
            row.drain(..first_col.min(row.len()));
            (r as usize + 1, row)
        })
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

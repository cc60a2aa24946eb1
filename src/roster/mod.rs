//! The student roster and the coverage list: imports from CSV or XLSX, all rows valid or
//! nothing applied, with a report naming each bad row; re-importing the same file changes
//! nothing.

mod apply;
mod table;

use serde::Serialize;

pub mod api;
pub mod pages;

pub use apply::{
    CoverageRow, StudentRow, apply_coverage, apply_students, validate_coverage, validate_students,
};
pub use table::{Table, read_table};

use crate::audit::Actor;
use crate::crypto::Keys;
use crate::db::Db;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Students,
    Coverage,
}

/// One problem in one row: `line` is the line (CSV) or row (XLSX) number as the user sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RowError {
    pub line: usize,
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.reason
        )
    }
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Report {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub applied: bool,
    pub errors: Vec<RowError>,
}

/// How many rows a preview shows.
pub const PREVIEW_ROWS: usize = 20;

/// A row of the file as the user wrote it (phone and id number masked), for the preview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreviewRow {
    pub line: usize,
    pub cells: Vec<String>,
}

enum Valid {
    Students(Vec<StudentRow>),
    Coverage(Vec<CoverageRow>),
}

/// A file read and validated, not yet applied: the header, the first rows and the full report.
pub struct Checked {
    pub kind: Kind,
    pub columns: Vec<String>,
    pub preview: Vec<PreviewRow>,
    pub report: Report,
    valid: Option<Valid>,
}

impl Checked {
    /// Every row is valid, so applying would change the data.
    pub fn is_valid(&self) -> bool {
        self.valid.is_some()
    }
}

/// Masks a personal value for display.
type Mask = fn(&str) -> String;

fn preview_rows(table: &Table) -> Vec<PreviewRow> {
    let masked: Vec<Option<Mask>> = table
        .header
        .iter()
        .map(|h| match table::canonical(h).as_str() {
            "phone" => Some(crate::crypto::mask_phone as Mask),
            "id_number" => Some(crate::crypto::mask_id_number as Mask),
            _ => None,
        })
        .collect();
    table
        .rows
        .iter()
        .take(PREVIEW_ROWS)
        .map(|(line, cells)| PreviewRow {
            line: *line,
            cells: cells
                .iter()
                .enumerate()
                .map(|(i, c)| match masked.get(i).copied().flatten() {
                    Some(mask) if !c.trim().is_empty() => mask(c.trim()),
                    _ => c.clone(),
                })
                .collect(),
        })
        .collect()
}

/// Reads and validates a file without changing anything.
pub async fn check(db: &Db, kind: Kind, file_name: &str, bytes: &[u8]) -> anyhow::Result<Checked> {
    let table = match read_table(file_name, bytes) {
        Ok(t) => t,
        Err(e) => {
            return Ok(Checked {
                kind,
                columns: Vec::new(),
                preview: Vec::new(),
                report: Report {
                    errors: vec![e],
                    ..Report::default()
                },
                valid: None,
            });
        }
    };
    let (valid, errors) = match kind {
        Kind::Students => match validate_students(&table) {
            Ok(rows) => (Some(Valid::Students(rows)), Vec::new()),
            Err(errors) => (None, errors),
        },
        Kind::Coverage => match validate_coverage(db, &table).await? {
            Ok(rows) => (Some(Valid::Coverage(rows)), Vec::new()),
            Err(errors) => (None, errors),
        },
    };
    Ok(Checked {
        kind,
        columns: table.header.clone(),
        preview: preview_rows(&table),
        report: Report {
            rows: table.rows.len(),
            errors,
            ..Report::default()
        },
        valid,
    })
}

/// Applies a checked file in one transaction; a file with any bad row applies nothing.
pub async fn apply(
    db: &Db,
    keys: &Keys,
    mut checked: Checked,
    actor: &Actor,
) -> anyhow::Result<Checked> {
    let rows = checked.report.rows;
    let applied = match checked.valid.take() {
        None => return Ok(checked),
        Some(Valid::Students(valid)) => apply_students(db, keys, &valid, actor).await?,
        Some(Valid::Coverage(valid)) => apply_coverage(db, &valid, actor).await?,
    };
    checked.report = Report { rows, ..applied };
    Ok(checked)
}

/// Reads, validates and — only when every row is valid — applies a file in one transaction.
pub async fn import(
    db: &Db,
    keys: &Keys,
    kind: Kind,
    file_name: &str,
    bytes: &[u8],
    actor: &Actor,
) -> anyhow::Result<Report> {
    let checked = check(db, kind, file_name, bytes).await?;
    Ok(apply(db, keys, checked, actor).await?.report)
}

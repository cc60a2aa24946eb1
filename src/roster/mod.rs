//! The student roster and the coverage list: imports from CSV or XLSX, all rows valid or
//! nothing applied, with a report naming each bad row; re-importing the same file changes
//! nothing.

mod apply;
mod table;

use serde::Serialize;

pub use apply::{apply_coverage, apply_students, validate_coverage, validate_students};
pub use table::{Table, read_table};

use crate::audit::Actor;
use crate::crypto::Keys;
use crate::db::Db;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Students,
    Coverage,
}

/// One problem in one row: `line` is the line (CSV) or row (XLSX) number as the user sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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

#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub applied: bool,
    pub errors: Vec<RowError>,
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
    let table = match read_table(file_name, bytes) {
        Ok(t) => t,
        Err(e) => {
            return Ok(Report {
                errors: vec![e],
                ..Report::default()
            });
        }
    };
    let rows = table.rows.len();
    let mut report = match kind {
        Kind::Students => match validate_students(&table) {
            Ok(valid) => apply_students(db, keys, &valid, actor).await?,
            Err(errors) => Report {
                errors,
                ..Report::default()
            },
        },
        Kind::Coverage => match validate_coverage(db, &table).await? {
            Ok(valid) => apply_coverage(db, &valid, actor).await?,
            Err(errors) => Report {
                errors,
                ..Report::default()
            },
        },
    };
    report.rows = rows;
    Ok(report)
}

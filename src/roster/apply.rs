//! Validation of roster and coverage rows, and the all-or-nothing apply.

use std::collections::HashMap;

use sqlx::Row;

use super::{Report, RowError, Table};
use crate::accounts::domain::{IdNumber, Phone, Username, parse_enrolment};
use crate::accounts::store::{self, NewUser, seal_id_number, seal_phone};
use crate::audit::{self, Actor, Event};
use crate::crypto::Keys;
use crate::db::{Db, now_ms};
use crate::http::auth::Role;

pub struct StudentRow {
    pub username: Username,
    pub name: String,
    pub class_name: Option<String>,
    pub phone: Option<Phone>,
    pub id_number: IdNumber,
    pub status: &'static str,
}

fn err(line: usize, column: &str, reason: impl Into<String>) -> RowError {
    RowError {
        line,
        column: column.to_string(),
        reason: reason.into(),
    }
}

fn require_columns(table: &Table, columns: &[&str]) -> Result<(), Vec<RowError>> {
    let missing: Vec<RowError> = columns
        .iter()
        .filter(|c| !table.has(c))
        .map(|c| err(1, c, "column is missing from the header row"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

/// Columns `student_id,name,class,phone,id_number,status`.
pub fn validate_students(table: &Table) -> Result<Vec<StudentRow>, Vec<RowError>> {
    require_columns(table, &["student_id", "name", "id_number"])?;
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let before = errors.len();
        let sid = table.cell(cells, "student_id");
        let username = match Username::parse(sid) {
            Ok(u) => Some(u),
            Err(why) => {
                errors.push(err(line, "student_id", format!("student id {why}")));
                None
            }
        };
        if let Some(u) = &username
            && let Some(first) = seen.insert(u.as_str().to_string(), line)
        {
            errors.push(err(
                line,
                "student_id",
                format!("duplicate in file (first on line {first})"),
            ));
        }
        let name = table.cell(cells, "name");
        if name.is_empty() {
            errors.push(err(line, "name", "name is empty"));
        } else if name.chars().count() > 64 {
            errors.push(err(line, "name", "name is longer than 64 characters"));
        }
        let class = table.cell(cells, "class");
        let phone = match table.cell(cells, "phone") {
            "" => None,
            p => match Phone::parse(p) {
                Ok(p) => Some(p),
                Err(why) => {
                    errors.push(err(line, "phone", format!("phone {why}")));
                    None
                }
            },
        };
        let id_number = match IdNumber::parse(table.cell(cells, "id_number")) {
            Ok(i) => Some(i),
            Err(why) => {
                errors.push(err(line, "id_number", format!("id number {why}")));
                None
            }
        };
        let status = match parse_enrolment(table.cell(cells, "status")) {
            Ok(s) => Some(s),
            Err(why) => {
                errors.push(err(line, "status", format!("status {why}")));
                None
            }
        };
        if errors.len() == before
            && let (Some(username), Some(id_number), Some(status)) = (username, id_number, status)
        {
            valid.push(StudentRow {
                username,
                name: name.to_string(),
                class_name: (!class.is_empty()).then(|| class.to_string()),
                phone,
                id_number,
                status,
            });
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(errors)
    }
}

pub async fn apply_students(
    db: &Db,
    keys: &Keys,
    rows: &[StudentRow],
    actor: &Actor,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut tx = db.begin().await?;
    // Who is on the roster already, a few hundred names to a query; the new ones are inserted
    // a few hundred to a statement, and the old ones given the student role likewise.
    let usernames: Vec<&str> = rows.iter().map(|r| r.username.as_str()).collect();
    let existing = store::find_by_usernames(&mut tx, &usernames).await?;
    let mut new_users = Vec::new();
    let mut students = Vec::new();
    for row in rows {
        match existing.get(row.username.as_str()) {
            None => {
                new_users.push(NewUser {
                    username: row.username.as_str().to_string(),
                    name: row.name.clone(),
                    class_name: row.class_name.clone(),
                    phone: row.phone.clone(),
                    id_number: Some(row.id_number.clone()),
                    enrolment_status: row.status.to_string(),
                    password_hash: None,
                    roles: vec![Role::Student],
                });
                report.created += 1;
            }
            Some(user) => {
                let username = row.username.as_str();
                let phone_bidx = row
                    .phone
                    .as_ref()
                    .map(|p| keys.blind_index("phone", p.as_str()));
                let id_bidx = keys.blind_index("id_number", row.id_number.as_str());
                let same = user.name == row.name
                    && user.class_name == row.class_name
                    && user.phone_bidx == phone_bidx
                    && user.id_number_bidx.as_deref() == Some(id_bidx.as_str())
                    && user.enrolment_status == row.status;
                if same {
                    report.unchanged += 1;
                } else {
                    let (phone_enc, phone_bidx) = seal_phone(keys, username, row.phone.as_ref());
                    let (id_enc, id_bidx) = seal_id_number(keys, username, Some(&row.id_number));
                    sqlx::query(
                        "UPDATE users SET name = $1, class_name = $2, phone_enc = $3, phone_bidx = $4,
                                id_number_enc = $5, id_number_bidx = $6, enrolment_status = $7, updated_at = $8
                         WHERE id = $9",
                    )
                    .bind(&row.name)
                    .bind(row.class_name.as_deref())
                    .bind(phone_enc)
                    .bind(phone_bidx)
                    .bind(id_enc)
                    .bind(id_bidx)
                    .bind(row.status)
                    .bind(now_ms())
                    .bind(user.id)
                    .execute(&mut *tx)
                    .await?;
                    report.updated += 1;
                }
                students.push((user.id, Role::Student));
            }
        }
    }
    store::insert_users(&mut tx, keys, &new_users).await?;
    store::add_roles(&mut tx, &students).await?;
    let event = Event {
        action: "roster.import",
        object_type: "roster",
        object_id: "students".into(),
        summary: format!(
            "{} created, {} updated, {} unchanged",
            report.created, report.updated, report.unchanged
        ),
    };
    audit::record(&mut tx, actor, event).await?;
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

pub struct CoverageRow {
    pub user_id: i64,
    pub year: i64,
    pub insurer_id: Option<i64>,
    pub policy_no: Option<String>,
}

/// Columns `student_id,year[,insurer_id,policy_no]`; the student must be on the roster.
pub async fn validate_coverage(
    db: &Db,
    table: &Table,
) -> anyhow::Result<Result<Vec<CoverageRow>, Vec<RowError>>> {
    if let Err(e) = require_columns(table, &["student_id", "year"]) {
        return Ok(Err(e));
    }
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for (line, cells) in &table.rows {
        let line = *line;
        let before = errors.len();
        let sid = table.cell(cells, "student_id");
        let mut user_id = None;
        if sid.is_empty() {
            errors.push(err(line, "student_id", "student id is empty"));
        } else {
            user_id = sqlx::query("SELECT id FROM users WHERE username = $1")
                .bind(sid)
                .fetch_optional(&db.pool)
                .await?
                .map(|r| r.try_get::<i64, _>("id"))
                .transpose()?;
            if user_id.is_none() {
                errors.push(err(
                    line,
                    "student_id",
                    format!("no student with id '{sid}' on the roster"),
                ));
            }
        }
        let year = match table.cell(cells, "year").parse::<i64>() {
            Ok(y) if (2000..=2100).contains(&y) => Some(y),
            Ok(_) => {
                errors.push(err(line, "year", "year must be between 2000 and 2100"));
                None
            }
            Err(_) => {
                errors.push(err(line, "year", "year is not a number"));
                None
            }
        };
        if let Some(y) = year
            && !sid.is_empty()
            && let Some(first) = seen.insert((sid.to_string(), y), line)
        {
            errors.push(err(
                line,
                "student_id",
                format!("duplicate in file (first on line {first})"),
            ));
        }
        let insurer_id = match table.cell(cells, "insurer_id") {
            "" => None,
            v => match v.parse::<i64>() {
                Ok(id) => {
                    let known: Option<i64> =
                        sqlx::query_scalar("SELECT id FROM insurers WHERE id = $1")
                            .bind(id)
                            .fetch_optional(&db.pool)
                            .await?;
                    if known.is_none() {
                        errors.push(err(line, "insurer_id", format!("no insurer with id {id}")));
                    }
                    Some(id)
                }
                Err(_) => {
                    errors.push(err(line, "insurer_id", "insurer id is not a number"));
                    None
                }
            },
        };
        let policy_no = table.cell(cells, "policy_no");
        if !policy_no.is_empty() && insurer_id.is_none() {
            errors.push(err(
                line,
                "policy_no",
                "a policy number needs an insurer id",
            ));
        }
        if errors.len() == before
            && let (Some(user_id), Some(year)) = (user_id, year)
        {
            valid.push(CoverageRow {
                user_id,
                year,
                insurer_id,
                policy_no: (!policy_no.is_empty()).then(|| policy_no.to_string()),
            });
        }
    }
    Ok(if errors.is_empty() {
        Ok(valid)
    } else {
        Err(errors)
    })
}

pub async fn apply_coverage(
    db: &Db,
    rows: &[CoverageRow],
    actor: &Actor,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut tx = db.begin().await?;
    for row in rows {
        let existing = sqlx::query(
            "SELECT id, insurer_id, policy_no FROM coverage WHERE user_id = $1 AND year = $2",
        )
        .bind(row.user_id)
        .bind(row.year)
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            None => {
                sqlx::query("INSERT INTO coverage (user_id, year, insurer_id, policy_no, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(row.user_id)
                    .bind(row.year)
                    .bind(row.insurer_id)
                    .bind(row.policy_no.as_deref())
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
                report.created += 1;
            }
            Some(found) => {
                let insurer: Option<i64> = found.try_get("insurer_id")?;
                let policy: Option<String> = found.try_get("policy_no")?;
                if insurer == row.insurer_id && policy == row.policy_no {
                    report.unchanged += 1;
                } else {
                    sqlx::query(
                        "UPDATE coverage SET insurer_id = $1, policy_no = $2 WHERE id = $3",
                    )
                    .bind(row.insurer_id)
                    .bind(row.policy_no.as_deref())
                    .bind(found.try_get::<i64, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
                    report.updated += 1;
                }
            }
        }
    }
    let event = Event {
        action: "roster.import",
        object_type: "roster",
        object_id: "coverage".into(),
        summary: format!(
            "{} created, {} updated, {} unchanged",
            report.created, report.updated, report.unchanged
        ),
    };
    audit::record(&mut tx, actor, event).await?;
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

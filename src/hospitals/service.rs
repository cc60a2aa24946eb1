//! Keeping the list: add, edit or retire one entry, or import a whole list from CSV or XLSX
//! (every row valid or nothing applied; re-importing the same file changes nothing). Every
//! change is audited.

use super::domain::{parse_aliases, parse_level, parse_name};
use super::store::{self, DesignatedHospital, Fields};
use crate::audit::{self, Actor, Event};
use crate::db::{Db, Tx, is_unique_violation};
use crate::http::{AppError, AppResult, ErrorCode};
use crate::policy::HospitalLevel;
use crate::roster::{Report, RowError, read_table};

fn invalid(field: &'static str, why: &str) -> AppError {
    ErrorCode::InvalidInput
        .with_message(format!("The hospital's {field} {why}."))
        .with_field(field, why)
}

/// A new entry as sent by an admin.
pub struct NewEntry<'a> {
    pub name: &'a str,
    pub level: i64,
    pub aliases: &'a [String],
}

fn level(level: i64) -> AppResult<HospitalLevel> {
    HospitalLevel::new(level).ok_or_else(|| invalid("level", "must be 0, 1, 2 or 3"))
}

fn aliases(list: &[String]) -> AppResult<Vec<String>> {
    parse_aliases(&list.join("、")).map_err(|why| invalid("aliases", why))
}

async fn refuse_clash(tx: &mut Tx, f: &Fields, except: Option<i64>) -> AppResult<()> {
    let mut names: Vec<&str> = vec![&f.name];
    names.extend(f.aliases.iter().map(String::as_str));
    if let Some(other) = store::clash(tx, &names, except).await? {
        return Err(ErrorCode::Conflict
            .with_message(format!("{other} is already on the list under that name."))
            .with_field("name", "already on the list"));
    }
    Ok(())
}

fn event(action: &'static str, h: &DesignatedHospital, summary: String) -> Event<'static> {
    Event {
        action,
        object_type: "designated_hospital",
        object_id: h.id.to_string(),
        summary,
    }
}

fn describe(f: &Fields) -> String {
    format!(
        "{} level {}{}{}",
        f.name,
        f.level,
        if f.aliases.is_empty() {
            String::new()
        } else {
            format!(" aliases {}", f.aliases.join("、"))
        },
        if f.active { "" } else { " retired" }
    )
}

/// Adds a hospital. 409 `conflict` when its name or an alias is already known.
pub async fn create(db: &Db, actor: &Actor, new: NewEntry<'_>) -> AppResult<DesignatedHospital> {
    let fields = Fields {
        name: parse_name(new.name).map_err(|why| invalid("name", why))?,
        level: level(new.level)?,
        aliases: aliases(new.aliases)?,
        active: true,
    };
    let mut tx = db.begin().await?;
    refuse_clash(&mut tx, &fields, None).await?;
    let h = store::insert(&mut tx, &fields).await.map_err(conflict)?;
    audit::record(
        &mut tx,
        actor,
        event("hospital_list.create", &h, describe(&fields)),
    )
    .await?;
    tx.commit().await?;
    Ok(h)
}

fn conflict(e: sqlx::Error) -> AppError {
    if is_unique_violation(&e) {
        ErrorCode::Conflict
            .with_message("A hospital of that name is already on the list.")
            .with_field("name", "already on the list")
    } else {
        e.into()
    }
}

/// What an admin changes; `None` keeps the value.
#[derive(Default)]
pub struct Patch<'a> {
    pub name: Option<&'a str>,
    pub level: Option<i64>,
    pub aliases: Option<&'a [String]>,
    pub active: Option<bool>,
}

/// Edits or retires (`active: false`) an entry; audited with old → new.
pub async fn update(
    db: &Db,
    actor: &Actor,
    id: i64,
    patch: Patch<'_>,
) -> AppResult<DesignatedHospital> {
    let name = patch
        .name
        .map(|n| parse_name(n).map_err(|why| invalid("name", why)))
        .transpose()?;
    let new_level = patch.level.map(level).transpose()?;
    let new_aliases = patch.aliases.map(aliases).transpose()?;
    let mut tx = db.begin().await?;
    let old = store::by_id(&mut tx, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let fields = Fields {
        name: name.unwrap_or_else(|| old.name.clone()),
        level: new_level.unwrap_or(old.level),
        aliases: new_aliases.unwrap_or_else(|| old.aliases.clone()),
        active: patch.active.unwrap_or(old.active),
    };
    if fields == old.fields() {
        return Ok(old);
    }
    refuse_clash(&mut tx, &fields, Some(id)).await?;
    store::update(&mut tx, id, &fields)
        .await
        .map_err(conflict)?;
    let summary = format!("{} -> {}", describe(&old.fields()), describe(&fields));
    audit::record(&mut tx, actor, event("hospital_list.update", &old, summary)).await?;
    tx.commit().await?;
    Ok(DesignatedHospital {
        id,
        name: fields.name,
        level: fields.level,
        aliases: fields.aliases,
        active: fields.active,
    })
}

/// Column names as offices write them.
fn column(header: &str) -> Option<&'static str> {
    let h = header.trim().trim_start_matches('\u{feff}').to_lowercase();
    Some(match h.as_str() {
        "医院名称" | "医院" | "名称" | "定点医院" | "hospital" | "name" => "name",
        "等级" | "医院等级" | "级别" | "level" => "level",
        "别名" | "简称" | "其他名称" | "aliases" | "alias" => "aliases",
        _ => return None,
    })
}

fn cell(cells: &[String], at: usize) -> &str {
    cells.get(at).map(|c| c.trim()).unwrap_or("")
}

/// The rows of a list file, each checked.
fn read_rows(file_name: &str, bytes: &[u8]) -> Result<Vec<(usize, Fields)>, Vec<RowError>> {
    let table = read_table(file_name, bytes).map_err(|e| vec![e])?;
    let index = |want: &str| table.header.iter().position(|h| column(h) == Some(want));
    let (Some(name_at), Some(level_at)) = (index("name"), index("level")) else {
        return Err(vec![RowError {
            line: 1,
            column: String::new(),
            reason: "the header needs the columns 医院名称 (name) and 等级 (level)".into(),
        }]);
    };
    let aliases_at = index("aliases");
    let mut errors = Vec::new();
    let mut rows: Vec<(usize, Fields)> = Vec::new();
    for (line, cells) in &table.rows {
        let err = |column: &str, reason: &str| RowError {
            line: *line,
            column: column.to_string(),
            reason: reason.to_string(),
        };
        let name = parse_name(cell(cells, name_at)).map_err(|why| err("name", why));
        let level = parse_level(cell(cells, level_at))
            .ok_or_else(|| err("level", "is not a level (0–3, 一级, 二级, 三级, 未定级)"));
        let aliases = aliases_at
            .map(|at| parse_aliases(cell(cells, at)))
            .unwrap_or(Ok(Vec::new()))
            .map_err(|why| err("aliases", why));
        match (name, level, aliases) {
            (Ok(name), Ok(level), Ok(aliases)) => {
                let key = super::domain::name_key(&name);
                if let Some((first, _)) = rows.iter().find(|(_, f)| {
                    std::iter::once(&f.name)
                        .chain(&f.aliases)
                        .any(|n| super::domain::name_key(n) == key)
                }) {
                    errors.push(err(
                        "name",
                        &format!("duplicate in file (first on line {first})"),
                    ));
                    continue;
                }
                rows.push((
                    *line,
                    Fields {
                        name,
                        level,
                        aliases,
                        active: true,
                    },
                ));
            }
            (name, level, aliases) => {
                errors.extend(
                    [name.err(), level.err(), aliases.err()]
                        .into_iter()
                        .flatten(),
                );
            }
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// Imports a list: each row adds a hospital or updates the one of that name (reactivating a
/// retired one); hospitals not in the file stay as they are. With `dry_run` nothing changes.
pub async fn import(
    db: &Db,
    actor: &Actor,
    file_name: &str,
    bytes: &[u8],
    dry_run: bool,
) -> AppResult<Report> {
    let rows = match read_rows(file_name, bytes) {
        Ok(rows) => rows,
        Err(errors) => {
            return Ok(Report {
                rows: 0,
                errors,
                ..Report::default()
            });
        }
    };
    let mut report = Report {
        rows: rows.len(),
        ..Report::default()
    };
    let mut tx = db.begin().await?;
    for (line, f) in &rows {
        let existing = store::by_name(&mut tx, &f.name).await?;
        let except = existing.as_ref().map(|h| h.id);
        if let Some(other) = {
            let mut names: Vec<&str> = vec![&f.name];
            names.extend(f.aliases.iter().map(String::as_str));
            store::clash(&mut tx, &names, except).await?
        } {
            report.errors.push(RowError {
                line: *line,
                column: "aliases".into(),
                reason: format!("a name is already on the list for {other}"),
            });
            continue;
        }
        match existing {
            Some(h) if h.fields() == *f => report.unchanged += 1,
            Some(h) => {
                report.updated += 1;
                if !dry_run {
                    store::update(&mut tx, h.id, f).await?;
                }
            }
            None => {
                report.created += 1;
                if !dry_run {
                    store::insert(&mut tx, f).await.map_err(conflict)?;
                }
            }
        }
    }
    if !report.errors.is_empty() || dry_run {
        tx.rollback().await?;
        return Ok(report);
    }
    audit::record(
        &mut tx,
        actor,
        Event {
            action: "hospital_list.import",
            object_type: "designated_hospital",
            object_id: String::new(),
            summary: format!(
                "{file_name}: {} created, {} updated, {} unchanged",
                report.created, report.updated, report.unchanged
            ),
        },
    )
    .await?;
    tx.commit().await?;
    report.applied = true;
    Ok(report)
}

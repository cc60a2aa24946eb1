//! Staff administration (issue 16 item 5, SPEC §13): list and search people, create staff,
//! grant and revoke roles, deactivate and reactivate (a deactivated person's sessions end in
//! the same transaction), and a one-time reset link to set a password. The last active
//! administrator can be neither demoted nor deactivated (409 `last_admin`). Every change is
//! audited with old → new; no personal data in the summaries.

use std::collections::BTreeSet;

use sqlx::FromRow;

use super::domain::{self, Phone, Username};
use super::store;
use crate::audit::{self, Event};
use crate::db::{Tx, now_ms};
use crate::http::auth::{CurrentUser, Role};
use crate::http::{AppError, AppResult, AppState, ErrorCode};

/// A reset link works for 24 hours, once.
pub const RESET_LINK_TTL_MS: i64 = 24 * 3600 * 1000;

/// One person as the administration lists them.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub active: bool,
    pub email: Option<String>,
    pub last_sign_in_at: Option<i64>,
}

#[derive(FromRow)]
struct PersonRow {
    id: i64,
    username: String,
    name: String,
    active: i64,
    email: Option<String>,
    last_sign_in_at: Option<i64>,
}

/// The filters of the list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// A substring of the login name or the name.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// Only ids above this one (the previous page's `next_cursor`).
    pub cursor: Option<i64>,
    pub limit: i64,
}

const PERSON_COLUMNS: &str = "id, username, name, active, email, \
     (SELECT MAX(s.created_at) FROM sessions s WHERE s.user_id = users.id) AS last_sign_in_at";

async fn with_roles(tx: &mut Tx, row: PersonRow) -> AppResult<Person> {
    let mut roles = store::roles_of(&mut **tx, row.id).await?;
    roles.sort_by_key(|r| Role::ALL.iter().position(|x| x == r));
    Ok(Person {
        id: row.id,
        username: row.username,
        name: row.name,
        roles,
        active: row.active == 1,
        email: row.email,
        last_sign_in_at: row.last_sign_in_at,
    })
}

/// A page of people by id; answers them and the cursor of the next page, if any.
pub async fn list(state: &AppState, f: &Filter) -> AppResult<(Vec<Person>, Option<i64>)> {
    let limit = f.limit.clamp(1, 200);
    let q =
        f.q.as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(|q| {
                let escaped: String = q
                    .to_lowercase()
                    .chars()
                    .take(64)
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                format!("%{escaped}%")
            });
    let mut sql = format!("SELECT {PERSON_COLUMNS} FROM users WHERE id > $1");
    let mut n = 1;
    if q.is_some() {
        n += 1;
        sql.push_str(&format!(
            " AND (LOWER(username) LIKE ${n} ESCAPE '\\' OR LOWER(name) LIKE ${n} ESCAPE '\\')"
        ));
    }
    if f.role.is_some() {
        n += 1;
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id AND r.role = ${n})"
        ));
    }
    if f.active.is_some() {
        n += 1;
        sql.push_str(&format!(" AND active = ${n}"));
    }
    n += 1;
    sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
    let mut query =
        sqlx::query_as::<_, PersonRow>(sqlx::AssertSqlSafe(sql)).bind(f.cursor.unwrap_or(0));
    if let Some(q) = &q {
        query = query.bind(q.clone());
    }
    if let Some(role) = f.role {
        query = query.bind(role.as_str());
    }
    if let Some(active) = f.active {
        query = query.bind(i64::from(active));
    }
    let mut tx = state.db.begin().await?;
    let rows = query.bind(limit).fetch_all(&mut *tx).await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let mut people = Vec::with_capacity(rows.len());
    for row in rows {
        people.push(with_roles(&mut tx, row).await?);
    }
    tx.commit().await?;
    Ok((people, next))
}

/// One person, or 404.
pub async fn get(state: &AppState, id: i64) -> AppResult<Person> {
    let mut tx = state.db.begin().await?;
    let person = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(person)
}

async fn load(tx: &mut Tx, id: i64) -> AppResult<Person> {
    let row = sqlx::query_as::<_, PersonRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PERSON_COLUMNS} FROM users WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(AppError::not_found)?;
    with_roles(tx, row).await
}

/// Staff roles from their names: at least one, none of them `student` (students come from the
/// roster import); else 422 `invalid_input` on `roles`.
pub fn parse_staff_roles<S: AsRef<str>>(names: &[S]) -> AppResult<Vec<Role>> {
    let bad = |why: String| {
        ErrorCode::InvalidInput
            .with_message(format!("roles: {why}"))
            .with_field("roles", why)
    };
    let mut roles = BTreeSet::new();
    for name in names {
        let role: Role = name.as_ref().trim().parse().map_err(bad)?;
        if !role.is_staff() {
            return Err(bad(
                "students come from the roster import, not from here".into()
            ));
        }
        roles.insert(Role::ALL.iter().position(|r| *r == role).unwrap_or(0));
    }
    if roles.is_empty() {
        return Err(bad("give at least one staff role".into()));
    }
    Ok(roles.into_iter().map(|i| Role::ALL[i]).collect())
}

fn roles_text(roles: &[Role]) -> String {
    if roles.is_empty() {
        return "none".into();
    }
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A new staff member's details.
pub struct NewStaff {
    pub username: String,
    pub name: String,
    pub roles: Vec<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Creates a staff account without a password (a reset link sets it); 409 `conflict` when the
/// login name is taken, 422 `invalid_input` with fields for bad input.
pub async fn create(state: &AppState, admin: &CurrentUser, new: NewStaff) -> AppResult<Person> {
    let username = Username::parse(&new.username).map_err(|why| {
        ErrorCode::InvalidInput
            .with_message(format!("username {why}"))
            .with_field("username", why)
    })?;
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ErrorCode::InvalidInput
            .with_message("name: 1 to 100 characters")
            .with_field("name", "1 to 100 characters"));
    }
    let roles = parse_staff_roles(&new.roles)?;
    let email = new
        .email
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    if let Some(e) = &email
        && (e.len() > 254 || !e.contains('@') || e.contains(char::is_whitespace))
    {
        return Err(ErrorCode::InvalidInput
            .with_message("email: not an e-mail address")
            .with_field("email", "not an e-mail address"));
    }
    let phone = match new
        .phone
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(Phone::parse(p).map_err(|why| {
            ErrorCode::InvalidInput
                .with_message(format!("phone {why}"))
                .with_field("phone", why)
        })?),
        None => None,
    };
    let taken = || {
        ErrorCode::Conflict
            .with_message("That login name is taken.")
            .with_field("username", "taken")
    };
    let mut tx = state.db.begin().await?;
    if store::find_by_username(&mut *tx, username.as_str())
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let user = store::NewUser {
        username: username.as_str().to_string(),
        name,
        class_name: None,
        phone,
        id_number: None,
        enrolment_status: "enrolled".into(),
        password_hash: None,
        roles: roles.clone(),
    };
    let id = store::insert_user(&mut tx, &state.keys, &user)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => taken(),
            _ => AppError::from(e),
        })?;
    if let Some(email) = &email {
        sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
            .bind(email)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let event = Event {
        action: "user.create",
        object_type: "user",
        object_id: id.to_string(),
        summary: format!(
            "staff account created; roles: none -> {}",
            roles_text(&roles)
        ),
    };
    audit::record(&mut tx, &admin.actor(), event).await?;
    let person = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(person)
}

/// A change to a person: new staff roles and/or active.
#[derive(Debug, Default)]
pub struct Change {
    pub roles: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Active administrators other than `except`.
async fn other_active_admins(tx: &mut Tx, except: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u JOIN user_roles r ON r.user_id = u.id
         WHERE r.role = 'admin' AND u.active = 1 AND u.id <> $1",
    )
    .bind(except)
    .fetch_one(&mut **tx)
    .await
}

/// Grants and revokes staff roles (a student keeps the student role) and deactivates or
/// reactivates; deactivating ends every session of the person at once. 409 `last_admin` when
/// no active administrator would remain.
pub async fn update(
    state: &AppState,
    admin: &CurrentUser,
    id: i64,
    change: Change,
) -> AppResult<Person> {
    let new_staff = match &change.roles {
        Some(names) => Some(parse_staff_roles(names)?),
        None => None,
    };
    let mut tx = state.db.begin().await?;
    if state.db.backend == crate::db::Backend::Postgres {
        // Two admins demoting each other at once must not both see the other one still
        // there: changes to people queue here (SQLite has one writer at a time already).
        sqlx::query("SELECT pg_advisory_xact_lock(4242002)")
            .execute(&mut *tx)
            .await?;
    }
    let before = load(&mut tx, id).await?;
    let new_roles: Vec<Role> = match new_staff {
        Some(staff) => Role::ALL
            .into_iter()
            .filter(|r| (*r == Role::Student && before.roles.contains(r)) || staff.contains(r))
            .collect(),
        None => before.roles.clone(),
    };
    let new_active = change.active.unwrap_or(before.active);
    let was_admin = before.active && before.roles.contains(&Role::Admin);
    let is_admin = new_active && new_roles.contains(&Role::Admin);
    if was_admin && !is_admin && other_active_admins(&mut tx, id).await? == 0 {
        return Err(ErrorCode::LastAdmin
            .with_message("This is the last active administrator; make someone else one first."));
    }
    let actor = admin.actor();
    if new_roles != before.roles {
        for role in before.roles.iter().filter(|r| !new_roles.contains(r)) {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role = $2")
                .bind(id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        for role in new_roles.iter().filter(|r| !before.roles.contains(r)) {
            store::add_role(&mut tx, id, *role).await?;
        }
        let event = Event {
            action: "user.roles",
            object_type: "user",
            object_id: id.to_string(),
            summary: format!(
                "roles: {} -> {}",
                roles_text(&before.roles),
                roles_text(&new_roles)
            ),
        };
        audit::record(&mut tx, &actor, event).await?;
    }
    if new_active != before.active {
        sqlx::query("UPDATE users SET active = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(new_active))
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let ended = if new_active {
            0
        } else {
            store::revoke_sessions_except(&mut tx, id, None).await?
        };
        let event = Event {
            action: if new_active {
                "user.reactivate"
            } else {
                "user.deactivate"
            },
            object_type: "user",
            object_id: id.to_string(),
            summary: format!(
                "active: {} -> {}; {ended} sessions ended",
                i64::from(before.active),
                i64::from(new_active)
            ),
        };
        audit::record(&mut tx, &actor, event).await?;
    }
    let after = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok(after)
}

/// The stored form of a link token (found by this hash alone).
fn link_hash(state: &AppState, token: &str) -> String {
    state.keys.blind_index("password_reset_link", token)
}

/// The path of the page a reset link opens.
pub fn link_path(token: &str) -> String {
    format!("/password-reset/link/{token}")
}

/// Issues a one-time reset link for an active person, in the caller's transaction; any link
/// issued before for them stops working. Answers the token (only its hash is kept) and when it
/// expires. 409 `conflict` for a deactivated person.
pub async fn issue_reset_link(
    tx: &mut Tx,
    state: &AppState,
    admin: &CurrentUser,
    id: i64,
) -> AppResult<(Person, String, i64)> {
    let person = load(tx, id).await?;
    if !person.active {
        return Err(
            ErrorCode::Conflict.with_message("Reactivate the account before sending a reset link.")
        );
    }
    let now = now_ms();
    sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND via = 'link' AND used_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let token = crate::crypto::random_token();
    let expires_at = now + RESET_LINK_TTL_MS;
    let link_id: i64 = sqlx::query_scalar(
        "INSERT INTO password_resets (user_id, via, secret_hash, tries_left, expires_at, created_by, created_at)
         VALUES ($1, 'link', $2, 1, $3, $4, $5) RETURNING id",
    )
    .bind(id)
    .bind(link_hash(state, &token))
    .bind(expires_at)
    .bind(admin.id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    let event = Event {
        action: "user.reset_link",
        object_type: "user",
        object_id: id.to_string(),
        summary: format!("reset link {link_id} issued, valid 24 h"),
    };
    audit::record(tx, &admin.actor(), event).await?;
    Ok((person, token, expires_at))
}

fn link_invalid() -> AppError {
    ErrorCode::CodeInvalid
        .with_message("This link is not valid (used, replaced or expired); ask for a new one.")
        .with_field("token", "not valid")
}

/// Whether `token` is a reset link still open; answers the login name it is for.
pub async fn check_link(state: &AppState, token: &str) -> AppResult<String> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT u.username, p.expires_at FROM password_resets p JOIN users u ON u.id = p.user_id
         WHERE p.secret_hash = $1 AND p.via = 'link' AND p.used_at IS NULL AND u.active = 1",
    )
    .bind(link_hash(state, token.trim()))
    .fetch_optional(&state.db.pool)
    .await?;
    match row {
        Some((username, expires_at)) if expires_at > now_ms() => Ok(username),
        _ => Err(link_invalid()),
    }
}

/// Sets the password with a reset link, once; every session of the person ends.
pub async fn reset_with_link(state: &AppState, token: &str, password: &str) -> AppResult<()> {
    super::password::check_new(password, "password")?;
    check_link(state, token).await?;
    let password_hash = domain::hash_password(password.to_string()).await?;
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let claimed: Option<(i64, i64)> = sqlx::query_as(
        "UPDATE password_resets SET used_at = $1
         WHERE secret_hash = $2 AND via = 'link' AND used_at IS NULL AND expires_at > $1
         RETURNING id, user_id",
    )
    .bind(now)
    .bind(link_hash(state, token.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((link_id, user_id)) = claimed else {
        return Err(link_invalid());
    };
    let user = store::find_by_id(&mut *tx, user_id)
        .await?
        .filter(|u| u.active == 1)
        .ok_or_else(link_invalid)?;
    store::set_password(&mut tx, user.id, &password_hash).await?;
    let ended = store::revoke_sessions_except(&mut tx, user.id, None).await?;
    let actor = crate::audit::Actor::user(user.id, &user.username, None);
    let event = Event {
        action: "user.password_reset",
        object_type: "user",
        object_id: user.id.to_string(),
        summary: format!("password set with reset link {link_id}; {ended} sessions ended"),
    };
    audit::record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(())
}

//! Branding (SPEC §13 office): the university's name, the office's name, address, opening
//! hours and phone, and a logo, set by an administrator and shown on the login page, the
//! console's header, the student home and booking pages, and the exports' print header. The
//! values are read by the page frame (`http::web::brand`); this context changes them.

pub mod api;
pub mod pages;

use crate::audit::{self, Event};
use crate::db::now_ms;
use crate::http::auth::CurrentUser;
use crate::http::web::Branding;
use crate::http::{AppError, AppResult, AppState, ErrorCode};

/// The longest value of each field, in characters.
const LIMITS: [(&str, usize); 5] = [
    ("university_name", 100),
    ("office_name", 100),
    ("address", 200),
    ("opening_hours", 200),
    ("phone", 50),
];

/// The text fields as sent; each trimmed and bounded.
pub struct Fields {
    pub university_name: String,
    pub office_name: String,
    pub address: String,
    pub opening_hours: String,
    pub phone: String,
}

impl Fields {
    fn check(self) -> AppResult<Fields> {
        let values = [
            &self.university_name,
            &self.office_name,
            &self.address,
            &self.opening_hours,
            &self.phone,
        ];
        for ((field, max), value) in LIMITS.iter().zip(values) {
            crate::http::text::check(field, value)?;
            if value.trim().chars().count() > *max {
                return Err(ErrorCode::InvalidInput
                    .with_message(format!("{field} is at most {max} characters."))
                    .with_field(*field, format!("at most {max} characters")));
            }
        }
        Ok(Fields {
            university_name: self.university_name.trim().into(),
            office_name: self.office_name.trim().into(),
            address: self.address.trim().into(),
            opening_hours: self.opening_hours.trim().into(),
            phone: self.phone.trim().into(),
        })
    }
}

async fn ensure_row(tx: &mut crate::db::Tx) -> sqlx::Result<()> {
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM branding WHERE id = 1")
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_none() {
        sqlx::query("INSERT INTO branding (id, updated_at) VALUES (1, $1)")
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn audit_event(action: &'static str, summary: String) -> Event<'static> {
    Event {
        action,
        object_type: "branding",
        object_id: "1".into(),
        summary,
    }
}

fn describe(b: &Branding) -> String {
    format!(
        "{} / {} / {} / {} / {}",
        b.university_name, b.office_name, b.address, b.opening_hours, b.phone
    )
}

/// Sets the text fields; audited old -> new.
pub async fn update(state: &AppState, admin: &CurrentUser, fields: Fields) -> AppResult<Branding> {
    let f = fields.check()?;
    let mut tx = state.db.begin().await?;
    ensure_row(&mut tx).await?;
    let old = crate::http::web::brand::load(&mut *tx).await?;
    sqlx::query(
        "UPDATE branding SET university_name = $1, office_name = $2, address = $3,
           opening_hours = $4, phone = $5, updated_at = $6 WHERE id = 1",
    )
    .bind(&f.university_name)
    .bind(&f.office_name)
    .bind(&f.address)
    .bind(&f.opening_hours)
    .bind(&f.phone)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let new = crate::http::web::brand::load(&mut *tx).await?;
    let summary = format!("{} -> {}", describe(&old), describe(&new));
    audit::record(
        &mut tx,
        &admin.actor(),
        audit_event("branding.update", summary),
    )
    .await?;
    tx.commit().await?;
    Ok(new)
}

/// Sets (an image: PNG, JPEG or WebP, stored like any upload) or removes the logo.
pub async fn set_logo(
    state: &AppState,
    admin: &CurrentUser,
    image: Option<(Vec<u8>, Option<String>)>,
) -> AppResult<Branding> {
    let prepared = match image {
        Some((bytes, _)) => {
            if !state.upload_limiter.check_key(admin.id) {
                return Err(ErrorCode::RateLimited
                    .with_message("Too many uploads in a short time; wait a minute."));
            }
            let p = crate::storage::prepare_async(&state.decodes, bytes).await?;
            if !p.mime.starts_with("image/") {
                return Err(ErrorCode::UnsupportedMediaType
                    .with_message("The logo is a PNG, JPEG or WebP image.")
                    .with_field("file", "an image"));
            }
            Some(p)
        }
        None => None,
    };
    let mut tx = state.db.begin().await?;
    ensure_row(&mut tx).await?;
    let file_id = match &prepared {
        Some(p) => Some(crate::storage::save(&mut tx, &state.files, admin.id, p, None).await?),
        None => None,
    };
    sqlx::query("UPDATE branding SET logo_file_id = $1, updated_at = $2 WHERE id = 1")
        .bind(file_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    let action = if file_id.is_some() {
        "branding.logo_set"
    } else {
        "branding.logo_remove"
    };
    let summary = file_id.map(|f| format!("file {f}")).unwrap_or_default();
    audit::record(&mut tx, &admin.actor(), audit_event(action, summary)).await?;
    let new = crate::http::web::brand::load(&mut *tx).await?;
    tx.commit().await?;
    Ok(new)
}

/// The logo's bytes and type, for the public `/branding/logo`.
pub async fn logo(state: &AppState) -> AppResult<(String, Vec<u8>)> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT f.mime, f.storage_key FROM branding b JOIN files f ON f.id = b.logo_file_id
         WHERE b.id = 1",
    )
    .fetch_optional(&state.db.pool)
    .await?;
    let (mime, key) = row.ok_or_else(AppError::not_found)?;
    let bytes = crate::storage::read(&state.files, &key).await?;
    Ok((mime, bytes))
}

//! The university's name, the office's name and contact, and whether a logo is set: the frame
//! every page and export shows (set by admins in the `branding` context; read here, below the
//! contexts, because the page frame needs it).

use serde::Serialize;
use utoipa::ToSchema;

/// What the office set; empty text is "not set".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Branding {
    /// e.g. 某某大学
    pub university_name: String,
    /// e.g. 校医院医保办公室
    pub office_name: String,
    /// Where the paper is handed in.
    pub address: String,
    /// e.g. 工作日 8:30–11:30，14:00–17:00
    pub opening_hours: String,
    pub phone: String,
    /// A logo is set: served at `/branding/logo`.
    #[sqlx(skip)]
    pub has_logo: bool,
}

impl Branding {
    /// "University · Office", either alone, or `None` when neither is set.
    pub fn title(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.university_name, &self.office_name]
            .into_iter()
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" · "))
    }

    /// Any way of reaching the office is set.
    pub fn has_contact(&self) -> bool {
        !(self.address.is_empty() && self.opening_hours.is_empty() && self.phone.is_empty())
    }

    /// The logo's address: the office's, or the product's.
    pub fn logo_url(&self) -> &'static str {
        if self.has_logo {
            "/branding/logo"
        } else {
            "/static/logo.svg"
        }
    }
}

/// The branding as set, or the empty one.
pub async fn load<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    ex: E,
) -> sqlx::Result<Branding> {
    let row: Option<(String, String, String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT university_name, office_name, address, opening_hours, phone, logo_file_id
         FROM branding WHERE id = 1",
    )
    .fetch_optional(ex)
    .await?;
    Ok(match row {
        Some((university_name, office_name, address, opening_hours, phone, logo)) => Branding {
            university_name,
            office_name,
            address,
            opening_hours,
            phone,
            has_logo: logo.is_some(),
        },
        None => Branding::default(),
    })
}

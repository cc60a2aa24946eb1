//! The designated hospitals (定点/转诊医院名单, SPEC §13 office): the referral hospitals the
//! university reimburses, each with its level, kept by the office (edited in the console or
//! imported from CSV/XLSX). The case form suggests from it and takes the level from it; a case
//! naming a hospital not on it is pointed out to the reviewer. Not the gateway partners
//! (`registry`), which are hospitals that push visits.

pub mod api;
pub mod domain;
pub mod pages;
pub mod service;
pub mod store;

pub use store::DesignatedHospital;

use crate::http::auth::{Role, RoleSet};
use crate::policy::HospitalLevel;

/// Who reads the whole list: the office (reviewers check a case against it).
pub struct ListReaders;
impl RoleSet for ListReaders {
    const ROLES: &'static [Role] = &[Role::Reviewer1, Role::Reviewer2, Role::Admin];
}

/// A case's hospital against the list, for the reviewer. `None` from [`check`] when the office
/// keeps no list.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct HospitalCheck {
    /// The typed name is on the list (by name or alias).
    pub designated: bool,
    /// The list's name for it, when on the list.
    pub listed_name: Option<String>,
    /// The list's level, when on the list.
    pub listed_level: Option<HospitalLevel>,
}

/// Checks a typed hospital name against the list.
pub async fn check(pool: &sqlx::AnyPool, typed: &str) -> sqlx::Result<Option<HospitalCheck>> {
    if !store::in_use(pool).await? {
        return Ok(None);
    }
    let found = store::find(pool, typed).await?;
    Ok(Some(HospitalCheck {
        designated: found.is_some(),
        listed_name: found.as_ref().map(|h| h.name.clone()),
        listed_level: found.map(|h| h.level),
    }))
}

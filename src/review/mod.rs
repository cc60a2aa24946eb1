//! Review (SPEC §4 rules 4–12): the two-level review of submitted cases, corrections,
//! rejections and the blacklist, four eyes, the payout at final approval, flags and search.

pub mod api;
pub mod blacklist;
pub mod blacklist_pages;
pub mod domain;
pub mod flags;
pub mod pages;
pub mod reasons;
pub mod search;
pub mod search_pages;
pub mod service;
pub mod store;
pub mod view;

use crate::http::auth::Role;
use crate::http::auth::RoleSet;

/// Reviewers of either level; the level's own role is checked per request.
pub struct Reviewers;
impl RoleSet for Reviewers {
    const ROLES: &'static [Role] = &[Role::Reviewer1, Role::Reviewer2];
}

/// Who may reopen an approved case (rule 11).
pub struct Reopeners;
impl RoleSet for Reopeners {
    const ROLES: &'static [Role] = &[Role::Reviewer2, Role::Admin];
}

/// Who may read the preset rejection reasons.
pub struct ReasonReaders;
impl RoleSet for ReasonReaders {
    const ROLES: &'static [Role] = &[Role::Reviewer1, Role::Reviewer2, Role::Admin];
}

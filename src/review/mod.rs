//! Review (SPEC §4 rules 4–12): the two-level review of submitted cases, corrections,
//! rejections and the blacklist, four eyes, the payout at final approval, flags and search.

pub mod admin_pages;
pub mod api;
pub mod decide;
pub mod domain;
pub mod flags;
pub mod pages;
pub mod reasons;
pub mod search;
pub mod store;
pub mod view;

use crate::accounts::Role;
use crate::accounts::extract::RoleSet;

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

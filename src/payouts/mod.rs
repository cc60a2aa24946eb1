//! Paying students (SPEC §13 office, issue 17 item 6): in deployment A the university pays a
//! completed, university-funded claim by bank transfer. A student keeps a payout account in
//! "我的" (sealed at rest, masked on read, step-up to change); finance builds payout batches of
//! the cases handed in up to a date, downloads the bank's transfer file (CSV or XLSX, full
//! account numbers only after a step-up), marks a batch paid (cases `paid`, students told) and
//! records transfers the bank returned (cases back to `completed`, paid in a later batch once
//! the account was fixed).
//!
//! Depends downward on claims (the lifecycle), accounts' plumbing in `http`, notify and audit.

pub mod api;
pub mod domain;
pub mod export;
pub mod pages;
pub mod service;
pub mod store;

pub use domain::{AccountNo, PayoutAccount, mask_account_no};

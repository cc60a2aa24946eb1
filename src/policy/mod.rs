//! Reimbursement policy (SPEC §3, §4 rule 7): ratio per hospital level, yearly deductible and
//! cap, versioned; and the payout rule, shared by the preview and the final approval.

pub mod api;
pub mod domain;
pub mod pages;
pub mod store;

pub use domain::{HospitalLevel, PayoutBreakdown, Policy, YearUsage, compute_payout};

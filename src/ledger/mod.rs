//! The payout ledger (what insurers say they paid, case by case) and its reconciliation against
//! what was approved.

pub mod api;
pub mod domain;
pub mod store;

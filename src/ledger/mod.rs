//! The payout ledger (what insurers say they paid, case by case) and its reconciliation against
//! what was approved: JSON for programs, a workbook and a console page for finance.

pub mod api;
pub mod domain;
pub mod export;
pub mod pages;
pub mod store;

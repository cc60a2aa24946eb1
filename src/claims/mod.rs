//! Claims: cases (病历), their record photos and invoices, from draft to payout.

pub mod api;
pub mod domain;
pub mod ops;
pub mod pages;
pub mod store;
pub mod view;

pub use domain::{CaseStatus, InvoiceStatus};

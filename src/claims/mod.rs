//! Claims: cases (病历), their record photos and invoices, from draft to payout.

pub mod domain;
pub mod store;

pub use domain::{CaseStatus, InvoiceStatus};

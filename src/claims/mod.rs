//! Claims: cases (病历), their record photos and invoices, from draft to payout.

pub mod api;
mod case_pages;
pub mod domain;
pub mod from_visit;
pub mod lifecycle;
pub mod pages;
mod photo_pages;
pub mod routing;
mod scan;
pub mod service;
pub mod store;
pub mod view;

pub use domain::{CaseStatus, InvoiceStatus};
pub use lifecycle::{CaseEvent, InvoiceEvent, Level, Outcome, TransitionError};

//! Reports for finance and government (payouts and statistics as XLSX and CSV) and the staff
//! dashboard.
//!
//! Exports filter on the **approval date** of a case (its `approved_at`, as a calendar day in
//! the deployment's time zone), `from` and `to` both inclusive. They count cases whose status is
//! approved, booked or completed, and only their approved invoices. Personal data is masked in
//! every export whatever the role: phone and national id number show as `138****8000`.

pub mod api;
pub mod dashboard;
pub mod domain;
pub mod export;
pub mod pages;
pub mod store;

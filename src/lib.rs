//! medclaim: medical reimbursement and insurance claims, self-hosted.
//!
//! Modules follow the bounded contexts of the product (accounts, audit, roster, …) and depend
//! downward only: foundations (`config`, `crypto`, `db`, `telemetry`, `fhir`) at the bottom,
//! the plumbing (`http`: state, errors, extractors, middleware, page rendering) above
//! them, the contexts above that, and `app` (router assembly, background work) on top, imported
//! by nothing. `tests/it/architecture.rs` fails on any cycle between top-level modules.

rust_i18n::i18n!("locales", fallback = "zh-CN");

pub mod accounts;
pub mod app;
pub mod audit;
pub mod backup;
pub mod booking;
pub mod branding;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod fhir;
pub mod gateway;
pub mod hospitals;
pub mod http;
pub mod ids;
pub mod insurers;
pub mod invoice_qr;
pub mod ledger;
pub mod money;
pub mod notices;
pub mod notify;
pub mod payouts;
pub mod policy;
pub mod profile;
pub mod registry;
pub mod reports;
pub mod review;
pub mod roster;
pub mod seal;
pub mod sso;
pub mod storage;
pub mod support;
pub mod telemetry;

pub use app::Application;
pub use config::Settings;

//! medclaim: medical reimbursement and insurance claims, self-hosted.
//!
//! Modules follow the bounded contexts of the product (accounts, audit, roster, …); shared
//! plumbing lives in `http`, `db`, `config`, `crypto` and `telemetry`.

rust_i18n::i18n!("locales", fallback = "zh-CN");

pub mod accounts;
pub mod audit;
pub mod booking;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod fhir;
pub mod gateway;
pub mod http;
pub mod insurers;
pub mod ledger;
pub mod notices;
pub mod notify;
pub mod policy;
pub mod profile;
pub mod registry;
pub mod reports;
pub mod review;
pub mod roster;
pub mod storage;
pub mod support;
pub mod telemetry;
pub mod web;

pub use config::Settings;
pub use http::Application;

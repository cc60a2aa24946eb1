//! Integration tests: one binary, a module per context.

mod common;
mod fixtures;

mod a11y;
mod access_matrix;
mod accounts_self;
mod activation;
mod architecture;
mod audit_log;
mod backup;
mod booking;
mod browser;
mod cli;
mod console;
mod contract;
mod foundation;
mod gateway;
mod hub;
mod insurers;
mod intake;
mod ledger;
mod lifecycle;
mod outbox;
mod partners;
mod passkeys;
mod reports;
mod review;
mod seal;
mod security;
mod slot_contact;
mod sso;
mod staff_admin;
mod step_up;
mod storage;
mod support_console;
mod walkthrough;

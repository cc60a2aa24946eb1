//! Integration tests: one binary, a module per context.

mod common;

mod booking;
mod browser;
mod cli;
mod console;
mod foundation;
mod gateway;
mod hub;
mod insurers;
mod intake;
mod ledger;
mod outbox;
mod reports;
mod review;
mod support_console;
mod walkthrough;

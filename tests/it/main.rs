//! Integration tests: one binary, a module per context.

mod common;

mod booking;
mod cli;
mod foundation;
mod outbox;

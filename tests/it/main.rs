//! Integration tests: one binary, a module per context.

mod common;

mod browser;
mod cli;
mod foundation;
mod intake;
mod review;

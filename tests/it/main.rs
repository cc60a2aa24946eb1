//! Integration tests: one binary, a module per context.

mod common;

mod cli;
mod foundation;
mod review;

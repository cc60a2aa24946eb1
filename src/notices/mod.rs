//! Notices (通知公告): what the office tells every student.

pub mod admin;
pub mod api;
pub mod pages;
pub mod store;

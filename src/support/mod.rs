//! Support threads (客服咨询): a student asks, staff answer.

pub mod api;
pub mod console_pages;
pub mod pages;
pub mod store;

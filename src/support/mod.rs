//! Support threads (客服咨询): a student asks, staff answer.

pub mod api;
pub mod pages;
pub mod store;

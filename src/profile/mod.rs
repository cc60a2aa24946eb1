//! The student's own profile: changing the phone number with a 6-digit code sent by SMS.

pub mod api;
pub mod pages;
pub mod phone;

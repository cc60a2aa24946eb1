//! One's own account, self-service: the profile, changing the phone number with a 6-digit code
//! sent by SMS, the forgotten password (a code by SMS), and on "我的" the password and sessions.

pub mod activation;
pub mod activation_pages;
pub mod api;
pub mod pages;
pub mod password_reset;
pub mod phone;
pub mod reset_link;
pub mod reset_pages;
pub mod staff_pages;

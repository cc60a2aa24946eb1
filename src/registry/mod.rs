//! Machine partners: hospitals (whose front servers push visits) and insurers (who adjudicate and
//! pay), each registered by an admin with a key id and a shared secret; and the one place where
//! their signed requests are verified (`signature`).

pub mod api;
pub mod signature;
pub mod store;

pub use signature::{Signed, sign};
pub use store::{Partner, PartnerKind};

//! Invoice QR codes: what the QR printed on a Chinese invoice or fiscal e-receipt says.
//!
//! A bounded context below `claims` and `review`: it knows the payload formats (see
//! `../shared/STACK.md`, "Invoice QR codes") and imports nothing but `money`.
//! `decode` finds the code in a photo (rqrr), `pdf` reads e-invoice PDFs (lopdf), `payload`
//! reads its text, `stored` is its place
//! on the invoice row and `compare` holds it against what the student typed.

pub mod compare;
pub mod decode;
pub mod payload;
pub mod pdf;
pub mod stored;

pub use payload::{InvoiceQr, QrKind, parse};
pub use stored::StoredQr;

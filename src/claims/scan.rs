//! `POST /api/v1/invoices/scan`: what the QR code of an invoice photo says, stored nowhere, so
//! a client can fill in the invoice number, amount and date before the invoice is added.

use axum::Json;
use axum::extract::{Multipart, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::api::{read_invoice, read_multipart};
use super::domain::RuleError;
use crate::http::access::CLAIMANTS_AND_READERS;
use crate::http::auth::{RequireRole, Role, RoleSet};
use crate::http::error::ErrorBodySchema;
use crate::http::{AppResult, AppState, ErrorCode};
use crate::invoice_qr::InvoiceQr;

/// Who may scan: students before adding an invoice, case readers checking one.
pub struct Scanners;
impl RoleSet for Scanners {
    const ROLES: &'static [Role] = CLAIMANTS_AND_READERS;
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scan_invoice))
}

#[derive(Serialize, ToSchema)]
pub struct ScanResult {
    /// A QR code was found and read.
    pub found: bool,
    /// Its fields (`kind` `other` with only `raw` when the text is no known invoice form).
    pub qr: Option<InvoiceQr>,
}

/// Read the QR code of an invoice photo (multipart field `photo`) without storing anything.
/// Scans have their own per-account allowance (`MEDCLAIM_SCAN_BURST`,
/// `MEDCLAIM_SCANS_PER_MINUTE`): the wizard scans the photo it then uploads with the invoice,
/// and the scan must not spend that upload's allowance.
#[utoipa::path(post, path = "/api/v1/invoices/scan", tag = "claims", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", description = "field `photo`: JPEG, PNG, WebP or PDF"),
    responses((status = 200, body = ScanResult),
              (status = 400, description = "`malformed_multipart`", body = ErrorBodySchema),
              (status = 401, body = ErrorBodySchema), (status = 403, body = ErrorBodySchema),
              (status = 413, body = ErrorBodySchema), (status = 415, body = ErrorBodySchema),
              (status = 422, description = "`photo_required`, unreadable image, `pdf_too_complex` (a PDF over the reading's bounds)", body = ErrorBodySchema),
              (status = 429, description = "`rate_limited`: too many scans (an allowance apart from uploads); see `Retry-After`", body = ErrorBodySchema),
              (status = 503, description = "`busy`: photo processing is at capacity; see `Retry-After`", body = ErrorBodySchema)))]
async fn scan_invoice(
    State(state): State<AppState>,
    user: RequireRole<Scanners>,
    multipart: Multipart,
) -> AppResult<Json<ScanResult>> {
    // Before the body is read: a client over its allowance costs no upload bandwidth.
    if !state.scan_limiter.check_key(user.id) {
        return Err(ErrorCode::RateLimited
            .with_message("Too many invoice scans in a short time; wait a minute."));
    }
    let mut f = read_multipart(&state, multipart).await?;
    let (bytes, name) = f
        .remove("photo")
        .or_else(|| f.remove("file"))
        .filter(|(b, _)| !b.is_empty())
        .ok_or(RuleError::PhotoRequired)?;
    let qr = read_invoice(&state, bytes, name).await?.qr;
    Ok(Json(ScanResult {
        found: qr.is_some(),
        qr,
    }))
}

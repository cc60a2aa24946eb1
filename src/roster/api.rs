//! `POST /api/v1/admin/imports/students` and `/coverage` (admins): a multipart CSV or XLSX
//! upload. With `?dry_run=true` the file is only checked: the answer shows the header, the first
//! rows and every problem. Without it, a file whose rows are all valid is applied in one
//! transaction; a file with any bad row applies nothing (422 `import_invalid`, the result
//! naming each row).

use axum::Json;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Checked, Kind, PreviewRow, Report};
use crate::http::auth::Admins;
use crate::http::auth::RequireRole;
use crate::http::{AppResult, AppState, ErrorCode};

/// Rosters of tens of thousands of students fit well within this.
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_students))
        .routes(routes!(import_coverage))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES))
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// `true`: check and preview only, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What happened to an uploaded file.
#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    pub kind: Kind,
    pub file_name: String,
    pub dry_run: bool,
    /// Every row is valid (so applying would succeed).
    pub valid: bool,
    /// The header row as written in the file.
    pub columns: Vec<String>,
    /// The first rows (phone and id number masked).
    pub preview: Vec<PreviewRow>,
    /// Counts, `applied`, and every problem by line.
    pub report: Report,
}

impl ImportResult {
    /// The preview marks rows with a problem.
    pub fn line_has_error(&self, line: &usize) -> bool {
        self.report.errors.iter().any(|e| e.line == *line)
    }

    pub fn new(checked: Checked, file_name: String, dry_run: bool) -> ImportResult {
        ImportResult {
            kind: checked.kind,
            valid: checked.is_valid() || checked.report.applied,
            columns: checked.columns,
            preview: checked.preview,
            report: checked.report,
            file_name,
            dry_run,
        }
    }
}

/// An uploaded file and the text fields that came with it.
pub struct Upload {
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub fields: Vec<(String, String)>,
}

impl Upload {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a multipart body: the part named `file` and any short text parts.
pub async fn read_upload(mut multipart: Multipart) -> AppResult<Upload> {
    let too_large = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::http::json::payload_too_large()
        } else {
            ErrorCode::MalformedBody.with_message("The upload could not be read.")
        }
    };
    let mut file = None;
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(too_large)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("upload").to_string();
            let bytes = field.bytes().await.map_err(too_large)?;
            file = Some((file_name, bytes.to_vec()));
        } else {
            let value = field.text().await.map_err(too_large)?;
            crate::http::text::check(&name, &value)?;
            fields.push((name, value.chars().take(200).collect()));
        }
    }
    let (file_name, bytes) = file.ok_or_else(|| {
        ErrorCode::MissingFile
            .with_message("Attach the CSV or XLSX file as `file`.")
            .with_field("file", "required")
    })?;
    if bytes.is_empty() {
        return Err(ErrorCode::MissingFile
            .with_message("The file is empty.")
            .with_field("file", "empty"));
    }
    Ok(Upload {
        file_name,
        bytes,
        fields,
    })
}

/// Checks, and unless `dry_run` applies, an upload.
pub async fn run(
    state: &AppState,
    user: &crate::http::auth::CurrentUser,
    kind: Kind,
    upload: &Upload,
    dry_run: bool,
) -> AppResult<ImportResult> {
    let checked = super::check(&state.db, kind, &upload.file_name, &upload.bytes).await?;
    let checked = if dry_run {
        checked
    } else {
        super::apply(&state.db, &state.keys, checked, &user.actor()).await?
    };
    tracing::info!(
        user_id = user.id,
        rows = checked.report.rows,
        errors = checked.report.errors.len(),
        applied = checked.report.applied,
        "roster import"
    );
    Ok(ImportResult::new(
        checked,
        upload.file_name.clone(),
        dry_run,
    ))
}

/// 200 with the result; 422 `import_invalid` (with the whole result under `result`) when the file
/// has bad rows and was to be applied.
fn respond(result: ImportResult) -> Response {
    if result.dry_run || result.report.applied {
        return Json(result).into_response();
    }
    let fields: serde_json::Map<String, serde_json::Value> = result
        .report
        .errors
        .iter()
        .map(|e| {
            (
                format!("line {} {}", e.line, e.column).trim().to_string(),
                e.reason.clone().into(),
            )
        })
        .collect();
    let body = serde_json::json!({
        "error": {
            "code": ErrorCode::ImportInvalid.as_str(),
            "message": format!("Nothing was imported: {} problem(s) in the file.", result.report.errors.len()),
            "fields": fields,
        },
        "result": result,
    });
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

async fn handle(
    state: AppState,
    user: RequireRole<Admins>,
    kind: Kind,
    q: ImportQuery,
    multipart: Multipart,
) -> AppResult<Response> {
    let upload = read_upload(multipart).await?;
    Ok(respond(run(&state, &user, kind, &upload, q.dry_run).await?))
}

/// Import the student roster (`student_id,name,class,phone,id_number,status`; Chinese headers
/// accepted).
#[utoipa::path(post, path = "/api/v1/admin/imports/students", tag = "imports", params(ImportQuery),
    security(("bearer" = [])), request_body(content_type = "multipart/form-data", description = "`file`: CSV or XLSX"),
    responses((status = 200, body = ImportResult), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 413, body = crate::http::error::ErrorBodySchema),
              (status = 422, description = "bad rows: nothing applied", body = crate::http::error::ErrorBodySchema)))]
async fn import_students(
    State(state): State<AppState>,
    user: RequireRole<Admins>,
    Query(q): Query<ImportQuery>,
    multipart: Multipart,
) -> AppResult<Response> {
    handle(state, user, Kind::Students, q, multipart).await
}

/// Import the coverage list (`student_id,year[,insurer_id,policy_no]`).
#[utoipa::path(post, path = "/api/v1/admin/imports/coverage", tag = "imports", params(ImportQuery),
    security(("bearer" = [])), request_body(content_type = "multipart/form-data", description = "`file`: CSV or XLSX"),
    responses((status = 200, body = ImportResult), (status = 403, body = crate::http::error::ErrorBodySchema),
              (status = 413, body = crate::http::error::ErrorBodySchema),
              (status = 422, description = "bad rows: nothing applied", body = crate::http::error::ErrorBodySchema)))]
async fn import_coverage(
    State(state): State<AppState>,
    user: RequireRole<Admins>,
    Query(q): Query<ImportQuery>,
    multipart: Multipart,
) -> AppResult<Response> {
    handle(state, user, Kind::Coverage, q, multipart).await
}

//! The one error type at the HTTP boundary: a status, a stable snake_case code, a human
//! message and optional per-field reasons, answered as SPEC §11's JSON body.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use super::error_code::ErrorCode;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub fields: BTreeMap<String, String>,
    /// The cause of a 5xx, logged once and never shown.
    source: Option<anyhow::Error>,
}

pub type AppResult<T> = Result<T, AppError>;

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    fields: &'a BTreeMap<String, String>,
}

impl AppError {
    /// An error with a catalogue code and a specific message; the status is the code's.
    pub fn with_code(code: ErrorCode, message: impl Into<String>) -> AppError {
        AppError {
            status: code.status(),
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            source: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>, why: impl Into<String>) -> AppError {
        self.fields.insert(field.into(), why.into());
        self
    }

    pub fn unauthenticated() -> AppError {
        ErrorCode::Unauthenticated.with_message("Sign in first.")
    }
    pub fn forbidden() -> AppError {
        ErrorCode::Forbidden.with_message("Your role does not allow this.")
    }
    pub fn not_found() -> AppError {
        ErrorCode::NotFound.with_message("Not found.")
    }
    pub fn internal(cause: anyhow::Error) -> AppError {
        let mut e = ErrorCode::Internal.with_message("Something went wrong on our side.");
        e.source = Some(cause);
        e
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.source {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
                fields: &self.fields,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // Lets the metrics and page layers see the code without parsing the body.
        response.extensions_mut().insert(self.code);
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> AppError {
        if crate::db::is_unique_violation(&err) {
            return ErrorCode::Conflict.with_message("This would duplicate an existing record.");
        }
        AppError::internal(anyhow::Error::new(err).context("database"))
    }
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> AppError {
        AppError::internal(err)
    }
}

/// The error body, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBodySchema {
    /// `{"code": "snake_case", "message": "…", "fields": {"field": "why"}}`
    pub error: serde_json::Value,
}

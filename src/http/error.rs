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
    /// 503 `unavailable` (the response carries `Retry-After`): the database cannot be reached
    /// for a moment — see [`crate::db::is_unavailable`].
    pub fn unavailable(cause: anyhow::Error) -> AppError {
        let mut e = ErrorCode::Unavailable
            .with_message("The database is briefly unavailable; try again in a few seconds.");
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
            if self.code == ErrorCode::Unavailable {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
            } else {
                tracing::error!(error = format!("{cause:#}"), "request failed");
            }
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
        if crate::db::is_unavailable(&err) {
            return AppError::unavailable(anyhow::Error::new(err).context("database"));
        }
        AppError::internal(anyhow::Error::new(err).context("database"))
    }
}

impl From<anyhow::Error> for AppError {
    /// A database error anywhere in the chain that means "unreachable right now" is 503
    /// `unavailable`, as when it comes straight from sqlx; anything else is 500.
    fn from(err: anyhow::Error) -> AppError {
        let unavailable = err.chain().any(|cause| {
            cause
                .downcast_ref::<sqlx::Error>()
                .is_some_and(crate::db::is_unavailable)
        });
        if unavailable {
            AppError::unavailable(err)
        } else {
            AppError::internal(err)
        }
    }
}

/// The error body, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBodySchema {
    /// `{"code": "snake_case", "message": "…", "fields": {"field": "why"}}`
    pub error: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A database error with a SQLSTATE, as PostgreSQL answers it.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "test"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn code_of(err: sqlx::Error) -> (StatusCode, ErrorCode) {
        let e = AppError::from(err);
        (e.status, e.code)
    }

    #[test]
    fn a_database_out_of_reach_is_503_unavailable() {
        let unavailable = (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(code_of(sqlx::Error::Io(reset)), unavailable);
        assert_eq!(code_of(sqlx::Error::PoolTimedOut), unavailable);
        assert_eq!(code_of(sqlx::Error::PoolClosed), unavailable);
        // A standby (or a node being promoted), shutdowns, connection exceptions.
        for code in ["25006", "57P01", "57P02", "57P03", "08006", "08001"] {
            let err = sqlx::Error::Database(Box::new(Sqlstate(code)));
            assert_eq!(code_of(err), unavailable, "{code}");
        }
        // Through anyhow with context, as services wrap it.
        let wrapped = anyhow::Error::new(sqlx::Error::PoolTimedOut).context("loading the case");
        assert_eq!(AppError::from(wrapped).code, ErrorCode::Unavailable);
    }

    #[test]
    fn other_database_errors_stay_500_or_their_own_code() {
        // A syntax error or a failed cast is a bug: 500, not "try again".
        for code in ["42601", "22P02"] {
            let err = sqlx::Error::Database(Box::new(Sqlstate(code)));
            assert_eq!(code_of(err).1, ErrorCode::Internal, "{code}");
        }
        assert_eq!(code_of(sqlx::Error::RowNotFound).1, ErrorCode::Internal);
        let plain = anyhow::anyhow!("template: broken");
        assert_eq!(AppError::from(plain).code, ErrorCode::Internal);
    }
}

//! FHIR OperationOutcome: how we tell a sender every problem with what it sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Issue {
    /// `fatal | error | warning | information`
    pub severity: &'static str,
    /// FHIR issue-type code: `required`, `value`, `invalid`, `structure`, `code-invalid`, …
    pub code: &'static str,
    pub diagnostics: String,
    /// FHIRPath of the element at fault, e.g. `Bundle.entry[0].resource.identifier`.
    pub expression: Vec<String>,
}

impl Issue {
    pub fn error(
        code: &'static str,
        expression: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: "error",
            code,
            diagnostics: diagnostics.into(),
            expression: vec![expression.into()],
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperationOutcome {
    pub resource_type: &'static str,
    pub issue: Vec<Issue>,
}

impl OperationOutcome {
    pub fn new(issue: Vec<Issue>) -> OperationOutcome {
        OperationOutcome {
            resource_type: "OperationOutcome",
            issue,
        }
    }
}

/// Answered as 422 `application/fhir+json`.
impl IntoResponse for OperationOutcome {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).expect("serialisable");
        let mut response = (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(axum::http::header::CONTENT_TYPE, "application/fhir+json")],
            body,
        )
            .into_response();
        // For the request log and metrics, like any other refusal.
        response
            .extensions_mut()
            .insert(crate::http::ErrorCode::InvalidFhir);
        response
    }
}

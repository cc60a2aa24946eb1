//! Text the databases can store. PostgreSQL refuses the NUL character in `text` (SQLite keeps
//! it, and every reader after it then cuts the string short), so no request may bring one in:
//! the query string, JSON and form bodies are checked here, in one layer every route sits
//! behind, and multipart text parts and imported cells where they are read. The answer is 422
//! `invalid_characters` naming the field. (Rust strings are always valid UTF-8 and JSON cannot
//! carry lone surrogates, so NUL is the only character left to refuse.)

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::AppState;
use super::error::AppError;
use super::error_code::ErrorCode;

/// Whether the database can store `s` as text.
pub fn storable(s: &str) -> bool {
    !s.contains('\0')
}

/// 422 for a field holding a character the database cannot store.
pub fn unstorable(field: &str) -> AppError {
    ErrorCode::InvalidCharacters
        .with_message("A field contains a character that cannot be stored (NUL).")
        .with_field(field, "contains a NUL character")
}

/// `Ok` when `value` can be stored, else [`unstorable`] naming `field`.
pub fn check(field: &str, value: &str) -> Result<(), AppError> {
    if storable(value) {
        Ok(())
    } else {
        Err(unstorable(field))
    }
}

/// Drops control characters other than tab and newline, for values kept as given but never
/// worth refusing a request over (uploaded file names).
pub fn strip_controls(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

enum BodyKind {
    Json,
    Form,
    Other,
}

fn is_fhir(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/fhir+json"))
}

/// The NUL refusal for a FHIR partner: an OperationOutcome (422 `application/fhir+json`), as
/// every other problem with what a partner sent is answered. Spelled here rather than through
/// `crate::fhir`, which sits above the plumbing.
fn fhir_unstorable(field: &str) -> Response {
    let body = serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error",
            "code": "invalid",
            "diagnostics": "A field contains a character that cannot be stored (NUL).",
            "expression": [field],
        }],
    });
    let mut response = (
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(ErrorCode::InvalidCharacters);
    response
}

fn body_kind(req: &Request) -> BodyKind {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime == "application/json" || mime.ends_with("+json") {
        BodyKind::Json
    } else if mime == "application/x-www-form-urlencoded" {
        BodyKind::Form
    } else {
        BodyKind::Other
    }
}

/// The first `key=value` pair of a urlencoded string whose key or value holds a NUL.
fn form_field_with_nul(encoded: &[u8]) -> Option<String> {
    form_urlencoded::parse(encoded)
        .find(|(k, v)| !storable(k) || !storable(v))
        .map(|(k, _)| strip_controls(&k))
}

/// The path (`items[2].name`) of the first JSON string, or object key, holding a NUL.
fn json_field_with_nul(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(s) => !storable(s),
        Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = json_field_with_nul(v, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(map) => map.iter().any(|(k, v)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&strip_controls(k));
            let found = !storable(k) || json_field_with_nul(v, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        _ => false,
    }
}

/// How deep arrays and objects may nest in a JSON body. serde_json stops at 128 for the
/// fields it reads but skips unknown ones without a limit; no request of ours nests past 10.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether the arrays and objects of `json` nest deeper than `max` (one pass, strings
/// skipped; the bytes need not be valid JSON).
fn nests_deeper_than(json: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The middleware: refuses a NUL in the path, the query string, a JSON body or a form body.
/// Bodies are read (up to the JSON limit) only for those two types; a body over the limit is
/// 413 as it would be in the extractor.
pub async fn refuse_nul(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req.uri();
    if contains(uri.path().to_ascii_lowercase().as_bytes(), b"%00") {
        return unstorable("path").into_response();
    }
    if let Some(field) = uri.query().and_then(|q| form_field_with_nul(q.as_bytes())) {
        return unstorable(&field).into_response();
    }
    let kind = body_kind(&req);
    if matches!(kind, BodyKind::Other) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, state.settings.max_json_bytes).await {
        Ok(b) => b,
        Err(_) => return super::json::payload_too_large().into_response(),
    };
    if matches!(kind, BodyKind::Json) && nests_deeper_than(&bytes, MAX_JSON_DEPTH) {
        return ErrorCode::TooDeeplyNested
            .with_message(format!(
                "The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
            ))
            .into_response();
    }
    let field = match kind {
        // Percent-encoded or raw: quick test first, parse only when one may be there.
        BodyKind::Form if contains(&bytes, b"%00") || bytes.contains(&0) => {
            form_field_with_nul(&bytes)
        }
        BodyKind::Json if contains(&bytes, b"\\u0000") || bytes.contains(&0) => {
            serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                let mut path = String::new();
                json_field_with_nul(&v, &mut path).then(|| {
                    if path.is_empty() {
                        "body".to_string()
                    } else {
                        path
                    }
                })
            })
        }
        _ => None,
    };
    if let Some(field) = field {
        if matches!(kind, BodyKind::Json) && is_fhir(&parts.headers) {
            return fhir_unstorable(&field);
        }
        return unstorable(&field).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field_in_json() {
        let v: Value =
            serde_json::from_str(r#"{"a": "ok", "lines": [{"x": "fine"}, {"x": "b\u0000d"}]}"#)
                .unwrap();
        let mut path = String::new();
        assert!(json_field_with_nul(&v, &mut path));
        assert_eq!(path, "lines[1].x");
        let clean: Value = serde_json::from_str(r#"{"a": "\\u0000 is text"}"#).unwrap();
        assert!(!json_field_with_nul(&clean, &mut String::new()));
    }

    #[test]
    fn measures_nesting_outside_strings() {
        assert!(!nests_deeper_than(br#"{"a": [[1], {"b": "[[[[[[[["}]}"#, 3));
        assert!(nests_deeper_than(br#"{"a": [[[1]]]}"#, 3));
        assert!(!nests_deeper_than(br#"{"a": "\"[[[[", "b": 1}"#, 1));
    }

    #[test]
    fn finds_the_field_in_a_form() {
        assert_eq!(
            form_field_with_nul(b"csrf=x&body=hi%00there"),
            Some("body".into())
        );
        assert_eq!(form_field_with_nul(b"body=100%25"), None);
    }
}

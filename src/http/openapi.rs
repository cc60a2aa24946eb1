//! The published OpenAPI document: the operations' own descriptions plus the answers the
//! plumbing gives on their behalf — the bearer/session check (401), the CSRF header a cookie
//! caller must send on writes (403), `ApiJson` (400/413/415/422), multipart uploads, path and
//! query extraction (400), a path naming nothing (404) and a database out of reach (503
//! `unavailable`). The `Error` schema lists every code of the catalogue.

use serde_json::{Map, Value, json};

use super::error_code::ErrorCode;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// The document as served at `/api/v1/openapi.json`.
pub fn document(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut v = serde_json::to_value(doc).expect("an OpenAPI document serialises");
    error_schema(&mut v);
    if let Some(paths) = v.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for method in METHODS {
                if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                    plumbing_statuses(method, op);
                }
            }
        }
    }
    v
}

/// The statuses an operation answers whatever its handler does, from what it declares.
pub fn plumbing_statuses(method: &str, op: &mut Map<String, Value>) {
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
    let params: Vec<String> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("in").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let paged = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p.get("in") == Some(&json!("query")) && p.get("name") == Some(&json!("cursor"))
            })
        });
    let content: Vec<String> = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .map(|c| c.keys().cloned().collect())
        .unwrap_or_default();
    let json_body = content.iter().any(|c| c == "application/json");
    let multipart = content.iter().any(|c| c == "multipart/form-data");
    let mut add = |status: &str, description: &str| {
        let responses = op
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("responses is an object");
        responses.entry(status).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            })
        });
    };
    if secured {
        add(
            "401",
            "Not signed in, or the session has expired (`unauthenticated`).",
        );
        if method != "get" {
            add(
                "403",
                "Not allowed for the caller's role (`forbidden`), or a cookie-authenticated \
                 write without the `X-CSRF-Token` header (`csrf_failed`).",
            );
        }
    }
    if json_body {
        add(
            "400",
            "The body is not valid JSON (`malformed_json`, `malformed_body`), or a path \
             segment or the query could not be read (`malformed_request`).",
        );
        add("413", "The body is too large (`payload_too_large`).");
        add(
            "415",
            "The body is not `application/json` (`unsupported_media_type`).",
        );
        add(
            "422",
            "A field is missing, has the wrong type or breaks a rule (`invalid_input` or a more \
             specific code); `fields` names the field.",
        );
    }
    if multipart {
        add(
            "400",
            "The form upload could not be read (`malformed_multipart`), or a path segment \
             could not be read (`malformed_request`).",
        );
        add(
            "413",
            "The file or the body is too large (`file_too_large`, `payload_too_large`).",
        );
        add(
            "415",
            "The file is not an accepted type (`unsupported_file_type`).",
        );
        add(
            "422",
            "A field or the file is missing or not valid; `fields` names it.",
        );
    }
    if !params.is_empty() {
        add(
            "400",
            "A path segment or the query could not be read (`malformed_request`).",
        );
    }
    if paged {
        add(
            "422",
            "The `cursor` is not one this list issued (`invalid_cursor`), or another query \
             value breaks a rule.",
        );
    }
    if params.iter().any(|p| p == "path") {
        add(
            "404",
            "No such resource, or not one the caller may see (`not_found`).",
        );
    }
    // Every operation reads or writes the database: while it cannot be reached (a lost
    // connection, a PostgreSQL failover) the answer is 503 `unavailable` with `Retry-After`.
    const UNAVAILABLE: &str = "The database is briefly unavailable, e.g. during a PostgreSQL \
                               failover (`unavailable`); retry after `Retry-After` seconds.";
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    match responses
        .get_mut("503")
        .and_then(|r| r.get_mut("description"))
    {
        // The operation's own 503 (`busy`) keeps its description, with this one added.
        Some(Value::String(own)) if !own.contains("`unavailable`") => {
            own.push_str(" Or: ");
            own.push_str(UNAVAILABLE);
        }
        Some(_) => {}
        None => {
            responses.insert(
                "503".into(),
                json!({
                    "description": UNAVAILABLE,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }),
            );
        }
    }
}

/// `Error`: `{"error": {"code", "message", "fields"}}` with the catalogue's codes.
fn error_schema(v: &mut Value) {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let schema = json!({
        "type": "object",
        "description": "SPEC §11 error body; docs/errors.md lists every code with its status and messages.",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "description": "Why each named field was refused.",
                        "additionalProperties": {"type": "string"}
                    }
                }
            }
        }
    });
    if let Some(schemas) = v
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert("Error".to_string(), schema);
    }
}

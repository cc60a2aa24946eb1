//! `ApiJson<T>`: a JSON body extractor whose failures are SPEC §11 errors — malformed JSON 400,
//! a wrong or missing field 422 naming the field, too large 413, not JSON 415.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::{AppError, ErrorCode};

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json") || m.ends_with("+json")
            });
        if !is_json {
            return Err(
                ErrorCode::UnsupportedMediaType.with_message("Send the body as application/json.")
            );
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                payload_too_large()
            } else {
                ErrorCode::MalformedBody.with_message("The request body could not be read.")
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

pub fn payload_too_large() -> AppError {
    ErrorCode::PayloadTooLarge.with_message("The request body is too large.")
}

/// Parses JSON, telling syntax errors (400) from type errors (422 with the field's path).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => {
            de.end().map_err(|_| {
                ErrorCode::MalformedJson.with_message("The body is not valid JSON.")
            })?;
            Ok(v)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." {
                        "body".to_string()
                    } else {
                        path
                    };
                    Err(ErrorCode::InvalidInput
                        .with_message("A field is missing or has the wrong type.")
                        .with_field(field, strip_position(&inner.to_string())))
                }
                _ => Err(ErrorCode::MalformedJson.with_message("The body is not valid JSON.")),
            }
        }
    }
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

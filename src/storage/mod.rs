//! Uploads: the type is decided by the content (JPEG, PNG, WebP, PDF); images are decoded under
//! pixel limits, turned upright by their EXIF orientation, scaled down and re-encoded (so EXIF
//! and GPS are gone), with a thumbnail; files are stored content-addressed under
//! `<data_dir>/files/` — outside any web root — and served only through `GET /api/v1/files/{id}`.

pub mod api;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::crypto::sha256_hex;
use crate::db::{Tx, now_ms};
use crate::http::AppError;

/// Longest side of a stored image.
pub const MAX_SIDE: u32 = 4096;
/// Longest side of a thumbnail.
pub const THUMB_SIDE: u32 = 320;
/// More pixels than any phone camera takes in one photo (a 24 MP photo is fine); a
/// decompression bomb claims far more.
pub const MAX_PIXELS: u64 = 60_000_000;
const MAX_DIMENSION: u32 = 20_000;
const MAX_ALLOC: u64 = 512 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Jpeg,
    Png,
    WebP,
    Pdf,
}

/// The type from the first bytes, whatever the name or the declared type say.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Kind::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Kind::WebP)
    } else if bytes.starts_with(b"%PDF-") {
        Some(Kind::Pdf)
    } else {
        None
    }
}

/// An upload ready to store.
#[derive(Debug)]
pub struct Prepared {
    pub mime: &'static str,
    pub bytes: Vec<u8>,
    pub thumb: Option<Vec<u8>>,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

pub fn unsupported() -> AppError {
    AppError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_file_type",
        "Upload a JPEG, PNG or WebP photo or a PDF.",
    )
    .with_field("file", "unsupported type")
}

pub fn too_large(max: usize) -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        format!("The file is larger than {} MiB.", max / (1024 * 1024)),
    )
    .with_field("file", "too large")
}

fn image_too_large() -> AppError {
    AppError::invalid(
        "image_too_large",
        "The image has too many pixels to process.",
    )
    .with_field("file", "too many pixels")
}

fn unreadable() -> AppError {
    AppError::invalid("unreadable_image", "The image could not be read.")
        .with_field("file", "damaged or incomplete")
}

/// Checks and transforms an upload (CPU-bound: call through [`prepare_async`]).
pub fn prepare(bytes: &[u8]) -> Result<Prepared, AppError> {
    let format = match sniff(bytes).ok_or_else(unsupported)? {
        Kind::Pdf => {
            return Ok(Prepared {
                mime: "application/pdf",
                bytes: bytes.to_vec(),
                thumb: None,
                width: None,
                height: None,
            });
        }
        Kind::Jpeg => ImageFormat::Jpeg,
        Kind::Png => ImageFormat::Png,
        Kind::WebP => ImageFormat::WebP,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let classify = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => image_too_large(),
        _ => unreadable(),
    };
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(image_too_large());
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify)?;
    img.apply_orientation(orientation);
    if img.width() > MAX_SIDE || img.height() > MAX_SIDE {
        img = img.resize(MAX_SIDE, MAX_SIDE, image::imageops::FilterType::Triangle);
    }
    // PNG stays lossless (screenshots of e-invoices); photos become JPEG.
    let (mime, out) = if format == ImageFormat::Png {
        ("image/png", encode_png(&img)?)
    } else {
        ("image/jpeg", encode_jpeg(&img, 85)?)
    };
    let thumb = encode_jpeg(&img.thumbnail(THUMB_SIDE, THUMB_SIDE), 75)?;
    Ok(Prepared {
        mime,
        bytes: out,
        thumb: Some(thumb),
        width: Some(i64::from(img.width())),
        height: Some(i64::from(img.height())),
    })
}

fn encode_jpeg(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    DynamicImage::ImageRgb8(img.to_rgb8())
        .write_with_encoder(encoder)
        .map_err(|e| AppError::internal(anyhow::anyhow!("jpeg encode: {e}")))?;
    Ok(out)
}

fn encode_png(img: &DynamicImage) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    let img = if img.color().has_alpha() {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
    };
    img.write_with_encoder(encoder)
        .map_err(|e| AppError::internal(anyhow::anyhow!("png encode: {e}")))?;
    Ok(out)
}

/// [`prepare`] on the blocking pool, so big photos do not stall the server.
pub async fn prepare_async(bytes: Vec<u8>) -> Result<Prepared, AppError> {
    tokio::task::spawn_blocking(move || prepare(&bytes))
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("upload task: {e}")))?
}

fn files_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("files")
}

/// Where the content with hash `key` lives.
pub fn path_of(data_dir: &Path, key: &str) -> Option<PathBuf> {
    if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(files_dir(data_dir).join(&key[..2]).join(key))
}

/// Writes bytes under their SHA-256 (once; equal content is stored once). Answers the key.
async fn put(data_dir: &Path, bytes: &[u8]) -> Result<String, AppError> {
    let key = sha256_hex(bytes);
    let path = path_of(data_dir, &key).expect("sha256 hex is a valid key");
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(key);
    }
    let dir = path.parent().expect("has a parent");
    let io = |e: std::io::Error| AppError::internal(anyhow::anyhow!("storing upload: {e}"));
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let tmp = dir.join(format!("{key}.{}.tmp", crate::crypto::random_token()));
    tokio::fs::write(&tmp, bytes).await.map_err(io)?;
    tokio::fs::rename(&tmp, &path).await.map_err(io)?;
    Ok(key)
}

/// Stores the content and records the file for `owner` inside `tx`; answers the file id.
pub async fn save(
    tx: &mut Tx,
    data_dir: &Path,
    owner: i64,
    prepared: &Prepared,
    original_name: Option<&str>,
) -> Result<i64, AppError> {
    let key = put(data_dir, &prepared.bytes).await?;
    let thumb_key = match &prepared.thumb {
        Some(t) => Some(put(data_dir, t).await?),
        None => None,
    };
    let name: Option<String> = original_name.map(|n| n.chars().take(200).collect());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO files (owner_id, sha256, mime, size_bytes, width, height, storage_key, thumb_key, original_name, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(owner)
    .bind(&key)
    .bind(prepared.mime)
    .bind(prepared.bytes.len() as i64)
    .bind(prepared.width)
    .bind(prepared.height)
    .bind(&key)
    .bind(thumb_key)
    .bind(name)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Reads a multipart file field up to `max` bytes (else 413 `file_too_large`).
pub async fn read_field(
    mut field: axum::extract::multipart::Field<'_>,
    max: usize,
) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if out.len() + chunk.len() > max {
                    drain(field, max).await;
                    return Err(too_large(max));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(multipart_error(e)),
        }
    }
}

/// Reads and drops the rest of an oversized field (up to a bound), so the client gets to read
/// the 413 answer instead of a reset connection.
async fn drain(mut field: axum::extract::multipart::Field<'_>, max: usize) {
    let mut seen = 0usize;
    while let Ok(Some(chunk)) = field.chunk().await {
        seen += chunk.len();
        if seen > max.saturating_mul(4) {
            break;
        }
    }
}

pub fn multipart_error(e: axum::extract::multipart::MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        crate::http::json::payload_too_large()
    } else {
        AppError::bad_request("malformed_multipart", "The form upload could not be read.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"%PDF-1.7 ..."), Some(Kind::Pdf));
        assert_eq!(sniff(b"GIF89a......"), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::WebP));
    }
}

//! Uploads: the type is decided by the content (JPEG, PNG, WebP, PDF); images are decoded under
//! pixel limits, turned upright by their EXIF orientation, scaled down and re-encoded (so EXIF
//! and GPS are gone) — a JPEG that needs no scaling is kept as sent with its metadata cut out
//! instead ([`jpeg`]), turned upright first without decoding where its size allows — with a
//! thumbnail. JPEGs are decoded, turned and encoded by libjpeg-turbo ([`turbo`]), at the
//! smallest DCT scale that gives the pixels used; images are scaled down by [`scale`]. Files are
//! stored sealed (each with its own key, see `crate::seal`) and named by a keyed hash of their
//! content in the upload store
//! ([`crate::db::FileStore`]: `<data_dir>/files/` by default — outside any web root — or an
//! S3-compatible bucket), and served only through `GET /api/v1/files/{id}`, never by a bucket
//! URL.

pub mod api;
mod jpeg;
pub mod scale;
pub mod transfer;
mod turbo;

use std::borrow::Cow;
use std::cell::OnceCell;

use std::io::Cursor;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::http::budget::DecodeBudget;

use crate::db::{FileStore, Tx, now_ms};
use crate::http::{AppError, ErrorCode};

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
    ErrorCode::UnsupportedFileType
        .with_message("Upload a JPEG, PNG or WebP photo or a PDF.")
        .with_field("file", "unsupported type")
}

pub fn too_large(max: usize) -> AppError {
    ErrorCode::FileTooLarge
        .with_message(format!(
            "The file is larger than {} MiB.",
            max / (1024 * 1024)
        ))
        .with_field("file", "too large")
}

pub(crate) fn image_too_large() -> AppError {
    ErrorCode::ImageTooLarge
        .with_message("The image has too many pixels to process.")
        .with_field("file", "too many pixels")
}

fn unreadable() -> AppError {
    ErrorCode::UnreadableImage
        .with_message("The image could not be read.")
        .with_field("file", "damaged or incomplete")
}

fn image_format(kind: Kind) -> Option<ImageFormat> {
    match kind {
        Kind::Pdf => None,
        Kind::Jpeg => Some(ImageFormat::Jpeg),
        Kind::Png => Some(ImageFormat::Png),
        Kind::WebP => Some(ImageFormat::WebP),
    }
}

fn classify(e: image::ImageError) -> AppError {
    match e {
        image::ImageError::Limits(_) => image_too_large(),
        _ => unreadable(),
    }
}

/// A decoder that has read the header only, with the pixel budget checked from it: nothing
/// the size of the bitmap is allocated yet.
fn open_image(bytes: &[u8], format: ImageFormat) -> Result<impl ImageDecoder + '_, AppError> {
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(image_too_large());
    }
    Ok(decoder)
}

/// The size of the bitmap an upload decodes to, from its header (`None` for a PDF): what
/// [`DecodeBudget`] charges before the decode may start.
pub fn bitmap_bytes(bytes: &[u8]) -> Result<Option<u64>, AppError> {
    match image_format(sniff(bytes).ok_or_else(unsupported)?) {
        None => Ok(None),
        Some(format) => Ok(Some(open_image(bytes, format)?.total_bytes())),
    }
}

/// Checks and transforms an upload (CPU-bound: call through [`prepare_async`]). The full
/// bitmap is held once; it is scaled down before it is turned upright, so a rotation copies
/// the small image, not the large one.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, AppError> {
    prepare_reading(bytes, 0, |_| ()).map(|(prepared, ())| prepared)
}

/// A photo as a reading of it (the invoice QR search) sees it: upright, in grey, at the sizes
/// the reading asks for.
pub struct Pixels<'a> {
    upright: &'a DynamicImage,
    /// The photo's own size (`upright` may be a smaller decode of it).
    size: (u32, u32),
    /// A JPEG kept as sent (so upright as it is): its grey is libjpeg-turbo's decode of the
    /// luma channel alone, with no colour conversion, at the DCT scale that gives `read_side`.
    jpeg: Option<&'a [u8]>,
    /// The longest side the reading asks for: the grey is made once at that size, and the
    /// smaller sizes are scaled from it.
    read_side: u32,
    grey: OnceCell<Cow<'a, GrayImage>>,
}

impl<'a> Pixels<'a> {
    /// The pixels of a decoded, upright image, read at sizes up to `read_side`.
    pub fn of(img: &'a DynamicImage, read_side: u32) -> Self {
        Self {
            upright: img,
            size: (img.width(), img.height()),
            jpeg: None,
            read_side,
            grey: OnceCell::new(),
        }
    }

    /// The photo's width and height.
    pub fn dimensions(&self) -> (u32, u32) {
        self.size
    }

    /// The photo in grey, fitted within `side`×`side` (never larger than the photo, nor than
    /// the reading's side).
    pub fn grey(&self, side: u32) -> Cow<'_, GrayImage> {
        let grey = self.grey.get_or_init(|| {
            let grey = match self
                .jpeg
                .map(|bytes| turbo::decode(bytes, self.read_side, true))
            {
                Some(Ok(decoded)) => decoded.into_luma8(),
                _ => match self.upright {
                    // A grey photo is read as it is, not copied.
                    DynamicImage::ImageLuma8(grey) => {
                        return scale::shrink_grey(grey, self.read_side);
                    }
                    other => other.to_luma8(),
                },
            };
            match scale::shrink_grey(&grey, self.read_side) {
                Cow::Borrowed(_) => Cow::Owned(grey),
                Cow::Owned(smaller) => Cow::Owned(smaller),
            }
        });
        scale::shrink_grey(grey, side)
    }
}

/// [`prepare`], and `read` run on the upright photo (not on a PDF, which answers
/// `T::default()`): one decode serves both. `read_side` is the longest side `read` asks for,
/// so a JPEG kept as sent is decoded at no more than that and the thumbnail need.
pub fn prepare_reading<T: Default>(
    bytes: &[u8],
    read_side: u32,
    read: impl FnOnce(&Pixels<'_>) -> T,
) -> Result<(Prepared, T), AppError> {
    let Some(format) = image_format(sniff(bytes).ok_or_else(unsupported)?) else {
        let pdf = Prepared {
            mime: "application/pdf",
            bytes: bytes.to_vec(),
            thumb: None,
            width: None,
            height: None,
        };
        return Ok((pdf, T::default()));
    };
    let mut decoder = open_image(bytes, format)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let color = decoder.color_type();
    let (width, height) = decoder.dimensions();
    let scaled = width > MAX_SIDE || height > MAX_SIDE;
    // libjpeg-turbo takes the JPEGs it can turn into RGB or grey straight (CMYK goes by
    // `image`).
    let turbo = format == ImageFormat::Jpeg && matches!(color, ColorType::Rgb8 | ColorType::L8);
    // A JPEG of a size we keep that its EXIF turns (a phone held upright) is turned without
    // decoding where its size allows (whole blocks), and is upright from then on.
    let turned = (turbo && !scaled)
        .then(|| turbo::turn(bytes, orientation))
        .flatten();
    let (bytes, orientation, (width, height)) = match &turned {
        Some(upright) => {
            let across = matches!(
                orientation,
                Orientation::Rotate90
                    | Orientation::Rotate270
                    | Orientation::Rotate90FlipH
                    | Orientation::Rotate270FlipH
            );
            let size = if across {
                (height, width)
            } else {
                (width, height)
            };
            (upright.as_slice(), Orientation::NoTransforms, size)
        }
        None => (bytes, orientation, (width, height)),
    };
    // An upright JPEG of a size we keep is kept as sent, without its metadata (unless it is
    // heavier than a byte a pixel: then the re-encoding is smaller).
    let as_sent = (turbo && !scaled && orientation == Orientation::NoTransforms)
        .then(|| jpeg::without_metadata(bytes))
        .flatten()
        .filter(|kept| kept.len() as u64 <= u64::from(width) * u64::from(height));
    // Only the pixels that are used: for a photo kept as sent, those of its thumbnail (its
    // reading decodes the grey it asks for); otherwise those of the stored size. A JPEG
    // libjpeg-turbo refuses (it also stops at what `image` forgives, such as stray bytes
    // between segments) goes by `image`.
    let want = if as_sent.is_some() {
        THUMB_SIDE
    } else {
        MAX_SIDE
    };
    let mut img = match turbo.then(|| turbo::decode(bytes, want, color == ColorType::L8)) {
        Some(Ok(img)) => img,
        Some(Err(_)) => DynamicImage::from_decoder(open_image(bytes, format)?).map_err(classify)?,
        None => DynamicImage::from_decoder(decoder).map_err(classify)?,
    };
    if let Cow::Owned(smaller) = scale::shrink(&img, MAX_SIDE) {
        img = smaller;
    }
    img.apply_orientation(orientation);
    // A photo kept as sent is read from its own JPEG, in grey at the sizes the reading asks
    // for (`img` is then only the thumbnail's decode).
    let read = read(&Pixels {
        upright: &img,
        size: if as_sent.is_some() {
            (width, height)
        } else {
            (img.width(), img.height())
        },
        jpeg: as_sent.is_some().then_some(bytes),
        read_side,
        grey: OnceCell::new(),
    });
    // PNG stays lossless (screenshots of e-invoices); other photos become JPEG.
    let (mime, out, (width, height)) = if format == ImageFormat::Png {
        ("image/png", encode_png(&img)?, (img.width(), img.height()))
    } else if let Some(kept) = as_sent {
        ("image/jpeg", kept, (width, height))
    } else {
        (
            "image/jpeg",
            encode_jpeg(&img, 85)?,
            (img.width(), img.height()),
        )
    };
    let thumb = encode_jpeg(&scale::shrink(&img, THUMB_SIDE), 75)?;
    let prepared = Prepared {
        mime,
        bytes: out,
        thumb: Some(thumb),
        width: Some(i64::from(width)),
        height: Some(i64::from(height)),
    };
    Ok((prepared, read))
}

fn encode_jpeg(img: &DynamicImage, quality: i32) -> Result<Vec<u8>, AppError> {
    turbo::encode(img, quality)
        .map_err(|e| AppError::internal(anyhow::anyhow!("jpeg encode: {}", e.0)))
}

fn encode_png(img: &DynamicImage) -> Result<Vec<u8>, AppError> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    let written = match img {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img.write_with_encoder(encoder),
        other if other.color().has_alpha() => other.to_rgba8().write_with_encoder(encoder),
        other => other.to_rgb8().write_with_encoder(encoder),
    };
    written.map_err(|e| AppError::internal(anyhow::anyhow!("png encode: {e}")))?;
    Ok(out)
}

/// The memory one decode of a `bitmap_bytes`-byte bitmap holds at its peak, MiB: the bitmap,
/// the scaled copy and its re-encoding (see [`prepare`]).
pub fn decode_cost_mib(bitmap_bytes: u64) -> u32 {
    const MIB: u64 = 1024 * 1024;
    let scaled = bitmap_bytes.min(u64::from(MAX_SIDE).pow(2) * 4);
    let total = bitmap_bytes + 2 * scaled + 8 * MIB;
    total.div_ceil(MIB).min(u64::from(u32::MAX)) as u32
}

/// [`prepare`] on the blocking pool, so big photos do not stall the server, once `budget`
/// grants the memory the header says the decode needs.
pub async fn prepare_async(budget: &DecodeBudget, bytes: Vec<u8>) -> Result<Prepared, AppError> {
    let (prepared, ()) = prepare_reading_async(budget, bytes, 0, 0, |_| ()).await?;
    Ok(prepared)
}

/// [`prepare_reading`] on the blocking pool under the budget, charged `read_mib` more than the
/// decode itself for what `read` holds.
pub async fn prepare_reading_async<T, F>(
    budget: &DecodeBudget,
    bytes: Vec<u8>,
    read_mib: u32,
    read_side: u32,
    read: F,
) -> Result<(Prepared, T), AppError>
where
    T: Default + Send + 'static,
    F: FnOnce(&Pixels<'_>) -> T + Send + 'static,
{
    let permit = match bitmap_bytes(&bytes)? {
        Some(size) => {
            let cost = decode_cost_mib(size).saturating_add(read_mib);
            Some(budget.acquire(cost, image_too_large).await?)
        }
        None => None,
    };
    let prepared = tokio::task::spawn_blocking(move || prepare_reading(&bytes, read_side, read))
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("upload task: {e}")))?;
    drop(permit);
    prepared
}

fn files_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("files")
}

/// Where the content named `key` (its keyed hash, or its SHA-256 before sealing) lives.
pub fn path_of(data_dir: &Path, key: &str) -> Option<PathBuf> {
    if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(files_dir(data_dir).join(&key[..2]).join(key))
}

/// Writes bytes sealed under their keyed hash (once; equal content is stored once). Answers
/// the key.
async fn put(files: &FileStore, bytes: &[u8]) -> Result<String, AppError> {
    let keys = crate::seal::current_keys();
    let key = crate::seal::file_name(&keys, bytes);
    let failed = |e: anyhow::Error| AppError::internal(e.context("storing upload"));
    if files.exists(&key).await.map_err(failed)? {
        return Ok(key);
    }
    files
        .put(&key, crate::seal::seal_file(&keys, bytes))
        .await
        .map_err(failed)?;
    Ok(key)
}

/// Refuses an upload of `incoming` bytes that would take `owner`'s stored files, or those of
/// case `case_id`, over the configured quota (422 `storage_quota_exceeded`).
pub async fn check_quota(
    tx: &mut Tx,
    settings: &crate::Settings,
    owner: i64,
    case_id: i64,
    incoming: usize,
) -> Result<(), AppError> {
    let incoming = incoming as i64;
    let account: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM files WHERE owner_id = $1",
    )
    .bind(owner)
    .fetch_one(&mut **tx)
    .await?;
    let case: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM files WHERE id IN
           (SELECT file_id FROM case_records WHERE case_id = $1
            UNION SELECT photo_file_id FROM invoices WHERE case_id = $1)",
    )
    .bind(case_id)
    .fetch_one(&mut **tx)
    .await?;
    let over = |used: i64, max: i64| used.saturating_add(incoming) > max;
    if over(case, settings.case_quota_bytes) || over(account, settings.account_quota_bytes) {
        let which = if over(case, settings.case_quota_bytes) {
            "case"
        } else {
            "account"
        };
        return Err(ErrorCode::StorageQuotaExceeded
            .with_message(format!(
                "The files of this {which} have reached their storage limit."
            ))
            .with_field("file", format!("{which} storage limit reached")));
    }
    Ok(())
}

/// Stores the content and records the file for `owner` inside `tx`; answers the file id.
pub async fn save(
    tx: &mut Tx,
    files: &FileStore,
    owner: i64,
    prepared: &Prepared,
    original_name: Option<&str>,
) -> Result<i64, AppError> {
    let key = put(files, &prepared.bytes).await?;
    let thumb_key = match &prepared.thumb {
        Some(t) => Some(put(files, t).await?),
        None => None,
    };
    // A file name is kept for the reviewer's eyes only: control characters (NUL, which
    // PostgreSQL refuses, among them) are dropped rather than the upload refused; it is sealed.
    let name: Option<String> = original_name.map(|n| {
        let clean: String = crate::http::text::strip_controls(n)
            .chars()
            .take(200)
            .collect();
        crate::seal::seal(&clean)
    });
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

/// How old an unreferenced stored file must be before [`sweep_orphans`] deletes it: longer
/// than any upload takes from writing its file to committing its row.
pub const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes stored files that no `files` row points to — left by an upload whose transaction
/// rolled back, or a crash between the write and the commit — and stale temporary files,
/// once older than `grace`. Answers how many were deleted.
pub async fn sweep_orphans(
    db: &crate::db::Db,
    files: &FileStore,
    grace: std::time::Duration,
) -> anyhow::Result<usize> {
    let cutoff = chrono::TimeDelta::from_std(grace)
        .ok()
        .and_then(|g| chrono::Utc::now().checked_sub_signed(g))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let candidates: Vec<crate::db::Stored> = files
        .list()
        .await?
        .into_iter()
        .filter(|f| f.modified < cutoff)
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let referenced: std::collections::HashSet<String> = sqlx::query_scalar(
        "SELECT storage_key FROM files UNION SELECT thumb_key FROM files WHERE thumb_key IS NOT NULL",
    )
    .fetch_all(&db.pool)
    .await?
    .into_iter()
    .collect();
    let mut deleted = 0;
    for f in candidates {
        if !referenced.contains(&f.name) {
            files.delete_stored(&f).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Runs [`sweep_orphans`] now and every six hours.
pub fn spawn_sweeper(
    db: crate::db::Db,
    files: FileStore,
    leadership: crate::db::lease::Leadership,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(6 * 3600));
        loop {
            every.tick().await;
            // Once per cluster: only the instance leading the background work sweeps.
            if !leadership.lead().await {
                continue;
            }
            match sweep_orphans(&db, &files, ORPHAN_GRACE).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "orphaned stored files collected"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "sweeping stored files"),
            }
        }
    })
}

/// The plaintext of the stored content named `key`.
pub async fn read(files: &FileStore, key: &str) -> Result<Vec<u8>, AppError> {
    if !crate::db::valid_name(key) {
        return Err(AppError::not_found());
    }
    let bytes = files
        .get(key)
        .await
        .map_err(|e| AppError::internal(e.context("reading stored file")))?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("stored file missing from the store")))?;
    crate::seal::open_file(bytes)
        .map_err(|_| AppError::internal(anyhow::anyhow!("stored file could not be opened")))
}

/// Reads a multipart file field up to `max` bytes (else 413 `file_too_large`).
/// A multipart form's parts by name: `(bytes, file name)`. The parts named `file` or `photo`
/// are read up to `max_file` bytes, every other part up to `max_text` and without NUL; at most
/// 16 parts.
pub async fn read_form(
    mut multipart: axum::extract::Multipart,
    max_file: usize,
    max_text: usize,
) -> Result<std::collections::HashMap<String, (Vec<u8>, Option<String>)>, AppError> {
    let mut out = std::collections::HashMap::new();
    for _ in 0..16 {
        let Some(field) = multipart.next_field().await.map_err(multipart_error)? else {
            return Ok(out);
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let is_file = matches!(name.as_str(), "file" | "photo");
        let limit = if is_file { max_file } else { max_text };
        let bytes = read_field(field, limit).await.map_err(|e| {
            if !is_file && e.code == "file_too_large" {
                ErrorCode::InvalidInput
                    .with_message("A field is too long.")
                    .with_field(&name, "too long")
            } else {
                e
            }
        })?;
        if !is_file && bytes.contains(&0) {
            return Err(crate::http::text::unstorable(&name));
        }
        out.insert(name, (bytes, file_name));
    }
    Err(ErrorCode::MalformedMultipart.with_message("Too many form fields."))
}

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
        ErrorCode::MalformedMultipart.with_message("The form upload could not be read.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reported_png_costs_what_it_decodes_to() {
        // 7000×8500 RGB: 178.5 MB of pixels plus the 4096-side copy twice.
        let cost = decode_cost_mib(7000 * 8500 * 3);
        assert!((250..400).contains(&cost), "{cost}");
    }

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"%PDF-1.7 ..."), Some(Kind::Pdf));
        assert_eq!(sniff(b"GIF89a......"), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::WebP));
    }
}

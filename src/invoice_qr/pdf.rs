//! E-invoices that arrive as PDF files (issue 20 item 6): the QR code of an embedded image, or
//! else the invoice fields of the text layer. China's e-invoice PDFs print 发票号码, 开票日期 and
//! 价税合计（小写）¥…; fiscal e-receipts 票据代码, 票据号码, 开票日期 and 金额合计.
//!
//! A PDF is untrusted input, so the work is bounded before and while it is parsed (lopdf):
//! the whole file's compressed streams may inflate to [`MAX_INFLATED`] at most (checked first,
//! with a fixed buffer, so that a decompression bomb is refused before anything is kept), at most
//! [`MAX_OBJECTS`] objects and [`MAX_PAGES`] pages, and only the first [`PAGES_READ`] pages and
//! [`MAX_IMAGES`] images of a bounded size are looked at. A file over a bound is refused
//! (`pdf_too_complex`); a PDF that cannot be parsed at all just has no fields, as before.
//! CPU-bound: call from the blocking pool under the decode budget ([`COST_MIB`]).

use std::io::Read;

use image::{DynamicImage, GrayImage, ImageReader, Limits, RgbImage};

use super::payload::{InvoiceQr, QrKind, compact_date, decimal_cents};

/// All compressed streams of one PDF together inflate to this much at most.
pub const MAX_INFLATED: usize = 16 * 1024 * 1024;
/// Compressed input the bound check reads in all, over every stream.
const MAX_SCANNED: usize = 64 * 1024 * 1024;
/// Indirect objects one PDF may have (an e-invoice has a few dozen).
pub const MAX_OBJECTS: usize = 20_000;
/// Pages an invoice PDF may have.
pub const MAX_PAGES: usize = 20;
/// Pages read for text and images.
pub const PAGES_READ: u32 = 3;
/// Images tried for a QR code.
pub const MAX_IMAGES: usize = 8;
/// Pixels of one embedded image tried (a 4000×3000 scan).
pub const MAX_IMAGE_PIXELS: u64 = 12_000_000;
/// Memory the read holds at its peak, MiB: the parsed document (twice the inflate bound), one
/// embedded image decoded (12 MP as RGB), and the QR search's copies.
pub const COST_MIB: u32 = 2 * 16 + 36 + super::decode::COST_MIB;

/// Why a PDF is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdfRefusal {
    /// Over a bound: too much compressed content, too many objects or pages.
    TooComplex,
}

/// What the PDF says: its QR code's fields, else those of its text layer; `None` when it has
/// neither (or cannot be parsed).
pub fn read(bytes: &[u8]) -> Result<Option<InvoiceQr>, PdfRefusal> {
    check_bounds(bytes)?;
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(MAX_INFLATED),
        ..Default::default()
    };
    let Ok(doc) = lopdf::Document::load_mem_with_options(bytes, options) else {
        return Ok(None);
    };
    if doc.objects.len() > MAX_OBJECTS {
        return Err(PdfRefusal::TooComplex);
    }
    let pages = doc.get_pages();
    if pages.len() > MAX_PAGES {
        return Err(PdfRefusal::TooComplex);
    }
    let mut tried = 0;
    for (_, page_id) in pages.iter().take(PAGES_READ as usize) {
        for image in doc.get_page_images(*page_id).unwrap_or_default() {
            if tried == MAX_IMAGES {
                break;
            }
            tried += 1;
            if let Some(qr) = image_bitmap(&image).and_then(|img| {
                super::decode::read(&crate::storage::Pixels::of(&img, super::decode::SIDE))
            }) {
                return Ok(Some(qr));
            }
        }
    }
    let numbers: Vec<u32> = pages.keys().copied().take(PAGES_READ as usize).collect();
    let text = doc
        .extract_text_chunks_with_limit(&numbers, MAX_INFLATED)
        .into_iter()
        .filter_map(Result::ok)
        .collect::<String>();
    Ok(from_text(&text))
}

/// Refuses a file whose compressed streams inflate past [`MAX_INFLATED`] together, or that has
/// more than [`MAX_OBJECTS`] objects, before lopdf keeps anything of it. Every `stream`
/// keyword's data is inflated into one reused buffer (a stream that is not zlib data stops at
/// once), up to the end of its zlib data.
fn check_bounds(bytes: &[u8]) -> Result<(), PdfRefusal> {
    let objects = bytes
        .windows(5)
        .filter(|w| w[0] == b' ' && &w[1..4] == b"obj" && !w[4].is_ascii_alphanumeric())
        .count();
    if objects > MAX_OBJECTS {
        return Err(PdfRefusal::TooComplex);
    }
    let mut inflated = 0usize;
    let mut scanned = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0;
    while let Some(found) = find(&bytes[at..], b"stream") {
        let start = at + found;
        at = start + 6;
        if bytes[..start].ends_with(b"end") {
            continue;
        }
        let data = match &bytes[at..] {
            [b'\r', b'\n', rest @ ..] | [b'\n', rest @ ..] | [b'\r', rest @ ..] => rest,
            _ => continue,
        };
        let mut inflater = flate2::bufread::ZlibDecoder::new(data);
        loop {
            let read = inflater.read(&mut buf);
            // Streams may overlap (a `stream` keyword inside another's data): the input read
            // is bounded too, so the scan stays linear in the file.
            if scanned + inflater.total_in() as usize > MAX_SCANNED {
                return Err(PdfRefusal::TooComplex);
            }
            match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    inflated += n;
                    if inflated > MAX_INFLATED {
                        return Err(PdfRefusal::TooComplex);
                    }
                }
            }
        }
        scanned += inflater.total_in() as usize;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An embedded image as a bitmap: JPEG data (`DCTDecode`) decoded under pixel limits, or 8-bit
/// grey or RGB samples (`FlateDecode` or none). Anything else is skipped.
fn image_bitmap(image: &lopdf::xobject::PdfImage<'_>) -> Option<DynamicImage> {
    let (w, h) = (
        u32::try_from(image.width).ok()?,
        u32::try_from(image.height).ok()?,
    );
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return None;
    }
    let filters = image.filters.clone().unwrap_or_default();
    match filters.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["DCTDecode"] => {
            let mut reader = ImageReader::new(std::io::Cursor::new(image.content));
            reader.set_format(image::ImageFormat::Jpeg);
            let mut limits = Limits::default();
            limits.max_image_width = Some(8000);
            limits.max_image_height = Some(8000);
            limits.max_alloc = Some(MAX_IMAGE_PIXELS * 4);
            reader.limits(limits);
            reader.decode().ok()
        }
        [] | ["FlateDecode"] => {
            if image.bits_per_component != Some(8) {
                return None;
            }
            let channels: u64 = match image.color_space.as_deref() {
                Some("DeviceGray" | "CalGray") => 1,
                Some("DeviceRGB" | "CalRGB") => 3,
                _ => return None,
            };
            let size = u64::from(w) * u64::from(h) * channels;
            let samples = if filters.is_empty() {
                image.content.to_vec()
            } else {
                let mut out = Vec::new();
                flate2::bufread::ZlibDecoder::new(image.content)
                    .take(size)
                    .read_to_end(&mut out)
                    .ok()?;
                out
            };
            if samples.len() as u64 != size {
                return None;
            }
            if channels == 1 {
                GrayImage::from_raw(w, h, samples).map(DynamicImage::ImageLuma8)
            } else {
                RgbImage::from_raw(w, h, samples).map(DynamicImage::ImageRgb8)
            }
        }
        _ => None,
    }
}

/// The invoice fields of an e-invoice's or fiscal e-receipt's text layer: the number and at
/// least the amount or the date, or nothing. `raw` holds the labelled values found.
pub fn from_text(text: &str) -> Option<InvoiceQr> {
    let flat: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '：' => ':',
            '（' => '(',
            '）' => ')',
            '￥' => '¥',
            other => other,
        })
        .collect();
    let (kind, number) = match labelled_digits(&flat, "发票号码") {
        Some(n) => (QrKind::Vat, n),
        None => (QrKind::Fiscal, labelled_digits(&flat, "票据号码")?),
    };
    let code = labelled_digits(&flat, "发票代码").or_else(|| labelled_digits(&flat, "票据代码"));
    let check = labelled_alnum(&flat, "校验码");
    let date = after(&flat, "开票日期").and_then(chinese_date);
    let amount = ["价税合计", "金额合计", "合计金额"]
        .iter()
        .find_map(|label| after(&flat, label).and_then(small_amount));
    let amount_cents = amount.and_then(|a| decimal_cents(&a));
    if date.is_none() && amount_cents.is_none() {
        return None;
    }
    let raw = format!(
        "PDF text: number {number}, amount {}, date {}",
        amount_cents.map_or("-".to_string(), |c| c.to_string()),
        date.as_deref().unwrap_or("-")
    );
    Some(InvoiceQr {
        kind,
        code,
        number: Some(number),
        amount_cents,
        date,
        check_code: check,
        raw,
    })
}

/// The text right after `label` and an optional colon.
fn after<'a>(flat: &'a str, label: &str) -> Option<&'a str> {
    let rest = &flat[flat.find(label)? + label.len()..];
    Some(rest.strip_prefix(':').unwrap_or(rest))
}

/// The run of ASCII digits after `label` (1–20 of them).
fn labelled_digits(flat: &str, label: &str) -> Option<String> {
    let rest = after(flat, label)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (1..=20).contains(&digits.len()).then_some(digits)
}

/// The run of ASCII letters and digits after `label` (1–32 of them).
fn labelled_alnum(flat: &str, label: &str) -> Option<String> {
    let rest = after(flat, label)?;
    let text: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (1..=32).contains(&text.len()).then_some(text)
}

/// `2024年06月15日` or `2024-06-15` at the start → `YYYY-MM-DD`.
fn chinese_date(rest: &str) -> Option<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for c in rest.chars().take(16) {
        if c.is_ascii_digit() {
            current.push(c);
        } else if matches!(c, '年' | '月' | '日' | '-' | '/' | '.') && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            if parts.len() == 3 {
                break;
            }
        } else {
            break;
        }
    }
    if parts.len() < 3 && !current.is_empty() {
        parts.push(current);
    }
    let [y, m, d] = &parts[..] else { return None };
    compact_date(&format!("{y:0>4}{m:0>2}{d:0>2}"))
}

/// The amount after a total's label: past `(小写)` when it follows closely, past `¥`.
fn small_amount(rest: &str) -> Option<String> {
    let rest = match rest.find("(小写)") {
        Some(at) if rest[..at].chars().count() <= 40 => &rest[at + "(小写)".len()..],
        _ => rest,
    };
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let rest = rest.strip_prefix('¥').unwrap_or(rest);
    let amount: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
        .filter(|c| *c != ',')
        .collect();
    let amount = amount.trim_end_matches('.').to_string();
    (!amount.is_empty()).then_some(amount)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Cents;

    #[test]
    fn reads_a_vat_e_invoice_text_layer() {
        let text = "电子发票（普通发票）\n发票号码： 24312000000123456789\n开票日期：2024年06月15日\n\
                    价税合计（大写） 壹仟贰佰叁拾肆圆伍角陆分 （小写）¥1234.56";
        let qr = from_text(text).unwrap();
        assert_eq!(qr.kind, QrKind::Vat);
        assert_eq!(qr.number.as_deref(), Some("24312000000123456789"));
        assert_eq!(qr.amount_cents, Some(Cents::new(123_456)));
        assert_eq!(qr.date.as_deref(), Some("2024-06-15"));
    }

    #[test]
    fn reads_a_fiscal_e_receipt_text_layer() {
        let text = "票据代码：11060121 票据号码：0012345678 交款人：张三\n校验码：a1b2c3\n\
                    开票日期：2024-05-02\n金额合计（大写）… （小写）285.14";
        let qr = from_text(text).unwrap();
        assert_eq!(qr.kind, QrKind::Fiscal);
        assert_eq!(qr.code.as_deref(), Some("11060121"));
        assert_eq!(qr.number.as_deref(), Some("0012345678"));
        assert_eq!(qr.amount_cents, Some(Cents::new(28_514)));
        assert_eq!(qr.date.as_deref(), Some("2024-05-02"));
    }

    #[test]
    fn text_without_a_number_or_with_nothing_else_is_nothing() {
        assert_eq!(from_text("开票日期：2024年06月15日 价税合计 ¥1.00"), None);
        assert_eq!(from_text("发票号码：12345678"), None);
        assert_eq!(from_text(""), None);
        let odd =
            from_text("发票号码:12345678 开票日期:2024年13月45日 价税合计(小写)¥abc").is_none();
        assert!(odd);
    }

    #[test]
    fn a_bomb_is_refused_before_parsing() {
        let mut zeros = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut zeros, &vec![0u8; MAX_INFLATED + 1]).unwrap();
        let data = zeros.finish().unwrap();
        let mut pdf = b"%PDF-1.7\n1 0 obj\n<< /Length 1 /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&data);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
        assert_eq!(read(&pdf), Err(PdfRefusal::TooComplex));
        assert_eq!(read(b"%PDF-1.7\n garbage"), Ok(None));
    }
}

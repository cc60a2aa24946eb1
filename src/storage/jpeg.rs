//! A phone's JPEG kept as it was sent, without its metadata (issue 19 item 2): when a photo
//! needs neither scaling nor turning, re-encoding it only costs time and quality. The
//! segments before the scan are filtered with `img-parts`; EXIF (GPS, the camera's own
//! thumbnail), XMP, comments and the application blocks go, and so does anything after the
//! end of the image (other pictures a phone appends, with their own EXIF).

use img_parts::Bytes;
use img_parts::jpeg::{Jpeg, JpegSegment, markers};

/// The photo without its metadata, or `None` when it is not one baseline scan that ends in
/// the end-of-image marker (progressive and other layouts are re-encoded instead).
pub fn without_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut jpeg = Jpeg::from_bytes(Bytes::copy_from_slice(bytes)).ok()?;
    jpeg.segments_mut().retain(kept);
    let scan = jpeg
        .segments()
        .last()
        .filter(|s| s.marker() == markers::SOS)?;
    // The scan segment carries the rest of the file after its header.
    let rest = scan.len_with_entropy() - scan.len();
    let mut out = jpeg.encoder().bytes().to_vec();
    let start = out.len().checked_sub(rest)?;
    let end = start + one_scan_len(&out[start..])?;
    out.truncate(end);
    Some(out)
}

/// What the picture needs: everything but the application blocks and comments, of which the
/// JFIF header, the colour profile and Adobe's colour-transform flag are kept.
fn kept(segment: &JpegSegment) -> bool {
    match segment.marker() {
        markers::APP0 | markers::APP14 => true,
        markers::APP2 => segment.contents().starts_with(b"ICC_PROFILE\0"),
        markers::APP1..=markers::APP15 | markers::COM => false,
        _ => true,
    }
}

/// The length of one scan's entropy-coded data through its end-of-image marker, when nothing
/// but stuffed zero bytes, fill bytes and restart markers come before it.
fn one_scan_len(data: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(at) = data[i..].iter().position(|&b| b == markers::P) {
        let mut j = i + at + 1;
        while data.get(j) == Some(&markers::P) {
            j += 1;
        }
        match *data.get(j)? {
            markers::Z | markers::RST0..=markers::RST7 => i = j + 1,
            markers::EOI => return Some(j + 1),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(progressive_like_marker: bool) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
        let mut out = Vec::new();
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80);
        use image::ImageEncoder;
        enc.set_exif_metadata(b"MM\0\x2a\0\0\0\x08\0\0\0\0\0\0GPS-SECRET".to_vec())
            .unwrap();
        enc.write_image(img.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
            .unwrap();
        if progressive_like_marker {
            // A second scan's tables after the first scan: not the one-scan layout.
            let eoi = out.len() - 2;
            out.splice(eoi..eoi, [0xFF, 0xC4, 0x00, 0x02]);
        }
        out
    }

    #[test]
    fn metadata_and_trailing_data_go_the_picture_stays() {
        let mut sent = jpeg(false);
        sent.extend_from_slice(b"\xFF\xD8appended picture with GPS-SECRET\xFF\xD9");
        let kept = without_metadata(&sent).expect("baseline");
        assert!(!kept.windows(10).any(|w| w == b"GPS-SECRET"));
        assert!(kept.len() < sent.len());
        assert_eq!(&kept[kept.len() - 2..], [0xFF, 0xD9]);
        let (a, b) = (
            image::load_from_memory(&sent).unwrap().to_rgb8(),
            image::load_from_memory(&kept).unwrap().to_rgb8(),
        );
        assert_eq!(a, b, "the same pixels, not re-encoded");
    }

    #[test]
    fn other_layouts_are_left_to_the_encoder() {
        assert_eq!(without_metadata(&jpeg(true)), None);
        assert_eq!(without_metadata(b"\xFF\xD8\xFF"), None);
        let mut cut = jpeg(false);
        cut.truncate(cut.len() - 2);
        assert_eq!(without_metadata(&cut), None, "no end-of-image marker");
    }
}

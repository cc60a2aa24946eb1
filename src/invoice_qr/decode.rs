//! Finding and reading the QR code in an invoice photo. CPU-bound: it runs inside the upload's
//! blocking, budgeted decode step (see `storage::prepare_reading_async`), on the photo already
//! decoded there, so the photo is decoded once.

use image::{DynamicImage, GrayImage};

use super::payload::{InvoiceQr, parse};

/// The passes tried in turn: the longest side the photo is scaled to, and whether it is softened
/// first. Softening (a light blur) removes the sensor and JPEG noise the detector's per-pixel
/// threshold trips on; the smaller, unsoftened passes serve codes whose modules the blur (or a
/// large photo's downscaling) would wash out.
const PASSES: [(u32, bool); 4] = [(2400, true), (1600, true), (1600, false), (800, false)];

/// Memory the search holds at its peak beyond the upload's own decode, MiB: the scaled RGB
/// copy (2400² × 3 bytes), its greyscale, the softened greyscale and the detector's copy
/// (2400² bytes each).
pub const COST_MIB: u32 = 40;

/// The fields of the first readable QR code in the photo, if any.
pub fn read(img: &DynamicImage) -> Option<InvoiceQr> {
    read_text(img).map(|text| parse(&text))
}

/// The text of the first readable QR code. A detector failure (even a panic inside it) is
/// "no code": the upload must not fail because its QR could not be read.
pub fn read_text(img: &DynamicImage) -> Option<String> {
    let longest = img.width().max(img.height());
    let mut tried = Vec::new();
    for (side, soften) in PASSES {
        let side = side.min(longest);
        if side == 0 || tried.contains(&(side, soften)) {
            continue;
        }
        tried.push((side, soften));
        let mut gray = if side < longest {
            img.thumbnail(side, side).into_luma8()
        } else {
            img.to_luma8()
        };
        if soften {
            gray = soften_3x3(&gray);
        }
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (w, h) = (gray.width() as usize, gray.height() as usize);
            let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
                gray.get_pixel(x as u32, y as u32).0[0]
            });
            prepared
                .detect_grids()
                .into_iter()
                .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
        }));
        if let Ok(Some(text)) = found {
            return Some(text);
        }
    }
    None
}

/// Each pixel the mean of its 3×3 neighbourhood (edges: of the neighbours there are).
fn soften_3x3(gray: &GrayImage) -> GrayImage {
    let (w, h) = gray.dimensions();
    let px = |x: u32, y: u32| u32::from(gray.as_raw()[(y * w + x) as usize]);
    GrayImage::from_fn(w, h, |x, y| {
        let (mut sum, mut n) = (0, 0);
        for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
            for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                sum += px(xx, yy);
                n += 1;
            }
        }
        image::Luma([(sum / n) as u8])
    })
}

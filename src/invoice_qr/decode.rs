//! Finding and reading the QR code in an invoice photo. CPU-bound: it runs inside the upload's
//! blocking, budgeted decode step (see `storage::prepare_reading_async`) on the photo's
//! [`Pixels`], which give it grey at each pass's size (for a JPEG kept as sent, straight from
//! libjpeg-turbo's DCT-scaled decode of the luma channel).

use std::borrow::Cow;

use image::GrayImage;

use super::payload::{InvoiceQr, parse};
use crate::storage::Pixels;

/// The passes tried in turn: the longest side the photo is scaled to, and whether it is softened
/// first. Softening (a light blur) removes the sensor and JPEG noise the detector's per-pixel
/// threshold trips on; the smaller, unsoftened passes serve codes whose modules the blur (or a
/// large photo's downscaling) would wash out. The smallest pass goes first: it costs a ninth of
/// the largest and reads every code of two pixels a module or more there (most invoice photos),
/// and the order changes only how soon a code is found, not which codes are.
const PASSES: [(u32, bool); 4] = [(800, false), (2400, true), (1600, true), (1600, false)];

/// The longest side the search looks at.
pub const SIDE: u32 = 2400;

/// Memory the search holds at its peak beyond the upload's own decode, MiB: the greyscale of
/// the photo at [`SIDE`], a smaller pass, its softened copy and the detector's copy (2400²
/// bytes each), with room to spare.
pub const COST_MIB: u32 = 40;

/// The fields of the first readable QR code in the photo, if any.
pub fn read(pixels: &Pixels<'_>) -> Option<InvoiceQr> {
    read_text(pixels).map(|text| parse(&text))
}

/// The text of the first readable QR code. A detector failure (even a panic inside it) is
/// "no code": the upload must not fail because its QR could not be read.
///
/// Each pass asks for the photo in grey at its size (at most [`SIDE`]); a pass of the same size
/// as the one before reuses its pixels.
pub fn read_text(pixels: &Pixels<'_>) -> Option<String> {
    let (width, height) = pixels.dimensions();
    let base_side = width.max(height).min(SIDE);
    if base_side == 0 {
        return None;
    }
    let mut tried = Vec::new();
    let mut pass: Option<(u32, Cow<'_, GrayImage>)> = None;
    for (side, soften) in PASSES {
        let side = side.min(base_side);
        if tried.contains(&(side, soften)) {
            continue;
        }
        tried.push((side, soften));
        if pass.as_ref().is_none_or(|(s, _)| *s != side) {
            pass = Some((side, pixels.grey(side)));
        }
        let Some((_, gray)) = &pass else { continue };
        let softened;
        let gray = if soften {
            softened = soften_3x3(gray);
            &softened
        } else {
            gray
        };
        if let Some(text) = detect(gray) {
            return Some(text);
        }
    }
    None
}

fn detect(gray: &GrayImage) -> Option<String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (w, h) = (gray.width() as usize, gray.height() as usize);
        let black = binarize(gray);
        let mut prepared = rqrr::PreparedImage::prepare_from_bitmap(w, h, |x, y| black[y * w + x]);
        prepared
            .detect_grids()
            .into_iter()
            .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
    }))
    .ok()
    .flatten()
}

/// Which pixels are black, exactly as rqrr's own preparation decides it: a running mean along
/// each row (over an eighth of the width, walked in both directions, carried over from row to
/// row), and a pixel under 95 % of the two means' average is black. The same integers, but
/// 32-bit (they stay under 2³² for any side up to [`SIDE`]) and with the comparison
/// multiplied out instead of divided: the thresholding was most of the search's time.
fn binarize(gray: &GrayImage) -> Vec<bool> {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let px = gray.as_raw();
    let s = (w / 8).max(1) as u32;
    let mut black = vec![false; w * h];
    let mut row_average = vec![0u32; w];
    let (mut avg_v, mut avg_u) = (0u32, 0u32);
    for y in 0..h {
        let line = &px[y * w..(y + 1) * w];
        row_average.fill(0);
        for x in 0..w {
            let (v, u) = if y % 2 == 0 {
                (w - 1 - x, x)
            } else {
                (x, w - 1 - x)
            };
            avg_v = avg_v * (s - 1) / s + u32::from(line[v]);
            avg_u = avg_u * (s - 1) / s + u32::from(line[u]);
            row_average[v] += avg_v;
            row_average[u] += avg_u;
        }
        // p < ⌊a·95 / (200·s)⌋  ⇔  (p + 1)·200·s ≤ a·95
        let out = &mut black[y * w..(y + 1) * w];
        for x in 0..w {
            out[x] = (u32::from(line[x]) + 1) * 200 * s <= row_average[x] * 95;
        }
    }
    black
}

/// Each pixel the mean of its 3×3 neighbourhood (edges: of the neighbours there are), as a
/// sum of three rows of sums of three.
fn soften_3x3(gray: &GrayImage) -> GrayImage {
    let (w, h) = (gray.width() as usize, gray.height() as usize);
    let px = gray.as_raw();
    // Each pixel's sum over its row neighbours, and how many there are.
    let mut rows = vec![0u16; w * h];
    for y in 0..h {
        let line = &px[y * w..(y + 1) * w];
        let out = &mut rows[y * w..(y + 1) * w];
        for (x, sum) in out.iter_mut().enumerate() {
            let from = x.saturating_sub(1);
            let to = (x + 1).min(w - 1);
            *sum = line[from..=to].iter().map(|&v| u16::from(v)).sum();
        }
    }
    let across = |x: usize| (x + 1).min(w - 1) - x.saturating_sub(1) + 1;
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let from = y.saturating_sub(1);
        let to = (y + 1).min(h - 1);
        let down = (to - from + 1) as u16;
        for x in 0..w {
            let sum: u16 = (from..=to).map(|yy| rows[yy * w + x]).sum();
            out[y * w + x] = (sum / (down * across(x) as u16)) as u8;
        }
    }
    GrayImage::from_raw(w as u32, h as u32, out).expect("buffer of the image's size")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: each pixel the mean of the neighbours there are.
    fn soften_slowly(gray: &GrayImage) -> GrayImage {
        let (w, h) = gray.dimensions();
        GrayImage::from_fn(w, h, |x, y| {
            let (mut sum, mut n) = (0u32, 0u32);
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    sum += u32::from(gray.get_pixel(xx, yy).0[0]);
                    n += 1;
                }
            }
            image::Luma([(sum / n) as u8])
        })
    }

    #[test]
    fn black_and_white_as_the_detector_itself_decides() {
        for (w, h, seed) in [
            (1, 1, 1u32),
            (7, 3, 2),
            (640, 40, 3),
            (2400, 12, 4),
            (33, 900, 5),
        ] {
            let mut state = seed;
            let gray = GrayImage::from_fn(w, h, |x, y| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let shade = (x * 255 / w.max(1) + y) % 256;
                image::Luma([((shade + (state >> 16) % 60) % 256) as u8])
            });
            let raw = gray.as_raw();
            let (wu, hu) = (w as usize, h as usize);
            let theirs =
                rqrr::PreparedImage::prepare_from_greyscale(wu, hu, |x, y| raw[y * wu + x]);
            let ours = binarize(&gray);
            for y in 0..hu {
                for x in 0..wu {
                    // rqrr's colours as bytes: 0 white, 1 black.
                    let colour: u8 = theirs.get_pixel_at(x, y).into();
                    let black = colour == 1;
                    assert_eq!(ours[y * wu + x], black, "{w}×{h} at ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn softening_is_the_mean_of_the_neighbours() {
        for (w, h) in [(1, 1), (1, 5), (5, 1), (2, 2), (17, 9)] {
            let gray =
                GrayImage::from_fn(w, h, |x, y| image::Luma([((x * 37 + y * 91) % 256) as u8]));
            assert_eq!(soften_3x3(&gray), soften_slowly(&gray), "{w}×{h}");
        }
    }
}

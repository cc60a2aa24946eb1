//! JPEG through libjpeg-turbo (SIMD), by the `turbojpeg` crate (issue 19 item 2). A photo is
//! decoded at the smallest of libjpeg-turbo's DCT scales (n/8) that still gives the longest side
//! wanted, so a thumbnail of a kept photo costs an eighth to a quarter of the pixels, and what
//! must be re-encoded is encoded here too.

use image::metadata::Orientation;
use image::{DynamicImage, GrayImage, RgbImage};
use turbojpeg::{
    Compressor, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp, Transform, TransformOp,
};

/// Why a JPEG could not be turned into pixels or back: the caller answers `unreadable_image`
/// for a decode and an internal error for an encode.
#[derive(Debug)]
pub struct Failed(pub turbojpeg::Error);

/// The photo's pixels, RGB (or grey when `grey`), with the longest side at least `want` when
/// the photo has it: decoded at the smallest DCT scale that keeps that many pixels.
pub fn decode(bytes: &[u8], want: u32, grey: bool) -> Result<DynamicImage, Failed> {
    let mut decompressor = Decompressor::new().map_err(Failed)?;
    let header = decompressor.read_header(bytes).map_err(Failed)?;
    let longest = header.width.max(header.height);
    let want = (want as usize).min(longest);
    let n = (1..=8)
        .find(|n| (longest * n).div_ceil(8) >= want)
        .unwrap_or(8);
    let scale = ScalingFactor::new(n, 8);
    decompressor.set_scaling_factor(scale).map_err(Failed)?;
    let scaled = header.scaled(scale);
    let (width, height) = (scaled.width, scaled.height);
    let format = if grey {
        PixelFormat::GRAY
    } else {
        PixelFormat::RGB
    };
    let pitch = width * format.size();
    let mut pixels = vec![0u8; pitch * height];
    let image = Image {
        pixels: &mut pixels[..],
        width,
        pitch,
        height,
        format,
    };
    decompressor.decompress(bytes, image).map_err(Failed)?;
    let (w, h) = (width as u32, height as u32);
    let img = if grey {
        GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
    };
    // The buffer was sized from the same dimensions.
    Ok(img.expect("buffer of the decoded size"))
}

/// The image as a JPEG of `quality` (4:2:0 colour, or one grey channel).
pub fn encode(img: &DynamicImage, quality: i32) -> Result<Vec<u8>, Failed> {
    let mut compressor = Compressor::new().map_err(Failed)?;
    compressor.set_quality(quality).map_err(Failed)?;
    let rgb;
    let (pixels, format, subsamp) = match img {
        DynamicImage::ImageLuma8(grey) => (grey.as_raw(), PixelFormat::GRAY, Subsamp::Gray),
        DynamicImage::ImageRgb8(rgb) => (rgb.as_raw(), PixelFormat::RGB, Subsamp::Sub2x2),
        other => {
            rgb = other.to_rgb8();
            (rgb.as_raw(), PixelFormat::RGB, Subsamp::Sub2x2)
        }
    };
    compressor.set_subsamp(subsamp).map_err(Failed)?;
    let width = img.width() as usize;
    let image = Image {
        pixels: &pixels[..],
        width,
        pitch: width * format.size(),
        height: img.height() as usize,
        format,
    };
    compressor.compress_to_vec(image).map_err(Failed)
}

/// The JPEG turned upright by its EXIF `orientation` without decoding it: libjpeg-turbo moves
/// and transposes the DCT blocks, so nothing is lost and nothing re-encoded. `None` when that
/// cannot be done perfectly (a side that is not a whole number of blocks, where the edge
/// blocks could not move) or at all: the caller decodes and turns the pixels instead. The
/// markers are copied as they are, EXIF with its orientation included: the caller strips them.
pub fn turn(bytes: &[u8], orientation: Orientation) -> Option<Vec<u8>> {
    let op = match orientation {
        Orientation::NoTransforms => return None,
        Orientation::FlipHorizontal => TransformOp::Hflip,
        Orientation::Rotate180 => TransformOp::Rot180,
        Orientation::FlipVertical => TransformOp::Vflip,
        Orientation::Rotate90FlipH => TransformOp::Transpose,
        Orientation::Rotate90 => TransformOp::Rot90,
        Orientation::Rotate270FlipH => TransformOp::Transverse,
        Orientation::Rotate270 => TransformOp::Rot270,
    };
    let mut transform = Transform::op(op);
    transform.perfect = true;
    turbojpeg::Transformer::new()
        .ok()?
        .transform_to_vec(&transform, bytes)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(w: u32, h: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        }))
    }

    /// The largest difference of any channel of any pixel between two pictures of one size.
    fn largest_difference(a: &RgbImage, b: &RgbImage) -> u8 {
        a.pixels()
            .zip(b.pixels())
            .flat_map(|(p, q)| (0..3).map(move |c| p.0[c].abs_diff(q.0[c])))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn decodes_at_the_smallest_scale_that_keeps_the_side_wanted() {
        let jpeg = encode(&sample(1600, 1200), 85).unwrap();
        let full = decode(&jpeg, 4096, false).unwrap();
        assert_eq!((full.width(), full.height()), (1600, 1200));
        // 320 wanted: a quarter (400×300) is the smallest n/8 with a side of at least 320.
        let small = decode(&jpeg, 320, false).unwrap();
        assert_eq!((small.width(), small.height()), (400, 300));
        let grey = decode(&jpeg, 1600, true).unwrap();
        assert!(matches!(grey, DynamicImage::ImageLuma8(_)));
        assert_eq!(grey.width(), 1600);
    }

    #[test]
    fn encodes_what_decodes_to_the_same_picture() {
        let img = sample(64, 48);
        let back = decode(&encode(&img, 95).unwrap(), 64, false).unwrap();
        let worst = largest_difference(&img.to_rgb8(), &back.to_rgb8());
        assert!(worst < 40, "largest channel difference {worst}");
    }

    /// Every EXIF orientation turns the blocks into the picture that decoding and turning the
    /// pixels gives; a side that is not a whole number of blocks is left to the decode.
    #[test]
    fn turns_losslessly_as_the_pixels_would_turn() {
        let jpeg = encode(&sample(64, 32), 95).unwrap();
        let decoded = decode(&jpeg, 64, false).unwrap();
        for exif in 2..=8 {
            let orientation = Orientation::from_exif(exif).unwrap();
            let turned = turn(&jpeg, orientation).expect("a whole number of blocks");
            let got = decode(&turned, 64, false).unwrap().to_rgb8();
            let mut want = decoded.clone();
            want.apply_orientation(orientation);
            let want = want.to_rgb8();
            assert_eq!(got.dimensions(), want.dimensions(), "orientation {exif}");
            let worst = largest_difference(&got, &want);
            assert!(worst <= 8, "orientation {exif}: largest difference {worst}");
        }
        let ragged = encode(&sample(60, 30), 95).unwrap();
        assert!(turn(&ragged, Orientation::Rotate90).is_none());
        assert!(turn(&jpeg, Orientation::NoTransforms).is_none());
    }

    #[test]
    fn refuses_what_is_not_a_jpeg() {
        assert!(decode(b"\xFF\xD8\xFF\xE0 not really", 320, false).is_err());
    }
}

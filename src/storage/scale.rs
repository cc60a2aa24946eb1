//! Scaling photos down by area averaging, with SIMD (`fast_image_resize`): thumbnails, photos
//! over the stored size, and the QR search's smaller passes. `image`'s own `thumbnail` computes
//! in floats pixel by pixel; on an invoice photo it was a third of the upload's time.

use std::borrow::Cow;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, GrayImage};

/// The size of a `width`×`height` image fitted within `side`×`side`, keeping its proportions
/// (rounded, at least a pixel); an image that fits already keeps its size.
pub fn fit(width: u32, height: u32, side: u32) -> (u32, u32) {
    if width <= side && height <= side {
        return (width, height);
    }
    let ratio = f64::from(side) / f64::from(width.max(height));
    let scaled = |d: u32| ((f64::from(d) * ratio).round() as u32).clamp(1, side);
    (scaled(width), scaled(height))
}

/// The image fitted within `side`×`side`, each pixel the average of the area it covers; the
/// image itself when it fits.
pub fn shrink(img: &DynamicImage, side: u32) -> Cow<'_, DynamicImage> {
    let (w, h) = fit(img.width(), img.height(), side);
    if (w, h) == (img.width(), img.height()) {
        return Cow::Borrowed(img);
    }
    let mut out = DynamicImage::new(w, h, img.color());
    let box_filter = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
    match Resizer::new().resize(img, &mut out, &box_filter) {
        Ok(()) => Cow::Owned(out),
        // A pixel layout the resizer does not take (none that a decoder here produces).
        Err(_) => Cow::Owned(img.thumbnail(w, h)),
    }
}

/// [`shrink`] for a grey image.
pub fn shrink_grey(grey: &GrayImage, side: u32) -> Cow<'_, GrayImage> {
    let (w, h) = fit(grey.width(), grey.height(), side);
    if (w, h) == grey.dimensions() {
        return Cow::Borrowed(grey);
    }
    let box_filter = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box));
    let mut out = Image::new(w, h, PixelType::U8);
    let resized = ImageRef::new(grey.width(), grey.height(), grey.as_raw(), PixelType::U8)
        .map_err(|_| ())
        .and_then(|src| {
            Resizer::new()
                .resize(&src, &mut out, &box_filter)
                .map_err(|_| ())
        });
    match resized
        .ok()
        .and_then(|()| GrayImage::from_raw(w, h, out.into_vec()))
    {
        Some(smaller) => Cow::Owned(smaller),
        // Not reached: the buffers are made for these sizes.
        None => Cow::Owned(image::imageops::thumbnail(grey, w, h)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb, RgbImage};

    #[test]
    fn fits_within_the_side_keeping_proportions_and_never_enlarges() {
        assert_eq!(fit(1600, 1200, 320), (320, 240));
        assert_eq!(fit(1200, 1600, 320), (240, 320));
        assert_eq!(fit(4000, 3, 320), (320, 1));
        assert_eq!(fit(300, 200, 320), (300, 200));
        assert_eq!(fit(320, 320, 320), (320, 320));
    }

    #[test]
    fn each_pixel_is_the_average_of_its_area() {
        // Two-pixel stripes of 0 and 200 halve to a flat 100; a flat colour stays that colour.
        let stripes = GrayImage::from_fn(64, 32, |x, _| Luma([if x % 2 == 0 { 0 } else { 200 }]));
        let half = shrink_grey(&stripes, 32);
        assert_eq!(half.dimensions(), (32, 16));
        assert!(
            half.pixels().all(|p| p.0[0].abs_diff(100) <= 1),
            "{:?}",
            half.as_raw()
        );
        let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(400, 300, Rgb([10, 120, 250])));
        let thumb = shrink(&flat, 320);
        assert_eq!((thumb.width(), thumb.height()), (320, 240));
        assert!(thumb.to_rgb8().pixels().all(|p| *p == Rgb([10, 120, 250])));
        assert!(matches!(shrink(&flat, 400), Cow::Borrowed(_)));
    }
}

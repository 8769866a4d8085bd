//! Checking and cleaning uploaded images. An upload is accepted only if its bytes are a JPEG,
//! PNG or WebP (by magic bytes, never by name or declared type), it decodes completely, and it
//! is within the size limits. What is stored is a fresh encoding of the decoded pixels, turned
//! upright first: EXIF (GPS location above all), XMP, comments and every other metadata block
//! are gone because nothing but pixels is carried over.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// The largest upload accepted, in bytes.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// The largest side accepted, in pixels.
const MAX_SIDE: u32 = 12_000;
/// The most pixels accepted (a 25-megapixel photo is 6,124 × 4,082): checked from the header,
/// before anything is decoded, because a few hundred KB of PNG can declare gigapixels.
pub const MAX_PIXELS: u64 = 25_000_000;
/// The most bytes the decoded pixels may take (16-bit and alpha channels count).
const MAX_DECODED_BYTES: u64 = 200 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageProblem {
    #[error("The file is empty.")]
    Empty,
    #[error("Images can be at most 10 MB.")]
    TooLarge,
    #[error("Only JPEG, PNG and WebP images can be uploaded; this file is not one of them.")]
    NotAnImage,
    #[error("The image is damaged or incomplete and could not be read.")]
    Damaged,
    #[error("The image has too many pixels (at most 25 megapixels and 12,000 on a side).")]
    TooManyPixels,
}

/// A cleaned image, ready to store.
#[derive(Debug, Clone)]
pub struct CleanImage {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The format the bytes announce themselves as.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some(ImageFormat::Png)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

pub fn clean(bytes: &[u8]) -> Result<CleanImage, ImageProblem> {
    if bytes.is_empty() {
        return Err(ImageProblem::Empty);
    }
    if bytes.len() > MAX_BYTES {
        return Err(ImageProblem::TooLarge);
    }
    let format = sniff(bytes).ok_or(ImageProblem::NotAnImage)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES + 64 * 1024 * 1024);
    reader.limits(limits);
    // Only the header has been read here: the pixel budget is checked before any decoding.
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS || decoder.total_bytes() > MAX_DECODED_BYTES {
        return Err(ImageProblem::TooManyPixels);
    }
    let orientation = decoder.orientation().map_err(classify)?;
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(classify)?;
    pixels.apply_orientation(orientation);
    let (width, height) = (pixels.width(), pixels.height());

    let mut out = Vec::new();
    let content_type = match format {
        ImageFormat::Png => {
            pixels
                .write_with_encoder(PngEncoder::new(&mut out))
                .map_err(|_| ImageProblem::Damaged)?;
            "image/png"
        }
        ImageFormat::WebP => {
            let rgba = DynamicImage::ImageRgba8(pixels.to_rgba8());
            rgba.write_with_encoder(WebPEncoder::new_lossless(&mut out))
                .map_err(|_| ImageProblem::Damaged)?;
            "image/webp"
        }
        _ => {
            let rgb = DynamicImage::ImageRgb8(pixels.to_rgb8());
            rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
                .map_err(|_| ImageProblem::Damaged)?;
            "image/jpeg"
        }
    };
    if out.len() > MAX_BYTES {
        return Err(ImageProblem::TooLarge);
    }
    Ok(CleanImage {
        content_type,
        bytes: out,
        width,
        height,
    })
}

fn classify(e: image::ImageError) -> ImageProblem {
    match e {
        image::ImageError::Limits(_) => ImageProblem::TooManyPixels,
        _ => ImageProblem::Damaged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img)
            .write_with_encoder(PngEncoder::new(&mut out))
            .expect("encode");
        out
    }

    #[test]
    fn content_decides_the_type_not_the_name() {
        assert_eq!(sniff(&png(2, 2)), Some(ImageFormat::Png));
        assert_eq!(sniff(b"<!doctype html><script>alert(1)</script>"), None);
        assert_eq!(
            clean(b"<html></html>").expect_err("html"),
            ImageProblem::NotAnImage
        );
    }

    #[test]
    fn truncated_and_oversized_images_are_refused() {
        let whole = png(64, 64);
        assert!(clean(&whole).is_ok());
        assert_eq!(
            clean(&whole[..whole.len() / 2]).expect_err("truncated"),
            ImageProblem::Damaged
        );
        let mut big = whole.clone();
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(clean(&big).expect_err("big"), ImageProblem::TooLarge);
        assert_eq!(clean(&[]).expect_err("empty"), ImageProblem::Empty);
    }

    /// A PNG of `width` × `height` black grey pixels, streamed row by row.
    fn zeros_png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().expect("header");
        let mut stream = writer.stream_writer().expect("stream");
        let row = vec![0u8; width as usize];
        for _ in 0..height {
            std::io::Write::write_all(&mut stream, &row).expect("row");
        }
        stream.finish().expect("finish");
        drop(writer);
        out
    }

    #[test]
    fn the_pixel_budget_is_checked_from_the_header_before_decoding() {
        // 11,000 × 11,000 is within the side limit but 121 megapixels.
        let bomb = zeros_png(11_000, 11_000);
        assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
        assert_eq!(clean(&bomb).expect_err("bomb"), ImageProblem::TooManyPixels);
        // Cut after its first 4 KB: still "too many pixels", not "damaged", so nothing past
        // the header was decoded to decide.
        assert_eq!(
            clean(&bomb[..4096]).expect_err("cut bomb"),
            ImageProblem::TooManyPixels
        );
        let small = zeros_png(2_000, 2_000);
        assert!(clean(&small).is_ok());
        assert_eq!(
            clean(&small[..small.len() / 2]).expect_err("truncated"),
            ImageProblem::Damaged
        );
    }

    /// Small valid encodings of each accepted format, for the property test to damage.
    fn seeds() -> Vec<Vec<u8>> {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(9, 7, |x, y| {
            image::Rgb([x as u8 * 20, y as u8 * 30, 77])
        }));
        let mut jpeg = Vec::new();
        img.write_with_encoder(JpegEncoder::new_with_quality(&mut jpeg, 80))
            .expect("jpeg");
        let mut webp = Vec::new();
        DynamicImage::ImageRgba8(img.to_rgba8())
            .write_with_encoder(WebPEncoder::new_lossless(&mut webp))
            .expect("webp");
        vec![png(9, 7), jpeg, webp]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Whatever bytes arrive, `clean` answers (an image within the limits, or a problem):
        /// it never panics. Inputs: any bytes; a real image's magic followed by any bytes; and
        /// real images with bytes overwritten and cut short.
        #[test]
        fn clean_never_panics_on_any_input(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            seed in 0usize..3,
            edits in proptest::collection::vec(
                (proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 0..16),
            cut in proptest::prelude::any::<usize>(),
        ) {
            let seeds = seeds();
            let original = &seeds[seed];
            let mut damaged = original.clone();
            for (at, byte) in &edits {
                let i = at % damaged.len();
                damaged[i] = *byte;
            }
            damaged.truncate(cut % (damaged.len() + 1));
            let mut prefixed = original[..12.min(original.len())].to_vec();
            prefixed.extend_from_slice(&noise);
            for input in [&noise, &damaged, &prefixed] {
                if let Ok(image) = clean(input) {
                    proptest::prop_assert!(!image.bytes.is_empty());
                    proptest::prop_assert!(image.width <= MAX_SIDE && image.height <= MAX_SIDE);
                    proptest::prop_assert!(
                        u64::from(image.width) * u64::from(image.height) <= MAX_PIXELS
                    );
                }
            }
        }
    }
}

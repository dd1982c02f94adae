//! Content sniffing: the format of an upload is decided by its magic bytes alone.

use serde::{Deserialize, Serialize};

/// The image formats accepted for upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Webp,
}

impl ImageFormat {
    /// The MIME type to serve this format with.
    pub fn content_type(&self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// The file extension used in object keys (without the dot).
    pub fn extension(&self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
        }
    }

    /// The inverse of [`ImageFormat::extension`] (also accepts `jpeg`, case-insensitively).
    pub fn from_extension(ext: &str) -> Option<ImageFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(ImageFormat::Jpeg),
            "png" => Some(ImageFormat::Png),
            "webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }

    pub(crate) fn to_image_format(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Webp => image::ImageFormat::WebP,
        }
    }
}

const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Detect the format from the magic bytes only (never from a file name or client Content-Type).
///
/// * JPEG: `FF D8 FF` (SOI followed by the first marker)
/// * PNG: the 8-byte PNG signature
/// * WebP: `RIFF????WEBP`
///
/// Everything else (GIF, SVG, PDF, HEIC, text, …) is `None`.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(JPEG_MAGIC) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(PNG_MAGIC) {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(&b"WEBP"[..]) {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbImage, RgbaImage};

    fn sample_rgb() -> RgbImage {
        RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 128]))
    }

    #[test]
    fn detects_real_jpeg_png_webp() {
        let img = sample_rgb();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80).encode_image(&img).unwrap();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new(&mut png)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
            .unwrap();
        let rgba = RgbaImage::from_fn(16, 16, |x, _| image::Rgba([200, 10, 10, (x * 16) as u8]));
        let mut webp = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
            .write_image(rgba.as_raw(), 16, 16, image::ExtendedColorType::Rgba8)
            .unwrap();

        assert_eq!(sniff(&jpeg), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(&png), Some(ImageFormat::Png));
        assert_eq!(sniff(&webp), Some(ImageFormat::Webp));
    }

    #[test]
    fn rejects_other_content() {
        assert_eq!(sniff(b"GIF89a\x01\x00\x01\x00\x80\x00\x00"), None);
        assert_eq!(sniff(b"GIF87a"), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>"), None);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg/>"), None);
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"hello, world"), None);
        // A RIFF container that is not WebP (e.g. WAV), and truncated magics.
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WAVEfmt "), None);
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WEB"), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
        assert_eq!(sniff(&PNG_MAGIC[..7]), None);
        // Deterministic pseudo-random garbage.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let random: Vec<u8> = (0..256)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        assert_eq!(sniff(&random), None);
    }

    #[test]
    fn extensions_round_trip() {
        for f in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp] {
            assert_eq!(ImageFormat::from_extension(f.extension()), Some(f));
            assert!(f.content_type().starts_with("image/"));
        }
        assert_eq!(ImageFormat::from_extension("JPEG"), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::from_extension("gif"), None);
        assert_eq!(serde_json::to_string(&ImageFormat::Webp).unwrap(), "\"webp\"");
    }
}

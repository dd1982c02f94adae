//! Upload validation and thumbnail generation.

use std::io::Cursor;

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::U8x4;
use fast_image_resize::{FilterType as ResizeFilter, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};
use sha2::{Digest, Sha256};

use crate::codec::{self, JPEG_MAX_EDGE};
use crate::sniff::{ImageFormat, sniff};

/// JPEG quality used for thumbnails.
pub const THUMB_JPEG_QUALITY: u8 = 82;

/// Why an upload was refused. Every variant but [`MediaError::Unexpected`] is the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("image is larger than the limit of {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    #[error("unsupported image type: only JPEG, PNG and WebP are accepted")]
    UnsupportedType,
    #[error("image could not be decoded: {0}")]
    Undecodable(String),
    #[error("image has more than the limit of {max_pixels} pixels")]
    TooManyPixels { max_pixels: u64 },
    #[error("the upload is empty")]
    Empty,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl MediaError {
    /// The HTTP status a web layer would usually answer with.
    pub fn http_status(&self) -> u16 {
        match self {
            MediaError::TooLarge { .. } => 413,
            MediaError::UnsupportedType => 415,
            MediaError::Undecodable(_) | MediaError::TooManyPixels { .. } => 422,
            MediaError::Empty => 400,
            MediaError::Unexpected(_) => 500,
        }
    }
}

/// One thumbnail size: the image is fitted inside `max_edge`×`max_edge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThumbSpec {
    pub name: &'static str,
    pub max_edge: u32,
}

/// Limits and thumbnail sizes for uploads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagePolicy {
    pub max_bytes: usize,
    pub max_pixels: u64,
    pub thumbnails: Vec<ThumbSpec>,
}

impl Default for ImagePolicy {
    fn default() -> Self {
        ImagePolicy {
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
            thumbnails: vec![
                ThumbSpec { name: "thumb", max_edge: 160 },
                ThumbSpec { name: "small", max_edge: 400 },
                ThumbSpec { name: "medium", max_edge: 800 },
            ],
        }
    }
}

/// One stored file derived from an upload.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    /// `"original"` or the thumbnail's name.
    pub name: String,
    /// Object-store key, content-hashed: `{hash}.{ext}` or `{hash}-{name}.{ext}`.
    pub key: String,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Rendition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendition")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("content_type", &self.content_type)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// The result of [`process_upload`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessedImage {
    pub format: ImageFormat,
    /// Displayed width (after any EXIF orientation).
    pub width: u32,
    /// Displayed height (after any EXIF orientation).
    pub height: u32,
    /// First 32 hex chars of the SHA-256 of the original bytes.
    pub content_hash: String,
    /// The original first, then one per [`ImagePolicy::thumbnails`] entry, in that order.
    pub renditions: Vec<Rendition>,
}

impl ProcessedImage {
    /// The rendition with the given name (`"original"`, `"thumb"`, …).
    pub fn rendition(&self, name: &str) -> Option<&Rendition> {
        self.renditions.iter().find(|r| r.name == name)
    }
}

/// Validates and processes an upload (blocking, CPU-bound; callers run it in `spawn_blocking`):
/// sniff → size check → header dimension check → decode → generate thumbnails.
///
/// The original bytes are kept unchanged as the `"original"` rendition. Keys are content-hashed
/// and immutable: original = `{hash}.{ext}`, thumbnails = `{hash}-{name}.{ext}`, where hash is the
/// first 32 hex chars of the SHA-256 of the original bytes.
///
/// Thumbnails fit inside `max_edge`×`max_edge` keeping the aspect ratio and are never upscaled (a
/// smaller image still gets a thumbnail, at its own size). EXIF orientation is applied to them. They
/// are JPEG (quality [`THUMB_JPEG_QUALITY`]) unless the image has visible transparency (an alpha
/// channel with at least one pixel below fully opaque), in which case they are PNG.
// Long because it is one pipeline (sniff, limits, decode, orient, thumbnails,
// keys) whose steps share the decoded image.
pub fn process_upload(bytes: &[u8], policy: &ImagePolicy) -> Result<ProcessedImage, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let format = sniff(bytes).ok_or(MediaError::UnsupportedType)?;
    if bytes.len() > policy.max_bytes {
        return Err(MediaError::TooLarge { max_bytes: policy.max_bytes });
    }

    // Header only: the decoders read dimensions without allocating the pixel buffer.
    let mut decoder = open_decoder(bytes, format, policy)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::Undecodable("image has a zero dimension".into()));
    }
    if u64::from(width) * u64::from(height) > policy.max_pixels {
        return Err(MediaError::TooManyPixels { max_pixels: policy.max_pixels });
    }
    // Second line of defence: the decoded buffer (which depends on bit depth and channels) must fit
    // the allocation budget. `DynamicImage::from_decoder` allocates it without consulting any limit.
    if decoder.total_bytes() > alloc_budget(policy) {
        return Err(MediaError::TooManyPixels { max_pixels: policy.max_pixels });
    }
    // Broken EXIF must not reject an otherwise fine image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);

    if format == ImageFormat::Jpeg && !jpeg_has_eoi(bytes) {
        // zune-jpeg (in lenient mode, as `image` uses it) fills a truncated scan with grey instead of failing.
        return Err(MediaError::Undecodable("truncated JPEG: no end-of-image marker".into()));
    }
    let mut decoded = DynamicImage::from_decoder(decoder).map_err(|e| map_image_error(e, policy))?;
    decoded.apply_orientation(orientation);
    let (width, height) = (decoded.width(), decoded.height());

    let hash = content_hash(bytes);
    let mut renditions = Vec::with_capacity(policy.thumbnails.len() + 1);
    renditions.push(Rendition {
        name: "original".into(),
        key: format!("{hash}.{}", format.extension()),
        content_type: format.content_type(),
        width,
        height,
        bytes: bytes.to_vec(),
    });

    // Everything is resized as RGBA: one pixel type keeps the (monomorphised, SIMD-heavy) resizer
    // code small. JPEG thumbnails are encoded straight from RGBA, ignoring the alpha channel.
    let has_alpha = decoded.color().has_alpha();
    let pixels = decoded.into_rgba8().into_raw();
    let transparent = has_alpha && pixels.chunks_exact(4).any(|p| p[3] != u8::MAX);
    let thumb_format = if transparent { ImageFormat::Png } else { ImageFormat::Jpeg };
    let mut resizer = Resizer::new();
    for spec in &policy.thumbnails {
        let max_edge = if transparent { spec.max_edge } else { spec.max_edge.min(JPEG_MAX_EDGE) };
        let (tw, th) = fit_within(width, height, max_edge);
        let resized;
        let thumb = if (tw, th) == (width, height) {
            &pixels[..]
        } else {
            resized = resize(&mut resizer, &pixels, (width, height), (tw, th), transparent)
                .map_err(|e| MediaError::Unexpected(anyhow::anyhow!("resizing failed: {e}")))?;
            &resized[..]
        };
        let bytes = if transparent {
            codec::encode_png(thumb, tw, th)
        } else {
            codec::encode_jpeg(thumb, tw, th, THUMB_JPEG_QUALITY)
        }
        .map_err(|e| MediaError::Unexpected(e.context(format!("encoding the {} thumbnail", spec.name))))?;
        renditions.push(Rendition {
            name: spec.name.to_string(),
            key: format!("{hash}-{}.{}", spec.name, thumb_format.extension()),
            content_type: thumb_format.content_type(),
            width: tw,
            height: th,
            bytes,
        });
    }

    Ok(ProcessedImage { format, width, height, content_hash: hash, renditions })
}

/// First 32 hex chars (128 bits) of the SHA-256 of `bytes`.
pub fn content_hash(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(32);
    for b in &digest[..16] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The largest size fitting inside `max_edge`×`max_edge` with the same aspect ratio, never larger
/// than `(width, height)` itself. Neither side is ever rounded down to zero.
pub fn fit_within(width: u32, height: u32, max_edge: u32) -> (u32, u32) {
    let max_edge = max_edge.max(1);
    if width <= max_edge && height <= max_edge {
        return (width, height);
    }
    let (long, short) = (u64::from(width.max(height)), u64::from(width.min(height)));
    let scaled = (short * u64::from(max_edge) + long / 2) / long;
    let scaled = u32::try_from(scaled).unwrap_or(max_edge).clamp(1, max_edge);
    if width >= height { (max_edge, scaled) } else { (scaled, max_edge) }
}

fn open_decoder<'a>(
    bytes: &'a [u8],
    format: ImageFormat,
    policy: &ImagePolicy,
) -> Result<impl ImageDecoder + 'a, MediaError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format.to_image_format());
    let mut limits = Limits::default();
    // Bounds the decoders' own allocations (e.g. PNG metadata chunks) too.
    limits.max_alloc = Some(alloc_budget(policy));
    reader.limits(limits);
    reader.into_decoder().map_err(|e| map_image_error(e, policy))
}

/// Bytes a decode may allocate: 16-bit RGBA at the pixel limit, plus slack for metadata.
fn alloc_budget(policy: &ImagePolicy) -> u64 {
    policy.max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

fn map_image_error(err: ImageError, policy: &ImagePolicy) -> MediaError {
    match err {
        ImageError::Limits(_) => MediaError::TooManyPixels { max_pixels: policy.max_pixels },
        other => MediaError::Undecodable(other.to_string()),
    }
}

/// Whether a JPEG stream reaches its EOI (`FF D9`) marker after the first start-of-scan.
///
/// The header segments are walked by their lengths (an EXIF thumbnail inside APP1 has its own SOS/EOI),
/// then the scan data is searched: there `FF` is always followed by `00` or a marker, so `FF D9` is EOI.
fn jpeg_has_eoi(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        // Skip fill bytes before a marker.
        while bytes.get(i) == Some(&0xFF) && bytes.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else {
            return false;
        };
        match marker {
            0xD9 => return true,
            0xD0..=0xD7 | 0x01 => i += 2,
            _ => {
                let (Some(&hi), Some(&lo)) = (bytes.get(i + 2), bytes.get(i + 3)) else {
                    return false;
                };
                let seg_end = i + 2 + usize::from(u16::from_be_bytes([hi, lo]));
                if marker == 0xDA {
                    let scan = bytes.get(seg_end..).unwrap_or_default();
                    return scan.windows(2).any(|w| w == [0xFF, 0xD9]);
                }
                i = seg_end;
            }
        }
    }
}

/// Downscales RGBA8 with a Catmull-Rom convolution, premultiplying alpha when there is transparency.
fn resize(
    resizer: &mut Resizer,
    pixels: &[u8],
    (width, height): (u32, u32),
    (tw, th): (u32, u32),
    transparent: bool,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let src = TypedImageRef::<U8x4>::from_buffer(width, height, pixels)?;
    let mut out = vec![0u8; tw as usize * th as usize * 4];
    let mut dst = TypedImage::<U8x4>::from_buffer(tw, th, &mut out)?;
    let options =
        ResizeOptions::new().resize_alg(ResizeAlg::Convolution(ResizeFilter::CatmullRom)).use_alpha(transparent);
    resizer.resize_typed(&src, &mut dst, &options)?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::codecs::png::PngEncoder;
    use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

    fn photo(w: u32, h: u32, seed: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, seed.wrapping_add((x ^ y) as u8)]))
    }

    fn jpeg(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90).encode_image(img).unwrap();
        out
    }

    fn png_rgb(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    fn png_rgba(img: &RgbaImage) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(img.as_raw(), img.width(), img.height(), image::ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    fn decoded_dims(bytes: &[u8]) -> (u32, u32) {
        let img = image::load_from_memory(bytes).unwrap();
        (img.width(), img.height())
    }

    fn assert_standard_renditions(p: &ProcessedImage, thumb_ext: &str) {
        let names: Vec<&str> = p.renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["original", "thumb", "small", "medium"]);
        let expected = [(1200, 600), (160, 80), (400, 200), (800, 400)];
        for (r, (w, h)) in p.renditions.iter().zip(expected) {
            assert_eq!((r.width, r.height), (w, h), "{}", r.name);
            assert_eq!(decoded_dims(&r.bytes), (w, h), "{} bytes", r.name);
        }
        for r in &p.renditions[1..] {
            assert_eq!(r.key, format!("{}-{}.{thumb_ext}", p.content_hash, r.name));
        }
    }

    #[test]
    fn jpeg_gets_original_and_three_thumbnails() {
        let bytes = jpeg(&photo(1200, 600, 1));
        let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
        assert_eq!(p.format, ImageFormat::Jpeg);
        assert_eq!((p.width, p.height), (1200, 600));
        assert_eq!(p.content_hash.len(), 32);
        assert!(p.content_hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let original = p.rendition("original").unwrap();
        assert_eq!(original.bytes, bytes, "original kept byte-for-byte");
        assert_eq!(original.key, format!("{}.jpg", p.content_hash));
        assert_eq!(original.content_type, "image/jpeg");
        assert_standard_renditions(&p, "jpg");
        assert!(p.renditions[1..].iter().all(|r| r.content_type == "image/jpeg" && sniff(&r.bytes) == sniff(&bytes)));
    }

    #[test]
    fn png_gets_original_and_three_thumbnails() {
        let bytes = png_rgb(&photo(1200, 600, 2));
        let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
        assert_eq!(p.format, ImageFormat::Png);
        assert_eq!(p.rendition("original").unwrap().key, format!("{}.png", p.content_hash));
        // No alpha: thumbnails are JPEG even though the upload is PNG.
        assert_standard_renditions(&p, "jpg");
    }

    /// Left half red, right half blue.
    fn two_tone(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, _| if x < w / 2 { Rgb([220, 30, 30]) } else { Rgb([30, 30, 220]) })
    }

    fn is_red(p: Rgb<u8>) -> bool {
        p[0] > 180 && p[1] < 80 && p[2] < 80
    }

    fn is_blue(p: Rgb<u8>) -> bool {
        p[2] > 180 && p[0] < 80 && p[1] < 80
    }

    #[test]
    fn thumbnails_show_the_picture() {
        for bytes in [jpeg(&two_tone(1200, 600)), png_rgb(&two_tone(1200, 600))] {
            let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
            for r in &p.renditions[1..] {
                let img = image::load_from_memory(&r.bytes).unwrap().to_rgb8();
                let (w, h) = img.dimensions();
                assert!(is_red(*img.get_pixel(w / 4, h / 2)), "{} left {:?}", r.name, img.get_pixel(w / 4, h / 2));
                assert!(is_blue(*img.get_pixel(3 * w / 4, h / 2)), "{} right", r.name);
            }
        }
    }

    /// A minimal little-endian TIFF/Exif block holding only the Orientation tag.
    fn exif_orientation(value: u8) -> Vec<u8> {
        let mut exif = b"II\x2a\x00\x08\x00\x00\x00".to_vec(); // header, IFD at offset 8
        exif.extend_from_slice(&[1, 0]); // one entry
        exif.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, value, 0, 0, 0]); // 0x0112 SHORT x1
        exif.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
        exif
    }

    #[test]
    fn exif_orientation_is_applied_to_thumbnails_only() {
        let mut bytes = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut bytes, 90);
        encoder.set_exif_metadata(exif_orientation(6)).unwrap(); // stored landscape, shown rotated 90° clockwise
        encoder.encode_image(&two_tone(1200, 600)).unwrap();
        let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
        assert_eq!((p.width, p.height), (600, 1200));
        assert_eq!(p.renditions[0].bytes, bytes, "original untouched, EXIF and all");
        let dims: Vec<_> = p.renditions.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(dims, [(600, 1200), (80, 160), (200, 400), (400, 800)]);
        let medium = image::load_from_memory(&p.rendition("medium").unwrap().bytes).unwrap().to_rgb8();
        assert_eq!(medium.dimensions(), (400, 800));
        // Rotating clockwise brings the left (red) half to the top.
        assert!(is_red(*medium.get_pixel(200, 200)), "{:?}", medium.get_pixel(200, 200));
        assert!(is_blue(*medium.get_pixel(200, 600)));
    }

    #[test]
    fn portrait_is_fitted_by_height() {
        let bytes = jpeg(&photo(600, 1200, 3));
        let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
        let dims: Vec<_> = p.renditions.iter().map(|r| (r.width, r.height)).collect();
        assert_eq!(dims, [(600, 1200), (80, 160), (200, 400), (400, 800)]);
    }

    #[test]
    fn keys_follow_content() {
        let a = jpeg(&photo(300, 200, 4));
        let b = jpeg(&photo(300, 200, 5));
        let policy = ImagePolicy::default();
        let pa1 = process_upload(&a, &policy).unwrap();
        let pa2 = process_upload(&a.clone(), &policy).unwrap();
        let pb = process_upload(&b, &policy).unwrap();
        let keys = |p: &ProcessedImage| p.renditions.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&pa1), keys(&pa2));
        assert_ne!(pa1.content_hash, pb.content_hash);
        for (ka, kb) in keys(&pa1).iter().zip(keys(&pb)) {
            assert_ne!(*ka, kb);
        }
        assert_eq!(pa1.content_hash, content_hash(&a));
    }

    #[test]
    fn small_image_is_not_upscaled() {
        let bytes = jpeg(&photo(100, 50, 6));
        let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
        assert_eq!(p.renditions.len(), 4);
        for r in &p.renditions {
            assert_eq!((r.width, r.height), (100, 50), "{}", r.name);
            assert_eq!(decoded_dims(&r.bytes), (100, 50), "{}", r.name);
        }
    }

    #[test]
    fn transparent_png_gives_png_thumbnails() {
        let img = RgbaImage::from_fn(1000, 500, |x, y| {
            let inside = (x as i64 - 500).pow(2) + (y as i64 - 250).pow(2) < 200 * 200;
            if inside { Rgba([220, 40, 40, 255]) } else { Rgba([0, 0, 0, 0]) }
        });
        let p = process_upload(&png_rgba(&img), &ImagePolicy::default()).unwrap();
        for r in &p.renditions[1..] {
            assert_eq!(r.content_type, "image/png");
            assert!(r.key.ends_with(".png"));
            let thumb = image::load_from_memory(&r.bytes).unwrap();
            assert!(thumb.color().has_alpha());
            assert_eq!(thumb.to_rgba8().get_pixel(0, 0)[3], 0, "corner stays transparent");
        }
        assert_eq!(p.rendition("thumb").map(|r| (r.width, r.height)), Some((160, 80)));
    }

    #[test]
    fn opaque_alpha_channel_gives_jpeg_thumbnails() {
        let img = RgbaImage::from_fn(64, 64, |x, y| Rgba([x as u8, y as u8, 9, 255]));
        let p = process_upload(&png_rgba(&img), &ImagePolicy::default()).unwrap();
        assert!(p.renditions[1..].iter().all(|r| r.content_type == "image/jpeg"));
    }

    #[test]
    fn webp_upload_is_accepted() {
        let img = RgbaImage::from_fn(500, 250, |x, y| Rgba([x as u8, y as u8, 99, 255]));
        let mut bytes = Vec::new();
        image::codecs::webp::WebPEncoder::new_lossless(&mut bytes)
            .write_image(img.as_raw(), 500, 250, image::ExtendedColorType::Rgba8)
            .unwrap();
        let p = process_upload(&bytes, &ImagePolicy::default()).unwrap();
        assert_eq!(p.format, ImageFormat::Webp);
        assert!(p.renditions[0].key.ends_with(".webp"));
        assert_eq!(p.renditions[0].content_type, "image/webp");
        assert_eq!(p.rendition("small").map(|r| (r.width, r.height, r.content_type)), Some((400, 200, "image/jpeg")));
    }

    #[test]
    fn truncated_jpeg_is_undecodable() {
        let bytes = jpeg(&photo(400, 300, 7));
        let truncated = &bytes[..bytes.len() / 2];
        let err = process_upload(truncated, &ImagePolicy::default()).unwrap_err();
        assert!(matches!(err, MediaError::Undecodable(_)), "{err:?}");
        // Cut inside the headers as well.
        let err = process_upload(&bytes[..40], &ImagePolicy::default()).unwrap_err();
        assert!(matches!(err, MediaError::Undecodable(_)), "{err:?}");
    }

    #[test]
    fn truncated_png_is_undecodable() {
        let bytes = png_rgb(&photo(400, 300, 8));
        let err = process_upload(&bytes[..bytes.len() / 2], &ImagePolicy::default()).unwrap_err();
        assert!(matches!(err, MediaError::Undecodable(_)), "{err:?}");
    }

    #[test]
    fn jpeg_with_trailing_bytes_is_accepted() {
        let mut bytes = jpeg(&photo(64, 64, 9));
        bytes.extend_from_slice(b"some trailer appended by a camera");
        assert!(process_upload(&bytes, &ImagePolicy::default()).is_ok());
    }

    #[test]
    fn oversized_upload_is_too_large() {
        let bytes = jpeg(&photo(200, 200, 10));
        let policy = ImagePolicy { max_bytes: bytes.len() - 1, ..ImagePolicy::default() };
        let err = process_upload(&bytes, &policy).unwrap_err();
        assert!(matches!(err, MediaError::TooLarge { max_bytes } if max_bytes == bytes.len() - 1), "{err:?}");
        let exact = ImagePolicy { max_bytes: bytes.len(), ..ImagePolicy::default() };
        assert!(process_upload(&bytes, &exact).is_ok());
    }

    #[test]
    fn empty_and_foreign_uploads_are_refused() {
        let policy = ImagePolicy::default();
        assert!(matches!(process_upload(b"", &policy), Err(MediaError::Empty)));
        for bytes in [&b"GIF89a\x01\x00\x01\x00"[..], b"<svg></svg>", b"%PDF-1.4", b"plain text"] {
            assert!(matches!(process_upload(bytes, &policy), Err(MediaError::UnsupportedType)));
        }
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        out
    }

    /// A syntactically valid PNG whose IHDR claims `w`×`h` RGBA8 pixels, with a tiny IDAT.
    fn png_bomb_header(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, adaptive, no interlace
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]));
        png.extend(chunk(b"IEND", &[]));
        png
    }

    #[test]
    fn crc_helper_matches_known_value() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn decompression_bomb_is_refused_from_the_header() {
        let bomb = png_bomb_header(100_000, 100_000);
        assert!(bomb.len() < 100);
        let err = process_upload(&bomb, &ImagePolicy::default()).unwrap_err();
        assert!(matches!(err, MediaError::TooManyPixels { max_pixels: 40_000_000 }), "{err:?}");
        // A header with sane dimensions passes the guard and fails later, at decoding.
        let err = process_upload(&png_bomb_header(10, 10), &ImagePolicy::default()).unwrap_err();
        assert!(matches!(err, MediaError::Undecodable(_)), "{err:?}");
    }

    #[test]
    fn pixel_limit_applies_to_real_images() {
        let bytes = jpeg(&photo(200, 100, 11));
        let tight = ImagePolicy { max_pixels: 200 * 100 - 1, ..ImagePolicy::default() };
        assert!(matches!(process_upload(&bytes, &tight), Err(MediaError::TooManyPixels { .. })));
        let exact = ImagePolicy { max_pixels: 200 * 100, ..ImagePolicy::default() };
        assert!(process_upload(&bytes, &exact).is_ok());
    }

    #[test]
    fn fit_within_rounds_and_never_upscales() {
        assert_eq!(fit_within(1200, 600, 160), (160, 80));
        assert_eq!(fit_within(600, 1200, 160), (80, 160));
        assert_eq!(fit_within(100, 50, 160), (100, 50));
        assert_eq!(fit_within(160, 160, 160), (160, 160));
        assert_eq!(fit_within(1000, 333, 100), (100, 33));
        assert_eq!(fit_within(1000, 335, 100), (100, 34));
        assert_eq!(fit_within(10_000, 1, 160), (160, 1));
        assert_eq!(fit_within(5, 5, 0), (1, 1));
    }

    #[test]
    fn status_codes() {
        assert_eq!(MediaError::TooLarge { max_bytes: 1 }.http_status(), 413);
        assert_eq!(MediaError::UnsupportedType.http_status(), 415);
        assert_eq!(MediaError::Unexpected(anyhow::anyhow!("x")).http_status(), 500);
    }
}

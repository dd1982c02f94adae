//! Encoding of RGBA8 pixel buffers (shared by thumbnails and demo images).
//!
//! Everything in this crate hands pixels around as tightly packed RGBA8: one pixel layout means one
//! instantiation of the (generic, SIMD-heavy) resizer and encoder code, which halves the crate's
//! release compile time for a few milliseconds of conversion per upload.

use image::ImageEncoder as _;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

/// Largest side a baseline JPEG can have.
pub(crate) const JPEG_MAX_EDGE: u32 = u16::MAX as u32;

/// Baseline JPEG with 4:2:0 chroma (box-averaged) and the standard Huffman tables; alpha is ignored.
///
/// Not `set_optimized_huffman_tables(true)`: jpeg-encoder 0.7 then writes one scan per component, and
/// zune-jpeg 0.5.x (the decoder `image` uses) mis-decodes such non-interleaved baseline files into
/// green stripes, although libjpeg-turbo reads them fine. The tables would save ~10-40% of the bytes.
pub(crate) fn encode_jpeg(rgba: &[u8], width: u32, height: u32, quality: u8) -> anyhow::Result<Vec<u8>> {
    let (w, h) = (u16::try_from(width)?, u16::try_from(height)?);
    let mut out = Vec::with_capacity(rgba.len() / 16 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    let needed = usize::from(w) * usize::from(h) * 4;
    anyhow::ensure!(rgba.len() >= needed, "RGBA buffer of {} bytes for a {width}x{height} image", rgba.len());
    encoder.encode_image(RgbaRows { rgba, width: w, height: h })?;
    Ok(out)
}

/// RGBA8 rows for jpeg-encoder. (`Encoder::encode` would instantiate its whole pipeline for all nine
/// colour types it supports; `encode_image` with one buffer type instantiates it once.)
struct RgbaRows<'a> {
    rgba: &'a [u8],
    width: u16,
    height: u16,
}

impl jpeg_encoder::ImageBuffer for RgbaRows<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }

    fn width(&self) -> u16 {
        self.width
    }

    fn height(&self) -> u16 {
        self.height
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let row_len = usize::from(self.width) * 4;
        let start = usize::from(y) * row_len;
        let [luma, cb, cr, _] = buffers;
        for px in self.rgba[start..start + row_len].chunks_exact(4) {
            let (l, b, r) = jpeg_encoder::rgb_to_ycbcr(px[0], px[1], px[2]);
            luma.push(l);
            cb.push(b);
            cr.push(r);
        }
    }
}

/// PNG (RGBA8) with the default zlib level and adaptive filtering.
pub(crate) fn encode_png(rgba: &[u8], width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive).write_image(
        rgba,
        width,
        height,
        image::ExtendedColorType::Rgba8,
    )?;
    Ok(out)
}

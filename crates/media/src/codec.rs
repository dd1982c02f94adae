//! Encoding of 8-bit pixel buffers (shared by thumbnails and demo images).

use image::ImageEncoder as _;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

/// Channel layout of an 8-bit, tightly packed pixel buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Luma,
    Rgb,
    Rgba,
}

/// Largest side a baseline JPEG can have.
pub(crate) const JPEG_MAX_EDGE: u32 = u16::MAX as u32;

/// Baseline JPEG with 4:2:0 chroma (box-averaged) and the standard Huffman tables. Alpha, if any, is dropped.
///
/// Not `set_optimized_huffman_tables(true)`: jpeg-encoder 0.7 then writes one scan per component, and
/// zune-jpeg 0.5.x (the decoder `image` uses) mis-decodes such non-interleaved baseline files into
/// green stripes, although libjpeg-turbo reads them fine. The tables would save ~10-40% of the bytes.
pub(crate) fn encode_jpeg(
    pixels: &[u8],
    width: u32,
    height: u32,
    layout: Layout,
    quality: u8,
) -> anyhow::Result<Vec<u8>> {
    let (w, h) = (u16::try_from(width)?, u16::try_from(height)?);
    let color = match layout {
        Layout::Luma => jpeg_encoder::ColorType::Luma,
        Layout::Rgb => jpeg_encoder::ColorType::Rgb,
        Layout::Rgba => jpeg_encoder::ColorType::Rgba,
    };
    let mut out = Vec::with_capacity(pixels.len() / 10 + 1024);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder.encode(pixels, w, h, color)?;
    Ok(out)
}

/// PNG with the default zlib level and adaptive filtering.
pub(crate) fn encode_png(pixels: &[u8], width: u32, height: u32, layout: Layout) -> anyhow::Result<Vec<u8>> {
    let color = match layout {
        Layout::Luma => image::ExtendedColorType::L8,
        Layout::Rgb => image::ExtendedColorType::Rgb8,
        Layout::Rgba => image::ExtendedColorType::Rgba8,
    };
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
        .write_image(pixels, width, height, color)?;
    Ok(out)
}

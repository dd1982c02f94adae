//! Product images for Emporium: upload validation and thumbnails, where image bytes are stored,
//! and procedural demo pictures for the demo catalogue.
//!
//! * [`process_upload`] turns the bytes of an upload into an unchanged original plus resized
//!   thumbnails ([`ProcessedImage`]), or refuses it with a [`MediaError`] the web layer can map to a
//!   4xx answer. It is blocking and CPU-bound: call it inside `tokio::task::spawn_blocking`.
//! * [`ObjectStore`] is where the renditions go; [`LocalDirStore`] (a sharded local directory) is the
//!   embedded default, [`S3Store`] an S3-compatible bucket chosen by settings, and [`MemoryStore`]
//!   serves tests.
//! * [`draw_demo_image`] draws believable product-photo-like JPEGs locally and deterministically, so
//!   a demo catalogue needs no downloads and no image assets in the repository.
//!
//! # Why the format is sniffed
//! The file name and the client's `Content-Type` are attacker-controlled and routinely wrong. What
//! gets decoded, stored and served with an `image/*` type is decided from the magic bytes alone
//! ([`sniff`]); only JPEG, PNG and WebP pass. That keeps out SVG (script), HTML, PDF and polyglots
//! dressed up as `.jpg`, and the type we later serve is always the type the bytes really have.
//!
//! # Why keys are content-hashed and immutable
//! Every key is derived from the SHA-256 of the original bytes (`{hash}.{ext}`,
//! `{hash}-{thumb}.{ext}`). The same upload always maps to the same keys, so retries and duplicate
//! uploads are idempotent and deduplicated for free; an object under a key never changes, so it can
//! be served with `Cache-Control: public, max-age=31536000, immutable` and cached by any CDN without
//! invalidation; replacing a product image means pointing the product at new keys, never rewriting
//! bytes in place.
//!
//! # The pixel guard
//! A few kilobytes of compressed data can claim 100000×100000 pixels (a decompression bomb: 40 GB
//! of RGBA once decoded). [`process_upload`] reads the dimensions from the header and refuses with
//! [`MediaError::TooManyPixels`] *before* any pixel buffer is allocated. As a second line of defence
//! the decoded buffer size (bit depth × channels × pixels) is checked against an allocation budget,
//! and the decoders run under the same budget for their own allocations. The byte limit
//! ([`MediaError::TooLarge`]) bounds the compressed size, the pixel limit the decoded size.

//!
//! # Dependencies
//! Pure Rust only, no C: `image` (zune-jpeg, png and image-webp decoders; PNG encoding),
//! `fast_image_resize` (SIMD Catmull-Rom downscaling) and `jpeg-encoder` (JPEG encoding, about 3×
//! faster than `image`'s). `jpeg-encoder` is licensed `(MIT OR Apache-2.0) AND IJG`: documentation
//! shipped with a binary must say *"this software is based in part on the work of the Independent
//! JPEG Group"*.

mod codec;
mod demo;
mod process;
pub mod s3;
mod sniff;
mod store;

pub use demo::{DemoShape, draw_demo_image};
pub use process::{
    ImagePolicy, MediaError, ProcessedImage, Rendition, THUMB_JPEG_QUALITY, ThumbSpec, content_hash, fit_within,
    process_upload,
};
pub use s3::{S3Config, S3Store};
pub use sniff::{ImageFormat, sniff};
pub use store::{
    InvalidKey, LocalDirStore, MAX_KEY_LEN, MemoryStore, ObjectStore, StoredObject, content_type_for_key, validate_key,
};

/// Makes ring the process-wide rustls crypto provider (reqwest is built without one, since the
/// default, aws-lc, is a C build). Call before building an HTTP client; later calls do nothing.
pub fn install_tls_provider() {
    // Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

//! Rough timings of the CPU-heavy parts of `media`. Run in release:
//!
//! ```text
//! cargo run -p media --release --example media_timing [-- OUT_DIR]
//! ```
//!
//! With `OUT_DIR`, the demo images and the thumbnails of the test photo are written there to look at.

use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use media::{DemoShape, ImagePolicy, draw_demo_image, process_upload};

fn main() -> anyhow::Result<()> {
    let out_dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    if let Some(dir) = &out_dir {
        std::fs::create_dir_all(dir)?;
    }

    // A 2000×1500 photo-like JPEG: smooth gradients, a few shapes and noise (noise makes JPEG work harder).
    let photo = synthetic_photo(2000, 1500);
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&photo)?;
    println!("input: 2000x1500 JPEG, {} KiB", jpeg.len() / 1024);

    let policy = ImagePolicy::default();
    let processed = process_upload(&jpeg, &policy)?; // warm-up
    let per_upload = time(5, || {
        let _ = process_upload(&jpeg, &policy);
    });
    println!("process_upload 2000x1500 JPEG -> original + 3 JPEG thumbnails: {:.1} ms", ms(per_upload));
    for r in &processed.renditions {
        println!("  {:<8} {:>4}x{:<4} {:>7} bytes  {}", r.name, r.width, r.height, r.bytes.len(), r.key);
        if let Some(dir) = &out_dir {
            std::fs::write(dir.join(&r.key), &r.bytes)?;
        }
    }

    let mut total = Duration::ZERO;
    // A contact sheet of all shapes (PNG, 4 per row at 400 px) for a quick look.
    let mut sheet = RgbImage::from_pixel(4 * 400, 2 * 400, Rgb([255, 255, 255]));
    for (i, shape) in DemoShape::ALL.into_iter().enumerate() {
        let seed = i as u64 * 7919 + 1;
        let hue = (i as f32 * 51.0) % 360.0;
        let bytes = draw_demo_image(seed, hue, shape, 800);
        let t = time(5, || {
            let _ = draw_demo_image(seed, hue, shape, 800);
        });
        total += t;
        println!("draw_demo_image {shape:?} 800x800: {:.1} ms ({} KiB)", ms(t), bytes.len() / 1024);
        if let Some(dir) = &out_dir {
            std::fs::write(dir.join(format!("demo-{i}-{shape:?}.jpg").to_lowercase()), &bytes)?;
            let small = image::load_from_memory(&bytes)?.thumbnail(400, 400).to_rgb8();
            image::imageops::replace(&mut sheet, &small, (i as i64 % 4) * 400, (i as i64 / 4) * 400);
        }
    }
    if let Some(dir) = &out_dir {
        sheet.save(dir.join("demo-sheet.png"))?;
    }
    println!("draw_demo_image 800x800 average: {:.1} ms", ms(total) / DemoShape::ALL.len() as f64);
    Ok(())
}

fn time(runs: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    start.elapsed() / runs
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn synthetic_photo(w: u32, h: u32) -> RgbImage {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state >> 59) as f32 - 16.0;
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let blob = ((fx - 0.5).powi(2) + (fy - 0.55).powi(2) < 0.06) as u8 as f32;
        let r = 200.0 - 80.0 * fy + 40.0 * blob + noise;
        let g = 180.0 - 60.0 * fx - 90.0 * blob + noise;
        let b = 150.0 + 60.0 * fx * fy - 60.0 * blob + noise;
        Rgb([r.clamp(0.0, 255.0) as u8, g.clamp(0.0, 255.0) as u8, b.clamp(0.0, 255.0) as u8])
    })
}

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

const RUNS: u32 = 9;

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
    let per_upload = time(RUNS, || {
        let _ = process_upload(&jpeg, &policy);
    });
    println!("process_upload 2000x1500 JPEG -> original + 3 JPEG thumbnails: {per_upload}");
    for r in &processed.renditions {
        println!("  {:<8} {:>4}x{:<4} {:>7} bytes  {}", r.name, r.width, r.height, r.bytes.len(), r.key);
        if let Some(dir) = &out_dir {
            std::fs::write(dir.join(&r.key), &r.bytes)?;
        }
    }

    let (mut total_wall, mut total_cpu) = (Duration::ZERO, Duration::ZERO);
    // A contact sheet of all shapes (PNG, 4 per row at 400 px) for a quick look.
    let mut sheet = RgbImage::from_pixel(4 * 400, 2 * 400, Rgb([255, 255, 255]));
    for (i, shape) in DemoShape::ALL.into_iter().enumerate() {
        let seed = i as u64 * 7919 + 1;
        let hue = (i as f32 * 51.0) % 360.0;
        let bytes = draw_demo_image(seed, hue, shape, 800);
        let t = time(RUNS, || {
            let _ = draw_demo_image(seed, hue, shape, 800);
        });
        total_wall += t.wall;
        total_cpu += t.cpu.unwrap_or_default();
        println!("draw_demo_image {shape:?} 800x800: {t} -> {} KiB", bytes.len() / 1024);
        if let Some(dir) = &out_dir {
            std::fs::write(dir.join(format!("demo-{i}-{shape:?}.jpg").to_lowercase()), &bytes)?;
            let small = image::load_from_memory(&bytes)?.thumbnail(400, 400).to_rgb8();
            image::imageops::replace(&mut sheet, &small, (i as i64 % 4) * 400, (i as i64 / 4) * 400);
        }
    }
    if let Some(dir) = &out_dir {
        sheet.save(dir.join("demo-sheet.png"))?;
    }
    let shapes = DemoShape::ALL.len() as f64;
    println!(
        "draw_demo_image 800x800, mean over shapes: {:.1} ms wall, {:.1} ms CPU",
        ms(total_wall) / shapes,
        ms(total_cpu) / shapes
    );
    Ok(())
}

/// One measurement: best wall-clock time of `runs`, and mean on-CPU time (Linux only; unlike wall
/// time it hardly changes when other processes compete for the cores).
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} ms wall (best of {RUNS})", ms(self.wall))?;
        if let Some(cpu) = self.cpu {
            write!(f, ", {:.1} ms CPU (mean)", ms(cpu))?;
        }
        Ok(())
    }
}

fn time(runs: u32, mut f: impl FnMut()) -> Timing {
    let cpu_start = cpu_time();
    let wall = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    let cpu = cpu_start.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a) / runs);
    Timing { wall, cpu }
}

/// Time this process has spent running on a CPU, from `/proc/self/schedstat` (nanoseconds).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
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

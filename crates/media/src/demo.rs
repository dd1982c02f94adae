//! Procedural demo product pictures, drawn locally (no downloads), deterministic from a seed.
//!
//! Each picture is a soft two-tone studio background with a vignette, a simple product silhouette
//! made of signed-distance primitives (analytically anti-aliased), some fake volume (edge darkening,
//! side light, a specular streak on glossy things), a contact shadow and a soft drop shadow.

use crate::codec::{self, Layout};

/// JPEG quality of demo images.
const DEMO_JPEG_QUALITY: u8 = 85;

/// Which product silhouette to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DemoShape {
    Apparel,
    Mug,
    Bottle,
    Book,
    Shoe,
    Lamp,
    Box,
}

impl DemoShape {
    pub const ALL: [DemoShape; 7] = [
        DemoShape::Apparel,
        DemoShape::Mug,
        DemoShape::Bottle,
        DemoShape::Book,
        DemoShape::Shoe,
        DemoShape::Lamp,
        DemoShape::Box,
    ];

    /// A shape picked deterministically from `seed`.
    pub fn from_seed(seed: u64) -> DemoShape {
        let i = splitmix64(seed ^ 0x5EED_5A4E) % DemoShape::ALL.len() as u64;
        DemoShape::ALL[usize::try_from(i).unwrap_or(0)]
    }
}

/// Draws a `size`×`size` JPEG of a product-photo-like picture.
///
/// `hue` is in degrees (any value; it wraps). `seed` varies proportions, palette details,
/// background and grain; the same arguments always give the same bytes. `size` is clamped to 8..=4096.
pub fn draw_demo_image(seed: u64, hue: f32, kind: DemoShape, size: u32) -> Vec<u8> {
    let size = size.clamp(8, 4096);
    let pixels = render(seed, hue, kind, size);
    codec::encode_jpeg(&pixels, size, size, Layout::Rgb, DEMO_JPEG_QUALITY)
        .expect("encoding RGB8 of at most 4096x4096 into a Vec cannot fail")
}

// ---------------------------------------------------------------------------------------------
// Scene description

type V2 = [f32; 2];

/// A signed-distance primitive in normalised coordinates (x right, y down, image spans -1..1).
#[derive(Clone)]
enum Prim {
    RoundBox { c: V2, half: V2, r: f32 },
    Ellipse { c: V2, radii: V2 },
    Ring { c: V2, r: f32, half_thickness: f32 },
    Poly { pts: Vec<V2>, r: f32 },
    SmoothUnion(Box<Prim>, Box<Prim>, f32),
    Subtract(Box<Prim>, Box<Prim>),
    Intersect(Box<Prim>, Box<Prim>),
}

impl Prim {
    fn dist(&self, p: V2) -> f32 {
        match self {
            Prim::RoundBox { c, half, r } => {
                let qx = (p[0] - c[0]).abs() - half[0] + r;
                let qy = (p[1] - c[1]).abs() - half[1] + r;
                let outside = len(qx.max(0.0), qy.max(0.0));
                outside + qx.max(qy).min(0.0) - r
            }
            Prim::Ellipse { c, radii } => {
                // First-order approximation k0 (k0 - 1) / k1: exact on the axes and at the boundary.
                let (dx, dy) = (p[0] - c[0], p[1] - c[1]);
                let k0 = len(dx / radii[0], dy / radii[1]);
                let k1 = len(dx / (radii[0] * radii[0]), dy / (radii[1] * radii[1]));
                if k1 > 1e-9 { k0 * (k0 - 1.0) / k1 } else { -radii[0].min(radii[1]) }
            }
            Prim::Ring { c, r, half_thickness } => (len(p[0] - c[0], p[1] - c[1]) - r).abs() - half_thickness,
            Prim::Poly { pts, r } => poly_dist(pts, p) - r,
            Prim::SmoothUnion(a, b, k) => {
                let (da, db) = (a.dist(p), b.dist(p));
                let h = (0.5 + 0.5 * (db - da) / k).clamp(0.0, 1.0);
                db + (da - db) * h - k * h * (1.0 - h)
            }
            Prim::Subtract(a, b) => a.dist(p).max(-b.dist(p)),
            Prim::Intersect(a, b) => a.dist(p).max(b.dist(p)),
        }
    }

    /// Conservative bounding box `[min_x, min_y, max_x, max_y]` of the zero set.
    fn bounds(&self) -> [f32; 4] {
        match self {
            Prim::RoundBox { c, half, .. } => [c[0] - half[0], c[1] - half[1], c[0] + half[0], c[1] + half[1]],
            Prim::Ellipse { c, radii } => [c[0] - radii[0], c[1] - radii[1], c[0] + radii[0], c[1] + radii[1]],
            Prim::Ring { c, r, half_thickness } => {
                let e = r + half_thickness;
                [c[0] - e, c[1] - e, c[0] + e, c[1] + e]
            }
            Prim::Poly { pts, r } => {
                let mut b = [f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];
                for q in pts {
                    b = [b[0].min(q[0]), b[1].min(q[1]), b[2].max(q[0]), b[3].max(q[1])];
                }
                [b[0] - r, b[1] - r, b[2] + r, b[3] + r]
            }
            Prim::SmoothUnion(a, b, k) => {
                let u = union_bounds(a.bounds(), b.bounds());
                [u[0] - k, u[1] - k, u[2] + k, u[3] + k]
            }
            Prim::Subtract(a, _) => a.bounds(),
            Prim::Intersect(a, b) => {
                let (a, b) = (a.bounds(), b.bounds());
                [a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3])]
            }
        }
    }
}

/// Euclidean length (`f32::hypot` guards against overflow we cannot have, and is a slow libm call).
fn len(x: f32, y: f32) -> f32 {
    (x * x + y * y).sqrt()
}

const EMPTY_BOUNDS: [f32; 4] = [f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY];

fn union_bounds(a: [f32; 4], b: [f32; 4]) -> [f32; 4] {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

/// Exact signed distance to a closed polygon (negative inside).
fn poly_dist(pts: &[V2], p: V2) -> f32 {
    let Some(&first) = pts.first() else { return f32::INFINITY };
    let mut d = (p[0] - first[0]).powi(2) + (p[1] - first[1]).powi(2);
    let mut inside = false;
    let mut j = pts.len() - 1;
    for (i, &vi) in pts.iter().enumerate() {
        let vj = pts[j];
        let e = [vj[0] - vi[0], vj[1] - vi[1]];
        let w = [p[0] - vi[0], p[1] - vi[1]];
        let t = ((w[0] * e[0] + w[1] * e[1]) / (e[0] * e[0] + e[1] * e[1]).max(1e-12)).clamp(0.0, 1.0);
        let b = [w[0] - e[0] * t, w[1] - e[1] * t];
        d = d.min(b[0] * b[0] + b[1] * b[1]);
        let c1 = p[1] >= vi[1];
        let c2 = p[1] < vj[1];
        let c3 = e[0] * w[1] > e[1] * w[0];
        if (c1 && c2 && c3) || (!c1 && !c2 && !c3) {
            inside = !inside;
        }
        j = i;
    }
    if inside { -d.sqrt() } else { d.sqrt() }
}

/// How a layer is coloured.
#[derive(Clone, Copy)]
enum Paint {
    /// The product colour, lightened (`> 0`) or darkened (`< 0`).
    Base(f32),
    /// The accent colour, lightened or darkened.
    Accent(f32),
    /// A fixed grey level (0 black … 1 white).
    Grey(f32),
}

struct Layer {
    prim: Prim,
    paint: Paint,
    glossy: bool,
}

fn layer(prim: Prim, paint: Paint) -> Layer {
    Layer { prim, paint, glossy: false }
}

fn glossy(prim: Prim, paint: Paint) -> Layer {
    Layer { prim, paint, glossy: true }
}

fn rbox(cx: f32, cy: f32, hx: f32, hy: f32, r: f32) -> Prim {
    Prim::RoundBox { c: [cx, cy], half: [hx, hy], r: r.min(hx).min(hy) }
}

fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32) -> Prim {
    Prim::Ellipse { c: [cx, cy], radii: [rx, ry] }
}

fn poly(pts: &[V2], r: f32) -> Prim {
    Prim::Poly { pts: pts.to_vec(), r }
}

/// Mirrors the left half of a symmetric outline (listed top to bottom, x < 0) into a full polygon.
fn mirrored(left: &[V2], r: f32) -> Prim {
    let mut pts = left.to_vec();
    pts.extend(left.iter().rev().map(|q| [-q[0], q[1]]));
    Prim::Poly { pts, r }
}

/// Deterministic variation source.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }
    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }
    fn chance(&mut self, p: f32) -> bool {
        self.range(0.0, 1.0) < p
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The product's layers, painted in order, with its bottom resting near y = 0.6.
fn product_layers(kind: DemoShape, rng: &mut Rng) -> Vec<Layer> {
    match kind {
        DemoShape::Apparel => apparel(rng),
        DemoShape::Mug => {
            let hw = rng.range(0.24, 0.32);
            let hh = rng.range(0.30, 0.38);
            let cx = -0.07;
            let top = 0.6 - 2.0 * hh;
            vec![
                glossy(
                    Prim::Ring { c: [cx + hw, 0.6 - hh * 1.05], r: hh * 0.5, half_thickness: 0.045 },
                    Paint::Base(-0.05),
                ),
                glossy(rbox(cx, 0.6 - hh, hw, hh, 0.06), Paint::Base(0.0)),
                layer(ellipse(cx, top + 0.035, hw * 0.93, 0.04), Paint::Base(-0.45)),
            ]
        }
        DemoShape::Bottle => {
            let hw = rng.range(0.16, 0.22);
            let body_top = rng.range(-0.12, 0.02);
            let neck_top = body_top - rng.range(0.30, 0.40);
            let body = Prim::SmoothUnion(
                Box::new(rbox(0.0, (body_top + 0.6) / 2.0, hw, (0.6 - body_top) / 2.0, 0.07)),
                Box::new(rbox(0.0, (neck_top + body_top) / 2.0 + 0.02, 0.065, (body_top - neck_top) / 2.0, 0.02)),
                0.12,
            );
            let label_h = (0.6 - body_top) * 0.28;
            vec![
                glossy(body, Paint::Base(0.0)),
                glossy(rbox(0.0, 0.6 - (0.6 - body_top) * 0.45, hw + 0.002, label_h, 0.0), Paint::Grey(0.93)),
                layer(rbox(0.0, 0.6 - (0.6 - body_top) * 0.45, hw * 0.55, label_h * 0.18, 0.01), Paint::Base(-0.2)),
                glossy(rbox(0.0, neck_top - 0.03, 0.085, 0.065, 0.02), Paint::Accent(-0.1)),
            ]
        }
        DemoShape::Book => {
            let hw = rng.range(0.26, 0.34);
            let hh = rng.range(0.40, 0.48);
            let cy = 0.6 - hh;
            vec![
                layer(rbox(hw * 0.06, cy + 0.01, hw, hh - 0.01, 0.01), Paint::Grey(0.95)),
                layer(rbox(0.0, cy, hw, hh, 0.015), Paint::Base(0.0)),
                layer(rbox(-hw + 0.035, cy, 0.035, hh, 0.01), Paint::Base(-0.3)),
                layer(rbox(0.03, cy - hh * 0.45, hw * 0.62, 0.045, 0.005), Paint::Accent(0.2)),
                layer(rbox(0.03, cy - hh * 0.30, hw * 0.42, 0.018, 0.005), Paint::Accent(0.2)),
            ]
        }
        DemoShape::Shoe => {
            let len = rng.range(0.50, 0.58);
            let upper = Prim::Subtract(
                Box::new(Prim::SmoothUnion(
                    Box::new(ellipse(len * 0.30, 0.40, len * 0.62, 0.17)),
                    Box::new(rbox(-len * 0.52, 0.24, 0.22, 0.26, 0.14)),
                    0.12,
                )),
                Box::new(ellipse(-len * 0.40, -0.03, 0.22, 0.07)),
            );
            let mut layers = vec![
                layer(upper, Paint::Base(0.0)),
                layer(ellipse(len * 0.68, 0.47, len * 0.24, 0.09), Paint::Base(-0.15)),
                layer(rbox(-len * 0.02, 0.55, len + 0.02, 0.045, 0.04), Paint::Grey(0.94)),
            ];
            for i in 0..4 {
                let t = i as f32;
                layers.push(layer(
                    rbox(-len * 0.15 + t * 0.075, 0.12 + t * 0.05, 0.045, 0.012, 0.01),
                    Paint::Accent(0.1),
                ));
            }
            layers
        }
        DemoShape::Lamp => {
            let shade_top = rng.range(-0.60, -0.50);
            let shade_bottom = shade_top + rng.range(0.36, 0.44);
            let top_hw = rng.range(0.14, 0.20);
            let bottom_hw = rng.range(0.32, 0.40);
            vec![
                layer(ellipse(0.0, 0.57, 0.24, 0.045), Paint::Grey(0.25)),
                glossy(
                    rbox(0.0, (shade_bottom + 0.57) / 2.0, 0.022, (0.57 - shade_bottom) / 2.0, 0.02),
                    Paint::Grey(0.3),
                ),
                layer(ellipse(0.0, shade_bottom, bottom_hw * 0.9, 0.035), Paint::Grey(0.98)),
                layer(
                    poly(
                        &[
                            [-top_hw, shade_top],
                            [top_hw, shade_top],
                            [bottom_hw, shade_bottom],
                            [-bottom_hw, shade_bottom],
                        ],
                        0.015,
                    ),
                    Paint::Base(0.05),
                ),
            ]
        }
        DemoShape::Box => {
            let w = rng.range(0.36, 0.46);
            let rise = w * 0.5;
            let h = rng.range(0.46, 0.56);
            let bottom = 0.6;
            let mid = [0.0, bottom - h];
            let top = |x: f32, y: f32| -> V2 { [x, y] };
            let left_face = [top(-w, mid[1] - rise), mid, [0.0, bottom], [-w, bottom - rise]];
            let right_face = [mid, top(w, mid[1] - rise), [w, bottom - rise], [0.0, bottom]];
            let top_face = [top(0.0, mid[1] - 2.0 * rise), top(w, mid[1] - rise), mid, top(-w, mid[1] - rise)];
            let tape_hw = 0.05;
            let tape = [
                [-w / 2.0 - tape_hw, mid[1] - 1.5 * rise],
                [-w / 2.0 + tape_hw, mid[1] - 1.5 * rise],
                [w / 2.0 + tape_hw, mid[1] - 0.5 * rise],
                [w / 2.0 - tape_hw, mid[1] - 0.5 * rise],
            ];
            vec![
                layer(poly(&left_face, 0.004), Paint::Base(0.0)),
                layer(poly(&right_face, 0.004), Paint::Base(-0.28)),
                layer(poly(&top_face, 0.004), Paint::Base(0.22)),
                layer(poly(&tape, 0.0), Paint::Accent(0.1)),
            ]
        }
    }
}

fn apparel(rng: &mut Rng) -> Vec<Layer> {
    let hoodie = rng.chance(0.4);
    let sw = rng.range(0.29, 0.34); // half width at the chest
    let neck = 0.14;
    let top = -0.55;
    let outline = if hoodie {
        // Long sleeves hanging down.
        mirrored(
            &[
                [-neck, top],
                [-sw - 0.06, top + 0.07],
                [-sw - 0.22, top + 0.50],
                [-sw - 0.24, top + 1.00],
                [-sw - 0.10, top + 1.02],
                [-sw - 0.06, top + 0.45],
                [-sw, top + 0.35],
                [-sw, 0.6],
            ],
            0.03,
        )
    } else {
        mirrored(
            &[
                [-neck, top],
                [-sw - 0.02, top + 0.06],
                [-sw - 0.26, top + 0.30],
                [-sw - 0.14, top + 0.45],
                [-sw, top + 0.33],
                [-sw, 0.6],
            ],
            0.025,
        )
    };
    let neckline = || ellipse(0.0, top - 0.03, neck, 0.10);
    let body = || Prim::Subtract(Box::new(outline.clone()), Box::new(neckline()));
    let mut layers = vec![layer(body(), Paint::Base(0.0))];
    if hoodie {
        layers.push(layer(rbox(0.0, 0.38, sw * 0.62, 0.11, 0.05), Paint::Base(-0.12)));
        layers.push(layer(
            Prim::Subtract(
                Box::new(ellipse(0.0, top + 0.02, neck + 0.06, 0.12)),
                Box::new(ellipse(0.0, top - 0.02, neck, 0.09)),
            ),
            Paint::Base(-0.18),
        ));
        layers.push(layer(rbox(-0.05, top + 0.22, 0.008, 0.1, 0.008), Paint::Grey(0.92)));
        layers.push(layer(rbox(0.05, top + 0.22, 0.008, 0.1, 0.008), Paint::Grey(0.92)));
    } else {
        // Collar: a band around the neckline, clipped to the shirt.
        let band = Prim::Subtract(Box::new(ellipse(0.0, top - 0.03, neck + 0.035, 0.135)), Box::new(neckline()));
        layers.push(layer(Prim::Intersect(Box::new(band), Box::new(body())), Paint::Base(-0.2)));
        if rng.chance(0.5) {
            layers.push(layer(rbox(0.0, -0.14, sw * 0.42, 0.08, 0.03), Paint::Accent(0.15)));
        }
    }
    layers
}

// ---------------------------------------------------------------------------------------------
// Rendering

type Rgb = [f32; 3];

fn hsl(h: f32, s: f32, l: f32) -> Rgb {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    [r + m, g + m, b + m]
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]
}

fn scale(a: Rgb, k: f32) -> Rgb {
    [a[0] * k, a[1] * k, a[2] * k]
}

fn tint(c: Rgb, amount: f32) -> Rgb {
    if amount >= 0.0 { mix(c, [1.0; 3], amount) } else { scale(c, 1.0 + amount) }
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

struct Scene {
    layers: Vec<Layer>,
    /// Layer colours, precomputed.
    colours: Vec<Rgb>,
    /// Bounding box of the product in local coordinates.
    bounds: [f32; 4],
    bg_top: Rgb,
    bg_bottom: Rgb,
    shadow_offset: V2,
    /// Product transform: world = local * zoom + shift.
    zoom: f32,
    shift: V2,
}

/// Blur radius of the drop shadow, in local units.
const SHADOW_BLUR: f32 = 0.09;

impl Scene {
    fn new(seed: u64, hue: f32, kind: DemoShape) -> Scene {
        let mut rng = Rng(seed);
        let layers = product_layers(kind, &mut rng);
        let base = hsl(hue + rng.range(-6.0, 6.0), rng.range(0.45, 0.72), rng.range(0.40, 0.56));
        let accent = if rng.chance(0.5) {
            hsl(hue + 180.0 + rng.range(-30.0, 30.0), rng.range(0.35, 0.6), rng.range(0.45, 0.6))
        } else {
            hsl(hue, rng.range(0.1, 0.3), rng.range(0.85, 0.95))
        };
        let colours = layers
            .iter()
            .map(|l| match l.paint {
                Paint::Base(t) => tint(base, t),
                Paint::Accent(t) => tint(accent, t),
                Paint::Grey(g) => [g; 3],
            })
            .collect();
        let bounds = layers.iter().map(|l| l.prim.bounds()).fold(EMPTY_BOUNDS, union_bounds);
        let bg_hue = if rng.chance(0.5) { hue + rng.range(-40.0, 40.0) } else { rng.range(20.0, 50.0) };
        let bg_sat = rng.range(0.05, 0.22);
        let bg_top = hsl(bg_hue, bg_sat, rng.range(0.93, 0.97));
        let bg_bottom = hsl(bg_hue, bg_sat, rng.range(0.80, 0.87));
        let zoom = rng.range(0.92, 1.04);
        let shift = [rng.range(-0.04, 0.04), 0.04 + rng.range(-0.02, 0.02)];
        let shadow_offset = [rng.range(0.03, 0.06), rng.range(0.02, 0.04)];
        Scene { layers, colours, bounds, bg_top, bg_bottom, shadow_offset, zoom, shift }
    }

    fn to_local(&self, p: V2) -> V2 {
        [(p[0] - self.shift[0]) / self.zoom, (p[1] - self.shift[1]) / self.zoom]
    }

    fn background(&self, p: V2) -> Rgb {
        let t = smoothstep(-1.0, 1.0, p[1] * 0.9 + p[0] * 0.1);
        let c = mix(self.bg_top, self.bg_bottom, t);
        let r2 = p[0] * p[0] + p[1] * p[1];
        scale(c, 1.0 - 0.10 * smoothstep(0.6, 2.0, r2))
    }

    /// Signed distance from `q` to the bounding box grown by `margin` (a lower bound of every layer's distance).
    fn box_dist(&self, q: V2, margin: f32) -> f32 {
        let b = &self.bounds;
        let dx = (b[0] - margin - q[0]).max(q[0] - b[2] - margin);
        let dy = (b[1] - margin - q[1]).max(q[1] - b[3] - margin);
        len(dx.max(0.0), dy.max(0.0)) + dx.max(dy).min(0.0)
    }

    /// Contact shadow: a flat soft ellipse where the product meets the ground (0 none … 1 black).
    fn contact_shadow(&self, q: V2) -> f32 {
        let b = &self.bounds;
        let dx = (q[0] - (b[0] + b[2]) / 2.0) / ((b[2] - b[0]) * 0.55 + 0.05);
        let dy = (q[1] - b[3] - 0.005) / 0.05;
        0.30 * (1.0 - smoothstep(0.0, 1.0, dx * dx + dy * dy))
    }

    /// Drop shadow: the silhouette shifted away from the light, heavily blurred.
    fn drop_shadow(&self, q: V2) -> f32 {
        let s = [q[0] - self.shadow_offset[0], q[1] - self.shadow_offset[1]];
        if self.box_dist(s, 0.0) > SHADOW_BLUR {
            return 0.0;
        }
        let d = self.layers.iter().fold(f32::INFINITY, |d, l| d.min(l.prim.dist(s)));
        0.16 * (1.0 - smoothstep(-SHADOW_BLUR * 0.5, SHADOW_BLUR, d))
    }
}

/// Values sampled every `step` pixels (at pixel centres) and bilinearly interpolated in between.
struct Grid {
    step: usize,
    cols: usize,
    values: Vec<f32>,
}

impl Grid {
    fn sample(size: usize, step: usize, mut f: impl FnMut(usize, usize) -> f32) -> Grid {
        let cols = size / step + 2;
        let mut values = Vec::with_capacity(cols * cols);
        for j in 0..cols {
            for i in 0..cols {
                values.push(f(i * step, j * step));
            }
        }
        Grid { step, cols, values }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        let (i, j) = (x / self.step, y / self.step);
        let fx = (x % self.step) as f32 / self.step as f32;
        let fy = (y % self.step) as f32 / self.step as f32;
        let k = j * self.cols + i;
        let top = self.values[k] + (self.values[k + 1] - self.values[k]) * fx;
        let bottom = self.values[k + self.cols] + (self.values[k + self.cols + 1] - self.values[k + self.cols]) * fx;
        top + (bottom - top) * fy
    }
}

/// Renders RGB8 pixels. Distances are sampled on a coarse grid; only pixels near an edge are evaluated
/// exactly, which keeps an 800×800 picture to a few milliseconds.
fn render(seed: u64, hue: f32, kind: DemoShape, size: u32) -> Vec<u8> {
    let scene = Scene::new(seed, hue, kind);
    let n = size as usize;
    let aa = 2.0 / size as f32; // one pixel in world units
    let local_aa = aa / scene.zoom;
    let step = (n / 200).clamp(2, 8);
    let world = |x: usize, y: usize| -> V2 { [(x as f32 + 0.5) * aa - 1.0, (y as f32 + 0.5) * aa - 1.0] };
    // Grid interpolation of a 1-Lipschitz distance is off by well under a grid cell.
    let band = (1.5 * step as f32 + 1.0) * local_aa;
    let cull = band + 2.0 * step as f32 * local_aa;

    let fields: Vec<Grid> = scene
        .layers
        .iter()
        .map(|layer| {
            Grid::sample(n, step, |x, y| {
                let q = scene.to_local(world(x, y));
                let outside = scene.box_dist(q, 0.0);
                if outside > cull { outside } else { layer.prim.dist(q) }
            })
        })
        .collect();
    let drop = Grid::sample(n, step, |x, y| scene.drop_shadow(scene.to_local(world(x, y))));

    let b = scene.bounds;
    let (width, height) = ((b[2] - b[0]).max(1e-3), (b[3] - b[1]).max(1e-3));
    // The product's bounding box (grown by `band`) in pixels: outside it only the background is drawn.
    let to_px = |v: f32, shift: f32| (((v - band) * scene.zoom + shift + 1.0) / aa).floor().max(0.0) as usize;
    let to_px_hi = |v: f32, shift: f32| (((v + band) * scene.zoom + shift + 1.0) / aa).ceil().max(0.0) as usize;
    let px_range = [
        to_px(b[0], scene.shift[0]),
        to_px(b[1], scene.shift[1]),
        to_px_hi(b[2], scene.shift[0]),
        to_px_hi(b[3], scene.shift[1]),
    ];
    let mut grain_state = splitmix64(seed ^ 0x6AA1) | 1;
    let mut out = Vec::with_capacity(n * n * 3);
    for y in 0..n {
        for x in 0..n {
            let p = world(x, y);
            let q = scene.to_local(p);
            let shadow = scene.contact_shadow(q).max(drop.at(x, y));
            let mut c = scale(scene.background(p), 1.0 - shadow);
            if (px_range[0]..=px_range[2]).contains(&x) && (px_range[1]..=px_range[3]).contains(&y) {
                let u = (q[0] - b[0]) / width; // 0 left … 1 right
                let v = (q[1] - b[1]) / height; // 0 top … 1 bottom
                let light = 1.08 - 0.20 * u - 0.08 * v; // key light from the upper left
                for ((layer, colour), field) in scene.layers.iter().zip(&scene.colours).zip(&fields) {
                    let approx = field.at(x, y);
                    if approx > band {
                        continue;
                    }
                    let d = if approx < -band { approx } else { layer.prim.dist(q) };
                    let coverage = (0.5 - d / local_aa).clamp(0.0, 1.0);
                    if coverage <= 0.0 {
                        continue;
                    }
                    // Darker towards the silhouette edge: reads as volume.
                    let rim = 0.80 + 0.20 * smoothstep(0.0, 0.10, -d);
                    let mut shaded = scale(*colour, light * rim);
                    if layer.glossy {
                        let streak = (-((u - 0.27) / 0.05).powi(2)).exp() * smoothstep(0.0, 0.03, -d);
                        shaded = mix(shaded, [1.0; 3], 0.35 * streak);
                    }
                    c = mix(c, shaded, coverage);
                }
            }
            // A little sensor grain: breaks up banding in the gradients.
            grain_state ^= grain_state << 13;
            grain_state ^= grain_state >> 7;
            grain_state ^= grain_state << 17;
            let grain = ((grain_state >> 56) as f32 - 127.5) / 127.5 * 1.5;
            for ch in c {
                // `as` saturates; +0.5 rounds (f32::round is a slow libm call).
                out.push((ch * 255.0 + grain + 0.5) as u8);
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> image::RgbImage {
        assert_eq!(crate::sniff(bytes), Some(crate::ImageFormat::Jpeg));
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).unwrap().to_rgb8()
    }

    #[test]
    fn every_shape_decodes_as_a_jpeg_of_the_right_size() {
        for (i, shape) in DemoShape::ALL.into_iter().enumerate() {
            let img = decode(&draw_demo_image(i as u64, 40.0 * i as f32, shape, 200));
            assert_eq!(img.dimensions(), (200, 200), "{shape:?}");
        }
        assert_eq!(decode(&draw_demo_image(1, 0.0, DemoShape::Mug, 333)).dimensions(), (333, 333));
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = draw_demo_image(1, 210.0, DemoShape::Bottle, 128);
        assert_eq!(a, draw_demo_image(1, 210.0, DemoShape::Bottle, 128));
        assert_ne!(a, draw_demo_image(2, 210.0, DemoShape::Bottle, 128));
        assert_ne!(a, draw_demo_image(1, 20.0, DemoShape::Bottle, 128));
        assert_ne!(a, draw_demo_image(1, 210.0, DemoShape::Lamp, 128));
    }

    #[test]
    fn product_is_drawn_in_the_requested_hue() {
        // Saturated red product at the centre, pale background in the corner.
        let img = decode(&draw_demo_image(3, 0.0, DemoShape::Box, 200));
        let centre = img.get_pixel(100, 130);
        let [r, g, b] = centre.0.map(i32::from);
        assert!(r > g + 30 && r > b + 30, "centre {centre:?}");
        let corner = img.get_pixel(3, 3);
        assert!(corner.0.iter().all(|&c| c > 180), "corner {corner:?}");
    }

    #[test]
    fn from_seed_covers_all_shapes() {
        let mut seen: Vec<DemoShape> = (0..200).map(DemoShape::from_seed).collect();
        seen.sort_by_key(|s| DemoShape::ALL.iter().position(|a| a == s));
        seen.dedup();
        assert_eq!(seen, DemoShape::ALL);
        assert_eq!(DemoShape::from_seed(42), DemoShape::from_seed(42));
    }

    #[test]
    fn polygon_distance_sign() {
        let square = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        assert!((poly_dist(&square, [0.0, 0.0]) + 1.0).abs() < 1e-5);
        assert!((poly_dist(&square, [2.0, 0.0]) - 1.0).abs() < 1e-5);
    }
}

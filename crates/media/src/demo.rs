//! Procedural demo product pictures, drawn locally (no downloads), deterministic from a seed.
//!
//! Each picture is a soft two-tone studio background with a vignette, a simple product silhouette
//! made of signed-distance primitives (analytically anti-aliased), some fake volume (edge darkening,
//! side light, a specular streak on glossy things), a contact shadow and a soft drop shadow.

use crate::codec;

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
    codec::encode_jpeg(&pixels, size, size, DEMO_JPEG_QUALITY)
        .expect("encoding RGBA8 of at most 4096x4096 into a Vec cannot fail")
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
            Prim::Ellipse { c, radii } => ellipse_dist([p[0] - c[0], p[1] - c[1]], *radii),
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

/// Signed distance to an axis-aligned ellipse centred at the origin, by three iterations of the
/// trig-free closest-point refinement (accurate to well under a pixel; cheap approximations are far off
/// near the ends of thin ellipses, which shows in soft shadows).
fn ellipse_dist(p: V2, [a, b]: V2) -> f32 {
    let (px, py) = (p[0].abs(), p[1].abs());
    let (mut tx, mut ty) = (std::f32::consts::FRAC_1_SQRT_2, std::f32::consts::FRAC_1_SQRT_2);
    for _ in 0..3 {
        let (x, y) = (a * tx, b * ty);
        let ex = (a * a - b * b) * tx * tx * tx / a;
        let ey = (b * b - a * a) * ty * ty * ty / b;
        let r = len(x - ex, y - ey);
        let q = len(px - ex, py - ey).max(1e-12);
        tx = (((px - ex) * r / q + ex) / a).clamp(0.0, 1.0);
        ty = (((py - ey) * r / q + ey) / b).clamp(0.0, 1.0);
        let t = len(tx, ty).max(1e-12);
        tx /= t;
        ty /= t;
    }
    let d = len(px - a * tx, py - b * ty);
    if (px / a).powi(2) + (py / b).powi(2) < 1.0 { -d } else { d }
}

/// Signed distance from `q` to the box `b` (a lower bound of the distance to anything inside it).
fn box_dist(b: &[f32; 4], q: V2) -> f32 {
    let dx = (b[0] - q[0]).max(q[0] - b[2]);
    let dy = (b[1] - q[1]).max(q[1] - b[3]);
    len(dx.max(0.0), dy.max(0.0)) + dx.max(dy).min(0.0)
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
    /// Lies inside the silhouette of other layers, so it casts no shadow of its own.
    detail: bool,
}

fn layer(prim: Prim, paint: Paint) -> Layer {
    Layer { prim, paint, glossy: false, detail: false }
}

fn glossy(prim: Prim, paint: Paint) -> Layer {
    Layer { prim, paint, glossy: true, detail: false }
}

fn detail(prim: Prim, paint: Paint) -> Layer {
    Layer { prim, paint, glossy: false, detail: true }
}

fn glossy_detail(prim: Prim, paint: Paint) -> Layer {
    Layer { prim, paint, glossy: true, detail: true }
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
// Long because it is a table of shapes, one arm per kind of demo product.
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
                detail(ellipse(cx, top + 0.035, hw * 0.93, 0.04), Paint::Base(-0.45)),
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
                glossy_detail(rbox(0.0, 0.6 - (0.6 - body_top) * 0.45, hw + 0.002, label_h, 0.0), Paint::Grey(0.93)),
                detail(rbox(0.0, 0.6 - (0.6 - body_top) * 0.45, hw * 0.55, label_h * 0.18, 0.01), Paint::Base(-0.2)),
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
                detail(rbox(-hw + 0.035, cy, 0.035, hh, 0.01), Paint::Base(-0.3)),
                detail(rbox(0.03, cy - hh * 0.45, hw * 0.62, 0.045, 0.005), Paint::Accent(0.2)),
                detail(rbox(0.03, cy - hh * 0.30, hw * 0.42, 0.018, 0.005), Paint::Accent(0.2)),
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
                detail(ellipse(len * 0.68, 0.47, len * 0.24, 0.09), Paint::Base(-0.15)),
                layer(rbox(-len * 0.02, 0.55, len + 0.02, 0.045, 0.04), Paint::Grey(0.94)),
            ];
            for i in 0..4 {
                let t = i as f32;
                layers.push(detail(
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
                detail(poly(&tape, 0.0), Paint::Accent(0.1)),
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
        layers.push(detail(rbox(0.0, 0.38, sw * 0.62, 0.11, 0.05), Paint::Base(-0.12)));
        layers.push(layer(
            Prim::Subtract(
                Box::new(ellipse(0.0, top + 0.02, neck + 0.06, 0.12)),
                Box::new(ellipse(0.0, top - 0.02, neck, 0.09)),
            ),
            Paint::Base(-0.18),
        ));
        layers.push(detail(rbox(-0.05, top + 0.22, 0.008, 0.1, 0.008), Paint::Grey(0.92)));
        layers.push(detail(rbox(0.05, top + 0.22, 0.008, 0.1, 0.008), Paint::Grey(0.92)));
    } else {
        // Collar: a band around the neckline, clipped to the shirt.
        let band = Prim::Subtract(Box::new(ellipse(0.0, top - 0.03, neck + 0.035, 0.135)), Box::new(neckline()));
        layers.push(detail(Prim::Intersect(Box::new(band), Box::new(body())), Paint::Base(-0.2)));
        if rng.chance(0.5) {
            layers.push(detail(rbox(0.0, -0.14, sw * 0.42, 0.08, 0.03), Paint::Accent(0.15)));
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
    /// Bounding box of each layer and of the whole product, in local coordinates.
    layer_bounds: Vec<[f32; 4]>,
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
        let layer_bounds: Vec<[f32; 4]> = layers.iter().map(|l| l.prim.bounds()).collect();
        let bounds = layer_bounds.iter().copied().fold(EMPTY_BOUNDS, union_bounds);
        let bg_hue = if rng.chance(0.5) { hue + rng.range(-40.0, 40.0) } else { rng.range(20.0, 50.0) };
        let bg_sat = rng.range(0.05, 0.22);
        let bg_top = hsl(bg_hue, bg_sat, rng.range(0.93, 0.97));
        let bg_bottom = hsl(bg_hue, bg_sat, rng.range(0.80, 0.87));
        let zoom = rng.range(0.92, 1.04);
        let shift = [rng.range(-0.04, 0.04), 0.04 + rng.range(-0.02, 0.02)];
        let shadow_offset = [rng.range(0.03, 0.06), rng.range(0.02, 0.04)];
        Scene { layers, colours, layer_bounds, bounds, bg_top, bg_bottom, shadow_offset, zoom, shift }
    }

    /// Local (product) coordinates of the centre of pixel `(x, y)`, `aa` being the pixel size.
    fn pixel_to_local(&self, x: usize, y: usize, aa: f32) -> V2 {
        let w = |i: usize| (i as f32 + 0.5) * aa - 1.0;
        [(w(x) - self.shift[0]) / self.zoom, (w(y) - self.shift[1]) / self.zoom]
    }

    fn background(&self, p: V2) -> Rgb {
        let t = smoothstep(-1.0, 1.0, p[1] * 0.9 + p[0] * 0.1);
        let c = mix(self.bg_top, self.bg_bottom, t);
        let r2 = p[0] * p[0] + p[1] * p[1];
        scale(c, 1.0 - 0.10 * smoothstep(0.6, 2.0, r2))
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
        if box_dist(&self.bounds, s) > SHADOW_BLUR {
            return 0.0;
        }
        let mut d = f32::INFINITY;
        for (layer, bounds) in self.layers.iter().zip(&self.layer_bounds) {
            if !layer.detail && box_dist(bounds, s) < d.min(SHADOW_BLUR) {
                d = d.min(layer.prim.dist(s));
            }
        }
        0.16 * (1.0 - smoothstep(-SHADOW_BLUR * 0.5, SHADOW_BLUR, d))
    }
}

/// Values sampled every `step` pixels (at pixel centres) and bilinearly interpolated in between.
struct Grid {
    step: usize,
    cols: usize,
    values: Vec<f32>,
    /// Per pixel coordinate: the grid cell it falls in and the fraction across it (the same for x and y).
    cell: Vec<usize>,
    frac: Vec<f32>,
}

impl Grid {
    fn sample(size: usize, step: usize, mut f: impl FnMut(usize, usize) -> f32) -> Grid {
        let [grid] = Grid::sample_many(size, step, |x, y| [f(x, y)]);
        grid
    }

    /// `K` grids sampled together from one function returning `K` values.
    fn sample_many<const K: usize>(size: usize, step: usize, mut f: impl FnMut(usize, usize) -> [f32; K]) -> [Grid; K] {
        let cols = size / step + 2;
        let mut values: [Vec<f32>; K] = std::array::from_fn(|_| Vec::with_capacity(cols * cols));
        for j in 0..cols {
            for i in 0..cols {
                for (vs, v) in values.iter_mut().zip(f(i * step, j * step)) {
                    vs.push(v);
                }
            }
        }
        let cell: Vec<usize> = (0..size).map(|x| x / step).collect();
        let frac: Vec<f32> = (0..size).map(|x| (x % step) as f32 / step as f32).collect();
        values.map(|values| Grid { step, cols, values, cell: cell.clone(), frac: frac.clone() })
    }

    /// The interpolated value at pixel `(x, y)` (which may lie up to a cell beyond the image).
    fn at(&self, x: usize, y: usize) -> f32 {
        let (i, j) = ((x / self.step).min(self.cols - 2), (y / self.step).min(self.cols - 2));
        let fx = (x as f32 / self.step as f32 - i as f32).min(1.0);
        let fy = (y as f32 / self.step as f32 - j as f32).min(1.0);
        let v = |i: usize, j: usize| self.values[j * self.cols + i];
        let top = v(i, j) + (v(i + 1, j) - v(i, j)) * fx;
        let bottom = v(i, j + 1) + (v(i + 1, j + 1) - v(i, j + 1)) * fx;
        top + (bottom - top) * fy
    }

    /// Interpolated values of row `y` for the columns `xs`, written to `out[xs]`.
    fn row(&self, y: usize, xs: std::ops::Range<usize>, out: &mut [f32]) {
        let (j, fy) = (self.cell[y], self.frac[y]);
        let top = &self.values[j * self.cols..(j + 1) * self.cols];
        let bottom = &self.values[(j + 1) * self.cols..(j + 2) * self.cols];
        let column = |i: usize| top[i] + (bottom[i] - top[i]) * fy;
        let mut x = xs.start;
        while x < xs.end {
            // One grid cell at a time: its two columns are interpolated once.
            let i = self.cell[x];
            let (left, right) = (column(i), column(i + 1));
            let end = ((i + 1) * self.step).min(xs.end);
            for (o, f) in out[x..end].iter_mut().zip(&self.frac[x..end]) {
                *o = left + (right - left) * f;
            }
            x = end;
        }
    }
}

/// Renders RGBA8 pixels (opaque). Everything smooth (background, shadows, distances away from edges) is sampled on
/// a coarse grid and interpolated; distances are evaluated exactly only near edges, where anti-aliasing
/// needs them. That keeps an 800×800 picture to a few milliseconds.
// Long because it is one rasterising loop; split, its coarse-grid sampling and
// exact edge passes would have to share a dozen locals through a struct.
fn render(seed: u64, hue: f32, kind: DemoShape, size: u32) -> Vec<u8> {
    let scene = Scene::new(seed, hue, kind);
    let n = size as usize;
    let aa = 2.0 / size as f32; // one pixel in world units
    let local_aa = aa / scene.zoom;
    let step = (n / 200).clamp(2, 8);
    // Bilinear interpolation of a 1-Lipschitz distance is off by less than a grid cell.
    let band = (step as f32 + 1.0) * local_aa;
    let cull = band + 2.0 * step as f32 * local_aa;

    let fields: Vec<Grid> = scene
        .layers
        .iter()
        .zip(&scene.layer_bounds)
        .map(|(layer, bounds)| {
            Grid::sample(n, step, |x, y| {
                let q = scene.pixel_to_local(x, y, aa);
                let outside = box_dist(bounds, q);
                if outside > cull { outside } else { layer.prim.dist(q) }
            })
        })
        .collect();
    // The drop shadow is a wide blur: an even coarser grid is plenty.
    let drop = Grid::sample(n, step * 2, |x, y| scene.drop_shadow(scene.pixel_to_local(x, y, aa)));
    let backdrop = Grid::sample_many(n, step, |x, y| {
        let world = |i: usize| (i as f32 + 0.5) * aa - 1.0;
        let q = scene.pixel_to_local(x, y, aa);
        let shadow = scene.contact_shadow(q).max(drop.at(x, y));
        scale(scene.background([world(x), world(y)]), 1.0 - shadow)
    });

    let b = scene.bounds;
    let (width, height) = ((b[2] - b[0]).max(1e-3), (b[3] - b[1]).max(1e-3));
    // The product's bounding box (grown by `band`) in pixels: outside it only the backdrop is drawn.
    let to_px = |v: f32, shift: f32| ((v * scene.zoom + shift + 1.0) / aa).max(0.0) as usize;
    let (x0, y0) = (to_px(b[0] - band, scene.shift[0]), to_px(b[1] - band, scene.shift[1]));
    let x1 = (to_px(b[2] + band, scene.shift[0]) + 2).clamp(x0, n);
    let y1 = (to_px(b[3] + band, scene.shift[1]) + 2).clamp(y0, n);
    let local_x: Vec<f32> = (0..n).map(|i| scene.pixel_to_local(i, 0, aa)[0]).collect();

    let mut rgb_rows = [vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]];
    let mut field_rows = vec![vec![0.0f32; n]; fields.len()];
    let mut grain_state = splitmix64(seed ^ 0x6AA1) | 1;
    let mut out = vec![u8::MAX; n * n * 4]; // RGBA, opaque
    for (y, row) in out.chunks_exact_mut(n * 4).enumerate() {
        for (grid, rgb_row) in backdrop.iter().zip(&mut rgb_rows) {
            grid.row(y, 0..n, rgb_row);
        }
        if (y0..y1).contains(&y) {
            for (grid, field_row) in fields.iter().zip(&mut field_rows) {
                grid.row(y, x0..x1, field_row);
            }
            let qy = scene.pixel_to_local(0, y, aa)[1];
            let v = (qy - b[1]) / height; // 0 top … 1 bottom
            for x in x0..x1 {
                let q = [local_x[x], qy];
                let u = (q[0] - b[0]) / width; // 0 left … 1 right
                let light = 1.08 - 0.20 * u - 0.08 * v; // key light from the upper left
                let mut c = [rgb_rows[0][x], rgb_rows[1][x], rgb_rows[2][x]];
                for ((layer, colour), field_row) in scene.layers.iter().zip(&scene.colours).zip(&field_rows) {
                    let approx = field_row[x];
                    if approx > band {
                        continue;
                    }
                    let d = if approx < -band { approx } else { layer.prim.dist(q) };
                    let coverage = (0.5 - d / local_aa).clamp(0.0, 1.0);
                    if coverage <= 0.0 {
                        continue;
                    }
                    // Darker towards the silhouette edge: reads as volume. Details (prints, labels) are flat.
                    let rim = if layer.detail {
                        0.92 + 0.08 * smoothstep(0.0, 0.015, -d)
                    } else {
                        0.80 + 0.20 * smoothstep(0.0, 0.10, -d)
                    };
                    let mut shaded = scale(*colour, light * rim);
                    if layer.glossy {
                        // A vertical specular streak on the lit side.
                        let t = ((u - 0.27) / 0.08).min(1.0);
                        let streak = (1.0 - t * t).max(0.0).powi(2) * smoothstep(0.0, 0.03, -d);
                        shaded = mix(shaded, [1.0; 3], 0.35 * streak);
                    }
                    c = mix(c, shaded, coverage);
                }
                for (rgb_row, ch) in rgb_rows.iter_mut().zip(c) {
                    rgb_row[x] = ch;
                }
            }
        }
        for (x, px) in row.chunks_exact_mut(4).enumerate() {
            // A little sensor grain: breaks up banding in the gradients.
            grain_state ^= grain_state << 13;
            grain_state ^= grain_state >> 7;
            grain_state ^= grain_state << 17;
            let grain = ((grain_state >> 56) as f32 - 127.5) * (1.5 / 127.5) + 0.5; // +0.5 rounds
            // `as` saturates (and is much faster than f32::round, a libm call).
            px[0] = (rgb_rows[0][x] * 255.0 + grain) as u8;
            px[1] = (rgb_rows[1][x] * 255.0 + grain) as u8;
            px[2] = (rgb_rows[2][x] * 255.0 + grain) as u8;
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
        for size in [8, 17, 64, 333] {
            assert_eq!(decode(&draw_demo_image(1, 0.0, DemoShape::Mug, size)).dimensions(), (size, size));
        }
        assert_eq!(decode(&draw_demo_image(1, 0.0, DemoShape::Mug, 0)).dimensions(), (8, 8), "clamped");
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
    fn ellipse_distance_is_accurate() {
        let close = |a: f32, b: f32| (a - b).abs() < 1e-3;
        assert!(close(ellipse_dist([0.5, 0.0], [0.3, 0.05]), 0.2));
        assert!(close(ellipse_dist([0.0, 0.25], [0.3, 0.05]), 0.2));
        assert!(close(ellipse_dist([0.0, 0.0], [0.3, 0.05]), -0.05));
        // Off the end of a thin ellipse the distance is nearly that to the tip.
        let d = ellipse_dist([0.35, 0.05], [0.3, 0.035]);
        assert!(d > 0.055 && d < 0.0708, "{d}");
        assert!(close(ellipse_dist([0.6, 0.8], [1.0, 1.0]), 0.0));
    }

    #[test]
    fn polygon_distance_sign() {
        let square = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        assert!((poly_dist(&square, [0.0, 0.0]) + 1.0).abs() < 1e-5);
        assert!((poly_dist(&square, [2.0, 0.0]) - 1.0).abs() < 1e-5);
    }
}

//! The store locator: stores nearest first, on a small map drawn as SVG.

use crate::Site;
use crate::page::{Chrome, PageResult};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;

pub fn router() -> Router<Site> {
    Router::new().route("/stores", get(stores_page))
}

#[derive(Deserialize)]
struct Near {
    lat: Option<String>,
    lng: Option<String>,
}

pub struct StoreRow {
    pub n: usize,
    pub name: String,
    pub address: String,
    pub phone: Option<String>,
    pub hours: Vec<String>,
    pub distance: Option<String>,
}

/// A point on the map, in the SVG's coordinates.
pub struct Pin {
    pub n: usize,
    pub x: f64,
    pub y: f64,
    pub name: String,
}

#[derive(Template)]
#[template(path = "stores.html")]
struct StoresPage {
    c: Chrome,
    lat: String,
    lng: String,
    stores: Vec<StoreRow>,
    pins: Vec<Pin>,
    you: Option<(f64, f64)>,
    error: Option<String>,
}

const MAP_W: f64 = 600.0;
const MAP_H: f64 = 320.0;
const PAD: f64 = 24.0;

/// Projects points (lat, lng) into the map box, keeping the aspect of an
/// equirectangular projection scaled by the cosine of the middle latitude.
fn project(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if points.is_empty() {
        return Vec::new();
    }
    let (mut min_lat, mut max_lat, mut min_lng, mut max_lng) = (90.0f64, -90.0f64, 180.0f64, -180.0f64);
    for (lat, lng) in points {
        min_lat = min_lat.min(*lat);
        max_lat = max_lat.max(*lat);
        min_lng = min_lng.min(*lng);
        max_lng = max_lng.max(*lng);
    }
    let k = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.1);
    let w = ((max_lng - min_lng) * k).max(0.01);
    let h = (max_lat - min_lat).max(0.01);
    let scale = ((MAP_W - 2.0 * PAD) / w).min((MAP_H - 2.0 * PAD) / h);
    let (cx, cy) = ((min_lng + max_lng) / 2.0, (min_lat + max_lat) / 2.0);
    points
        .iter()
        .map(|(lat, lng)| {
            let x = MAP_W / 2.0 + (lng - cx) * k * scale;
            let y = MAP_H / 2.0 - (lat - cy) * scale;
            ((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0)
        })
        .collect()
}

fn coordinate(text: Option<&str>, limit: f64) -> Result<Option<f64>, ()> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= limit => Ok(Some(v)),
            _ => Err(()),
        },
    }
}

async fn stores_page(State(site): State<Site>, visitor: Visitor, Query(near): Query<Near>) -> PageResult {
    let lat = coordinate(near.lat.as_deref(), 90.0);
    let lng = coordinate(near.lng.as_deref(), 180.0);
    let (point, error) = match (lat, lng) {
        (Ok(Some(lat)), Ok(Some(lng))) => (Some((lat, lng)), None),
        (Ok(None), Ok(None)) => (None, None),
        _ => (None, Some("Enter a latitude from -90 to 90 and a longitude from -180 to 180.".to_owned())),
    };
    let found = site.app.catalog.stores_near(point, None).await?;
    let stores: Vec<StoreRow> = found
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let st = &s.store;
            StoreRow {
                n: i + 1,
                name: st.name.clone(),
                address: format!("{}, {} {}, {}", st.line1, st.postal_code, st.city, st.country),
                phone: st.phone.clone(),
                hours: st.opening_hours.iter().map(|h| format!("{} {}–{}", h.day, h.opens, h.closes)).collect(),
                distance: s.distance_km.map(|d| format!("{d:.1} km")),
            }
        })
        .collect();
    let mut points: Vec<(f64, f64)> = found.iter().map(|s| (s.store.latitude, s.store.longitude)).collect();
    if let Some(p) = point {
        points.push(p);
    }
    let projected = project(&points);
    let pins = found
        .iter()
        .zip(&projected)
        .enumerate()
        .map(|(i, (s, (x, y)))| Pin { n: i + 1, x: *x, y: *y, name: s.store.name.clone() })
        .collect();
    let you = point.and_then(|_| projected.last().copied());
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let page = StoresPage {
        c: Chrome::new(&site, &visitor, "Find a store"),
        lat: near.lat.unwrap_or_default(),
        lng: near.lng.unwrap_or_default(),
        stores,
        pins,
        you,
        error,
    };
    Ok(crate::page::render_status(status, &page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_fits_the_box_and_keeps_directions() {
        let pts = project(&[(52.52, 13.40), (48.85, 2.35), (51.51, -0.13)]);
        for (x, y) in &pts {
            assert!((PAD - 0.1..=MAP_W - PAD + 0.1).contains(x), "x {x}");
            assert!((PAD - 0.1..=MAP_H - PAD + 0.1).contains(y), "y {y}");
        }
        // Berlin is east of Paris; Paris is south of London.
        assert!(pts[0].0 > pts[1].0);
        assert!(pts[1].1 > pts[2].1);
        // One point sits in the middle.
        assert_eq!(project(&[(10.0, 10.0)]), vec![(MAP_W / 2.0, MAP_H / 2.0)]);
    }
}

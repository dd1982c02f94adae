//! Great-circle distance for the store locator.

const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Haversine distance in kilometres between two WGS-84 points in degrees.
pub fn distance_km(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

pub fn valid_latitude(lat: f64) -> bool {
    lat.is_finite() && (-90.0..=90.0).contains(&lat)
}

pub fn valid_longitude(lng: f64) -> bool {
    lng.is_finite() && (-180.0..=180.0).contains(&lng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // Paris – London ≈ 343.5 km; antipodes ≈ half the circumference.
        let d = distance_km(48.8566, 2.3522, 51.5074, -0.1278);
        assert!((d - 343.5).abs() < 1.0, "{d}");
        assert!(distance_km(1.0, 2.0, 1.0, 2.0).abs() < 1e-9);
        let half = distance_km(0.0, 0.0, 0.0, 180.0);
        assert!((half - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
        // Across the antimeridian is short, not the long way round.
        assert!(distance_km(0.0, 179.5, 0.0, -179.5) < 112.0);
    }
}

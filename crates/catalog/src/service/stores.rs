use super::CatalogService;
use crate::error::{CatalogError, Result};
use crate::geo;
use crate::input::{self, StoreInput, optional_text, text};
use crate::model::{Store, StoreWithDistance};
use crate::store::DeleteOutcome;
use kernel::{FieldErrors, new_id};
use time::OffsetDateTime;
use uuid::Uuid;

fn store_from_input(input: StoreInput, id: Uuid, created_at: OffsetDateTime, now: OffsetDateTime) -> Result<Store> {
    let mut errors = FieldErrors::new();
    let country = input.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        errors.add("country", "must be an ISO 3166-1 alpha-2 code");
    }
    if !geo::valid_latitude(input.latitude) {
        errors.add("latitude", "must be between -90 and 90");
    }
    if !geo::valid_longitude(input.longitude) {
        errors.add("longitude", "must be between -180 and 180");
    }
    let store = Store {
        id,
        name: text(&mut errors, "name", &input.name, 200),
        line1: text(&mut errors, "line1", &input.line1, 200),
        line2: optional_text(&mut errors, "line2", input.line2.as_deref(), 200),
        city: text(&mut errors, "city", &input.city, 100),
        region: optional_text(&mut errors, "region", input.region.as_deref(), 100),
        postal_code: text(&mut errors, "postal_code", &input.postal_code, 20),
        country,
        latitude: input.latitude,
        longitude: input.longitude,
        phone: optional_text(&mut errors, "phone", input.phone.as_deref(), 40),
        opening_hours: input::opening_hours(&mut errors, &input.opening_hours),
        created_at,
        updated_at: now,
    };
    errors.into_result()?;
    Ok(store)
}

impl CatalogService {
    /// Stores nearest first when a point is given (within `radius_km` if
    /// set), else by name.
    pub async fn stores_near(
        &self,
        point: Option<(f64, f64)>,
        radius_km: Option<f64>,
    ) -> Result<Vec<StoreWithDistance>> {
        let mut errors = FieldErrors::new();
        if let Some((lat, lng)) = point {
            if !geo::valid_latitude(lat) {
                errors.add("lat", "must be between -90 and 90");
            }
            if !geo::valid_longitude(lng) {
                errors.add("lng", "must be between -180 and 180");
            }
        }
        if let Some(r) = radius_km
            && !(r.is_finite() && r > 0.0)
        {
            errors.add("radius_km", "must be a positive number");
        }
        if radius_km.is_some() && point.is_none() {
            errors.add("radius_km", "needs lat and lng");
        }
        errors.into_result()?;
        let stores = self.store.stores().await?;
        let mut out: Vec<StoreWithDistance> = stores
            .into_iter()
            .map(|store| {
                let distance_km = point.map(|(lat, lng)| geo::distance_km(lat, lng, store.latitude, store.longitude));
                StoreWithDistance { store, distance_km }
            })
            .filter(|s| match (s.distance_km, radius_km) {
                (Some(d), Some(r)) => d <= r,
                _ => true,
            })
            .collect();
        out.sort_by(|a, b| {
            a.distance_km
                .unwrap_or(0.0)
                .total_cmp(&b.distance_km.unwrap_or(0.0))
                .then_with(|| a.store.name.cmp(&b.store.name))
        });
        Ok(out)
    }

    pub async fn create_store(&self, input: StoreInput) -> Result<Store> {
        let now = self.clock.now();
        let store = store_from_input(input, new_id(), now, now)?;
        self.store.insert_store(&store).await?;
        Ok(store)
    }

    /// Replaces a store's details.
    pub async fn update_store(&self, id: Uuid, input: StoreInput) -> Result<Store> {
        let current =
            self.store.stores().await?.into_iter().find(|s| s.id == id).ok_or(CatalogError::NotFound("store"))?;
        let store = store_from_input(input, id, current.created_at, self.clock.now())?;
        if !self.store.update_store(&store).await? {
            return Err(CatalogError::NotFound("store"));
        }
        Ok(store)
    }

    pub async fn delete_store(&self, id: Uuid) -> Result<()> {
        match self.store.delete_store(id).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("store")),
        }
    }
}

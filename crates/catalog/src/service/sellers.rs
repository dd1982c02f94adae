use super::CatalogService;
use crate::error::{CatalogError, Result};
use crate::input::{SellerInput, SellerPatch, optional_text, text};
use crate::model::Seller;
use crate::store::DeleteOutcome;
use kernel::{FieldErrors, new_id};
use uuid::Uuid;

fn wallet(errors: &mut FieldErrors, value: Option<&str>) -> Option<String> {
    let value = optional_text(errors, "payout_wallet", value, 64)?;
    // A Solana address is 32 bytes in base58: 32 to 44 characters.
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if !(32..=44).contains(&value.len()) || !value.chars().all(|c| BASE58.contains(c)) {
        errors.add("payout_wallet", "must be a Solana address (base58, 32 to 44 characters)");
    }
    Some(value)
}

fn stripe_account(errors: &mut FieldErrors, value: Option<&str>) -> Option<String> {
    let value = optional_text(errors, "stripe_account_id", value, 255)?;
    if !value.starts_with("acct_") || !value[5..].chars().all(|c| c.is_ascii_alphanumeric()) || value.len() < 6 {
        errors.add("stripe_account_id", "must look like acct_…");
    }
    Some(value)
}

impl CatalogService {
    /// Makes sure the shop has its default seller (called at start).
    pub async fn ensure_default_seller(&self, shop_name: &str) -> Result<Seller> {
        let now = self.clock.now();
        let seller = Seller {
            id: new_id(),
            name: shop_name.to_owned(),
            payout_wallet: None,
            stripe_account_id: None,
            is_default: true,
            created_at: now,
            updated_at: now,
        };
        Ok(self.store.ensure_default_seller(&seller).await?)
    }

    pub async fn sellers(&self) -> Result<Vec<Seller>> {
        Ok(self.store.sellers().await?)
    }

    pub async fn default_seller(&self) -> Result<Seller> {
        self.sellers()
            .await?
            .into_iter()
            .find(|s| s.is_default)
            .ok_or_else(|| CatalogError::Unexpected(anyhow::anyhow!("the shop has no default seller")))
    }

    pub async fn create_seller(&self, input: SellerInput) -> Result<Seller> {
        let mut errors = FieldErrors::new();
        let name = text(&mut errors, "name", &input.name, 200);
        let payout_wallet = wallet(&mut errors, input.payout_wallet.as_deref());
        let stripe_account_id = stripe_account(&mut errors, input.stripe_account_id.as_deref());
        errors.into_result()?;
        let now = self.clock.now();
        let seller = Seller {
            id: new_id(),
            name,
            payout_wallet,
            stripe_account_id,
            is_default: false,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_seller(&seller).await?;
        Ok(seller)
    }

    pub async fn update_seller(&self, id: Uuid, patch: SellerPatch) -> Result<Seller> {
        let mut seller = self.store.seller(id).await?.ok_or(CatalogError::NotFound("seller"))?;
        let mut errors = FieldErrors::new();
        if let Some(name) = &patch.name {
            seller.name = text(&mut errors, "name", name, 200);
        }
        if let Some(value) = &patch.payout_wallet {
            seller.payout_wallet = wallet(&mut errors, value.as_deref());
        }
        if let Some(value) = &patch.stripe_account_id {
            seller.stripe_account_id = stripe_account(&mut errors, value.as_deref());
        }
        errors.into_result()?;
        seller.updated_at = self.clock.now();
        if !self.store.update_seller(&seller).await? {
            return Err(CatalogError::NotFound("seller"));
        }
        Ok(seller)
    }

    pub async fn delete_seller(&self, id: Uuid) -> Result<()> {
        let seller = self.store.seller(id).await?.ok_or(CatalogError::NotFound("seller"))?;
        if seller.is_default {
            return Err(CatalogError::Conflict("the shop's default seller cannot be deleted".into()));
        }
        match self.store.delete_seller(id).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("seller")),
        }
    }
}

use super::CatalogService;
use crate::error::{CatalogError, Result};
use crate::input::{ReviewInput, text};
use crate::model::{ProductStatus, Review, ReviewStatus, WishlistItem};
use crate::store::{DeleteOutcome, ReviewFilter, StoreError};
use crate::topics;
use kernel::{FieldErrors, Page, PageSpec, new_id};
use uuid::Uuid;

/// "Jane Doe" → "Jane D.": enough to be personal, not enough to identify.
pub fn display_name(full_name: &str) -> String {
    let mut parts = full_name.split_whitespace();
    match (parts.next(), parts.next_back()) {
        (Some(first), Some(last)) => format!("{first} {}.", last.chars().next().unwrap_or(' ')),
        (Some(first), None) => first.to_owned(),
        _ => "Customer".to_owned(),
    }
}

impl CatalogService {
    /// A customer's review of an active product; one per customer per
    /// product. `verified_purchase` comes from the orders context.
    pub async fn create_review(
        &self,
        user_id: Uuid,
        full_name: &str,
        product_id: Uuid,
        input: ReviewInput,
    ) -> Result<Review> {
        let product = self.product(product_id).await?;
        if product.status != ProductStatus::Active {
            return Err(CatalogError::NotFound("product"));
        }
        let mut errors = FieldErrors::new();
        if !(1..=5).contains(&input.rating) {
            errors.add("rating", "must be 1 to 5");
        }
        let title = text(&mut errors, "title", &input.title, 200);
        let body = text(&mut errors, "body", &input.body, 10_000);
        errors.into_result()?;
        let verified_purchase = self.purchases.has_purchased(user_id, product_id).await?;
        let now = self.clock.now();
        let review = Review {
            id: new_id(),
            product_id,
            user_id,
            author_name: display_name(full_name),
            rating: input.rating as u8,
            title,
            body,
            verified_purchase,
            status: ReviewStatus::Published,
            created_at: now,
            updated_at: now,
        };
        let event = self.product_event(topics::REVIEW_CREATED, product_id);
        match self.store.insert_review(&review, &event).await {
            Err(StoreError::Duplicate(_)) => {
                Err(CatalogError::Conflict("you have already reviewed this product; one review per customer".into()))
            }
            other => {
                other?;
                Ok(review)
            }
        }
    }

    /// Published reviews of an active product, newest first.
    pub async fn product_reviews(&self, product_id: Uuid, page: PageSpec) -> Result<Page<Review>> {
        let product = self.storefront_product(&product_id.to_string()).await?;
        let filter = ReviewFilter { product_id: Some(product.id), status: Some(ReviewStatus::Published) };
        let (items, total) = self.store.reviews(&filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    pub async fn reviews(&self, filter: ReviewFilter, page: PageSpec) -> Result<Page<Review>> {
        let (items, total) = self.store.reviews(&filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    /// Publishes or hides a review; the product's rating follows.
    pub async fn moderate_review(&self, id: Uuid, status: ReviewStatus) -> Result<Review> {
        let mut review = self.store.review(id).await?.ok_or(CatalogError::NotFound("review"))?;
        review.status = status;
        review.updated_at = self.clock.now();
        let event = self.product_event(topics::REVIEW_UPDATED, review.product_id);
        if !self.store.set_review_status(&review, &event).await? {
            return Err(CatalogError::NotFound("review"));
        }
        Ok(review)
    }

    pub async fn delete_review(&self, id: Uuid) -> Result<()> {
        let review = self.store.review(id).await?.ok_or(CatalogError::NotFound("review"))?;
        let event = self.product_event(topics::REVIEW_UPDATED, review.product_id);
        match self.store.delete_review(id, &event).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("review")),
        }
    }

    pub async fn wishlist(&self, user_id: Uuid) -> Result<Vec<WishlistItem>> {
        Ok(self.store.wishlist(user_id).await?)
    }

    /// Adds an active product; adding it again changes nothing.
    pub async fn add_to_wishlist(&self, user_id: Uuid, product_id: Uuid) -> Result<WishlistItem> {
        let product = self.storefront_product(&product_id.to_string()).await?;
        let item = WishlistItem { product_id: product.id, added_at: self.clock.now() };
        self.store.add_to_wishlist(user_id, &item).await?;
        let items = self.store.wishlist(user_id).await?;
        Ok(items.into_iter().find(|i| i.product_id == product_id).unwrap_or(item))
    }

    pub async fn remove_from_wishlist(&self, user_id: Uuid, product_id: Uuid) -> Result<()> {
        match self.store.remove_from_wishlist(user_id, product_id).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("wishlist item")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn names() {
        assert_eq!(display_name("Jane Mary Doe"), "Jane D.");
        assert_eq!(display_name("Cher"), "Cher");
        assert_eq!(display_name("  "), "Customer");
    }
}

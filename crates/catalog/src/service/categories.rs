use super::CatalogService;
use crate::error::{CatalogError, Result};
use crate::input::{CategoryInput, CategoryPatch, optional_text, text};
use crate::model::{Category, CategoryNode};
use crate::slug;
use crate::store::DeleteOutcome;
use crate::topics;
use kernel::{Event, FieldErrors, new_id};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The tree as nested nodes, siblings by position then name.
pub fn build_tree(categories: &[Category]) -> Vec<CategoryNode> {
    let mut children: HashMap<Option<Uuid>, Vec<&Category>> = HashMap::new();
    for c in categories {
        children.entry(c.parent_id).or_default().push(c);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.name.cmp(&b.name)));
    }
    fn nodes(
        parent: Option<Uuid>,
        children: &HashMap<Option<Uuid>, Vec<&Category>>,
        depth: usize,
    ) -> Vec<CategoryNode> {
        // The store refuses cycles; the depth bound guards against a corrupt row anyway.
        if depth > 64 {
            return Vec::new();
        }
        children
            .get(&parent)
            .map(|list| {
                list.iter()
                    .map(|c| CategoryNode {
                        id: c.id,
                        slug: c.slug.clone(),
                        name: c.name.clone(),
                        description: c.description.clone(),
                        children: nodes(Some(c.id), children, depth + 1),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    nodes(None, &children, 0)
}

/// `id` and every category below it.
pub fn descendants(categories: &[Category], id: Uuid) -> Vec<Uuid> {
    let mut out = vec![id];
    let mut i = 0;
    while i < out.len() && out.len() <= categories.len() {
        let parent = out[i];
        out.extend(categories.iter().filter(|c| c.parent_id == Some(parent)).map(|c| c.id));
        i += 1;
    }
    out
}

/// The ancestors of `id`, root first, ending with `id`; empty if unknown.
pub fn path(categories: &[Category], id: Uuid) -> Vec<Uuid> {
    let by_id: HashMap<Uuid, &Category> = categories.iter().map(|c| (c.id, c)).collect();
    let mut out = Vec::new();
    let mut current = by_id.get(&id);
    while let Some(c) = current {
        if out.contains(&c.id) {
            break;
        }
        out.push(c.id);
        current = c.parent_id.and_then(|p| by_id.get(&p));
    }
    out.reverse();
    out
}

/// The sibling ids under `parent` in their new order, with `id` placed at `position`.
fn sibling_order(categories: &[Category], parent: Option<Uuid>, id: Uuid, position: Option<i32>) -> Vec<Uuid> {
    let mut siblings: Vec<&Category> = categories.iter().filter(|c| c.parent_id == parent && c.id != id).collect();
    siblings.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.name.cmp(&b.name)));
    let mut order: Vec<Uuid> = siblings.into_iter().map(|c| c.id).collect();
    let at = position.map_or(order.len(), |p| usize::try_from(p.max(0)).unwrap_or(0).min(order.len()));
    order.insert(at, id);
    order
}

impl CatalogService {
    /// Every category (cached; category writes are rare).
    pub async fn categories(&self) -> Result<Arc<Vec<Category>>> {
        if let Ok(cached) = self.caches.categories.read()
            && let Some(list) = cached.as_ref()
        {
            return Ok(list.clone());
        }
        let generation = self.caches.generation();
        let list = Arc::new(self.store.categories().await?);
        if let Ok(mut cached) = self.caches.categories.write()
            && self.caches.generation() == generation
        {
            *cached = Some(list.clone());
        }
        Ok(list)
    }

    pub async fn category_tree(&self) -> Result<Vec<CategoryNode>> {
        Ok(build_tree(&self.categories().await?))
    }

    /// A category by id or slug.
    pub async fn find_category(&self, id_or_slug: &str) -> Result<Option<Category>> {
        let id = Uuid::parse_str(id_or_slug).ok();
        Ok(self.categories().await?.iter().find(|c| Some(c.id) == id || c.slug == id_or_slug).cloned())
    }

    /// `moved` tells consumers that the paths of the products below changed
    /// (a rename or a new category changes no product).
    fn category_event(&self, id: Uuid, moved: bool) -> Event {
        self.invalidate_categories();
        Event::new(topics::CATEGORY_CHANGED, id, self.clock.now(), json!({ "category_id": id, "moved": moved }))
    }

    pub async fn create_category(&self, input: CategoryInput) -> Result<Category> {
        let categories = self.categories().await?;
        let mut errors = FieldErrors::new();
        let name = text(&mut errors, "name", &input.name, 100);
        let description = optional_text(&mut errors, "description", input.description.as_deref(), 5_000);
        let explicit_slug = input.slug.is_some();
        let slug = match input.slug {
            Some(s) => {
                errors.check("slug", slug::validate(&s));
                s
            }
            None => slug::slugify(&name),
        };
        if let Some(parent) = input.parent_id
            && !categories.iter().any(|c| c.id == parent)
        {
            errors.add("parent_id", "unknown category");
        }
        if !explicit_slug && slug.is_empty() && errors.is_empty() {
            errors.add("slug", "cannot be made from this name; give one");
        }
        errors.into_result()?;
        let now = self.clock.now();
        let id = new_id();
        let order = sibling_order(&categories, input.parent_id, id, input.position);
        let position = order.iter().position(|c| *c == id).unwrap_or(0) as i32;
        let mut category = Category {
            id,
            parent_id: input.parent_id,
            slug,
            name,
            description,
            position,
            created_at: now,
            updated_at: now,
        };
        let event = self.category_event(id, false);
        let result = self.store.insert_category(&category, &order, &event).await;
        if let Err(crate::StoreError::Duplicate("slug")) = result
            && !explicit_slug
        {
            // A generated slug may clash; make it unique with part of the id.
            category.slug = format!("{}-{}", category.slug, &id.simple().to_string()[24..]);
            self.store.insert_category(&category, &order, &event).await?;
        } else {
            result?;
        }
        self.invalidate_categories();
        Ok(category)
    }

    pub async fn update_category(&self, id: Uuid, patch: CategoryPatch) -> Result<Category> {
        let categories = self.categories().await?;
        let mut category = categories.iter().find(|c| c.id == id).cloned().ok_or(CatalogError::NotFound("category"))?;
        let mut errors = FieldErrors::new();
        if let Some(name) = &patch.name {
            category.name = text(&mut errors, "name", name, 100);
        }
        if let Some(s) = patch.slug {
            errors.check("slug", slug::validate(&s));
            category.slug = s;
        }
        if let Some(description) = &patch.description {
            category.description = optional_text(&mut errors, "description", description.as_deref(), 5_000);
        }
        if let Some(parent) = patch.parent_id {
            if let Some(parent) = parent {
                if !categories.iter().any(|c| c.id == parent) {
                    errors.add("parent_id", "unknown category");
                } else if descendants(&categories, id).contains(&parent) {
                    errors.add("parent_id", "cannot move a category under itself or its descendants");
                }
            }
            category.parent_id = parent;
        }
        errors.into_result()?;
        let moved = patch.parent_id.is_some() || patch.position.is_some();
        let position = if moved { patch.position.or(Some(i32::MAX)) } else { Some(category.position) };
        let order = sibling_order(&categories, category.parent_id, id, position);
        category.position = order.iter().position(|c| *c == id).unwrap_or(0) as i32;
        category.updated_at = self.clock.now();
        let event = self.category_event(id, patch.parent_id.is_some());
        self.store.update_category(&category, &order, &event).await?;
        self.invalidate_categories();
        Ok(category)
    }

    pub async fn delete_category(&self, id: Uuid) -> Result<()> {
        let event = self.category_event(id, false);
        let outcome = self.store.delete_category(id, &event).await;
        self.invalidate_categories();
        match outcome? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("category")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn cat(id: u128, parent: Option<u128>, position: i32) -> Category {
        Category {
            id: Uuid::from_u128(id),
            parent_id: parent.map(Uuid::from_u128),
            slug: format!("c{id}"),
            name: format!("C{id}"),
            description: None,
            position,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn tree_descendants_and_paths() {
        let all = vec![cat(1, None, 1), cat(2, None, 0), cat(3, Some(1), 0), cat(4, Some(3), 0), cat(5, Some(2), 0)];
        let tree = build_tree(&all);
        assert_eq!(tree.iter().map(|n| n.slug.as_str()).collect::<Vec<_>>(), ["c2", "c1"]);
        assert_eq!(tree[1].children[0].children[0].slug, "c4");
        let mut below = descendants(&all, Uuid::from_u128(1));
        below.sort();
        assert_eq!(below, [1, 3, 4].map(Uuid::from_u128));
        assert_eq!(path(&all, Uuid::from_u128(4)), [1, 3, 4].map(Uuid::from_u128));
        assert!(path(&all, Uuid::from_u128(99)).is_empty());
    }

    #[test]
    fn sibling_positions() {
        let all = vec![cat(1, None, 0), cat(2, None, 1), cat(3, None, 2)];
        let new = Uuid::from_u128(9);
        assert_eq!(sibling_order(&all, None, new, Some(1)), [1, 9, 2, 3].map(Uuid::from_u128));
        assert_eq!(sibling_order(&all, None, new, None), [1, 2, 3, 9].map(Uuid::from_u128));
        assert_eq!(sibling_order(&all, None, Uuid::from_u128(3), Some(0)), [3, 1, 2].map(Uuid::from_u128));
        assert_eq!(sibling_order(&all, None, new, Some(-5))[0], new);
    }
}

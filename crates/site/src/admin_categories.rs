//! The admin's category tree: add, rename, move under another parent,
//! reorder among siblings and delete (an empty category only).

use crate::Site;
use crate::admin::staff;
use crate::page::{Chrome, Notice, PageError, PageResult, choice, parse_id, render_status};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use catalog::{Category, CategoryInput, CategoryNode, CategoryPatch};
use identity::{Action, Resource};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/admin/categories", get(list).post(create))
        .route("/admin/categories/{id}", get(edit_page).post(save))
        .route("/admin/categories/{id}/move", post(move_category))
        .route("/admin/categories/{id}/delete", post(delete))
}

/// One category in tree order, indented by its depth.
pub struct CategoryRow {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub indent: String,
    pub first: bool,
    pub last: bool,
}

/// An entry of a category `<select>`.
pub struct CategoryChoice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

/// The tree flattened depth first, each row knowing whether it is the first
/// or last of its siblings (which buttons make sense).
pub fn tree_rows(categories: &[Category]) -> Vec<CategoryRow> {
    fn walk(nodes: &[CategoryNode], depth: usize, out: &mut Vec<CategoryRow>) {
        for (i, node) in nodes.iter().enumerate() {
            out.push(CategoryRow {
                id: node.id,
                name: node.name.clone(),
                slug: node.slug.clone(),
                indent: "— ".repeat(depth),
                first: i == 0,
                last: i + 1 == nodes.len(),
            });
            walk(&node.children, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(&catalog::build_tree(categories), 0, &mut out);
    out
}

/// Choices for a category `<select>` in tree order, after an entry for
/// "none" labelled `none`; `exclude` (a category and its subtree) is left
/// out, as a category cannot move under itself.
pub fn category_choices(categories: &[Category], selected: &str, none: &str, exclude: &[Uuid]) -> Vec<CategoryChoice> {
    let mut out = vec![CategoryChoice { id: String::new(), label: none.to_owned(), selected: selected.is_empty() }];
    out.extend(tree_rows(categories).into_iter().filter(|row| !exclude.contains(&row.id)).map(|row| {
        let id = row.id.to_string();
        CategoryChoice { selected: selected == id, label: format!("{}{}", row.indent, row.name), id }
    }));
    out
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CategoryForm {
    name: String,
    slug: String,
    parent_id: String,
    description: String,
}

impl CategoryForm {
    fn of(c: &Category) -> CategoryForm {
        CategoryForm {
            name: c.name.clone(),
            slug: c.slug.clone(),
            parent_id: c.parent_id.map(|p| p.to_string()).unwrap_or_default(),
            description: c.description.clone().unwrap_or_default(),
        }
    }

    fn parent(&self) -> Result<Option<Uuid>, PageError> {
        choice(&self.parent_id, |id| Uuid::parse_str(id).ok(), "Choose the parent from the list.")
    }

    fn description(&self) -> Option<String> {
        Some(self.description.trim().to_owned()).filter(|d| !d.is_empty())
    }
}

#[derive(Template)]
#[template(path = "admin/categories.html")]
struct CategoriesPage {
    c: Chrome,
    rows: Vec<CategoryRow>,
    parents: Vec<CategoryChoice>,
    form: CategoryForm,
    error: Option<String>,
}

async fn list_view(
    site: &Site,
    visitor: &Visitor,
    form: CategoryForm,
    error: Option<String>,
    msg: Option<&str>,
    status: StatusCode,
) -> PageResult {
    staff(site, visitor, "/admin/categories", Resource::Products, Action::Read)?;
    let categories = site.app.catalog.categories().await?;
    Ok(render_status(
        status,
        &CategoriesPage {
            c: Chrome::admin(site, visitor, "Categories").with_notice(msg),
            rows: tree_rows(&categories),
            parents: category_choices(&categories, &form.parent_id, "— top level —", &[]),
            form,
            error,
        },
    ))
}

async fn list(State(site): State<Site>, visitor: Visitor, Query(n): Query<Notice>) -> PageResult {
    list_view(&site, &visitor, CategoryForm::default(), None, n.msg.as_deref(), StatusCode::OK).await
}

async fn create(State(site): State<Site>, visitor: Visitor, Form(form): Form<CategoryForm>) -> PageResult {
    staff(&site, &visitor, "/admin/categories", Resource::Products, Action::Write)?;
    let outcome = async {
        let input = CategoryInput {
            name: form.name.trim().to_owned(),
            slug: Some(form.slug.trim().to_owned()).filter(|s| !s.is_empty()),
            parent_id: form.parent()?,
            description: form.description(),
            position: None,
        };
        site.app.catalog.create_category(input).await.map_err(PageError::from)
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/admin/categories?msg=created").into_response()),
        Err(e) => list_view(&site, &visitor, form, Some(e.message), None, e.status).await,
    }
}

#[derive(Template)]
#[template(path = "admin/category_edit.html")]
struct EditPage {
    c: Chrome,
    id: Uuid,
    parents: Vec<CategoryChoice>,
    form: CategoryForm,
    error: Option<String>,
}

async fn edit_view(
    site: &Site,
    visitor: &Visitor,
    id: Uuid,
    form: Option<CategoryForm>,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    staff(site, visitor, "/admin/categories", Resource::Products, Action::Read)?;
    let categories = site.app.catalog.categories().await?;
    let category = categories.iter().find(|c| c.id == id).ok_or_else(PageError::not_found)?;
    let form = form.unwrap_or_else(|| CategoryForm::of(category));
    let below = catalog::descendants(&categories, id);
    Ok(render_status(
        status,
        &EditPage {
            c: Chrome::admin(site, visitor, format!("Category: {}", category.name)),
            id,
            parents: category_choices(&categories, &form.parent_id, "— top level —", &below),
            form,
            error,
        },
    ))
}

async fn edit_page(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    edit_view(&site, &visitor, parse_id(&id)?, None, None, StatusCode::OK).await
}

async fn save(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CategoryForm>,
) -> PageResult {
    let id = parse_id(&id)?;
    staff(&site, &visitor, &format!("/admin/categories/{id}"), Resource::Products, Action::Write)?;
    let outcome = async {
        let current = site.app.catalog.find_category(&id.to_string()).await?.ok_or_else(PageError::not_found)?;
        let parent = form.parent()?;
        let patch = CategoryPatch {
            name: Some(form.name.trim().to_owned()),
            slug: Some(form.slug.trim().to_owned()).filter(|s| *s != current.slug),
            description: Some(form.description()),
            // Only a real move sends the parent: moving puts it last among its new siblings.
            parent_id: (parent != current.parent_id).then_some(parent),
            position: None,
        };
        site.app.catalog.update_category(id, patch).await.map_err(PageError::from)
    }
    .await;
    match outcome {
        Ok(_) => Ok(Redirect::to("/admin/categories?msg=saved").into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(e),
        Err(e) => edit_view(&site, &visitor, id, Some(form), Some(e.message), e.status).await,
    }
}

#[derive(Deserialize)]
struct MoveForm {
    to: String,
}

/// One step up or down among the category's siblings.
async fn move_category(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> PageResult {
    staff(&site, &visitor, "/admin/categories", Resource::Products, Action::Write)?;
    let id = parse_id(&id)?;
    let categories = site.app.catalog.categories().await?;
    let category = categories.iter().find(|c| c.id == id).ok_or_else(PageError::not_found)?;
    let mut siblings: Vec<&Category> = categories.iter().filter(|c| c.parent_id == category.parent_id).collect();
    siblings.sort_by(|a, b| a.position.cmp(&b.position).then_with(|| a.name.cmp(&b.name)));
    let at = siblings.iter().position(|c| c.id == id).unwrap_or(0);
    let to = match form.to.as_str() {
        "up" => at.saturating_sub(1),
        "down" => (at + 1).min(siblings.len().saturating_sub(1)),
        _ => return Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Move a category up or down.")),
    };
    if to != at {
        let position = i32::try_from(to).unwrap_or(i32::MAX);
        let patch = CategoryPatch { position: Some(position), ..CategoryPatch::default() };
        site.app.catalog.update_category(id, patch).await?;
    }
    Ok(Redirect::to("/admin/categories?msg=saved").into_response())
}

async fn delete(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    staff(&site, &visitor, "/admin/categories", Resource::Products, Action::Delete)?;
    let id = parse_id(&id)?;
    match site.app.catalog.delete_category(id).await {
        Ok(()) => Ok(Redirect::to("/admin/categories?msg=deleted").into_response()),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e);
            }
            edit_view(&site, &visitor, id, None, Some(e.message), e.status).await
        }
    }
}

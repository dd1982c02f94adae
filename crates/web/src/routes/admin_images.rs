//! `/api/v1/admin/products/{id}/images`: upload (multipart), reorder,
//! alt text, delete. The image type is sniffed from the bytes; thumbnails
//! are made at upload; files get content-hashed names.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, permit, user_from_headers};
use crate::state::AppState;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use catalog::{Image, ImagePatch, NewImage};
use identity::{Action, Resource};
use media::MediaError;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router(max_image_bytes: usize) -> OpenApiRouter<AppState> {
    // Room for the multipart framing and the alt text around the file.
    let upload_limit = DefaultBodyLimit::max(max_image_bytes + 64 * 1024);
    OpenApiRouter::new().routes(routes!(upload)).layer(upload_limit).routes(routes!(update, delete))
}

#[allow(dead_code)] // Describes the multipart form for the OpenAPI document.
#[derive(ToSchema)]
pub struct ImageUpload {
    /// JPEG, PNG or WebP; the type is read from the bytes, not the file name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Alternative text; the product title when absent.
    alt: Option<String>,
}

fn media_error(e: MediaError) -> ApiError {
    let message = e.to_string();
    match e {
        MediaError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message),
        MediaError::UnsupportedType => {
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
        }
        MediaError::Undecodable(_) | MediaError::TooManyPixels { .. } | MediaError::Empty => {
            ApiError::field("file", message)
        }
        MediaError::Unexpected(source) => ApiError::internal(source),
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the upload is too large")
    } else {
        ApiError::bad_request("malformed_multipart", format!("could not read the multipart form: {}", e.body_text()))
    }
}

/// Upload an image (multipart field `file`, optional `alt`). It goes to the
/// end of the gallery; the first image is the primary one.
#[utoipa::path(post, path = "/admin/products/{id}/images", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Image),
        (status = 404, body = ErrorBody),
        (status = 413, description = "Over the size limit", body = ErrorBody),
        (status = 415, description = "Not JPEG, PNG or WebP", body = ErrorBody),
        (status = 422, description = "Broken image, too many pixels or no file", body = ErrorBody),
        (status = 503, description = "Image storage failed; retry", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Image>)> {
    // Who is asking is settled before the body is parsed: a stranger gets
    // 401 whatever they sent. A refused upload is still read to its end
    // (bounded by the route's body limit): an HTTP/1 client still sending
    // it would otherwise see a reset connection, not our answer.
    let allowed = match user_from_headers(&headers, &state).await {
        Ok(actor) => state.authorize(&actor, Resource::Products, Action::Write),
        Err(e) => Err(e),
    };
    let form = form.map_err(multipart_rejection);
    if let Err(refused) = allowed {
        if let Ok(form) = form {
            let _ = read_form(form, state.image_policy.max_bytes).await;
        }
        return Err(refused);
    }
    let read = read_form(form?, state.image_policy.max_bytes).await;
    state.catalog.product(id).await?;
    let (file, alt) = read?;
    let file = file.ok_or_else(|| ApiError::field("file", "attach the image as the multipart field `file`"))?;
    Ok((StatusCode::CREATED, Json(save_upload(&state, id, file, alt).await?)))
}

/// The multipart extractor's refusal (no or a bad `Content-Type`) in the
/// error contract's shape.
pub fn multipart_rejection(e: MultipartRejection) -> ApiError {
    ApiError::bad_request("malformed_multipart", format!("could not read the multipart form: {}", e.body_text()))
}

/// Checks an uploaded file, makes its thumbnails, stores them and adds the
/// image to product `id`.
pub async fn save_upload(state: &AppState, id: Uuid, file: Vec<u8>, alt: Option<String>) -> ApiResult<Image> {
    let policy = state.image_policy.clone();
    let processed = tokio::task::spawn_blocking(move || media::process_upload(&file, &policy))
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .map_err(media_error)?;
    let mut renditions = BTreeMap::new();
    for r in &processed.renditions {
        state
            .media
            .put(&r.key, r.bytes.clone(), r.content_type)
            .await
            .map_err(|e| ApiError::unavailable("image storage", e))?;
        if r.name != "original" {
            renditions.insert(r.name.clone(), r.key.clone());
        }
    }
    let original = processed
        .rendition("original")
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("image processing gave no original")))?;
    let new = NewImage { key: original.key.clone(), width: processed.width, height: processed.height, renditions, alt };
    Ok(state.catalog.add_image(id, new).await?)
}

/// The `file` and `alt` fields of the form.
pub async fn read_form(mut form: Multipart, max_bytes: usize) -> ApiResult<(Option<Vec<u8>>, Option<String>)> {
    let (mut file, mut alt) = (None, None);
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > max_bytes {
                        // Read the rest (bounded by the body limit) so the client
                        // sees the answer instead of a reset connection.
                        while let Ok(Some(_)) = field.chunk().await {}
                        return Err(media_error(MediaError::TooLarge { max_bytes }));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some(bytes);
            }
            Some("alt") => alt = Some(field.text().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    Ok((file, alt))
}

/// Change alt text or move the image (`position` 0 makes it the primary).
#[utoipa::path(patch, path = "/admin/products/{id}/images/{image_id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("image_id" = Uuid, Path)), request_body = ImagePatch,
    responses((status = 200, body = Image), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path((id, image_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ImagePatch>,
) -> ApiResult<Json<Image>> {
    Ok(Json(state.catalog.update_image(id, image_id, body).await?))
}

#[utoipa::path(delete, path = "/admin/products/{id}/images/{image_id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("image_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path((id, image_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_image(id, image_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

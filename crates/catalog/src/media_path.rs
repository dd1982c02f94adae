//! Where stored images are served from, for the URLs products carry.

/// Where objects are served; a key `k` is at `{MEDIA_PATH}/k`.
pub const MEDIA_PATH: &str = "/media";

/// The URL of the stored object `key`.
pub fn media_url(key: &str) -> String {
    format!("{MEDIA_PATH}/{key}")
}

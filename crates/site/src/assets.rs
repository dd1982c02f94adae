//! The stylesheet and scripts, compiled into the binary and served from
//! `/assets`. htmx is vendored from its npm package (`htmx.org`, see
//! `assets/htmx.VERSION`); nothing is fetched at build or run time.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const FILES: [(&str, &str, &[u8]); 3] = [
    ("site.css", "text/css; charset=utf-8", include_bytes!("../assets/site.css")),
    ("site.js", "text/javascript; charset=utf-8", include_bytes!("../assets/site.js")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/htmx.min.js")),
];

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            ],
            *bytes,
        )
            .into_response(),
        None => crate::page::PageError::new(StatusCode::NOT_FOUND, "No such file.").into_response(),
    }
}

#[cfg(test)]
mod tests {
    /// The colour `name` (a `:root` variable or a `#rrggbb` literal) of the stylesheet.
    fn colour(css: &str, name: &str) -> [f64; 3] {
        let hex = if let Some(hex) = name.strip_prefix('#') {
            hex.to_owned()
        } else {
            let at = css.find(&format!("--{name}:#")).unwrap_or_else(|| panic!("--{name} is not in site.css"));
            css[at + name.len() + 4..].chars().take_while(char::is_ascii_hexdigit).collect()
        };
        let hex = if hex.len() == 3 { hex.chars().flat_map(|c| [c, c]).collect() } else { hex };
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map(f64::from).unwrap_or(0.0) / 255.0;
        [channel(0), channel(2), channel(4)]
    }

    /// WCAG 2 contrast ratio of two colours.
    fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
        let luminance = |c: [f64; 3]| {
            let lin = |v: f64| if v <= 0.039_28 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) };
            0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
        };
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn text_colours_meet_wcag_aa_contrast() {
        let css = std::str::from_utf8(super::FILES[0].2).unwrap_or_default();
        // (text, background) pairs as the stylesheet uses them.
        let pairs = [
            ("ink", "bg"),
            ("ink", "soft"),
            ("muted", "bg"),
            ("muted", "soft"),
            ("accent", "bg"),
            ("accent", "soft"),
            ("accent-ink", "accent"),
            ("ok", "#e7f4ec"),
            ("bad", "#fdecec"),
            ("bad", "bg"),
            ("warn", "bg"),
        ];
        for (text, background) in pairs {
            let ratio = contrast(colour(css, text), colour(css, background));
            assert!(ratio >= 4.5, "{text} on {background}: {ratio:.2}:1, below WCAG AA's 4.5:1");
        }
        assert!((contrast(colour(css, "#000"), colour(css, "#fff")) - 21.0).abs() < 0.01);
    }
}

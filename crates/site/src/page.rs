//! What every page shares: the header's context, rendering, friendly error
//! pages, money and dates as people read them, and pagination links.

use askama::Template;
use axum::http::{StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use kernel::Money;
use web::ApiError;

/// The header and footer's context.
#[derive(Debug, Clone, Default)]
pub struct Chrome {
    pub shop: String,
    pub title: String,
    pub csrf: String,
    /// The signed-in user's name, if any.
    pub user_name: Option<String>,
    pub is_staff: bool,
    /// A message for the top of the page (after a redirect).
    pub notice: Option<String>,
    /// The search box's current words.
    pub q: String,
    /// Admin pages use the admin navigation.
    pub admin: bool,
}

impl Chrome {
    /// Shows the message named by a redirect's `msg` parameter. Only known
    /// names are shown, so a link cannot put words in the shop's mouth.
    pub fn with_notice(mut self, msg: Option<&str>) -> Chrome {
        self.notice = msg.and_then(notice_text).map(str::to_owned);
        self
    }
}

fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "added" => "Added to your cart.",
        "cart-updated" => "Your cart was updated.",
        "code-applied" => "Discount code applied.",
        "code-removed" => "Discount code removed.",
        "signed-in" => "Welcome back!",
        "signed-up" => "Your account is ready.",
        "signed-out" => "You are signed out.",
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "address-added" => "Address added.",
        "wishlist-added" => "Saved to your wishlist.",
        "wishlist-removed" => "Removed from your wishlist.",
        "review-sent" => "Thank you! Your review is published.",
        "cancelled" => "The order was cancelled.",
        "created" => "Created.",
        "uploaded" => "Image uploaded.",
        "fulfilled" => "Marked as shipped.",
        "refunded" => "Refund recorded.",
        "adjusted" => "Stock adjusted.",
        "hidden" => "The review is hidden.",
        "published" => "The review is published.",
        _ => return None,
    })
}

/// Renders a template as a page.
pub fn render<T: Template>(template: &T) -> Response {
    render_status(StatusCode::OK, template)
}

pub fn render_status<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response()
        }
    }
}

pub type PageResult = Result<Response, PageError>;

/// A page that could not be shown: a friendly page with the status, or a
/// redirect (to sign in).
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
    pub redirect: Option<String>,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError { status, message: message.into(), redirect: None }
    }

    pub fn not_found() -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "We could not find that page.")
    }

    pub fn forbidden_csrf() -> PageError {
        PageError::new(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this shop. Go back, reload the page and try again.",
        )
    }

    /// To the sign-in page, coming back to `back` afterwards.
    pub fn login(back: &str) -> PageError {
        let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
        PageError {
            status: StatusCode::SEE_OTHER,
            message: String::new(),
            redirect: Some(format!("/login?next={next}")),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        let message = if e.status.is_server_error() {
            "Something went wrong on our side. Please try again in a moment.".to_owned()
        } else if e.status == StatusCode::NOT_FOUND {
            "We could not find that page.".to_owned()
        } else if let Some(fields) = e.details.as_ref().and_then(|d| d.get("fields")).and_then(|f| f.as_object()) {
            // "Postal code must not be empty. Country must be …"
            fields
                .iter()
                .map(|(field, message)| {
                    let field = field.rsplit('.').next().unwrap_or(field).replace('_', " ");
                    let message = message.as_str().unwrap_or("is not valid");
                    sentence(&format!("{field} {message}"))
                })
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            sentence(&e.message)
        };
        PageError::new(e.status, message)
    }
}

macro_rules! from_service_error {
    ($($t:ty),*) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                PageError::from(ApiError::from(e))
            }
        }
    )*};
}
from_service_error!(
    orders::OrdersError,
    orders::CheckoutError,
    orders::CartError,
    orders::PaymentError,
    orders::OrderActionError,
    orders::SettingsError,
    catalog::CatalogError,
    identity::IdentityError,
    inventory::InventoryError
);

/// An API message as a sentence: capitalised, ending with a full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return "Something is not right.".to_owned(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    c: Chrome,
    status: u16,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let Some(to) = &self.redirect {
            return Redirect::to(to).into_response();
        }
        let title = if self.status == StatusCode::NOT_FOUND { "Not found" } else { "Sorry" };
        let page = ErrorPage {
            c: Chrome { shop: "Emporium".into(), title: title.into(), ..Chrome::default() },
            status: self.status.as_u16(),
            message: &self.message,
        };
        match page.render() {
            Ok(html) => (self.status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// Unknown paths: a friendly page, or the API's JSON 404 under `/api`.
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        return web::middleware::not_found().await.into_response();
    }
    PageError::not_found().into_response()
}

/// `$12.34`, `€12.34`, `£12.34`, `¥1234`, or `12.34 CHF`.
pub fn money(m: &Money) -> String {
    amount(m.amount, m.currency.as_str())
}

pub fn amount(minor: i64, currency: &str) -> String {
    kernel::money::display_amount(minor, currency)
}

/// Parses a price typed by a person ("12", "12.5", "12.50") into minor units.
pub fn parse_amount(text: &str, currency: &str) -> Option<i64> {
    let exponent = kernel::money::currency_exponent(currency);
    let text = text.trim().trim_start_matches(['$', '€', '£', '¥']).replace(',', "");
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
        || fraction.len() > exponent as usize
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let padded = format!("{fraction:0<width$}", width = exponent as usize);
    let fraction: i64 = if padded.is_empty() { 0 } else { padded.parse().ok()? };
    whole.checked_mul(10i64.checked_pow(exponent)?)?.checked_add(fraction)
}

/// "21 Nov 2026".
pub fn date(at: &time::OffsetDateTime) -> String {
    format!("{} {} {}", at.day(), &at.month().to_string()[..3], at.year())
}

/// "21 Nov 2026 14:05 UTC".
pub fn date_time(at: &time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{} {:02}:{:02} UTC", date(&at), at.hour(), at.minute())
}

/// "Pending payment" for `pending_payment`.
pub fn humanize(code: &str) -> String {
    sentence(&code.replace('_', " ")).trim_end_matches('.').to_owned()
}

/// A form field that may be left empty.
pub fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// A list filter's choice from a query string or form: none when empty,
/// else what `parse` makes of it, or 422 with `message` (a choice that is
/// not on the list).
pub fn choice<T>(text: &str, parse: impl FnOnce(&str) -> Option<T>, message: &str) -> Result<Option<T>, PageError> {
    match text.trim() {
        "" => Ok(None),
        t => parse(t).map(Some).ok_or_else(|| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    }
}

/// An id from a URL; a malformed one is a page that does not exist.
pub fn parse_id(text: &str) -> Result<uuid::Uuid, PageError> {
    uuid::Uuid::parse_str(text.trim()).map_err(|_| PageError::not_found())
}

/// A postal address as typed into a form (checkout, the address book).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct AddressForm {
    pub full_name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

impl AddressForm {
    /// For the address book (which checks and normalises it).
    pub fn to_input(&self) -> identity::AddressInput {
        identity::AddressInput {
            full_name: self.full_name.clone(),
            line1: self.line1.clone(),
            line2: optional(&self.line2),
            city: self.city.clone(),
            region: optional(&self.region),
            postal_code: self.postal_code.clone(),
            country: self.country.trim().to_uppercase(),
            phone: optional(&self.phone),
            is_default_shipping: None,
            is_default_billing: None,
        }
    }

    /// For an order (checkout checks and normalises it).
    pub fn to_order_address(&self) -> orders::Address {
        let i = self.to_input();
        orders::Address {
            full_name: i.full_name,
            line1: i.line1,
            line2: i.line2,
            city: i.city,
            region: i.region,
            postal_code: i.postal_code,
            country: i.country,
            phone: i.phone,
        }
    }
}

/// The `msg` parameter a redirect leaves for [`Chrome::with_notice`].
#[derive(Debug, serde::Deserialize)]
pub struct Notice {
    pub msg: Option<String>,
}

/// Links to the neighbouring pages of a list.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    pub page: u32,
    pub pages: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the list's URL with its filters and no `page`.
    pub fn new(base: &str, page: u32, per_page: u32, total: u64) -> Pager {
        Pager::with_param(base, "page", page, per_page, total)
    }

    /// For a page with several lists: each pages with its own `param`.
    pub fn with_param(base: &str, param: &str, page: u32, per_page: u32, total: u64) -> Pager {
        let pages = total.div_ceil(u64::from(per_page.max(1))).clamp(1, u64::from(u32::MAX)) as u32;
        let sep = if base.contains('?') { '&' } else { '?' };
        let link = |p: u32| format!("{base}{sep}{param}={p}");
        Pager { page, pages, prev: (page > 1).then(|| link(page - 1)), next: (page < pages).then(|| link(page + 1)) }
    }
}

/// One page of a list held in memory (a short one: shipping methods, tax
/// rates), with the list's length.
pub fn page_of<T>(items: Vec<T>, spec: kernel::PageSpec) -> (Vec<T>, u64) {
    let total = items.len() as u64;
    let skip = usize::try_from(spec.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(spec.limit()).unwrap_or(0);
    (items.into_iter().skip(skip).take(take).collect(), total)
}

/// A URL query string from pairs, values encoded.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// One option of a radio group or a select (a shipping method, a sort order).
pub struct Choice {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_filter_choice() {
        let parse = |s: &str| s.parse::<u8>().ok();
        assert_eq!(choice(" ", parse, "no").unwrap(), None);
        assert_eq!(choice(" 7 ", parse, "no").unwrap(), Some(7));
        let refused = choice("x", parse, "Pick a number.").unwrap_err();
        assert_eq!((refused.status, refused.message.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "Pick a number."));
    }

    #[test]
    fn pages_lists_in_memory_and_by_name() {
        let spec = |page| kernel::PageSpec { page, per_page: 2 };
        assert_eq!(page_of(vec![1, 2, 3, 4, 5], spec(3)), (vec![5], 5));
        assert_eq!(page_of(vec![1, 2, 3], spec(4)), (vec![], 3));
        let pager = Pager::with_param("/admin/settings?q=us", "tpage", 2, 2, 5);
        assert_eq!(pager.prev.as_deref(), Some("/admin/settings?q=us&tpage=1"));
        assert_eq!(pager.next.as_deref(), Some("/admin/settings?q=us&tpage=3"));
        assert_eq!(Pager::new("/x", 1, 2, 2).next, None);
    }

    #[test]
    fn formats_money() {
        assert_eq!(amount(123_456, "USD"), "$1,234.56");
        assert_eq!(amount(5, "EUR"), "€0.05");
        assert_eq!(amount(-250, "GBP"), "-£2.50");
        assert_eq!(amount(1500, "JPY"), "¥1,500");
        assert_eq!(amount(1_000, "CHF"), "10.00 CHF");
        assert_eq!(amount(1_000_000_000, "USD"), "$10,000,000.00");
    }

    #[test]
    fn parses_amounts() {
        assert_eq!(parse_amount("12", "USD"), Some(1200));
        assert_eq!(parse_amount("12.5", "USD"), Some(1250));
        assert_eq!(parse_amount("$1,234.56", "USD"), Some(123_456));
        assert_eq!(parse_amount(".99", "USD"), Some(99));
        assert_eq!(parse_amount("1500", "JPY"), Some(1500));
        assert_eq!(parse_amount("12.345", "USD"), None);
        assert_eq!(parse_amount("1.5", "JPY"), None);
        assert_eq!(parse_amount("-1", "USD"), None);
        assert_eq!(parse_amount("", "USD"), None);
        assert_eq!(parse_amount("abc", "USD"), None);
        assert_eq!(parse_amount("99999999999999999999", "USD"), None);
    }

    #[test]
    fn sentences_and_labels() {
        assert_eq!(sentence("email is taken"), "Email is taken.");
        assert_eq!(humanize("pending_payment"), "Pending payment");
    }

    #[test]
    fn pages() {
        let p = Pager::new("/admin/orders?status=paid", 2, 20, 45);
        assert_eq!(p.pages, 3);
        assert_eq!(p.prev.as_deref(), Some("/admin/orders?status=paid&page=1"));
        assert_eq!(p.next.as_deref(), Some("/admin/orders?status=paid&page=3"));
        let single = Pager::new("/x", 1, 20, 0);
        assert_eq!((single.pages, single.prev, single.next), (1, None, None));
    }
}

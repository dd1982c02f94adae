//! URL slugs: lower-case ASCII letters, digits and single hyphens.

/// Turns a title into a slug: accents folded for common Latin letters,
/// anything else becomes a hyphen. May return an empty string.
pub fn slugify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_hyphen = false;
    for c in text.chars().flat_map(fold) {
        if c.is_ascii_alphanumeric() {
            if pending_hyphen && !out.is_empty() {
                out.push('-');
            }
            pending_hyphen = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_hyphen = true;
        }
        if out.len() >= MAX_LEN {
            break;
        }
    }
    out.truncate(MAX_LEN);
    out.trim_end_matches('-').to_owned()
}

pub const MAX_LEN: usize = 100;

/// Checks a client-chosen slug.
pub fn validate(slug: &str) -> Result<(), &'static str> {
    let ok_chars = slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug.is_empty() || slug.len() > MAX_LEN {
        Err("must be 1 to 100 characters")
    } else if !ok_chars || slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
        Err("may hold only lower-case letters, digits and single hyphens inside")
    } else if uuid::Uuid::parse_str(slug).is_ok() {
        // `/products/{id_or_slug}` would read it as an id.
        Err("must not look like an id")
    } else {
        Ok(())
    }
}

fn fold(c: char) -> impl Iterator<Item = char> {
    let s: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "a",
        'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "o",
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => "u",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ß' => "ss",
        '&' => "-and-",
        _ => "",
    };
    let single = if s.is_empty() { Some(c) } else { None };
    s.chars().chain(single)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Zephyr Hoodie"), "zephyr-hoodie");
        assert_eq!(slugify("  Crème brûlée -- Mugs & Cups! "), "creme-brulee-mugs-and-cups");
        assert_eq!(slugify("!!!"), "");
        assert!(slugify(&"x".repeat(300)).len() <= MAX_LEN);
        assert!(validate("zephyr-hoodie").is_ok());
        for bad in ["", "Zephyr", "a--b", "-a", "a-", "a b", "0190a0a0-0000-7000-8000-000000000000"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}

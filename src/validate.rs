//! Layer 1 of the spec's validation order (D-108): shapes and lengths, checked before any
//! business rule or database constraint. The same rules back the CHECK constraints.

use serde::Serialize;
use utoipa::ToSchema;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Collects every field error of a request, so a client learns them all at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), code: code.into(), message: message.into() });
    }

    /// A required text of 1..=max characters after trimming.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> &mut Self {
        let n = value.trim().chars().count();
        if n == 0 {
            self.fail(field, "required", "must not be empty");
        } else if value.chars().count() > max {
            self.fail(field, "too_long", format!("must be at most {max} characters"));
        }
        self
    }

    pub fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) -> &mut Self {
        if let Some(v) = value {
            self.text(field, v, max);
        }
        self
    }

    pub fn email(&mut self, field: &str, value: &str) -> &mut Self {
        if value.chars().count() > 255 {
            self.fail(field, "too_long", "must be at most 255 characters");
        } else if !is_email(value) {
            self.fail(field, "invalid_email", "must be an email address like user@company.com");
        }
        self
    }

    pub fn slug(&mut self, field: &str, value: &str) -> &mut Self {
        if value.len() > 50 {
            self.fail(field, "too_long", "must be at most 50 characters");
        } else if !is_slug(value) {
            self.fail(field, "invalid_slug", "lowercase letters, digits and single hyphens, e.g. company-abc");
        }
        self
    }

    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}

/// `^[a-z0-9]+(-[a-z0-9]+)*$` (D-085, D-181).
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// `^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$` (D-086, related design 003's regex).
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let Some((host, tld)) = domain.rsplit_once('.') else { return false };
    let local_ok = !local.is_empty() && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let tld_ok = tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_check_table() {
        for ok in ["company-abc", "a", "a1-b2-c3", "007"] {
            assert!(is_slug(ok), "{ok}");
        }
        for bad in ["", "Company_B", "-abc", "abc-", "a--b", "a b", "ünï"] {
            assert!(!is_slug(bad), "{bad}");
        }
    }

    #[test]
    fn emails_follow_the_regex() {
        for ok in ["user@company.com", "a.b+c@sub.my-co.co.kr", "x%y@h.io"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "user",
            "user@",
            "@company.com",
            "user@company",
            "user@company.c",
            "a b@c.com",
            "a@b@c.com",
            "user@company.c0m",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn collects_every_error() {
        let mut v = Validator::new();
        v.text("name", " ", 10).email("email", "nope").slug("slug", "Bad_Slug");
        let errors = v.finish().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "email", "slug"]);
    }
}

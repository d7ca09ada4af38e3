//! Names people choose for accounts, workers and teams, made so that one cannot pass for
//! another: Unicode NFKC (a fullwidth `ｄｂ０` is `db0`), invisible characters (zero-width
//! joiners, byte-order marks, direction marks, Hangul fillers, variation selectors) removed,
//! control characters (line breaks, tabs) refused,
//! runs of spaces made one, `#` refused (it joins a user's name to its id in an alias, so `x#1`
//! would read as user 1), and a least number of visible characters.
//!
//! [`likeness`] is what names that look alike share (Unicode's confusable skeleton, without
//! case): worker and team names, which are unique, are refused when another has the same.

use crate::error::{Rejection, Result};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::confusable_detection::skeleton;

/// `value` as a chosen name: canonical, with `min` to `max` characters of which `min` visible.
pub fn chosen(
    field: &'static str,
    rc_too_long: &'static str,
    value: Option<&str>,
    min: usize,
    max: usize,
) -> Result<String> {
    let value = value.unwrap_or_default();
    refuse_control(field, value)?;
    let mut name = String::with_capacity(value.len());
    for c in value.nfkc().filter(|&c| !is_invisible(c)) {
        let c = if c.is_whitespace() { ' ' } else { c };
        if !(c == ' ' && (name.is_empty() || name.ends_with(' '))) {
            name.push(c);
        }
    }
    let name = name.trim_end().to_string();
    if name.contains('#') {
        return Err(Rejection::invalid_field(
            field,
            "BadRequest",
            format!("{field} cannot contain '#', which joins a name to its id"),
        )
        .into());
    }
    let visible = name.chars().filter(|c| *c != ' ').count();
    let bounds = Bounds {
        min,
        max,
        rc_too_long,
    };
    bounds.check(field, visible, name.chars().count(), "visible ")?;
    Ok(name)
}

/// How long a name may be: `min` to `max` characters, `rc_too_long` when it is longer.
pub(crate) struct Bounds {
    pub min: usize,
    pub max: usize,
    pub rc_too_long: &'static str,
}

impl Bounds {
    /// Checks a name with `counted` characters that count towards the minimum (`kind`: which
    /// ones, as the message says) of `total`.
    pub(crate) fn check(
        &self,
        field: &'static str,
        counted: usize,
        total: usize,
        kind: &str,
    ) -> Result<()> {
        let (min, max) = (self.min, self.max);
        if counted < min {
            return Err(Rejection::invalid_field(
                field,
                "BadRequest",
                format!("{field} must have at least {min} {kind}characters"),
            )
            .into());
        }
        if total > max {
            return Err(Rejection::invalid_field(
                field,
                self.rc_too_long,
                format!("{field} must have at most {max} characters"),
            )
            .into());
        }
        Ok(())
    }
}

/// Refuses control characters (line breaks, tabs, ...) in a name.
pub(crate) fn refuse_control(field: &'static str, value: &str) -> Result<()> {
    if value.chars().any(char::is_control) {
        return Err(Rejection::invalid_field(
            field,
            "BadRequest",
            format!("{field} contains control characters"),
        )
        .into());
    }
    Ok(())
}

/// What names that look alike have in common: `Admin`, `admin`, `AdMіn` (with a Cyrillic і)
/// and `adm1n`... the skeleton of Unicode's confusables (UTS #39) of the name in capitals,
/// where `1`, `l` and `I` meet (and `0` and `O`), in lower case.
pub fn likeness(name: &str) -> String {
    skeleton(&name.to_uppercase())
        .collect::<String>()
        .to_lowercase()
}

/// Characters that show nothing: format characters (zero-width ones, direction
/// marks, the byte-order mark), unassigned and private ones, and the default-ignorable letters
/// and marks that render as blanks.
fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    ) || matches!(
        c,
        '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FFA0}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(value: &str) -> Result<String> {
        chosen("username", "TooLongUserName", Some(value), 3, 20)
    }

    #[test]
    fn names_are_made_canonical() {
        assert_eq!(name("  ｄｂ０  ").unwrap(), "db0");
        assert_eq!(name("a\u{200B}li\u{FEFF}ce").unwrap(), "alice");
        assert_eq!(
            name("bob \u{3000}  the builder").unwrap(),
            "bob the builder"
        );
        assert_eq!(name("\u{202E}evil").unwrap(), "evil");
    }

    #[test]
    fn invisible_hash_and_short_names_are_refused() {
        for bad in [
            "\u{200B}\u{200B}\u{200B}\u{200B}",
            "\u{FEFF}\u{200F}\u{200E}",
            "\u{3164}\u{3164}\u{3164}",
            "a b",
            "x#1",
            "x＃1",
            "bad\nname",
            "",
        ] {
            assert!(name(bad).is_err(), "{bad:?}");
        }
        assert!(name(&"x".repeat(21)).is_err());
    }

    #[test]
    fn look_alikes_share_their_likeness() {
        assert_eq!(likeness("Admin"), likeness("admin"));
        assert_eq!(likeness("adm\u{0456}n"), likeness("admin"));
        assert_eq!(likeness("r0b0t"), likeness("robot"));
        assert_eq!(likeness("adm1n"), likeness("admin"));
        assert_eq!(likeness("\u{0440}aypal"), likeness("paypal"));
        assert_ne!(likeness("robot"), likeness("rabbit"));
    }
}

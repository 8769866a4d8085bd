//! Field-level validation, shared by the API (which refuses with 422 and these messages) and the
//! SPA (which shows the same messages before sending).

use std::collections::BTreeMap;

/// Field name → messages, in a stable order.
pub type FieldErrors = BTreeMap<&'static str, Vec<String>>;

/// Something a form sends that can be checked without the database.
pub trait Validate {
    fn validate(&self) -> Result<(), FieldErrors>;
}

/// Collects problems field by field.
#[derive(Debug, Default)]
pub struct Check {
    errors: FieldErrors,
}

impl Check {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &'static str, message: impl Into<String>) -> &mut Self {
        self.errors.entry(field).or_default().push(message.into());
        self
    }

    /// Required text, trimmed length between 1 and `max` characters.
    pub fn text(&mut self, field: &'static str, value: &str, max: usize) -> &mut Self {
        let len = value.trim().chars().count();
        if len == 0 {
            self.fail(field, "This is required.");
        } else if value.chars().count() > max {
            self.fail(field, format!("Keep this to {max} characters or fewer."));
        }
        self
    }

    /// Optional text: at most `max` characters.
    pub fn optional_text(&mut self, field: &'static str, value: &str, max: usize) -> &mut Self {
        if value.chars().count() > max {
            self.fail(field, format!("Keep this to {max} characters or fewer."));
        }
        self
    }

    pub fn optional(&mut self, field: &'static str, value: Option<&str>, max: usize) -> &mut Self {
        match value {
            Some(v) => self.text(field, v, max),
            None => self,
        }
    }

    pub fn range<T: PartialOrd + std::fmt::Display + Copy>(
        &mut self,
        field: &'static str,
        value: T,
        min: T,
        max: T,
    ) -> &mut Self {
        if value < min || value > max {
            self.fail(field, format!("Enter a value from {min} to {max}."));
        }
        self
    }

    pub fn finish(&mut self) -> Result<(), FieldErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.errors))
        }
    }
}

/// An NHS number: ten digits (spaces allowed as typed, `943 476 5919`), the last a modulus 11
/// check digit. Returns the ten digits.
pub fn parse_nhs_number(input: &str) -> Result<String, &'static str> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("An NHS number has 10 digits.");
    }
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let total: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, v)| v * (10 - i as u32))
        .sum();
    let check = match 11 - (total % 11) {
        11 => 0,
        10 => return Err("That is not a valid NHS number (check digit)."),
        c => c,
    };
    if check != d[9] {
        return Err("That is not a valid NHS number (check digit).");
    }
    Ok(digits)
}

/// Text for a record, as a browser's text box would hold it: line breaks as `\n` (a textarea
/// turns `\r\n` and `\r` into `\n`), and no control characters but newline and tab. Used on
/// what Aayu writes, so the preview a clinician accepts is exactly what lands in the note.
pub fn clean_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_keeps_what_a_text_box_keeps() {
        assert_eq!(clean_text("a\r\nb\rc\nd\te"), "a\nb\nc\nd\te");
        assert_eq!(
            clean_text("BP 128/82\u{0}\u{2}\u{1b}[0m ok"),
            "BP 128/82[0m ok"
        );
        assert_eq!(clean_text("\u{85}café 🙂"), "café 🙂");
        assert_eq!(clean_text("\r"), "\n");
    }

    #[test]
    fn nhs_numbers_are_checked_by_their_check_digit() {
        assert_eq!(parse_nhs_number("943 476 5919"), Ok("9434765919".into()));
        assert_eq!(parse_nhs_number("4010232137"), Ok("4010232137".into()));
        assert!(parse_nhs_number("9434765918").is_err());
        assert!(parse_nhs_number("943476591").is_err());
        assert!(parse_nhs_number("94347659190").is_err());
        assert!(parse_nhs_number("94347a5919").is_err());
        // A remainder giving check digit 10 is never valid.
        assert!(parse_nhs_number("1000000010").is_err());
    }

    #[test]
    fn check_collects_messages_per_field() {
        let mut c = Check::new();
        c.text("body", "  ", 10)
            .text("title", "a very long title", 5);
        let errors = c.finish().expect_err("invalid");
        assert_eq!(errors["body"], vec!["This is required."]);
        assert_eq!(errors["title"].len(), 1);
        assert!(Check::new().text("x", "ok", 5).finish().is_ok());
    }
}

//! Output shaping: tokens a reply may not contain (a logits mask) and text that ends it (stop
//! sequences). Care notes are plain text going into a text box, so markdown markers and
//! bracket placeholders are masked out before sampling rather than cleaned up afterwards.

use serde::{Deserialize, Serialize};

use crate::tokenizer::GgufTokenizer;

/// What a generation must not write, and where it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputShaping {
    /// The reply ends just before the first of these (the stop text is not part of it).
    pub stop_sequences: Vec<String>,
    /// Never emit `*`, a backtick or `__`, nor `#`, `-`, `+` or `•` at the start of a line.
    pub forbid_markdown: bool,
    /// Never emit `[` or `{` (the start of placeholders such as `[Insert Date]`).
    pub forbid_brackets: bool,
}

impl OutputShaping {
    pub fn is_active(&self) -> bool {
        self.forbid_markdown || self.forbid_brackets
    }
}

/// The token ids forbidden anywhere, and those forbidden at the start of a line.
#[derive(Debug, Clone)]
pub struct TokenMask {
    anywhere: Vec<bool>,
    line_start: Vec<bool>,
}

impl TokenMask {
    pub fn new(tokenizer: &GgufTokenizer, shaping: &OutputShaping) -> Self {
        let n = tokenizer.vocab_size();
        let mut anywhere = vec![false; n];
        let mut line_start = vec![false; n];
        for id in 0..n {
            if tokenizer.is_control(id as u32) {
                continue;
            }
            let Ok(bytes) = tokenizer.token_bytes(id as u32) else {
                continue;
            };
            let (a, l) = forbidden(bytes, shaping);
            anywhere[id] = a;
            line_start[id] = l;
        }
        Self {
            anywhere,
            line_start,
        }
    }

    /// Sets the forbidden tokens' logits to -inf. `at_line_start`: the reply so far is empty
    /// or ends with a newline (spaces after it included).
    pub fn apply(&self, logits: &mut [f32], at_line_start: bool) {
        let mask = if at_line_start {
            &self.line_start
        } else {
            &self.anywhere
        };
        for (l, &banned) in logits.iter_mut().zip(mask) {
            if banned {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}

/// (forbidden anywhere, forbidden at a line start) for one token's bytes; what is forbidden
/// anywhere is forbidden at a line start too.
fn forbidden(bytes: &[u8], shaping: &OutputShaping) -> (bool, bool) {
    let mut anywhere = false;
    let mut line_start = false;
    if shaping.forbid_markdown {
        anywhere |= bytes.contains(&b'*') || bytes.contains(&b'`') || contains(bytes, b"__");
        // A newline inside the token followed by a heading or bullet marker.
        anywhere |= bytes
            .windows(2)
            .any(|w| w[0] == b'\n' && starts_marker(&w[1..]))
            || contains(bytes, "\n•".as_bytes());
        let trimmed: &[u8] = {
            let start = bytes.iter().position(|b| *b != b' ').unwrap_or(bytes.len());
            &bytes[start..]
        };
        line_start |= starts_marker(trimmed) || trimmed.starts_with("•".as_bytes());
    }
    if shaping.forbid_brackets {
        anywhere |= bytes.contains(&b'[') || bytes.contains(&b'{');
    }
    (anywhere, anywhere || line_start)
}

fn starts_marker(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(b'#' | b'-' | b'+' | b'*'))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where the first stop sequence starts in `text`, if any does.
pub fn find_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// How many bytes at the end of `text` could be the start of a stop sequence (held back from
/// streaming until the next token decides).
pub fn held_back(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .filter_map(|s| {
            (1..s.len())
                .rev()
                .filter(|&k| s.is_char_boundary(k))
                .find(|&k| text.ends_with(&s[..k]))
        })
        .max()
        .unwrap_or(0)
}

/// Whether a reply that ends with `text` is at the start of a line.
pub fn at_line_start(text: &str) -> bool {
    let t = text.trim_end_matches(' ');
    t.is_empty() || t.ends_with('\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md() -> OutputShaping {
        OutputShaping {
            forbid_markdown: true,
            ..OutputShaping::default()
        }
    }

    #[test]
    fn markdown_markers_are_forbidden_anywhere_and_heading_markers_at_a_line_start() {
        assert_eq!(forbidden(b"**", &md()), (true, true));
        assert_eq!(forbidden(b" `code", &md()), (true, true));
        assert_eq!(forbidden(b".\n#", &md()), (true, true));
        assert_eq!(forbidden(b"##", &md()), (false, true));
        assert_eq!(forbidden(b" -", &md()), (false, true));
        assert_eq!(forbidden(b" Margaret", &md()), (false, false));
        assert_eq!(forbidden(b"-", &OutputShaping::default()), (false, false));
    }

    #[test]
    fn brackets_are_forbidden_only_when_asked() {
        let b = OutputShaping {
            forbid_brackets: true,
            ..OutputShaping::default()
        };
        assert_eq!(forbidden(b" [", &b), (true, true));
        assert_eq!(forbidden(b" [", &md()), (false, false));
    }

    #[test]
    fn the_first_stop_sequence_wins_and_line_starts_are_seen() {
        let stops = vec!["\nPoints:".to_owned(), "\nNote:".to_owned()];
        assert_eq!(find_stop("ok.\nNote: x\nPoints:", &stops), Some(3));
        assert_eq!(find_stop("ok.", &stops), None);
        assert_eq!(held_back("ok.\nPoi", &stops), 4);
        assert_eq!(held_back("ok.", &stops), 0);
        assert!(at_line_start(""));
        assert!(at_line_start("a\n  "));
        assert!(!at_line_start("a\nb"));
    }
}

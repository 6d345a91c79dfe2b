//! Searching what a partner received: event times in any common form, ids, product ids.

use chrono::{DateTime, SecondsFormat, Utc};

/// Text to search: a request's URL and body, each also percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    text: String,
}

impl Evidence {
    /// Add a URL or body.
    pub fn add(&mut self, part: &str) {
        self.text.push_str(part);
        self.text.push('\n');
        if part.contains('%') || part.contains('+') {
            self.text.push_str(&percent_decode(part));
            self.text.push('\n');
        }
    }
    /// Add bytes (lossy UTF-8).
    pub fn add_bytes(&mut self, b: &[u8]) {
        self.add(&String::from_utf8_lossy(b));
    }
    /// Whether `needle` occurs.
    pub fn contains(&self, needle: &str) -> bool {
        !needle.is_empty() && self.text.contains(needle)
    }
    /// Whether the decimal number `digits` occurs with no digit right before or after it.
    pub fn contains_number(&self, digits: &str) -> bool {
        let t = self.text.as_bytes();
        let mut from = 0;
        while let Some(p) = self.text[from..].find(digits) {
            let at = from + p;
            let end = at + digits.len();
            let before = at > 0 && t[at - 1].is_ascii_digit();
            let after = end < t.len() && t[end].is_ascii_digit();
            if !before && !after {
                return true;
            }
            from = at + 1;
        }
        false
    }
    /// Whether the event time `t` (or its raw string `raw`) occurs in any form: ISO-8601 to the
    /// second (any fraction or offset after it), the raw input string, or Unix seconds,
    /// milliseconds or microseconds.
    pub fn contains_time(&self, t: DateTime<Utc>, raw: Option<&str>) -> bool {
        let iso = t.format("%Y-%m-%dT%H:%M:%S").to_string();
        let spaced = t.format("%Y-%m-%d %H:%M:%S").to_string();
        self.contains(&iso)
            || self.contains(&spaced)
            || raw.is_some_and(|r| self.contains(r))
            || self.contains_number(&t.timestamp().to_string())
            || self.contains_number(&t.timestamp_millis().to_string())
            || self.contains_number(&t.timestamp_micros().to_string())
    }
    /// A short, one-line excerpt (for failure details).
    pub fn snippet(&self, max: usize) -> String {
        let one = self.text.replace('\n', " ").trim().to_string();
        let mut s: String = one.chars().take(max).collect();
        if one.chars().count() > max {
            s.push('…');
        }
        s
    }
}

/// The forms [`Evidence::contains_time`] accepts, for messages.
pub fn time_forms(t: DateTime<Utc>) -> String {
    format!(
        "{} (or Unix s {}, ms {}, µs {})",
        t.to_rfc3339_opts(SecondsFormat::Millis, true),
        t.timestamp(),
        t.timestamp_millis(),
        t.timestamp_micros()
    )
}

/// Decode `%XX` escapes and `+` (as a space); invalid escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_times_in_every_form() {
        let t: DateTime<Utc> = "2026-03-14T09:00:41.137Z".parse().unwrap();
        for body in [
            r#"{"time":1773478841137}"#,
            r#"{"time":1773478841}"#,
            r#"{"timestamp_micros":"1773478841137000"}"#,
            r#"{"at":"2026-03-14T09:00:41.137Z"}"#,
            r#"{"at":"2026-03-14T09:00:41+00:00"}"#,
            r#"{"time":1773478841.137}"#,
        ] {
            let mut e = Evidence::default();
            e.add(body);
            assert!(e.contains_time(t, None), "{body}");
        }
        let mut e = Evidence::default();
        e.add(r#"{"time":17734788411370,"other":"2026-03-14T09:00:42Z"}"#);
        assert!(!e.contains_time(t, None));
        let mut q = Evidence::default();
        q.add("/collect?ts=2026-03-14T09%3A00%3A41Z");
        assert!(q.contains_time(t, None));
    }
}

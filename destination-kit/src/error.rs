//! Errors about events: every one names the field (a JSON path such as
//! `properties.products[2].price`) and the problem.

use std::fmt;

/// A problem with one field of an event: `path: message`.
///
/// `path` is a dotted JSON path from the message root (`properties.products[2].price`),
/// or `$` for the document itself.
///
/// ```
/// use destination_kit::FieldError;
/// let e = FieldError::new("properties.total", "expected a number, got \"abc\"");
/// assert_eq!(e.to_string(), "properties.total: expected a number, got \"abc\"");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, serde::Serialize)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// JSON path of the field, `$` for the whole document.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A problem `message` at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Why an input could not be read as a Segment message at all.
///
/// Parsing is separate from validation: a message that parses may still be invalid
/// (see [`crate::event::Message::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not JSON.
    #[error("$: {}", self.message())]
    Json {
        /// 1-based line inside the document where the JSON error was found.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What serde_json said, without its position suffix.
        message: String,
    },
    /// The bytes are not UTF-8.
    #[error("$: {}", self.message())]
    Utf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The JSON is valid but not a message (not an object, unknown `type`, a field of the wrong
    /// JSON type where the message shape needs it).
    #[error(transparent)]
    Field(#[from] FieldError),
}

impl ParseError {
    /// The JSON path the error is about (`$` for the document).
    pub fn path(&self) -> &str {
        match self {
            ParseError::Field(f) => &f.path,
            _ => "$",
        }
    }

    /// The problem, without the path.
    pub fn message(&self) -> String {
        match self {
            ParseError::Json {
                line,
                column,
                message,
            } if *line <= 1 => format!("not valid JSON at column {column}: {message}"),
            ParseError::Json {
                line,
                column,
                message,
            } => format!("not valid JSON at line {line}, column {column}: {message}"),
            ParseError::Utf8 { offset } => format!("not valid UTF-8 at byte {offset}"),
            ParseError::Field(f) => f.message.clone(),
        }
    }

    /// As a [`FieldError`] (path and message).
    pub fn to_field_error(&self) -> FieldError {
        FieldError::new(self.path(), self.message())
    }
}

/// A short, bounded rendering of a JSON value for error messages (`"abc"`, `12`, `an object`).
pub fn describe(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from("\"");
            for (i, c) in s.chars().enumerate() {
                if i == 40 {
                    out.push('…');
                    break;
                }
                out.push(c);
            }
            out.push('"');
            out
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Join a parent path and a child key (`properties` + `total` → `properties.total`).
pub fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() || parent == "$" {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Join a parent path and an array index (`properties.products` + 2 → `properties.products[2]`).
pub fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// Display helper used by error lists.
pub struct Errors<'a>(pub &'a [FieldError]);

impl fmt::Display for Errors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A [`FieldError`] located in an input stream: `line 7: properties.total: expected a number,
/// got "abc"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, serde::Serialize)]
#[error("line {line}: {error}")]
pub struct LineError {
    /// 1-based line of the input.
    pub line: usize,
    /// The problem and its path.
    pub error: FieldError,
}

//! Document names. A [`DocName`] can only be built by [`DocName::parse`], so every name that
//! reaches the registry or a store has been validated exactly once, at the edge.

use std::fmt;
use std::sync::Arc;

/// Longest accepted name, in UTF-8 bytes. Long enough for path-like names
/// (`org/team/project/page`), short enough to be a cheap map key and index entry.
pub const MAX_NAME_BYTES: usize = 256;

/// A validated document name: 1–256 UTF-8 bytes of letters, digits and `-_.~/`.
///
/// Cloning is cheap (shared string), because the name travels with every log line and command.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocName(Arc<str>);

/// Why a document name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocNameError {
    #[error("document name is empty")]
    Empty,
    #[error("document name is {0} bytes long; the limit is {MAX_NAME_BYTES}")]
    TooLong(usize),
    #[error("document name contains {0:?}; allowed are letters, digits and - _ . ~ /")]
    BadChar(char),
}

impl DocName {
    /// Validates an already percent-decoded name.
    pub fn parse(raw: &str) -> Result<Self, DocNameError> {
        if raw.is_empty() {
            return Err(DocNameError::Empty);
        }
        if raw.len() > MAX_NAME_BYTES {
            return Err(DocNameError::TooLong(raw.len()));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '/')))
        {
            return Err(DocNameError::BadChar(bad));
        }
        Ok(DocName(Arc::from(raw)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_path_like_and_unicode_names() {
        for ok in [
            "a",
            "notes/2026-11-27",
            "Ünïcödé",
            "x.y~z_1",
            &"a".repeat(256),
        ] {
            assert!(DocName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(DocName::parse(""), Err(DocNameError::Empty));
        assert_eq!(
            DocName::parse(&"a".repeat(257)),
            Err(DocNameError::TooLong(257))
        );
        assert_eq!(DocName::parse("a b"), Err(DocNameError::BadChar(' ')));
        assert_eq!(DocName::parse("a?b"), Err(DocNameError::BadChar('?')));
        assert_eq!(DocName::parse("a%b"), Err(DocNameError::BadChar('%')));
    }
}

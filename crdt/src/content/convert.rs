//! One root type of a document in and out as ProseMirror JSON, Markdown, HTML or plain text:
//! what the HTTP API's `/content` and `weft export` / `weft import` call. An import is planned
//! on a copy of the document and comes out as one Yjs update, which the caller applies like a
//! client's edit.

use std::str::FromStr;

use serde_json::Value;
use yrs::{Doc, GetString, ReadTxn, Text, Transact, XmlFragment};

use super::prosemirror::{self, InvalidJson, Node};
use super::{html, markdown, roots, Kind};

/// A content format of `/content?type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    ProseMirror,
    Markdown,
    Html,
    /// The plain text of a `Y.Text`.
    Text,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "prosemirror" | "json" => Ok(Format::ProseMirror),
            "markdown" | "md" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "text" => Ok(Format::Text),
            other => Err(format!(
                "unknown content type {other:?} (use prosemirror, markdown, html or text)"
            )),
        }
    }
}

impl Format {
    /// The media type of this format's text.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::ProseMirror => "application/json",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Text => "text/plain; charset=utf-8",
        }
    }
}

/// What an import does to the root type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The content becomes the body.
    Replace,
    /// The body is added after the content.
    Append,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    #[error("the document has no root type named {0:?}")]
    NoRoot(String),
    #[error("the root type {key:?} holds {found}; {wanted} needs {need}")]
    WrongKind {
        key: String,
        found: &'static str,
        wanted: &'static str,
        need: &'static str,
    },
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error(transparent)]
    Invalid(#[from] InvalidJson),
    #[error("the content nests more than {MAX_NESTING} levels deep")]
    TooDeep,
}

/// Deepest nesting a Markdown or HTML body may have. The parsers take time quadratic in it
/// (html5ever checks its open elements per tag), so bodies that nest deeper are refused before
/// parsing; beyond [`prosemirror::MAX_DEPTH`] the structure is kept as text anyway.
pub const MAX_NESTING: usize = 2_000;

/// A cheap upper bound of how deep `body` nests: for Markdown, the longest run of container
/// markers and indentation that starts a line; for HTML, start tags not yet closed.
fn nesting(body: &str, format: Format) -> usize {
    match format {
        Format::Markdown => body
            .lines()
            .map(|l| {
                l.bytes()
                    .take_while(|b| b" \t>-*+.)0123456789".contains(b))
                    .count()
            })
            .max()
            .unwrap_or(0),
        Format::Html => {
            const VOID: [&str; 14] = [
                "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                "param", "source", "track", "wbr",
            ];
            let (mut depth, mut deepest) = (0usize, 0usize);
            let mut rest = body;
            while let Some(i) = rest.find('<') {
                rest = &rest[i + 1..];
                let end = rest.find('>').unwrap_or(rest.len());
                let tag = &rest[..end];
                if let Some(_closing) = tag.strip_prefix('/') {
                    depth = depth.saturating_sub(1);
                } else if tag.starts_with(|c: char| c.is_ascii_alphabetic()) && !tag.ends_with('/')
                {
                    let name: String = tag
                        .chars()
                        .take_while(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    if !VOID.contains(&name.as_str()) {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                }
            }
            deepest
        }
        Format::ProseMirror | Format::Text => 0,
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Text => "text (a Y.Text)",
        Kind::Map => "a Y.Map",
        Kind::Array => "a Y.Array",
        Kind::XmlFragment => "rich text (a Y.XmlFragment)",
        Kind::Empty => "nothing",
    }
}

/// Checks that root `key` of `doc` can be read or written as `format`; `None` when it does not
/// exist.
fn check<T: ReadTxn>(txn: &T, key: &str, format: Format) -> Result<Option<Kind>, ConvertError> {
    let Some((kind, _)) = roots(txn).remove(key) else {
        return Ok(None);
    };
    let ok = match format {
        Format::Text => matches!(kind, Kind::Text | Kind::Empty),
        _ => matches!(kind, Kind::XmlFragment | Kind::Empty),
    };
    if ok {
        return Ok(Some(kind));
    }
    Err(ConvertError::WrongKind {
        key: key.to_string(),
        found: kind_name(kind),
        wanted: match format {
            Format::Text => "type=text",
            _ => "type=prosemirror, markdown and html",
        },
        need: match format {
            Format::Text => "a Y.Text",
            _ => "a Y.XmlFragment (y-prosemirror, Tiptap)",
        },
    })
}

/// Root `key` as ProseMirror JSON, exactly as y-prosemirror's `yXmlFragmentToProsemirrorJSON`.
pub fn export_json(doc: &Doc, key: &str) -> Result<Value, ConvertError> {
    check(&doc.transact(), key, Format::ProseMirror)?
        .ok_or_else(|| ConvertError::NoRoot(key.to_string()))?;
    let fragment = doc.get_or_insert_xml_fragment(key);
    let txn = doc.transact();
    Ok(prosemirror::fragment_json(&txn, &fragment))
}

/// Root `key` in `format`, as text.
pub fn export(doc: &Doc, key: &str, format: Format) -> Result<String, ConvertError> {
    let kind = check(&doc.transact(), key, format)?
        .ok_or_else(|| ConvertError::NoRoot(key.to_string()))?;
    if format == Format::Text {
        return Ok(super::to_text(doc, key).unwrap_or_default());
    }
    if format == Format::ProseMirror {
        return Ok(export_json(doc, key)?.to_string());
    }
    let node = if kind == Kind::Empty {
        Node::doc(Vec::new())
    } else {
        let fragment = doc.get_or_insert_xml_fragment(key);
        let txn = doc.transact();
        prosemirror::fragment_node(&txn, &fragment)
    };
    Ok(match format {
        Format::Markdown => markdown::render(&node),
        _ => html::render(&node),
    })
}

/// Parses `body` in a rich format into a ProseMirror document.
pub fn parse(body: &str, format: Format) -> Result<Node, ConvertError> {
    if nesting(body, format) > MAX_NESTING {
        return Err(ConvertError::TooDeep);
    }
    Ok(match format {
        Format::Markdown => markdown::parse(body),
        Format::Html => html::parse(body),
        Format::ProseMirror | Format::Text => {
            let v: Value =
                serde_json::from_str(body).map_err(|e| ConvertError::NotJson(e.to_string()))?;
            Node::from_json(&v)?
        }
    })
}

/// The edit that puts `body` (in `format`) into root `key` of `doc`, as one Yjs v1 update
/// (`doc` is changed too: it is the caller's copy of the document).
pub fn import(
    doc: &Doc,
    key: &str,
    format: Format,
    body: &str,
    mode: Mode,
) -> Result<Vec<u8>, ConvertError> {
    check(&doc.transact(), key, format)?;
    if format == Format::Text {
        let text = doc.get_or_insert_text(key);
        let mut txn = doc.transact_mut();
        if mode == Mode::Replace {
            if text.get_string(&txn) == body {
                return Ok(txn.encode_update_v1());
            }
            let len = text.len(&txn);
            text.remove_range(&mut txn, 0, len);
        }
        text.push(&mut txn, body);
        return Ok(txn.encode_update_v1());
    }
    let node = parse(body, format)?;
    let fragment = doc.get_or_insert_xml_fragment(key);
    let mut txn = doc.transact_mut();
    let len = fragment.len(&txn);
    let at = match mode {
        Mode::Replace => {
            fragment.remove_range(&mut txn, 0, len);
            0
        }
        Mode::Append => len,
    };
    prosemirror::write(&mut txn, &fragment, at, &node.content);
    Ok(txn.encode_update_v1())
}

//! ProseMirror JSON, the hub of content conversion: a `Y.XmlFragment` written by y-prosemirror
//! (or Tiptap's fork of it) read as the JSON `yXmlFragmentToProsemirrorJSON` gives, and a
//! ProseMirror document written into a fragment the way y-prosemirror writes one. Markdown and
//! HTML ([`super::markdown`], [`super::html`]) convert to and from the [`Node`] tree here.
//!
//! y-prosemirror's encoding: a node is a `Y.XmlElement` named after its type, its non-null
//! attributes as element attributes (any JSON value); consecutive text nodes are one
//! `Y.XmlText`, each mark a formatting attribute named after the mark type (plus `--HASH` for
//! marks that may overlap themselves) whose value is the mark's attributes.
//!
//! One thing yrs does not tell: the order of formatting attributes that start at the same
//! character (y-prosemirror lists marks in the order their formatting items sit in the text).
//! Marks already open keep their place; marks that start together are listed in Tiptap's
//! schema order, which is the order y-prosemirror itself writes them in.

use serde_json::{json, Map, Value};
use yrs::types::text::YChange;
use yrs::types::xml::XmlOut;
use yrs::types::Attrs;
use yrs::{
    Any, Out, ReadTxn, Text, TransactionMut, Xml, XmlElementPrelim, XmlElementRef, XmlFragment,
    XmlFragmentRef, XmlTextPrelim, XmlTextRef,
};

/// A ProseMirror node: an element (`kind` = its type, with attributes and children) or a text
/// node (`kind` = `"text"`, with `text` and marks).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    pub kind: String,
    pub attrs: Map<String, Value>,
    pub content: Vec<Node>,
    /// Set on text nodes only.
    pub text: Option<String>,
    pub marks: Vec<Mark>,
}

/// A mark on a text node: bold, link (with `href`), …
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub kind: String,
    pub attrs: Map<String, Value>,
}

/// ProseMirror JSON that is not a document, with the JSON path where it fails
/// (`content[2].content[0].marks[0].type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ProseMirror JSON at {path}: {reason}")]
pub struct InvalidJson {
    pub path: String,
    pub reason: String,
}

/// Tiptap's mark order (StarterKit with Link and Underline): the order y-prosemirror writes the
/// marks of one text node in.
const MARK_RANK: [&str; 6] = ["link", "bold", "code", "italic", "strike", "underline"];

/// Deepest nesting the conversions build: every step over a tree (reading, writing, rendering,
/// dropping it) recurses, and input from the network must not overflow a thread's stack.
/// Deeper content in Markdown or HTML becomes its text; Yjs elements deeper than twice this
/// (what no import writes) come out empty. (ProseMirror JSON is bounded by serde_json's own
/// limit of 128.)
pub const MAX_DEPTH: usize = 100;

impl Node {
    pub fn element(kind: &str, attrs: Map<String, Value>, content: Vec<Node>) -> Node {
        Node {
            kind: kind.to_string(),
            attrs,
            content,
            ..Node::default()
        }
    }

    pub fn text(text: impl Into<String>, marks: Vec<Mark>) -> Node {
        Node {
            kind: "text".to_string(),
            text: Some(text.into()),
            marks,
            ..Node::default()
        }
    }

    /// The empty document.
    pub fn doc(content: Vec<Node>) -> Node {
        Node::element("doc", Map::new(), content)
    }

    pub fn is_text(&self) -> bool {
        self.text.is_some()
    }

    /// An attribute as a string (`None` when absent or null).
    pub fn attr_str(&self, key: &str) -> Option<String> {
        match self.attrs.get(key)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }

    /// An attribute as an integer.
    pub fn attr_u64(&self, key: &str) -> Option<u64> {
        match self.attrs.get(key)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The node's text, children concatenated (a leaf without text: its `text` or `label`
    /// attribute, so an unknown inline node such as a mention keeps its words).
    pub fn text_content(&self) -> String {
        if let Some(t) = &self.text {
            return t.clone();
        }
        if self.content.is_empty() {
            return self
                .attr_str("text")
                .or_else(|| self.attr_str("label"))
                .unwrap_or_default();
        }
        self.content.iter().map(Node::text_content).collect()
    }

    /// The JSON y-prosemirror's `yXmlFragmentToProsemirrorJSON` gives for this node.
    pub fn to_json(&self) -> Value {
        if let Some(text) = &self.text {
            let mut v = json!({ "type": "text", "text": text });
            if !self.marks.is_empty() {
                let marks: Vec<Value> = self
                    .marks
                    .iter()
                    .map(|m| json!({ "type": m.kind, "attrs": m.attrs }))
                    .collect();
                v["marks"] = Value::Array(marks);
            }
            return v;
        }
        let mut v = json!({ "type": self.kind });
        if self.kind == "doc" {
            v["content"] = Value::Array(self.content.iter().map(Node::to_json).collect());
            return v;
        }
        if !self.attrs.is_empty() {
            v["attrs"] = Value::Object(self.attrs.clone());
        }
        if !self.content.is_empty() {
            v["content"] = Value::Array(self.content.iter().map(Node::to_json).collect());
        }
        v
    }

    /// Parses a ProseMirror document (`{"type": "doc", "content": [...]}`).
    pub fn from_json(v: &Value) -> Result<Node, InvalidJson> {
        let node = parse_node(v, "")?;
        if node.kind != "doc" {
            return Err(invalid("type", "the top node must be of type \"doc\""));
        }
        Ok(node)
    }
}

fn invalid(path: &str, reason: &str) -> InvalidJson {
    InvalidJson {
        path: if path.is_empty() {
            "the top".to_string()
        } else {
            path.to_string()
        },
        reason: reason.to_string(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn parse_attrs(v: Option<&Value>, path: &str) -> Result<Map<String, Value>, InvalidJson> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(invalid(path, "attrs must be an object")),
    }
}

fn parse_node(v: &Value, path: &str) -> Result<Node, InvalidJson> {
    let Value::Object(o) = v else {
        return Err(invalid(path, "a node must be an object"));
    };
    let kind = match o.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(invalid(
                &join(path, "type"),
                "type must be a non-empty string",
            ))
        }
        None => return Err(invalid(&join(path, "type"), "a node needs a type")),
    };
    if kind == "text" {
        let text = match o.get("text") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(invalid(
                    &join(path, "text"),
                    "a text node needs a non-empty text string",
                ))
            }
        };
        let marks = match o.get("marks") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, m)| parse_mark(m, &join(path, &format!("marks[{i}]"))))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid(&join(path, "marks"), "marks must be an array")),
        };
        return Ok(Node::text(text, marks));
    }
    let attrs = parse_attrs(o.get("attrs"), &join(path, "attrs"))?;
    let content = match o.get("content") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_node(c, &join(path, &format!("content[{i}]"))))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(&join(path, "content"), "content must be an array")),
    };
    if o.contains_key("marks") && !matches!(o.get("marks"), Some(Value::Array(a)) if a.is_empty()) {
        return Err(invalid(
            &join(path, "marks"),
            "only text nodes carry marks here",
        ));
    }
    Ok(Node::element(&kind, attrs, content))
}

fn parse_mark(v: &Value, path: &str) -> Result<Mark, InvalidJson> {
    let Value::Object(o) = v else {
        return Err(invalid(path, "a mark must be an object"));
    };
    let kind = match o.get("type") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(invalid(
                &join(path, "type"),
                "a mark needs a non-empty type string",
            ))
        }
    };
    let attrs = parse_attrs(o.get("attrs"), &join(path, "attrs"))?;
    Ok(Mark { kind, attrs })
}

// ---- Y.XmlFragment → JSON ----

/// The fragment as `yXmlFragmentToProsemirrorJSON` gives it. A text directly under the
/// fragment (y-prosemirror never writes one) comes out as y-prosemirror renders it: a list of
/// text nodes in place of a node.
pub fn fragment_json<T: ReadTxn>(txn: &T, fragment: &XmlFragmentRef) -> Value {
    let content: Vec<Value> = fragment
        .children(txn)
        .map(|child| match child {
            XmlOut::Element(e) => element_node(txn, &e, 1).to_json(),
            XmlOut::Text(t) => {
                Value::Array(text_nodes(txn, &t).iter().map(Node::to_json).collect())
            }
            XmlOut::Fragment(_) => Value::Array(Vec::new()),
        })
        .collect();
    json!({ "type": "doc", "content": content })
}

/// The fragment as a document tree (a stray top-level text becomes its text nodes in place).
pub fn fragment_node<T: ReadTxn>(txn: &T, fragment: &XmlFragmentRef) -> Node {
    let mut content = Vec::new();
    for child in fragment.children(txn) {
        match child {
            XmlOut::Element(e) => content.push(element_node(txn, &e, 1)),
            XmlOut::Text(t) => content.extend(text_nodes(txn, &t)),
            XmlOut::Fragment(_) => {}
        }
    }
    Node::doc(content)
}

fn out_json(o: &Out) -> Value {
    match o {
        Out::Any(a) => serde_json::to_value(a).unwrap_or(Value::Null),
        other => Value::String(other.to_string()),
    }
}

fn element_node<T: ReadTxn>(txn: &T, e: &XmlElementRef, depth: usize) -> Node {
    let attrs: Map<String, Value> = e
        .attributes(txn)
        .map(|(k, v)| (k.to_string(), out_json(&v)))
        .collect();
    let mut content = Vec::new();
    if depth >= 2 * MAX_DEPTH {
        return Node::element(e.tag(), attrs, content);
    }
    for child in e.children(txn) {
        match child {
            XmlOut::Element(c) => content.push(element_node(txn, &c, depth + 1)),
            XmlOut::Text(t) => content.extend(text_nodes(txn, &t)),
            XmlOut::Fragment(_) => {}
        }
    }
    Node::element(e.tag(), attrs, content)
}

/// `mark--HASH` → `mark` (y-prosemirror's `yattr2markname`).
fn mark_name(attr: &str) -> &str {
    match attr.rsplit_once("--") {
        Some((name, hash))
            if hash.len() == 8
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) =>
        {
            name
        }
        _ => attr,
    }
}

fn rank(attr: &str) -> (usize, String) {
    let name = mark_name(attr);
    let i = MARK_RANK
        .iter()
        .position(|m| *m == name)
        .unwrap_or(MARK_RANK.len());
    (i, attr.to_string())
}

fn text_nodes<T: ReadTxn>(txn: &T, t: &XmlTextRef) -> Vec<Node> {
    let mut open: Vec<(String, Any)> = Vec::new();
    let mut nodes = Vec::new();
    for d in t.diff(txn, YChange::identity) {
        let attrs = d.attributes.map(|a| *a).unwrap_or_default();
        open.retain(|(k, _)| attrs.contains_key(k.as_str()));
        for (k, v) in open.iter_mut() {
            if let Some(now) = attrs.get(k.as_str()) {
                *v = now.clone();
            }
        }
        let mut started: Vec<(String, Any)> = attrs
            .iter()
            .filter(|(k, _)| !open.iter().any(|(o, _)| o.as_str() == &***k))
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        started.sort_by_key(|(k, _)| rank(k));
        open.extend(started);
        let text = match &d.insert {
            Out::Any(Any::String(s)) => s.to_string(),
            other => out_json(other).to_string(),
        };
        let marks = open
            .iter()
            .map(|(k, v)| Mark {
                kind: mark_name(k).to_string(),
                attrs: match serde_json::to_value(v) {
                    Ok(Value::Object(m)) => m,
                    _ => Map::new(),
                },
            })
            .collect();
        nodes.push(Node::text(text, marks));
    }
    nodes
}

// ---- JSON → Y.XmlFragment ----

/// Writes `nodes` into `fragment` from child index `at`, the way y-prosemirror would: elements
/// with their non-null attributes, each run of text nodes as one `Y.XmlText`.
pub fn write(txn: &mut TransactionMut, fragment: &XmlFragmentRef, at: u32, nodes: &[Node]) {
    write_children(txn, fragment, at, nodes);
}

fn write_children<P: XmlFragment>(txn: &mut TransactionMut, parent: &P, at: u32, nodes: &[Node]) {
    for (index, group) in (at..).zip(groups(nodes)) {
        match group {
            Group::Element(n) => {
                let e = parent.insert(txn, index, XmlElementPrelim::empty(n.kind.as_str()));
                for (k, v) in &n.attrs {
                    if !v.is_null() {
                        e.insert_attribute(txn, k.as_str(), json_any(v));
                    }
                }
                write_children(txn, &e, 0, &n.content);
            }
            Group::Text(run) => {
                let t = parent.insert(txn, index, XmlTextPrelim::new(""));
                fill_text(txn, &t, run);
            }
        }
    }
}

enum Group<'a> {
    Element(&'a Node),
    Text(&'a [Node]),
}

fn groups(nodes: &[Node]) -> Vec<Group<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < nodes.len() {
        if nodes[i].is_text() {
            let start = i;
            while i < nodes.len() && nodes[i].is_text() {
                i += 1;
            }
            out.push(Group::Text(&nodes[start..i]));
        } else {
            out.push(Group::Element(&nodes[i]));
            i += 1;
        }
    }
    out
}

fn json_any(v: &Value) -> Any {
    serde_json::from_value(v.clone()).unwrap_or(Any::Null)
}

/// Length of `s` in the document's offset unit.
fn len_in(txn: &TransactionMut, s: &str) -> u32 {
    match txn.doc().offset_kind() {
        yrs::OffsetKind::Bytes => s.len() as u32,
        yrs::OffsetKind::Utf16 => s.encode_utf16().count() as u32,
    }
}

/// Text first, then each mark over its longest stretch: marks that start at the same place are
/// formatted in reverse schema order, which leaves their formatting items in schema order (each
/// new one goes before those already there), as y-prosemirror writes them.
fn fill_text(txn: &mut TransactionMut, t: &XmlTextRef, run: &[Node]) {
    let mut spans = Vec::new();
    let mut pos = 0u32;
    for n in run {
        let text = n.text.as_deref().unwrap_or_default();
        t.insert(txn, pos, text);
        let len = len_in(txn, text);
        spans.push((pos, len, n));
        pos += len;
    }
    // (start, len, attribute name, value), merged over neighbours with an equal mark.
    let mut ranges: Vec<(u32, u32, String, Any)> = Vec::new();
    for (start, len, n) in spans {
        for m in &n.marks {
            let value = json_any(&Value::Object(m.attrs.clone()));
            if let Some(r) = ranges
                .iter_mut()
                .find(|r| r.0 + r.1 == start && r.2 == m.kind && r.3 == value)
            {
                r.1 += len;
            } else {
                ranges.push((start, len, m.kind.clone(), value));
            }
        }
    }
    ranges.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| rank(&b.2).cmp(&rank(&a.2))));
    for (start, len, key, value) in ranges {
        let mut attrs = Attrs::new();
        attrs.insert(key.into(), value);
        t.format(txn, start, len, attrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, Transact};

    fn sample() -> Value {
        json!({"type": "doc", "content": [
            {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Title"}]},
            {"type": "paragraph", "content": [
                {"type": "text", "text": "plain "},
                {"type": "text", "text": "both", "marks": [{"type": "bold", "attrs": {}}, {"type": "italic", "attrs": {}}]},
                // Bold goes on from the run before, so it stays first (as in Yjs).
                {"type": "text", "text": " link", "marks": [{"type": "bold", "attrs": {}}, {"type": "link", "attrs": {"href": "https://x.test"}}]},
            ]},
            {"type": "paragraph"},
            {"type": "horizontalRule"},
        ]})
    }

    #[test]
    fn json_survives_a_trip_through_a_fragment() {
        let doc = Doc::new();
        let frag = doc.get_or_insert_xml_fragment("default");
        let node = Node::from_json(&sample()).expect("valid");
        write(&mut doc.transact_mut(), &frag, 0, &node.content);
        assert_eq!(fragment_json(&doc.transact(), &frag), sample());
        assert_eq!(fragment_node(&doc.transact(), &frag), node);
    }

    #[test]
    fn bad_json_names_the_path() {
        let mut v = sample();
        v["content"][1]["content"][1]["marks"][0] = json!({"attrs": {}});
        let e = Node::from_json(&v).unwrap_err();
        assert_eq!(e.path, "content[1].content[1].marks[0].type");
        let e = Node::from_json(&json!({"type": "paragraph"})).unwrap_err();
        assert_eq!(e.path, "type");
        let e = Node::from_json(&json!({"type": "doc", "content": [{"type": "text", "text": ""}]}))
            .unwrap_err();
        assert_eq!(e.path, "content[0].text");
    }

    #[test]
    fn hashed_mark_names_lose_their_hash() {
        assert_eq!(mark_name("comment--aGVsbG8x"), "comment");
        assert_eq!(mark_name("bold"), "bold");
        assert_eq!(mark_name("a--b"), "a--b");
    }
}

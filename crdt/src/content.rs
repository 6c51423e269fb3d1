//! A document's content as plain data: each root type rendered as JSON (for the HTTP API and
//! webhooks), as plain text, and the edit that makes one document's content equal to another's
//! (restoring a version). Rich text (a y-prosemirror `Y.XmlFragment`) converts to and from
//! ProseMirror JSON ([`prosemirror`], the hub), Markdown ([`markdown`]) and HTML ([`html`]);
//! [`convert`] puts them together for one root type.
//!
//! Root types arrive from updates without a declared type (a client says "text" only by how it
//! reads them), so a root's kind is inferred from what it holds, the way Yjs clients would see
//! it: characters make a text, keyed entries a map, XML nodes an XML fragment, anything else in
//! sequence an array.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};
use yrs::types::xml::{XmlDeltaPrelim, XmlIn, XmlOut};
use yrs::types::{AsPrelim, Delta};
use yrs::{Any, Doc, In, Out, ReadTxn, Transact, XmlElementPrelim, XmlFragment};

pub mod convert;
pub mod html;
pub mod markdown;
pub mod prosemirror;
mod restore;
mod tidy;

pub use convert::{ConvertError, Format, Mode};
pub use restore::{plan, Targets};

/// What a root type holds, as far as its content tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Map,
    Array,
    XmlFragment,
    /// Nothing (or nothing left): any kind.
    Empty,
}

/// Every root type of `doc` with its kind and a deep copy of its content.
pub(crate) fn roots<T: ReadTxn>(txn: &T) -> BTreeMap<String, (Kind, In)> {
    txn.root_refs()
        .map(|(name, out)| {
            let prelim = match &out {
                // Its prelim keeps the children private; list them as nodes instead.
                Out::YXmlFragment(f) => In::Array(
                    f.children(txn)
                        .map(|c| match c {
                            XmlOut::Element(e) => In::XmlElement(e.as_prelim(txn)),
                            XmlOut::Text(t) => In::XmlText(t.as_prelim(txn)),
                            XmlOut::Fragment(f) => In::XmlFragment(f.as_prelim(txn)),
                        })
                        .collect(),
                ),
                other => other.as_prelim(txn),
            };
            let kind = kind_of(&prelim);
            (name.to_string(), (kind, prelim))
        })
        .collect()
}

fn kind_of(v: &In) -> Kind {
    match v {
        In::Text(delta) if delta.is_empty() => Kind::Empty,
        In::Text(_) | In::XmlText(_) => Kind::Text,
        In::Map(m) if m.is_empty() => Kind::Empty,
        In::Map(_) => Kind::Map,
        In::Array(items) if items.is_empty() => Kind::Empty,
        In::Array(items)
            if items
                .iter()
                .all(|i| matches!(i, In::XmlElement(_) | In::XmlText(_))) =>
        {
            Kind::XmlFragment
        }
        In::Array(_) => Kind::Array,
        In::XmlFragment(_) | In::XmlElement(_) => Kind::XmlFragment,
        In::Any(_) | In::Doc(_) => Kind::Empty,
    }
}

/// The document as one JSON object: each non-empty root type by name. Text is a string, a map
/// an object, an array a list, an XML fragment a list of nodes, where an element is
/// `{"tag", "attributes", "children"}` and a text node `{"text"}` (plus `"runs"` with each
/// formatted piece when it carries formatting).
pub fn to_json(doc: &Doc) -> Value {
    let txn = doc.transact();
    let mut out = Map::new();
    for (name, (kind, prelim)) in roots(&txn) {
        if kind != Kind::Empty {
            out.insert(name, in_json(&prelim));
        }
    }
    Value::Object(out)
}

/// The plain text of the root type `key` (a text's characters; an XML fragment's text, one
/// line per top-level node); `None` when there is no such root.
pub fn to_text(doc: &Doc, key: &str) -> Option<String> {
    let txn = doc.transact();
    let (_, prelim) = roots(&txn).remove(key)?;
    Some(match &prelim {
        In::Array(items) => items.iter().map(in_text).collect::<Vec<_>>().join("\n"),
        other => in_text(other),
    })
}

fn any_json(a: &Any) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

fn delta_text(delta: &[Delta<In>]) -> String {
    let mut s = String::new();
    for d in delta {
        if let Delta::Inserted(In::Any(Any::String(chunk)), _) = d {
            s.push_str(chunk);
        }
    }
    s
}

fn in_text(v: &In) -> String {
    match v {
        In::Text(delta) => delta_text(delta),
        In::XmlText(t) => delta_text(&t.delta),
        In::XmlElement(e) => e.children.iter().map(xml_in_text).collect(),
        In::XmlFragment(_) | In::Array(_) | In::Map(_) => in_json(v).to_string(),
        In::Any(Any::String(s)) => s.to_string(),
        In::Any(a) => any_json(a).to_string(),
        In::Doc(_) => String::new(),
    }
}

fn xml_in_text(v: &XmlIn) -> String {
    match v {
        XmlIn::Text(t) => delta_text(&t.delta),
        XmlIn::Element(e) => e.children.iter().map(xml_in_text).collect(),
        XmlIn::Fragment(_) => String::new(),
    }
}

fn in_json(v: &In) -> Value {
    match v {
        In::Any(a) => any_json(a),
        In::Text(delta) => Value::String(delta_text(delta)),
        In::Array(items) => Value::Array(items.iter().map(in_json).collect()),
        In::Map(m) => {
            let sorted: BTreeMap<&str, Value> = m.iter().map(|(k, v)| (&**k, in_json(v))).collect();
            json!(sorted)
        }
        In::XmlElement(e) => element_json(e),
        In::XmlText(t) => text_node_json(t),
        In::XmlFragment(_) => Value::Array(Vec::new()),
        In::Doc(d) => json!({ "guid": d.guid().to_string() }),
    }
}

fn element_json(e: &XmlElementPrelim) -> Value {
    let attributes: BTreeMap<&str, &str> = e
        .attributes
        .iter()
        .map(|(k, v)| (&**k, v.as_str()))
        .collect();
    let children: Vec<Value> = e
        .children
        .iter()
        .map(|c| match c {
            XmlIn::Text(t) => text_node_json(t),
            XmlIn::Element(e) => element_json(e),
            XmlIn::Fragment(_) => Value::Array(Vec::new()),
        })
        .collect();
    json!({ "tag": &*e.tag, "attributes": attributes, "children": children })
}

fn text_node_json(t: &XmlDeltaPrelim) -> Value {
    let text = delta_text(&t.delta);
    let formatted = t
        .delta
        .iter()
        .any(|d| matches!(d, Delta::Inserted(_, Some(attrs)) if !attrs.is_empty()));
    if !formatted {
        return json!({ "text": text });
    }
    let runs: Vec<Value> = t
        .delta
        .iter()
        .filter_map(|d| match d {
            Delta::Inserted(v, attrs) => {
                let attributes: BTreeMap<&str, Value> = attrs
                    .iter()
                    .flat_map(|a| a.iter())
                    .map(|(k, v)| (&**k, any_json(v)))
                    .collect();
                Some(json!({ "text": in_text(v), "attributes": attributes }))
            }
            _ => None,
        })
        .collect();
    json!({ "text": text, "runs": runs })
}

#[cfg(test)]
mod tests {
    use super::restore::{common_prefix, common_suffix};
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::{Array, Map as _, Text};
    use yrs::{GetString, StateVector, Update, XmlElementPrelim, XmlTextPrelim};

    /// A copy of `doc` as a remote peer that only ever received its updates would hold it:
    /// every root untyped.
    fn replica(doc: &Doc) -> Doc {
        let copy = Doc::new();
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        copy.transact_mut()
            .apply_update(Update::decode_v1(&update).expect("decode"))
            .expect("apply");
        copy
    }

    fn rich(doc: &Doc, words: &[&str]) {
        let frag = doc.get_or_insert_xml_fragment("default");
        let mut txn = doc.transact_mut();
        for w in words {
            let p = frag.push_back(&mut txn, XmlElementPrelim::empty("paragraph"));
            p.push_back(&mut txn, XmlTextPrelim::new(*w));
        }
    }

    #[test]
    fn renders_each_kind_from_an_untyped_replica() {
        let doc = Doc::new();
        rich(&doc, &["Hello", "world"]);
        let code = doc.get_or_insert_text("codemirror");
        let map = doc.get_or_insert_map("settings");
        let list = doc.get_or_insert_array("items");
        {
            let mut txn = doc.transact_mut();
            code.push(&mut txn, "fn main() {}");
            map.insert(&mut txn, "title", "Notes");
            list.push_back(&mut txn, 1);
            list.push_back(&mut txn, "two");
        }
        let json = to_json(&replica(&doc));
        assert_eq!(json["codemirror"], "fn main() {}");
        assert_eq!(json["settings"], json!({"title": "Notes"}));
        assert_eq!(json["items"], json!([1, "two"]));
        assert_eq!(json["default"][0]["tag"], "paragraph");
        assert_eq!(json["default"][1]["children"][0]["text"], "world");
        assert_eq!(
            to_text(&replica(&doc), "default").as_deref(),
            Some("Hello\nworld")
        );
        assert_eq!(to_text(&replica(&doc), "missing"), None);
    }

    /// Restores `target` onto a live replica that has moved on, through an update a third
    /// peer receives: all three end with the target's content.
    #[test]
    fn planned_edits_make_a_live_document_equal_to_an_old_one() {
        let doc = Doc::new();
        rich(&doc, &["Hello", "world"]);
        let code = doc.get_or_insert_text("codemirror");
        let map = doc.get_or_insert_map("settings");
        {
            let mut txn = doc.transact_mut();
            code.push(&mut txn, "héllo world");
            map.insert(&mut txn, "title", "Old");
        }
        let old = replica(&doc);
        rich(&doc, &["more"]);
        {
            let mut txn = doc.transact_mut();
            code.insert(&mut txn, 7, "brave new ");
            map.insert(&mut txn, "title", "New");
            map.insert(&mut txn, "extra", true);
        }
        doc.get_or_insert_array("added")
            .push_back(&mut doc.transact_mut(), 5);
        let live = replica(&doc);
        let peer = replica(&doc);
        assert_ne!(to_json(&live), to_json(&old));

        let plan = plan(&live, &old);
        assert!(!plan.is_empty());
        let update = {
            let mut txn = live.transact_mut();
            plan.apply(&mut txn);
            txn.encode_update_v1()
        };
        peer.transact_mut()
            .apply_update(Update::decode_v1(&update).expect("decode"))
            .expect("apply");
        assert_eq!(to_json(&live), to_json(&old));
        assert_eq!(to_json(&peer), to_json(&old));
        let code = peer.get_or_insert_text("codemirror");
        assert_eq!(code.get_string(&peer.transact()), "héllo world");
        assert!(
            super::plan(&peer, &old).is_empty(),
            "nothing left to restore"
        );
    }

    #[test]
    fn common_prefix_and_suffix_stop_on_character_boundaries() {
        assert_eq!(common_prefix("héllo", "hélp"), 4);
        assert_eq!(common_suffix("aé", "bé"), 2);
        assert_eq!(common_prefix("ab", "ab"), 2);
    }
}

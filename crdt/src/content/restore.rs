//! Restoring a version: the edits that make a live document's content equal to another's, per
//! root type, planned outside a transaction and applied inside one. Plain text keeps its common
//! prefix and suffix so collaborators' cursors stay put.

use std::collections::{BTreeMap, BTreeSet};

use yrs::types::text::DeltaPrelim;
use yrs::types::xml::XmlIn;
use yrs::types::{AsPrelim, Delta};
use yrs::{Any, Array, Doc, In, Map as _, Text, Transact, TransactionMut, XmlFragment};

use super::{delta_text, in_json, roots, Kind};

/// Root references of `doc` for the kinds [`Targets::apply`] will edit, taken before its write
/// transaction (yrs cannot create a root inside one).
pub struct Targets {
    target: BTreeMap<String, (Kind, In)>,
    edits: Vec<(String, Kind, Option<In>)>,
    text: BTreeMap<String, yrs::TextRef>,
    map: BTreeMap<String, yrs::MapRef>,
    array: BTreeMap<String, yrs::ArrayRef>,
    xml: BTreeMap<String, yrs::XmlFragmentRef>,
}

/// Plans the edits that make `live`'s content equal to `target`'s: one per root whose content
/// differs. Roots are resolved on `live` here, outside any transaction.
pub fn plan(live: &Doc, target: &Doc) -> Targets {
    let target_roots = roots(&target.transact());
    let live_roots = roots(&live.transact());
    let names: BTreeSet<&String> = target_roots.keys().chain(live_roots.keys()).collect();
    let mut t = Targets {
        target: BTreeMap::new(),
        edits: Vec::new(),
        text: BTreeMap::new(),
        map: BTreeMap::new(),
        array: BTreeMap::new(),
        xml: BTreeMap::new(),
    };
    for name in names {
        let want = target_roots.get(name);
        let have = live_roots.get(name);
        let want_kind = want.map_or(Kind::Empty, |(k, _)| *k);
        let have_kind = have.map_or(Kind::Empty, |(k, _)| *k);
        let kind = if want_kind == Kind::Empty {
            have_kind
        } else {
            want_kind
        };
        if kind == Kind::Empty {
            continue;
        }
        if want_kind != Kind::Empty && have_kind != Kind::Empty && want_kind != have_kind {
            continue; // used as two different types: no faithful edit exists
        }
        let same = match (want, have) {
            (Some((_, w)), Some((_, h))) => {
                in_json(w) == in_json(h) && kind != Kind::Text || kind == Kind::Text && w == h
            }
            _ => false,
        };
        if same {
            continue;
        }
        let key = name.as_str();
        match kind {
            Kind::Text => {
                t.text.insert(name.clone(), live.get_or_insert_text(key));
            }
            Kind::Map => {
                t.map.insert(name.clone(), live.get_or_insert_map(key));
            }
            Kind::Array => {
                t.array.insert(name.clone(), live.get_or_insert_array(key));
            }
            Kind::XmlFragment => {
                t.xml
                    .insert(name.clone(), live.get_or_insert_xml_fragment(key));
            }
            Kind::Empty => {}
        }
        t.edits
            .push((name.clone(), kind, want.map(|(_, p)| p.clone())));
    }
    t.target = target_roots;
    t
}

impl Targets {
    /// Whether the two documents already have equal content.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// Performs the planned edits in `txn` (a transaction on the `live` document of [`plan`]).
    pub fn apply(self, txn: &mut TransactionMut) {
        let Targets {
            edits,
            text,
            map,
            array,
            xml,
            ..
        } = self;
        for (name, kind, want) in edits {
            match kind {
                Kind::Text => {
                    let Some(r) = text.get(&name) else { continue };
                    let delta = match want {
                        Some(In::Text(d)) => d.to_vec(),
                        Some(In::XmlText(d)) => d.delta.clone(),
                        _ => Vec::new(),
                    };
                    replace_text(r, txn, delta);
                }
                Kind::Map => {
                    let Some(r) = map.get(&name) else { continue };
                    let want = match want {
                        Some(In::Map(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        _ => Vec::new(),
                    };
                    let keep: BTreeSet<&str> = want.iter().map(|(k, _)| &**k).collect();
                    let stale: Vec<String> = r
                        .keys(txn)
                        .filter(|k| !keep.contains(k))
                        .map(str::to_string)
                        .collect();
                    for k in stale {
                        r.remove(txn, &k);
                    }
                    for (k, v) in want {
                        let current = r.get(txn, &k).map(|o| in_json(&o.as_prelim(txn)));
                        if current.as_ref() != Some(&in_json(&v)) {
                            r.insert(txn, k, v);
                        }
                    }
                }
                Kind::Array => {
                    let Some(r) = array.get(&name) else { continue };
                    let len = r.len(txn);
                    r.remove_range(txn, 0, len);
                    if let Some(In::Array(items)) = want {
                        for (i, v) in items.iter().cloned().enumerate() {
                            r.insert(txn, i as u32, v);
                        }
                    }
                }
                Kind::XmlFragment => {
                    let Some(r) = xml.get(&name) else { continue };
                    let len = r.len(txn);
                    r.remove_range(txn, 0, len);
                    let children: Vec<XmlIn> = match want {
                        Some(In::Array(items)) => {
                            items.iter().cloned().filter_map(to_xml).collect()
                        }
                        Some(In::XmlFragment(f)) => vec![XmlIn::Fragment(f)],
                        Some(In::XmlElement(e)) => vec![XmlIn::Element(e)],
                        _ => Vec::new(),
                    };
                    for (i, child) in children.into_iter().enumerate() {
                        r.insert(txn, i as u32, child);
                    }
                }
                Kind::Empty => {}
            }
        }
    }
}

fn to_xml(v: In) -> Option<XmlIn> {
    match v {
        In::XmlElement(e) => Some(XmlIn::Element(e)),
        In::XmlText(t) => Some(XmlIn::Text(t)),
        In::XmlFragment(f) => Some(XmlIn::Fragment(f)),
        _ => None,
    }
}

/// Makes a text equal to `delta`. When both are unformatted, only the middle part that differs
/// is replaced, so co-editors' cursors before and after it stay where they are.
fn replace_text(r: &yrs::TextRef, txn: &mut TransactionMut, delta: Vec<Delta<In>>) {
    let plain = |d: &Delta<In>| {
        matches!(d, Delta::Inserted(In::Any(Any::String(_)), None))
            || matches!(d, Delta::Inserted(In::Any(Any::String(_)), Some(a)) if a.is_empty())
    };
    let current: DeltaPrelim = r.as_prelim(txn);
    if delta.iter().all(plain) && current.iter().all(plain) {
        let have = delta_text(&current);
        let want = delta_text(&delta);
        let prefix = common_prefix(&have, &want);
        let suffix = common_suffix(&have[prefix..], &want[prefix..]);
        let removed = have.len() - prefix - suffix;
        if removed > 0 {
            r.remove_range(txn, prefix as u32, removed as u32);
        }
        let inserted = &want[prefix..want.len() - suffix];
        if !inserted.is_empty() {
            r.insert(txn, prefix as u32, inserted);
        }
        return;
    }
    let len = r.len(txn);
    r.remove_range(txn, 0, len);
    r.apply_delta(txn, delta);
}

/// Length in bytes of the longest common prefix, on a character boundary.
pub(super) fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map_or_else(|| a.len().min(b.len()), |((i, _), _)| i)
}

/// Length in bytes of the longest common suffix, on a character boundary.
pub(super) fn common_suffix(a: &str, b: &str) -> usize {
    let mut n = 0;
    for (ca, cb) in a.chars().rev().zip(b.chars().rev()) {
        if ca != cb {
            break;
        }
        n += ca.len_utf8();
    }
    n
}

//! HTML to and from the ProseMirror hub. Writing follows Tiptap's `getHTML()` (`<p>`,
//! `<strong>`, `<ul data-type="taskList">`, `<pre><code class="language-x">`, …); reading
//! takes any HTML5 (parsed by html5ever through scraper) and keeps what Tiptap's schema knows,
//! the text of everything else. Scripts and styles are dropped.

use ego_tree::NodeRef;
use scraper::{Html, Node as Dom};
use serde_json::{json, Map, Value};

use super::prosemirror::{Mark, Node, MAX_DEPTH};
use super::tidy;

// ---- Node → HTML ----

/// Writes a ProseMirror document as HTML.
pub fn render(doc: &Node) -> String {
    let mut out = String::new();
    for n in &doc.content {
        node(&mut out, n);
    }
    out
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn children(out: &mut String, n: &Node) {
    for c in &n.content {
        node(out, c);
    }
}

fn wrap(out: &mut String, open: &str, n: &Node, close: &str) {
    out.push_str(open);
    children(out, n);
    out.push_str(close);
}

fn node(out: &mut String, n: &Node) {
    if let Some(text) = &n.text {
        text_node(out, text, &n.marks);
        return;
    }
    match n.kind.as_str() {
        "paragraph" => wrap(out, "<p>", n, "</p>"),
        "heading" => {
            let level = n.attr_u64("level").unwrap_or(1).clamp(1, 6);
            wrap(out, &format!("<h{level}>"), n, &format!("</h{level}>"));
        }
        "blockquote" => wrap(out, "<blockquote>", n, "</blockquote>"),
        "bulletList" => wrap(out, "<ul>", n, "</ul>"),
        "orderedList" => match n.attr_u64("start") {
            Some(s) if s != 1 => wrap(out, &format!("<ol start=\"{s}\">"), n, "</ol>"),
            _ => wrap(out, "<ol>", n, "</ol>"),
        },
        "listItem" => wrap(out, "<li>", n, "</li>"),
        "taskList" => wrap(out, "<ul data-type=\"taskList\">", n, "</ul>"),
        "taskItem" => {
            let checked = n.attrs.get("checked") == Some(&Value::Bool(true));
            out.push_str(&format!(
                "<li data-checked=\"{checked}\" data-type=\"taskItem\"><label><input type=\"checkbox\"{}><span></span></label><div>",
                if checked { " checked=\"checked\"" } else { "" }
            ));
            children(out, n);
            out.push_str("</div></li>");
        }
        "codeBlock" => {
            match n.attr_str("language") {
                Some(l) => out.push_str(&format!("<pre><code class=\"language-{}\">", esc(&l))),
                None => out.push_str("<pre><code>"),
            }
            out.push_str(&esc(&n.text_content()));
            out.push_str("</code></pre>");
        }
        "hardBreak" => out.push_str("<br>"),
        "horizontalRule" => out.push_str("<hr>"),
        "image" => {
            out.push_str("<img");
            for key in ["src", "alt", "title", "width", "height"] {
                if let Some(v) = n.attr_str(key) {
                    out.push_str(&format!(" {key}=\"{}\"", esc(&v)));
                }
            }
            out.push('>');
        }
        // Unknown: its children in place, or its text when it has none.
        _ if n.content.is_empty() => out.push_str(&esc(&n.text_content())),
        _ => children(out, n),
    }
}

fn text_node(out: &mut String, text: &str, marks: &[Mark]) {
    let mut closes = Vec::new();
    for m in marks {
        let (open, close) = match m.kind.as_str() {
            "bold" => ("<strong>".to_string(), "</strong>"),
            "italic" => ("<em>".to_string(), "</em>"),
            "underline" => ("<u>".to_string(), "</u>"),
            "strike" => ("<s>".to_string(), "</s>"),
            "code" => ("<code>".to_string(), "</code>"),
            "link" => {
                let mut open = "<a".to_string();
                for key in ["href", "target", "rel", "class", "title"] {
                    if let Some(Value::String(v)) = m.attrs.get(key) {
                        open.push_str(&format!(" {key}=\"{}\"", esc(v)));
                    }
                }
                open.push('>');
                (open, "</a>")
            }
            _ => continue,
        };
        out.push_str(&open);
        closes.push(close);
    }
    out.push_str(&esc(text));
    for c in closes.into_iter().rev() {
        out.push_str(c);
    }
}

// ---- HTML → Node ----

/// Parses HTML (a fragment or a whole page) into a ProseMirror document.
pub fn parse(src: &str) -> Node {
    let html = Html::parse_fragment(src);
    let root = html.root_element();
    let mut content = Vec::new();
    walk_children(*root, &[], false, &mut content);
    Node::doc(tidy::blocks(content))
}

fn walk_children(parent: NodeRef<Dom>, marks: &[Mark], pre: bool, out: &mut Vec<Node>) {
    if parent.ancestors().count() >= MAX_DEPTH {
        // Too deep to keep its structure: its text.
        let text: String = parent
            .descendants()
            .filter_map(|d| d.value().as_text().map(|t| t.to_string()))
            .collect();
        let text = if pre { text } else { collapse(&text) };
        if !text.is_empty() {
            out.push(Node::text(text, marks.to_vec()));
        }
        return;
    }
    for child in parent.children() {
        walk(child, marks, pre, out);
    }
}

fn mark(kind: &str, attrs: Map<String, Value>) -> Mark {
    Mark {
        kind: kind.into(),
        attrs,
    }
}

/// Collapses HTML whitespace to single spaces (outside `<pre>`).
fn collapse(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_ascii_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

fn block(kind: &str, attrs: Map<String, Value>, content: Vec<Node>) -> Node {
    Node::element(kind, attrs, content)
}

/// Inline content of a textblock: blocks nested in it (invalid, but parsers keep them) become
/// their inline content.
fn inline_of(el: NodeRef<Dom>, marks: &[Mark]) -> Vec<Node> {
    let mut parts = Vec::new();
    walk_children(el, marks, false, &mut parts);
    let mut flat = Vec::new();
    for p in parts {
        if tidy::is_inline(&p) || p.kind == "image" {
            flat.push(p);
        } else {
            flat.extend(p.content.into_iter().filter(tidy::is_inline));
        }
    }
    // Spaces between words survive; runs of them do not.
    let mut merged = tidy::inline(flat, true);
    for n in &mut merged {
        if let Some(t) = n.text.as_mut() {
            *t = collapse(t);
        }
    }
    tidy::inline(merged, true)
}

fn walk(node: NodeRef<Dom>, marks: &[Mark], pre: bool, out: &mut Vec<Node>) {
    let el = match node.value() {
        Dom::Text(t) => {
            let text = if pre { t.to_string() } else { collapse(t) };
            if !text.is_empty() {
                out.push(Node::text(text, marks.to_vec()));
            }
            return;
        }
        Dom::Element(el) => el,
        _ => return,
    };
    let attr = |k: &str| el.attr(k).map(str::to_string);
    let name = el.name();
    let with = |m: Mark| {
        let mut all = marks.to_vec();
        if !all.iter().any(|o| o.kind == m.kind) {
            all.push(m);
        }
        all
    };
    match name {
        "script" | "style" | "head" | "title" | "template" | "input" => {}
        "p" => out.push(block("paragraph", Map::new(), inline_of(node, marks))),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            let level: u64 = name[1..].parse().unwrap_or(1);
            let mut attrs = Map::new();
            attrs.insert("level".into(), json!(level));
            out.push(block("heading", attrs, inline_of(node, marks)));
        }
        "blockquote" => {
            let mut inner = Vec::new();
            walk_children(node, marks, false, &mut inner);
            out.push(block("blockquote", Map::new(), tidy::blocks(inner)));
        }
        "ul" | "ol" => {
            let task = attr("data-type").as_deref() == Some("taskList");
            let mut items = Vec::new();
            walk_children(node, marks, false, &mut items);
            let mut items = tidy::items(items);
            let mut attrs = Map::new();
            let kind = if task || items.iter().any(|i| i.kind == "taskItem") {
                for i in &mut items {
                    i.kind = "taskItem".into();
                    i.attrs.entry("checked").or_insert(json!(false));
                }
                "taskList"
            } else if name == "ol" {
                let start = attr("start")
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(1);
                attrs.insert("start".into(), json!(start));
                "orderedList"
            } else {
                "bulletList"
            };
            out.push(block(kind, attrs, items));
        }
        "li" => {
            let mut inner = Vec::new();
            walk_children(node, marks, false, &mut inner);
            let checkbox = node.descendants().find_map(|d| match d.value() {
                Dom::Element(e) if e.name() == "input" && e.attr("type") == Some("checkbox") => {
                    Some(e.attr("checked").is_some())
                }
                _ => None,
            });
            let mut attrs = Map::new();
            let kind = match (attr("data-checked"), checkbox) {
                (Some(c), _) => {
                    attrs.insert("checked".into(), json!(c == "true"));
                    "taskItem"
                }
                (None, Some(c)) => {
                    attrs.insert("checked".into(), json!(c));
                    "taskItem"
                }
                _ => "listItem",
            };
            out.push(block(kind, attrs, tidy::blocks(inner)));
        }
        "pre" => {
            let code = node
                .children()
                .find(|c| matches!(c.value(), Dom::Element(e) if e.name() == "code"));
            let class = code
                .and_then(|c| c.value().as_element().and_then(|e| e.attr("class")))
                .or_else(|| el.attr("class"))
                .unwrap_or_default();
            let language = class
                .split_whitespace()
                .find_map(|c| c.strip_prefix("language-"));
            let mut attrs = Map::new();
            if let Some(l) = language {
                attrs.insert("language".into(), json!(l));
            }
            let text: String = node
                .descendants()
                .filter_map(|d| d.value().as_text().map(|t| t.to_string()))
                .collect();
            let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
            let content = if text.is_empty() {
                Vec::new()
            } else {
                vec![Node::text(text, Vec::new())]
            };
            out.push(block("codeBlock", attrs, content));
        }
        "hr" => out.push(block("horizontalRule", Map::new(), Vec::new())),
        "br" => out.push(block("hardBreak", Map::new(), Vec::new())),
        "img" => {
            let mut attrs = Map::new();
            for key in ["src", "alt", "title"] {
                if let Some(v) = attr(key) {
                    attrs.insert(key.into(), json!(v));
                }
            }
            out.push(block("image", attrs, Vec::new()));
        }
        "strong" | "b" => walk_children(node, &with(mark("bold", Map::new())), pre, out),
        "em" | "i" => walk_children(node, &with(mark("italic", Map::new())), pre, out),
        "u" => walk_children(node, &with(mark("underline", Map::new())), pre, out),
        "s" | "strike" | "del" => walk_children(node, &with(mark("strike", Map::new())), pre, out),
        "code" => walk_children(node, &with(mark("code", Map::new())), pre, out),
        "a" => {
            let mut attrs = Map::new();
            for key in ["href", "target", "rel", "class", "title"] {
                if let Some(v) = attr(key) {
                    attrs.insert(key.into(), json!(v));
                }
            }
            if attrs.contains_key("href") {
                walk_children(node, &with(mark("link", attrs)), pre, out);
            } else {
                walk_children(node, marks, pre, out);
            }
        }
        // Anything else (div, span, label, section, table, …): its content in place.
        _ => walk_children(node, marks, pre, out),
    }
}

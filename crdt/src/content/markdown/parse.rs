//! Markdown → ProseMirror: pulldown-cmark's events folded into Tiptap nodes and marks.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde_json::{json, Map, Value};

use crate::content::prosemirror::{Mark, Node, MAX_DEPTH};
use crate::content::tidy;

/// Parses Markdown into a ProseMirror document (Tiptap node and mark names).
pub fn parse(src: &str) -> Node {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut stack: Vec<Node> = vec![Node::doc(Vec::new())];
    let mut marks: Vec<Mark> = Vec::new();
    // Blocks opened beyond MAX_DEPTH: not kept as nodes, their content goes to the deepest one.
    let mut flattened = 0usize;
    for event in Parser::new_ext(src, options) {
        match event {
            Event::Start(tag) => match tag {
                Tag::Emphasis => marks.push(mark("italic", Map::new())),
                Tag::Strong => marks.push(mark("bold", Map::new())),
                Tag::Strikethrough => marks.push(mark("strike", Map::new())),
                Tag::Link {
                    dest_url, title, ..
                } => {
                    let mut attrs = Map::new();
                    attrs.insert("href".into(), json!(dest_url.to_string()));
                    if !title.is_empty() {
                        attrs.insert("title".into(), json!(title.to_string()));
                    }
                    marks.push(mark("link", attrs));
                }
                other if stack.len() >= MAX_DEPTH => {
                    flattened += 1;
                    if matches!(other, Tag::Paragraph | Tag::Item | Tag::Heading { .. }) {
                        push_text(&mut stack, " ", &marks);
                    }
                }
                other => stack.push(open(other)),
            },
            Event::End(end) => match end {
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => {
                    marks.pop();
                }
                _ if flattened > 0 => flattened -= 1,
                _ => {
                    let node = close(stack.pop().unwrap_or_default());
                    if let Some(parent) = stack.last_mut() {
                        parent.content.push(node);
                    }
                }
            },
            Event::Text(t) => push_text(&mut stack, &t, &marks),
            Event::Code(t) => {
                let mut with_code = marks.clone();
                with_code.push(mark("code", Map::new()));
                push_text(&mut stack, &t, &with_code);
            }
            Event::InlineHtml(h) => match html_mark(h.trim()) {
                Some((kind, true)) => marks.push(mark(kind, Map::new())),
                Some((kind, false)) => {
                    if let Some(i) = marks.iter().rposition(|m| m.kind == kind) {
                        marks.remove(i);
                    }
                }
                None => push_text(&mut stack, &h, &marks),
            },
            Event::Html(h) => push_text(&mut stack, h.trim_end_matches('\n'), &marks),
            Event::SoftBreak => push_text(&mut stack, " ", &marks),
            Event::HardBreak => {
                if let Some(top) = stack.last_mut() {
                    top.content
                        .push(Node::element("hardBreak", Map::new(), Vec::new()));
                }
            }
            Event::Rule => {
                if let Some(top) = stack.last_mut() {
                    top.content
                        .push(Node::element("horizontalRule", Map::new(), Vec::new()));
                }
            }
            Event::TaskListMarker(checked) => {
                if let Some(item) = stack.iter_mut().rev().find(|n| n.kind == "listItem") {
                    item.kind = "taskItem".into();
                    item.attrs.insert("checked".into(), json!(checked));
                }
            }
            // Not enabled: footnotes, math, tables, metadata.
            _ => {}
        }
    }
    let mut doc = stack.into_iter().next().unwrap_or_default();
    doc.content = tidy::blocks(doc.content);
    doc
}

/// An inline HTML tag that opens (`true`) or closes a mark: `<u>` (Markdown has no underline)
/// and the tags written where `**`, `*` or `~~` would not read back (see [`inline`]).
fn html_mark(tag: &str) -> Option<(&'static str, bool)> {
    let (name, open) = match tag.strip_prefix("</") {
        Some(rest) => (rest.strip_suffix('>')?, false),
        None => (tag.strip_prefix('<')?.strip_suffix('>')?, true),
    };
    let kind = match name.to_ascii_lowercase().as_str() {
        "u" => "underline",
        "strong" | "b" => "bold",
        "em" | "i" => "italic",
        "s" | "del" | "strike" => "strike",
        _ => return None,
    };
    Some((kind, open))
}

fn mark(kind: &str, attrs: Map<String, Value>) -> Mark {
    Mark {
        kind: kind.into(),
        attrs,
    }
}

fn push_text(stack: &mut [Node], text: &str, marks: &[Mark]) {
    if text.is_empty() {
        return;
    }
    if let Some(top) = stack.last_mut() {
        if top.kind == "codeBlock" {
            top.content.push(Node::text(text, Vec::new()));
        } else {
            top.content.push(Node::text(text, marks.to_vec()));
        }
    }
}

fn open(tag: Tag) -> Node {
    let mut attrs = Map::new();
    let kind = match tag {
        Tag::Paragraph => "paragraph",
        Tag::Heading { level, .. } => {
            let n = match level {
                HeadingLevel::H1 => 1,
                HeadingLevel::H2 => 2,
                HeadingLevel::H3 => 3,
                HeadingLevel::H4 => 4,
                HeadingLevel::H5 => 5,
                HeadingLevel::H6 => 6,
            };
            attrs.insert("level".into(), json!(n));
            "heading"
        }
        Tag::BlockQuote(_) => "blockquote",
        Tag::CodeBlock(kind) => {
            let language = match kind {
                CodeBlockKind::Fenced(info) => info
                    .split_whitespace()
                    .next()
                    .map(str::to_string)
                    .unwrap_or_default(),
                CodeBlockKind::Indented => String::new(),
            };
            if !language.is_empty() {
                attrs.insert("language".into(), json!(language));
            }
            "codeBlock"
        }
        Tag::List(Some(start)) => {
            attrs.insert("start".into(), json!(start));
            "orderedList"
        }
        Tag::List(None) => "bulletList",
        Tag::Item => "listItem",
        Tag::Image {
            dest_url, title, ..
        } => {
            attrs.insert("src".into(), json!(dest_url.to_string()));
            if !title.is_empty() {
                attrs.insert("title".into(), json!(title.to_string()));
            }
            "image"
        }
        // HTML blocks become paragraphs of their text; the rest is not enabled.
        _ => "paragraph",
    };
    Node::element(kind, attrs, Vec::new())
}

/// Finishes a node whose end tag was read.
fn close(mut n: Node) -> Node {
    match n.kind.as_str() {
        "codeBlock" => {
            let mut text = n.text_content();
            if text.ends_with('\n') {
                text.pop();
            }
            n.content = if text.is_empty() {
                Vec::new()
            } else {
                vec![Node::text(text, Vec::new())]
            };
        }
        "image" => {
            let alt = n.text_content();
            if !alt.is_empty() {
                n.attrs.insert("alt".into(), json!(alt));
            }
            n.content.clear();
        }
        "listItem" | "taskItem" | "blockquote" => n.content = tidy::blocks(n.content),
        "bulletList" | "orderedList" => {
            n.content = tidy::items(n.content);
            if n.content.iter().any(|c| c.kind == "taskItem") {
                n.kind = "taskList".into();
                n.attrs.clear();
                for item in &mut n.content {
                    item.kind = "taskItem".into();
                    item.attrs.entry("checked").or_insert(json!(false));
                }
            }
        }
        _ => n.content = tidy::inline(n.content, true),
    }
    n
}

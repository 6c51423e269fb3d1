//! Shapes a parsed tree the way Tiptap's schema wants it, for the Markdown and HTML parsers:
//! inline content in a block container is wrapped in paragraphs, a paragraph of images alone
//! becomes those images (an image is a block in Tiptap), neighbouring text nodes with equal
//! marks are one node.

use super::prosemirror::Node;

/// Nodes that sit inside a paragraph.
pub fn is_inline(n: &Node) -> bool {
    n.is_text() || n.kind == "hardBreak"
}

/// Children of a block container (doc, blockquote, list item): runs of inline nodes become
/// paragraphs (whitespace-only runs are dropped), image-only paragraphs become their images.
pub fn blocks(children: Vec<Node>) -> Vec<Node> {
    let mut out = Vec::new();
    let mut run: Vec<Node> = Vec::new();
    let flush = |run: &mut Vec<Node>, out: &mut Vec<Node>| {
        let inline = inline(std::mem::take(run), true);
        if !inline.is_empty() {
            out.push(Node::element("paragraph", Default::default(), inline));
        }
    };
    for c in children {
        if is_inline(&c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.extend(lift_images(c));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// A paragraph holding only images (and spaces) is those images.
fn lift_images(n: Node) -> Vec<Node> {
    let only_images = n.kind == "paragraph"
        && n.content.iter().any(|c| c.kind == "image")
        && n.content
            .iter()
            .all(|c| c.kind == "image" || c.text.as_deref().is_some_and(|t| t.trim().is_empty()));
    if only_images {
        n.content
            .into_iter()
            .filter(|c| c.kind == "image")
            .collect()
    } else {
        vec![n]
    }
}

/// Inline content: neighbouring texts with equal marks merged, empty texts dropped; with
/// `trim`, leading and trailing spaces of the whole run removed (HTML and Markdown ignore them).
pub fn inline(children: Vec<Node>, trim: bool) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for c in children {
        if let (Some(last), Some(text)) = (out.last_mut(), c.text.as_deref()) {
            if last.is_text() && last.marks == c.marks {
                if let Some(t) = last.text.as_mut() {
                    t.push_str(text);
                }
                continue;
            }
        }
        out.push(c);
    }
    if trim {
        if let Some(t) = out.first_mut().and_then(|n| n.text.as_mut()) {
            *t = t.trim_start().to_string();
        }
        if let Some(t) = out.last_mut().and_then(|n| n.text.as_mut()) {
            *t = t.trim_end().to_string();
        }
    }
    out.retain(|n| n.text.as_deref() != Some(""));
    out
}

/// Children of a list: anything that is not an item (text of a list cut at the nesting limit,
/// stray HTML) goes into an item of its own.
pub fn items(children: Vec<Node>) -> Vec<Node> {
    let mut out = Vec::new();
    let mut stray: Vec<Node> = Vec::new();
    let flush = |stray: &mut Vec<Node>, out: &mut Vec<Node>| {
        let content = blocks(std::mem::take(stray));
        if !content.is_empty() {
            out.push(Node::element("listItem", Default::default(), content));
        }
    };
    for c in children {
        if c.kind == "listItem" || c.kind == "taskItem" {
            flush(&mut stray, &mut out);
            out.push(c);
        } else {
            stray.push(c);
        }
    }
    flush(&mut stray, &mut out);
    out
}

//! ProseMirror → Markdown, written so that it reads back to the same document.

use serde_json::Value;

use super::parse::parse;
use crate::content::prosemirror::{Mark, Node};
use crate::content::tidy;

/// Writes a ProseMirror document as Markdown (ending with one newline, or empty).
pub fn render(doc: &Node) -> String {
    let out = blocks(&doc.content, false);
    if out.is_empty() {
        out
    } else {
        out + "\n"
    }
}

/// Blocks separated by a blank line (`tight`: by a line break, inside a tight list item).
fn blocks(nodes: &[Node], tight: bool) -> String {
    let sep = if tight { "\n" } else { "\n\n" };
    let mut parts: Vec<String> = Vec::new();
    let mut inline_run: Vec<Node> = Vec::new();
    let mut prev: Option<&Node> = None;
    let mut alt = false;
    for n in nodes {
        if tidy::is_inline(n) || (!is_known_block(&n.kind) && n.content.iter().all(tidy::is_inline))
        {
            // Inline content at block level, or an unknown node: a paragraph of its text.
            if is_known_block(&n.kind) || n.is_text() || n.kind == "hardBreak" {
                inline_run.push(n.clone());
            } else {
                inline_run.push(Node::text(n.text_content(), Vec::new()));
            }
            continue;
        }
        if !inline_run.is_empty() {
            parts.push(inline(&std::mem::take(&mut inline_run)));
        }
        // Two lists in a row would read as one: the second one takes the other marker.
        let same_list = |a: &str, b: &str| {
            let bullet = |k: &str| matches!(k, "bulletList" | "taskList");
            (bullet(a) && bullet(b)) || (a == "orderedList" && b == "orderedList")
        };
        alt = !alt && prev.is_some_and(|p: &Node| same_list(&p.kind, &n.kind));
        parts.push(if alt { list(n, true) } else { block(n) });
        prev = Some(n);
    }
    if !inline_run.is_empty() {
        parts.push(inline(&inline_run));
    }
    parts.retain(|p| !p.is_empty());
    parts.join(sep)
}

fn is_known_block(kind: &str) -> bool {
    matches!(
        kind,
        "paragraph"
            | "heading"
            | "blockquote"
            | "codeBlock"
            | "bulletList"
            | "orderedList"
            | "taskList"
            | "listItem"
            | "taskItem"
            | "horizontalRule"
            | "image"
            | "doc"
    )
}

fn block(n: &Node) -> String {
    match n.kind.as_str() {
        "paragraph" => inline(&n.content),
        "heading" => {
            let level = n.attr_u64("level").unwrap_or(1).clamp(1, 6) as usize;
            let text = inline(&n.content).replace("\\\n", " ");
            format!("{} {}", "#".repeat(level), text)
        }
        "blockquote" => prefix_lines(&blocks(&n.content, false), "> ", ">"),
        "codeBlock" => {
            let text = n.text_content();
            let longest = longest_run(&text, '`');
            let fence = "`".repeat(longest.max(2) + 1);
            let language = n.attr_str("language").unwrap_or_default();
            if text.is_empty() {
                format!("{fence}{language}\n{fence}")
            } else {
                format!("{fence}{language}\n{text}\n{fence}")
            }
        }
        "bulletList" | "orderedList" | "taskList" => list(n, false),
        "horizontalRule" => "***".into(),
        "image" => image(n),
        // An unknown node with block children: its children in place.
        _ => blocks(&n.content, false),
    }
}

/// A list; `alt`: with the other marker (`*`, `1)`), after a list of the same kind.
fn list(n: &Node, alt: bool) -> String {
    let tight = n.content.iter().all(|item| {
        item.content
            .iter()
            .filter(|c| c.kind == "paragraph")
            .count()
            <= 1
    });
    let start = n.attr_u64("start").unwrap_or(1);
    let items: Vec<String> = n
        .content
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let marker = match n.kind.as_str() {
                "orderedList" => format!("{}{} ", start + i as u64, if alt { ")" } else { "." }),
                "taskList" => {
                    let checked = item.attrs.get("checked") == Some(&Value::Bool(true));
                    let bullet = if alt { "*" } else { "-" };
                    format!("{bullet} [{}] ", if checked { "x" } else { " " })
                }
                _ if alt => "* ".into(),
                _ => "- ".into(),
            };
            let body = blocks(&item.content, tight);
            let indent = if n.kind == "taskList" {
                2
            } else {
                marker.len()
            };
            let pad = " ".repeat(indent);
            let mut lines = body.lines();
            let mut out = format!("{marker}{}", lines.next().unwrap_or_default());
            for line in lines {
                out.push('\n');
                if !line.is_empty() {
                    out.push_str(&pad);
                    out.push_str(line);
                }
            }
            out.trim_end().to_string()
        })
        .collect();
    items.join(if tight { "\n" } else { "\n\n" })
}

fn prefix_lines(text: &str, prefix: &str, empty: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                empty.to_string()
            } else {
                format!("{prefix}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut now) = (0, 0);
    for ch in text.chars() {
        now = if ch == c { now + 1 } else { 0 };
        best = best.max(now);
    }
    best
}

fn image(n: &Node) -> String {
    let alt = escape(&n.attr_str("alt").unwrap_or_default(), false);
    let src = n.attr_str("src").unwrap_or_default();
    let src = if src.contains([' ', '(', ')']) {
        format!("<{src}>")
    } else {
        src
    };
    match n.attr_str("title") {
        Some(t) if !t.is_empty() => format!("![{alt}]({src} \"{}\")", t.replace('"', "\\\"")),
        _ => format!("![{alt}]({src})"),
    }
}

/// How bold, italic and strike are written: Markdown delimiters, or HTML tags where the
/// delimiters would not read back (CommonMark's flanking rules: `**a.**b` is not bold).
#[derive(Clone, Copy, PartialEq)]
enum Style {
    Markdown,
    Html,
}

/// Marks Markdown can write, with their opening and closing text.
fn delimiters(m: &Mark, style: Style) -> Option<(String, String)> {
    let pair = |o: &str, c: &str| Some((o.to_string(), c.to_string()));
    match (m.kind.as_str(), style) {
        ("bold", Style::Markdown) => pair("**", "**"),
        ("italic", Style::Markdown) => pair("*", "*"),
        ("strike", Style::Markdown) => pair("~~", "~~"),
        ("bold", Style::Html) => pair("<strong>", "</strong>"),
        ("italic", Style::Html) => pair("<em>", "</em>"),
        ("strike", Style::Html) => pair("<s>", "</s>"),
        ("underline", _) => pair("<u>", "</u>"),
        ("link", _) => {
            let href = m
                .attrs
                .get("href")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let href = if href.contains([' ', '(', ')']) {
                format!("<{href}>")
            } else {
                href.to_string()
            };
            let close = match m.attrs.get("title").and_then(Value::as_str) {
                Some(t) if !t.is_empty() => format!("]({href} \"{}\")", t.replace('"', "\\\"")),
                _ => format!("]({href})"),
            };
            Some(("[".into(), close))
        }
        _ => None,
    }
}

/// Inline content in Markdown delimiters, or with HTML tags for bold, italic and strike when
/// the delimiters would not read back as the same marks.
fn inline(nodes: &[Node]) -> String {
    let md = inline_in(nodes, Style::Markdown);
    let reread = parse(&md);
    let same = match reread.content.as_slice() {
        [] => marked(nodes).is_empty(),
        [p] if p.kind == "paragraph" => marked(&p.content) == marked(nodes),
        _ => false,
    };
    if same {
        md
    } else {
        inline_in(nodes, Style::Html)
    }
}

/// Each character (or atom) of inline content with its Markdown-writable marks; spaces carry
/// none (they are moved out of marks) and the ends are trimmed (Markdown ignores them).
fn marked(nodes: &[Node]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for n in nodes {
        let mut marks: Vec<String> = n
            .marks
            .iter()
            .filter(|m| m.kind == "code" || delimiters(m, Style::Html).is_some())
            // What Markdown keeps of a mark: a link's href and title only.
            .map(|m| match m.kind.as_str() {
                "link" => format!(
                    "link {:?} {:?}",
                    m.attrs.get("href").and_then(Value::as_str),
                    m.attrs
                        .get("title")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                ),
                other => other.to_string(),
            })
            .collect();
        marks.sort();
        match &n.text {
            Some(t) => {
                for c in t.replace('\n', " ").chars() {
                    let m = if c == ' ' { Vec::new() } else { marks.clone() };
                    out.push((c.to_string(), m));
                }
            }
            None => out.push((format!("<{}>", n.kind), Vec::new())),
        }
    }
    let start = out.iter().position(|(c, _)| c != " ").unwrap_or(out.len());
    let end = out
        .iter()
        .rposition(|(c, _)| c != " ")
        .map_or(start, |e| e + 1);
    out[start..end.max(start)].to_vec()
}

/// Inline content: marks opened and closed as few times as they can be, spaces moved out of
/// them (`** a**` is not bold in CommonMark).
fn inline_in(nodes: &[Node], style: Style) -> String {
    let mut out = String::new();
    let mut open: Vec<&Mark> = Vec::new();
    let mut pending_space = String::new();
    for (i, n) in nodes.iter().enumerate() {
        let (text, wanted, code) = match &n.text {
            Some(t) => (
                t.replace('\n', " "),
                n.marks
                    .iter()
                    .filter(|m| delimiters(m, style).is_some())
                    .collect::<Vec<_>>(),
                n.marks.iter().any(|m| m.kind == "code"),
            ),
            None if n.kind == "hardBreak" => {
                close_to(&mut out, &mut open, 0, style);
                out.push_str(&std::mem::take(&mut pending_space));
                out.push_str("\\\n");
                continue;
            }
            None if n.kind == "image" => (String::new(), Vec::new(), false),
            None => (n.text_content(), Vec::new(), false),
        };
        if n.kind == "image" {
            close_to(&mut out, &mut open, 0, style);
            out.push_str(&std::mem::take(&mut pending_space));
            out.push_str(&image(n));
            continue;
        }
        let core = text.trim_matches(' ');
        if core.is_empty() {
            pending_space.push_str(&text);
            continue;
        }
        let lead = &text[..text.len() - text.trim_start_matches(' ').len()];
        let trail = &text[text.trim_end_matches(' ').len()..];
        let keep = open.iter().take_while(|m| wanted.contains(*m)).count();
        close_to(&mut out, &mut open, keep, style);
        out.push_str(&std::mem::take(&mut pending_space));
        out.push_str(lead);
        // Marks to open: those that last longest go outside.
        let mut new: Vec<&Mark> = wanted.into_iter().filter(|m| !open.contains(m)).collect();
        let reach = |m: &Mark| {
            nodes[i..]
                .iter()
                .take_while(|later| later.marks.contains(m))
                .count()
        };
        new.sort_by_key(|m| std::cmp::Reverse(reach(m)));
        for m in new {
            if let Some((o, _)) = delimiters(m, style) {
                out.push_str(&o);
            }
            open.push(m);
        }
        if code {
            out.push_str(&code_span(core));
        } else {
            let at_start = out.is_empty() || out.ends_with('\n');
            out.push_str(&escape(core, at_start));
        }
        pending_space = trail.to_string();
    }
    close_to(&mut out, &mut open, 0, style);
    out
}

fn close_to(out: &mut String, open: &mut Vec<&Mark>, keep: usize, style: Style) {
    while open.len() > keep {
        if let Some((_, c)) = open.pop().and_then(|m| delimiters(m, style)) {
            out.push_str(&c);
        }
    }
}

fn code_span(text: &str) -> String {
    let fence = "`".repeat(longest_run(text, '`') + 1);
    if text.starts_with('`') || text.ends_with('`') {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

/// Backslash-escapes what Markdown would read as syntax (`line_start`: also what would start
/// a block there).
fn escape(text: &str, line_start: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let escape = match c {
            '\\' | '*' | '_' | '`' | '[' | ']' | '~' | '<' | '>' | '|' => true,
            '&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#'),
            '!' => next == Some('['),
            '#' | '+' | '-' | '=' => line_start && i == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    if line_start {
        // `1. ` or `1) ` would start an ordered list.
        let digits = text.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && matches!(chars.get(digits), Some('.') | Some(')')) {
            let mut escaped = out[..digits].to_string();
            escaped.push('\\');
            escaped.push_str(&out[digits..]);
            return escaped;
        }
    }
    out
}

//! Markdown and HTML through a Y.XmlFragment and back: a document imported then exported reads
//! the same, on a corpus of CommonMark with GFM task lists and strikethrough.

use serde_json::json;
use weft_crdt::content::convert::{export, export_json, import};
use weft_crdt::content::{Format, Mode};
use yrs::updates::decoder::Decode;
use yrs::{Doc, Transact, Update};

/// Imports `body` into a fresh document (through an update another peer applies) and exports
/// it from that peer.
fn through_yjs(body: &str, from: Format, to: Format) -> String {
    let doc = Doc::new();
    let update = import(&doc, "default", from, body, Mode::Replace).expect("import");
    let peer = Doc::new();
    peer.transact_mut()
        .apply_update(Update::decode_v1(&update).expect("decode"))
        .expect("apply");
    export(&peer, "default", to).expect("export")
}

/// Markdown that comes back byte for byte.
const CANONICAL: &[&str] = &[
    "# Title\n",
    "## Second *level*\n",
    "Plain paragraph with **bold**, *italic*, ~~strike~~, <u>underline</u> and `code`.\n",
    "A [link](https://example.com/a) and a [titled one](https://x.test \"Title\").\n",
    "***bold italic*** and **bold *nested* bold**\n",
    "First paragraph\n\nSecond paragraph\n",
    "Line one\\\nline two\n",
    "- one\n- two\n- three\n",
    "1. one\n2. two\n",
    "3. three\n4. four\n",
    "- [ ] todo\n- [x] done\n",
    "- outer\n  - inner\n  - inner two\n- outer two\n",
    "1. first\n   - nested bullet\n2. second\n",
    "- para one\n\n  para two\n\n- next\n",
    "> quoted\n>\n> - list in quote\n",
    "```rust\nfn main() {}\n```\n",
    "```\nno language\n```\n",
    "````\ncode with ``` inside\n````\n",
    "***\n",
    "![alt text](https://img.test/a.png \"A title\")\n",
    "Escapes: \\*not bold\\*, \\[not a link\\], a\\_b, 5 \\> 3\n",
    "\\# not a heading\n",
    "1\\. not a list\n",
    "Mixed **bold [link](https://l.test)** end\n",
    "``code with ` tick``\n",
    "`` `tick first ``\n",
    "- a\n\n* b\n",
    "1. a\n\n1) b\n",
    "Text ~~struck *and italic*~~ done\n",
];

/// Markdown written differently, which must settle after one trip.
const VARIANTS: &[&str] = &[
    "Title\n=====\n\nSub\n---\n",
    "* star list\n+ plus list\n",
    "__bold__ and _italic_\n",
    "    indented code\n",
    "soft\nbreak\n",
    "trailing spaces  \nhard break\n",
    "<div>html block</div>\n",
    "Inline <span>html</span> here\n",
    "1) paren list\n",
    "- [ ] a\n  continued\n- [x] b\n",
    "Auto <https://auto.link> link\n",
    "Image ![inline](i.png) in text\n",
    "***\n---\n___\n",
    "> a\nlazy continuation\n",
    "&amp; entity &copy;\n",
];

#[test]
fn canonical_markdown_comes_back_unchanged() {
    for md in CANONICAL {
        let out = through_yjs(md, Format::Markdown, Format::Markdown);
        assert_eq!(&out, md, "markdown changed on a trip through Yjs");
    }
}

#[test]
fn any_markdown_is_stable_after_one_trip() {
    for md in CANONICAL.iter().chain(VARIANTS) {
        let once = through_yjs(md, Format::Markdown, Format::Markdown);
        let twice = through_yjs(&once, Format::Markdown, Format::Markdown);
        assert_eq!(once, twice, "not stable: {md:?}");
        // The same document through HTML.
        let html = through_yjs(&once, Format::Markdown, Format::Html);
        let back = through_yjs(&html, Format::Html, Format::Markdown);
        assert_eq!(
            once, back,
            "markdown → html → markdown differs for {md:?} (html {html})"
        );
    }
}

#[test]
fn markdown_becomes_tiptap_json() {
    let doc = Doc::new();
    import(
        &doc,
        "default",
        Format::Markdown,
        "# Hi\n\n- [x] **done** [l](https://l.test)\n\n```js\nx\n```\n",
        Mode::Replace,
    )
    .expect("import");
    let json = export_json(&doc, "default").expect("export");
    assert_eq!(
        json,
        json!({"type": "doc", "content": [
            {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Hi"}]},
            {"type": "taskList", "content": [
                {"type": "taskItem", "attrs": {"checked": true}, "content": [
                    {"type": "paragraph", "content": [
                        {"type": "text", "text": "done", "marks": [{"type": "bold", "attrs": {}}]},
                        {"type": "text", "text": " "},
                        {"type": "text", "text": "l", "marks": [{"type": "link", "attrs": {"href": "https://l.test"}}]},
                    ]}
                ]}
            ]},
            {"type": "codeBlock", "attrs": {"language": "js"}, "content": [{"type": "text", "text": "x"}]},
        ]})
    );
}

#[test]
fn append_adds_after_and_replace_replaces() {
    let doc = Doc::new();
    import(&doc, "default", Format::Markdown, "one\n", Mode::Replace).expect("import");
    import(&doc, "default", Format::Html, "<p>two</p>", Mode::Append).expect("append");
    assert_eq!(
        export(&doc, "default", Format::Markdown).expect("export"),
        "one\n\ntwo\n"
    );
    import(&doc, "default", Format::Markdown, "three\n", Mode::Replace).expect("replace");
    assert_eq!(
        export(&doc, "default", Format::Html).expect("export"),
        "<p>three</p>"
    );
}

#[test]
fn unknown_nodes_and_marks_keep_their_text() {
    let doc = Doc::new();
    let pm = json!({"type": "doc", "content": [
        {"type": "callout", "attrs": {"tone": "warn"}, "content": [
            {"type": "paragraph", "content": [
                {"type": "text", "text": "careful", "marks": [{"type": "highlight", "attrs": {"color": "red"}}]},
                {"type": "mention", "attrs": {"id": "7", "label": "@ann"}},
            ]}
        ]},
        {"type": "widget", "attrs": {"label": "a widget"}},
    ]});
    import(
        &doc,
        "default",
        Format::ProseMirror,
        &pm.to_string(),
        Mode::Replace,
    )
    .expect("import");
    assert_eq!(export_json(&doc, "default").expect("json"), pm);
    assert_eq!(
        export(&doc, "default", Format::Markdown).expect("md"),
        "careful@ann\n\na widget\n"
    );
    assert_eq!(
        export(&doc, "default", Format::Html).expect("html"),
        "<p>careful@ann</p>a widget"
    );
}

#[test]
fn html_from_elsewhere_reads_as_tiptap_content() {
    let html = "<h2>Head</h2>\n<p>Some <b>bold</b> and <i>it</i>,\n  <a href=\"https://a.test\">a</a><br>next</p>\
                <ul data-type=\"taskList\"><li data-checked=\"true\"><label><input type=\"checkbox\" checked></label><div><p>t</p></div></li></ul>\
                <ol start=\"3\"><li>x</li></ol><pre><code class=\"language-py\">print(1)\n</code></pre><hr><img src=\"i.png\" alt=\"i\"><script>evil()</script>";
    let md = through_yjs(html, Format::Html, Format::Markdown);
    assert_eq!(
        md,
        "## Head\n\nSome **bold** and *it*, [a](https://a.test)\\\nnext\n\n- [x] t\n\n3. x\n\n```py\nprint(1)\n```\n\n***\n\n![i](i.png)\n"
    );
}

#[test]
fn bad_prosemirror_json_is_refused_with_its_path() {
    let doc = Doc::new();
    let bad = json!({"type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "a", "marks": [{"type": 5}]}
    ]}]});
    let e = import(
        &doc,
        "default",
        Format::ProseMirror,
        &bad.to_string(),
        Mode::Replace,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("content[0].content[0].marks[0].type"),
        "{e}"
    );
    let e = import(&doc, "default", Format::ProseMirror, "{", Mode::Replace).unwrap_err();
    assert!(e.to_string().contains("not JSON"), "{e}");
}

#[test]
fn text_roots_are_not_rich_text() {
    let doc = Doc::new();
    import(&doc, "notes", Format::Text, "plain", Mode::Replace).expect("text");
    import(&doc, "notes", Format::Text, " more", Mode::Append).expect("text");
    assert_eq!(
        export(&doc, "notes", Format::Text).expect("text"),
        "plain more"
    );
    assert!(export(&doc, "notes", Format::Markdown).is_err());
    assert!(import(&doc, "notes", Format::Html, "<p>x</p>", Mode::Replace).is_err());
    assert!(export(&doc, "missing", Format::Markdown).is_err());
}

mod generated {
    //! Random Tiptap documents: ProseMirror JSON → Yjs → JSON is a fixed point that keeps every
    //! character's marks, and their Markdown survives a trip through Yjs unchanged.

    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    const MARKS: [&str; 5] = ["bold", "italic", "strike", "code", "link"];

    fn run() -> impl Strategy<Value = (String, Vec<usize>)> {
        (
            "[a-z]{1,6}( [a-z]{1,6}){0,2}",
            proptest::sample::subsequence((0..MARKS.len()).collect::<Vec<_>>(), 0..3),
        )
    }

    fn doc() -> impl Strategy<Value = Value> {
        let block = (0u8..3, proptest::collection::vec(run(), 1..5));
        proptest::collection::vec(block, 1..4).prop_map(|blocks| {
            let content: Vec<Value> = blocks
                .into_iter()
                .map(|(kind, runs)| {
                    let text: Vec<Value> = runs
                        .into_iter()
                        .map(|(text, marks)| {
                            let marks: Vec<Value> = marks
                                .into_iter()
                                .map(|m| match MARKS[m] {
                                    "link" => json!({"type": "link", "attrs": {"href": "https://l.test"}}),
                                    name => json!({"type": name, "attrs": {}}),
                                })
                                .collect();
                            if marks.is_empty() {
                                json!({"type": "text", "text": text})
                            } else {
                                json!({"type": "text", "text": text, "marks": marks})
                            }
                        })
                        .collect();
                    match kind {
                        0 => json!({"type": "paragraph", "content": text}),
                        1 => json!({"type": "heading", "attrs": {"level": 2}, "content": text}),
                        _ => json!({"type": "blockquote", "content": [{"type": "paragraph", "content": text}]}),
                    }
                })
                .collect();
            json!({"type": "doc", "content": content})
        })
    }

    /// Each character with the set of its mark names, in document order.
    fn marked_chars(v: &Value, out: &mut Vec<(char, Vec<String>)>) {
        if let Some(text) = v["text"].as_str() {
            let mut marks: Vec<String> = v["marks"]
                .as_array()
                .map(|m| m.iter().map(|m| m["type"].to_string()).collect())
                .unwrap_or_default();
            marks.sort();
            out.extend(text.chars().map(|c| (c, marks.clone())));
        }
        for c in v["content"].as_array().into_iter().flatten() {
            marked_chars(c, out);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn prosemirror_json_through_yjs_is_a_fixed_point(pm in doc()) {
            let once: Value = serde_json::from_str(&through_yjs(&pm.to_string(), Format::ProseMirror, Format::ProseMirror)).expect("json");
            let twice: Value = serde_json::from_str(&through_yjs(&once.to_string(), Format::ProseMirror, Format::ProseMirror)).expect("json");
            prop_assert_eq!(&once, &twice);
            let (mut want, mut got) = (Vec::new(), Vec::new());
            marked_chars(&pm, &mut want);
            marked_chars(&once, &mut got);
            prop_assert_eq!(want, got);
            let md = through_yjs(&once.to_string(), Format::ProseMirror, Format::Markdown);
            prop_assert_eq!(&through_yjs(&md, Format::Markdown, Format::Markdown), &md);
        }
    }
}

#[test]
fn tiptap_link_attributes_do_not_change_the_markdown() {
    let doc = Doc::new();
    let pm = json!({"type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "a "},
        {"type": "text", "text": "bold", "marks": [{"type": "bold", "attrs": {}}]},
        {"type": "text", "text": " and "},
        {"type": "text", "text": "link", "marks": [{"type": "link", "attrs": {
            "href": "https://l.test", "target": "_blank", "rel": "noopener noreferrer nofollow", "class": null, "title": null}}]},
    ]}]});
    import(
        &doc,
        "default",
        Format::ProseMirror,
        &pm.to_string(),
        Mode::Replace,
    )
    .expect("import");
    assert_eq!(
        export(&doc, "default", Format::Markdown).expect("md"),
        "a **bold** and [link](https://l.test)\n"
    );
}

#[test]
fn deep_nesting_is_cut_not_a_stack_overflow() {
    // Deeper than the tree keeps (its text survives), within what the parsers may read.
    let depth = 1_000;
    for (body, format) in [
        (format!("{}deep\n", "> ".repeat(depth)), Format::Markdown),
        (format!("{}deep\n", "- ".repeat(depth)), Format::Markdown),
        (
            format!("{}deep", "<blockquote>".repeat(depth)),
            Format::Html,
        ),
        (
            format!("{}deep", "<div><b>".repeat(depth / 2)),
            Format::Html,
        ),
    ] {
        let t = std::time::Instant::now();
        for to in [Format::Markdown, Format::Html, Format::ProseMirror] {
            let out = through_yjs(&body, format, to);
            assert!(
                out.contains("deep"),
                "{format:?} → {to:?}: {}",
                &out[out.len().saturating_sub(300)..]
            );
        }
        assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    }
    // Deeper still: refused before parsing (the parsers are quadratic in it).
    for (body, format) in [
        ("> ".repeat(50_000), Format::Markdown),
        ("<div><b>".repeat(50_000), Format::Html),
    ] {
        let e = import(&Doc::new(), "default", format, &body, Mode::Replace).unwrap_err();
        assert!(e.to_string().contains("levels deep"), "{e}");
    }
}

//! `weft export` and `weft import` against the real binary and an embedded store: Markdown in,
//! every format out, a Yjs update carried to another document, `--append`, a version kept before
//! a replace, and clear errors for a missing document or a wrong root type.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::weft_bin;

fn weft(data: &Path, args: &[&str]) -> Output {
    Command::new(weft_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run weft")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "weft failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn import_then_export_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let md = dir.path().join("in.md");
    std::fs::write(&md, "# Notes\n\n- [x] **done**\n- [ ] todo\n").expect("write");
    let md = md.to_str().expect("path");

    ok(weft(&data, &["import", "notes", md, "--type", "markdown"]));
    assert_eq!(
        ok(weft(&data, &["export", "notes", "--type", "markdown"])),
        "# Notes\n\n- [x] **done**\n- [ ] todo\n"
    );
    let pm: serde_json::Value = serde_json::from_str(&ok(weft(
        &data,
        &["export", "notes", "--type", "prosemirror"],
    )))
    .expect("json");
    assert_eq!(pm["content"][1]["type"], "taskList");
    assert!(ok(weft(&data, &["export", "notes", "--type", "html"])).starts_with("<h1>Notes</h1>"));

    // The whole state as an update, into another document.
    let update = dir.path().join("notes.bin");
    let update = update.to_str().expect("path");
    ok(weft(
        &data,
        &["export", "notes", "--type", "update", "-o", update],
    ));
    ok(weft(&data, &["import", "copy", update, "--type", "update"]));
    assert_eq!(
        ok(weft(&data, &["export", "copy", "--type", "markdown"])),
        "# Notes\n\n- [x] **done**\n- [ ] todo\n"
    );

    // Append, then replace (which keeps a version of what it replaced).
    ok(weft(
        &data,
        &["import", "notes", md, "--type", "markdown", "--append"],
    ));
    let twice = ok(weft(&data, &["export", "notes", "--type", "markdown"]));
    assert_eq!(twice.matches("# Notes").count(), 2);
    let html = dir.path().join("in.html");
    std::fs::write(&html, "<p>replaced</p>").expect("write");
    ok(weft(
        &data,
        &[
            "import",
            "notes",
            html.to_str().expect("path"),
            "--type",
            "html",
        ],
    ));
    assert_eq!(
        ok(weft(&data, &["export", "notes", "--type", "markdown"])),
        "replaced\n"
    );
    let conn = rusqlite::Connection::open(data.join("weft.sqlite3")).expect("open");
    let versions: i64 = conn
        .query_row("SELECT count(*) FROM versions", [], |r| r.get(0))
        .expect("count");
    assert!(versions >= 1, "a version before the replace");

    // Errors say what is wrong.
    let missing = weft(&data, &["export", "nope", "--type", "markdown"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no document named"));
    let wrong = weft(&data, &["export", "notes", "--type", "text"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("needs a Y.Text"));
}

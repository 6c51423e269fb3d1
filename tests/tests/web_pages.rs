//! Black-box tests of the web client's routes against the real `weft` binary: every document
//! page answers its HTML for a name given with `/` either way (`/d/notes/plan` and
//! `/d/notes%2Fplan`, the API's spelling), and a missing build asset stays a 404.

mod common;

use common::*;

/// The pages of a web-client build, each with a body that says which file it is.
const PAGES: [&str; 5] = ["index", "code", "monaco", "quill", "data"];

/// Starts a server whose web directory holds one small HTML file per page. The test harness
/// points `--web-dir` at `{data}/no-web`, so the fake build goes there.
fn server_with_pages(dir: &std::path::Path) -> Server {
    let web = dir.join("no-web");
    std::fs::create_dir_all(web.join("assets")).expect("web dir");
    for page in PAGES {
        std::fs::write(web.join(format!("{page}.html")), format!("page:{page}")).expect("page");
    }
    std::fs::write(web.join("assets/app.js"), "console.log(1)").expect("asset");
    Server::start(dir, &[])
}

#[test]
fn every_page_accepts_a_slash_in_the_name_either_way() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_pages(dir.path());
    let routes = [
        ("d", "index"),
        ("code", "code"),
        ("monaco", "monaco"),
        ("quill", "quill"),
        ("data", "data"),
    ];
    for (prefix, page) in routes {
        for name in [
            "notes/plan",
            "notes%2Fplan",
            "notes%2fplan",
            "a%2Fb/c%2Fd",
            "plain",
        ] {
            let path = format!("/{prefix}/{name}");
            let (status, body) = http_get(server.port, &path).expect("GET");
            assert_eq!(status, 200, "GET {path}: {body}");
            assert_eq!(body, format!("page:{page}"), "GET {path}");
        }
    }
}

#[test]
fn files_and_fallbacks_are_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = server_with_pages(dir.path());
    let get = |path: &str| http_get(server.port, path).expect("GET");
    assert_eq!(get("/"), (200, "page:index".into()));
    assert_eq!(get("/code.html"), (200, "page:code".into()));
    assert_eq!(get("/assets/app.js"), (200, "console.log(1)".into()));
    assert_eq!(
        get("/assets/missing.js").0,
        404,
        "a missing asset is no page"
    );
    assert_eq!(get("/somewhere/else"), (200, "page:index".into()));
    assert_eq!(get("/d/"), (200, "page:index".into()));
}

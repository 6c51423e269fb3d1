//! The web client: files from the built `web-client/dist` (gzip-compressed when the browser
//! accepts it). A path `/{page}/{name}` whose `{page}.html` is in the build gets that page
//! (`/code/notes` → `code.html`); every other app route (`/`, `/d/{name}`) gets `index.html`.
//! Without a build, `/` explains how to make one instead of answering 404.
//!
//! The page routes (`/d/{name}`, `/{page}/{name}`) are matched before the files: a name may
//! carry its `/` as `%2F` (`/d/notes%2Fplan`, as the API spells it), which actix-files refuses
//! as a file path with 400 "segment contained invalid character".

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::middleware::Compress;
use actix_web::{guard, web, HttpRequest, HttpResponse};

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Weft</title>\
<h1>Weft is running</h1><p>The web client has not been built. Run <code>./scripts/run.sh</code> \
(or <code>npm ci &amp;&amp; npm run build</code> in <code>web-client/</code>), or point \
<code>--web-dir</code> / <code>WEFT_WEB_DIR</code> at a build.</p>\
<p>Yjs clients connect with the y-websocket provider at <code>ws://HOST:PORT/ws</code>.</p>";

/// Mounts the web client at `/` (call last: it catches every unmatched GET).
pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path) {
    if !dir.join("index.html").is_file() {
        // Called once per worker: say it once.
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| {
            tracing::warn!(dir = %dir.display(), "web client not built; / serves a hint page");
        });
        cfg.route(
            "/",
            web::get()
                .to(|| async { HttpResponse::Ok().content_type("text/html").body(NOT_BUILT) }),
        );
        return;
    }
    let root: PathBuf = dir.to_path_buf();
    // Compression wraps only these files, never the WebSocket upgrade.
    let mut scope = web::scope("").wrap(Compress::default());
    for page in page_prefixes(dir) {
        let root = root.clone();
        scope = scope.route(
            &format!("/{page}/{{name:.*}}"),
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(move |req: HttpRequest| {
                    let file = page_for(&root, req.path());
                    async move {
                        Ok::<_, actix_web::Error>(
                            NamedFile::open_async(file).await?.into_response(&req),
                        )
                    }
                }),
        );
    }
    cfg.service(
        scope.service(
            Files::new("/", dir)
                .index_file("index.html")
                .default_handler(fn_service(move |req: ServiceRequest| {
                    // A missing build asset is a 404 (a stale page must not get HTML as JS);
                    // every other path is a client-side route.
                    let file = if req.path().starts_with("/assets/") {
                        None
                    } else {
                        Some(page_for(&root, req.path()))
                    };
                    async move {
                        let (req, _) = req.into_parts();
                        let res = match file {
                            Some(file) => NamedFile::open_async(file).await?.into_response(&req),
                            None => HttpResponse::NotFound().finish(),
                        };
                        Ok(ServiceResponse::new(req, res))
                    }
                })),
        ),
    );
}

/// The first path segment of every document page: `d` (served by `index.html`) and each
/// `{page}.html` of the build.
fn page_prefixes(dir: &Path) -> Vec<String> {
    let mut pages = vec!["d".to_string()];
    let built = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for entry in built {
        let file = entry.file_name();
        let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(".html")) else {
            continue;
        };
        if is_page_name(stem) && stem != "d" {
            pages.push(stem.to_string());
        }
    }
    pages.sort();
    pages
}

/// A page name can be a path segment of its own: not `index`, only `[A-Za-z0-9_-]`.
fn is_page_name(name: &str) -> bool {
    !name.is_empty()
        && name != "index"
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The HTML page for a client-side route: `{page}.html` for `/{page}/...` when the build has
/// that page, else `index.html`.
fn page_for(root: &Path, path: &str) -> PathBuf {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if is_page_name(first) {
        let page = root.join(format!("{first}.html"));
        if page.is_file() {
            return page;
        }
    }
    root.join("index.html")
}

#[cfg(test)]
mod tests {
    use super::{page_for, page_prefixes};

    #[test]
    fn routes_pick_their_page_and_fall_back_to_the_app() {
        let dir = tempfile::tempdir().expect("tempdir");
        for page in ["index.html", "code.html", "quill.html"] {
            std::fs::write(dir.path().join(page), "x").expect("write page");
        }
        let page = |path: &str| {
            page_for(dir.path(), path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        };
        assert_eq!(page("/code/notes").as_deref(), Some("code.html"));
        assert_eq!(page("/quill/a/b").as_deref(), Some("quill.html"));
        assert_eq!(page("/d/notes").as_deref(), Some("index.html"));
        assert_eq!(page("/monaco/x").as_deref(), Some("index.html"));
        assert_eq!(page("/../etc/x").as_deref(), Some("index.html"));
        assert_eq!(page("/").as_deref(), Some("index.html"));
        assert_eq!(page("/code/notes%2Fplan").as_deref(), Some("code.html"));
        assert_eq!(page_prefixes(dir.path()), ["code", "d", "quill"]);
    }
}

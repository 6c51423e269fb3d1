//! The web client: files from the built `web-client/dist` (gzip-compressed when the browser
//! accepts it), `index.html` for app routes (`/`, `/d/{name}`), `code.html` for `/code/{name}`. Without a build, `/` explains how to
//! make one instead of answering 404.

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::middleware::Compress;
use actix_web::{web, HttpResponse};

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Weft</title>\
<h1>Weft is running</h1><p>The web client has not been built. Run <code>./scripts/run.sh</code> \
(or <code>npm ci &amp;&amp; npm run build</code> in <code>web-client/</code>), or point \
<code>--web-dir</code> / <code>WEFT_WEB_DIR</code> at a build.</p>\
<p>Yjs clients connect with the y-websocket provider at <code>ws://HOST:PORT/ws</code>.</p>";

/// Mounts the web client at `/` (call last: it catches every unmatched GET).
pub fn configure(cfg: &mut web::ServiceConfig, dir: &Path) {
    if !dir.join("index.html").is_file() {
        tracing::warn!(dir = %dir.display(), "web client not built; / serves a hint page");
        cfg.route(
            "/",
            web::get()
                .to(|| async { HttpResponse::Ok().content_type("text/html").body(NOT_BUILT) }),
        );
        return;
    }
    let root: PathBuf = dir.to_path_buf();
    // Compression wraps only these files, never the WebSocket upgrade.
    cfg.service(
        web::scope("").wrap(Compress::default()).service(
            Files::new("/", dir)
                .index_file("index.html")
                .default_handler(fn_service(move |req: ServiceRequest| {
                    // A missing build asset is a 404 (a stale page must not get HTML as JS);
                    // every other path is a client-side route.
                    let page = if req.path().starts_with("/assets/") {
                        None
                    } else if req.path().starts_with("/code/") {
                        Some("code.html")
                    } else {
                        Some("index.html")
                    };
                    let file = page.map(|p| root.join(p));
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

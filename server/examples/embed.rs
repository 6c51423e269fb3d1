//! An application with its own routes and users, and Weft mounted under `/collab`.
//!
//! ```sh
//! cargo run -p weft-server --example embed            # http://127.0.0.1:8090
//! curl http://127.0.0.1:8090/hello                     # the application's own route
//! curl 'http://127.0.0.1:8090/collab/api/v1/documents/notes/content?user=alice'   # 404 until written
//! ```
//!
//! Editors connect with the stock providers, naming the user the way this application's toy
//! login accepts it: `?user=`, an `X-User` header, or as the token (a real application would
//! check its session cookie or verify its own tokens here):
//!
//! ```js
//! new WebsocketProvider('ws://127.0.0.1:8090/collab/ws', 'notes', doc, { params: { user: 'alice' } })
//! new HocuspocusProvider({ url: 'ws://127.0.0.1:8090/collab/hocuspocus', name: 'notes', document: doc, token: 'bob' })
//! ```
//!
//! `alice` reads and writes, `bob` only reads, anyone else is refused (403; 401 without a user).
//! Document events are logged. Ctrl-C commits every document, closes the sessions (1001)
//! and stops. Set `EMBED_LISTEN` and `EMBED_DATA_DIR` to change the address and the folder.

use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpServer};
use serde::Deserialize;
use tracing::info;
use weft::{async_trait, Authorize, Decision, DocName, DocumentHooks, ServeArgs, Weft};

/// The application's users: here the token, a header or a query parameter names them; in a
/// real application, its session cookie or its own verified tokens.
struct AppUsers;

#[derive(Deserialize)]
struct UserQuery {
    user: Option<String>,
}

fn user_of(req: &HttpRequest, token: Option<&str>) -> Option<String> {
    if let Some(user) = token.filter(|t| !t.is_empty()) {
        return Some(user.to_owned());
    }
    if let Some(user) = req.headers().get("x-user").and_then(|v| v.to_str().ok()) {
        return Some(user.to_owned());
    }
    web::Query::<UserQuery>::from_query(req.query_string())
        .ok()?
        .into_inner()
        .user
}

#[async_trait(?Send)]
impl Authorize for AppUsers {
    async fn authorize(&self, req: &HttpRequest, doc: &DocName, token: Option<&str>) -> Decision {
        match user_of(req, token).as_deref() {
            Some("alice") => Decision::write("alice"),
            Some("bob") => Decision::read("bob"),
            Some(other) => {
                info!(user = other, %doc, "refused");
                Decision::forbidden(format!("{other} may not open {doc}"))
            }
            None => Decision::unauthorized("say who you are with ?user= or X-User"),
        }
    }

    async fn authorize_list(&self, req: &HttpRequest, _prefix: &str) -> Decision {
        match user_of(req, None).as_deref() {
            Some("alice") => Decision::read("alice"),
            _ => Decision::forbidden("only alice may list documents"),
        }
    }
}

/// Logs what happens to documents.
struct LogEvents;

#[async_trait]
impl DocumentHooks for LogEvents {
    async fn loaded(&self, doc: &DocName) {
        info!(%doc, "document loaded");
    }

    async fn changed(&self, doc: &DocName, content: &serde_json::Value) {
        info!(%doc, %content, "document changed");
    }

    async fn unloaded(&self, doc: &DocName) {
        info!(%doc, "document unloaded");
    }
}

async fn hello() -> &'static str {
    "hello from the application; Weft is under /collab\n"
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .init();
    let listen = std::env::var("EMBED_LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let data_dir = std::env::var("EMBED_DATA_DIR").unwrap_or_else(|_| "./embed-data".into());

    let mut settings = ServeArgs::for_data_dir(data_dir);
    settings.doc_idle = Duration::from_secs(5);
    let weft = Weft::builder()
        .settings(settings)
        .authorize(AppUsers)
        .hooks(LogEvents)
        .build()
        .await?;

    let mounted = weft.clone();
    let server = HttpServer::new(move || {
        App::new()
            .route("/hello", web::get().to(hello))
            .service(web::scope("/collab").configure(|cfg| mounted.configure(cfg)))
    })
    // Lets Weft reset a WebSocket it closed whose client stopped reading (see `on_connect`).
    .on_connect(weft::ws::on_connect)
    // We stop in order ourselves: Weft first (its sessions would keep a graceful stop waiting).
    .disable_signals()
    .bind(&listen)?
    .run();
    let http = server.handle();
    let serving = actix_web::rt::spawn(server);
    info!("listening on http://{listen} (try /hello, ws://{listen}/collab/ws/notes?user=alice)");

    tokio::signal::ctrl_c().await?;
    info!("stopping");
    http.pause().await;
    if !weft.shutdown(Duration::from_secs(10)).await {
        info!("some documents did not finish in time");
    }
    http.stop(true).await;
    serving.await??;
    Ok(())
}

//! Command line and environment configuration, parsed once into typed values.
//!
//! Every flag has an `env = "WEFT_..."` twin; `weft --help` lists them all with defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Default listen address: loopback, so a fresh clone never exposes documents by accident.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default largest WebSocket message. The first sync of a real document can be megabytes;
/// actix-ws's own defaults (64 KiB frames, 1 MiB continuations) would break it.
pub const DEFAULT_MAX_MESSAGE: &str = "32MiB";

#[derive(Debug, Parser)]
#[command(
    name = "weft",
    version,
    about = "Weft: a durable, fast Yjs sync server (stock y-websocket protocol).",
    long_about = "Weft: a durable, fast Yjs sync server.\n\nAny Yjs editor connects with the stock \
                  y-websocket provider at ws://HOST:PORT/ws/{document}. Documents are committed \
                  to the store before any update is broadcast.\n\nWith no subcommand, `weft` runs \
                  `weft serve`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

// Parsed once at start-up; boxing the large `Serve` variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Apply pending PostgreSQL migrations and exit (`weft serve` also applies them at start-up).
    Migrate(MigrateArgs),
    /// Copy documents (state and versions) between stores: an embedded store's folder and PostgreSQL, either way. Run it again to resume.
    Copy(crate::copy::CopyArgs),
    /// Print a signed access token (needs WEFT_AUTH_SECRET), e.g. `weft token --doc notes/* --access read --ttl 1h`.
    Token(crate::access::TokenArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub pg: PgArgs,
}

/// Where documents are stored: the embedded store by default, PostgreSQL with `DATABASE_URL`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Folder of the embedded store (created if missing). Ignored with --database-url.
    #[arg(long, env = "WEFT_DATA_DIR", default_value = "./weft-data")]
    pub data_dir: PathBuf,

    /// Embedded store durability: `full` fsyncs every commit, `normal` survives process crashes only.
    #[arg(long, env = "WEFT_SQLITE_SYNC", value_enum, default_value_t = SyncMode::Full)]
    pub sqlite_sync: SyncMode,

    #[command(flatten)]
    pub pg: PgArgs,

    /// Most PostgreSQL connections in the pool.
    #[arg(long, env = "WEFT_PG_POOL_SIZE", default_value_t = 16)]
    pub pg_pool_size: usize,
}

/// The PostgreSQL store's connection (shared by `weft serve` and `weft migrate`).
#[derive(Debug, Clone, clap::Args)]
pub struct PgArgs {
    /// PostgreSQL connection URL (postgres://user:pass@host:port/db?sslmode=verify-full). When set, documents are stored there. sslmode: disable, prefer (default), require, verify-ca, verify-full; sslrootcert=/path/ca.pem names the CA (see the README's "Managed PostgreSQL").
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Time allowed to open a PostgreSQL connection or wait for a pooled one.
    #[arg(long, env = "WEFT_PG_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub pg_connect_timeout: Duration,

    /// PostgreSQL statement_timeout for every statement Weft runs.
    #[arg(long, env = "WEFT_PG_STATEMENT_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub pg_statement_timeout: Duration,

    /// CA certificates (PEM file) that sign PostgreSQL's certificate, for sslmode=verify-ca/verify-full (and require, which then checks the CA too). An sslrootcert in the URL takes precedence. Default: Mozilla's roots, compiled in.
    #[arg(long, env = "WEFT_PG_SSLROOTCERT")]
    pub pg_sslrootcert: Option<PathBuf>,
}

impl PgArgs {
    /// The connection settings for `url` (the pool size is the store's: see `pg_settings`).
    pub fn settings(&self, url: &str) -> crate::store::PgSettings {
        crate::store::PgSettings {
            connect_timeout: self.pg_connect_timeout,
            statement_timeout: self.pg_statement_timeout,
            sslrootcert: self.pg_sslrootcert.clone(),
            ..crate::store::PgSettings::new(url)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How hard the embedded store pushes commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncMode {
    /// fsync on every commit: survives power loss as well as `kill -9`.
    Full,
    /// fsync at checkpoints only: survives `kill -9` and crashes of Weft, not power loss.
    Normal,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (HTTP, WebSocket at /ws/{document}).
    #[arg(long, env = "WEFT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Built web client to serve at `/` (index.html fallback for unknown paths).
    #[arg(long, env = "WEFT_WEB_DIR", default_value = "web-client/dist")]
    pub web_dir: PathBuf,

    /// Largest WebSocket message accepted (bytes, or with a unit: 64KiB, 32MiB). Larger ones close the session with 1009.
    #[arg(long, env = "WEFT_MAX_MESSAGE_SIZE", default_value = DEFAULT_MAX_MESSAGE, value_parser = parse_size)]
    pub max_message_size: usize,

    /// Outbound messages queued per connection. A client that falls this far behind is closed with 1013 and resyncs on reconnect.
    #[arg(long, env = "WEFT_SESSION_QUEUE", default_value_t = 4096)]
    pub session_queue: usize,

    /// Bytes queued per connection at most (bytes, or with a unit). A client past it is closed with 1013, like one past --session-queue: a client that stops reading a busy document is let go within seconds, not after thousands of large frames. A single frame larger than this (a large document's first sync) still goes out when nothing is queued before it.
    #[arg(long, env = "WEFT_SESSION_QUEUE_BYTES", default_value = "8MiB", value_parser = parse_size)]
    pub session_queue_bytes: usize,

    /// Commands queued per document actor before sessions wait (backpressure on their sockets).
    #[arg(long, env = "WEFT_DOC_QUEUE", default_value_t = 1024)]
    pub doc_queue: usize,

    /// Interval between WebSocket pings.
    #[arg(long, env = "WEFT_PING_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,

    /// A connection that sends nothing (not even a pong) for this long is closed.
    #[arg(long, env = "WEFT_IDLE_TIMEOUT", default_value = "45s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,

    /// A connection the server closes (idle, slow consumer, refused input, token expiry, document deleted, shutdown) is gone at the TCP level within this, whatever the client does: its close frame is sent, then the socket is reset.
    #[arg(long, env = "WEFT_CLOSE_GRACE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub close_grace: Duration,

    /// Negotiate permessage-deflate (RFC 7692, without context takeover) with clients that offer it: messages from 1 KiB (first syncs, large updates) are compressed once for every such client. Off by default: it saves bandwidth on slow links, but every client then inflates large first syncs itself (200 Node providers joining a 5 MB document at once took 15 s instead of 9).
    #[arg(long, env = "WEFT_PERMESSAGE_DEFLATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub permessage_deflate: bool,

    /// Time a new connection has to complete its TLS handshake and send its request head (the WebSocket upgrade); a connection that sends nothing is closed.
    #[arg(long, env = "WEFT_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub handshake_timeout: Duration,

    /// A document with no connections is flushed and unloaded after this delay.
    #[arg(long, env = "WEFT_DOC_IDLE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub doc_idle: Duration,

    /// Compact a document's update log into its snapshot once it holds this many entries.
    #[arg(long, env = "WEFT_COMPACT_AFTER", default_value_t = 500)]
    pub compact_after: u64,

    /// Uncommitted update bytes a document may hold while the store fails; beyond it writes are refused (close 1013).
    #[arg(long, env = "WEFT_MAX_UNSAVED", default_value = "64MiB", value_parser = parse_size)]
    pub max_unsaved: usize,

    /// Largest document, in stored bytes (approximately); a write beyond it closes its session with 1009.
    #[arg(long, env = "WEFT_MAX_DOCUMENT_SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub max_document_size: usize,

    /// Update bytes a document keeps waiting for missing dependencies; more is refused (1007).
    #[arg(long, env = "WEFT_MAX_PENDING_BYTES", default_value = "8MiB", value_parser = parse_size)]
    pub max_pending_bytes: usize,

    /// Take a version of a document after this many committed updates (0: never by count).
    #[arg(long, env = "WEFT_VERSION_EVERY_UPDATES", default_value_t = 1000)]
    pub version_every_updates: u64,

    /// Take a version of a document edited for this long since its last version (0s: never by time). A version is also taken when its last session leaves.
    #[arg(long, env = "WEFT_VERSION_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub version_interval: Duration,

    /// Versions kept per document; older ones are folded into the oldest kept.
    #[arg(long, env = "WEFT_VERSIONS_KEEP", default_value_t = 100)]
    pub versions_keep: usize,

    /// Largest request body of the document API (bytes, or with a unit).
    #[arg(long, env = "WEFT_MAX_API_BODY", default_value = "32MiB", value_parser = parse_size)]
    pub max_api_body: usize,

    /// Cluster mode over PostgreSQL (see `cluster`).
    #[command(flatten)]
    pub cluster: crate::cluster::ClusterArgs,

    /// Document events sent to a URL (see `webhooks`).
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookArgs,

    /// On SIGINT/SIGTERM, how long to wait for documents to flush before exiting anyway.
    #[arg(long, env = "WEFT_SHUTDOWN_DEADLINE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_deadline: Duration,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "WEFT_WORKERS")]
    pub workers: Option<usize>,

    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `weft=debug`.
    #[arg(long, env = "WEFT_LOG", default_value = "info")]
    pub log: String,

    /// Log line format.
    #[arg(long, env = "WEFT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Tokens, origin allow-list and limits (see `access`).
    #[command(flatten)]
    pub access: crate::access::AccessArgs,

    /// Native TLS (`wss://` without a proxy; see `tls`).
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

impl Cli {
    /// The serve arguments, whether given after `serve` or with no subcommand.
    /// Panics on another subcommand: call it after dispatching those.
    pub fn serve_args(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => args,
            None => self.serve,
            Some(other) => panic!("not a serve command: {other:?}"),
        }
    }
}

impl ServeArgs {
    /// Defaults for tests and embedders: loopback, a given data folder, no web client.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut args = Cli::parse_from(["weft"]).serve_args();
        args.store.data_dir = data_dir.into();
        args.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        args
    }
}

/// Parses `1048576`, `64KiB`, `32MiB`, `1GiB` (also `KB`/`MB`/`GB`, read as binary units).
pub fn parse_size(raw: &str) -> Result<usize, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a size (examples: 65536, 64KiB, 32MiB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{raw:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("32MiB"), Ok(32 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn defaults_parse_without_subcommand() {
        let args = Cli::parse_from(["weft"]).serve_args();
        assert_eq!(args.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(args.max_message_size, 32 << 20);
        let args = Cli::parse_from(["weft", "serve", "--listen", "127.0.0.1:9"]).serve_args();
        assert_eq!(args.listen.port(), 9);
    }
}

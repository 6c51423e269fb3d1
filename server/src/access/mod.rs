//! Who may connect, and how much they may use: checked at the edge, before the WebSocket
//! upgrade, so a refused client never sees a byte of a document.
//!
//! ```text
//!  GET /ws/{doc} ──► name (400) ──► Origin allow-list (403) ──► token (401) ──► scope (403)
//!                                                              (or the embedder's Authorize
//!                                                               hook: 401 / 403, read / write)
//!                ──► connections per document / per IP (429) ──► upgrade ──► session
//!                                                     session: read-only filter, message rate
//!                                                     (1008), awareness size (1009) and rate
//!                                                     (1008), awareness ids (1008), expiry (4401)
//! ```
//!
//! - [`token`]: JWT HS256 claims (`doc`, `access`, `exp`, `user`), minting and verification.
//! - [`gate`]: the pre-upgrade checks, as one [`Gate`] shared by every worker.
//! - [`refusal`]: why a request was refused; each [`Refusal`] maps to one HTTP status and
//!   problem `code` there.
//! - [`authorize`]: the [`Authorize`] hook an embedding application sets to decide access with
//!   its own authentication instead of Weft tokens.
//! - [`mint`]: `POST /api/v1/tokens`, a backend minting tokens with `WEFT_ADMIN_KEY`; the
//!   admin-key check every admin endpoint shares.
//! - [`revoked`]: the revoked token ids (`jti`) admissions refuse (kept by `crate::live`).
//! - [`limits`]: connection counting (RAII permits), the per-connection token buckets and the
//!   awareness screening both endpoints share.
//!
//! This module must not touch documents or the store: it only admits, refuses and counts.

pub mod authorize;
pub mod gate;
pub mod limits;
pub mod mint;
pub mod refusal;
pub mod revoked;
pub mod token;

use std::time::Duration;

pub use authorize::{Authorize, Decision, DenyStatus};
pub use gate::{Admission, ApiTarget, Gate, Grant, SessionLimits};
pub use refusal::Refusal;
pub use revoked::Revocations;
pub use token::{Access, Claims, Keys, TokenError};

/// Default most open connections to one document (far above a real editing room; the
/// `conns` benchmark uses 10 per document, `fanout` 50).
pub const DEFAULT_MAX_CONNS_PER_DOC: usize = 2_000;
/// Default most open connections from one IP address. Behind a reverse proxy every client has
/// the proxy's address: raise it (or set 0) there and limit at the proxy. High enough for the
/// 10,000-connection capacity benchmark from one host.
pub const DEFAULT_MAX_CONNS_PER_IP: usize = 20_000;
/// Default sustained WebSocket messages per second per connection. Typing sends ~10–30, but
/// programmatic clients (imports, AI edits, a replayed editing trace: ~15,000/s) legitimately
/// send far more; the limit is there to stop floods well above that.
pub const DEFAULT_MAX_MESSAGES_PER_SEC: u32 = 20_000;
/// Default token-bucket burst: messages a connection may send at once after being quiet.
pub const DEFAULT_MESSAGE_BURST: u32 = 40_000;
/// Default distinct awareness client ids one connection may introduce (a stock provider uses 1;
/// a reconnect reuses it).
pub const DEFAULT_MAX_AWARENESS_IDS_PER_CONN: usize = 8;
/// Default largest awareness message (its entries' JSON, ids and clocks). A cursor and a user
/// name take a few hundred bytes; presence is broadcast to everyone, so it stays small.
pub const DEFAULT_MAX_AWARENESS_SIZE: &str = "64KiB";
/// Default sustained awareness messages per second per connection. A provider renews every
/// 15 s and sends one per local change (cursor moves, selections), throttled by the editor.
pub const DEFAULT_MAX_AWARENESS_PER_SEC: u32 = 50;
/// Default awareness messages a connection may send at once after being quiet.
pub const DEFAULT_AWARENESS_BURST: u32 = 100;

/// A secret from the command line or environment; never printed, not even by `Debug`.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// clap value parser: an empty secret is an error, never "run open" by accident.
pub fn parse_secret(raw: &str) -> Result<Secret, String> {
    if raw.is_empty() {
        return Err("the auth secret must not be empty (unset it to run open)".into());
    }
    Ok(Secret(raw.to_owned()))
}

/// Access control and limits for `weft serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct AccessArgs {
    /// Secret that signs access tokens (JWT HS256). When set, every WebSocket connection needs a token (`token` query parameter or `Authorization: Bearer`). Without it Weft runs open. Use 32+ random bytes.
    #[arg(long, env = "WEFT_AUTH_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub auth_secret: Option<Secret>,

    /// Key a backend presents (`Authorization: Bearer KEY`) to mint tokens at `POST /api/v1/tokens`. Unset: that endpoint answers 404. Needs --auth-secret. Use 32+ random bytes.
    #[arg(long, env = "WEFT_ADMIN_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub admin_key: Option<Secret>,

    /// Comma-separated browser origins allowed to connect (e.g. `https://app.example.com`). A request whose Origin header is not listed is refused with 403. Unset: any origin.
    #[arg(long, env = "WEFT_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Most open connections to one document; more are refused with HTTP 429. 0: no limit.
    #[arg(long, env = "WEFT_MAX_CONNS_PER_DOC", default_value_t = DEFAULT_MAX_CONNS_PER_DOC)]
    pub max_conns_per_doc: usize,

    /// Most open connections from one IP address; more are refused with HTTP 429. 0: no limit.
    #[arg(long, env = "WEFT_MAX_CONNS_PER_IP", default_value_t = DEFAULT_MAX_CONNS_PER_IP)]
    pub max_conns_per_ip: usize,

    /// Sustained WebSocket messages per second per connection; a faster client is closed with 1008. 0: no limit.
    #[arg(long, env = "WEFT_MAX_MESSAGES_PER_SEC", default_value_t = DEFAULT_MAX_MESSAGES_PER_SEC)]
    pub max_messages_per_sec: u32,

    /// Messages a connection may send in a burst above --max-messages-per-sec.
    #[arg(long, env = "WEFT_MESSAGE_BURST", default_value_t = DEFAULT_MESSAGE_BURST)]
    pub message_burst: u32,

    /// Awareness client ids one connection may own (stock clients own one); claiming more closes it with 1008.
    #[arg(long, env = "WEFT_MAX_AWARENESS_IDS_PER_CONN", default_value_t = DEFAULT_MAX_AWARENESS_IDS_PER_CONN)]
    pub max_awareness_ids_per_conn: usize,

    /// Largest awareness message (entries' JSON plus 16 bytes per entry), bytes or with a unit; a larger one closes the connection with 1009. 0: no limit (--max-message-size still applies).
    #[arg(long, env = "WEFT_MAX_AWARENESS_SIZE", default_value = DEFAULT_MAX_AWARENESS_SIZE, value_parser = crate::config::parse_size)]
    pub max_awareness_size: usize,

    /// Sustained awareness messages per second per connection (their own token bucket); a faster client is closed with 1008. 0: no limit.
    #[arg(long, env = "WEFT_MAX_AWARENESS_PER_SEC", default_value_t = DEFAULT_MAX_AWARENESS_PER_SEC)]
    pub max_awareness_per_sec: u32,

    /// Awareness messages a connection may send in a burst above --max-awareness-per-sec.
    #[arg(long, env = "WEFT_AWARENESS_BURST", default_value_t = DEFAULT_AWARENESS_BURST)]
    pub awareness_burst: u32,

    /// Distinct awareness entries one document tracks; further new ids are ignored (logged).
    #[arg(long, env = "WEFT_MAX_AWARENESS_PER_DOC", default_value_t = weft_crdt::presence::DEFAULT_MAX_ENTRIES)]
    pub max_awareness_per_doc: usize,
}

/// `weft token`: print a signed access token, or `weft token revoke ID`.
#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: Option<TokenCommand>,

    /// The server's secret (the same WEFT_AUTH_SECRET `weft serve` uses).
    #[arg(long, env = "WEFT_AUTH_SECRET", hide_env_values = true, value_parser = parse_secret, required = true)]
    pub auth_secret: Option<Secret>,

    /// Document name, or a prefix ending in `*` (`notes/*`; `*` alone: every document).
    #[arg(long, required = true)]
    pub doc: Option<String>,

    /// `read` (document, live updates, awareness) or `write` (also edits).
    #[arg(long, value_enum, required = true)]
    pub access: Option<Access>,

    /// How long the token is valid (1h, 30m, 7d).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    /// User name carried in the token (shown in server logs and the sessions list).
    #[arg(long)]
    pub user: Option<String>,

    /// The token's id (`jti`), what `weft token revoke` names. Default: a random UUID. It is printed on stderr.
    #[arg(long)]
    pub jti: Option<String>,
}

/// `weft token` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Revoke a token by its id (`jti`): running servers refuse it and close its sessions (4403). Writes the store named by --data-dir / --database-url; with PostgreSQL every node closes its sessions within a second, with the embedded store a running server notices within --revocation-reload (use POST /api/v1/tokens/revoked to be immediate).
    Revoke(crate::live::revocation::RevokeArgs),
}

/// Why `weft token` could not mint a token.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error("--doc {0:?} is neither a document name nor a prefix ending in '*'")]
    BadScope(String),
    #[error("--auth-secret, --doc and --access are required")]
    Missing,
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Whether `doc` is a token scope: a document name, or a prefix ending in `*`.
pub fn valid_scope(doc: &str) -> bool {
    match doc.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => !prefix.contains('*'),
        None => weft_crdt::DocName::parse(doc).is_ok(),
    }
}

/// A token `weft token` prints, and its id.
#[derive(Debug)]
pub struct Minted {
    pub token: String,
    pub jti: String,
}

/// Mints the token `weft token` prints.
pub fn mint_token(args: &TokenArgs) -> Result<Minted, MintError> {
    let (Some(secret), Some(doc), Some(access)) = (&args.auth_secret, &args.doc, args.access)
    else {
        return Err(MintError::Missing);
    };
    if !valid_scope(doc) {
        return Err(MintError::BadScope(doc.clone()));
    }
    let jti = args.jti.clone().unwrap_or_else(token::new_jti);
    let claims = Claims {
        doc: doc.clone(),
        access,
        exp: crate::store::unix_now().saturating_add(args.ttl.as_secs()),
        user: args.user.clone(),
        jti: Some(jti.clone()),
    };
    let token = Keys::new(secret.expose()).sign(&claims)?;
    Ok(Minted { token, jti })
}

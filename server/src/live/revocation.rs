//! Revoking tokens. A revocation is committed to the store first (PostgreSQL announces it to
//! every node in the same statement, `NOTIFY weft_live`), then this node refuses the token
//! and closes its sessions with 4403. Every node also re-reads the list every
//! `--revocation-reload` (purging the rows whose tokens expired), which catches what a node
//! missed while its listener was reconnecting and what `weft token revoke` wrote to the
//! embedded store.

use std::time::Duration;

use tracing::{info, warn};

use super::Live;
use crate::config::StoreArgs;
use crate::store::{unix_now, RevokedToken, StoreError};

/// `weft token revoke`.
#[derive(Debug, Clone, clap::Args)]
pub struct RevokeArgs {
    /// The token's id (its `jti` claim; `weft token` prints it on stderr, `POST /api/v1/tokens` returns it).
    pub jti: String,

    /// When the token expires (seconds since the Unix epoch, or RFC 3339): the revocation is kept until then. Default: --ttl from now.
    #[arg(long, value_parser = parse_when)]
    pub expires_at: Option<u64>,

    /// Keep the revocation this long when --expires-at is not given (the token's remaining lifetime at most).
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub ttl: Duration,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// Seconds since the Unix epoch, from a number or an RFC 3339 time.
pub fn parse_when(raw: &str) -> Result<u64, String> {
    if let Ok(secs) = raw.parse::<u64>() {
        return Ok(secs);
    }
    humantime::parse_rfc3339_weak(raw)
        .map_err(|e| format!("expected seconds since the Unix epoch or an RFC 3339 time: {e}"))?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|e| e.to_string())
}

/// Validates a revocation request: a non-empty id of at most 200 characters.
pub fn valid_jti(jti: &str) -> bool {
    !jti.is_empty() && jti.len() <= 200
}

/// Records the revocation in the store the arguments name (the CLI).
pub async fn revoke_from_cli(args: &RevokeArgs) -> anyhow::Result<RevokedToken> {
    anyhow::ensure!(
        valid_jti(&args.jti),
        "the token id must be 1 to 200 characters"
    );
    let token = RevokedToken {
        jti: args.jti.clone(),
        expires_at: args
            .expires_at
            .unwrap_or_else(|| unix_now().saturating_add(args.ttl.as_secs())),
    };
    anyhow::ensure!(
        token.expires_at > unix_now(),
        "--expires-at is in the past: that token is refused already"
    );
    let store = crate::open_store(&args.store).await?;
    store.revoke_token(&token).await?;
    Ok(token)
}

impl Live {
    /// Revokes a token: stored, then refused and its sessions here closed (the store tells the
    /// other nodes). Returns how many sessions were closed here.
    pub async fn revoke(&self, token: &RevokedToken) -> Result<usize, StoreError> {
        self.inner.store.revoke_token(token).await?;
        Ok(apply(self, token))
    }
}

/// Refuses `token` from now on and closes its sessions on this node; how many.
pub(super) fn apply(live: &Live, token: &RevokedToken) -> usize {
    live.inner.revoked.insert(token);
    let closed = live
        .inner
        .directory
        .close_token(&token.jti, crate::ws::close::forbidden("token revoked"));
    if closed > 0 {
        info!(jti = %token.jti, closed, "token revoked; its sessions closed");
    }
    closed
}

/// Re-reads the revocations every `every`, purging the expired ones (the first read is
/// `Live::load_revocations`, at start-up).
pub(super) async fn reload_loop(live: Live, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.reset();
    loop {
        tokio::select! {
            _ = live.inner.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = reload(&live).await {
            warn!(error = %e, "cannot read the revoked tokens; retrying at the next reload");
        }
    }
}

pub(super) async fn reload(live: &Live) -> Result<(), StoreError> {
    let store = &live.inner.store;
    store.purge_revoked_tokens().await?;
    let tokens = store.revoked_tokens().await?;
    let by_id: std::collections::HashMap<String, u64> = tokens
        .iter()
        .map(|t| (t.jti.clone(), t.expires_at))
        .collect();
    for jti in live.inner.revoked.merge(tokens) {
        let expires_at = by_id.get(&jti).copied().unwrap_or(0);
        apply(live, &RevokedToken { jti, expires_at });
    }
    Ok(())
}

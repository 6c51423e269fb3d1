-- Weft schema v4: revoked access tokens. A token whose id (`jti`) is here is refused, and its
-- open sessions are closed on every node (see server/src/live/revocation.rs). A row is kept
-- until its token expires (`expires_at`, seconds since the Unix epoch), then purged.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    revoked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

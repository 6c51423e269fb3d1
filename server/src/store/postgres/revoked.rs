//! Revoked tokens in PostgreSQL (table `revoked_tokens`, migration V4). A revocation is stored
//! and announced to every node in one statement (`NOTIFY weft_live`), so nodes close the
//! token's sessions at once, whoever revoked it (a node's API or `weft token revoke`).

use deadpool_postgres::GenericClient;

use super::pg_err;
use crate::cluster::live::LiveNote;
use crate::store::{unix_now, RevokedToken, StoreError};

pub(super) async fn revoke(
    client: &impl GenericClient,
    from: &str,
    token: &RevokedToken,
) -> Result<(), StoreError> {
    let note = LiveNote::Revoke {
        jti: token.jti.clone(),
        expires_at: token.expires_at,
    }
    .encode(from);
    let expires_at = i64::try_from(token.expires_at).unwrap_or(i64::MAX);
    client
        .execute(
            "WITH r AS (
                INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
                ON CONFLICT (jti) DO UPDATE
                    SET expires_at = GREATEST(revoked_tokens.expires_at, excluded.expires_at)
                RETURNING jti
             )
             SELECT pg_notify('weft_live', $3) FROM r",
            &[&token.jti, &expires_at, &note],
        )
        .await
        .map_err(pg_err)?;
    Ok(())
}

pub(super) async fn list(client: &impl GenericClient) -> Result<Vec<RevokedToken>, StoreError> {
    let now = now_i64();
    let rows = client
        .query(
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > $1",
            &[&now],
        )
        .await
        .map_err(pg_err)?;
    Ok(rows
        .iter()
        .map(|r| RevokedToken {
            jti: r.get(0),
            expires_at: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        })
        .collect())
}

pub(super) async fn purge(client: &impl GenericClient) -> Result<u64, StoreError> {
    client
        .execute(
            "DELETE FROM revoked_tokens WHERE expires_at <= $1",
            &[&now_i64()],
        )
        .await
        .map_err(pg_err)
}

fn now_i64() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}

//! Versions in PostgreSQL: the head of a document's chain, storing one (refused when the head
//! moved), copying one as it is (`weft copy`), listing them and reading one back as the parts
//! of its chain. The `Store` methods of [`PostgresStore`] call these.

use bytes::Bytes;
use weft_crdt::DocName;

use super::{document_row, pg_err, version_row, PostgresStore, VERSION_SELECT};
use crate::store::{NewVersion, StoreError, VersionHead, VersionMeta};

pub(super) async fn head(
    store: &PostgresStore,
    doc: &DocName,
) -> Result<Option<VersionHead>, StoreError> {
    let client = store.client().await?;
    let row = client
        .query_opt(
            "SELECT v.id, v.state_vector,
                (SELECT COUNT(*) FROM versions v3 WHERE v3.doc_id = v.doc_id AND v3.id >
                    (SELECT MAX(v2.id) FROM versions v2 WHERE v2.doc_id = v.doc_id AND v2.base))
             FROM versions v JOIN documents d ON d.id = v.doc_id
             WHERE d.name = $1 ORDER BY v.id DESC LIMIT 1",
            &[&doc.as_str()],
        )
        .await
        .map_err(pg_err)?;
    Ok(row.map(|r| VersionHead {
        id: r.get(0),
        state_vector: r.get(1),
        since_base: r.get::<_, i64>(2) as u32,
    }))
}

pub(super) async fn put(
    store: &PostgresStore,
    doc: &DocName,
    version: NewVersion,
    after: Option<i64>,
    keep: usize,
) -> Result<VersionMeta, StoreError> {
    let mut client = store.client().await?;
    // Planned first, without a transaction: the merge never runs while the document row
    // is locked (the appender's commits of every document would wait behind it).
    let stored: Vec<(i64, bool, Vec<u8>)> = client
        .query(
            "SELECT v.id, v.base, v.data FROM versions v JOIN documents d ON d.id = v.doc_id
             WHERE d.name = $1 ORDER BY v.id",
            &[&doc.as_str()],
        )
        .await
        .map_err(pg_err)?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let fold = crate::store::fold::plan(stored, version.base, &version.data, after, keep).await?;
    let txn = client.transaction().await.map_err(pg_err)?;
    // The document row's lock orders version writers of one document.
    let doc_id = document_row(&txn, doc).await?;
    let head: Option<i64> = txn
        .query_one("SELECT MAX(id) FROM versions WHERE doc_id = $1", &[&doc_id])
        .await
        .map_err(pg_err)?
        .get(0);
    if head != after {
        return Err(StoreError::VersionRace);
    }
    let id = head.unwrap_or(0) + 1;
    let base = version.base || head.is_none();
    let created: i64 = txn
        .query_one(
            "INSERT INTO versions (doc_id, id, kind, label, base, state_vector, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING (extract(epoch FROM created_at) * 1000)::bigint",
            &[
                &doc_id,
                &id,
                &version.kind.as_str(),
                &version.label,
                &base,
                &version.state_vector,
                &version.data,
            ],
        )
        .await
        .map_err(pg_err)?
        .get(0);
    if let Some(fold) = fold {
        let oldest: Option<i64> = txn
            .query_one("SELECT MIN(id) FROM versions WHERE doc_id = $1", &[&doc_id])
            .await
            .map_err(pg_err)?
            .get(0);
        if oldest == Some(fold.oldest) {
            if let Some(data) = &fold.data {
                txn.execute(
                    "UPDATE versions SET base = true, data = $3 WHERE doc_id = $1 AND id = $2",
                    &[&doc_id, &fold.survivor, data],
                )
                .await
                .map_err(pg_err)?;
            }
            txn.execute(
                "DELETE FROM versions WHERE doc_id = $1 AND id < $2",
                &[&doc_id, &fold.survivor],
            )
            .await
            .map_err(pg_err)?;
        }
    }
    txn.commit().await.map_err(pg_err)?;
    Ok(VersionMeta {
        id,
        created_ms: created,
        kind: version.kind,
        label: version.label,
        size_bytes: version.data.len() as u64,
    })
}

pub(super) async fn copy(
    store: &PostgresStore,
    doc: &DocName,
    meta: &VersionMeta,
    version: NewVersion,
) -> Result<bool, StoreError> {
    let mut client = store.client().await?;
    let txn = client.transaction().await.map_err(pg_err)?;
    let doc_id = document_row(&txn, doc).await?;
    let stored = txn
        .execute(
            "INSERT INTO versions (doc_id, id, created_at, kind, label, base, state_vector, data)
             VALUES ($1, $2, TIMESTAMPTZ 'epoch' + $3::bigint * INTERVAL '1 millisecond',
                     $4, $5, $6, $7, $8)
             ON CONFLICT (doc_id, id) DO NOTHING",
            &[
                &doc_id,
                &meta.id,
                &meta.created_ms,
                &meta.kind.as_str(),
                &meta.label,
                &version.base,
                &version.state_vector,
                &version.data,
            ],
        )
        .await
        .map_err(pg_err)?;
    txn.commit().await.map_err(pg_err)?;
    Ok(stored == 1)
}

pub(super) async fn list(
    store: &PostgresStore,
    doc: &DocName,
) -> Result<Vec<VersionMeta>, StoreError> {
    let client = store.client().await?;
    let rows = client
        .query(
            &format!("{VERSION_SELECT} WHERE d.name = $1 ORDER BY v.id DESC"),
            &[&doc.as_str()],
        )
        .await
        .map_err(pg_err)?;
    Ok(rows.iter().map(version_row).collect())
}

pub(super) async fn parts(
    store: &PostgresStore,
    doc: &DocName,
    id: i64,
) -> Result<Option<(VersionMeta, Vec<Bytes>)>, StoreError> {
    let mut client = store.client().await?;
    let txn = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg_err)?;
    let Some(meta) = txn
        .query_opt(
            &format!("{VERSION_SELECT} WHERE d.name = $1 AND v.id = $2"),
            &[&doc.as_str(), &id],
        )
        .await
        .map_err(pg_err)?
    else {
        return Ok(None);
    };
    let rows = txn
        .query(
            "SELECT v.data FROM versions v JOIN documents d ON d.id = v.doc_id
             WHERE d.name = $1 AND v.id <= $2 AND v.id >= (
                SELECT MAX(v2.id) FROM versions v2
                WHERE v2.doc_id = d.id AND v2.base AND v2.id <= $2)
             ORDER BY v.id",
            &[&doc.as_str(), &id],
        )
        .await
        .map_err(pg_err)?;
    txn.commit().await.map_err(pg_err)?;
    let parts = rows
        .iter()
        .map(|r| Bytes::from(r.get::<_, Vec<u8>>(0)))
        .collect();
    Ok(Some((version_row(&meta), parts)))
}

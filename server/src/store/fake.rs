//! An in-memory [`Store`] for unit tests, with failure injection: every call can be made to
//! fail (a store that is down), to hang until told otherwise (a store that does not answer),
//! or only loads can fail (a store whose stored data does not read back).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;
use weft_crdt::DocName;

use super::{
    unix_now, Compacted, DocMeta, LogStats, NewVersion, RevokedToken, Store, StoreError, Stored,
    VersionHead, VersionMeta,
};

/// How the fake store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Like a healthy store.
    Healthy,
    /// Every call fails as if the connection were lost.
    Down,
    /// Every call waits until the mode changes, then answers in that mode.
    Hang,
    /// Loads fail as if a connection were lost (retryable); everything else works.
    LoadFails,
    /// Loads fail for good (the stored data does not read back); everything else works.
    LoadCorrupt,
    /// Appends are refused for good (a constraint); everything else works.
    AppendRefused,
}

pub struct FakeStore {
    mode: watch::Sender<Mode>,
    logs: Mutex<HashMap<DocName, Vec<Bytes>>>,
    appends: std::sync::atomic::AtomicUsize,
    /// Revoked token ids and their expiry.
    revoked: Mutex<HashMap<String, u64>>,
}

impl Default for FakeStore {
    fn default() -> Self {
        FakeStore {
            mode: watch::channel(Mode::Healthy).0,
            logs: Mutex::new(HashMap::new()),
            appends: Default::default(),
            revoked: Mutex::new(HashMap::new()),
        }
    }
}

impl FakeStore {
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// What is committed for `doc`, in order.
    pub fn log(&self, doc: &DocName) -> Vec<Bytes> {
        self.lock().get(doc).cloned().unwrap_or_default()
    }

    /// Appends attempted (failed ones included).
    pub fn appends(&self) -> usize {
        self.appends.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<DocName, Vec<Bytes>>> {
        // A test panicking while holding it fails that test anyway.
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits out `Hang`; then `Err` when the store is down (or loads fail and `load` is set).
    async fn gate(&self, load: bool) -> Result<(), StoreError> {
        self.gate_for(load, false).await
    }

    async fn gate_for(&self, load: bool, append: bool) -> Result<(), StoreError> {
        let mut rx = self.mode.subscribe();
        let mode = match rx.wait_for(|m| *m != Mode::Hang).await {
            Ok(mode) => *mode,
            Err(_) => return Err(StoreError::Closed),
        };
        match mode {
            Mode::Down => Err(StoreError::Unavailable("fake store is down".into())),
            Mode::LoadFails if load => Err(StoreError::Unavailable("fake load failure".into())),
            Mode::LoadCorrupt if load => Err(StoreError::Database("fake corrupt data".into())),
            Mode::AppendRefused if append => {
                Err(StoreError::Database("fake constraint violation".into()))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl Store for FakeStore {
    async fn load(&self, doc: &DocName) -> Result<Stored, StoreError> {
        self.gate(true).await?;
        let parts = self.log(doc);
        let entries = parts.len() as u64;
        Ok(Stored {
            log: LogStats {
                entries,
                bytes: parts.iter().map(|p| p.len() as u64).sum(),
                position: 0,
                last_seq: entries,
            },
            parts,
        })
    }

    async fn append(&self, doc: &DocName, updates: Vec<Bytes>) -> Result<LogStats, StoreError> {
        self.appends
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.gate_for(false, true).await?;
        let mut logs = self.lock();
        let log = logs.entry(doc.clone()).or_default();
        log.extend(updates);
        Ok(LogStats {
            entries: log.len() as u64,
            bytes: log.iter().map(|p| p.len() as u64).sum(),
            position: 0,
            last_seq: log.len() as u64,
        })
    }

    async fn compact(&self, _doc: &DocName) -> Result<Compacted, StoreError> {
        self.gate(false).await?;
        Ok(Compacted::default())
    }

    async fn replace_log(
        &self,
        _doc: &DocName,
        _snapshot: Vec<u8>,
        _upto: u64,
    ) -> Result<Compacted, StoreError> {
        self.gate(false).await?;
        Ok(Compacted::default())
    }

    async fn create(&self, doc: &DocName) -> Result<bool, StoreError> {
        self.gate(false).await?;
        let mut logs = self.lock();
        if logs.contains_key(doc) {
            return Ok(false);
        }
        logs.insert(doc.clone(), Vec::new());
        Ok(true)
    }

    async fn list(
        &self,
        _prefix: &str,
        _after: Option<&str>,
        _limit: u32,
    ) -> Result<Vec<DocMeta>, StoreError> {
        self.gate(false).await?;
        Ok(Vec::new())
    }

    async fn meta(&self, _doc: &DocName) -> Result<Option<DocMeta>, StoreError> {
        self.gate(false).await?;
        Ok(None)
    }

    async fn delete(&self, doc: &DocName) -> Result<bool, StoreError> {
        self.gate(false).await?;
        Ok(self.lock().remove(doc).is_some())
    }

    async fn version_head(&self, _doc: &DocName) -> Result<Option<VersionHead>, StoreError> {
        self.gate(false).await?;
        Ok(None)
    }

    async fn put_version(
        &self,
        _doc: &DocName,
        version: NewVersion,
        _after: Option<i64>,
        _keep: usize,
    ) -> Result<VersionMeta, StoreError> {
        self.gate(false).await?;
        Ok(VersionMeta {
            id: 1,
            created_ms: 0,
            kind: version.kind,
            label: version.label,
            size_bytes: version.data.len() as u64,
        })
    }

    async fn copy_version(
        &self,
        _doc: &DocName,
        _meta: &VersionMeta,
        _version: NewVersion,
    ) -> Result<bool, StoreError> {
        self.gate(false).await?;
        Ok(true)
    }

    async fn versions(&self, _doc: &DocName) -> Result<Vec<VersionMeta>, StoreError> {
        self.gate(false).await?;
        Ok(Vec::new())
    }

    async fn version_parts(
        &self,
        _doc: &DocName,
        _id: i64,
    ) -> Result<Option<(VersionMeta, Vec<Bytes>)>, StoreError> {
        self.gate(false).await?;
        Ok(None)
    }

    async fn revoke_token(&self, token: &RevokedToken) -> Result<(), StoreError> {
        self.gate(false).await?;
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        let at = revoked.entry(token.jti.clone()).or_insert(0);
        *at = (*at).max(token.expires_at);
        Ok(())
    }

    async fn revoked_tokens(&self) -> Result<Vec<RevokedToken>, StoreError> {
        self.gate(false).await?;
        let now = unix_now();
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        Ok(revoked
            .iter()
            .filter(|(_, at)| **at > now)
            .map(|(jti, at)| RevokedToken {
                jti: jti.clone(),
                expires_at: *at,
            })
            .collect())
    }

    async fn purge_revoked_tokens(&self) -> Result<u64, StoreError> {
        self.gate(false).await?;
        let now = unix_now();
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        let before = revoked.len();
        revoked.retain(|_, at| *at > now);
        Ok((before - revoked.len()) as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.gate(false).await
    }

    fn kind(&self) -> &'static str {
        "fake"
    }
}

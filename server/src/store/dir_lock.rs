//! One writer per embedded store folder: `weft serve` holds an exclusive `flock` on
//! `DATA_DIR/weft.lock` while it runs, and `weft import` takes it before writing. A second
//! writer would be unsafe, not just slow: a running server compacts its documents from its own
//! memory, and log entries another process appended meanwhile would be folded away unseen.
//! The lock goes with the process (also on `kill -9`).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

/// Held while the folder is in use; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    #[error(
        "the embedded store in {0} is in use by a running weft server (it holds {0}/weft.lock)"
    )]
    InUse(PathBuf),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Takes the folder's lock without waiting (creating the folder and the lock file if needed).
pub fn lock(dir: &Path) -> Result<DirLock, DirLockError> {
    let path = dir.join("weft.lock");
    let io = |source| DirLockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(DirLock { _file: file }),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(DirLockError::InUse(dir.to_path_buf())),
        Err(e) => Err(io(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = lock(dir.path()).expect("first");
        assert!(matches!(lock(dir.path()), Err(DirLockError::InUse(_))));
        drop(first);
        lock(dir.path()).expect("free again");
    }
}

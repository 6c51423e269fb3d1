//! Native TLS: with `--tls-cert` and `--tls-key` (PEM files) `weft serve` speaks HTTPS and
//! `wss://` itself, without a reverse proxy in front.
//!
//! rustls with the `ring` provider, chosen explicitly here (not the process default), so the
//! server never depends on which crypto backend another crate in the build happened to enable.
//! Only HTTP/1.1 is offered (ALPN, set by actix-web): WebSocket upgrades need it.
//!
//! This module only reads the certificate and key and builds the rustls configuration; `run`
//! decides how to listen.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// `--tls-cert` / `--tls-key`: both or neither (clap refuses one without the other).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first). With --tls-key, Weft serves HTTPS and wss:// itself.
    #[arg(long, env = "WEFT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, env = "WEFT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Why the TLS configuration could not be built. Start-up fails with it: Weft never falls back
/// to plain HTTP when TLS was asked for.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert and --tls-key must be set together (WEFT_TLS_CERT, WEFT_TLS_KEY)")]
    Incomplete,
    #[error("cannot read the TLS certificate {path}: {source}")]
    Cert {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("the TLS certificate file {0} holds no certificate")]
    NoCert(PathBuf),
    #[error("cannot read the TLS private key {path}: {source}")]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsArgs {
    /// The server configuration, `None` when TLS is off.
    pub fn server_config(&self) -> Result<Option<rustls::ServerConfig>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => server_config(cert, key).map(Some),
            // clap's `requires` refuses this on the command line; embedders may still build it.
            _ => Err(TlsError::Incomplete),
        }
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Cert {
            path: cert.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCert(cert.to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_owned(),
        source,
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    // actix-web sets ALPN itself (`http/1.1`; Weft does not enable actix's HTTP/2).
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_without_files_and_incomplete_with_one() {
        assert!(TlsArgs::default()
            .server_config()
            .expect("no tls")
            .is_none());
        let half = TlsArgs {
            tls_cert: Some("cert.pem".into()),
            tls_key: None,
        };
        assert!(matches!(half.server_config(), Err(TlsError::Incomplete)));
        let missing = TlsArgs {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: Some("/nonexistent/key.pem".into()),
        };
        assert!(matches!(
            missing.server_config(),
            Err(TlsError::Cert { .. })
        ));
    }
}

//! TLS to PostgreSQL, with libpq's `sslmode` and `sslrootcert` and rustls (no OpenSSL). The one
//! place a connection string becomes a `tokio_postgres::Config` and the connector that every
//! connection Weft opens uses: the store's pool, `weft migrate` and the cluster's LISTEN
//! connection.
//!
//! | sslmode            | TLS                                  | certificate checked                      |
//! |--------------------|--------------------------------------|------------------------------------------|
//! | `disable`          | never                                | –                                        |
//! | `prefer` (default) | when the server offers it, else plain | as `require`                            |
//! | `require`          | always                               | only with `sslrootcert`, then as `verify-ca` |
//! | `verify-ca`        | always                               | chain (to `sslrootcert`, else Mozilla's roots) |
//! | `verify-full`      | always                               | chain and host name                      |
//!
//! tokio-postgres knows `disable`, `prefer` and `require` and no `sslrootcert`: both are taken
//! out of the string here, once, and the rest is left to its parser. [`explain`] turns the
//! failures a newcomer meets (no TLS on the server, a wrong host, an unknown CA, a server that
//! takes only TLS) into what to do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values (`allow` is not offered: it only ever downgrades).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(raw: &str) -> Result<SslMode, String> {
        Ok(match raw {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "unknown sslmode {other:?} in DATABASE_URL (use disable, prefer, require, \
                     verify-ca or verify-full)"
                ))
            }
        })
    }
}

/// Where the CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// None given: `require` and `prefer` check nothing, `verify-*` use Mozilla's roots.
    Default,
    /// `sslrootcert=system`: Mozilla's roots (compiled in; the same on every platform).
    System,
    /// A PEM file of CA certificates.
    File(PathBuf),
}

/// A connection's configuration and the TLS connector that goes with it.
#[derive(Clone)]
pub struct PgTarget {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
    pub mode: SslMode,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("mode", &self.mode)
            .finish()
    }
}

impl PgTarget {
    /// Parses `url` (a `postgres://` URL or `key=value` words) and builds its connector.
    /// `sslrootcert` (from `--pg-sslrootcert`) applies unless the string names its own.
    pub fn parse(url: &str, sslrootcert: Option<&Path>) -> Result<PgTarget, String> {
        let (rest, tls) = take_tls_params(url)?;
        let mode = match &tls.sslmode {
            Some(raw) => SslMode::parse(raw)?,
            // As libpq: the system's roots are only worth asking for with a full check.
            None if tls.sslrootcert.as_deref() == Some("system") => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        let roots = match tls.sslrootcert.as_deref() {
            Some("system") => Roots::System,
            Some(path) => Roots::File(PathBuf::from(path)),
            None => sslrootcert.map_or(Roots::Default, |p| Roots::File(p.to_path_buf())),
        };
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| format!("invalid DATABASE_URL: {e}"))?;
        config.ssl_mode(match mode {
            // As libpq: sslmode does not apply to Unix sockets (PostgreSQL has no TLS there).
            _ if only_unix_sockets(&config) => PgSslMode::Disable,
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        });
        let tls = MakeRustlsConnect::new(client_config(mode, &roots)?);
        Ok(PgTarget { config, tls, mode })
    }
}

fn only_unix_sockets(config: &tokio_postgres::Config) -> bool {
    let hosts = config.get_hosts();
    !hosts.is_empty()
        && config.get_hostaddrs().is_empty()
        && hosts
            .iter()
            .all(|h| matches!(h, tokio_postgres::config::Host::Unix(_)))
}

/// What [`take_tls_params`] took out of a connection string.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

/// Splits `sslmode` and `sslrootcert` off a connection string; the rest is returned unchanged.
fn take_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams::default();
    let mut take = |key: &str, value: String| match key {
        "sslmode" => {
            params.sslmode = Some(value);
            true
        }
        "sslrootcert" => {
            params.sslrootcert = Some(value);
            true
        }
        _ => false,
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), params));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| format!("DATABASE_URL: {key} is not UTF-8 once decoded"))?;
            if !take(key, value.into_owned()) {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        // `host=db sslmode=require`: words split on single spaces so the rest keeps its shape.
        let mut kept = Vec::new();
        for word in url.split(' ') {
            let taken = word
                .split_once('=')
                .is_some_and(|(key, value)| take(key.trim(), value.trim_matches('\'').to_owned()));
            if !taken {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    Ok((rest, params))
}

/// rustls's configuration for `mode`: which certificates are accepted.
fn client_config(mode: SslMode, roots: &Roots) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = webpki(roots, &provider)?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::VerifyFull, _) => webpki,
        (SslMode::Disable | SslMode::Prefer | SslMode::Require, Roots::Default) => {
            Arc::new(Lenient {
                webpki,
                chain: false,
            })
        }
        _ => Arc::new(Lenient {
            webpki,
            chain: true,
        }),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // What libpq offers; PostgreSQL 17 requires it for direct TLS negotiation.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

fn webpki(
    roots: &Roots,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let store = match roots {
        Roots::Default | Roots::System => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Roots::File(path) => load_roots(path)?,
    };
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
        .build()
        .map_err(|e| format!("sslrootcert: {e}"))
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!("cannot read sslrootcert {shown}: {e} (give a PEM file of CA certificates)")
        })?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "sslrootcert {shown} holds no usable CA certificate (give a PEM file with \
             -----BEGIN CERTIFICATE----- blocks)"
        ));
    }
    Ok(store)
}

/// Every mode short of `verify-full`: `chain` (`verify-ca`, and `require`/`prefer` given a
/// root) checks that the chain leads to a trusted root but not the name (webpki checks the
/// chain before the name, so a name mismatch means the chain was good); without it
/// (`require`/`prefer` without a root, libpq's behaviour) nothing is checked: encrypted, not
/// authenticated. Either way the handshake's signatures are checked against the certificate
/// presented.
#[derive(Debug)]
struct Lenient {
    webpki: Arc<WebPkiServerVerifier>,
    chain: bool,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.chain {
            return Ok(ServerCertVerified::assertion());
        }
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The error with its causes (tokio-postgres's own text leaves them out: "db error",
/// "error performing TLS handshake"), followed by what to do when a setting causes it.
pub fn explain(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(err) = cause {
        let more = err.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        cause = err.source();
    }
    match hint(e, &text) {
        Some(hint) => format!("{text}. {hint}"),
        None => text,
    }
}

fn hint(e: &tokio_postgres::Error, text: &str) -> Option<&'static str> {
    if let Some(db) = e.as_db_error() {
        let refused =
            db.code() == &tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION;
        return (refused && db.message().contains("no encryption")).then_some(
            "This server accepts only encrypted connections: add sslmode=require to DATABASE_URL \
             (better: sslmode=verify-full with the server's CA in sslrootcert)",
        );
    }
    if let Some(tls) = rustls_error(e) {
        return match tls {
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            ) => Some(
                "The server's certificate is for another host name (sslmode=verify-full checks \
                 it): connect with a name the certificate lists, or use sslmode=verify-ca to \
                 check only that a trusted CA signed it",
            ),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => Some(
                "The server's certificate is not signed by a CA Weft trusts: give the CA's PEM \
                 file with sslrootcert=/path/ca.pem in DATABASE_URL, or --pg-sslrootcert \
                 (WEFT_PG_SSLROOTCERT); the README's \"Managed PostgreSQL\" names each \
                 provider's file",
            ),
            _ => None,
        };
    }
    text.contains("server does not support TLS").then_some(
        "This server does not offer TLS, but the sslmode (require, verify-ca, verify-full) needs \
         it: turn on ssl in postgresql.conf, or, on a network you trust, use sslmode=prefer",
    )
}

/// The rustls error under a failed handshake (tokio-rustls wraps it in an `io::Error`).
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut cause = std::error::Error::source(e);
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        cause = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_leave_the_rest_alone() {
        let (rest, p) = take_tls_params(
            "postgres://u:p@db:5432/app?sslmode=verify-full&application_name=x&sslrootcert=%2Fca.pem",
        )
        .expect("parse");
        assert_eq!(rest, "postgres://u:p@db:5432/app?application_name=x");
        assert_eq!(p.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(p.sslrootcert.as_deref(), Some("/ca.pem"));

        let (rest, p) = take_tls_params("postgres://db/app?sslmode=require").expect("parse");
        assert_eq!(rest, "postgres://db/app");
        assert_eq!(p.sslmode.as_deref(), Some("require"));

        let (rest, p) =
            take_tls_params("host=db sslmode=verify-ca sslrootcert='/ca.pem' user=u").expect("kv");
        assert_eq!(rest, "host=db user=u");
        assert_eq!(p.sslmode.as_deref(), Some("verify-ca"));
        assert_eq!(p.sslrootcert.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn modes_map_onto_tokio_postgres() {
        let t = PgTarget::parse("postgres://db/app", None).expect("default");
        assert_eq!(t.mode, SslMode::Prefer);
        assert_eq!(t.config.get_ssl_mode(), PgSslMode::Prefer);
        let t = PgTarget::parse("postgres://db/app?sslmode=verify-full", None).expect("full");
        assert_eq!(t.config.get_ssl_mode(), PgSslMode::Require);
        let t = PgTarget::parse("postgres://db/app?sslrootcert=system", None).expect("system");
        assert_eq!(t.mode, SslMode::VerifyFull);
        let t = PgTarget::parse("host=/run/postgresql sslmode=require", None).expect("socket");
        assert_eq!(t.config.get_ssl_mode(), PgSslMode::Disable);
        let e = PgTarget::parse("postgres://db/app?sslmode=allow", None).expect_err("allow");
        assert!(e.contains("verify-full"), "{e}");
        let e = PgTarget::parse(
            "postgres://db/app?sslmode=require&sslrootcert=/nope.pem",
            None,
        )
        .expect_err("missing file");
        assert!(e.contains("/nope.pem"), "{e}");
    }
}

//! TLS for the listeners (RTSPS, and HTTPS for HLS, playback, the API and metrics): rustls on
//! the aws-lc-rs provider, the one crypto stack the binary already links (object storage and
//! AMQP use it).
//!
//! Certificates are reloaded without a restart. Each TLS listener's [`ReloadingCert`] is the
//! rustls certificate resolver: it hands every new handshake the certificate it currently
//! holds, and a task reads the key and certificate files every [`WATCH_EVERY`]. When their
//! contents change and the new pair loads (PEM parses, the key matches the leaf certificate),
//! it replaces the old one: connections accepted from then on get it, open ones keep theirs. A
//! pair that does not load leaves the old certificate in place and is logged once, with the
//! reason, until the files change again (a key written a moment after its certificate is simply
//! a second change).
//!
//! Files are read at start: a missing or bad pair stops the server with the config key that
//! names the file. The handshake of each connection is bounded by the listener's `readTimeout`
//! (a client that opens TLS and stalls is closed like a slowloris), and runs after the
//! connection was admitted under `maxConnectionsPerIP`.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsFiles;

/// How often the key and certificate files are read for changes.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Why a key and certificate pair did not load, naming the config key and file at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CertError {
    /// One file could not be read or parsed.
    #[error("{key} {path}: {reason}")]
    File {
        /// The config key naming the file (`hlsServerCert`…).
        key: &'static str,
        /// The file, as configured.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Both files parse, but do not make a usable pair.
    #[error("{key_name} {key} and {cert_name} {cert} do not go together: {reason}")]
    Pair {
        /// The config key naming the key file.
        key_name: &'static str,
        /// The key file.
        key: String,
        /// The config key naming the certificate file.
        cert_name: &'static str,
        /// The certificate file.
        cert: String,
        /// What rustls said.
        reason: String,
    },
}

/// The TLS side of one listener: accepts handshakes with the certificate its
/// [`ReloadingCert`] currently holds.
pub(crate) struct ServerTls {
    acceptor: TlsAcceptor,
}

impl ServerTls {
    /// Loads `files` for listener `listener` (a log prefix: `HLS`, `RTSPS`…) and starts watching
    /// them; the watch ends when the returned value and every connection's handshake state are
    /// dropped. `alpn` lists the application protocols offered (empty: none). Must be called
    /// inside the tokio runtime.
    pub(crate) fn start(
        listener: &'static str,
        files: &TlsFiles,
        alpn: &[&[u8]],
    ) -> Result<Self, CertError> {
        let certs = Arc::new(ReloadingCert::load(files.clone())?);
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| certs.pair_error(e))?
            .with_no_client_auth()
            .with_cert_resolver(certs.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tracing::info!(
            "[{listener}] TLS on: certificate {} ({}), key {} ({}), sha256 {}; the files are \
             watched and a new pair is served to new connections without a restart",
            files.cert,
            files.cert_name,
            files.key,
            files.key_name,
            certs.fingerprint()
        );
        tokio::spawn(watch(listener, Arc::downgrade(&certs)));
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Runs the server side of the handshake on `socket`, failing with `TimedOut` when it is not
    /// finished within `limit` (the listener's `readTimeout`).
    pub(crate) async fn accept(
        &self,
        socket: TcpStream,
        limit: Duration,
    ) -> io::Result<TlsStream<TcpStream>> {
        match tokio::time::timeout(limit, self.acceptor.accept(socket)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("TLS handshake not finished within {limit:?} (readTimeout)"),
            )),
        }
    }
}

/// The certificate a listener serves, replaced when its files change (see the module doc).
pub(crate) struct ReloadingCert {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
    /// Digests of what the files held at the last check, so unchanged files are not parsed
    /// again and a bad pair is reported once.
    seen: Mutex<Snapshot>,
}

/// What [`ReloadingCert::check`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The files hold what they held at the last check.
    Unchanged,
    /// A new pair loaded; new connections get it. Holds its leaf's SHA-256.
    Reloaded(String),
    /// The files changed but do not load: the previous certificate stays.
    Kept(CertError),
}

impl ReloadingCert {
    /// Reads and loads `files`.
    pub(crate) fn load(files: TlsFiles) -> Result<Self, CertError> {
        let (snapshot, contents) = Snapshot::read(&files);
        let key = certified_key(&files, contents)?;
        Ok(Self {
            files,
            current: RwLock::new(Arc::new(key)),
            seen: Mutex::new(snapshot),
        })
    }

    /// Reads the files again and takes the new pair if they changed and it loads.
    pub(crate) fn check(&self) -> Check {
        let (snapshot, contents) = Snapshot::read(&self.files);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == snapshot {
            return Check::Unchanged;
        }
        *seen = snapshot;
        drop(seen);
        match certified_key(&self.files, contents) {
            Ok(key) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                Check::Reloaded(self.fingerprint())
            }
            Err(e) => Check::Kept(e),
        }
    }

    /// The pair new connections get.
    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The SHA-256 of the current leaf certificate, in hex (what `openssl x509 -fingerprint
    /// -sha256` shows, without colons).
    pub(crate) fn fingerprint(&self) -> String {
        let current = self.current();
        let leaf = current.cert.first().map_or(&[][..], |c| c.as_ref());
        Sha256::digest(leaf)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn pair_error(&self, e: impl fmt::Display) -> CertError {
        CertError::Pair {
            key_name: self.files.key_name,
            key: self.files.key.clone(),
            cert_name: self.files.cert_name,
            cert: self.files.cert.clone(),
            reason: e.to_string(),
        }
    }
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The crypto provider of every TLS listener.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// Checks `certs`' files every [`WATCH_EVERY`] until the listener is gone, logging reloads and
/// refused pairs.
async fn watch(listener: &'static str, certs: Weak<ReloadingCert>) {
    let mut ticks = tokio::time::interval(WATCH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(certs) = certs.upgrade() else {
            return;
        };
        match certs.check() {
            Check::Unchanged => {}
            Check::Reloaded(sha) => tracing::info!(
                "[{listener}] certificate reloaded from {} (sha256 {sha}): new connections get it",
                certs.files.cert
            ),
            Check::Kept(e) => tracing::warn!(
                "[{listener}] the key or certificate file changed but does not load ({e}); \
                 still serving the previous certificate (sha256 {})",
                certs.fingerprint()
            ),
        }
    }
}

/// What one file held: the SHA-256 of its bytes, or why it could not be read.
type FileState = Result<[u8; 32], CertError>;

/// The state of both files at one check.
#[derive(PartialEq, Eq)]
struct Snapshot {
    key: FileState,
    cert: FileState,
}

/// The bytes read at one check (for parsing; not kept).
struct Contents {
    key: Vec<u8>,
    cert: Vec<u8>,
}

impl Snapshot {
    /// Reads both files. The files are a few kilobytes on local disk: read inline.
    fn read(files: &TlsFiles) -> (Snapshot, Result<Contents, CertError>) {
        let key = read_file(files.key_name, &files.key);
        let cert = read_file(files.cert_name, &files.cert);
        let snapshot = Snapshot {
            key: digest(&key),
            cert: digest(&cert),
        };
        let contents = key.and_then(|key| Ok(Contents { key, cert: cert? }));
        (snapshot, contents)
    }
}

fn read_file(key: &'static str, path: &str) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|e| CertError::File {
        key,
        path: path.to_owned(),
        reason: format!("can't read it: {e}"),
    })
}

fn digest(read: &Result<Vec<u8>, CertError>) -> FileState {
    match read {
        Ok(bytes) => Ok(Sha256::digest(bytes).into()),
        Err(e) => Err(e.clone()),
    }
}

/// Parses the PEM files and checks that the key matches the leaf certificate.
fn certified_key(
    files: &TlsFiles,
    contents: Result<Contents, CertError>,
) -> Result<CertifiedKey, CertError> {
    let contents = contents?;
    let file_error = |key: &'static str, path: &str, reason: String| CertError::File {
        key,
        path: path.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&contents.cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(files.cert_name, &files.cert, format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(
            files.cert_name,
            &files.cert,
            "no CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| {
        file_error(
            files.key_name,
            &files.key,
            format!("no PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY): {e}"),
        )
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| CertError::Pair {
        key_name: files.key_name,
        key: files.key.clone(),
        cert_name: files.cert_name,
        cert: files.cert.clone(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests;

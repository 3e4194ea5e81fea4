//! The certificate resolver and its reload, with certificates made by rcgen at test time, and
//! real handshakes on localhost.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{CertError, Check, ReloadingCert, ServerTls};
use crate::config::TlsFiles;

/// A self-signed certificate for `localhost` named `cn`: (cert PEM, key PEM, cert DER).
fn self_signed(cn: &str) -> (String, String, CertificateDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

fn files(dir: &Path) -> TlsFiles {
    TlsFiles {
        key: dir.join("server.key").display().to_string(),
        cert: dir.join("server.crt").display().to_string(),
        key_name: "hlsServerKey",
        cert_name: "hlsServerCert",
    }
}

fn write(files: &TlsFiles, cert: &str, key: &str) {
    std::fs::write(&files.cert, cert).unwrap();
    std::fs::write(&files.key, key).unwrap();
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigia-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn leaf(certs: &ReloadingCert) -> CertificateDer<'static> {
    certs.current().cert[0].clone()
}

#[test]
fn a_replaced_pair_is_served_and_unchanged_files_are_not_reloaded() {
    let dir = temp_dir("replace");
    let files = files(&dir);
    let (cert1, key1, der1) = self_signed("first");
    write(&files, &cert1, &key1);
    let certs = ReloadingCert::load(files.clone()).unwrap();
    assert_eq!(leaf(&certs), der1);
    assert_eq!(certs.check(), Check::Unchanged);
    let (cert2, key2, der2) = self_signed("second");
    write(&files, &cert2, &key2);
    assert!(matches!(certs.check(), Check::Reloaded(sha) if sha == certs.fingerprint()));
    assert_eq!(leaf(&certs), der2);
    assert_eq!(certs.check(), Check::Unchanged);
}

#[test]
fn a_bad_new_pair_keeps_the_old_certificate_and_is_reported_once() {
    let dir = temp_dir("bad");
    let files = files(&dir);
    let (cert1, key1, der1) = self_signed("first");
    write(&files, &cert1, &key1);
    let certs = ReloadingCert::load(files.clone()).unwrap();
    // The certificate is replaced first, its key a moment later: a mismatched pair meanwhile.
    let (cert2, key2, der2) = self_signed("second");
    std::fs::write(&files.cert, &cert2).unwrap();
    assert!(matches!(certs.check(), Check::Kept(CertError::Pair { .. })));
    assert_eq!(leaf(&certs), der1);
    assert_eq!(certs.check(), Check::Unchanged, "reported once");
    std::fs::write(&files.key, &key2).unwrap();
    assert!(matches!(certs.check(), Check::Reloaded(_)));
    assert_eq!(leaf(&certs), der2);
    // Garbage, then a missing file: each refused, the last good pair stays.
    std::fs::write(&files.cert, "not a certificate").unwrap();
    let Check::Kept(e) = certs.check() else {
        panic!("garbage accepted");
    };
    assert!(e.to_string().starts_with("hlsServerCert "), "{e}");
    std::fs::remove_file(&files.key).unwrap();
    let Check::Kept(e) = certs.check() else {
        panic!("a missing key accepted");
    };
    assert!(e.to_string().contains("can't read it"), "{e}");
    assert_eq!(leaf(&certs), der2);
}

#[test]
fn files_that_do_not_load_at_start_name_their_key() {
    let dir = temp_dir("start");
    let files = files(&dir);
    let e = ReloadingCert::load(files.clone()).unwrap_err();
    assert!(
        matches!(
            &e,
            CertError::File {
                key: "hlsServerKey",
                ..
            }
        ),
        "{e}"
    );
    let (cert, _, _) = self_signed("a");
    write(
        &files,
        &cert,
        "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
    );
    let e = ReloadingCert::load(files).unwrap_err();
    assert!(e.to_string().contains("hlsServerKey"), "{e}");
}

/// The leaf certificate a client that trusts `ca` gets from `port`, after echoing a byte;
/// `None` when the handshake fails (the server presented something else).
async fn served_leaf(port: u16, ca: &CertificateDer<'static>) -> Option<CertificateDer<'static>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    tls.write_all(b"x").await.ok()?;
    let mut echo = [0u8; 1];
    tls.read_exact(&mut echo).await.ok()?;
    Some(tls.get_ref().1.peer_certificates()?[0].clone())
}

#[tokio::test]
async fn new_handshakes_get_the_reloaded_certificate() {
    let dir = temp_dir("handshake");
    let files = files(&dir);
    let (cert1, key1, der1) = self_signed("first");
    write(&files, &cert1, &key1);
    let tls = Arc::new(ServerTls::start("test", &files, &[]).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = tls.accept(socket, Duration::from_secs(5)).await else {
                    return;
                };
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_ok() {
                    let _ = stream.write_all(&byte).await;
                }
            });
        }
    });
    assert_eq!(served_leaf(port, &der1).await, Some(der1));
    let (cert2, key2, der2) = self_signed("second");
    write(&files, &cert2, &key2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while served_leaf(port, &der2).await.as_ref() != Some(&der2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_stalled_handshake_times_out() {
    let dir = temp_dir("stall");
    let files = files(&dir);
    let (cert, key, _) = self_signed("a");
    write(&files, &cert, &key);
    let tls = ServerTls::start("test", &files, &[]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _silent = TcpStream::connect(addr).await.unwrap();
    let (socket, _) = listener.accept().await.unwrap();
    let started = tokio::time::Instant::now();
    let e = tls
        .accept(socket, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(2));
}

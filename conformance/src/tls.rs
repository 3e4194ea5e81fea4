//! A test PKI made at test time with rcgen: a CA, and server certificates it signs for
//! `127.0.0.1` and `localhost`, written as the PEM files vigia reads; and a blocking TLS client
//! that trusts only that CA, to fetch over HTTPS and see which certificate a server presents.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData, SerialNumber,
};
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};

use crate::http::Response;

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub cert_pem: String,
    /// Its certificate, DER.
    pub cert_der: CertificateDer<'static>,
}

/// A server certificate signed by a [`TestCa`], with its key.
pub struct ServerCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER (what a client sees).
    pub der: CertificateDer<'static>,
    /// Base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo, what Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub spki_sha256: String,
}

impl TestCa {
    /// A fresh CA named "Vigia test CA".
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params
            .distinguished_name
            .push(DnType::CommonName, "Vigia test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost` with common name `cn` and a serial
    /// number no other certificate of this process has.
    pub fn issue(&self, cn: &str) -> ServerCert {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let key = KeyPair::generate().expect("server key");
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let mut params = CertificateParams::new(names).expect("server params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let serial = (u64::from(std::process::id()) << 20) + SERIAL.fetch_add(1, Ordering::Relaxed);
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let spki = Sha256::digest(key.subject_public_key_info());
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(spki),
        }
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns the path (for ffmpeg's
    /// `-ca_file`).
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.cert_pem).expect("write ca.pem");
        path
    }

    /// A TLS client configuration trusting this CA only.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der.clone()).expect("add CA");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// `GET target` over HTTPS on `127.0.0.1:port`, verifying the server against this CA:
    /// the answer and the certificate the server presented; `None` if the connection or the
    /// handshake fails.
    pub fn https_get(
        &self,
        port: u16,
        target: &str,
    ) -> Option<(Response, CertificateDer<'static>)> {
        let mut tls = self.connect(port)?;
        let request =
            format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes()).ok()?;
        let mut raw = Vec::new();
        // A server may close without close_notify: keep what arrived.
        let _ = tls.read_to_end(&mut raw);
        let leaf = tls.conn.peer_certificates()?.first()?.clone();
        Some((Response::parse(&raw), leaf))
    }

    /// Sends `request` (an RTSP request, say) over TLS to `127.0.0.1:port`, verifying the server
    /// against this CA, and returns the head of the answer (up to its blank line); `None` if the
    /// connection, the handshake or the read fails.
    pub fn exchange(&self, port: u16, request: &str) -> Option<String> {
        let mut tls = self.connect(port)?;
        tls.write_all(request.as_bytes()).ok()?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 4096];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tls.read(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
        }
        Some(String::from_utf8_lossy(&answer).into_owned())
    }

    /// The certificate `127.0.0.1:port` presents to a client trusting this CA; `None` if the
    /// handshake fails (say, the server presents a certificate this CA did not sign).
    pub fn served_certificate(&self, port: u16) -> Option<CertificateDer<'static>> {
        let mut tls = self.connect(port)?;
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).ok()?;
        }
        tls.conn.peer_certificates()?.first().cloned()
    }

    fn connect(
        &self,
        port: u16,
    ) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
        let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
        tcp.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
        let name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        let conn = rustls::ClientConnection::new(self.client_config(), name).ok()?;
        Some(rustls::StreamOwned::new(conn, tcp))
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCert {
    /// Writes the key and certificate to `dir/server.key` and `dir/server.crt` (MediaMTX's
    /// default names), the certificate first, each through a temporary file and a rename so a
    /// reader never sees half a file.
    pub fn write(&self, dir: &Path) {
        for (name, text) in [
            ("server.crt", &self.cert_pem),
            ("server.key", &self.key_pem),
        ] {
            let tmp = dir.join(format!("{name}.tmp"));
            std::fs::write(&tmp, text).expect("write PEM");
            std::fs::rename(&tmp, dir.join(name)).expect("rename PEM");
        }
    }
}

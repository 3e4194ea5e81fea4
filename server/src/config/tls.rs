//! TLS settings of the listeners, as MediaMTX names them: `rtspEncryption` (no, strict,
//! optional) with `rtspsAddress`, and `hlsEncryption`, `apiEncryption`, `metricsEncryption`,
//! `playbackEncryption` (true: HTTPS), each with its `*ServerKey` and `*ServerCert` files
//! (default `server.key` and `server.crt`, relative to the working directory).
//!
//! The files are read when the listener starts (a missing or bad file stops the server with the
//! key's name) and watched afterwards by `crate::tls`.

use super::error::ConfigError;
use super::global::{Config, Encryption, RtspTransport};
use super::hls::HlsConf;
use super::lines::KeyPath;
use super::parse::Ctx;

/// The key and certificate files of one TLS listener, with the keys that named them (for
/// messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// The private key file (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// The certificate chain file (PEM), leaf first.
    pub cert: String,
    /// The key naming [`Self::key`], e.g. `hlsServerKey`.
    pub key_name: &'static str,
    /// The key naming [`Self::cert`], e.g. `hlsServerCert`.
    pub cert_name: &'static str,
}

impl Config {
    /// The RTSPS listener's files, when `rtspEncryption` is `strict` or `optional`.
    pub(crate) fn rtsps_tls(&self) -> Option<TlsFiles> {
        (self.rtsp_encryption != Encryption::No).then(|| TlsFiles {
            key: self.rtsp_server_key.clone(),
            cert: self.rtsp_server_cert.clone(),
            key_name: "rtspServerKey",
            cert_name: "rtspServerCert",
        })
    }

    /// The API listener's files, when `apiEncryption` is true.
    pub(crate) fn api_tls(&self) -> Option<TlsFiles> {
        self.api_encryption.then(|| TlsFiles {
            key: self.api_server_key.clone(),
            cert: self.api_server_cert.clone(),
            key_name: "apiServerKey",
            cert_name: "apiServerCert",
        })
    }

    /// The metrics listener's files, when `metricsEncryption` is true.
    pub(crate) fn metrics_tls(&self) -> Option<TlsFiles> {
        self.metrics_encryption.then(|| TlsFiles {
            key: self.metrics_server_key.clone(),
            cert: self.metrics_server_cert.clone(),
            key_name: "metricsServerKey",
            cert_name: "metricsServerCert",
        })
    }

    /// The playback listener's files, when `playbackEncryption` is true.
    pub(crate) fn playback_tls(&self) -> Option<TlsFiles> {
        self.playback_encryption.then(|| TlsFiles {
            key: self.playback_server_key.clone(),
            cert: self.playback_server_cert.clone(),
            key_name: "playbackServerKey",
            cert_name: "playbackServerCert",
        })
    }
}

impl HlsConf {
    /// The HLS listener's files, when `hlsEncryption` is true.
    pub(crate) fn tls(&self) -> Option<TlsFiles> {
        self.encryption.then(|| TlsFiles {
            key: self.server_key.clone(),
            cert: self.server_cert.clone(),
            key_name: "hlsServerKey",
            cert_name: "hlsServerCert",
        })
    }
}

/// Checks that need several TLS keys at once: a TLS listener that is on names both files, and
/// RTSPS, which carries media only interleaved in its TCP connection, has `tcp` among
/// `rtspTransports`.
pub(super) fn check(ctx: &Ctx, cfg: &Config) -> Result<(), ConfigError> {
    let root = KeyPath::default();
    let on = [
        (cfg.rtsp, cfg.rtsps_tls()),
        (cfg.hls.enabled, cfg.hls.tls()),
        (cfg.api, cfg.api_tls()),
        (cfg.metrics, cfg.metrics_tls()),
        (cfg.playback, cfg.playback_tls()),
    ];
    for files in on
        .into_iter()
        .filter_map(|(enabled, files)| files.filter(|_| enabled))
    {
        for (name, value) in [(files.key_name, &files.key), (files.cert_name, &files.cert)] {
            if value.is_empty() {
                return Err(ctx.invalid(&root.key(name), "must be set when TLS is on"));
            }
        }
    }
    let rtsps = cfg.rtsp && cfg.rtsp_encryption != Encryption::No;
    if rtsps && !cfg.rtsp_transports.contains(&RtspTransport::Tcp) {
        return Err(ctx.invalid(
            &root.key("rtspTransports"),
            "must contain tcp when rtspEncryption is strict or optional: RTSPS carries media \
             only interleaved in its TLS connection (UDP would need SRTP, which Vigia does not \
             support)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::{Config, Encryption};

    fn load(text: &str) -> Config {
        match Config::from_yaml_str(text, "test.yml", &HashMap::new()) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn tls_is_off_by_default_with_mediamtx_file_names() {
        let cfg = load("");
        assert_eq!(cfg.rtsp_encryption, Encryption::No);
        assert_eq!(cfg.rtsps_tls(), None);
        assert_eq!(
            (cfg.api_tls(), cfg.metrics_tls(), cfg.playback_tls()),
            (None, None, None)
        );
        assert_eq!(cfg.hls.tls(), None);
        assert_eq!(
            (cfg.rtsp_server_key.as_str(), cfg.rtsp_server_cert.as_str()),
            ("server.key", "server.crt")
        );
    }

    #[test]
    fn each_encryption_key_names_its_own_files() {
        let cfg = load(
            "rtspEncryption: optional\nrtspServerKey: r.key\nrtspServerCert: r.crt\n\
             hlsEncryption: yes\nhlsServerKey: h.key\n\
             apiEncryption: true\napiServerCert: a.crt\n\
             metricsEncryption: yes\nplaybackEncryption: yes\n",
        );
        let rtsps = cfg.rtsps_tls().unwrap();
        assert_eq!(
            (rtsps.key.as_str(), rtsps.cert.as_str()),
            ("r.key", "r.crt")
        );
        let hls = cfg.hls.tls().unwrap();
        assert_eq!(
            (hls.key.as_str(), hls.cert_name),
            ("h.key", "hlsServerCert")
        );
        let api = cfg.api_tls().unwrap();
        assert_eq!(
            (api.key.as_str(), api.cert.as_str()),
            ("server.key", "a.crt")
        );
        assert_eq!(cfg.metrics_tls().unwrap().key_name, "metricsServerKey");
        assert_eq!(cfg.playback_tls().unwrap().cert, "server.crt");
    }
}

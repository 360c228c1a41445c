//! TLS client settings for https targets: the system's trust store, or no
//! verification at all with `--output-http-skip-verify` (staging servers
//! with self-signed certificates).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Where Debian, Ubuntu, Alpine, Fedora and friends keep their CA bundle.
const CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// ring's algorithms, with AES-128-GCM preferred over AES-256-GCM (as Go's
/// TLS does on processors with AES instructions): for a relay or a replay
/// moving hundreds of MB/s, the cipher is most of the TLS cost, and
/// AES-128 does 10 rounds where AES-256 does 14. Both ends of a gor relay
/// use this list; any peer may still pick another suite it offers.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite as suite;
    let mut p = rustls::crypto::ring::default_provider();
    let preferred = [
        suite::TLS13_AES_128_GCM_SHA256,
        suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ];
    // TLS 1.3 suites stay ahead of TLS 1.2 ones; within each, AES-128 first.
    p.cipher_suites.sort_by_key(|s| {
        (
            matches!(s, rustls::SupportedCipherSuite::Tls12(_)),
            !preferred.iter().any(|x| x.suite() == s.suite()),
        )
    });
    Arc::new(p)
}

/// The client configuration for replay targets.
pub fn client_config(skip_verify: bool) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let mut config = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(
                provider().signature_verification_algorithms,
            )))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(system_roots())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The system trust store (`SSL_CERT_FILE` first, as OpenSSL does).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let from_env = std::env::var("SSL_CERT_FILE").ok();
    for path in from_env
        .iter()
        .map(String::as_str)
        .chain(CA_BUNDLES.iter().copied())
    {
        let Ok(iter) = CertificateDer::pem_file_iter(path) else {
            continue;
        };
        for cert in iter.flatten() {
            let _ = roots.add(cert);
        }
        if !roots.is_empty() {
            break;
        }
    }
    if roots.is_empty() {
        tracing::warn!(
            "no CA bundle found: https targets will fail verification (see --output-http-skip-verify)"
        );
    }
    roots
}

/// The name the target's certificate must carry (an address or a DNS name).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("bad TLS server name {host:?}: {e}"))
}

/// Accepts any certificate; still checks handshake signatures so the
/// session itself is sound.
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CipherSuite;

    #[test]
    fn aes_128_gcm_is_offered_first_and_nothing_is_dropped() {
        let p = provider();
        let names: Vec<CipherSuite> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(names[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(names[1], CipherSuite::TLS13_AES_256_GCM_SHA384);
        assert_eq!(
            names.len(),
            rustls::crypto::ring::default_provider().cipher_suites.len()
        );
    }
}

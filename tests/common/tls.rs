//! A fresh self-signed certificate for 127.0.0.1 and localhost: as a rustls
//! server configuration for the TLS servers tests start, and as PEM files for
//! the flags that take certificate paths.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;

fn self_signed() -> rcgen::CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap()
}

/// A server configuration with a new self-signed certificate.
pub fn server_config() -> Arc<rustls::ServerConfig> {
    let ck = self_signed();
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap(),
    )
}

/// A new self-signed certificate and its key written to `dir` as
/// `cert.pem` and `key.pem`; returns their paths.
pub fn pem_files(dir: &Path) -> (String, String) {
    let ck = self_signed();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (
        cert.to_str().unwrap().to_string(),
        key.to_str().unwrap().to_string(),
    )
}

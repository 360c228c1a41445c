//! TLS for the relay: the listening side loads its certificate chain and key
//! from PEM files; the sending side verifies against the system's trust
//! store (or `SSL_CERT_FILE`), or not at all when told to skip verification.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ServerConfig};
use std::sync::Arc;

/// The server configuration of `--input-tcp-secure`. Errors name the flag
/// and the file, in one line.
pub fn server_config(cert_path: &str, key_path: &str) -> anyhow::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            anyhow::anyhow!(
                "--input-tcp-certificate {cert_path:?}: cannot read a PEM certificate: {e}"
            )
        })?;
    if certs.is_empty() {
        anyhow::bail!("--input-tcp-certificate {cert_path:?}: no PEM certificate in the file");
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        anyhow::anyhow!(
            "--input-tcp-certificate-key {key_path:?}: cannot read a PEM private key: {e}"
        )
    })?;
    let config = ServerConfig::builder_with_provider(crate::http::client::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("--input-tcp-secure: TLS set-up: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "--input-tcp-certificate-key {key_path:?}: does not fit --input-tcp-certificate {cert_path:?}: {e}"
            )
        })?;
    Ok(Arc::new(config))
}

/// The client configuration of a relay output; `flag` names it in errors.
pub fn client_config(flag: &str, skip_verify: bool) -> anyhow::Result<Arc<ClientConfig>> {
    crate::http::client::tls::client_config(skip_verify)
        .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

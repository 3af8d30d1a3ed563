//! TLS for `https://` health checks: rustls (with ring) trusting the system's root
//! certificates (`rustls-native-certs`: the OS store on Windows and macOS, the usual
//! bundle files on Linux, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set). Loaded once
//! per supervisor, on the first `https://` probe.

use tokio::net::TcpStream;

/// A TLS stream to a health endpoint.
#[cfg(feature = "https")]
pub type Stream = tokio_rustls::client::TlsStream<TcpStream>;

/// Wraps `tcp` in TLS for `host`, verifying its certificate against the system roots.
#[cfg(feature = "https")]
pub async fn connect(host: &str, tcp: TcpStream) -> Result<Stream, String> {
    use std::sync::{Arc, OnceLock};

    // Kept once loaded; an error is not (a bundle mounted later is found then).
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = match CONFIG.get() {
        Some(c) => c.clone(),
        None => {
            let c = config()?;
            CONFIG.get_or_init(|| c).clone()
        }
    };
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {}", crate::text::io_error(&e)))
}

/// The client configuration: ring's safe defaults and the system's roots.
#[cfg(feature = "https")]
fn config() -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(format!(
            "no root certificates found on this system{why} (set SSL_CERT_FILE to a bundle)"
        ));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

/// A TLS stream (never made: this build has no HTTPS).
#[cfg(not(feature = "https"))]
pub type Stream = TcpStream;

/// This build has no HTTPS: says so.
#[cfg(not(feature = "https"))]
pub async fn connect(_host: &str, _tcp: TcpStream) -> Result<Stream, String> {
    Err(
        "this tend was built without HTTPS (cargo feature `https`); probe over http:// or tcp"
            .into(),
    )
}

//! SIP over TLS (RFC 3261 §26.2, RFC 5630) for the tokio driver: a listener that
//! accepts TLS connections and a connector for the connections we open. Frames are cut
//! by Content-Length exactly as on TCP ([`crate::message::StreamFramer`]).
//!
//! Certificates and trust are the application's: build rustls configs with
//! [`TlsOptions::new`] from PEM text, or pass your own [`rustls::ServerConfig`] /
//! [`rustls::ClientConfig`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// TLS settings of a driver: where to listen and the rustls configurations.
#[derive(Clone)]
pub struct TlsOptions {
    /// Address of the TLS listener (port 0 picks a free port; 5061 is the SIP default).
    /// `None`: no listener, outbound TLS only.
    pub listen: Option<SocketAddr>,
    /// Server side (certificate chain and key); needed for a listener.
    pub server: Option<Arc<ServerConfig>>,
    /// Client side (trusted roots) for connections we open.
    pub client: Arc<ClientConfig>,
    /// The host name each peer address is checked against when we connect (sent as
    /// SNI and matched with the certificate's names); an address not listed is checked
    /// by its IP address. Trunks add theirs ([`crate::trunk::Trunk::tls_server_name`]).
    pub server_names: HashMap<SocketAddr, String>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("listen", &self.listen)
            .field("server", &self.server.is_some())
            .field("server_names", &self.server_names)
            .finish_non_exhaustive()
    }
}

fn bad(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every `CERTIFICATE` block of a PEM text.
fn certs_from_pem(pem: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = certs.map_err(|e| bad(format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE in PEM"));
    }
    Ok(certs)
}

/// The server side from a PEM certificate chain and private key.
fn server_config(chain_pem: &str, key_pem: &str) -> io::Result<Arc<ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    let chain = certs_from_pem(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| bad(format!("private key PEM: {e}")))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(bad)?;
    Ok(Arc::new(cfg))
}

/// The client side trusting `roots`.
fn client_config(roots: RootCertStore) -> io::Result<Arc<ClientConfig>> {
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(bad)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(client))
}

impl TlsOptions {
    /// Settings from PEM text: our certificate chain and private key (for a listener on
    /// `listen`), and the certificates we trust when we connect out (CA or self-signed
    /// peer certificates).
    pub fn new(
        listen: Option<SocketAddr>,
        cert_chain_pem: Option<(&str, &str)>,
        trusted_pem: &str,
    ) -> io::Result<TlsOptions> {
        let server = match cert_chain_pem {
            Some((chain, key)) => Some(server_config(chain, key)?),
            None => None,
        };
        let mut roots = RootCertStore::empty();
        for c in certs_from_pem(trusted_pem)? {
            roots.add(c).map_err(bad)?;
        }
        Ok(TlsOptions {
            listen,
            server,
            client: client_config(roots)?,
            server_names: HashMap::new(),
        })
    }

    /// A TLS listener on `listen` with our certificate chain and private key (PEM)
    /// and no outbound trust: connections we open over TLS are refused until a
    /// trusted bundle is given ([`TlsOptions::new`]), e.g. for phones only.
    ///
    /// # Errors
    /// The PEM texts hold no certificate or no usable key.
    pub fn listener(listen: SocketAddr, chain_pem: &str, key_pem: &str) -> io::Result<TlsOptions> {
        Ok(TlsOptions {
            listen: Some(listen),
            server: Some(server_config(chain_pem, key_pem)?),
            client: client_config(RootCertStore::empty())?,
            server_names: HashMap::new(),
        })
    }

    /// These options with a listener on `listen` too (certificate chain and key in
    /// PEM); the outbound side (trusted roots, server names) is kept.
    ///
    /// # Errors
    /// The PEM texts hold no certificate or no usable key.
    pub fn with_listener(
        mut self,
        listen: SocketAddr,
        chain_pem: &str,
        key_pem: &str,
    ) -> io::Result<TlsOptions> {
        self.listen = Some(listen);
        self.server = Some(server_config(chain_pem, key_pem)?);
        Ok(self)
    }

    /// Checks the peer at `addr` against host name `name` (SNI and certificate).
    #[must_use]
    pub fn with_server_name(mut self, addr: SocketAddr, name: &str) -> TlsOptions {
        self.server_names.insert(addr, name.to_owned());
        self
    }

    /// Reads a CA bundle (PEM, one or more certificates) from a file, for the
    /// `trusted_pem` of [`TlsOptions::new`].
    ///
    /// # Errors
    /// The file cannot be read or holds no certificate.
    pub fn read_ca_bundle(path: &std::path::Path) -> io::Result<String> {
        let pem = std::fs::read_to_string(path)?;
        certs_from_pem(&pem)?;
        Ok(pem)
    }

    pub(crate) fn acceptor(&self) -> Option<TlsAcceptor> {
        self.server.clone().map(TlsAcceptor::from)
    }

    pub(crate) fn connector(&self) -> TlsConnector {
        TlsConnector::from(self.client.clone())
    }
}

/// Opens a TLS connection to `addr`, checking the certificate against host name `name`
/// (also sent as SNI) or, without one, against the IP address (a certificate then
/// names it in a subjectAltName).
pub(crate) async fn connect(
    connector: TlsConnector,
    addr: SocketAddr,
    name: Option<&str>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let server = match name {
        Some(n) => ServerName::try_from(n.to_owned())
            .map_err(|e| bad(format!("TLS server name `{n}`: {e}")))?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    connector.connect(server, tcp).await
}

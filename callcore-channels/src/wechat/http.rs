//! The HTTP/1.1 client of the WeChat API: one hyper connection per request,
//! over rustls (the system's roots) for `https://` or plain TCP for `http://`
//! (a local double in tests).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::ServerName};

/// The largest API answer read, in bytes.
const MAX_ANSWER: usize = 1024 * 1024;

/// Where the API is: scheme, host, port and a path prefix.
#[derive(Clone)]
pub(crate) struct ApiBase {
    host: String,
    port: u16,
    authority: String,
    prefix: String,
    tls: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for ApiBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiBase")
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Checks an API base URL (`https://host[:port][/prefix]` or `http://...`);
/// its scheme, host, port and prefix.
pub(crate) fn parse_base(url: &str) -> Result<(bool, String, u16, String), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("expected http:// or https://".into());
    };
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.contains('@') || prefix.contains(['?', '#']) {
        return Err("no user, query or fragment".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            let port = p.parse::<u16>().map_err(|_| "a bad port".to_owned())?;
            (h.to_owned(), port)
        }
        _ => (authority.to_owned(), if tls { 443 } else { 80 }),
    };
    if host.is_empty() || port == 0 {
        return Err("no host".into());
    }
    Ok((tls, host, port, prefix.to_owned()))
}

impl ApiBase {
    /// The API at `url`; `https://` loads the system's root certificates.
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let (tls, host, port, prefix) = parse_base(url)?;
        let tls = if tls {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no system root certificates for https".into());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            None
        };
        let default = if tls.is_some() { 443 } else { 80 };
        let authority = if port == default {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        Ok(Self {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            authority,
            prefix,
            tls,
        })
    }

    /// Sends a request for `path_and_query` (after the prefix) with a JSON
    /// `body` (POST) or none (GET); the status and body of the answer.
    /// Errors are transport failures, worded without the URL (its query
    /// holds the secret or the access token).
    pub(crate) async fn request(
        &self,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), String> {
        // the caller's clock does not bound a socket: tokio's timer does
        match tokio::time::timeout(timeout, self.exchange(path_and_query, body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    async fn exchange(
        &self,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), String> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.over(tcp, path_and_query, body).await,
            Some(config) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| "a bad host name".to_owned())?;
                let tls = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                self.over(tls, path_and_query, body).await
            }
        }
    }

    async fn over<S>(
        &self,
        stream: S,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), String>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let uri = format!("{}{path_and_query}", self.prefix);
        let builder = hyper::Request::builder()
            .uri(uri)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::ACCEPT, "application/json");
        let request = match body {
            Some(b) => builder
                .method(hyper::Method::POST)
                .header(
                    hyper::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(Full::new(Bytes::from(b))),
            None => builder
                .method(hyper::Method::GET)
                .body(Full::new(Bytes::new())),
        }
        .map_err(|e| format!("request: {e}"))?;
        let result = async {
            let answer = sender
                .send_request(request)
                .await
                .map_err(|e| format!("HTTP: {e}"))?;
            let status = answer.status().as_u16();
            let body = Limited::new(answer.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("answer: {e}"))?
                .to_bytes();
            Ok((status, body.to_vec()))
        }
        .await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            parse_base("https://api.weixin.qq.com").unwrap(),
            (true, "api.weixin.qq.com".into(), 443, String::new())
        );
        assert_eq!(
            parse_base("http://127.0.0.1:8081/wx/").unwrap(),
            (false, "127.0.0.1".into(), 8081, "/wx".into())
        );
        for bad in [
            "ftp://x",
            "https://",
            "http://h:0",
            "http://u@h",
            "http://h/p?q",
        ] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }
}

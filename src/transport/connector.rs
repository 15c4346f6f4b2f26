//! How connections to providers are made: TCP (no Nagle delay, the configured connect timeout),
//! through the proxy the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
//! `NO_PROXY`, as curl reads them) by an HTTP CONNECT tunnel, then TLS with the system's trust
//! store, offering HTTP/2 so that streams to one provider share a connection where it agrees.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Uri;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::{Service, ServiceExt};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// TCP, directly or through a proxy's tunnel.
#[derive(Clone)]
pub struct Connector {
    tcp: HttpConnector,
    proxies: Arc<Matcher>,
}

impl Connector {
    pub fn new(connect_timeout: Duration, proxies: Matcher) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        // TLS is layered on top; this connector also dials for https:// addresses.
        tcp.enforce_http(false);
        Self {
            tcp,
            proxies: Arc::new(proxies),
        }
    }

    /// With TLS for https:// addresses (HTTP/2 offered by ALPN), plain for http://.
    pub fn with_tls(self) -> Result<HttpsConnector<Self>, String> {
        Ok(HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| format!("cannot load the system's trusted certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(self))
    }
}

impl Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    // Boxed: one allocation per new connection, not per request.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        match self.proxies.intercept(&destination) {
            None => {
                let connecting = self.tcp.call(destination);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.tcp.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Box::pin(async move {
                    tunnel
                        .oneshot(destination)
                        .await
                        .map_err(|e| format!("through the proxy: {e}").into())
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// Answers one request on each connection with `hello`.
    async fn upstream() -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = tcp.read(&mut buf).await;
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                        .await;
                });
            }
        });
        addr
    }

    /// A CONNECT proxy that records the request heads it was sent.
    async fn proxy(seen: &'static Mutex<Vec<String>>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let target = head
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    seen.lock().unwrap().push(head);
                    let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                    client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await
                        .unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        addr
    }

    async fn get(connector: Connector, url: String) -> String {
        let client: Client<Connector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        let response = client.get(url.parse().unwrap()).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn a_proxy_from_the_environment_is_tunnelled_through_and_no_proxy_is_honoured() {
        static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let upstream = upstream().await;
        let proxy = proxy(&SEEN).await;
        let via_proxy = Matcher::builder()
            .http(format!("http://user:pw@{proxy}"))
            .build();
        let body = get(
            Connector::new(Duration::from_secs(5), via_proxy),
            format!("http://{upstream}/v1/chat/completions"),
        )
        .await;
        assert_eq!(body, "hello");
        let seen = SEEN.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(
            seen[0].starts_with(&format!("CONNECT {upstream} HTTP/1.1")),
            "{seen:?}"
        );
        assert!(
            seen[0]
                .to_ascii_lowercase()
                .contains("proxy-authorization: basic dxnlcjpwdw=="),
            "{seen:?}"
        );

        let bypassed = Matcher::builder()
            .http(format!("http://{proxy}"))
            .no("127.0.0.1")
            .build();
        let body = get(
            Connector::new(Duration::from_secs(5), bypassed),
            format!("http://{upstream}/"),
        )
        .await;
        assert_eq!(body, "hello");
        assert_eq!(
            SEEN.lock().unwrap().len(),
            1,
            "NO_PROXY went through the proxy"
        );
    }
}

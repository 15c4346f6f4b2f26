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

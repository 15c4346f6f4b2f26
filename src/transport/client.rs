//! The one client every provider shares: reqwest, configured for a gateway. It follows no
//! redirect (a provider that redirects a POST is misconfigured), retries nothing (routing is the
//! one place that retries), decompresses nothing it was not asked to, and sends without Nagle's
//! delay. TLS is rustls with the system's trust store; HTTP/2 is offered by ALPN, so streams to
//! one provider share a connection where it agrees. Proxies come from the environment as curl
//! reads them.

use std::time::Duration;

use reqwest::{NoProxy, Proxy};

use crate::error::Error;

/// Idle pooled connections are closed after this; providers' own keep-alive is longer.
const POOL_IDLE: Duration = Duration::from_secs(90);

pub type Http = reqwest::Client;

/// The client, with the proxies `env` names.
pub fn build(
    connect_timeout: Duration,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Http, Error> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(POOL_IDLE)
        .tcp_nodelay(true)
        // The proxies are read here, from `env`, not again by reqwest from the process.
        .no_proxy();
    for proxy in proxies(env)? {
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))
}

/// `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` (lower case too, which wins, as curl reads
/// them), each honouring `NO_PROXY`. Credentials in a proxy's URL are sent as
/// `Proxy-Authorization`.
fn proxies(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Proxy>, Error> {
    let var = |name: &str| {
        env(&name.to_ascii_lowercase())
            .or_else(|| env(name))
            .filter(|value| !value.trim().is_empty())
    };
    let no_proxy = var("NO_PROXY");
    let mut proxies = Vec::new();
    for name in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"] {
        let Some(url) = var(name) else {
            continue;
        };
        let url = url.trim();
        let proxy = match name {
            "HTTPS_PROXY" => Proxy::https(url),
            "HTTP_PROXY" => Proxy::http(url),
            _ => Proxy::all(url),
        };
        // The URL may hold credentials: the error names the variable, not its value.
        let proxy = proxy.map_err(|_| Error::Internal(format!("{name} is not a proxy URL")))?;
        proxies.push(proxy.no_proxy(no_proxy.as_deref().and_then(NoProxy::from_string)));
    }
    Ok(proxies)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

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

    /// A proxy that records the request heads it was sent: a CONNECT is tunnelled to its
    /// target, a request in absolute form is forwarded to the host it names.
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
                    let text = String::from_utf8_lossy(&head).into_owned();
                    seen.lock().unwrap().push(text.clone());
                    let mut words = text.split_whitespace();
                    let method = words.next().unwrap_or_default();
                    let target = words.next().unwrap_or_default();
                    let host = match target.strip_prefix("http://") {
                        Some(rest) => rest.split('/').next().unwrap_or_default(),
                        None => target,
                    };
                    let Ok(mut server) = tokio::net::TcpStream::connect(host).await else {
                        return;
                    };
                    if method == "CONNECT" {
                        let _ = client
                            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                            .await;
                    } else {
                        let _ = server.write_all(&head).await;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        addr
    }

    fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        }
    }

    async fn post(http: &Http, url: String) -> Result<String, reqwest::Error> {
        let response = http.post(url).body("{}").send().await?;
        response.text().await
    }

    #[tokio::test]
    async fn proxies_from_the_environment_are_used_and_no_proxy_is_honoured() {
        static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let upstream = upstream().await;
        let proxy = proxy(&SEEN).await;
        let seen = || SEEN.lock().unwrap().clone();

        let http = build(
            Duration::from_secs(5),
            &env(vec![("HTTP_PROXY", format!("http://user:pw@{proxy}"))]),
        )
        .unwrap();
        let body = post(&http, format!("http://{upstream}/v1/chat/completions")).await;
        assert_eq!(body.ok().as_deref(), Some("hello"));
        assert_eq!(seen().len(), 1, "{:?}", seen());
        let sent_with_credentials = |head: &str, starts: &str| {
            assert!(head.starts_with(starts), "{head:?}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("proxy-authorization: basic dxnlcjpwdw=="),
                "{head:?}"
            );
        };
        sent_with_credentials(
            &seen()[0],
            &format!("POST http://{upstream}/v1/chat/completions HTTP/1.1"),
        );

        // An https provider is reached through a CONNECT tunnel, credentials sent; the fake
        // upstream speaks no TLS, so the request itself fails after the tunnel.
        let http = build(
            Duration::from_secs(5),
            &env(vec![("https_proxy", format!("http://user:pw@{proxy}"))]),
        )
        .unwrap();
        let failed = post(&http, format!("https://{upstream}/v1/chat/completions")).await;
        assert!(failed.is_err());
        assert_eq!(seen().len(), 2, "{:?}", seen());
        sent_with_credentials(&seen()[1], &format!("CONNECT {upstream} HTTP/1.1"));

        let http = build(
            Duration::from_secs(5),
            &env(vec![
                ("ALL_PROXY", format!("http://{proxy}")),
                ("NO_PROXY", "example.com,127.0.0.1".to_owned()),
            ]),
        )
        .unwrap();
        let body = post(&http, format!("http://{upstream}/")).await;
        assert_eq!(body.ok().as_deref(), Some("hello"));
        assert_eq!(seen().len(), 2, "NO_PROXY went through the proxy");
    }

    #[test]
    fn a_proxy_url_that_is_not_one_is_refused_without_its_credentials() {
        let refused = build(
            Duration::from_secs(5),
            &env(vec![("HTTPS_PROXY", "http://user:secret@[::1".to_owned())]),
        );
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("HTTPS_PROXY"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}

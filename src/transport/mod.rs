//! The one way out to providers: the shared HTTP client (`client.rs`), deadlines, and turning an
//! upstream failure into the gateway's error.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use bytes::Bytes;

mod client;
mod error_body;

pub use client::Http;

use crate::config::{Config, Secret, UpstreamBounds, process_env};
use crate::error::{Error, UpstreamStatus};
use error_body::parse_error_body;

/// An upstream URL, parsed once per provider where it can be.
pub type Url = reqwest::Url;

/// A request ready to send, as a codec encodes it.
pub struct UpstreamRequest {
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A provider's response, its body not yet read.
pub type Response = reqwest::Response;

/// Who is being called, for error messages and redaction.
pub struct Upstream {
    pub provider: String,
    /// Every secret sent to this provider (its key, secret-bearing headers): never echoed back.
    pub secrets: Vec<Secret>,
    pub bounds: UpstreamBounds,
    /// A provider whose error statuses say less than its error bodies corrects them here.
    pub status_hook: Option<StatusHook>,
}

/// Reads an error body and returns the status it really means, when that differs from the
/// HTTP status it came with.
pub type StatusHook = fn(StatusCode, &[u8]) -> Option<StatusCode>;

impl Upstream {
    /// `text` with every secret of this provider replaced.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |text, secret| secret.redact_from(&text))
    }

    /// The start of an upstream text, as an error quotes it: redacted before it is cut, so no
    /// cut can split a secret and let part of it out.
    pub fn quote(&self, text: &str) -> String {
        self.redact(text).chars().take(120).collect()
    }

    /// `error` with every secret of this provider replaced in whatever text it carries: what a
    /// codec quoted from an answer or a stream event may hold the key a misconfigured proxy
    /// echoed back.
    pub fn redact_error(&self, error: Error) -> Error {
        if self.secrets.is_empty() {
            return error;
        }
        error.redact_with(|text| self.redact(text))
    }
}

/// The largest error body read from a provider.
const ERROR_BODY_LIMIT: usize = 64 << 10;
/// The largest whole (non-stream) answer accepted from a provider.
const BODY_LIMIT: usize = 64 << 20;

/// `url` parsed, or the error a misconfigured provider URL gets.
pub fn parse_url(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|e| Error::Internal(format!("invalid upstream URL {url:?}: {e}")))
}

/// The shared client, with the proxies the process environment names.
pub fn client(config: &Config) -> Result<Http, Error> {
    client::build(config.connect_timeout, &process_env)
}

/// Sends `request` and waits for the response head. A non-2xx answer becomes an `Error`.
pub async fn send(
    http: &Http,
    upstream: &Upstream,
    request: UpstreamRequest,
) -> Result<Response, Error> {
    let mut outgoing = reqwest::Request::new(Method::POST, request.url);
    *outgoing.headers_mut() = request.headers;
    outgoing.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *outgoing.body_mut() = Some(request.body.into());
    let pending = http.execute(outgoing);
    let response = match tokio::time::timeout(upstream.bounds.first_byte, pending).await {
        Err(_) => {
            return Err(Error::UpstreamTimeout {
                provider: upstream.provider.clone(),
                detail: format!("no response within {:?}", upstream.bounds.first_byte),
            });
        }
        Ok(Err(e)) => return Err(request_error(upstream, &e)),
        Ok(Ok(response)) => response,
    };
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_limited(response, upstream.bounds.idle, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    Err(status_error(upstream, status, &headers, &body))
}

/// Reads a whole (non-stream) body under the idle deadline.
pub async fn read_body(response: Response, upstream: &Upstream) -> Result<Bytes, Error> {
    let body = read_limited(response, upstream.bounds.idle, BODY_LIMIT + 1)
        .await
        .map_err(|e| match e {
            ReadError::Idle => Error::UpstreamTimeout {
                provider: upstream.provider.clone(),
                detail: format!("the response body stalled for {:?}", upstream.bounds.idle),
            },
            ReadError::Http(e) => body_error(upstream, &e),
        })?;
    if body.len() > BODY_LIMIT {
        return Err(Error::UpstreamFailed {
            provider: upstream.provider.clone(),
            detail: format!("sent an answer larger than {BODY_LIMIT} bytes"),
        });
    }
    Ok(body)
}

enum ReadError {
    Idle,
    Http(reqwest::Error),
}

async fn read_limited(
    mut response: Response,
    idle: Duration,
    limit: usize,
) -> Result<Bytes, ReadError> {
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => return Err(ReadError::Idle),
            Ok(Ok(None)) => return Ok(body.into()),
            Ok(Err(e)) => return Err(ReadError::Http(e)),
            Ok(Ok(Some(bytes))) => {
                let room = limit.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if body.len() >= limit {
                    return Ok(body.into());
                }
            }
        }
    }
}

/// A transport failure (connect, reset, TLS, a connect timeout) as the gateway's error.
pub fn request_error(upstream: &Upstream, error: &(dyn std::error::Error + 'static)) -> Error {
    let connect = error
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_connect);
    let what = if connect {
        "could not connect"
    } else {
        "the request failed"
    };
    failure(upstream, what, error)
}

/// A response body that broke off.
pub fn body_error(upstream: &Upstream, error: &(dyn std::error::Error + 'static)) -> Error {
    failure(upstream, "the response body failed", error)
}

/// `what`, then every cause in the chain, redacted; a timeout among them makes it a timeout.
fn failure(upstream: &Upstream, what: &str, error: &(dyn std::error::Error + 'static)) -> Error {
    let mut detail = what.to_owned();
    let mut timed_out = false;
    let mut cause = Some(error);
    while let Some(error) = cause {
        timed_out |= error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
            || error
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout);
        let text = error.to_string();
        // hyper's outer errors say only what kind of thing failed; the causes say why.
        if !detail.ends_with(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        cause = error.source();
    }
    let detail = upstream.redact(&detail);
    if timed_out {
        Error::UpstreamTimeout {
            provider: upstream.provider.clone(),
            detail,
        }
    } else {
        Error::UpstreamFailed {
            provider: upstream.provider.clone(),
            detail,
        }
    }
}

/// An error status from a provider: 4xx the client can act on pass through with their message,
/// anything else is the provider failing (502), and a provider-side timeout is a 504.
pub fn status_error(
    upstream: &Upstream,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Error {
    let corrected = upstream.status_hook.and_then(|hook| hook(status, body));
    // Redacted before parsing, so no cut (truncation) can split a secret and let part of it out.
    let body = upstream.redact(&String::from_utf8_lossy(body));
    let mut parsed = parse_error_body(body.as_bytes());
    let status = match corrected {
        Some(status) => {
            // The provider's own error type described the status it sent, not this one.
            parsed.kind = None;
            status
        }
        None => status,
    };
    let message = parsed.message;
    match status.as_u16() {
        408 | 504 => Error::UpstreamTimeout {
            provider: upstream.provider.clone(),
            detail: format!(
                "HTTP {status}{}",
                message.map(|m| format!(": {m}")).unwrap_or_default()
            ),
        },
        400..=499 => Error::Upstream(Box::new(UpstreamStatus {
            status,
            message: message.unwrap_or_else(|| {
                format!("provider '{}' answered HTTP {status}", upstream.provider)
            }),
            kind: parsed.kind,
            param: parsed.param,
            code: parsed.code,
            retry_after: headers.get(header::RETRY_AFTER).cloned(),
            wait: retry_after(headers),
        })),
        _ => {
            let detail = format!(
                "HTTP {status}{}",
                message.map(|m| format!(": {m}")).unwrap_or_default()
            );
            match retry_after(headers) {
                Some(retry_after) => Error::UpstreamBusy {
                    provider: upstream.provider.clone(),
                    detail,
                    retry_after,
                },
                None => Error::UpstreamFailed {
                    provider: upstream.provider.clone(),
                    detail,
                },
            }
        }
    }
}

/// The wait a provider asked for: `retry-after-ms` (OpenAI's, preferred), else `retry-after` in
/// seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // A provider's number is not trusted to fit a Duration: 1e30 or NaN must not panic.
    if let Some(wait) = text("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
    {
        return Some(wait);
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap_or_else(|_| unreachable!()));
        }
        map
    }

    #[test]
    fn retry_after_in_every_form() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7"), ("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        let wait = retry_after(&headers(&[("retry-after", &soon)])).unwrap_or_default();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        let past = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(30));
        assert_eq!(
            retry_after(&headers(&[("retry-after", &past)])),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")])), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1e30")])),
            None,
            "no panic on absurd values"
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "NaN"), ("retry-after", "2")])),
            Some(Duration::from_secs(2))
        );
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}

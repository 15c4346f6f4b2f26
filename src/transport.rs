//! The one way out to providers: the shared HTTP client, deadlines, and turning an upstream
//! failure into the gateway's error.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::config::{Config, Secret, Timeouts};
use crate::error::{Error, UpstreamStatus};
use crate::openai::error::parse_error_body;

/// A request ready to send, as a codec encodes it.
pub struct UpstreamRequest {
    /// Parsed once per provider where it can be: parsing a URL costs more than the rest of
    /// building a request.
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Who is being called, for error messages and redaction.
pub struct Upstream {
    pub provider: String,
    /// Every secret sent to this provider (its key, secret-bearing headers): never echoed back.
    pub secrets: Vec<Secret>,
    pub timeouts: Timeouts,
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
}

/// The largest error body read from a provider.
const ERROR_BODY_LIMIT: usize = 64 << 10;
/// The largest whole (non-stream) answer accepted from a provider.
const BODY_LIMIT: usize = 64 << 20;

/// `url` parsed, or the error a misconfigured provider URL gets.
pub fn parse_url(url: &str) -> Result<reqwest::Url, Error> {
    reqwest::Url::parse(url)
        .map_err(|e| Error::Internal(format!("invalid upstream URL {url:?}: {e}")))
}

pub fn client(config: &Config) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // Routing is the one place that retries (with the budget and deadline it keeps);
        // reqwest's own retry layer would retry behind its back.
        .retry(reqwest::retry::never())
        // A provider that redirects a POST is misconfigured: say so rather than follow.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))
}

/// Sends `request` and waits for the response head. A non-2xx answer becomes an `Error`.
pub async fn send(
    http: &reqwest::Client,
    upstream: &Upstream,
    request: UpstreamRequest,
) -> Result<reqwest::Response, Error> {
    let pending = http
        .post(request.url)
        .headers(request.headers)
        .header(header::CONTENT_TYPE, "application/json")
        .body(request.body)
        .send();
    let response = match tokio::time::timeout(upstream.timeouts.first_byte, pending).await {
        Err(_) => {
            return Err(Error::UpstreamTimeout {
                provider: upstream.provider.clone(),
                detail: format!("no response within {:?}", upstream.timeouts.first_byte),
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
    let body = read_limited(response, upstream.timeouts.idle, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default();
    Err(status_error(upstream, status, &headers, &body))
}

/// Reads a whole (non-stream) body under the idle deadline.
pub async fn read_body(response: reqwest::Response, upstream: &Upstream) -> Result<Bytes, Error> {
    let body = read_limited(response, upstream.timeouts.idle, BODY_LIMIT + 1)
        .await
        .map_err(|e| match e {
            ReadError::Idle => Error::UpstreamTimeout {
                provider: upstream.provider.clone(),
                detail: format!("the response body stalled for {:?}", upstream.timeouts.idle),
            },
            ReadError::Http(e) => request_error(upstream, &e),
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
    response: reqwest::Response,
    idle: Duration,
    limit: usize,
) -> Result<Bytes, ReadError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    loop {
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => return Err(ReadError::Idle),
            Ok(None) => return Ok(body.into()),
            Ok(Some(Err(e))) => return Err(ReadError::Http(e)),
            Ok(Some(Ok(bytes))) => {
                let room = limit.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if body.len() >= limit {
                    return Ok(body.into());
                }
            }
        }
    }
}

/// A transport failure (connect, reset, TLS, timeout inside reqwest) as the gateway's error.
pub fn request_error(upstream: &Upstream, error: &reqwest::Error) -> Error {
    let mut detail = if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_body() || error.is_decode() {
        "the response body failed".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    let detail = upstream.redact(&detail);
    if error.is_timeout() {
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

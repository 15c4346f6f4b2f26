//! What one attempt is, to the attempt loop: the loop knows targets, keys, retries and
//! deadlines; an `Attempt` knows what to ask a provider and when its answer can be committed.
//! Chat completions are one kind of attempt (`chat.rs`); another surface brings its own.

use std::future::Future;
use std::time::Duration;

use axum::http::HeaderValue;

use super::plan::Target;
use crate::error::Error;
use crate::providers::Provider;
use crate::transport::Http;

/// One try of a request on one target, up to an answer that can be committed.
pub trait Attempt: Sync {
    type Output: Send;

    fn run<'a>(
        &'a self,
        call: Call<'a>,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send + 'a;
}

/// Everything one attempt may use: the provider, the target, which of the provider's API keys
/// to send, the shared client, and how long a stream may be held back before it is committed.
pub struct Call<'a> {
    pub provider: &'a Provider,
    pub target: &'a Target,
    /// Which of the provider's API keys to send (an index into its key ring).
    pub api_key: usize,
    pub http: &'a Http,
    /// How long to wait for a stream's first real output before committing it anyway.
    pub hold_back: Duration,
    /// The alias's first-token timeout: no real output by then is a failure of this target.
    pub first_token_timeout: Option<Duration>,
    /// The W3C `traceparent` to send, naming this attempt's span, when the request is traced.
    pub traceparent: Option<HeaderValue>,
}

/// What routing did for a request.
pub struct Routed<T> {
    pub result: Result<T, Error>,
    /// The target that served (or failed last).
    pub target: Option<Target>,
    pub attempts: u32,
    /// Time spent waiting on providers (attempts, up to a committable answer) and between
    /// retries: what the gateway's own overhead excludes.
    pub waited: Duration,
}

impl<T> Routed<T> {
    pub fn failed(error: Error) -> Self {
        Self {
            result: Err(error),
            target: None,
            attempts: 0,
            waited: Duration::ZERO,
        }
    }
}

//! What every surface shares, in the order a request meets it: read the body within its limit
//! and deadline, authenticate, check the model, admit against limits, route (attempts,
//! fallbacks, cooldowns), meter usage, write the `x-switchyard-*` and `x-ratelimit-*` headers,
//! and log one line. A surface decodes its request, calls these steps, and renders the answer
//! or the error in its own shape; `Trip` carries what the steps learn along the way.

mod auth;
mod body;
mod headers;
mod lifecycle;
mod relay;
pub mod sse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

pub use auth::Caller;
pub use lifecycle::Lifecycle;
pub use relay::Framing;

use crate::completion::{UsageWanted, Whole};
use crate::config::{GatewayKey, ServerConfig};
use crate::error::Error;
use crate::ledger::Ledger;
use crate::limits::{Limiter, Quotas};
use crate::metrics::Metrics;
use crate::pricing::Pricing;
use crate::routing::{Attempt, ChatAnswer, Held, Ready, Router, Target};
use crate::telemetry::{Logged, RequestLog, Tracer};
use relay::Relay;

/// The shared parts a request goes through, borrowed from the composition root for one request.
#[derive(Clone, Copy)]
pub struct Pipeline<'a> {
    pub router: &'a Router,
    pub limits: &'a Arc<Limiter>,
    pub keys: &'a [GatewayKey],
    pub server: &'a ServerConfig,
    pub lifecycle: &'a Lifecycle,
    pub metrics: &'a Arc<Metrics>,
    pub pricing: &'a Pricing,
    pub ledger: &'a Arc<Ledger>,
    pub tracer: &'a Arc<Tracer>,
}

/// One request's way through the pipeline: what each step learned, for the response headers,
/// the meter and the log line.
pub struct Trip {
    /// The inbound API, as metrics name it (`chat`).
    surface: &'static str,
    received: Instant,
    log: RequestLog,
    quotas: Quotas,
    usage: UsageWanted,
    target: Option<Target>,
    attempts: u32,
    /// Time spent waiting on providers: what the gateway's own overhead excludes.
    waited: Duration,
    dropped: Vec<String>,
    deadline: Option<Duration>,
}

impl Trip {
    /// Who wants the usage of this request's stream, as the admission decided.
    pub fn usage(&self) -> UsageWanted {
        self.usage
    }

    /// The request's body, for spans that carry content (only read when they do).
    pub fn capture(&mut self, body: &[u8]) {
        self.log.capture_input(body);
    }

    /// The parameters the serving provider dropped, which the client is told about.
    pub fn dropped(&mut self, params: Vec<String>) {
        self.dropped = params;
    }
}

impl<'a> Pipeline<'a> {
    /// A trip for a request to `surface` (its name in metrics) that has just arrived with
    /// `headers`.
    pub fn begin(&self, surface: &'static str, headers: &HeaderMap) -> Trip {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Trip {
            surface,
            received: Instant::now(),
            log: RequestLog::new(request_id)
                .counted(self.metrics, surface)
                .ledgered(self.ledger)
                .traced(self.tracer, headers),
            quotas: Quotas::default(),
            usage: UsageWanted::default(),
            target: None,
            attempts: 0,
            waited: Duration::ZERO,
            dropped: Vec::new(),
            deadline: headers::requested_deadline(headers),
        }
    }

    /// The caller, by its gateway key; 401 without a valid one.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller<'a>, Error> {
        auth::authenticate(self.keys, headers)
    }

    /// The request body, within the server's size limit and body deadline; 503 once draining.
    pub async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Error> {
        if self.lifecycle.is_draining() {
            return Err(Error::ShuttingDown);
        }
        body::read(
            headers,
            body,
            self.server.body_limit,
            self.server.body_timeout,
        )
        .await
    }

    /// Admits a request of `caller` for `model` (`size` bytes, the client asking for usage or
    /// not): the key may use the model and is within its limits. Decides, once, who wants the
    /// usage of the answer.
    pub async fn admit(
        &self,
        trip: &mut Trip,
        caller: &Caller<'_>,
        model: &str,
        stream: bool,
        size: usize,
        client_usage: bool,
    ) -> Result<(), Error> {
        trip.log.request(model, stream);
        trip.usage.by_client = client_usage;
        trip.usage.by_metrics = self.metrics.on();
        let Some(key) = caller.key else {
            return Ok(());
        };
        trip.log.key(&key.name);
        caller.check_model(model)?;
        let models = self.router.limited_models(model);
        trip.quotas = match self.limits.admit(key, &models).await {
            Ok(quotas) => quotas,
            Err(error) => {
                if matches!(error, Error::RateLimited { .. }) {
                    self.metrics.rate_limited(&key.name);
                }
                return Err(error);
            }
        };
        if key.counts_tokens() {
            trip.usage.by_gateway = true;
            // A stream cut before it reports usage: about four bytes of request per prompt
            // token.
            trip.log
                .account(self.limits.account(key, &models), size as u64 / 4);
        }
        Ok(())
    }

    /// Routes `model` with `attempt`, within the client's deadline capped by the config's.
    pub async fn route<A: Attempt>(
        &self,
        trip: &mut Trip,
        model: &str,
        attempt: &A,
    ) -> Result<A::Output, Error> {
        let routed = self
            .router
            .route(model, trip.deadline, attempt, trip.log.attempts())
            .await;
        if routed.attempts > 0 {
            self.metrics.routed(trip.surface, routed.attempts);
        }
        trip.attempts = routed.attempts;
        trip.waited = routed.waited;
        if let Some(target) = &routed.target {
            let price = self.pricing.price(&target.provider, &target.model);
            trip.log.served(&target.provider, &target.name, price);
        }
        trip.target = routed.target;
        routed.result
    }

    /// A whole answer, its tokens and cost counted against the caller's key and in the
    /// metrics as the trip ends.
    pub fn whole(&self, mut trip: Trip, whole: Whole) -> Response {
        let Whole {
            json: body,
            tokens,
            finish,
            model,
        } = whole;
        trip.log.answered_by(model);
        if let Some(tokens) = tokens {
            trip.log.tokens(tokens);
        }
        trip.log.finished(finish);
        trip.log.capture_output(&body);
        let cost = trip.log.cost();
        trip.log.first_byte();
        trip.log.complete();
        let mut response = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        if let Some(cost) = cost {
            headers::write_cost(cost, response.headers_mut());
        }
        self.finish(trip, response)
    }

    /// A committed stream, framed by the surface.
    pub fn stream(&self, trip: Trip, held: Held, framing: impl Framing) -> Response {
        let mut headers = HeaderMap::new();
        headers::write(&trip, self.overhead(&trip), &mut headers);
        let Trip {
            surface,
            log,
            usage,
            ..
        } = trip;
        let relay = Relay {
            keep_alive: self.server.keep_alive,
            log,
            usage,
            cut: self.lifecycle.cut_signal(),
            in_flight: self.metrics.stream_started(surface),
        };
        let mut response = relay::respond(held, framing, relay);
        response.headers_mut().extend(headers);
        response.extensions_mut().insert(Logged);
        response
    }

    /// What a surface's request came to: a whole answer, a committed stream in the surface's
    /// `framing`, or an error the surface renders.
    pub fn answer(
        &self,
        mut trip: Trip,
        answer: Result<ChatAnswer, Error>,
        framing: impl Framing,
        render: impl FnOnce(Error) -> Response,
    ) -> Response {
        match answer {
            Ok(ChatAnswer { ready, dropped }) => {
                trip.dropped(dropped);
                match ready {
                    Ready::Whole(whole) => self.whole(trip, whole),
                    Ready::Stream(held) => self.stream(trip, held, framing),
                }
            }
            Err(error) => self.fail(trip, error, render),
        }
    }

    /// A request that failed before anything was committed, rendered by the surface.
    pub fn fail(
        &self,
        mut trip: Trip,
        error: Error,
        render: impl FnOnce(Error) -> Response,
    ) -> Response {
        trip.log.reject(&error);
        self.finish(trip, render(error))
    }

    /// The headers every answer carries.
    fn finish(&self, trip: Trip, mut response: Response) -> Response {
        headers::write(&trip, self.overhead(&trip), response.headers_mut());
        // The log line is written here, after the headers, as `trip` drops.
        response.extensions_mut().insert(Logged);
        response
    }

    /// The gateway's own time on the request so far: everything but waiting on providers (for
    /// a stream, up to the moment its first bytes go out). Counted as it is reported.
    fn overhead(&self, trip: &Trip) -> Duration {
        let overhead = trip.received.elapsed().saturating_sub(trip.waited);
        self.metrics.overhead(trip.surface, overhead);
        overhead
    }
}

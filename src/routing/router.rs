//! The router: the providers built from the config, the shared client, what it remembers of
//! each target's health, and the one attempt loop every surface's requests go through.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::attempt::{Attempt, Call, Routed};
use super::balance;
use super::health::{Health, Pass};
use super::plan::{Candidate, Plan, Table, Target};
use super::retry;
use crate::config::{Config, RoutingConfig};
use crate::error::Error;
use crate::metrics::{AttemptResult, Cooling, Metrics};
use crate::providers::Provider;
use crate::telemetry::{self, Tried};
use crate::transport::{self, Http};

pub struct Router {
    providers: BTreeMap<String, Provider>,
    table: Table,
    http: Http,
    /// Cooldowns and latencies of targets (and of API keys), shared by every alias.
    health: Health,
    config: RoutingConfig,
    hold_back: Duration,
    metrics: Arc<Metrics>,
}

impl Router {
    pub fn new(config: &Config, metrics: Arc<Metrics>) -> Result<Self, Error> {
        let providers = config
            .providers
            .iter()
            .map(|(name, provider)| Provider::new(provider).map(|p| (name.clone(), p)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            providers,
            table: Table::new(config),
            http: transport::client(config)?,
            health: Health::new(&config.routing),
            config: config.routing.clone(),
            hold_back: config.server.stream_hold_back,
            metrics,
        })
    }

    /// The one HTTP client, for anything else the gateway sends (its spans).
    pub fn http(&self) -> &Http {
        &self.http
    }

    /// The configured providers' names.
    pub fn provider_names(&self) -> impl Iterator<Item = &String> {
        self.providers.keys()
    }

    /// Which targets and API keys are cooling down now.
    pub fn cooling(&self) -> Cooling {
        let mut cooling = Cooling::default();
        for (name, cool) in self.health.cooling(Instant::now()) {
            match name.split_once(API_KEY_MARK) {
                // A target is `provider/model`, and its model may hold anything.
                Some((provider, _)) if !provider.contains('/') => {
                    cooling.api_keys.push((provider.to_owned(), cool));
                }
                _ => cooling.targets.push((name, cool)),
            }
        }
        cooling
    }

    /// See `Table::limited_models`.
    pub fn limited_models(&self, model: &str) -> Vec<String> {
        self.table.limited_models(model)
    }

    /// Serves `requested` (a routing key or an alias) by its plan: targets in the strategy's
    /// order, cooling ones skipped, each tried with its provider's API keys and retried on
    /// retryable errors with backoff, all within one deadline (the client's, capped by the
    /// config's). The only place that tries again, and only before anything reached the client.
    /// Each attempt is added to `tried`, when given, as soon as it has a verdict (or is
    /// cancelled, by the client leaving).
    pub async fn route<A: Attempt>(
        &self,
        requested: &str,
        deadline: Option<Duration>,
        attempt: &A,
        mut tried: Option<&mut Tried>,
    ) -> Routed<A::Output> {
        let plan = match self.table.resolve(requested) {
            Ok(plan) => plan,
            Err(error) => return Routed::failed(error),
        };
        let budget = deadline.map_or(self.config.deadline, |d| d.min(self.config.deadline));
        let mut routed = Routed::failed(Error::Internal("no attempt was made".into()));
        let deadline = tokio::time::Instant::now() + budget;
        let order = self.order(&plan);
        for (position, &index) in order.iter().enumerate() {
            let candidate = &plan.candidates[index];
            let last = position + 1 == order.len();
            if self
                .try_target(
                    &plan,
                    candidate,
                    deadline,
                    budget,
                    attempt,
                    last,
                    (&mut routed, tried.as_deref_mut()),
                )
                .await
                .is_break()
            {
                break;
            }
        }
        routed
    }

    /// The plan's candidates in the strategy's order. Cooling targets are skipped while another
    /// can serve; when every one is cooling, they are all tried anyway (as load balancers'
    /// panic mode does): health alone never fails a request.
    fn order(&self, plan: &Plan) -> Vec<usize> {
        let order = balance::order(plan, &self.health, &mut fastrand::Rng::new());
        let now = Instant::now();
        let (available, cooling): (Vec<usize>, Vec<usize>) = order
            .into_iter()
            .partition(|&i| self.health.available(&plan.candidates[i].target.name, now));
        if available.is_empty() {
            cooling
        } else {
            available
        }
    }

    /// Attempts on one target until one succeeds (break), the request cannot succeed anywhere
    /// (break), or this target is given up on (continue with the next, unless it is the
    /// `last`).
    #[allow(clippy::too_many_arguments)]
    async fn try_target<A: Attempt>(
        &self,
        plan: &Plan,
        candidate: &Candidate,
        deadline: tokio::time::Instant,
        budget: Duration,
        attempt: &A,
        last: bool,
        (routed, mut tried): (&mut Routed<A::Output>, Option<&mut Tried>),
    ) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow::{Break, Continue};
        let target = &candidate.target;
        let Some(provider) = self.providers.get(&target.provider) else {
            routed.result = Err(Error::Internal(format!(
                "provider '{}' vanished",
                target.provider
            )));
            return Break(());
        };
        let api_keys_held = provider.keys().len();
        let mut retry = 0;
        // Each retry starts again from the best API key; within one try, a refused one moves on.
        let mut api_keys = self.key_order(provider, &target.provider).into_iter();
        let mut api_key = api_keys.next().unwrap_or(0);
        loop {
            routed.attempts += 1;
            routed.target = Some(target.clone());
            let target_pass = self.health.pass(&target.name, Instant::now());
            let api_key_pass = (api_keys_held > 1).then(|| {
                self.health
                    .pass(&api_key_id(&target.provider, api_key), Instant::now())
            });
            // Each attempt is a span of its own in the request's trace, and the provider is
            // told so.
            let trace = tried.as_ref().and_then(|tried| tried.trace);
            let span_id = trace.map_or(0, |_| telemetry::span_id());
            let call = Call {
                provider,
                target,
                api_key,
                http: &self.http,
                hold_back: self.hold_back,
                first_token_timeout: plan.first_token_timeout,
                traceparent: trace.and_then(|trace| trace.header(span_id)),
            };
            let started = Instant::now();
            // Counted as cancelled unless a verdict comes: the client left during the attempt.
            let counted = Counted::new(
                &self.metrics,
                (provider, target),
                tried.as_deref_mut(),
                span_id,
            );
            // On the deadline (or the client leaving), the passes drop and give back any probe.
            let outcome = tokio::time::timeout_at(deadline, attempt.run(call)).await;
            routed.waited += started.elapsed();
            let Ok(outcome) = outcome else {
                let error = Error::DeadlineExceeded(budget);
                counted.verdict(AttemptResult::TimedOut, Some(&error));
                routed.result = Err(error);
                return Break(());
            };
            let error = match outcome {
                Ok(output) => {
                    counted.verdict(AttemptResult::Success, None);
                    target_pass.success(started.elapsed());
                    if let Some(pass) = api_key_pass {
                        pass.success(started.elapsed());
                    }
                    routed.result = Ok(output);
                    return Break(());
                }
                Err(error) => error,
            };
            let next = self.after_failure(
                &error,
                target_pass,
                api_key_pass,
                &mut api_keys,
                (retry, candidate.retries),
                deadline,
            );
            let result = match (&error, &next) {
                (Error::UpstreamTimeout { .. }, _) => AttemptResult::TimedOut,
                (_, Next::ApiKey(_) | Next::Retry(_)) => AttemptResult::Retried,
                (_, Next::Target) if !last => AttemptResult::FellBack,
                _ => AttemptResult::Failed,
            };
            counted.verdict(result, Some(&error));
            routed.result = Err(error);
            let wait = match next {
                Next::ApiKey(next) => {
                    api_key = next;
                    continue;
                }
                Next::Retry(wait) => wait,
                Next::Target => return Continue(()),
                Next::Stop => return Break(()),
            };
            tokio::time::sleep(wait).await;
            routed.waited += wait;
            retry += 1;
            api_keys = self.key_order(provider, &target.provider).into_iter();
            api_key = api_keys.next().unwrap_or(0);
        }
    }

    /// What follows a failed attempt, with the health passes given their verdict: the
    /// provider's next API key when this one was refused or rate limited, a retry after a wait
    /// while retries are left and the deadline allows, else the next target, or nothing more
    /// for a request no provider would take.
    fn after_failure(
        &self,
        error: &Error,
        target_pass: Pass<'_>,
        api_key_pass: Option<Pass<'_>>,
        api_keys: &mut impl Iterator<Item = usize>,
        (retry, retries): (u32, u32),
        deadline: tokio::time::Instant,
    ) -> Next {
        if let Some(pass) = api_key_pass
            && retry::api_key_level(error)
        {
            pass.failure(error.retry_after());
            if let Some(next) = api_keys.next() {
                return Next::ApiKey(next);
            }
        }
        if !retry::retryable(error) {
            // A request the provider refused says nothing about the provider's health: the
            // dropped pass gives back a probe, and nothing is counted.
            return Next::Stop;
        }
        target_pass.failure(error.retry_after());
        // Out of retries, the provider asked for a long pause, or the wait would overrun the
        // deadline: on to the next target now.
        match retry::delay(error, retry, &self.config) {
            Some(wait) if retry < retries && tokio::time::Instant::now() + wait < deadline => {
                Next::Retry(wait)
            }
            _ => Next::Target,
        }
    }

    /// A provider's API keys in the order to try them: rotating, cooling keys only as a last
    /// resort.
    fn key_order(&self, provider: &Provider, name: &str) -> Vec<usize> {
        let ring = provider.keys();
        let rotation = ring.rotation();
        if ring.len() < 2 {
            return rotation;
        }
        let now = Instant::now();
        let (ready, cooling): (Vec<usize>, Vec<usize>) = rotation
            .into_iter()
            .partition(|&k| self.health.available(&api_key_id(name, k), now));
        if ready.is_empty() { cooling } else { ready }
    }
}

/// One attempt in the metrics (and in `tried`, for the ledger and the spans): its verdict when
/// one comes, cancelled when it is dropped first.
struct Counted<'a> {
    metrics: &'a Metrics,
    provider: &'a Provider,
    target: &'a Target,
    tried: Option<&'a mut Tried>,
    span_id: u64,
    started: SystemTime,
    began: Instant,
    done: bool,
}

impl<'a> Counted<'a> {
    fn new(
        metrics: &'a Metrics,
        (provider, target): (&'a Provider, &'a Target),
        tried: Option<&'a mut Tried>,
        span_id: u64,
    ) -> Self {
        Self {
            metrics,
            provider,
            target,
            span_id,
            // The wall clock is read only for the ledger and the spans.
            started: if tried.is_some() {
                SystemTime::now()
            } else {
                SystemTime::UNIX_EPOCH
            },
            tried,
            began: Instant::now(),
            done: false,
        }
    }

    fn verdict(mut self, result: AttemptResult, error: Option<&Error>) {
        self.done = true;
        let status = error.map_or(200, |e| e.status().as_u16());
        self.count(result, status, error.map(Error::label));
    }

    fn count(&mut self, result: AttemptResult, status: u16, error: Option<&'static str>) {
        self.metrics
            .attempt(&self.target.provider, &self.target.name, result);
        if let Some(tried) = self.tried.as_deref_mut() {
            tried.attempts.push(telemetry::Attempt {
                provider: self.target.provider.clone(),
                system: self.provider.system(),
                server: self.provider.server(),
                target: self.target.name.clone(),
                model: self.target.model.clone(),
                started: self.started,
                began: self.began,
                duration: self.began.elapsed(),
                result: result.label(),
                status,
                error,
                span_id: self.span_id,
            });
        }
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if !self.done {
            // The status nginx logs for a client that left before an answer.
            self.count(AttemptResult::Cancelled, 499, None);
        }
    }
}

/// What follows a failed attempt.
enum Next {
    /// The same target again at once, with this API key.
    ApiKey(usize),
    /// The same target after this wait.
    Retry(Duration),
    /// The next target in the plan.
    Target,
    /// No more attempts: the request itself was refused.
    Stop,
}

/// API keys are cooled down like targets, under a name no target can have.
fn api_key_id(provider: &str, key: usize) -> String {
    format!("{provider}{API_KEY_MARK}{key}")
}

/// What follows the provider's name in an API key's (a target's starts `provider/`).
const API_KEY_MARK: &str = "#key";

//! Routing: which targets serve a request, in what order, and how hard to try each. The only
//! place that decides to try again, and only before anything reached the client.

mod balance;
mod health;
mod model_ref;
mod plan;
mod retry;

use std::time::{Duration, Instant};

use bytes::Bytes;

pub use health::{Health, Pass};
pub use model_ref::ModelRef;
pub use plan::{Candidate, Plan, Target, resolve};

use crate::completion::Completion;
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::state::AppState;
use crate::stream::relay::{self, Held};

/// An answer ready to send: whole, or a stream whose first real output is in hand.
pub enum Ready {
    Whole(Bytes),
    Stream(Held),
}

/// What routing did for a request.
pub struct Routed {
    pub result: Result<Ready, Error>,
    /// The target that served (or failed last).
    pub target: Option<Target>,
    pub attempts: u32,
    /// Parameters the serving provider dropped (its `unsupported_params = "drop"`).
    pub dropped_params: Vec<String>,
    /// Time spent waiting on providers (attempts, up to a whole answer or a stream's first
    /// output) and between retries: what the gateway's own overhead excludes.
    pub waited: Duration,
}

/// Serves `request` by its plan: targets in the strategy's order, cooling ones skipped, each
/// retried on retryable errors with backoff, all within one deadline.
pub async fn complete(
    state: &AppState,
    request: &ChatRequest,
    deadline: Option<Duration>,
) -> Routed {
    let mut routed = Routed {
        result: Err(Error::Internal("no attempt was made".into())),
        target: None,
        attempts: 0,
        dropped_params: Vec::new(),
        waited: Duration::ZERO,
    };
    let plan = match resolve(state, &request.model) {
        Ok(plan) => plan,
        Err(error) => {
            routed.result = Err(error);
            return routed;
        }
    };
    let budget = deadline.map_or(state.config.routing.deadline, |d| {
        d.min(state.config.routing.deadline)
    });
    let deadline = tokio::time::Instant::now() + budget;
    let mut rng = fastrand::Rng::new();
    let order = balance::order(&plan, &state.health, &mut rng);
    let now = Instant::now();
    let (available, cooling): (Vec<usize>, Vec<usize>) = order
        .into_iter()
        .partition(|&i| state.health.available(&plan.candidates[i].target.key, now));
    // Cooling targets are skipped while another can serve. When every one is cooling, they are
    // all tried anyway (as load balancers' panic mode does): health alone never fails a request.
    let order = if available.is_empty() {
        cooling
    } else {
        available
    };

    for index in order {
        let candidate = &plan.candidates[index];
        let target_key = &candidate.target.key;
        let provider = &candidate.target.provider;
        let keys_held = state.providers.get(provider).map_or(0, |p| p.keys().len());
        let mut retry = 0;
        // Each retry starts again from the best key; within one try, a refused key moves on.
        let mut keys = key_order(state, provider).into_iter();
        let mut key = keys.next().unwrap_or(0);
        loop {
            routed.attempts += 1;
            routed.target = Some(candidate.target.clone());
            let target_pass = state.health.pass(target_key, Instant::now());
            let key_pass =
                (keys_held > 1).then(|| state.health.pass(&key_id(provider, key), Instant::now()));
            let started = Instant::now();
            let attempt = attempt(state, request, &plan, candidate, key);
            // On the deadline (or the client leaving), the passes drop and give back any probe.
            let outcome = tokio::time::timeout_at(deadline, attempt).await;
            routed.waited += started.elapsed();
            let Ok(outcome) = outcome else {
                routed.result = Err(Error::DeadlineExceeded(budget));
                return routed;
            };
            let error = match outcome {
                Ok((ready, dropped)) => {
                    target_pass.success(started.elapsed());
                    if let Some(pass) = key_pass {
                        pass.success(started.elapsed());
                    }
                    routed.result = Ok(ready);
                    routed.dropped_params = dropped;
                    return routed;
                }
                Err(error) => error,
            };
            // A rate limit or a refusal of this key: the provider's next key first.
            if let Some(pass) = key_pass
                && retry::key_level(&error)
            {
                pass.failure(error.retry_after());
                if let Some(next) = keys.next() {
                    key = next;
                    routed.result = Err(error);
                    continue;
                }
            }
            let retryable = retry::retryable(&error);
            // A request the provider refused says nothing about the provider's health: the
            // dropped pass gives back a probe, and nothing is counted.
            if retryable {
                target_pass.failure(error.retry_after());
            }
            let wait = retry::delay(&error, retry, &state.config.routing);
            routed.result = Err(error);
            if !retryable {
                return routed;
            }
            // Out of retries, the provider asked for a long pause, or the wait would overrun
            // the deadline: on to the next target now.
            let Some(wait) = wait.filter(|wait| {
                retry < candidate.retries && tokio::time::Instant::now() + *wait < deadline
            }) else {
                break;
            };
            tokio::time::sleep(wait).await;
            routed.waited += wait;
            retry += 1;
            keys = key_order(state, provider).into_iter();
            key = keys.next().unwrap_or(0);
        }
    }
    routed
}

/// A provider's keys in the order to try them: rotating, cooling keys only as a last resort.
fn key_order(state: &AppState, provider: &str) -> Vec<usize> {
    let Some(ring) = state.providers.get(provider).map(|p| p.keys()) else {
        return vec![0];
    };
    let rotation = ring.rotation();
    if ring.len() < 2 {
        return rotation;
    }
    let now = Instant::now();
    let (ready, cooling): (Vec<usize>, Vec<usize>) = rotation
        .into_iter()
        .partition(|&k| state.health.available(&key_id(provider, k), now));
    if ready.is_empty() { cooling } else { ready }
}

/// Keys are cooled down like targets, under a name no target can have.
fn key_id(provider: &str, key: usize) -> String {
    format!("{provider}#key{key}")
}

/// One try on one target, up to an answer that can be committed: a whole body, or a stream
/// holding its first real output (with a first-token timeout, no output by then is a failure).
async fn attempt(
    state: &AppState,
    request: &ChatRequest,
    plan: &Plan,
    candidate: &Candidate,
    key: usize,
) -> Result<(Ready, Vec<String>), Error> {
    let target = &candidate.target;
    let provider = state
        .providers
        .get(&target.provider)
        .ok_or_else(|| Error::Internal(format!("provider '{}' vanished", target.provider)))?;
    let answer = provider
        .complete(&state.http, request, &target.model, &target.key, key)
        .await?;
    let ready = match answer.completion {
        Completion::Whole(body) => Ready::Whole(body),
        Completion::Stream(stream) => {
            let wait = plan
                .first_token_timeout
                .unwrap_or(state.config.server.stream_hold_back);
            let held = relay::hold_back(stream, wait).await?;
            if let Some(timeout) = plan.first_token_timeout
                && !held.started()
            {
                return Err(Error::UpstreamTimeout {
                    provider: target.provider.clone(),
                    detail: format!("no output within the first-token timeout of {timeout:?}"),
                });
            }
            Ready::Stream(held)
        }
    };
    Ok((ready, answer.dropped_params))
}

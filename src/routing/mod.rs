//! Routing: which target serves a request. The only place that will ever decide to try again.

mod model_ref;
mod plan;

pub use model_ref::ModelRef;
pub use plan::{Target, resolve};

use crate::completion::Answer;
use crate::error::Error;
use crate::openai::request::ChatRequest;
use crate::state::AppState;

/// Serves `request`: resolves its model and calls the provider. Returns the target that served.
pub async fn complete(state: &AppState, request: &ChatRequest) -> Result<(Target, Answer), Error> {
    let target = resolve(state, &request.model)?;
    let provider = state
        .providers
        .get(&target.provider)
        .ok_or_else(|| Error::Internal(format!("provider '{}' vanished", target.provider)))?;
    let answer = provider
        .complete(&state.http, request, &target.model, &target.key)
        .await?;
    Ok((target, answer))
}

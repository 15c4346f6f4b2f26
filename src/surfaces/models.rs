//! `GET /v1/models`: the aliases and routing keys this gateway knows, as OpenAI's list.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::openai_error::OpenAiError;
use crate::state::AppState;

#[derive(Serialize)]
pub struct ModelList {
    object: &'static str,
    data: Vec<ModelEntry>,
}

#[derive(Serialize)]
struct ModelEntry {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: String,
}

/// What the calling key may use, and nothing else.
pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match state.pipeline().authenticate(&headers) {
        Ok(caller) => caller,
        Err(error) => return OpenAiError(error).into_response(),
    };
    let mut data = Vec::new();
    for alias in state.config.models.keys() {
        data.push(entry(alias.clone(), "switchyard"));
    }
    let mut keys = BTreeSet::new();
    for provider in state.config.providers.values() {
        keys.extend(
            provider
                .models
                .iter()
                .map(|m| (format!("{}/{m}", provider.name), provider.name.clone())),
        );
    }
    for alias in state.config.models.values() {
        for target in &alias.targets {
            keys.insert((target.name.clone(), target.provider.clone()));
        }
    }
    data.extend(keys.into_iter().map(|(id, owner)| entry(id, &owner)));
    if let Some(key) = caller.key {
        data.retain(|model| key.may_use(&model.id));
    }
    Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

fn entry(id: String, owned_by: &str) -> ModelEntry {
    ModelEntry {
        id,
        object: "model",
        created: 0,
        owned_by: owned_by.to_owned(),
    }
}

//! `GET /v1/models`: the aliases and routing keys this gateway knows, as OpenAI's list, or as
//! Anthropic's (paged by `limit`, `after_id`, `before_id`) when the request says it speaks
//! Anthropic's API (`anthropic-version`, which its SDKs and Claude Code always send).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::anthropic_error::AnthropicError;
use super::openai_error::OpenAiError;
use crate::error::Error;
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

/// Anthropic's paging of the list.
#[derive(Debug, Default)]
struct Paging {
    limit: Option<String>,
    after_id: Option<String>,
    before_id: Option<String>,
}

impl Paging {
    fn of(uri: &Uri) -> Self {
        let mut paging = Self::default();
        for (name, value) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
            let value = Some(value.into_owned());
            match &*name {
                "limit" => paging.limit = value,
                "after_id" => paging.after_id = value,
                "before_id" => paging.before_id = value,
                _ => {}
            }
        }
        paging
    }
}

/// What the calling key may use, and nothing else.
pub async fn list(State(state): State<Arc<AppState>>, headers: HeaderMap, uri: Uri) -> Response {
    let paging = Paging::of(&uri);
    let anthropic = headers.contains_key("anthropic-version");
    let caller = match state.pipeline().authenticate(&headers) {
        Ok(caller) => caller,
        Err(error) if anthropic => return AnthropicError(error).into_response(),
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
    if anthropic {
        return match anthropic_page(&data, &paging) {
            Ok(page) => Json(page).into_response(),
            Err(error) => AnthropicError(error).into_response(),
        };
    }
    Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

/// One page of Anthropic's list: `limit` entries (20 unless asked, at most 1,000) after
/// `after_id` or before `before_id`.
fn anthropic_page(data: &[ModelEntry], paging: &Paging) -> Result<serde_json::Value, Error> {
    let limit = match paging.limit.as_deref() {
        None => 20,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                Error::invalid("limit: Input should be between 1 and 1000", Some("limit"))
            })?,
    };
    let position = |id: &str| data.iter().position(|model| model.id == id);
    let (start, end) = match (&paging.after_id, &paging.before_id) {
        (Some(after), _) => {
            let start = position(after).map_or(data.len(), |i| i + 1);
            (start, (start + limit).min(data.len()))
        }
        (None, Some(before)) => {
            let end = position(before).unwrap_or(0);
            (end.saturating_sub(limit), end)
        }
        (None, None) => (0, limit.min(data.len())),
    };
    let page: Vec<serde_json::Value> = data[start..end]
        .iter()
        .map(|model| {
            serde_json::json!({
                "type": "model",
                "id": model.id,
                "display_name": model.id,
                // Not known for a configured name: the epoch, as the API allows.
                "created_at": "1970-01-01T00:00:00Z",
            })
        })
        .collect();
    let has_more = match (&paging.after_id, &paging.before_id) {
        (None, Some(_)) => start > 0,
        _ => end < data.len(),
    };
    Ok(serde_json::json!({
        "data": page,
        "has_more": has_more,
        "first_id": data[start..end].first().map(|m| m.id.clone()),
        "last_id": data[start..end].last().map(|m| m.id.clone()),
    }))
}

fn entry(id: String, owned_by: &str) -> ModelEntry {
    ModelEntry {
        id,
        object: "model",
        created: 0,
        owned_by: owned_by.to_owned(),
    }
}

//! Request parameters a provider cannot honour: refused with a 400 naming them, or dropped and
//! reported, as the provider's `unsupported_params` says. Never dropped silently.

use crate::config::UnsupportedParams;
use crate::error::Error;
use crate::openai::request::ChatRequest;

/// Parameters every provider honours: the gateway itself acts on them.
const ALWAYS: &[&str] = &["model", "messages", "stream", "stream_options"];

/// The parameters of `request` outside `honoured`: an error, or (with `Drop`) the list of
/// what will be dropped.
/// The most messages a translated request may hold: the Anthropic Messages API's own limit per
/// request, and far more turns than any context window holds. Translation builds the provider's
/// request in memory, a few hundred bytes a message, so without a cap a body of tiny messages
/// under the body limit would cost the gateway many times its size.
pub const MAX_TRANSLATED_MESSAGES: usize = 100_000;

/// A 400 for a conversation longer than a translating provider takes.
pub fn bound_messages(request: &ChatRequest, provider: &str, kind: &str) -> Result<(), Error> {
    let count = request.message_count();
    if count <= MAX_TRANSLATED_MESSAGES {
        return Ok(());
    }
    Err(Error::InvalidRequest {
        message: format!(
            "Provider '{provider}' ({kind}) takes at most {MAX_TRANSLATED_MESSAGES} messages in a request; this one has {count}."
        ),
        param: Some("messages".to_owned()),
        code: Some("too_many_messages"),
    })
}

/// A translated request as JSON, in a buffer sized from the client's body (about the same size)
/// rather than grown by doubling.
pub fn serialize(body: &impl serde::Serialize, client_len: usize) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(client_len + client_len / 4 + 1024);
    serde_json::to_writer(&mut out, body)?;
    Ok(out)
}

pub fn screen(
    request: &ChatRequest,
    honoured: &[&str],
    provider: &str,
    kind: &str,
    policy: UnsupportedParams,
) -> Result<Vec<String>, Error> {
    let unsupported: Vec<String> = request
        .present_params()
        .into_iter()
        .filter(|key| !ALWAYS.contains(&key.as_str()) && !honoured.contains(&key.as_str()))
        .collect();
    decide(unsupported, provider, kind, policy)
}

/// The parameters `provider` cannot honour, by its policy: dropped (and returned, to be named),
/// or a 400 naming them.
pub fn decide(
    unsupported: Vec<String>,
    provider: &str,
    kind: &str,
    policy: UnsupportedParams,
) -> Result<Vec<String>, Error> {
    match (unsupported.first(), policy) {
        (None, _) | (Some(_), UnsupportedParams::Drop) => Ok(unsupported),
        (Some(first), UnsupportedParams::Error) => Err(Error::InvalidRequest {
            message: format!(
                "Provider '{provider}' ({kind}) cannot honour the parameter '{first}'{}. Remove it, or set unsupported_params = \"drop\" on this provider to have the gateway drop it.",
                if unsupported.len() > 1 {
                    format!(" (nor {})", unsupported[1..].join(", "))
                } else {
                    String::new()
                }
            ),
            param: Some(first.clone()),
            code: Some("unsupported_parameter"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn request(json: &str) -> ChatRequest {
        ChatRequest::parse(Bytes::copy_from_slice(json.as_bytes()))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn refuses_or_drops_what_the_provider_cannot_honour() {
        let request = request(
            r#"{"model":"p/m","messages":[{"role":"user","content":"x"}],"stream":true,"temperature":0.2,"logit_bias":{"1":1},"seed":3,"n":1}"#,
        );
        let honoured = ["temperature"];
        match screen(
            &request,
            &honoured,
            "claude",
            "anthropic",
            UnsupportedParams::Error,
        ) {
            Err(Error::InvalidRequest {
                message,
                param,
                code,
            }) => {
                assert_eq!(param.as_deref(), Some("logit_bias"));
                assert_eq!(code, Some("unsupported_parameter"));
                assert!(
                    message.contains("'claude' (anthropic)") && message.contains("nor seed"),
                    "{message}"
                );
            }
            other => unreachable!("{other:?}"),
        }
        let dropped = screen(
            &request,
            &honoured,
            "claude",
            "anthropic",
            UnsupportedParams::Drop,
        );
        assert_eq!(
            dropped.ok(),
            Some(vec!["logit_bias".to_owned(), "seed".to_owned()])
        );
        let fine = request_fine();
        assert_eq!(
            screen(&fine, &honoured, "c", "anthropic", UnsupportedParams::Error).ok(),
            Some(Vec::new())
        );
    }

    fn request_fine() -> ChatRequest {
        request(
            r#"{"model":"p/m","messages":[{"role":"user","content":"x"}],"temperature":1,"n":1,"logprobs":false}"#,
        )
    }
}

//! Whole answers, errors, the status hook, signature-carrying ids and URLs.

use super::*;

#[test]
fn whole_answers_decode_to_tidy_completions() {
    let text = decode(TEXT);
    assert_eq!(text["object"], "chat.completion");
    assert_eq!(text["model"], "gem/gemini-2.5-flash");
    assert!(
        text["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("chatcmpl-"))
    );
    assert_eq!(text["choices"][0]["message"]["role"], "assistant");
    assert!(text["choices"][0]["message"].get("tool_calls").is_none());
    let tool = decode(TOOL);
    let message = &tool["choices"][0]["message"];
    assert_eq!(message["content"], "Let me look both up.");
    assert_eq!(message["tool_calls"][1]["function"]["name"], "get_time");
    assert_eq!(message["tool_calls"][1]["type"], "function");
    assert_eq!(tool["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn an_error_behind_a_200_is_an_error() {
    let error = codec().decode(API_KEY_ERROR.as_bytes(), "gem/m");
    match error {
        Err(Error::Upstream(status)) => assert_eq!(status.status, 401),
        other => unreachable!("{other:?}"),
    }
    let garbage = codec().decode(b"<html>oops</html>", "gem/m");
    assert!(matches!(garbage, Err(Error::UpstreamFailed { .. })));
    let nothing = codec().decode(b"{}", "gem/m");
    assert!(matches!(nothing, Err(Error::UpstreamFailed { .. })));
}

#[test]
fn api_key_invalid_is_a_401_and_nothing_else_changes() {
    let bad_request = StatusCode::BAD_REQUEST;
    assert_eq!(
        status_hook(bad_request, API_KEY_ERROR.as_bytes()),
        Some(StatusCode::UNAUTHORIZED)
    );
    let wrapped = format!("[{API_KEY_ERROR}]");
    assert_eq!(
        status_hook(bad_request, wrapped.as_bytes()),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        status_hook(StatusCode::TOO_MANY_REQUESTS, QUOTA_ERROR.as_bytes()),
        None
    );
    let plain_400 =
        br#"{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}"#;
    assert_eq!(status_hook(bad_request, plain_400), None);
    assert_eq!(status_hook(bad_request, b"not json"), None);
    match transport::status_error(
        &upstream(),
        bad_request,
        &HeaderMap::new(),
        API_KEY_ERROR.as_bytes(),
    ) {
        Error::Upstream(status) => {
            assert_eq!(status.status, 401);
            assert_eq!(status.kind, None, "INVALID_ARGUMENT described the 400");
        }
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn signatures_survive_the_trip_through_an_id() {
    for signature in [
        "CiQB+sjaf/H2vqX0Zt3gHk9uYpWm7Qe=",
        "Ab+/Cd==",
        "AbCd",
        "Ab-_Cd==",
    ] {
        let id = signature::issue_id(Some(signature));
        let (plain, carried) = signature::split_id(&id);
        assert!(plain.starts_with("call_") && plain.len() == 37, "{plain}");
        if signature.contains(['-', '_']) {
            // Already URL-safe: the same bytes come back in the standard alphabet, which Gemini
            // reads alike.
            assert_eq!(carried.as_deref(), Some("Ab+/Cd=="));
        } else {
            assert_eq!(carried.as_deref(), Some(signature));
        }
    }
    assert_eq!(signature::split_id("call_abc"), ("call_abc", None));
    assert_eq!(signature::split_id("toolu_01"), ("toolu_01", None));
    assert!(!signature::issue_id(None).contains("__thought__"));
}

#[test]
fn the_url_names_the_model_and_method_and_never_the_key() {
    let gemini = codec();
    let whole = gemini.url("gemini-2.5-flash", false);
    assert_eq!(
        whole.ok().as_ref().map(ToString::to_string).as_deref(),
        Some(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
        )
    );
    let stream = gemini.url("gemini-2.5-flash", true);
    assert_eq!(
        stream.ok().as_ref().map(ToString::to_string).as_deref(),
        Some(
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        )
    );
    let tuned = gemini.url("tunedModels/my-model-7", false);
    assert!(tuned.is_ok_and(|u| {
        u.to_string()
            .ends_with("/v1beta/tunedModels/my-model-7:generateContent")
    }));
    for bad in ["", "a?key=x", "a b", "a#b"] {
        assert!(
            matches!(gemini.url(bad, false), Err(Error::InvalidRequest { .. })),
            "{bad:?}"
        );
    }
}

//! Writing Server-Sent Events for the client: an event per `data:` payload, optionally named
//! (`event:` lines, as Anthropic's and the Responses API's streams have), each line of the
//! payload its own `data:` line.

use bytes::BytesMut;

/// The comment sent after a stretch of silence, so that proxies and clients with idle timeouts
/// keep the stream open.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Appends one event: `event: <name>` when named, then a `data:` line per line of `data`.
pub fn push_event(frame: &mut BytesMut, name: Option<&str>, data: &str) {
    if let Some(name) = name {
        frame.reserve(name.len() + 8);
        frame.extend_from_slice(b"event: ");
        frame.extend_from_slice(name.as_bytes());
        frame.extend_from_slice(b"\n");
    }
    // The common case, a payload of one line, in one pass over its bytes.
    if !data.bytes().any(|b| b == b'\n' || b == b'\r') {
        frame.reserve(data.len() + 8);
        frame.extend_from_slice(b"data: ");
        frame.extend_from_slice(data.as_bytes());
        frame.extend_from_slice(b"\n\n");
        return;
    }
    let data = data.replace("\r\n", "\n").replace('\r', "\n");
    for line in data.split('\n') {
        frame.extend_from_slice(b"data: ");
        frame.extend_from_slice(line.as_bytes());
        frame.extend_from_slice(b"\n");
    }
    frame.extend_from_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_a_data_line_per_line() {
        let mut frame = BytesMut::new();
        push_event(&mut frame, None, r#"{"a":1}"#);
        push_event(&mut frame, None, "{\"b\":\n2}");
        push_event(&mut frame, None, "[DONE]");
        push_event(&mut frame, None, "c\r\nd");
        assert_eq!(
            &frame[..],
            b"data: {\"a\":1}\n\ndata: {\"b\":\ndata: 2}\n\ndata: [DONE]\n\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn named_events_carry_an_event_line() {
        let mut frame = BytesMut::new();
        push_event(
            &mut frame,
            Some("message_stop"),
            r#"{"type":"message_stop"}"#,
        );
        push_event(&mut frame, Some("error"), "x\ny");
        assert_eq!(
            &frame[..],
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\nevent: error\ndata: x\ndata: y\n\n"
        );
    }
}

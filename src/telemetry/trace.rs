//! W3C Trace Context: the `traceparent` a request arrives with (or a new trace), and the one
//! each upstream attempt is sent with, naming that attempt's span as the parent.

use axum::http::{HeaderMap, HeaderValue};

/// Where a request sits in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace {
    pub trace_id: u128,
    /// The caller's span, when a `traceparent` named one.
    pub parent: Option<u64>,
    /// The request's own (server) span.
    pub span_id: u64,
    /// The caller's sampling decision (a new trace is sampled): spans of an unsampled trace
    /// are propagated, not exported.
    pub sampled: bool,
}

impl Trace {
    /// Joins the trace of a valid `traceparent` in `headers`, or begins a new one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let joined = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        match joined {
            Some((trace_id, parent, sampled)) => Self {
                trace_id,
                parent: Some(parent),
                span_id: span_id(),
                sampled,
            },
            None => Self {
                trace_id: loop {
                    let id = fastrand::u128(..);
                    if id != 0 {
                        break id;
                    }
                },
                parent: None,
                span_id: span_id(),
                sampled: true,
            },
        }
    }

    /// The `traceparent` that makes `span` (an attempt's) the parent of what the provider does.
    pub fn header(&self, span: u64) -> Option<HeaderValue> {
        let flags = u8::from(self.sampled);
        HeaderValue::from_str(&format!(
            "00-{:032x}-{span:016x}-{flags:02x}",
            self.trace_id
        ))
        .ok()
    }
}

/// A new span id: random and never zero, as the specification asks.
pub fn span_id() -> u64 {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return id;
        }
    }
}

/// `version-traceid-parentid-flags`: version 00 exactly, or a later one read by its first four
/// fields; all-zero ids and version ff are invalid, and an invalid header starts a new trace.
fn parse(text: &str) -> Option<(u128, u64, bool)> {
    let mut parts = text.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !(hex(version, 2) && hex(trace, 32) && hex(parent, 16) && hex(flags, 2)) || version == "ff" {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?;
    let parent = u64::from_str_radix(parent, 16).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    (trace_id != 0 && parent != 0).then_some((trace_id, parent, flags & 1 == 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(traceparent: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(traceparent) {
            headers.insert("traceparent", value);
        }
        headers
    }

    #[test]
    fn a_valid_traceparent_is_joined_and_an_invalid_one_starts_a_new_trace() {
        let joined = Trace::from_headers(&headers(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(joined.trace_id, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736);
        assert_eq!(joined.parent, Some(0x00f0_67aa_0ba9_02b7));
        assert!(joined.sampled);
        assert_ne!(joined.span_id, 0);
        assert_eq!(
            joined
                .header(0xabc)
                .and_then(|v| v.to_str().ok().map(str::to_owned))
                .as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000abc-01")
        );
        let unsampled = Trace::from_headers(&headers(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ));
        assert!(!unsampled.sampled);
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            let fresh = Trace::from_headers(&headers(bad));
            assert_eq!(fresh.parent, None, "{bad}");
            assert_ne!(
                fresh.trace_id, 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
                "{bad}"
            );
            assert!(fresh.sampled);
        }
        // A later version may carry more fields.
        let later = Trace::from_headers(&headers(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more",
        ));
        assert_eq!(later.parent, Some(0x00f0_67aa_0ba9_02b7));
    }
}

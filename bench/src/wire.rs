//! The bytes the bench sends and the fake upstream answers: shaped like OpenAI's own, so the
//! gateway does the work it does on real traffic.

use std::time::Duration;

/// A stream's shape, named by the model the client asks for: `c{chunks}d{delay ms}`, then
/// optionally a fault (see [`Fault`]): `c200d50r40` is reset after 40 content chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    pub chunks: u32,
    pub delay: Duration,
    pub fault: Fault,
}

/// What goes wrong in a stream, named by a suffix of its model. `K` counts content chunks sent
/// before the fault (the role chunk and tokens `t0`..`t{K-1}`); a `K` at or past the stream's
/// length puts the fault where the finish chunk would be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: every chunk, the finish chunk and `[DONE]`.
    None,
    /// `r{K}`: after K chunks the connection is reset (an RST, not a clean close).
    Reset(u32),
    /// `s{K}`: after K chunks nothing more, ever; the connection stays open.
    Stall(u32),
    /// `x{K}`: after K chunks an event whose data is not JSON, then the rest as if all were well.
    Invalid(u32),
    /// `t`: the whole stream, trickled: each event's first 8 and last 4 bytes one write each
    /// (`upstream::trickled`).
    Trickle,
    /// `f`: no fault either, but every event its own HTTP/1.1 chunk (or HTTP/2 DATA frame) and
    /// its own write, stamped with the time the upstream wrote it (`stamp`), as real providers
    /// flush each event as a token is produced (`upstream::framed_body`).
    Framed,
}

impl Profile {
    pub const fn new(chunks: u32, delay_ms: u64) -> Self {
        Self {
            chunks,
            delay: Duration::from_millis(delay_ms),
            fault: Fault::None,
        }
    }

    pub const fn with(self, fault: Fault) -> Self {
        Self { fault, ..self }
    }

    pub fn parse(model: &str) -> Option<Self> {
        let rest = model.strip_prefix('c')?;
        let (chunks, rest) = rest.split_once('d')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (delay, suffix) = rest.split_at(digits);
        let after = |s: &str| s[1..].parse::<u32>().ok();
        let fault = match suffix.as_bytes().first() {
            None => Fault::None,
            Some(b't') if suffix.len() == 1 => Fault::Trickle,
            Some(b'f') if suffix.len() == 1 => Fault::Framed,
            Some(b'r') => Fault::Reset(after(suffix)?),
            Some(b's') => Fault::Stall(after(suffix)?),
            Some(b'x') => Fault::Invalid(after(suffix)?),
            Some(_) => return None,
        };
        Some(Self {
            chunks: chunks.parse().ok()?,
            delay: Duration::from_millis(delay.parse().ok()?),
            fault,
        })
    }

    pub fn model(&self) -> String {
        let fault = match self.fault {
            Fault::None => String::new(),
            Fault::Reset(k) => format!("r{k}"),
            Fault::Stall(k) => format!("s{k}"),
            Fault::Invalid(k) => format!("x{k}"),
            Fault::Trickle => "t".to_owned(),
            Fault::Framed => "f".to_owned(),
        };
        format!("c{}d{}{fault}", self.chunks, self.delay.as_millis())
    }

    /// The content chunks that go out before the fault, if there is one that breaks the stream.
    pub fn cut_after(&self) -> Option<u32> {
        match self.fault {
            Fault::Reset(k) | Fault::Stall(k) | Fault::Invalid(k) => Some(k.min(self.chunks)),
            Fault::None | Fault::Trickle | Fault::Framed => None,
        }
    }
}

/// The model a non-stream request names.
pub const JSON_MODEL: &str = "json";

/// Where `needle` first stands in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of the first `"model":"..."` in a request body.
pub fn model_of(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"model\":\"";
    let start = find(body, KEY)? + KEY.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

/// The API a client speaks to the gateway: chat, or one it translates into chat for an
/// OpenAI-kind provider (the Messages API, the Responses API).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    Chat,
    Messages,
    Responses,
}

impl Surface {
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Messages => "/v1/messages",
            Self::Responses => "/v1/responses",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Messages => "messages",
            Self::Responses => "responses",
        }
    }

    /// The same small request as `request`, in this surface's language.
    pub fn request(self, model: &str, stream: bool) -> String {
        match self {
            Self::Chat => request(model, stream),
            Self::Messages => format!(
                concat!(
                    r#"{{"model":"{model}","max_tokens":64,"system":"You are a terse assistant.","#,
                    r#""messages":[{{"role":"user","content":"Say one short sentence about rail yards."}}],"#,
                    r#""temperature":0.2,"stream":{stream}}}"#
                ),
                model = model,
                stream = stream
            ),
            Self::Responses => format!(
                concat!(
                    r#"{{"model":"{model}","instructions":"You are a terse assistant.","#,
                    r#""input":"Say one short sentence about rail yards.","#,
                    r#""temperature":0.2,"max_output_tokens":64,"stream":{stream}}}"#
                ),
                model = model,
                stream = stream
            ),
        }
    }
}

/// A small, typical chat request.
pub fn request(model: &str, stream: bool) -> String {
    format!(
        concat!(
            r#"{{"model":"{model}","messages":[{{"role":"system","content":"You are a terse assistant."}},"#,
            r#"{{"role":"user","content":"Say one short sentence about rail yards."}}],"#,
            r#""temperature":0.2,"max_tokens":64,"stream":{stream}}}"#
        ),
        model = model,
        stream = stream
    )
}

/// The text of the one answer; a client checks it arrived whole.
pub const ANSWER: &str = "Switchyards sort freight cars onto the tracks that take them home.";

pub const COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-bench0000000000000000000001","object":"chat.completion","created":1764000000,"#,
    r#""model":"gpt-bench-2026-01-01","choices":[{"index":0,"message":{"role":"assistant","#,
    r#""content":"Switchyards sort freight cars onto the tracks that take them home.","#,
    r#""refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":28,"completion_tokens":13,"total_tokens":41,"#,
    r#""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"#,
    r#""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"#,
    r#""accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"#,
    r#""service_tier":"default","system_fingerprint":"fp_bench0001"}"#
);

const CHUNK_HEAD: &str = concat!(
    r#"data: {"id":"chatcmpl-bench0000000000000000000002","object":"chat.completion.chunk","#,
    r#""created":1764000000,"model":"gpt-bench-2026-01-01","service_tier":"default","#,
    r#""system_fingerprint":"fp_bench0001","choices":[{"index":0,"delta":"#
);

pub fn role_event() -> String {
    format!(
        r#"{CHUNK_HEAD}{{"role":"assistant","content":"","refusal":null}},"logprobs":null,"finish_reason":null}}]}}{}"#,
        "\n\n"
    )
}

/// Token `i` of a stream: its content is `t{i} `, which a client checks for order and loss.
pub fn token_event(i: u32) -> String {
    format!(
        r#"{CHUNK_HEAD}{{"content":"{}"}},"logprobs":null,"finish_reason":null}}]}}{}"#,
        token_text(i),
        "\n\n"
    )
}

/// The content of token `i`.
pub fn token_text(i: u32) -> String {
    format!("t{i} ")
}

/// The event of `x{K}`: its data is not JSON.
pub const INVALID_EVENT: &str = "data: {this is not json\n\n";

/// FNV-1a, 64 bits: a running checksum over a stream's content as it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum(pub u64);

impl Default for Checksum {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Checksum {
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The checksum of the whole text a stream of `chunks` tokens carries: `t0 t1 ... `.
    pub fn of_tokens(chunks: u32) -> Self {
        let mut sum = Self::default();
        for i in 0..chunks {
            sum.update(token_text(i).as_bytes());
        }
        sum
    }
}

/// The last event of a stream.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";

/// The finish chunk alone.
pub fn finish_event() -> &'static str {
    let both = finish_events();
    &both[..both.len() - DONE_EVENT.len()]
}

/// The key a framed stream's chunks carry their write time in. OpenAI's own chunks carry an
/// `obfuscation` string of random characters (padding against length side channels, on unless
/// `stream_options.include_obfuscation` is false), so a proxy passes it on like any field of a
/// chunk, and the gateway's splice of `model` is the one it makes on real traffic.
pub const STAMP_KEY: &str = "\"obfuscation\":\"";

/// `event` (a JSON chunk's `data: {...}\n\n`) carrying `nanos` as its last field.
pub fn stamped(event: &str, nanos: u64) -> String {
    let open = event.strip_suffix("}\n\n").unwrap_or(event);
    format!("{open},{STAMP_KEY}{nanos}\"}}\n\n")
}

/// The stamp in an event's data, if it carries one.
pub fn stamp_of(data: &[u8]) -> Option<u64> {
    let at = find(data, STAMP_KEY.as_bytes())? + STAMP_KEY.len();
    let digits = &data[at..];
    let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&digits[..len]).ok()?.parse().ok()
}

/// The real-time clock in nanoseconds since the epoch: the upstream and the driver are two
/// processes on one machine, so one clock both read, and monotonic enough over a millisecond
/// (a step of the clock mid-run would show as one wild sample, never as a shift of them all).
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The finish chunk and `[DONE]`.
pub fn finish_events() -> &'static str {
    concat!(
        r#"data: {"id":"chatcmpl-bench0000000000000000000002","object":"chat.completion.chunk","#,
        r#""created":1764000000,"model":"gpt-bench-2026-01-01","service_tier":"default","#,
        r#""system_fingerprint":"fp_bench0001","choices":[{"index":0,"delta":{},"logprobs":null,"#,
        r#""finish_reason":"stop"}]}"#,
        "\n\ndata: [DONE]\n\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_through_model_names() {
        let p = Profile::new(60, 50);
        assert_eq!(p.model(), "c60d50");
        assert_eq!(Profile::parse(&p.model()), Some(p));
        for fault in [
            Fault::Reset(7),
            Fault::Stall(0),
            Fault::Invalid(59),
            Fault::Trickle,
            Fault::Framed,
        ] {
            assert_eq!(Profile::parse(&p.with(fault).model()), Some(p.with(fault)));
        }
        assert_eq!(
            Profile::parse("c200d0f").map(|p| p.fault),
            Some(Fault::Framed)
        );
        assert_eq!(Profile::parse("c5d1ff"), None);
        assert_eq!(
            Profile::parse("c60d50r40").map(|p| p.fault),
            Some(Fault::Reset(40))
        );
        assert_eq!(
            Profile::parse("c60d50s9").map(|p| p.fault),
            Some(Fault::Stall(9))
        );
        assert_eq!(Profile::parse("json"), None);
        assert_eq!(Profile::parse("c5"), None);
        assert_eq!(Profile::parse("c5d1q"), None);
        assert_eq!(Profile::parse("c5d1r"), None);
        assert_eq!(Profile::parse("c5d1tt"), None);
    }

    #[test]
    fn the_checksum_is_of_the_text_in_order() {
        let mut sum = Checksum::default();
        sum.update(b"t0 t1 ");
        assert_eq!(sum, Checksum::of_tokens(2));
        let mut swapped = Checksum::default();
        swapped.update(b"t1 t0 ");
        assert_ne!(swapped, sum);
        assert_ne!(Checksum::of_tokens(3), sum);
    }

    #[test]
    fn a_stamp_rides_at_the_end_of_a_chunk() {
        let event = stamped(&token_event(3), 1_764_000_000_123_456_789);
        assert!(
            event.ends_with("null}],\"obfuscation\":\"1764000000123456789\"}\n\n"),
            "{event}"
        );
        assert_eq!(stamp_of(event.as_bytes()), Some(1_764_000_000_123_456_789));
        assert_eq!(stamp_of(token_event(3).as_bytes()), None);
        assert_eq!(format!("{}{DONE_EVENT}", finish_event()), finish_events());
    }

    #[test]
    fn the_model_is_read_from_a_request() {
        let body = request("bench/c8d0", true);
        assert_eq!(model_of(body.as_bytes()), Some("bench/c8d0"));
        assert!(body.contains("\"stream\":true"));
    }
}

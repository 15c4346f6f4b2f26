//! What "intact" means for an answer that went through a proxy: every token, in order, once,
//! then the finish chunk and `[DONE]`, and nothing after (or, through a translating surface,
//! its own finish and last event); and what a broken chat stream must look like instead: the
//! tokens before the break, then one OpenAI-shaped error event, and no `[DONE]`.

use crate::wire::{Checksum, Surface, find, stamp_of};

/// How a surface's stream shows what the check looks for.
struct Markers {
    /// The key before each text delta's string.
    text: &'static [u8],
    /// In the event that says the answer finished normally.
    finish: &'static [u8],
    /// In (or, for chat, all of) the last event's data.
    done: &'static [u8],
    /// In an error event's data.
    error: &'static [u8],
}

impl Markers {
    fn of(surface: Surface) -> Self {
        match surface {
            Surface::Chat => Self {
                text: b"\"content\":\"",
                finish: b"\"finish_reason\":\"stop\"",
                done: b"[DONE]",
                error: b"\"error\"",
            },
            // Anthropic's events: text in `content_block_delta`s, the stop reason in
            // `message_delta`, `message_stop` last.
            Surface::Messages => Self {
                text: b"\"text\":\"",
                finish: b"\"stop_reason\":\"end_turn\"",
                done: b"\"type\":\"message_stop\"",
                error: b"\"type\":\"error\"",
            },
            // The Responses events: text in `response.output_text.delta`s, and
            // `response.completed` both the finish and the end.
            Surface::Responses => Self {
                text: b"\"delta\":\"",
                finish: b"\"type\":\"response.completed\"",
                done: b"\"type\":\"response.completed\"",
                error: b"\"type\":\"error\"",
            },
        }
    }
}

/// Reads a stream's bytes as they come, in whatever pieces the network makes of them.
#[derive(Debug)]
pub struct StreamCheck {
    /// The API the stream speaks (chat unless told).
    surface: Surface,
    pending: Vec<u8>,
    /// The token the next content chunk must carry.
    next_token: u32,
    finished: bool,
    done: bool,
    broken: Option<String>,
    /// The data of the error event, once one came.
    error: Option<String>,
    /// A running checksum of every content string, in the order they came.
    content: Checksum,
    /// Data events seen (`[DONE]` included).
    pub events: u32,
    /// When kept: the write time each JSON event carried (`wire::stamped`), in the order they
    /// came, for the reader to take as it reads. Without one such an event breaks the stream: a
    /// proxy that dropped the field would otherwise just go unmeasured.
    pub stamps: Option<Vec<u64>>,
    /// Stamped events seen over the whole stream, those taken out of `stamps` included: where
    /// in its stream each stamp in `stamps` came.
    pub stamped: u32,
}

impl Default for StreamCheck {
    fn default() -> Self {
        Self::of(Surface::Chat)
    }
}

impl StreamCheck {
    /// A check of a stream in `surface`'s events.
    pub fn of(surface: Surface) -> Self {
        Self {
            surface,
            pending: Vec::new(),
            next_token: 0,
            finished: false,
            done: false,
            broken: None,
            error: None,
            content: Checksum::default(),
            events: 0,
            stamps: None,
            stamped: 0,
        }
    }

    /// A check that also keeps every event's stamp.
    pub fn stamped() -> Self {
        Self {
            stamps: Some(Vec::new()),
            ..Self::default()
        }
    }

    /// Takes the next piece of the body; true when the first token arrived in it.
    pub fn feed(&mut self, piece: &[u8]) -> bool {
        let had_token = self.next_token > 0;
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(piece);
        let mut start = 0;
        while let Some(end) = find(&pending[start..], b"\n\n") {
            self.event(&pending[start..start + end]);
            start += end + 2;
        }
        pending.drain(..start);
        self.pending = pending;
        !had_token && self.next_token > 0
    }

    fn event(&mut self, event: &[u8]) {
        if event.first() == Some(&b':') {
            return; // a comment: keep-alive
        }
        let markers = Markers::of(self.surface);
        // A named event (the Messages and Responses surfaces): its data follows its name.
        let event = match event.strip_prefix(b"event:") {
            Some(named) => match find(named, b"\n") {
                Some(end) => &named[end + 1..],
                None => named,
            },
            None => event,
        };
        let Some(data) = event.strip_prefix(b"data:") else {
            return self.fail(format!(
                "an event without data: {}",
                String::from_utf8_lossy(event)
            ));
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        self.events += 1;
        if self.done {
            return self.fail("an event after the last".into());
        }
        if self.error.is_some() {
            return self.fail("an event after the error event".into());
        }
        let last = match self.surface {
            Surface::Chat => data == markers.done,
            Surface::Messages | Surface::Responses => find(data, markers.done).is_some(),
        };
        if last {
            self.done = true;
            self.finished |= find(data, markers.finish).is_some();
            return;
        }
        if find(data, markers.error).is_some() {
            self.error = Some(String::from_utf8_lossy(data).into_owned());
            return;
        }
        if let Some(stamps) = &mut self.stamps {
            match stamp_of(data) {
                Some(stamp) => {
                    stamps.push(stamp);
                    self.stamped += 1;
                }
                None => return self.fail("an event without its write time".into()),
            }
        }
        if let Some(at) = find(data, markers.text) {
            let text = &data[at + markers.text.len()..];
            // Our tokens hold no quotes or escapes: the string ends at the next quote.
            let len = text.iter().position(|&b| b == b'"' || b == b'\\');
            match len {
                Some(len) if text[len] == b'"' => self.content.update(&text[..len]),
                _ => return self.fail("a content string that does not end plainly".into()),
            }
            if text.first() == Some(&b't') {
                let digits = &text[1..];
                let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
                let token = std::str::from_utf8(&digits[..len])
                    .ok()
                    .and_then(|d| d.parse::<u32>().ok());
                if token != Some(self.next_token) {
                    return self.fail(format!(
                        "token {:?} where t{} was due",
                        token, self.next_token
                    ));
                }
                self.next_token += 1;
                return;
            }
        }
        if find(data, markers.finish).is_some() {
            self.finished = true;
        }
    }

    fn fail(&mut self, why: String) {
        self.broken.get_or_insert(why);
    }

    /// Content tokens seen, in order.
    pub fn tokens(&self) -> u32 {
        self.next_token
    }

    /// `Ok` when all `tokens` arrived in order, then the finish, then `[DONE]`, and the body
    /// ended on an event boundary.
    pub fn verdict(&self, tokens: u32) -> Result<(), String> {
        self.whole_events()?;
        if let Some(error) = &self.error {
            return Err(format!("an error event: {error}"));
        }
        if self.next_token != tokens {
            return Err(format!("{} of {tokens} tokens", self.next_token));
        }
        if !self.finished || !self.done {
            return Err("no finish or no last event ([DONE], message_stop)".into());
        }
        Ok(())
    }

    /// `verdict`, and the checksum of the content is that of the text the model name promised.
    pub fn verdict_with_checksum(&self, tokens: u32) -> Result<(), String> {
        self.verdict(tokens)?;
        let expected = Checksum::of_tokens(tokens);
        if self.content != expected {
            return Err(format!(
                "content checksum {:016x}, expected {:016x}",
                self.content.0, expected.0
            ));
        }
        Ok(())
    }

    /// `Ok(error code)` when exactly `tokens` arrived in order (and the content checksum says
    /// so), then one `data: {"error":{...}}` event with a message, then nothing: no finish, no
    /// `[DONE]`.
    pub fn broken_verdict(&self, tokens: u32) -> Result<String, String> {
        self.whole_events()?;
        if self.done || self.finished {
            return Err("a finish chunk or [DONE] after a failure".into());
        }
        if self.next_token != tokens {
            return Err(format!(
                "{} tokens before the failure, not {tokens}",
                self.next_token
            ));
        }
        if self.content != Checksum::of_tokens(tokens) {
            return Err("the content before the failure does not add up".into());
        }
        let Some(error) = &self.error else {
            return Err("no error event".into());
        };
        if !error.starts_with("{\"error\":{") || find(error.as_bytes(), b"\"message\":\"").is_none()
        {
            return Err(format!("an error event not shaped as OpenAI's: {error}"));
        }
        Ok(error_code(error))
    }

    /// `Ok` when everything so far was in order (for a stream the client leaves early).
    pub fn so_far(&self) -> Result<(), String> {
        if let Some(why) = &self.broken {
            return Err(why.clone());
        }
        if let Some(error) = &self.error {
            return Err(format!("an error event: {error}"));
        }
        if self.content != Checksum::of_tokens(self.next_token) {
            return Err("the content so far does not add up".into());
        }
        Ok(())
    }

    fn whole_events(&self) -> Result<(), String> {
        if let Some(why) = &self.broken {
            return Err(why.clone());
        }
        if !self.pending.iter().all(u8::is_ascii_whitespace) {
            return Err("the body ended inside an event".into());
        }
        Ok(())
    }
}

/// The `code` of an error event, as written (`"upstream_timeout"`, `null`).
pub fn error_code(error: &str) -> String {
    const KEY: &[u8] = b"\"code\":";
    find(error.as_bytes(), KEY)
        .map(|at| {
            let rest = &error[at + KEY.len()..];
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            rest[..end].trim_matches('"').to_owned()
        })
        .unwrap_or_default()
}

/// A whole answer is intact when its text arrived.
pub fn completion_intact(body: &[u8]) -> bool {
    find(body, crate::wire::ANSWER.as_bytes()).is_some()
        && find(body, b"\"object\":\"chat.completion\"").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    fn stream(tokens: u32) -> Vec<u8> {
        let mut all = wire::role_event().into_bytes();
        for i in 0..tokens {
            all.extend_from_slice(wire::token_event(i).as_bytes());
        }
        all.extend_from_slice(wire::finish_events().as_bytes());
        all
    }

    #[test]
    fn a_whole_stream_in_any_pieces_is_intact() {
        let bytes = stream(5);
        for size in [1, 7, 64, bytes.len()] {
            let mut check = StreamCheck::default();
            let mut first = 0;
            for piece in bytes.chunks(size) {
                first += usize::from(check.feed(piece));
            }
            assert_eq!(check.verdict(5), Ok(()), "pieces of {size}");
            assert_eq!(first, 1);
        }
    }

    #[test]
    fn a_lost_a_repeated_or_a_cut_stream_is_not() {
        let whole = String::from_utf8(stream(3)).unwrap_or_default();
        let lost = whole.replacen(&wire::token_event(1), "", 1);
        let repeated = whole.replacen(
            &wire::token_event(1),
            &format!("{}{}", wire::token_event(1), wire::token_event(1)),
            1,
        );
        let cut = &whole[..whole.len() - 3];
        for (name, body) in [
            ("lost", lost.as_str()),
            ("repeated", &repeated),
            ("cut", cut),
        ] {
            let mut check = StreamCheck::default();
            check.feed(body.as_bytes());
            assert!(check.verdict(3).is_err(), "{name} passed");
        }
    }

    #[test]
    fn a_stamped_check_wants_every_json_event_stamped() {
        let mut body = wire::stamped(&wire::role_event(), 7);
        for i in 0..3 {
            body.push_str(&wire::stamped(&wire::token_event(i), 10 + u64::from(i)));
        }
        body.push_str(&wire::stamped(wire::finish_event(), 20));
        body.push_str(wire::DONE_EVENT);
        let mut check = StreamCheck::stamped();
        check.feed(body.as_bytes());
        assert_eq!(check.verdict_with_checksum(3), Ok(()));
        assert_eq!(check.stamps, Some(vec![7, 10, 11, 12, 20]));
        assert_eq!(check.stamped, 5);
        // Stamps taken by the reader still count where the next ones come.
        let mut check = StreamCheck::stamped();
        let (head, tail) = body.split_at(body.find("\n\n").unwrap_or_default() + 2);
        check.feed(head.as_bytes());
        check.stamps.as_mut().map(Vec::clear);
        check.feed(tail.as_bytes());
        assert_eq!(check.stamps, Some(vec![10, 11, 12, 20]));
        assert_eq!(check.stamped, 5);

        let mut check = StreamCheck::stamped();
        check.feed(&stream(3));
        assert!(check.verdict(3).is_err(), "unstamped events passed");
    }

    #[test]
    fn the_checksum_sees_a_changed_token() {
        let whole = String::from_utf8(stream(3)).unwrap_or_default();
        let mut check = StreamCheck::default();
        check.feed(whole.as_bytes());
        assert_eq!(check.verdict_with_checksum(3), Ok(()));
        let changed = whole.replacen("\"t1 \"", "\"t1!\"", 1);
        let mut check = StreamCheck::default();
        check.feed(changed.as_bytes());
        assert_eq!(check.verdict(3), Ok(()), "the token order alone misses it");
        assert!(check.verdict_with_checksum(3).is_err());
    }

    /// A translated stream of `tokens` tokens as the gateway writes it for `surface`.
    fn translated(surface: Surface, tokens: u32) -> String {
        let event = |name: &str, data: String| format!("event: {name}\ndata: {data}\n\n");
        let mut all = String::new();
        match surface {
            Surface::Messages => {
                all += &event("message_start", r#"{"type":"message_start","message":{"id":"msg_1","content":[],"stop_reason":null}}"#.into());
                all += &event("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#.into());
                for i in 0..tokens {
                    all += &event(
                        "content_block_delta",
                        format!(
                            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{}"}}}}"#,
                            wire::token_text(i)
                        ),
                    );
                }
                all += &event(
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":0}"#.into(),
                );
                all += &event("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}"#.into());
                all += &event("message_stop", r#"{"type":"message_stop"}"#.into());
            }
            Surface::Responses => {
                all += &event("response.created", r#"{"type":"response.created","sequence_number":0,"response":{"error":null,"text":{"format":{"type":"text"}}}}"#.into());
                for i in 0..tokens {
                    all += &event(
                        "response.output_text.delta",
                        format!(
                            r#"{{"type":"response.output_text.delta","sequence_number":{},"item_id":"msg_1","output_index":0,"content_index":0,"delta":"{}","logprobs":[]}}"#,
                            i + 1,
                            wire::token_text(i)
                        ),
                    );
                }
                all += &event(
                    "response.output_text.done",
                    r#"{"type":"response.output_text.done","text":"whole"}"#.into(),
                );
                all += &event("response.completed", r#"{"type":"response.completed","response":{"status":"completed","error":null}}"#.into());
            }
            Surface::Chat => unreachable!(),
        }
        all
    }

    #[test]
    fn translated_streams_are_checked_in_their_own_events() {
        for surface in [Surface::Messages, Surface::Responses] {
            let whole = translated(surface, 3);
            let mut check = StreamCheck::of(surface);
            check.feed(whole.as_bytes());
            assert_eq!(check.verdict_with_checksum(3), Ok(()), "{surface:?}");

            let lost = whole.replacen("\"t1 \"", "\"t2 \"", 1);
            let cut = &whole[..whole.rfind("event:").unwrap_or_default()];
            // Two tokens, then the error event both surfaces end a failed stream with.
            let t2 = whole.find("\"t2 \"").unwrap_or_default();
            let failed = format!(
                "{}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"message\":\"x\"}}}}\n\n",
                &whole[..whole[..t2].rfind("event:").unwrap_or_default()]
            );
            for (name, body) in [("lost", lost.as_str()), ("cut", cut), ("failed", &failed)] {
                let mut check = StreamCheck::of(surface);
                check.feed(body.as_bytes());
                assert!(check.verdict(3).is_err(), "{surface:?} {name} passed");
                if name == "failed" {
                    assert_eq!((check.tokens(), check.error.is_some()), (2, true));
                    assert!(check.broken.is_none(), "{:?}", check.broken);
                }
            }
        }
    }

    #[test]
    fn a_broken_stream_ends_with_one_error_event() {
        let mut head = wire::role_event();
        head.push_str(&wire::token_event(0));
        head.push_str(&wire::token_event(1));
        let error = r#"{"error":{"message":"bench: sent nothing for 2s","type":"server_error","param":null,"code":"upstream_timeout"}}"#;
        let good = format!("{head}data: {error}\n\n");
        let mut check = StreamCheck::default();
        check.feed(good.as_bytes());
        assert_eq!(check.broken_verdict(2), Ok("upstream_timeout".to_owned()));
        assert!(check.verdict(2).is_err());
        assert!(check.broken_verdict(3).is_err());

        for bad in [
            format!("{head}data: {error}\n\ndata: [DONE]\n\n"),
            format!("{head}data: [DONE]\n\n"),
            head.clone(),
            format!("{head}data: {{\"error\":\"flat\"}}\n\n"),
            format!("{head}data: {error}"),
        ] {
            let mut check = StreamCheck::default();
            check.feed(bad.as_bytes());
            assert!(check.broken_verdict(2).is_err(), "{bad}");
        }
    }
}

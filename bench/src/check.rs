//! What "intact" means for an answer that went through a proxy: every token, in order, once,
//! then the finish chunk and `[DONE]`, and nothing after; and what a broken stream must look
//! like instead: the tokens before the break, then one OpenAI-shaped error event, and no `[DONE]`.

use crate::wire::{Checksum, find, stamp_of};

/// Reads a stream's bytes as they come, in whatever pieces the network makes of them.
#[derive(Debug, Default)]
pub struct StreamCheck {
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
}

impl StreamCheck {
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
        let Some(data) = event.strip_prefix(b"data:") else {
            return self.fail(format!(
                "an event without data: {}",
                String::from_utf8_lossy(event)
            ));
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        self.events += 1;
        if self.done {
            return self.fail("an event after [DONE]".into());
        }
        if self.error.is_some() {
            return self.fail("an event after the error event".into());
        }
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        if find(data, b"\"error\"").is_some() {
            self.error = Some(String::from_utf8_lossy(data).into_owned());
            return;
        }
        if let Some(stamps) = &mut self.stamps {
            match stamp_of(data) {
                Some(stamp) => stamps.push(stamp),
                None => return self.fail("an event without its write time".into()),
            }
        }
        if let Some(at) = find(data, b"\"content\":\"") {
            let text = &data[at + 11..];
            // Our tokens hold no quotes or escapes: the string ends at the next quote.
            let len = text.iter().position(|&b| b == b'"' || b == b'\\');
            match len {
                Some(len) if text[len] == b'"' => self.content.update(&text[..len]),
                _ => return self.fail("a content string that does not end plainly".into()),
            }
        }
        if let Some(at) = find(data, b"\"content\":\"t") {
            let digits = &data[at + 12..];
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
        } else if find(data, b"\"finish_reason\":\"stop\"").is_some() {
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
            return Err("no finish chunk or no [DONE]".into());
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

//! What "intact" means for an answer that went through a proxy: every token, in order, once,
//! then the finish chunk and `[DONE]`, and nothing after.

use crate::wire::find;

/// Reads a stream's bytes as they come, in whatever pieces the network makes of them.
#[derive(Debug, Default)]
pub struct StreamCheck {
    pending: Vec<u8>,
    /// The token the next content chunk must carry.
    next_token: u32,
    finished: bool,
    done: bool,
    broken: Option<String>,
    /// Data events seen (`[DONE]` included).
    pub events: u32,
}

impl StreamCheck {
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
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        if find(data, b"\"error\"").is_some() {
            return self.fail(format!("an error event: {}", String::from_utf8_lossy(data)));
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

    /// `Ok` when all `tokens` arrived in order, then the finish, then `[DONE]`, and the body
    /// ended on an event boundary.
    pub fn verdict(&self, tokens: u32) -> Result<(), String> {
        if let Some(why) = &self.broken {
            return Err(why.clone());
        }
        if self.next_token != tokens {
            return Err(format!("{} of {tokens} tokens", self.next_token));
        }
        if !self.finished || !self.done {
            return Err("no finish chunk or no [DONE]".into());
        }
        if !self.pending.iter().all(u8::is_ascii_whitespace) {
            return Err("the body ended inside an event".into());
        }
        Ok(())
    }
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
}

//! Server-Sent Events decoding, by the WHATWG rules (CR, LF or CRLF line ends, also across
//! reads; a leading BOM; comment lines; `data` lines joined with LF; an unterminated last event
//! discarded), with the two bounds a gateway needs from a provider it does not trust:
//!
//! - an event may grow to `max_event` bytes and no further, so an upstream that never ends a
//!   line cannot grow the gateway's memory (comment lines are skipped as they arrive and never
//!   held at all);
//! - each read says whether it carried anything but comments and blank lines, so a stream's
//!   idle deadline can be reset by real bytes, however slowly they trickle, and never by an
//!   upstream that only says `: PROCESSING` forever.
//!
//! A crate decoder (sse-stream) did the rules but neither bound; this is a push decoder with no
//! I/O of its own, which the fuzz targets drive directly.

use std::borrow::Cow;

/// One dispatched event: its type (`event:`), and its `data` lines joined with `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub data: Option<String>,
}

impl Event {
    /// The event's data without surrounding whitespace; `None` when it has none, which a
    /// stream decoder skips (a keep-alive, an event of only a type).
    pub fn payload(&self) -> Option<&str> {
        self.data
            .as_deref()
            .map(str::trim)
            .filter(|data| !data.is_empty())
    }
}

/// An event over the size limit: the stream cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sent an event larger than {limit} bytes")]
pub struct TooLarge {
    pub limit: usize,
}

/// What kind of line the bytes being read belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// No byte of the line yet.
    Start,
    /// A `:` comment: skipped up to its end, never held.
    Comment,
    /// A field line, held in `line` until it ends.
    Field,
}

/// The decoder of one stream.
#[derive(Debug)]
pub struct Decoder {
    max_event: usize,
    /// The field line being read, without its line end.
    line: Vec<u8>,
    kind: Line,
    /// The event being built.
    event: Option<String>,
    data: Option<String>,
    /// The last byte read was a CR: an LF that follows ends the same line.
    after_cr: bool,
    /// Still looking at the stream's first bytes, where a BOM may be.
    at_start: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Decoder {
    pub fn new(max_event: usize) -> Self {
        Self {
            max_event,
            line: Vec::new(),
            kind: Line::Start,
            event: None,
            data: None,
            after_cr: false,
            at_start: true,
        }
    }

    /// Reads `bytes`, pushing every event they complete onto `out`. Returns whether they held
    /// anything but comments and line ends: an event's bytes, however few.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Event>) -> Result<bool, TooLarge> {
        let mut progress = false;
        if self.at_start {
            // The BOM may itself be cut across reads: hold its first bytes as a field line until
            // it is whole (or turns out not to be one).
            let held = self.line.len();
            let want = BOM.len() - held;
            let take = want.min(bytes.len());
            let so_far = [&self.line[..], &bytes[..take]].concat();
            if BOM.starts_with(&so_far) {
                if so_far.len() < BOM.len() {
                    self.line.extend_from_slice(&bytes[..take]);
                    return Ok(false);
                }
                self.line.clear();
                bytes = &bytes[take..];
            } else if held > 0 {
                // Not a BOM after all: what was held is the start of the first line.
                self.kind = Line::Field;
                progress = true;
            }
            self.at_start = false;
        }
        while !bytes.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if bytes[0] == b'\n' {
                    bytes = &bytes[1..];
                    continue;
                }
            }
            if self.kind == Line::Start {
                self.kind = if bytes[0] == b':' {
                    Line::Comment
                } else {
                    Line::Field
                };
            }
            let end = memchr::memchr2(b'\n', b'\r', bytes);
            let (content, rest) = match end {
                Some(at) => (&bytes[..at], Some(at)),
                None => (bytes, None),
            };
            if self.kind == Line::Field {
                if self.held() + content.len() > self.max_event {
                    self.reset();
                    return Err(TooLarge {
                        limit: self.max_event,
                    });
                }
                self.line.extend_from_slice(content);
                // The end of a field line is a byte of its event too; a blank line is not.
                progress |= !content.is_empty() || (end.is_some() && !self.line.is_empty());
            }
            let Some(at) = rest else {
                break;
            };
            self.after_cr = bytes[at] == b'\r';
            bytes = &bytes[at + 1..];
            let kind = std::mem::replace(&mut self.kind, Line::Start);
            match kind {
                Line::Comment => {}
                Line::Start | Line::Field if self.line.is_empty() => {
                    if let Some(event) = self.dispatch() {
                        out.push(event);
                        progress = true;
                    }
                }
                Line::Start | Line::Field => self.field(),
            }
        }
        Ok(progress)
    }

    /// The bytes held for the event being built.
    fn held(&self) -> usize {
        self.line.len()
            + self.data.as_ref().map_or(0, String::len)
            + self.event.as_ref().map_or(0, String::len)
    }

    /// A whole field line: `name: value`, or a bare `name`.
    fn field(&mut self) {
        let line = std::mem::take(&mut self.line);
        let (name, value) = match memchr::memchr(b':', &line) {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &b""[..]),
        };
        match name {
            b"data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&text(value));
                }
                None => self.data = Some(text(value).into_owned()),
            },
            b"event" => self.event = Some(text(value).into_owned()),
            // `id` and `retry` serve a browser's reconnection, which a relay does not do;
            // unknown fields are ignored, as the rules say.
            _ => {}
        }
        // The line's buffer is kept for the next one, unless one huge line made it big.
        let mut line = line;
        line.clear();
        if line.capacity() <= KEPT_CAPACITY {
            self.line = line;
        }
    }

    /// A blank line: the event built so far, if it has anything.
    fn dispatch(&mut self) -> Option<Event> {
        let event = Event {
            event: self.event.take(),
            data: self.data.take(),
        };
        (event.event.is_some() || event.data.is_some()).then_some(event)
    }

    fn reset(&mut self) {
        self.line = Vec::new();
        self.event = None;
        self.data = None;
        self.kind = Line::Start;
    }
}

/// The largest line buffer kept between lines; a bigger one is given back.
const KEPT_CAPACITY: usize = 64 << 10;

/// A field's value as text: UTF-8, with any invalid sequence replaced, as the rules decode.
/// Valid text, nearly always, is checked by `str::from_utf8`, which runs a word at a time over
/// ASCII; `from_utf8_lossy` walks every byte (about a sixth of the gateway's work per relayed
/// event).
fn text(value: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(value) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(value),
    }
}

#[cfg(test)]
mod tests;

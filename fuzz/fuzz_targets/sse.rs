//! The upstream SSE decoder. Input: a byte choosing the event size limit, a byte seeding where
//! the stream is cut into reads, then the stream. The same events (and the same overflow) must
//! come out whether the stream arrives whole, a byte at a time, or cut anywhere (empty reads
//! included); whether any read made progress must not depend on the cuts either; and once any
//! line ends, a field line longer than the limit must fail rather than be held.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::providers::framing::sse::{Decoder, Event};

/// What feeding a stream in some reads gave: the events, whether one was too large, and
/// whether any read reported progress (a read that fails reports none: `false` then).
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    too_large: bool,
    progress: bool,
}

fn feed<'a>(max: usize, reads: impl IntoIterator<Item = &'a [u8]>) -> (Decoder, Outcome) {
    let mut decoder = Decoder::new(max);
    let mut outcome = Outcome {
        events: Vec::new(),
        too_large: false,
        progress: false,
    };
    for read in reads {
        match decoder.feed(read, &mut outcome.events) {
            Ok(progress) => outcome.progress |= progress,
            Err(e) => {
                assert_eq!(e.limit, max);
                outcome.too_large = true;
                outcome.progress = false;
                // The stream cannot go on: the gateway stops reading.
                break;
            }
        }
    }
    (decoder, outcome)
}

/// Cut points from a small xorshift generator: reads of 0 to `span` bytes.
fn cuts(mut stream: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let span = u32::from(seed % 16) + 1;
    let mut reads = Vec::new();
    while !stream.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = ((state % (span + 1)) as usize).min(stream.len());
        let (read, rest) = stream.split_at(len);
        reads.push(read);
        stream = rest;
    }
    reads
}

fuzz_target!(|data: &[u8]| {
    let [limit, seed, stream @ ..] = data else {
        return;
    };
    // A small limit (0 to 252 bytes) to fuzz the bound, or one no input reaches.
    let max = if *limit < 0x40 {
        usize::from(*limit) * 4
    } else {
        1 << 20
    };

    let (whole_decoder, whole) = feed(max, [stream]);
    let (_, bytes) = feed(max, stream.chunks(1));
    assert_eq!(whole, bytes, "fed whole, then a byte at a time");
    let (_, cut) = feed(max, cuts(stream, *seed));
    assert_eq!(whole, cut, "fed whole, then cut by seed {seed}");

    for event in &whole.events {
        let held = event.data.as_ref().map_or(0, String::len)
            + event.event.as_ref().map_or(0, String::len);
        // Even where invalid UTF-8 was replaced (a byte by three), no event over the limit is
        // dispatched.
        assert!(
            held <= max,
            "an event of {held} bytes under a limit of {max}: {event:?}"
        );
    }

    // After a blank line, a field line longer than the limit fails: nothing past the limit is
    // held, whatever state the stream left the decoder in.
    if !whole.too_large && max < 0x100 {
        let mut decoder = whole_decoder;
        let mut events = Vec::new();
        let mut long = b"\n\ndata:".to_vec();
        long.resize(long.len() + max + 1, b'x');
        assert!(
            decoder.feed(&long, &mut events).is_err(),
            "a field line of {} bytes under a limit of {max} was held",
            max + 1
        );
    }
});

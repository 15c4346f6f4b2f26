//! The SSE decoding the gateway relies on, on the edge cases upstreams produce, and its bounds.

use proptest::prelude::*;

use super::*;

const MAX: usize = 1 << 20;

/// (event type, data) of every event carrying data, decoded from `pieces` as separate reads.
fn decode_pieces(pieces: Vec<Vec<u8>>) -> Vec<(Option<String>, String)> {
    let mut decoder = Decoder::new(MAX);
    let mut events = Vec::new();
    for piece in pieces {
        if let Err(error) = decoder.feed(&piece, &mut events) {
            events.push(Event {
                event: Some("decode-error".into()),
                data: Some(error.to_string()),
            });
            break;
        }
    }
    events
        .into_iter()
        .filter_map(|event| event.data.map(|data| (event.event, data)))
        .collect()
}

/// `bytes` cut at the given points, as reads from the network would be.
fn cut(bytes: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(bytes[start..point].to_vec());
        start = point;
    }
    pieces.push(bytes[start..].to_vec());
    pieces
}

fn data_only(pieces: &[&str]) -> Vec<String> {
    decode_pieces(pieces.iter().map(|p| p.as_bytes().to_vec()).collect())
        .into_iter()
        .map(|(_, data)| data)
        .collect()
}

#[test]
fn multi_line_data_is_joined_with_newlines() {
    assert_eq!(data_only(&["data: {\"a\":\ndata: 1}\n\n"]), ["{\"a\":\n1}"]);
}

#[test]
fn crlf_lf_and_cr_line_ends() {
    assert_eq!(
        data_only(&["data: a\r\n\r\ndata: b\n\ndata: c\r\r"]),
        ["a", "b", "c"]
    );
}

#[test]
fn a_crlf_split_across_reads_is_one_line_end() {
    assert_eq!(data_only(&["data: a\r", "\ndata: b\r\n\r", "\n"]), ["a\nb"]);
}

#[test]
fn comments_are_skipped() {
    assert_eq!(
        data_only(&[": OPENROUTER PROCESSING\n\n: ping\ndata: x\n\n"]),
        ["x"]
    );
}

#[test]
fn an_event_split_across_reads_arrives_once_whole() {
    assert_eq!(
        data_only(&["da", "ta: {\"x\"", ":1}", "\n", "\n"]),
        ["{\"x\":1}"]
    );
}

#[test]
fn utf8_split_across_reads_is_reassembled() {
    let bytes = "data: café ☃\n\n".as_bytes();
    let cut = bytes.iter().position(|&b| b == 0xE2).unwrap_or(0) + 1; // inside the snowman
    assert_eq!(
        decode_pieces(vec![bytes[..cut].to_vec(), bytes[cut..].to_vec()])[0].1,
        "café ☃"
    );
}

#[test]
fn event_types_and_a_leading_bom() {
    let events = decode_pieces(vec![
        b"\xEF\xBB\xBFevent: message_start\ndata: {}\n\n".to_vec(),
    ]);
    assert_eq!(
        events,
        [(Some("message_start".to_owned()), "{}".to_owned())]
    );
}

#[test]
fn an_unterminated_last_event_is_discarded() {
    assert_eq!(data_only(&["data: a\n\ndata: b"]), ["a"]);
}

proptest! {
    /// However the network cuts a stream into reads, the same events come out.
    #[test]
    fn splitting_never_changes_the_events(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12)) {
        let stream = "\u{feff}: hi\r\nevent: x\r\ndata: {\"é\":\r\ndata: \"☃\"}\r\n\r\ndata: two\n\n: c\rdata: three\r\rdata: [DONE]\n\n";
        let bytes = stream.as_bytes();
        let pieces = cut(bytes, &cuts);
        prop_assert_eq!(decode_pieces(pieces), decode_pieces(vec![bytes.to_vec()]));
    }
}

/// One generated event: an optional type, data lines, and a comment before it.
#[derive(Debug, Clone)]
struct GenEvent {
    kind: Option<String>,
    data: Vec<String>,
    comment: Option<String>,
}

fn gen_event() -> impl Strategy<Value = GenEvent> {
    let line = "[^\r\n]{0,12}";
    (
        proptest::option::of("[a-z_]{1,12}"),
        proptest::collection::vec(line, 0..4),
        proptest::option::of(line),
    )
        .prop_map(|(kind, data, comment)| GenEvent {
            kind,
            data,
            comment,
        })
}

proptest! {
    /// Generated events, written with any line ending, cut at any points, decode to exactly
    /// the events written.
    #[test]
    fn generated_events_round_trip(
        events in proptest::collection::vec(gen_event(), 0..6),
        ending in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        bom in any::<bool>(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut text = String::new();
        if bom {
            text.push('\u{feff}');
        }
        for event in &events {
            if let Some(comment) = &event.comment {
                text.push_str(&format!(":{comment}{ending}"));
            }
            if let Some(kind) = &event.kind {
                text.push_str(&format!("event: {kind}{ending}"));
            }
            for line in &event.data {
                text.push_str(&format!("data: {line}{ending}"));
            }
            text.push_str(ending);
        }
        let expected: Vec<(Option<String>, String)> = events
            .iter()
            .filter(|e| !e.data.is_empty())
            .map(|e| (e.kind.clone(), e.data.join("\n")))
            .collect();
        let bytes = text.as_bytes();
        let pieces = cut(bytes, &cuts);
        prop_assert_eq!(decode_pieces(pieces), expected);
    }
}

#[test]
fn the_whole_stream_as_one_read() {
    let stream = "\u{feff}: hi\r\nevent: x\r\ndata: {\"é\":\r\ndata: \"☃\"}\r\n\r\ndata: two\n\n: c\rdata: three\r\rdata: [DONE]\n\n";
    let events = decode_pieces(vec![stream.as_bytes().to_vec()]);
    let expected = [
        (Some("x".to_owned()), "{\"é\":\n\"☃\"}".to_owned()),
        (None, "two".to_owned()),
        (None, "three".to_owned()),
        (None, "[DONE]".to_owned()),
    ];
    assert_eq!(events, expected);
}

#[test]
fn an_empty_data_line_still_counts_as_a_line() {
    assert_eq!(data_only(&["data:\ndata: x\n\n"]), ["\nx"]);
    assert_eq!(data_only(&["data\n\n"]), [""]);
}

#[test]
fn a_bom_cut_across_reads_is_still_skipped() {
    let events = decode_pieces(vec![
        b"\xEF".to_vec(),
        b"\xBB".to_vec(),
        b"\xBFdata: a\n\n".to_vec(),
    ]);
    assert_eq!(events, [(None, "a".to_owned())]);
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    assert_eq!(
        decode_pieces(vec![b"data: a\xFFb\n\n".to_vec()]),
        [(None, "a\u{FFFD}b".to_owned())]
    );
}

#[test]
fn an_event_over_the_limit_fails_and_holds_no_more_than_the_limit() {
    let mut decoder = Decoder::new(64);
    let mut out = Vec::new();
    assert_eq!(decoder.feed(b"data: small\n\n", &mut out), Ok(true));
    assert_eq!(out.len(), 1);
    // One long line with no end, a read at a time.
    let mut result = Ok(true);
    for _ in 0..100 {
        result = decoder.feed(&[b'x'; 10], &mut out);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(TooLarge { limit: 64 }));
    assert!(
        decoder.line.capacity() < 64 << 1,
        "the held line was given back"
    );
    // Many data lines that add up past the limit fail too.
    let mut decoder = Decoder::new(64);
    let lines = "data: 0123456789\n".repeat(10);
    assert_eq!(
        decoder.feed(lines.as_bytes(), &mut out),
        Err(TooLarge { limit: 64 })
    );
}

#[test]
fn comment_lines_are_never_held_however_long() {
    let mut decoder = Decoder::new(64);
    let mut out = Vec::new();
    decoder.feed(b":", &mut out).unwrap_or_default();
    for _ in 0..1000 {
        assert_eq!(decoder.feed(&[b'c'; 100], &mut out), Ok(false));
    }
    assert_eq!(decoder.line.capacity(), 0);
    assert_eq!(decoder.feed(b"\ndata: after\n\n", &mut out), Ok(true));
    assert_eq!(
        out,
        [Event {
            event: None,
            data: Some("after".into())
        }]
    );
}

#[test]
fn progress_is_any_byte_of_an_event_and_never_comments_or_blank_lines() {
    let mut decoder = Decoder::new(MAX);
    let mut out = Vec::new();
    let mut feed = |bytes: &[u8]| decoder.feed(bytes, &mut out).unwrap_or_default();
    assert!(!feed(b": PROCESSING\n\n"));
    assert!(!feed(b"\n\r\n"));
    assert!(!feed(b":"));
    assert!(!feed(b" ping"));
    assert!(!feed(b"\r"));
    assert!(!feed(b"\n"), "the LF of a comment's CRLF");
    // An event trickling in a byte at a time: every byte is progress.
    for byte in b"data: {}\n" {
        assert!(feed(&[*byte]), "byte {:?}", *byte as char);
    }
    assert!(feed(b"\n"), "the blank line that dispatches");
}

#[test]
fn the_payload_is_the_data_trimmed_and_none_when_empty() {
    let event = |data: Option<&str>| Event {
        event: Some("message".into()),
        data: data.map(str::to_owned),
    };
    assert_eq!(event(Some("  {\"a\":1}\n")).payload(), Some("{\"a\":1}"));
    assert_eq!(event(Some(" \n ")).payload(), None);
    assert_eq!(event(Some("")).payload(), None);
    assert_eq!(event(None).payload(), None);
}

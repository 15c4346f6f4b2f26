//! Gemini's generateContent decoder of an upstream SSE stream (through the SSE decoder): after a
//! flags byte shaping the request (see `harness::split_flags`), the input is what the upstream
//! sent. Every chunk or answer must be valid JSON of the promised shape, every error valid JSON
//! without the key.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (flags, body) = harness::split_flags(data);
    harness::stream(harness::fixture("gem"), flags, body);
});

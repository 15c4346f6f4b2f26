//! Anthropic's Messages API as a language the gateway serves (`POST /v1/messages`, the surface
//! Claude Code speaks): the request kept as the bytes it arrived in (`request.rs`), and the
//! error body its clients parse (`error.rs`). The provider kind that calls Anthropic has its own
//! types (`providers/anthropic/`); this is the inbound side.

pub mod error;
pub mod request;

//! Anthropic's Messages API as a language the gateway serves (`POST /v1/messages`, the surface
//! Claude Code speaks): the request kept as the bytes it arrived in (`request.rs`), and the
//! error body its clients parse (`error.rs`), and the translation to and from the chat language
//! for targets of other kinds (`to_chat.rs`, `from_chat.rs`). The provider kind that calls
//! Anthropic has its own types (`providers/anthropic/`); this is the inbound side.

pub mod error;
pub mod from_chat;
pub mod request;
pub mod to_chat;

//! OpenAI's Responses API as a language the gateway serves (`POST /v1/responses`, the surface
//! Codex speaks): the request kept as the bytes it arrived in (`request.rs`), and the
//! translation to and from the chat language for targets that do not serve the API themselves
//! (`to_chat.rs`; `from_chat.rs` for whole answers and streams, over the response object both
//! share, `object.rs`; the signed reasoning a chat target needs back, carried through the
//! client in `reasoning.rs`). Targets that serve it (`responses = "native"`) get it
//! untranslated.

pub mod from_chat;
pub mod object;
mod reasoning;
mod request;
pub mod to_chat;

pub use request::ResponsesRequest;

#[cfg(test)]
mod tests;

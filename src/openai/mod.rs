//! Our OpenAI Chat Completions wire types: the one language spoken inside the gateway (and
//! `delta.rs`, a chunk's delta as the translating surfaces read it); and
//! OpenAI's embeddings request and answer (`embeddings.rs`) and Responses API request
//! (`responses/`).

pub mod delta;
pub mod embeddings;
pub mod envelope;
pub mod error;
pub mod message;
pub mod params;
pub mod raw;
pub mod request;
pub mod response;
pub mod responses;

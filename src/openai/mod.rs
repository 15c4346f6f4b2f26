//! Our OpenAI Chat Completions wire types: the one language spoken inside the gateway; and
//! OpenAI's embeddings request and answer (`embeddings.rs`) and Responses API request
//! (`responses/`).

pub mod embeddings;
pub mod envelope;
pub mod error;
pub mod message;
pub mod params;
pub mod raw;
pub mod request;
pub mod response;
pub mod responses;

//! switchyard: an OpenAI-compatible chat-completions gateway in front of many providers.
//! See DESIGN in the repository's shared docs for how a request travels.

pub mod cli;
pub mod completion;
pub mod config;
pub mod error;
pub mod limits;
pub mod openai;
pub mod providers;
pub mod routes;
pub mod routing;
pub mod server;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod transport;

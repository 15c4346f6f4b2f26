//! switchyard: an OpenAI-compatible chat-completions gateway in front of many providers.
//! A request travels routes -> routing -> providers (codecs over `transport`) -> `stream`, and
//! back out through the route that took it; README.md's Development section maps the tree.

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

//! switchyard: an OpenAI-compatible LLM gateway in front of many providers.
//!
//! Layers, top to bottom (imports only point down): `server` accepts connections; `surfaces`
//! decode each inbound API and render its answers and errors; `pipeline` is what every surface
//! shares (body, authentication, admission, routing, metering, headers, the log line);
//! `routing` plans targets and runs the one attempt loop; `providers` are codecs with their
//! framing and authentication; `transport` is the one HTTP client; `limits`, `telemetry`,
//! `metrics`, `ledger`, `outbox`, `pricing`, `config`, `completion`, `openai` (the internal wire format),
//! `anthropic` (the Messages API the second surface speaks)
//! and `error` are leaves.
//! `state` is the composition root. docs/ARCHITECTURE.md walks a request through the files.

pub mod anthropic;
pub mod cli;
pub mod completion;
pub mod config;
pub mod error;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod openai;
pub mod outbox;
pub mod pipeline;
pub mod pricing;
pub mod providers;
pub mod routing;
pub mod server;
pub mod state;
pub mod surfaces;
pub mod telemetry;
pub mod transport;

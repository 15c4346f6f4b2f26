//! Routing: which targets serve a request, in what order, and how hard to try each. The only
//! place that decides to try again, and only before anything reached the client. The attempt
//! loop (`router.rs`) is generic over what one attempt is (`attempt.rs`); a chat-completions
//! attempt is `chat.rs`, an Anthropic Messages one `messages.rs`, an embeddings one
//! `embeddings.rs`.

mod attempt;
mod balance;
mod chat;
mod embeddings;
mod health;
mod hold;
mod messages;
mod model_ref;
mod plan;
mod responses;
mod retry;
mod router;

pub use attempt::{Attempt, Call, Routed};
pub use chat::{ChatAnswer, ChatAttempt, Ready};
pub use embeddings::EmbeddingsAttempt;
pub use hold::Held;
pub use messages::MessagesAttempt;
pub use plan::Target;
pub use responses::ResponsesAttempt;
pub use router::Router;

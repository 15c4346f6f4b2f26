//! Streams: upstream bytes to events (`sse`) to chunks (`upstream`), and chunks to the client's
//! SSE (`relay`).

pub mod relay;
pub mod sse;
pub mod upstream;

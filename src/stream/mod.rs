//! Streams: upstream bytes to chunks (`upstream`), and chunks to the client's SSE (`relay`).

pub mod relay;
pub mod upstream;

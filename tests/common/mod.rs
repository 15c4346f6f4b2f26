//! The kit the integration tests share: the real gateway (`gateway`), fake upstreams (`upstream`)
//! standing in for each provider kind (`providers`), requests (`request`), streams and answers read
//! back (`sse`, `answer`), recorded provider traffic (`fixtures`), the binary as a process
//! (`process`) and captured logs (`logs`).
// Each test binary compiles the whole kit and uses a part of it.
#![allow(dead_code, unused_imports)]

pub mod answer;
pub mod fixtures;
pub mod gateway;
pub mod logs;
pub mod process;
pub mod providers;
pub mod request;
pub mod sse;
pub mod upstream;

pub use answer::*;
pub use gateway::*;
pub use providers::*;
pub use request::*;
pub use sse::*;
pub use upstream::*;

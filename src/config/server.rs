//! `[server]`: the listener, and the limits on what clients may send and how long they may take.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::invalid::{Invalid, invalid};
use super::units::{ByteSize, ConfigDuration, dur};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub body_limit: usize,
    /// Longest wait for a client to finish sending its request body.
    pub body_timeout: Duration,
    /// How long a stream's preamble may be held back waiting for real output before the 200 is
    /// committed anyway.
    pub stream_hold_back: Duration,
    pub keep_alive: Duration,
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's head (the request line and headers).
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit with no request in flight before it is closed.
    pub idle_timeout: Duration,
    /// On SIGTERM, how long `/ready` answers 503 (and requests are still served) before the
    /// listener closes: the time a load balancer needs to see it and stop sending.
    pub shutdown_ready_delay: Duration,
}

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<String>,
    body_limit: Option<ByteSize>,
    body_timeout: Option<ConfigDuration>,
    stream_hold_back: Option<ConfigDuration>,
    keep_alive: Option<ConfigDuration>,
    shutdown_grace: Option<ConfigDuration>,
    header_read_timeout: Option<ConfigDuration>,
    idle_timeout: Option<ConfigDuration>,
    shutdown_ready_delay: Option<ConfigDuration>,
}

pub(super) fn validate(raw: RawServer) -> Result<ServerConfig, Invalid> {
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = listen.parse().map_err(|_| {
        invalid(
            "server.listen",
            format!("{listen:?} is not an address such as \"127.0.0.1:8080\" or \"0.0.0.0:8080\""),
        )
    })?;
    let server = ServerConfig {
        listen,
        body_limit: raw.body_limit.map_or(32 << 20, |b| b.0),
        body_timeout: dur(raw.body_timeout, 60),
        stream_hold_back: dur(raw.stream_hold_back, 10),
        keep_alive: dur(raw.keep_alive, 15),
        shutdown_grace: dur(raw.shutdown_grace, 30),
        // nginx's client_header_timeout and keepalive_timeout.
        header_read_timeout: dur(raw.header_read_timeout, 60),
        idle_timeout: dur(raw.idle_timeout, 75),
        shutdown_ready_delay: dur(raw.shutdown_ready_delay, 0),
    };
    // Zero would close connections at once (the two timeouts) or write a stream's keep-alive
    // comments in a busy loop.
    for (key, value) in [
        ("server.header_read_timeout", server.header_read_timeout),
        ("server.idle_timeout", server.idle_timeout),
        ("server.keep_alive", server.keep_alive),
    ] {
        if value.is_zero() {
            return Err(invalid(key, "must be greater than zero"));
        }
    }
    Ok(server)
}

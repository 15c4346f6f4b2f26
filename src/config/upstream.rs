//! `[upstream]`: deadlines and sizes on the way to every provider; a provider's table may
//! override the per-attempt ones.

use std::time::Duration;

use serde::Deserialize;

use super::units::{ByteSize, ConfigDuration, dur};

/// Per-attempt deadlines and sizes on the way to an upstream.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamBounds {
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Longest a response body may go without progress: a stream without a byte of an event
    /// (comments and blank lines are not progress), a whole body without a byte.
    pub idle: Duration,
    /// The largest stream event taken from the provider; a bigger one fails the stream.
    pub max_event: usize,
}

const BUILT_IN: UpstreamBounds = UpstreamBounds {
    first_byte: Duration::from_secs(300),
    idle: Duration::from_secs(300),
    // Far above any real chunk (a long tool call's arguments arrive in many small events), and
    // small enough that a provider streaming one endless line cannot grow the gateway's memory.
    max_event: 4 << 20,
};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    connect_timeout: Option<ConfigDuration>,
    first_byte_timeout: Option<ConfigDuration>,
    idle_timeout: Option<ConfigDuration>,
    max_event_size: Option<ByteSize>,
}

impl RawUpstream {
    pub(super) fn connect_timeout(&self) -> Duration {
        dur(self.connect_timeout, 10)
    }

    /// The bounds of every provider that does not set its own.
    pub(super) fn bounds(&self) -> UpstreamBounds {
        BUILT_IN.overridden(
            self.first_byte_timeout,
            self.idle_timeout,
            self.max_event_size,
        )
    }
}

impl UpstreamBounds {
    /// These bounds, with whichever of the three keys a table sets.
    pub(super) fn overridden(
        self,
        first_byte_timeout: Option<ConfigDuration>,
        idle_timeout: Option<ConfigDuration>,
        max_event_size: Option<ByteSize>,
    ) -> Self {
        Self {
            first_byte: first_byte_timeout.map_or(self.first_byte, |d| d.0),
            idle: idle_timeout.map_or(self.idle, |d| d.0),
            max_event: max_event_size.map_or(self.max_event, |b| b.0),
        }
    }
}

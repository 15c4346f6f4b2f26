//! Where the process is in its life: serving, shutting down (not ready, still serving),
//! draining (new requests refused), and past the grace period (running streams cut).

use std::sync::atomic::{AtomicBool, Ordering};

pub struct Lifecycle {
    /// Shutdown was asked for: `/ready` answers 503 while requests are still served.
    unready: AtomicBool,
    draining: AtomicBool,
    /// Set when the shutdown grace period is over: every stream still running ends.
    cut: tokio::sync::watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            unready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            cut: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl Lifecycle {
    /// Shutdown was asked for: `/ready` says so, so load balancers stop sending new work, while
    /// what they still send is served.
    pub fn stop_ready(&self) {
        self.unready.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        !self.unready.load(Ordering::Relaxed) && !self.is_draining()
    }

    /// The listener has closed: new requests on open connections get 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The grace period is over: streams still running end with an error event.
    pub fn cut_streams(&self) {
        self.cut.send_replace(true);
    }

    /// What a stream watches to learn that it must end.
    pub fn cut_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.cut.subscribe()
    }
}

//! What every request can reach: the config, the providers built from it, the HTTP client.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::error::Error;
use crate::limits::Limiter;
use crate::providers::Provider;
use crate::routing::Health;
use crate::transport;

pub struct AppState {
    pub config: Config,
    pub providers: BTreeMap<String, Provider>,
    pub http: transport::Http,
    /// Cooldowns and latencies of targets, shared by every alias.
    pub health: Health,
    /// Per-key request counters.
    pub limits: Limiter,
    /// Shutdown was asked for: `/ready` answers 503 while requests are still served.
    unready: AtomicBool,
    draining: AtomicBool,
    /// Set when the shutdown grace period is over: every stream still running ends.
    cut: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, Error> {
        let providers = config
            .providers
            .iter()
            .map(|(name, provider)| Provider::new(provider).map(|p| (name.clone(), p)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            http: transport::client(&config)?,
            health: Health::new(&config.routing),
            limits: Limiter::new(&config.limits),
            providers,
            config,
            unready: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            cut: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Shutdown was asked for: `/ready` says so, so load balancers stop sending new work, while
    /// what they still send is served.
    pub fn stop_ready(&self) {
        self.unready.store(true, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        !self.unready.load(Ordering::Relaxed) && !self.is_draining()
    }

    /// The listener has closed: new chat requests on open connections get 503.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The grace period is over: streams still running end with an error event.
    pub fn cut_streams(&self) {
        self.cut.send_replace(true);
    }

    /// What a stream watches to learn that it must end.
    pub fn cut_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.cut.subscribe()
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

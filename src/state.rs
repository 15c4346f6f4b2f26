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
    draining: AtomicBool,
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
            draining: AtomicBool::new(false),
        })
    }

    /// Shutdown has begun: `/ready` says so, so load balancers stop sending new work.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

//! The composition root: the config, and the router, limiter and lifecycle built from it,
//! wired together for the surfaces. Nothing below the surfaces sees it.

use std::sync::Arc;

use crate::config::Config;
use crate::error::Error;
use crate::limits::Limiter;
use crate::pipeline::{Lifecycle, Pipeline};
use crate::routing::Router;

pub struct AppState {
    pub config: Config,
    pub router: Router,
    /// Per-key request and token counters.
    pub limits: Arc<Limiter>,
    pub lifecycle: Lifecycle,
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, Error> {
        Ok(Self {
            router: Router::new(&config)?,
            limits: Arc::new(Limiter::new(&config.limits)),
            config,
            lifecycle: Lifecycle::default(),
        })
    }

    /// The shared request pipeline, for one request.
    pub fn pipeline(&self) -> Pipeline<'_> {
        Pipeline {
            router: &self.router,
            limits: &self.limits,
            keys: &self.config.auth.keys,
            server: &self.config.server,
            lifecycle: &self.lifecycle,
        }
    }
}

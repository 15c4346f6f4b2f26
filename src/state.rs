//! The composition root: the config, and the router, limiter, lifecycle, metrics, prices and
//! ledger and tracer built from it, wired together for the surfaces. Nothing below the surfaces sees it.

use std::sync::Arc;

use crate::config::Config;
use crate::error::Error;
use crate::ledger::Ledger;
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::pipeline::{Lifecycle, Pipeline};
use crate::pricing::Pricing;
use crate::routing::Router;
use crate::telemetry::Tracer;

pub struct AppState {
    pub config: Config,
    pub router: Router,
    /// Per-key request and token counters.
    pub limits: Arc<Limiter>,
    pub lifecycle: Lifecycle,
    pub metrics: Arc<Metrics>,
    /// Model prices, for the cost of answers.
    pub pricing: Arc<Pricing>,
    /// One row per upstream attempt, when `[ledger]` asks for it.
    pub ledger: Arc<Ledger>,
    /// Spans to an OpenTelemetry collector, when `[telemetry]` names one.
    pub tracer: Arc<Tracer>,
}

impl AppState {
    pub fn new(config: Config) -> Result<Self, Error> {
        let pricing = Pricing::new(&config).map_err(Error::Internal)?;
        let metrics = Arc::new(Metrics::new(&config));
        let ledger = Arc::new(Ledger::new(&config.ledger).map_err(Error::Internal)?);
        let router = Router::new(&config, metrics.clone())?;
        let tracer = Arc::new(Tracer::new(&config.telemetry, router.http().clone()));
        Ok(Self {
            router,
            tracer,
            limits: Arc::new(Limiter::new(&config.limits)),
            config,
            lifecycle: Lifecycle::default(),
            metrics,
            pricing,
            ledger,
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
            metrics: &self.metrics,
            pricing: &self.pricing,
            ledger: &self.ledger,
            tracer: &self.tracer,
        }
    }
}

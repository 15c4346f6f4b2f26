//! `[pricing]`: the operator's own prices, over the embedded catalog's.

use std::path::PathBuf;

use serde::Deserialize;

use super::invalid::Invalid;

#[derive(Debug, Clone, Default)]
pub struct PricingConfig {
    /// A TOML file of prices per routing key or model (`prices.toml`), relative to the config
    /// file; read at start and again whenever it changes.
    pub file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPricing {
    file: Option<PathBuf>,
}

pub(super) fn validate(raw: RawPricing) -> Result<PricingConfig, Invalid> {
    Ok(PricingConfig { file: raw.file })
}

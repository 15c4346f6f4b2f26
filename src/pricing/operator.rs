//! The operator's prices (`[pricing] file`): per routing key (`provider/model`) or per model
//! name, in dollars per million tokens as pricing pages give them. They win over the catalog's,
//! and a change to the file is picked up while serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, Weak};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::{Price, Pricing};

/// How often the file is looked at for a change.
const POLL: Duration = Duration::from_secs(2);

/// What the file says: `[prices."openai/gpt-4o"] input = 2.5, output = 10.0, ...`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    prices: HashMap<String, PerMillion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerMillion {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
}

/// The prices read from the file, and the file's stamp when it was read.
pub struct Operator {
    pub path: PathBuf,
    prices: RwLock<(HashMap<String, Price>, Stamp)>,
}

/// When the file last changed, and its length: a rewrite within one tick of the clock still
/// changes the length nearly always.
type Stamp = Option<(SystemTime, u64)>;

impl Operator {
    /// Reads `path`; an unreadable or invalid file is an error at start.
    pub fn load(path: &Path) -> Result<Self, String> {
        let stamp = stamp(path);
        let prices = read(path)?;
        Ok(Self {
            path: path.to_owned(),
            prices: RwLock::new((prices, stamp)),
        })
    }

    /// The operator's price for `key`, a routing key or a model name.
    pub fn get(&self, key: &str) -> Option<Price> {
        let prices = self.prices.read().unwrap_or_else(|e| e.into_inner());
        prices.0.get(key).copied()
    }

    /// Reads the file again if it changed since; a file that no longer reads keeps the prices
    /// it had, and says why once. It is read outside the lock, and used only if it did not
    /// change while it was read (a half-written file is read again on the next look).
    fn refresh(&self) {
        let before = stamp(&self.path);
        let unchanged = self.prices.read().is_ok_and(|prices| prices.1 == before);
        if unchanged {
            return;
        }
        let read = read(&self.path);
        if stamp(&self.path) != before {
            return;
        }
        let mut prices = self.prices.write().unwrap_or_else(|e| e.into_inner());
        prices.1 = before;
        match read {
            Ok(fresh) => {
                tracing::info!(file = %self.path.display(), prices = fresh.len(), "prices reloaded");
                prices.0 = fresh;
            }
            Err(error) => {
                tracing::warn!(%error, "the prices file no longer reads: keeping the prices it had");
            }
        }
    }
}

/// Looks at the operator's file for changes while `pricing` lives.
pub fn watch(pricing: Weak<Pricing>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(pricing) = pricing.upgrade() else {
                return;
            };
            if let Some(operator) = &pricing.operator {
                operator.refresh();
            }
        }
    });
}

fn read(path: &Path) -> Result<HashMap<String, Price>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the prices: {e}", path.display()))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    file.prices
        .into_iter()
        .map(|(key, price)| {
            let per_token = |dollars: f64| dollars / 1e6;
            let valid = [
                Some(price.input),
                Some(price.output),
                price.cache_read,
                price.cache_write,
            ]
            .into_iter()
            .flatten()
            .all(|p| p.is_finite() && p >= 0.0);
            if !valid {
                return Err(format!(
                    "{}: prices.{key:?}: prices are dollars per million tokens, 0 or more",
                    path.display()
                ));
            }
            let input = per_token(price.input);
            Ok((
                key,
                Price {
                    input,
                    output: per_token(price.output),
                    cache_read: price.cache_read.map_or(input, per_token),
                    cache_write: price.cache_write.map_or(input, per_token),
                    source: "operator",
                },
            ))
        })
        .collect()
}

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

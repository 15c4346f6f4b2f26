//! `[ledger]`: one JSON line per upstream attempt, to a file that rotates by size, or stdout.

use std::path::PathBuf;

use serde::Deserialize;

use super::invalid::Invalid;
use super::units::ByteSize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// Where the rows go; none: no ledger.
    pub output: Option<LedgerOutput>,
    /// A file this large is renamed `<file>.1` (the older ones shifted up) and a new one begun.
    pub max_bytes: u64,
    /// How many rotated files are kept besides the current one.
    pub max_files: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerOutput {
    /// A file, relative to the config file.
    File(PathBuf),
    /// `file = "-"`: standard output, for a container's log collector.
    Stdout,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            output: None,
            max_bytes: 100 << 20,
            max_files: 5,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLedger {
    file: Option<PathBuf>,
    max_bytes: Option<ByteSize>,
    max_files: Option<u32>,
}

pub(super) fn validate(raw: RawLedger) -> Result<LedgerConfig, Invalid> {
    let defaults = LedgerConfig::default();
    let output = raw.file.map(|file| {
        if file.as_os_str() == "-" {
            LedgerOutput::Stdout
        } else {
            LedgerOutput::File(file)
        }
    });
    if let Some(LedgerOutput::File(file)) = &output
        && file.as_os_str().is_empty()
    {
        return Err((
            "ledger.file".into(),
            "must name a file, or \"-\" for standard output".into(),
        ));
    }
    let max_bytes = raw
        .max_bytes
        .map_or(defaults.max_bytes, |size| size.0 as u64);
    if max_bytes < 4096 {
        return Err((
            "ledger.max_bytes".into(),
            "must be at least 4KiB: a file must hold a few rows".into(),
        ));
    }
    Ok(LedgerConfig {
        output,
        max_bytes,
        max_files: raw.max_files.unwrap_or(defaults.max_files),
    })
}

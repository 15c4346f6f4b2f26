//! What the gateway logs, captured in memory for tests that check what a line says or that a
//! secret never appears.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything this test binary logs, from all its tests at once. (A subscriber per test, as its
/// thread's default, misses lines: tracing caches process-wide whether a line is wanted,
/// decided by whichever thread gets there first, and that may be a test without one.)
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The binary's logs at `level` and above, captured from the first call on; the first
    /// call's level holds for the binary.
    pub fn capture(level: tracing::Level) -> &'static Self {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Self::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            logs
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The first line that contains `needle`, or "" if none does.
    pub fn line_with(&self, needle: &str) -> String {
        self.text()
            .lines()
            .find(|line| line.contains(needle))
            .unwrap_or_default()
            .to_owned()
    }
}

//! The ledger's writer thread: rows to JSON lines, written in batches of what is queued with a
//! short pause between them, and the file rotated by size. A thread of its own, so file I/O never blocks the runtime serving requests.

use super::Row;
use crate::config::LedgerOutput;
use crate::outbox::{Inbox, Message};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A batch this large is written even while more rows wait.
const BATCH_BYTES: usize = 64 << 10;

/// The pause after each batch: rows queue up meanwhile, so a busy gateway's rows go out in a
/// few large writes and its requests never wake the writer (a row waits this long at most).
const LINGER: Duration = Duration::from_millis(50);

/// Where rows go, and the batch not yet written. A batch that cannot be written is dropped
/// whole and its rows counted, rather than kept to grow or to be written twice.
pub struct Sink {
    out: Out,
    batch: Vec<u8>,
    /// Rows in `batch`.
    rows: u64,
}

enum Out {
    Stdout(std::io::Stdout),
    File(Rotating),
}

struct Rotating {
    path: PathBuf,
    file: File,
    /// Bytes in the current file.
    written: u64,
    max_bytes: u64,
    max_files: u32,
}

impl Sink {
    pub fn open(output: &LedgerOutput, max_bytes: u64, max_files: u32) -> Result<Self, String> {
        let out = match output {
            LedgerOutput::Stdout => Out::Stdout(std::io::stdout()),
            LedgerOutput::File(path) => {
                let file = append(path)?;
                let written = file.metadata().map_or(0, |m| m.len());
                Out::File(Rotating {
                    path: path.clone(),
                    file,
                    written,
                    max_bytes,
                    max_files,
                })
            }
        };
        Ok(Self {
            out,
            batch: Vec::with_capacity(BATCH_BYTES),
            rows: 0,
        })
    }

    /// Adds one row's line to the batch; a file that would pass its size with it is written
    /// and rotated first.
    fn add(&mut self, line: &[u8]) -> Result<(), Dropped> {
        if let Out::File(file) = &self.out {
            let planned = file.written + self.batch.len() as u64;
            if planned > 0 && planned + line.len() as u64 > file.max_bytes {
                self.flush()?;
                if let Out::File(file) = &mut self.out {
                    file.rotate().map_err(|error| Dropped { error, rows: 0 })?;
                }
            }
        }
        self.batch.extend_from_slice(line);
        self.rows += 1;
        Ok(())
    }

    /// Writes the batch; on failure it is dropped, and how many rows it held is said.
    fn flush(&mut self) -> Result<(), Dropped> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let written = match &mut self.out {
            Out::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(&self.batch).and_then(|()| out.flush())
            }
            Out::File(file) => file.file.write_all(&self.batch).map(|()| {
                file.written += self.batch.len() as u64;
            }),
        };
        let rows = std::mem::take(&mut self.rows);
        self.batch.clear();
        written.map_err(|error| Dropped { error, rows })
    }
}

/// A batch that could not be written.
struct Dropped {
    error: std::io::Error,
    rows: u64,
}

impl Rotating {
    /// `ledger.jsonl` -> `ledger.jsonl.1`, the older ones shifted up and the oldest removed; a
    /// new `ledger.jsonl` begun.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.max_files == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(self.max_files));
            for n in (1..self.max_files).rev() {
                let from = numbered(n);
                if from.exists() {
                    std::fs::rename(&from, numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = append(&self.path).map_err(std::io::Error::other)?;
        self.written = 0;
        Ok(())
    }
}

fn append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open the ledger file {}: {e}", path.display()))
}

/// Writes rows until told to close (or every sender is gone): what is queued as one batch (in
/// pieces of `BATCH_BYTES`), then a pause, so a row reaches the file within `LINGER` and a busy
/// gateway's rows go out in few writes.
pub fn run(mut inbox: Inbox<Row>, mut sink: Sink) {
    let mut line = Vec::with_capacity(1024);
    // Said once per run of failures, not once per batch.
    let mut failing = false;
    let mut settle = |inbox: &Inbox<Row>, outcome: Result<(), Dropped>| match outcome {
        Ok(()) => failing = false,
        Err(Dropped { error, rows }) => {
            inbox.dropped(rows);
            if !failing {
                tracing::warn!(%error, "cannot write the ledger: rows are dropped (and counted) until it can");
                failing = true;
            }
        }
    };
    'rows: while let Some(mut message) = inbox.messages.blocking_recv() {
        // Everything queued now is one batch.
        loop {
            let Message::Item(row) = message else {
                break 'rows;
            };
            line.clear();
            let mut outcome = serde_json::to_writer(&mut line, &row)
                .map_err(|error| Dropped {
                    error: error.into(),
                    rows: 1,
                })
                .and_then(|()| {
                    line.push(b'\n');
                    sink.add(&line)
                });
            if outcome.is_ok() && sink.batch.len() >= BATCH_BYTES {
                outcome = sink.flush();
            }
            settle(&inbox, outcome);
            match inbox.messages.try_recv() {
                Ok(next) => message = next,
                Err(_) => break,
            }
        }
        settle(&inbox, sink.flush());
        std::thread::sleep(LINGER);
    }
    settle(&inbox, sink.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_its_size_is_rotated_and_only_max_files_are_kept() {
        let dir = std::env::temp_dir().join(format!("switchyard-ledger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| unreachable!("{e}"));
        let path = dir.join("ledger.jsonl");
        let mut sink = Sink::open(&LedgerOutput::File(path.clone()), 100, 2)
            .unwrap_or_else(|e| unreachable!("{e}"));
        // 40-byte lines: two fit in 100 bytes, the third begins a new file.
        for n in 0..7 {
            let line = format!("{{\"n\":{n}{}}}\n", " ".repeat(40 - 8));
            assert_eq!(line.len(), 40);
            assert!(sink.add(line.as_bytes()).is_ok());
        }
        assert!(sink.flush().is_ok());
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let first = |text: String| text.get(5..6).map(str::to_owned);
        assert_eq!(first(read("ledger.jsonl")), Some("6".into()));
        assert_eq!(first(read("ledger.jsonl.1")), Some("4".into()));
        assert_eq!(first(read("ledger.jsonl.2")), Some("2".into()));
        assert!(
            !dir.join("ledger.jsonl.3").exists(),
            "rows 0 and 1 are gone"
        );
        assert_eq!(read("ledger.jsonl.1").lines().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

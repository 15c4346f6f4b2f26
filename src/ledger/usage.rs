//! `switchyard usage`: a ledger read back and summed by gateway key, target or model, so "who
//! spent what" needs no other tool. Rotated files (`ledger.jsonl.1`, ...) are read too, oldest
//! first; a line that is not a row (a torn last line, another program's output on stdout) is
//! skipped and counted.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::RowTokens;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Key,
    Target,
    Model,
}

/// What a summary needs of a row.
#[derive(Deserialize)]
struct Seen {
    time: String,
    request_id: String,
    key: Option<String>,
    model: String,
    target: String,
    outcome: String,
    tokens: Option<RowTokens>,
    cost_usd: Option<f64>,
}

#[derive(Debug, Default, PartialEq)]
struct Sum {
    requests: HashSet<String>,
    attempts: u64,
    /// Attempts that did not serve: failed, retried, fell back, timed out, cancelled.
    failed: u64,
    tokens: RowTokens,
    cost: f64,
}

#[derive(Debug, Default)]
pub struct Summary {
    groups: BTreeMap<String, Sum>,
    total: Sum,
    skipped: u64,
}

/// The summary of the ledger at `path` (and its rotated files), rows since `since` ago only.
pub fn run(path: &Path, since: Option<Duration>, by: By) -> Result<String, String> {
    let files = files(path);
    if files.is_empty() {
        return Err(format!("no ledger at {}", path.display()));
    }
    let cutoff = since.map(|since| SystemTime::now() - since);
    let mut summary = Summary::default();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        summary.add(text.lines(), cutoff, by);
    }
    Ok(summary.render(by))
}

/// The ledger's files, oldest first.
fn files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let file = entry.file_name();
            let number = file
                .to_str()
                .and_then(|f| f.strip_prefix(name))
                .and_then(|rest| rest.strip_prefix('.'))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(number) = number {
                rotated.push((number, entry.path()));
            }
        }
    }
    rotated.sort_by_key(|(number, _)| std::cmp::Reverse(*number));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, path)| path).collect();
    if path.is_file() {
        files.push(path.to_path_buf());
    }
    files
}

impl Summary {
    fn add<'a>(
        &mut self,
        lines: impl Iterator<Item = &'a str>,
        cutoff: Option<SystemTime>,
        by: By,
    ) {
        for line in lines.filter(|line| !line.trim().is_empty()) {
            let Ok(row) = serde_json::from_str::<Seen>(line) else {
                self.skipped += 1;
                continue;
            };
            let Ok(time) = humantime::parse_rfc3339(&row.time) else {
                self.skipped += 1;
                continue;
            };
            if cutoff.is_some_and(|cutoff| time < cutoff) {
                continue;
            }
            let group = match by {
                By::Key => row.key.clone().unwrap_or_else(|| "(no key)".into()),
                By::Target => row.target.clone(),
                By::Model => row.model.clone(),
            };
            self.groups.entry(group).or_default().count(&row);
            self.total.count(&row);
        }
    }

    fn render(&self, by: By) -> String {
        let head = match by {
            By::Key => "KEY",
            By::Target => "TARGET",
            By::Model => "MODEL",
        };
        let mut groups: Vec<(&String, &Sum)> = self.groups.iter().collect();
        // Who spent most first.
        groups.sort_by(|a, b| b.1.cost.total_cmp(&a.1.cost).then(a.0.cmp(b.0)));
        let mut table = vec![[
            head.to_owned(),
            "REQUESTS".into(),
            "ATTEMPTS".into(),
            "FAILED".into(),
            "PROMPT".into(),
            "COMPLETION".into(),
            "CACHED".into(),
            "REASONING".into(),
            "COST_USD".into(),
        ]];
        let total = "TOTAL".to_owned();
        for (name, sum) in groups.into_iter().chain([(&total, &self.total)]) {
            table.push([
                name.clone(),
                sum.requests.len().to_string(),
                sum.attempts.to_string(),
                sum.failed.to_string(),
                sum.tokens.prompt.to_string(),
                sum.tokens.completion.to_string(),
                sum.tokens.cached_read.to_string(),
                sum.tokens.reasoning.to_string(),
                format!("{:.6}", sum.cost),
            ]);
        }
        let mut widths = [0; 9];
        for row in &table {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &table {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
                // The name left-aligned, the numbers right-aligned.
                if i == 0 {
                    let _ = write!(line, "{cell:<width$}");
                } else {
                    let _ = write!(line, "  {cell:>width$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        if self.skipped > 0 {
            let _ = writeln!(
                out,
                "({} lines were not ledger rows and were skipped)",
                self.skipped
            );
        }
        out
    }
}

impl Sum {
    fn count(&mut self, row: &Seen) {
        self.requests.insert(row.request_id.clone());
        self.attempts += 1;
        if !matches!(row.outcome.as_str(), "success" | "client_closed") {
            self.failed += 1;
        }
        if let Some(tokens) = row.tokens {
            self.tokens.prompt += tokens.prompt;
            self.tokens.completion += tokens.completion;
            self.tokens.cached_read += tokens.cached_read;
            self.tokens.cache_write += tokens.cache_write;
            self.tokens.reasoning += tokens.reasoning;
        }
        self.cost += row.cost_usd.unwrap_or(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(time: &str, id: &str, key: &str, target: &str, outcome: &str, cost: f64) -> String {
        serde_json::json!({
            "time": time, "request_id": id, "key": key, "surface": "chat", "model": "smart",
            "provider": "p", "target": target, "attempt": 1, "outcome": outcome, "status": 200,
            "reached_client": true, "stream": false, "duration_ms": 1.0,
            "tokens": {"prompt": 10, "completion": 5, "cached_read": 2, "cache_write": 0, "reasoning": 1},
            "estimated": false, "cost_usd": cost, "prices": "operator"
        })
        .to_string()
    }

    #[test]
    fn rotated_files_are_read_oldest_first_and_other_files_are_not() {
        let dir = std::env::temp_dir().join(format!("switchyard-usage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| unreachable!("{e}"));
        for name in [
            "ledger.jsonl",
            "ledger.jsonl.1",
            "ledger.jsonl.2",
            "ledger.jsonl.bak",
            "other.1",
        ] {
            std::fs::write(dir.join(name), "").unwrap_or_else(|e| unreachable!("{e}"));
        }
        let names: Vec<String> = files(&dir.join("ledger.jsonl"))
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert_eq!(names, ["ledger.jsonl.2", "ledger.jsonl.1", "ledger.jsonl"]);
        assert!(files(&dir.join("none.jsonl")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rows_are_summed_by_key_with_distinct_requests_and_failed_attempts() {
        let rows = [
            row(
                "2026-12-06T10:00:00.000Z",
                "r1",
                "ci",
                "a/m",
                "fell_back",
                0.0,
            ),
            row(
                "2026-12-06T10:00:01.000Z",
                "r1",
                "ci",
                "b/m",
                "success",
                0.25,
            ),
            row(
                "2026-12-06T11:00:00.000Z",
                "r2",
                "app",
                "b/m",
                "success",
                1.5,
            ),
            row(
                "2026-12-05T11:00:00.000Z",
                "r0",
                "app",
                "b/m",
                "success",
                100.0,
            ),
            "{torn".to_owned(),
        ];
        let mut summary = Summary::default();
        let cutoff = humantime::parse_rfc3339("2026-12-06T00:00:00Z").ok();
        summary.add(rows.iter().map(String::as_str), cutoff, By::Key);
        let text = summary.render(By::Key);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            lines[0],
            [
                "KEY",
                "REQUESTS",
                "ATTEMPTS",
                "FAILED",
                "PROMPT",
                "COMPLETION",
                "CACHED",
                "REASONING",
                "COST_USD"
            ]
        );
        // The biggest spender first; the row from before the cutoff is left out.
        assert_eq!(
            lines[1],
            ["app", "1", "1", "0", "10", "5", "2", "1", "1.500000"]
        );
        assert_eq!(
            lines[2],
            ["ci", "1", "2", "1", "20", "10", "4", "2", "0.250000"]
        );
        assert_eq!(
            lines[3],
            ["TOTAL", "2", "3", "1", "30", "15", "6", "3", "1.750000"]
        );
        assert!(text.contains("(1 lines were not ledger rows"), "{text}");

        let mut by_target = Summary::default();
        by_target.add(rows.iter().map(String::as_str), None, By::Target);
        let text = by_target.render(By::Target);
        assert!(
            text.lines().nth(1).is_some_and(|l| l.starts_with("b/m ")),
            "{text}"
        );
        assert!(text.contains("101.750000"), "{text}");
    }
}

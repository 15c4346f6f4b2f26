//! Counters in this process: one set per scope (a key, or a key's models), each window
//! forgotten when the next begins.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Snapshot, Usage, Verdict, Windows, decide};
use crate::config::KeyLimits;

#[derive(Default)]
pub struct Counters {
    scopes: Mutex<HashMap<String, Scope>>,
}

#[derive(Debug, Default)]
struct Scope {
    minute: u64,
    day: u64,
    month: u64,
    counts: Snapshot,
}

impl Scope {
    fn roll(&mut self, w: Windows) {
        if self.minute != w.minute {
            self.minute = w.minute;
            self.counts.requests = 0;
            self.counts.minute_tokens = 0;
        }
        if self.day != w.day {
            self.day = w.day;
            self.counts.day_tokens = 0;
            self.counts.day_micro_usd = 0;
        }
        if self.month != w.month {
            self.month = w.month;
            self.counts.month_tokens = 0;
            self.counts.month_micro_usd = 0;
        }
    }
}

impl Counters {
    pub fn admit(&self, scope: &str, limits: &KeyLimits, w: Windows) -> (Verdict, Snapshot) {
        self.with(scope, w, |counts| {
            let verdict = decide(limits, counts);
            if verdict == Verdict::Admit && limits.rpm.is_some() {
                counts.requests += 1;
            }
            (verdict, *counts)
        })
    }

    pub fn record(&self, scope: &str, w: Windows, usage: Usage) {
        self.with(scope, w, |counts| {
            counts.minute_tokens += usage.tokens;
            counts.day_tokens += usage.tokens;
            counts.month_tokens += usage.tokens;
            counts.day_micro_usd += usage.micro_usd;
            counts.month_micro_usd += usage.micro_usd;
        });
    }

    fn with<T>(&self, scope: &str, w: Windows, f: impl FnOnce(&mut Snapshot) -> T) -> T {
        // A panic elsewhere cannot leave the counts inconsistent: use them anyway.
        let mut scopes = self
            .scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = scopes.entry(scope.to_owned()).or_default();
        entry.roll(w);
        f(&mut entry.counts)
    }
}

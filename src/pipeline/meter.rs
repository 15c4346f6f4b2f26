//! Counting the tokens a stream reports against the caller's gateway key, however the stream
//! ends (the client leaving included).

use crate::completion::Chunk;
use crate::limits::Account;

/// Records when dropped: at the end of the stream, or when the client's body is dropped.
pub struct Meter {
    account: Option<Account>,
    /// The usage the stream reported, once it did.
    reported: Option<u64>,
    /// For a stream that ends before reporting usage (cut, failed, client gone): the prompt
    /// estimated from its size, plus a token per chunk of output, so nothing streams for free.
    estimate: u64,
}

impl Meter {
    pub fn new(account: Account, prompt_estimate: u64) -> Self {
        Self {
            account: Some(account),
            reported: None,
            estimate: prompt_estimate,
        }
    }

    pub fn see(&mut self, chunk: &Chunk) {
        if let Some(tokens) = chunk.usage {
            // Usage is cumulative: the last report is the total.
            self.reported = Some(tokens.total);
        }
        if chunk.output {
            self.estimate += 1;
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(account) = self.account.take() {
            account.record(self.reported.unwrap_or(self.estimate));
        }
    }
}

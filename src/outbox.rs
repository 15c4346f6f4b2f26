//! A bounded queue from the request path to a worker that sends things elsewhere (the ledger's
//! rows, the spans): `push` never waits (a full queue drops the item and counts it), and
//! `close` returns once the worker has handled everything queued before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub struct Outbox<T> {
    /// None: nothing is sent anywhere.
    queue: Option<mpsc::Sender<Message<T>>>,
    dropped: Arc<AtomicU64>,
    /// Resolves when the worker's `Inbox` is dropped: it has stopped.
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

pub enum Message<T> {
    Item(Box<T>),
    /// Handle what came before, then stop.
    Close,
}

/// The worker's end: what it receives, and where it counts what it could not send.
pub struct Inbox<T> {
    pub messages: mpsc::Receiver<Message<T>>,
    dropped: Arc<AtomicU64>,
    /// Dropped with the inbox, which tells `close` the worker is done.
    _done: oneshot::Sender<()>,
}

impl<T> Inbox<T> {
    /// `count` items the worker could not send.
    pub fn dropped(&self, count: u64) {
        self.dropped.fetch_add(count, Ordering::Relaxed);
    }
}

impl<T> Outbox<T> {
    pub fn off() -> Self {
        Self {
            queue: None,
            dropped: Arc::default(),
            stopped: Mutex::new(None),
        }
    }

    /// An outbox holding at most `capacity` items, and the inbox its worker reads.
    pub fn new(capacity: usize) -> (Self, Inbox<T>) {
        let (queue, messages) = mpsc::channel(capacity);
        let (done, stopped) = oneshot::channel();
        let dropped = Arc::new(AtomicU64::new(0));
        let inbox = Inbox {
            messages,
            dropped: dropped.clone(),
            _done: done,
        };
        let outbox = Self {
            queue: Some(queue),
            dropped,
            stopped: Mutex::new(Some(stopped)),
        };
        (outbox, inbox)
    }

    pub fn on(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `item`, or drops and counts it when the worker is that far behind.
    pub fn push(&self, item: T) {
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(Message::Item(Box::new(item))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Items dropped so far, here or by the worker.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Has the worker handle everything queued so far and stop, waiting at most `within`;
    /// items pushed after this are not handled.
    pub async fn close(&self, within: Duration) {
        let Some(queue) = &self.queue else {
            return;
        };
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(stopped) = stopped {
            let closing = async {
                if queue.send(Message::Close).await.is_ok() {
                    let _ = stopped.await;
                }
            };
            let _ = tokio::time::timeout(within, closing).await;
        }
    }
}

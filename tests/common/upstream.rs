//! Fake upstreams in the test's own process: each answers from a script and records what it
//! receives, standing in for whichever provider kind the gateway is configured to see there.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::sse::{content_chunk, finish_chunk, opening, read_until};

/// A request a fake upstream received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("upstream got JSON")
    }

    /// The body as it arrived, for checks that must hold byte for byte.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).expect("upstream got UTF-8")
    }
}

/// How the fake upstream ends an SSE body after its scripted pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Close,
    /// Keep the connection open, sending nothing, until the client goes away.
    Hang,
    /// Break the body off: the connection is aborted mid-response.
    Reset,
}

/// One scripted answer.
#[derive(Clone)]
pub enum Reply {
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// `pieces` written one by one; a `Step::Wait` holds the body until `release()` is called.
    Sse { steps: Vec<Step>, end: End },
    /// Accept the request and never answer.
    Silent,
}

#[derive(Clone)]
pub enum Step {
    Send(Bytes),
    Sleep(Duration),
    Wait,
}

impl Step {
    pub fn send(text: impl Into<String>) -> Self {
        Self::Send(Bytes::from(text.into()))
    }
}

impl Reply {
    pub fn json(body: impl Into<String>) -> Self {
        Self::status(200, body)
    }

    pub fn status(status: u16, body: impl Into<String>) -> Self {
        Self::Json {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a response header to a `Json` reply.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        match &mut self {
            Self::Json { headers, .. } => headers.push((name, value.to_owned())),
            _ => panic!("only a JSON reply takes headers"),
        }
        self
    }

    /// A whole SSE body sent at once, then closed.
    pub fn sse(body: impl Into<String>) -> Self {
        Self::Sse {
            steps: vec![Step::send(body)],
            end: End::Close,
        }
    }

    /// An SSE body that sends `pieces` (a write each) and then stays open until the client
    /// leaves: waiting for `release()` with comments only, then with nothing at all.
    pub fn stuck_after<S: Into<String>>(pieces: impl IntoIterator<Item = S>) -> Self {
        let mut steps: Vec<Step> = pieces.into_iter().map(Step::send).collect();
        steps.push(Step::Wait);
        Self::Sse {
            steps,
            end: End::Hang,
        }
    }

    /// An OpenAI stream's role chunk and a chunk per piece of text (a write each), then `then`,
    /// ending as `end`.
    pub fn opening_then(pieces: &[&str], then: impl IntoIterator<Item = Step>, end: End) -> Self {
        let mut steps: Vec<Step> = opening(pieces).into_iter().map(Step::send).collect();
        steps.extend(then);
        Self::Sse { steps, end }
    }

    /// An OpenAI stream held in the middle: its role chunk and `before`, then nothing until
    /// `release()`, then `after` and the finish.
    pub fn held(before: &[&str], after: &[&str]) -> Self {
        let rest = after
            .iter()
            .map(|piece| Step::send(content_chunk(Some(piece))))
            .chain([Step::send(finish_chunk("stop"))]);
        Self::opening_then(before, std::iter::once(Step::Wait).chain(rest), End::Close)
    }

    /// `body` after `delay`, as a provider that takes its time answers.
    pub fn after(delay: Duration, body: impl Into<String>) -> Self {
        Self::Sse {
            steps: vec![Step::Sleep(delay), Step::send(body)],
            end: End::Close,
        }
    }
}

/// A whole OpenAI answer.
pub fn completion_json(content: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-whole",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "up-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    })
    .to_string()
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    release: Notify,
    /// SSE bodies dropped before they finished: the client (the gateway) went away.
    abandoned: AtomicUsize,
    finished: AtomicUsize,
}

/// An upstream on 127.0.0.1:0 that answers from a script and records every request.
#[derive(Clone)]
pub struct FakeUpstream {
    /// `http://127.0.0.1:PORT`, with no path.
    pub root: String,
    /// The base URL of an OpenAI-compatible API here (`…/v1`).
    pub base_url: String,
    shared: Arc<Shared>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        // Takes bodies of any size, as a provider would; the gateway's own limit is what tests see.
        let app = Router::new()
            .fallback(serve)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let root = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base_url: format!("{root}/v1"),
            root,
            shared,
        }
    }

    /// Queues replies, used in order; after them `always` (if set) answers every request.
    pub fn push(&self, reply: Reply) -> &Self {
        self.shared.script.lock().unwrap().push_back(reply);
        self
    }

    pub fn always(&self, reply: Reply) -> &Self {
        *self.shared.fallback.lock().unwrap() = Some(reply);
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Recorded {
        self.requests()
            .last()
            .cloned()
            .expect("the upstream got a request")
    }

    /// Lets every SSE body waiting at a `Step::Wait` go on.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }

    pub fn abandoned(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until `count` SSE bodies were dropped unfinished; true if they were.
    pub async fn wait_abandoned_count(&self, count: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if self.abandoned() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Waits (bounded) until an SSE body was dropped unfinished; true if it was.
    pub async fn wait_abandoned(&self, within: Duration) -> bool {
        self.wait_abandoned_count(1, within).await
    }

    /// Reads `response` until `needle` with this upstream's request still open, then goes away
    /// as a client that gives up does. Whether the request here was given up too, within a
    /// second.
    pub async fn released_when_client_leaves(
        &self,
        response: reqwest::Response,
        needle: &str,
    ) -> bool {
        let mut body = response.bytes_stream();
        read_until(&mut body, needle).await;
        assert_eq!(self.abandoned(), 0, "given up while the client still read");
        drop(body);
        self.wait_abandoned(Duration::from_secs(1)).await
    }
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let reply = shared.script.lock().unwrap().pop_front();
    let reply = reply.or_else(|| shared.fallback.lock().unwrap().clone());
    match reply {
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply").into_response(),
        Some(Reply::Json {
            status,
            headers,
            body,
        }) => {
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().unwrap());
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
        Some(Reply::Silent) => {
            // Dropped (and counted as abandoned) when the client closes the connection.
            let _guard = FinishGuard {
                shared: shared.clone(),
                finished: false,
            };
            std::future::pending::<()>().await;
            unreachable!()
        }
        Some(Reply::Sse { steps, end }) => {
            let body = async_stream::stream! {
                let guard = FinishGuard { shared: shared.clone(), finished: false };
                let mut guard = guard;
                for step in steps {
                    match step {
                        Step::Send(bytes) => yield Ok::<_, std::io::Error>(bytes),
                        Step::Sleep(duration) => tokio::time::sleep(duration).await,
                        Step::Wait => {
                            let notified = shared.release.notified();
                            // Keep the connection visibly alive while waiting, so a
                            // client that left is noticed on the next write.
                            let mut notified = std::pin::pin!(notified);
                            loop {
                                tokio::select! {
                                    () = &mut notified => break,
                                    () = tokio::time::sleep(Duration::from_millis(50)) => yield Ok(Bytes::from_static(b": waiting\n\n")),
                                }
                            }
                        }
                    }
                }
                if end == End::Reset {
                    yield Err(std::io::Error::other("reset by the test"));
                }
                if end == End::Hang {
                    loop {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        yield Ok(Bytes::new());
                    }
                }
                guard.finished = true;
            };
            let mut response = Body::from_stream(body).into_response();
            response
                .headers_mut()
                .insert("content-type", "text/event-stream".parse().unwrap());
            response
        }
    }
}

struct FinishGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for FinishGuard {
    fn drop(&mut self) {
        let counter = if self.finished {
            &self.shared.finished
        } else {
            &self.shared.abandoned
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

//! The server: tower-http layers around the routes, the accept loop, connection timeouts, and
//! graceful shutdown.

mod connection;
mod protocol;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

use crate::error::Error;
use crate::state::AppState;
use crate::surfaces;
use crate::telemetry;
use protocol::Protocol;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids in the UUID v4 form, from the thread's fast generator: ids only need to tell
/// requests apart in logs, and a system call for OS randomness on every request showed in
/// profiles.
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let error = Error::Internal("the gateway hit a bug while serving this request".into());
    let mut response = crate::openai::error::to_json(&error).into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Serves until `shutdown` resolves. Then `/ready` answers 503 for `shutdown_ready_delay` while
/// everything is still served (so a load balancer that checks it stops sending first), the
/// listener closes, and in-flight requests (streams included) get up to `shutdown_grace` to
/// finish; a stream still running then ends with an error event, as a failed one does.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let server = &state.config.server;
    let (grace, ready_delay) = (server.shutdown_grace, server.shutdown_ready_delay);
    let metrics = &state.config.metrics;
    if let (true, Some(listen)) = (metrics.enabled, metrics.listen) {
        // A plain listener: a scrape port sees one client, Prometheus, a few times a minute.
        let listener = TcpListener::bind(listen).await?;
        let scrapes = surfaces::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, scrapes).await {
                tracing::error!("the metrics listener failed: {error}");
            }
        });
        tracing::info!(address = %listen, "metrics listening");
    }
    let limits = connection::Limits {
        header: server.header_read_timeout,
        idle: server.idle_timeout,
    };
    // The layers every request passes through, around the routes as one service:
    // `Router::layer` would wrap every route, and each layer would clone a boxed route on every
    // request (bench/PROFILE.md).
    let app = ServiceBuilder::new()
        .map_request(|request: axum::http::Request<hyper::body::Incoming>| {
            request.map(axum::body::Body::new)
        })
        .map_response(IntoResponse::into_response)
        // Outermost: the id is set (or the client's kept) before anything else sees the request,
        // and echoed on every response.
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer_fn(|inner| telemetry::LogRequests {
            inner,
            metrics: state.metrics.clone(),
        })
        .layer(CatchPanicLayer::custom(panic_response))
        .service(surfaces::router(state.clone()));
    let acceptor = Acceptor {
        listener,
        app,
        builders: Arc::new(Builders {
            http1: auto::Builder::new(TokioExecutor::new()).http1_only(),
            http2: auto::Builder::new(TokioExecutor::new()).http2_only(),
            detect: auto::Builder::new(TokioExecutor::new()),
        }),
        graceful: GracefulShutdown::new(),
        stopping: watch::Sender::new(false),
        limits,
        counts: Arc::new(connection::Counts::default()),
    };
    acceptor.accept_until(shutdown).await;
    state.lifecycle.stop_ready();
    if !ready_delay.is_zero() {
        tracing::info!(
            delay_s = ready_delay.as_secs_f64(),
            "shutting down: /ready answers 503, still serving until the delay ends"
        );
        acceptor.accept_until(tokio::time::sleep(ready_delay)).await;
    }
    let Acceptor {
        listener,
        graceful,
        stopping,
        ..
    } = acceptor;
    drop(listener);
    // Connections that have not yet sent enough to tell their protocol close now; the others
    // finish what they are serving.
    stopping.send_replace(true);
    state.lifecycle.start_draining();
    tracing::info!(
        grace_s = grace.as_secs_f64(),
        "shutting down: no new connections, draining in-flight requests"
    );
    let mut drained = std::pin::pin!(graceful.shutdown());
    tokio::select! {
        () = &mut drained => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("grace period over: ending the streams still open with an error event");
            state.lifecycle.cut_streams();
            if tokio::time::timeout(CUT_WAIT, drained).await.is_err() {
                tracing::warn!("closing the connections still open");
            }
        }
    }
    // Every request has ended and queued its rows: they are written before the process exits.
    state.ledger.close().await;
    state.tracer.close().await;
    Ok(())
}

/// How long streams ended at the grace period get to write their error event and close.
const CUT_WAIT: Duration = Duration::from_secs(1);

/// A connection is served by the builder its first bytes call for (`protocol.rs`).
struct Builders {
    http1: auto::Builder<TokioExecutor>,
    http2: auto::Builder<TokioExecutor>,
    /// Reads until it can tell the two apart, for first bytes that do not tell yet.
    detect: auto::Builder<TokioExecutor>,
}

/// The listener and what every accepted connection is served with.
struct Acceptor<S> {
    listener: TcpListener,
    app: S,
    builders: Arc<Builders>,
    graceful: GracefulShutdown,
    /// Set once the listener has closed.
    stopping: watch::Sender<bool>,
    limits: connection::Limits,
    counts: Arc<connection::Counts>,
}

impl<S> Acceptor<S>
where
    S: tower::Service<
            axum::http::Request<hyper::body::Incoming>,
            Response = Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    /// Accepts and serves connections until `stop` resolves.
    async fn accept_until(&self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            let tcp = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(error) => {
                        // Out of file descriptors, most likely: wait for some to close rather
                        // than spin on the error.
                        tracing::warn!("cannot accept a connection: {error}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut stop => return,
            };
            self.serve(tcp);
        }
    }

    fn serve(&self, tcp: TcpStream) {
        let _ = tcp.set_nodelay(true);
        let watch = connection::Watch::new();
        let app = self.app.clone();
        let requests = watch.clone();
        let service = hyper::service::service_fn(move |request| {
            let in_flight = requests.begin();
            let call = app.clone().oneshot(request);
            async move {
                call.await
                    .map(|response| connection::hold(response, in_flight))
            }
        });
        let builders = self.builders.clone();
        let graceful = self.graceful.watcher();
        let mut stopping = self.stopping.subscribe();
        let (limits, counts) = (self.limits, self.counts.clone());
        tokio::spawn(async move {
            let serve = async {
                let protocol = tokio::select! {
                    protocol = Protocol::of(&tcp) => protocol,
                    _ = stopping.wait_for(|stopping| *stopping) => None,
                };
                let builder = match protocol {
                    None => return,
                    Some(Protocol::Http1) => &builders.http1,
                    Some(Protocol::Http2) => &builders.http2,
                    Some(Protocol::Unsure) => &builders.detect,
                };
                let io = TokioIo::new(connection::Watched::new(tcp, watch.clone()));
                // A connection error (a client that vanished, a malformed request) ends only
                // that connection; hyper has already answered what could be answered.
                let _ = graceful.watch(builder.serve_connection(io, service)).await;
            };
            tokio::select! {
                () = serve => {}
                // Dropping the connection closes its socket.
                closed = watch.overrun(limits) => counts.record(closed, limits),
            }
        });
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
}

//! The fake OpenAI upstream: as fast as a server can answer, so the proxy in front of it is what
//! the bench measures. The `model` of a request picks the answer: `json` (or any non-stream
//! request) gets one `chat.completion`; `c{N}d{D}` streams N content chunks, D ms apart.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Either, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::wire;

type Chunks = futures_util::stream::BoxStream<'static, Result<Frame<Bytes>, Infallible>>;
type Body = Either<Full<Bytes>, StreamBody<Chunks>>;

/// Serves forever on `listener`, one task per connection.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(answer))
                .await;
        });
    }
}

pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn answer(request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let Ok(body) = request.into_body().collect().await.map(|b| b.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let streamed = wire::find(&body, b"\"stream\":true").is_some();
    let profile = wire::model_of(&body).and_then(wire::Profile::parse);
    let response = match (streamed, profile) {
        (false, _) => Response::builder()
            .header("content-type", "application/json")
            .body(Either::Left(Full::new(Bytes::from_static(
                wire::COMPLETION.as_bytes(),
            )))),
        (true, profile) => {
            let profile = profile.unwrap_or(wire::Profile {
                chunks: 8,
                delay: Duration::ZERO,
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .header("cache-control", "no-cache")
                .body(stream_body(profile))
        }
    };
    Ok(response.unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR)))
}

/// Without a delay the whole stream is one write, the cheapest thing the upstream can do; with
/// one, the role chunk and the first token go at once and each next token a tick later.
fn stream_body(profile: wire::Profile) -> Body {
    if profile.delay.is_zero() {
        let mut all = Vec::new();
        all.extend_from_slice(wire::role_event().as_bytes());
        for i in 0..profile.chunks {
            all.extend_from_slice(wire::token_event(i).as_bytes());
        }
        all.extend_from_slice(wire::finish_events().as_bytes());
        return Either::Left(Full::new(Bytes::from(all)));
    }
    let n = profile.chunks.max(1);
    let mut first = format!("{}{}", wire::role_event(), wire::token_event(0));
    if n == 1 {
        first.push_str(wire::finish_events());
    }
    let ticks = futures_util::stream::unfold(1u32, move |i| async move {
        if i >= n {
            return None;
        }
        tokio::time::sleep(profile.delay).await;
        let mut event = wire::token_event(i);
        if i + 1 == n {
            event.push_str(wire::finish_events());
        }
        Some((event, i + 1))
    });
    let frames = futures_util::stream::once(async move { first })
        .chain(ticks)
        .map(|text| Ok(Frame::data(Bytes::from(text))));
    Either::Right(StreamBody::new(Box::pin(frames)))
}

fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
    *response.status_mut() = code;
    response
}

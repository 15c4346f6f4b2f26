//! Which HTTP a new connection speaks: HTTP/2 when it opens with HTTP/2's connection preface
//! (cleartext with prior knowledge, as a load balancer or an h2c client speaks it), else
//! HTTP/1.1.
//!
//! The bytes are peeked, not read, so that the protocol's own reader gets the socket untouched.
//! hyper-util's detection reads the first 24 bytes and hands them back to HTTP/1.1's reader as
//! its first read; that reader then reserves room for a whole buffer after those 24 bytes,
//! which doubles the connection's read buffer to 16 KB for as long as it lives (nearly half of
//! the gateway's memory per open stream). Only a connection whose first bytes begin the
//! preface without completing it (a client sending its first byte alone) is left to hyper-util's
//! detection, which reads until it can tell: peeking again would mean polling a socket that
//! stays readable.

use tokio::net::TcpStream;

/// HTTP/2's connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    /// Not told yet by the bytes that have arrived.
    Unsure,
}

impl Protocol {
    /// The protocol of `tcp`'s first bytes, once some have arrived; none when the connection
    /// closed (or failed) first. Waits as long as the client sends nothing: the connection's
    /// watchdog bounds that.
    pub async fn of(tcp: &TcpStream) -> Option<Self> {
        let mut first = [0u8; PREFACE.len()];
        match tcp.peek(&mut first).await {
            Ok(0) | Err(_) => None,
            Ok(seen) => Some(decide(&first[..seen])),
        }
    }
}

/// The protocol `first` (a connection's first bytes) shows.
fn decide(first: &[u8]) -> Protocol {
    if !PREFACE.starts_with(first) {
        Protocol::Http1
    } else if first.len() == PREFACE.len() {
        Protocol::Http2
    } else {
        Protocol::Unsure
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    #[test]
    fn the_first_bytes_decide() {
        assert_eq!(decide(b"POST /v1/chat"), Protocol::Http1);
        assert_eq!(decide(b"GET / HTTP/1.1\r\n"), Protocol::Http1);
        assert_eq!(decide(b"PU"), Protocol::Http1);
        assert_eq!(decide(PREFACE), Protocol::Http2);
        assert_eq!(
            decide(b"P"),
            Protocol::Unsure,
            "POST, PUT, PATCH or the preface"
        );
        assert_eq!(decide(b"PRI * HTTP/2.0\r\n"), Protocol::Unsure);
    }

    #[tokio::test]
    async fn peeking_leaves_the_bytes_for_the_reader() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(PREFACE).await.unwrap();
            tcp
        });
        let (server, _) = listener.accept().await.unwrap();
        let _client = client.await.unwrap();
        let protocol = loop {
            // The preface may arrive in pieces on a busy machine: it is all there eventually.
            match Protocol::of(&server).await {
                Some(Protocol::Unsure) => tokio::task::yield_now().await,
                other => break other,
            }
        };
        assert_eq!(protocol, Some(Protocol::Http2));
        let mut all = [0u8; 24];
        let read = server.try_read(&mut all).unwrap();
        assert_eq!(&all[..read], PREFACE, "nothing was consumed");

        let (closed, _) = tokio::join!(async { listener.accept().await.unwrap().0 }, async {
            drop(TcpStream::connect(addr).await.unwrap())
        });
        assert_eq!(Protocol::of(&closed).await, None, "closed before a byte");
    }
}

//! The accept loop: axum's own `serve`, plus what it does not let us set. Every connection gets
//! a deadline for reading a request's headers (slowloris), and the client's address is put in
//! the request as `ConnectInfo` (what `ClientIp` reads). On shutdown the listener closes at once
//! and open connections finish their in-flight requests.
//!
//! Requests hyper refuses itself (headers too large: 431, URI too long: 414, a malformed request
//! line or header: 400) never reach the router; hyper answers them with a bare status line. The
//! connection's writer recognises that answer (a response head written while no request is
//! waiting for one) and sends ours instead: the error envelope and the security headers.

use std::{
    convert::Infallible,
    future::Future,
    io::IoSlice,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    Router,
};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tower::ServiceExt;

/// Serve `app` on `listener` until `shutdown` resolves; then wait for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a clone; when all are dropped, every connection is done.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Infallible>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let stream = Guarded::new(stream);
        let dispatched = Arc::clone(&stream.dispatched);
        let service = app.clone().map_request(move |req: Request<Incoming>| {
            dispatched.fetch_add(1, Ordering::Relaxed);
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            req
        });
        let mut stop = stop_rx.clone();
        let done = done_tx.clone();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

/// The connection as hyper sees it: reads pass through; a response head hyper writes while every
/// request it handed us already has its answer is hyper's own refusal (it only writes one before
/// a response has started), and is replaced by [`crate::middleware::protocol_rejection`].
struct Guarded {
    inner: TcpStream,
    /// Requests handed to the router (counted by the service).
    dispatched: Arc<AtomicU64>,
    /// Final (non-1xx) response heads written so far.
    heads: u64,
    /// Our replacement, still to be written.
    pending: Vec<u8>,
    sent: usize,
    /// After a replacement: hyper's own bytes are dropped (it closes the connection next).
    replaced: bool,
}

impl Guarded {
    fn new(inner: TcpStream) -> Self {
        Self { inner, dispatched: Arc::default(), heads: 0, pending: Vec::new(), sent: 0, replaced: false }
    }

    /// Look at the start of a write. True when it is hyper's refusal, now replaced.
    fn inspect(&mut self, first: &[u8]) -> bool {
        if self.replaced {
            return true;
        }
        let head = first.len() >= 12 && (first.starts_with(b"HTTP/1.1 ") || first.starts_with(b"HTTP/1.0 "));
        if !head || first[9] == b'1' {
            return false;
        }
        if self.heads < self.dispatched.load(Ordering::Relaxed) {
            self.heads += 1;
            return false;
        }
        let status = std::str::from_utf8(&first[9..12]).ok().and_then(|s| s.parse::<u16>().ok());
        match status.and_then(|s| axum::http::StatusCode::from_u16(s).ok()) {
            Some(status) if status.is_client_error() => {
                self.pending = crate::middleware::protocol_rejection(status);
                self.sent = 0;
                self.replaced = true;
                true
            }
            _ => false,
        }
    }

    /// Write what is left of the replacement.
    fn drive(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.drive(cx))?;
        if this.inspect(buf) {
            // Taken: ours goes out instead (now, or on the flush that follows).
            let _ = this.drive(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.drive(cx))?;
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &b[..]).unwrap_or(&[]);
        if this.inspect(first) {
            let _ = this.drive(cx)?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.drive(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.drive(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

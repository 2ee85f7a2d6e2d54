//! The reconciler's HTTP endpoints: `/healthz` (the process serves), `/readyz` (the API server
//! answered discovery), `/metrics` (Prometheus).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// What the endpoints read.
pub struct Probe {
    /// Set once the reconciler reached the API server.
    pub ready: AtomicBool,
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
}

/// Serves the endpoints on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, probe: Arc<Probe>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let probe = probe.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| respond(req, probe.clone()));
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                tracing::debug!(error = %e, "http connection ended");
            }
        });
    }
}

/// Binds `addr` (so a bad address fails at start-up, not later).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

async fn respond(req: Request<Incoming>, probe: Arc<Probe>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match req.uri().path() {
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" if probe.ready.load(Ordering::Relaxed) => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", "API server not reached yet\n".to_owned()),
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4", probe.metrics.render()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "not found: try /healthz, /readyz or /metrics\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    Ok(response)
}

//! The reconciler's HTTP endpoints: `/healthz` (the process serves), `/readyz` (the API server
//! answered discovery), `/metrics` (Prometheus), and the reconcile-now trigger
//! `POST /reconcile` (every sync) or `POST /reconcile/SYNC` with `Authorization: Bearer TOKEN`,
//! the shape an EventBridge API destination (API-key connection with header `Authorization`) or
//! a webhook can call. The trigger answers `202 Accepted` at once; the reconcile runs on the
//! sync's own task. Without a configured token the trigger is off (`404`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::context::Context;
use crate::metrics::Metrics;

/// What the endpoints read.
pub struct Probe {
    /// Set once the reconciler reached the API server.
    pub ready: AtomicBool,
    /// Metrics to render.
    pub metrics: Arc<Metrics>,
    /// The reconcile-now trigger, when a token is configured.
    pub trigger: Option<Trigger>,
}

/// What the reconcile-now trigger needs: the syncs to wake and the shared token.
pub struct Trigger {
    /// Wakes syncs.
    pub ctx: Arc<Context>,
    /// The bearer token callers must present.
    pub token: shipline_core::secret::Secret,
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
    let path = req.uri().path();
    let (status, content_type, body) = match path {
        _ if path == "/reconcile" || path.starts_with("/reconcile/") => {
            let (status, body) = trigger(&req, probe.trigger.as_ref());
            (status, "text/plain", body)
        }
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

/// `POST /reconcile[/SYNC]` with the bearer token: wakes the sync (or all of them).
fn trigger(req: &Request<Incoming>, trigger: Option<&Trigger>) -> (StatusCode, String) {
    let Some(trigger) = trigger else {
        return (StatusCode::NOT_FOUND, "the reconcile trigger is off: start with --trigger-token-file\n".into());
    };
    if req.method() != hyper::Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "use POST\n".into());
    }
    let presented = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !token_matches(presented.as_bytes(), trigger.token.expose().as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n".into());
    }
    match trigger_target(req.uri().path()) {
        None => {
            let n = trigger.ctx.wake_all();
            (StatusCode::ACCEPTED, format!("reconciling {n} syncs\n"))
        }
        Some(sync) if trigger.ctx.wake(sync) => (StatusCode::ACCEPTED, format!("reconciling {sync}\n")),
        Some(sync) => (StatusCode::NOT_FOUND, format!("no sync named {sync:?}\n")),
    }
}

/// The sync a trigger path names (`None`: all).
fn trigger_target(path: &str) -> Option<&str> {
    path.strip_prefix("/reconcile/").map(|s| s.trim_end_matches('/')).filter(|s| !s.is_empty())
}

/// Compares in time independent of where the first difference is.
fn token_matches(presented: &[u8], expected: &[u8]) -> bool {
    if presented.len() != expected.len() || expected.is_empty() {
        return false;
    }
    presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_targets() {
        assert!(token_matches(b"abc", b"abc"));
        assert!(!token_matches(b"abd", b"abc"));
        assert!(!token_matches(b"ab", b"abc"));
        assert!(!token_matches(b"", b""));
        assert_eq!(trigger_target("/reconcile"), None);
        assert_eq!(trigger_target("/reconcile/"), None);
        assert_eq!(trigger_target("/reconcile/apps"), Some("apps"));
    }
}

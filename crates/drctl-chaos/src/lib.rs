//! A fault-injecting HTTP proxy for tests: drctl talks to it (`--endpoint`)
//! and it talks to the emulator. Dev-only; never part of the product.
//!
//! What it can do, decided per request by seeded [`Rules`] so that a failure
//! reproduces from its seed:
//! - answer a request itself with 500, 503 or the service's throttling
//!   error, in that service's protocol (see [`protocol`]), before it reaches
//!   the emulator (the call did not happen);
//! - delay the answer, or drop the connection without one;
//! - forward a mutating call and then lose its answer (the call took effect,
//!   the client sees a 500: the hard case for idempotency);
//! - forward mutating call k, tell the test ([`Proxy::held`]) and never
//!   answer, so that the test can SIGKILL drctl right then.
//!
//! Mutating calls are counted by operation name ([`protocol::Call::is_mutating`]).
//! Counters ([`Stats`]) say what was injected, so a test can check that its
//! faults really happened.

pub mod protocol;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use protocol::{classify, error_answer, Call, ErrorKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the proxy does to one request instead of (or besides) forwarding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this error without forwarding.
    Error(ErrorKind),
    /// Forward after this delay.
    Delay(Duration),
    /// Close the connection without an answer, without forwarding.
    Drop,
    /// Forward, then answer 500 InternalError whatever the emulator said.
    LoseAnswer,
}

/// Seeded fault rules. Numbers of requests and of mutating calls start at 1.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    pub seed: u64,
    /// Fraction of all requests answered with 500, 503 or throttling (one
    /// third each) before they reach the emulator.
    pub fail_fraction: f64,
    /// Fraction of mutating calls forwarded whose answer is then lost.
    pub lose_fraction: f64,
    /// Fraction of requests delayed by `delay`.
    pub delay_fraction: f64,
    pub delay: Duration,
    /// Fraction of requests whose connection is dropped unanswered.
    pub drop_fraction: f64,
    /// A fault for the n-th request (all requests counted).
    pub nth_request: BTreeMap<u64, Fault>,
    /// A fault for the k-th mutating call.
    pub nth_mutating: BTreeMap<u64, Fault>,
    /// Forward the k-th mutating call, report it, and never answer it.
    pub hold_mutating: Option<u64>,
    /// `service:Operation` (SigV4 service name, e.g. `monitoring:DescribeAlarms`)
    /// → how many of its first requests are answered 500 InternalError
    /// without forwarding (a call that keeps failing for a while).
    pub fail_operation: BTreeMap<String, u64>,
}

/// What the proxy saw and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    pub mutating: u64,
    pub errors_injected: u64,
    pub answers_lost: u64,
    pub delayed: u64,
    pub dropped: u64,
    /// `service:Operation` of every mutating call forwarded, in order.
    pub mutating_calls: Vec<String>,
    /// Requests seen per `service:Operation` (for [`Rules::fail_operation`]).
    pub per_operation: BTreeMap<String, u64>,
    /// The SigV4 region of each of `mutating_calls`, in the same order.
    pub mutating_regions: Vec<String>,
}

struct Shared {
    rules: Rules,
    rng: Mutex<StdRng>,
    stats: Mutex<Stats>,
    held: watch::Sender<Option<(u64, String)>>,
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = Full<Bytes>;

impl Proxy {
    /// Listens on `listen` (port 0: any free port) and forwards to
    /// `upstream` (`http://host:port`).
    pub async fn start(listen: SocketAddr, upstream: &str, rules: Rules) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            rng: Mutex::new(StdRng::seed_from_u64(rules.seed)),
            rules,
            stats: Mutex::default(),
            held: watch::channel(None).0,
        });
        let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.trim_end_matches('/').to_string();
        let task = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (shared, client, upstream) =
                        (shared.clone(), client.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            handle(shared.clone(), client.clone(), upstream.clone(), req)
                        });
                        // A dropped connection ends here with an error: intended.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            })
        };
        Ok(Proxy { addr, shared, task })
    }

    /// `http://127.0.0.1:port`, for `--endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.shared
            .stats
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Waits until the held mutating call ([`Rules::hold_mutating`]) has
    /// been forwarded and the emulator answered it; returns its number and
    /// `service:Operation`. Waits forever if the run makes fewer calls: use
    /// a timeout.
    pub async fn held(&self) -> (u64, String) {
        let mut rx = self.shared.held.subscribe();
        loop {
            if let Some(h) = rx.borrow_and_update().clone() {
                return h;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The fault for one request, decided in arrival order from the seed.
fn decide(shared: &Shared, call: &Call) -> (Option<Fault>, Option<u64>) {
    let r = &shared.rules;
    let op = format!("{}:{}", call.service, call.operation);
    let (n, k, nth_of_op) = {
        let mut s = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.requests += 1;
        let k = call.is_mutating().then(|| {
            s.mutating += 1;
            s.mutating
        });
        let of_op = s.per_operation.entry(op.clone()).or_default();
        *of_op += 1;
        let of_op = *of_op;
        (s.requests, k, of_op)
    };
    if r.fail_operation
        .get(&op)
        .is_some_and(|&first| nth_of_op <= first)
    {
        return (Some(Fault::Error(ErrorKind::Internal)), k);
    }
    if let Some(f) = r.nth_request.get(&n) {
        return (Some(*f), k);
    }
    if let Some(f) = k.and_then(|k| r.nth_mutating.get(&k)) {
        return (Some(*f), k);
    }
    let mut rng = shared.rng.lock().unwrap_or_else(|e| e.into_inner());
    if rng.gen_bool(r.fail_fraction.clamp(0.0, 1.0)) {
        let kind = [
            ErrorKind::Internal,
            ErrorKind::Unavailable,
            ErrorKind::Throttle,
        ][rng.gen_range(0..3)];
        return (Some(Fault::Error(kind)), k);
    }
    if rng.gen_bool(r.drop_fraction.clamp(0.0, 1.0)) {
        return (Some(Fault::Drop), k);
    }
    if k.is_some() && rng.gen_bool(r.lose_fraction.clamp(0.0, 1.0)) {
        return (Some(Fault::LoseAnswer), k);
    }
    if rng.gen_bool(r.delay_fraction.clamp(0.0, 1.0)) {
        return (Some(Fault::Delay(r.delay)), k);
    }
    (None, k)
}

fn answer(status: u16, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = content_type.parse() {
        resp.headers_mut().insert("content-type", v);
    }
    resp
}

async fn handle(
    shared: Arc<Shared>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    upstream: String,
    req: Request<Incoming>,
) -> anyhow::Result<Response<Body>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let call = classify(
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        &body,
    );
    let (fault, k) = decide(&shared, &call);
    let bump = |f: fn(&mut Stats)| {
        if let Ok(mut s) = shared.stats.lock() {
            f(&mut s)
        }
    };
    let request_id = format!(
        "chaos-{}",
        shared.stats.lock().map(|s| s.requests).unwrap_or(0)
    );
    match fault {
        Some(Fault::Error(kind)) => {
            bump(|s| s.errors_injected += 1);
            tracing::debug!(call = %call.name(), ?kind, "injected error");
            let (status, ct, body) = error_answer(&call, kind, &request_id);
            return Ok(answer(status, ct, body));
        }
        Some(Fault::Drop) => {
            bump(|s| s.dropped += 1);
            anyhow::bail!("connection dropped by the proxy");
        }
        Some(Fault::Delay(d)) => {
            bump(|s| s.delayed += 1);
            tokio::time::sleep(d).await;
        }
        _ => {}
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut up = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        up = up.header(name, value);
    }
    let resp = client.request(up.body(Full::new(body))?).await?;
    let (rparts, rbody) = resp.into_parts();
    let rbody = rbody.collect().await?.to_bytes();
    if let Some(k) = k {
        if let Ok(mut s) = shared.stats.lock() {
            s.mutating_calls.push(call.name());
            s.mutating_regions.push(protocol::region_of(&parts.headers));
        }
        if shared.rules.hold_mutating == Some(k) {
            shared.held.send_replace(Some((k, call.name())));
            // The call took effect; its answer never comes.
            std::future::pending::<()>().await;
        }
    }
    if fault == Some(Fault::LoseAnswer) {
        bump(|s| s.answers_lost += 1);
        tracing::debug!(call = %call.name(), "answer lost after the call took effect");
        let (status, ct, body) = error_answer(&call, ErrorKind::Internal, &request_id);
        return Ok(answer(status, ct, body));
    }
    let mut out = Response::new(Full::new(rbody));
    *out.status_mut() = rparts.status;
    for (name, value) in &rparts.headers {
        // The body is whole now: hyper sets its length itself.
        if name != "transfer-encoding" && name != "content-length" {
            out.headers_mut().append(name, value.clone());
        }
    }
    Ok(out)
}

//! Two tiny HTTP/1.1 servers on 127.0.0.1 for the Lambda tests:
//!
//! - [`Recorder`] stands in for CodePipeline's `PutJobSuccessResult` / `PutJobFailureResult`.
//!   No local emulator implements those two calls (moto and ministack do not), so the function's
//!   `AWS_ENDPOINT_URL_CODEPIPELINE` points here; every request is recorded and answered `{}`,
//!   which is what CodePipeline answers.
//! - [`RuntimeApi`] is a minimal Lambda Runtime API (`/2018-06-01/runtime/invocation/...`) used by
//!   the benchmark to time the bootstrap binary without an emulator in between.
//!
//! `retag.rs` builds a CodeBuild stand-in on [`serve`] and [`respond`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`.
    pub method: String,
    /// The path.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = headers.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, headers, body })
}

pub(crate) fn respond(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Serves every connection of `listener` on its own thread with `answer`.
pub(crate) fn serve(listener: TcpListener, answer: impl Fn(&Request, &mut TcpStream) -> bool + Send + Sync + 'static) {
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone stream");
                let mut reader = BufReader::new(stream);
                while let Some(request) = read_request(&mut reader) {
                    if !answer(&request, &mut writer) {
                        break;
                    }
                }
            });
        }
    });
}

/// A recording stand-in for CodePipeline's job-result API.
pub struct Recorder {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    /// Starts the server.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind recorder");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        serve(listener, move |request, stream| {
            seen.lock().unwrap().push(request.clone());
            respond(stream, "200 OK", &[("Content-Type", "application/x-amz-json-1.1".into())], b"{}").is_ok()
        });
        Self { url, requests }
    }

    /// The recorded calls as (`X-Amz-Target` operation, JSON body).
    pub fn calls(&self) -> Vec<(String, serde_json::Value)> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                let target = r.headers.get("x-amz-target").cloned().unwrap_or_default();
                let op = target.rsplit('.').next().unwrap_or_default().to_owned();
                (op, serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
            })
            .collect()
    }
}

/// What the Runtime API saw of one invocation.
#[derive(Debug)]
pub struct Invocation {
    /// When the function asked for it (`GET .../next` answered).
    pub served: Instant,
    /// When its response or error arrived.
    pub answered: Instant,
    /// `response` or `error`.
    pub kind: String,
    /// The body.
    pub body: serde_json::Value,
}

/// A minimal Lambda Runtime API: hands out queued events, reports answers.
pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    events: Sender<(String, serde_json::Value)>,
    answers: Receiver<Invocation>,
    /// When the function first asked for an event (end of its init).
    pub first_next: Receiver<Instant>,
}

impl RuntimeApi {
    /// Starts the server.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind runtime api");
        let address = listener.local_addr().expect("addr").to_string();
        let (events, queue) = channel::<(String, serde_json::Value)>();
        let (answer_tx, answers) = channel();
        let (first_tx, first_next) = channel();
        let queue = Mutex::new(queue);
        let served: Mutex<BTreeMap<String, Instant>> = Mutex::new(BTreeMap::new());
        let first_tx = Mutex::new(Some(first_tx));
        serve(listener, move |request, stream| {
            if request.method == "GET" && request.path.ends_with("/runtime/invocation/next") {
                if let Some(tx) = first_tx.lock().unwrap().take() {
                    let _ = tx.send(Instant::now());
                }
                let Ok((id, event)) = queue.lock().unwrap().recv() else { return false };
                served.lock().unwrap().insert(id.clone(), Instant::now());
                let headers = [
                    ("Lambda-Runtime-Aws-Request-Id", id),
                    ("Lambda-Runtime-Deadline-Ms", "99999999999999".to_owned()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
                    ),
                    ("Content-Type", "application/json".into()),
                ];
                return respond(stream, "200 OK", &headers, event.to_string().as_bytes()).is_ok();
            }
            let answered = Instant::now();
            let kind = request.path.rsplit('/').next().unwrap_or_default().to_owned();
            let id = request.path.rsplit('/').nth(1).unwrap_or_default().to_owned();
            let ok = respond(stream, "202 Accepted", &[], b"{}").is_ok();
            if let Some(served) = served.lock().unwrap().remove(&id) {
                let body = serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
                let _ = answer_tx.send(Invocation { served, answered, kind, body });
            }
            ok
        });
        Self { address, events, answers, first_next }
    }

    /// Queues an event and waits for the function's answer.
    pub fn invoke(&self, id: &str, event: serde_json::Value) -> Invocation {
        self.events.send((id.to_owned(), event)).expect("queue event");
        self.answers.recv().expect("the function answers")
    }
}

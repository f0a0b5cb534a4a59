//! A Lambda runtime API on 127.0.0.1: the function binary polls it exactly as it polls Lambda,
//! and a test hands it events and reads back what the function answered.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tiny_http::{Header, Method, Request, Response, Server};

const PREFIX: &str = "/2018-06-01/runtime";
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:111122223333:function:alarm-handler";

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Answer {
    /// `/response`: the handler's JSON result.
    Response(Value),
    /// `/error`: the runtime's error document (`errorType`, `errorMessage`).
    Error(Value),
}

#[derive(Default)]
struct Shared {
    pending: Vec<(String, String)>,
    waiting_for_next: Vec<Request>,
    answers: HashMap<String, Sender<Answer>>,
    init_error: Option<Value>,
    first_poll: Option<Instant>,
}

/// The runtime API server; stops with the test process.
pub struct RuntimeApi {
    address: String,
    shared: Arc<Mutex<Shared>>,
    counter: Mutex<u64>,
}

impl RuntimeApi {
    /// Serves on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let server = Server::http("127.0.0.1:0").expect("bind the runtime API");
        let address = server
            .server_addr()
            .to_ip()
            .expect("an IP address")
            .to_string();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let serving = shared.clone();
        thread::spawn(move || {
            for request in server.incoming_requests() {
                serve(&serving, request);
            }
        });
        Self {
            address,
            shared,
            counter: Mutex::new(0),
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// When the function first asked for an invocation, if it has.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.lock().unwrap().first_poll
    }

    /// The error the function reported at init, if any.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.lock().unwrap().init_error.clone()
    }

    /// Delivers one event and waits for the function's answer.
    pub fn invoke(&self, event: &Value, timeout: Duration) -> Answer {
        let (id, answer) = self.deliver(event);
        answer.recv_timeout(timeout).unwrap_or_else(|_| {
            panic!("the function did not answer invocation {id} within {timeout:?}")
        })
    }

    /// Delivers one event without waiting: its id, and where its answer will arrive (never,
    /// if the function is killed while handling it).
    pub fn deliver(&self, event: &Value) -> (String, Receiver<Answer>) {
        let id = {
            let mut counter = self.counter.lock().unwrap();
            *counter += 1;
            format!("00000000-0000-4000-8000-{:012}", *counter)
        };
        let (sender, receiver) = channel();
        let mut shared = self.shared.lock().unwrap();
        shared.answers.insert(id.clone(), sender);
        shared.pending.push((id.clone(), event.to_string()));
        dispatch(&mut shared);
        (id, receiver)
    }
}

fn serve(shared: &Arc<Mutex<Shared>>, mut request: Request) {
    let url = request.url().to_owned();
    let path = url.strip_prefix(PREFIX).unwrap_or(&url).to_owned();
    match (request.method(), path.as_str()) {
        (Method::Get, "/invocation/next") => {
            let mut shared = shared.lock().unwrap();
            shared.first_poll.get_or_insert_with(Instant::now);
            shared.waiting_for_next.push(request);
            dispatch(&mut shared);
        }
        (Method::Post, "/init/error") => {
            let body = read_json(&mut request);
            shared.lock().unwrap().init_error = Some(body);
            let _ = request.respond(Response::from_string("{}").with_status_code(202));
        }
        (Method::Post, path) if path.starts_with("/invocation/") => {
            let rest = &path["/invocation/".len()..];
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let body = read_json(&mut request);
            let answer = match kind {
                "response" => Answer::Response(body),
                _ => Answer::Error(body),
            };
            if let Some(sender) = shared.lock().unwrap().answers.remove(id) {
                let _ = sender.send(answer);
            }
            let _ = request.respond(Response::from_string("{}").with_status_code(202));
        }
        _ => {
            let _ = request.respond(Response::from_string("not found").with_status_code(404));
        }
    }
}

/// Pairs queued events with waiting `/next` polls.
fn dispatch(shared: &mut Shared) {
    while !shared.pending.is_empty() && !shared.waiting_for_next.is_empty() {
        let (id, body) = shared.pending.remove(0);
        let request = shared.waiting_for_next.remove(0);
        let deadline =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(900);
        let headers = [
            ("Content-Type", "application/json".to_owned()),
            ("Lambda-Runtime-Aws-Request-Id", id),
            (
                "Lambda-Runtime-Deadline-Ms",
                deadline.as_millis().to_string(),
            ),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                FUNCTION_ARN.to_owned(),
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
            ),
        ];
        let mut response = Response::from_string(body);
        for (name, value) in headers {
            response.add_header(Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap());
        }
        let _ = request.respond(response);
    }
}

fn read_json(request: &mut Request) -> Value {
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

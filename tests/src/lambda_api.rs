//! The Lambda service's `Invoke` and `GetFunctionConfiguration` on 127.0.0.1, in front of
//! function binaries polling [`RuntimeApi`]s: what the operator CLI calls, answered by the real
//! functions (moto's Lambda would need Docker to run them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::runtime_api::{Answer, RuntimeApi};

const PREFIX: &str = "/2015-03-31/functions/";
/// Longest wait for a function's answer.
const INVOKE_WITHIN: Duration = Duration::from_secs(300);

type Functions = Arc<Mutex<HashMap<String, (Arc<RuntimeApi>, Value)>>>;

/// The Lambda API server; stops with the test process.
pub struct LambdaApi {
    endpoint: String,
    functions: Functions,
}

impl LambdaApi {
    /// Serves on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let server = Server::http("127.0.0.1:0").expect("bind the Lambda API");
        let endpoint = format!(
            "http://{}",
            server.server_addr().to_ip().expect("an IP address")
        );
        let functions: Functions = Arc::default();
        let serving = functions.clone();
        thread::spawn(move || {
            for request in server.incoming_requests() {
                let functions = serving.clone();
                // An invocation waits for its function: one thread each.
                thread::spawn(move || serve(&functions, request));
            }
        });
        Self {
            endpoint,
            functions,
        }
    }

    /// `http://host:port`, the value of `AWS_ENDPOINT_URL_LAMBDA`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Serves function `name` through `runtime` (its binary polls it), started with `env`.
    pub fn add(&self, name: &str, runtime: Arc<RuntimeApi>, env: &[(&str, &str)]) {
        let variables: serde_json::Map<String, Value> =
            env.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        self.functions
            .lock()
            .unwrap()
            .insert(name.to_owned(), (runtime, Value::Object(variables)));
    }
}

fn json_response(
    status: u16,
    body: &Value,
    headers: &[(&str, &str)],
) -> Response<std::io::Cursor<Vec<u8>>> {
    let mut response = Response::from_string(body.to_string()).with_status_code(status);
    for (k, v) in std::iter::once(&("Content-Type", "application/json")).chain(headers) {
        response.add_header(Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap());
    }
    response
}

fn serve(functions: &Functions, mut request: Request) {
    let url = request.url().to_owned();
    let path = url.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        let _ = request.respond(Response::from_string("not found").with_status_code(404));
        return;
    };
    let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
    let name = name.replace("%3A", ":");
    let found = functions.lock().unwrap().get(&name).cloned();
    let Some((runtime, env)) = found else {
        let body = json!({"Type": "User", "message": format!("Function not found: {name}")});
        let _ = request.respond(json_response(
            404,
            &body,
            &[("x-amzn-ErrorType", "ResourceNotFoundException")],
        ));
        return;
    };
    match (request.method(), action) {
        (Method::Get, "configuration") => {
            let body = json!({"FunctionName": name, "Environment": {"Variables": env}});
            let _ = request.respond(json_response(200, &body, &[]));
        }
        (Method::Post, "invocations") => {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let (_, answer) = runtime.deliver(&event);
            let response = match answer.recv_timeout(INVOKE_WITHIN) {
                Ok(Answer::Response(value)) => json_response(200, &value, &[]),
                Ok(Answer::Error(value)) => {
                    json_response(200, &value, &[("X-Amz-Function-Error", "Unhandled")])
                }
                Err(_) => json_response(
                    500,
                    &json!({"message": "the function did not answer"}),
                    &[("x-amzn-ErrorType", "ServiceException")],
                ),
            };
            let _ = request.respond(response);
        }
        _ => {
            let _ = request.respond(Response::from_string("not found").with_status_code(404));
        }
    }
}

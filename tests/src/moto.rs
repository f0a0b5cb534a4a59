//! moto's server, started through `tests/moto/launcher.py`, which fills the gaps in moto's EC2
//! that production code must not work around (subnet OutpostArn, ClientToken, template ENIs).

use crate::runtime_api::Answer;
use crate::world;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    /// Starts moto on a free port of 127.0.0.1 with the Python of the project's venv
    /// (`AUTORESTART_PYTHON`, else `.venv/bin/python` at the workspace root).
    pub fn start() -> Self {
        let python = std::env::var_os("AUTORESTART_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
        assert!(
            python.exists(),
            "no Python with moto at {}: run `cargo xtask test` (it creates .venv), or set AUTORESTART_PYTHON",
            python.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(&python)
            .arg(workspace_root().join("tests/moto/launcher.py"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            // The account of the sample events in events/, so their alarm ARNs exist here.
            .env("MOTO_ACCOUNT_ID", world::ACCOUNT)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", python.display()));
        let stdout = child.stdout.take().unwrap();
        let (ready, wait) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("moto ready on ") {
                    let _ = ready.send(());
                }
            }
        });
        // Generous: the tests of a file start their servers at once, on a machine that may
        // be busy; a server that starts is ready long before this.
        wait.recv_timeout(Duration::from_secs(180))
            .expect("moto did not report ready within 180 s");
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`, the value of `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Switches on the launcher's real-AWS behaviours (`POST /_launcher/config`; see
    /// `tests/moto/launcher.py`): pending and invisible instances, EC2's token buckets, lost
    /// answers, held answers, ELB's refusals.
    pub fn configure(&self, config: &Value) -> Value {
        self.control("POST", "/_launcher/config", Some(config))
    }

    /// What reached moto: `{"counts": {"RunInstances": n, …}, "held": [...]}`.
    pub fn calls(&self) -> Value {
        self.control("GET", "/_launcher/calls", None)
    }

    /// How many calls of `action` reached moto.
    pub fn count(&self, action: &str) -> u64 {
        self.calls()["counts"][action].as_u64().unwrap_or(0)
    }

    /// Waits until a held answer (`hold_after`) is held. Fails at once if `answered` (the
    /// delivery whose call should be held) answers first, and after `within` otherwise: give it
    /// the time the function has to answer the invocation, not a guess at this machine's speed.
    pub fn wait_held(&self, answered: &Receiver<Answer>, within: Duration) -> Value {
        let until = std::time::Instant::now() + within;
        loop {
            let calls = self.calls();
            if calls["held"].as_array().is_some_and(|h| !h.is_empty()) {
                return calls["held"].clone();
            }
            if let Ok(answer) = answered.try_recv() {
                panic!("the invocation answered before any call was held: {answer:?}\n{calls}");
            }
            assert!(
                std::time::Instant::now() < until,
                "nothing was held within {within:?}: {calls}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until everything launched and registered so far has settled in the launcher's
    /// timing (`GET /_launcher/settling`): instances running and visible, targets past
    /// `initial`. The launcher says how long that is, so this waits on a condition, however
    /// slow the machine.
    pub fn wait_settled(&self) {
        loop {
            let seconds = self.control("GET", "/_launcher/settling", None)["seconds"]
                .as_f64()
                .expect("the launcher answers {\"seconds\": s}");
            if seconds <= 0.0 {
                return;
            }
            std::thread::sleep(
                Duration::from_secs_f64(seconds.min(1.0)) + Duration::from_millis(10),
            );
        }
    }

    /// Sets the DRS stub's state (`POST /_launcher/drs`; see `tests/moto/launcher.py`, 10):
    /// an error every DRS call answers, source servers, jobs, recovery instances, job logs.
    pub fn drs(&self, state: &Value) -> Value {
        self.control("POST", "/_launcher/drs", Some(state))
    }

    /// The DRS stub's state, jobs the agent started included.
    pub fn drs_state(&self) -> Value {
        self.control("GET", "/_launcher/drs", None)
    }

    /// Makes an instance `seconds` older (`POST /_launcher/age`): its LaunchTime, as Describe
    /// and a ClientToken replay report it, moves back, as when it ran that long.
    pub fn age(&self, instance_id: &str, seconds: f64) -> Value {
        self.control(
            "POST",
            "/_launcher/age",
            Some(&serde_json::json!({"instance_id": instance_id, "seconds": seconds})),
        )
    }

    /// Lets held answers go.
    pub fn release(&self) -> Value {
        self.control("POST", "/_launcher/release", None)
    }

    /// One request to the launcher's control API, over plain HTTP/1.0; its JSON answer.
    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        use std::io::{Read, Write};
        let address = self.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("connect to moto");
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send to moto");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("read moto's answer");
        let (head, json) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{method} {path}: {head}\n{json}"
        );
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{method} {path}: {e}: {json}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

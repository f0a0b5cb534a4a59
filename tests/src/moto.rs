//! moto's server, started through `tests/moto/launcher.py`, which fills the gaps in moto's EC2
//! that production code must not work around (subnet OutpostArn, ClientToken, template ENIs).

use crate::world;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
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
        wait.recv_timeout(Duration::from_secs(60))
            .expect("moto did not report ready within 60 s");
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// `http://127.0.0.1:PORT`, the value of `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
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

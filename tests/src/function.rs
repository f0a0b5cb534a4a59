//! Runs a function binary the way Lambda does: its environment, the runtime API, and AWS
//! endpoints pointed at the emulator with dummy credentials.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command};

use crate::moto::workspace_root;

/// A running function process; killed when dropped.
pub struct Function {
    child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Function {
    /// Starts `binary` (a workspace binary already built) against the runtime API at `runtime_api`,
    /// with AWS calls sent to `endpoint`, and `env` on top.
    pub fn start(binary: &str, runtime_api: &str, endpoint: &str, env: &[(&str, &str)]) -> Self {
        let path = binary_path(binary);
        // One file per process started: tests run side by side in one test process.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!("{binary}-{}-{n}.log", std::process::id()));
        let out = File::create(&log).unwrap();
        let mut command = Command::new(&path);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", binary)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("RUST_LOG", "info")
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
        Self { child, log }
    }

    /// Kills the process with SIGKILL, as Lambda stops an invocation at its deadline or on
    /// running out of memory: whatever it was doing stops there.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id, to read its memory use.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the function logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The built binary: `AUTORESTART_BIN_DIR`, else the target directory this test runs from.
pub fn binary_path(binary: &str) -> PathBuf {
    let dir = std::env::var_os("AUTORESTART_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // A test runs from target/<profile>/deps, a binary from target/<profile>.
            let exe = std::env::current_exe().unwrap();
            exe.ancestors()
                .skip(1)
                .take(2)
                .find(|dir| dir.join(binary).exists())
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/debug"))
        });
    let path = dir.join(binary);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p {binary}` first (`cargo xtask test` does)",
        path.display()
    );
    path
}

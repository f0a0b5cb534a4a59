//! End to end: the real binary against a "Region" (a TCP listener on 127.0.0.1 whose link the
//! test cuts and restores) and an instance metadata stub. The fence and resume commands
//! append a word to a log file, which the tests read.
//!
//! The time bounds are generous: they check what happens and in which order, not speed.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_autorestart-sentinel");
const INTERVAL: f64 = 0.2;
const FENCE_AFTER: f64 = 1.5;
const SETTLE: f64 = 1.0;

fn secs(seconds: f64) -> Duration {
    Duration::from_secs_f64(seconds)
}

/// Polls `done` until it holds (returns when) or `limit` has passed (`None`).
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Hands each connection on `listener` to `serve` until `stop` is set; the listener is closed
/// when the thread ends.
fn accept(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    mut serve: impl FnMut(TcpStream) + Send + 'static,
) -> JoinHandle<()> {
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    serve(stream);
                }
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
    })
}

/// The Region as the probe sees it: a listener that accepts connections and drops them.
struct Region {
    port: u16,
    /// Connections accepted: the sentinel's successful probes.
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Region {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut region = Region {
            port: listener.local_addr().unwrap().port(),
            accepted: Arc::default(),
            stop: Arc::default(),
            thread: None,
        };
        region.serve(listener);
        region
    }

    fn serve(&mut self, listener: TcpListener) {
        self.stop = Arc::default();
        let accepted = Arc::clone(&self.accepted);
        let thread = accept(listener, Arc::clone(&self.stop), move |_probe| {
            accepted.fetch_add(1, Ordering::SeqCst);
        });
        self.thread = Some(thread);
    }

    /// Cuts the link: closes the listener, so that connections are refused.
    fn cut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Restores the link: listens on the same port again (std sets SO_REUSEADDR).
    fn restore(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Err(err) => panic!("cannot listen on port {} again: {err}", self.port),
            }
        };
        self.serve(listener);
    }

    /// Waits until the sentinel has reached the Region `count` times.
    fn wait_for_probes(&self, count: usize) {
        let probed = wait_until(secs(10.0), || self.accepted.load(Ordering::SeqCst) >= count);
        assert!(probed.is_some(), "the sentinel did not probe {count} times");
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The instance metadata service: a token, then the instance's tag keys, which name
/// `autorestart:replaced-by` once `replaced` is set.
struct Imds {
    port: u16,
    replaced: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Imds {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let replaced = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&replaced);
        accept(listener, Arc::clone(&stop), move |stream| {
            answer(&stream, &flag)
        });
        Imds {
            port,
            replaced,
            stop,
        }
    }
}

impl Drop for Imds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Answers one IMDSv2 request; a GET without the token is refused.
fn answer(mut stream: &TcpStream, replaced: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = String::new();
    let mut reader = BufReader::new(stream);
    while reader.read_line(&mut head).is_ok_and(|read| read > 2) {}
    let authorised = head
        .to_ascii_lowercase()
        .contains("x-aws-ec2-metadata-token: token-1\r\n");
    let replaced = replaced.load(Ordering::SeqCst);
    let (status, body) = match head.lines().next().unwrap_or_default() {
        "PUT /latest/api/token HTTP/1.1" => (200, "token-1"),
        _ if !authorised => (401, ""),
        "GET /latest/meta-data/tags/instance HTTP/1.1" if replaced => {
            (200, "Name\nautorestart:enabled\nautorestart:replaced-by")
        }
        "GET /latest/meta-data/tags/instance HTTP/1.1" => (200, "Name\nautorestart:enabled"),
        "GET /latest/meta-data/tags/instance/autorestart:replaced-by HTTP/1.1" if replaced => {
            (200, "i-0replacement")
        }
        _ => (404, ""),
    };
    let response = format!(
        "HTTP/1.1 {status} Stub\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// A test's folder under the temporary one, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "autorestart-sentinel-test-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn marker(&self) -> PathBuf {
        self.0.join("fenced")
    }

    /// Whether the fence or resume command has written `word`.
    fn logged(&self, word: &str) -> bool {
        fs::read_to_string(self.0.join("log")).is_ok_and(|log| log.lines().any(|line| line == word))
    }

    /// Writes `text` as a configuration file; returns its path.
    fn config(&self, text: &str) -> PathBuf {
        let path = self.0.join("sentinel.toml");
        fs::write(&path, text).unwrap();
        path
    }

    /// The configuration of the tests: the Region and IMDS stubs, commands that log.
    fn sentinel_config(&self, region: &Region, imds: &Imds) -> PathBuf {
        let log = self.0.join("log");
        let log = log.display();
        self.config(&format!(
            r#"
            probe = "127.0.0.1:{probe}"
            allow_local_probe = true
            probe_interval_seconds = {INTERVAL}
            probe_timeout_seconds = 0.1
            fence_after_seconds = {FENCE_AFTER}
            settle_seconds = {SETTLE}
            fence = "command"
            fence_command = ["sh", "-c", "echo fenced >> {log}"]
            resume_command = ["sh", "-c", "echo resumed >> {log}"]
            marker = "{marker}"
            imds = "http://127.0.0.1:{imds}"
            "#,
            probe = region.port,
            marker = self.marker().display(),
            imds = imds.port,
        ))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The sentinel running, killed when dropped; its log is printed if the test failed.
struct Sentinel {
    child: Child,
    stderr: PathBuf,
}

impl Sentinel {
    fn start(scratch: &Scratch, config: &Path) -> Self {
        let stderr = scratch.0.join("stderr");
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Sentinel { child, stderr }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            let log = fs::read_to_string(&self.stderr).unwrap_or_default();
            eprintln!("the sentinel's log:\n{log}");
        }
    }
}

/// Starts the sentinel with the link up, lets it probe, cuts the link and waits until it
/// fences; checks when it did.
fn fence_after_a_cut(scratch: &Scratch, region: &mut Region, imds: &Imds) -> Sentinel {
    let sentinel = Sentinel::start(scratch, &scratch.sentinel_config(region, imds));
    region.wait_for_probes(3);
    region.cut();
    let cut = Instant::now();
    let fenced = wait_until(secs(10.0), || scratch.logged("fenced"));
    let after = fenced.expect("the sentinel fenced") - cut;
    assert!(
        after >= secs(FENCE_AFTER - 2.0 * INTERVAL),
        "fenced {after:?} after the cut: too soon"
    );
    assert!(
        after <= secs(FENCE_AFTER + 2.0 * INTERVAL + 1.0),
        "fenced {after:?} after the cut: too late"
    );
    assert!(scratch.marker().exists(), "the marker is written");
    assert!(!scratch.logged("resumed"));
    sentinel
}

#[test]
fn fences_when_the_link_is_lost_and_resumes_without_a_replacement() {
    let scratch = Scratch::new();
    let mut region = Region::start();
    let imds = Imds::start();
    let _sentinel = fence_after_a_cut(&scratch, &mut region, &imds);

    let restored = Instant::now();
    region.restore();
    let resumed = wait_until(secs(SETTLE + 10.0), || scratch.logged("resumed"));
    let after = resumed.expect("the sentinel resumed") - restored;
    assert!(
        after >= secs(SETTLE),
        "resumed {after:?} after the link came back: too soon"
    );
    assert!(!scratch.marker().exists(), "the marker is removed");
}

#[test]
fn stays_fenced_when_a_replacement_exists() {
    let scratch = Scratch::new();
    let mut region = Region::start();
    let imds = Imds::start();
    let _sentinel = fence_after_a_cut(&scratch, &mut region, &imds);

    imds.replaced.store(true, Ordering::SeqCst);
    region.restore();
    thread::sleep(secs(SETTLE + 2.0));
    assert!(!scratch.logged("resumed"), "resumed with a replacement");
    let marker = fs::read_to_string(scratch.marker()).expect("the marker stays");
    assert!(marker.contains("replaced-by i-0replacement"), "{marker}");
}

#[test]
fn a_reboot_stays_fenced_until_the_region_confirms_no_replacement() {
    let scratch = Scratch::new();
    let region = Region::start();
    let imds = Imds::start();
    fs::write(scratch.marker(), "1700000000 fenced: before the reboot\n").unwrap();
    let started = Instant::now();
    let _sentinel = Sentinel::start(&scratch, &scratch.sentinel_config(&region, &imds));

    let fenced = wait_until(secs(10.0), || scratch.logged("fenced"));
    let after = fenced.expect("the sentinel fenced at start") - started;
    assert!(
        after <= secs(2.0),
        "fenced {after:?} after start: not at once"
    );
    assert!(!scratch.logged("resumed"));

    let resumed = wait_until(secs(SETTLE + 10.0), || scratch.logged("resumed"));
    let after = resumed.expect("the sentinel resumed") - started;
    assert!(
        after >= secs(SETTLE),
        "resumed {after:?} after start: too soon"
    );
    assert!(!scratch.marker().exists(), "the marker is removed");
}

#[test]
fn a_replacement_seen_while_serving_fences_at_once_and_for_good() {
    // The link flapped or came back after the agent launched a replacement: the tags say so.
    let scratch = Scratch::new();
    let region = Region::start();
    let imds = Imds::start();
    let _sentinel = Sentinel::start(&scratch, &scratch.sentinel_config(&region, &imds));
    region.wait_for_probes(3);
    assert!(!scratch.logged("fenced"), "serving with no replacement");

    let tagged = Instant::now();
    imds.replaced.store(true, Ordering::SeqCst);
    let fenced = wait_until(secs(10.0), || scratch.logged("fenced"));
    let after = fenced.expect("the sentinel fenced on the replacement") - tagged;
    // The link stays up, so only the tag can have fenced it; the bound is for a slow machine.
    assert!(
        after <= secs(5.0),
        "fenced {after:?} after the tag: not at once"
    );
    imds.replaced.store(false, Ordering::SeqCst);
    thread::sleep(secs(SETTLE + 2.0));
    assert!(
        !scratch.logged("resumed"),
        "a replacement seen keeps it fenced"
    );
    let marker = fs::read_to_string(scratch.marker()).expect("the marker");
    assert!(marker.contains("replaced-by i-0replacement"), "{marker}");
}

#[test]
fn a_boot_without_the_link_fences_unconfirmed() {
    let scratch = Scratch::new();
    let mut region = Region::start();
    let imds = Imds::start();
    region.cut();
    let started = Instant::now();
    let _sentinel = Sentinel::start(&scratch, &scratch.sentinel_config(&region, &imds));
    let fenced = wait_until(secs(10.0), || scratch.logged("fenced"));
    let after = fenced.expect("fenced: no replacement could be ruled out") - started;
    assert!(
        after <= secs(FENCE_AFTER + 2.0 * INTERVAL + 1.0),
        "fenced {after:?} after start"
    );
    assert!(scratch.marker().exists());
}

#[test]
fn a_bad_configuration_is_refused_with_exit_code_2() {
    let scratch = Scratch::new();
    let rest = "fence_after_seconds = 30\nunits = [\"app.service\"]\n";
    for (config, word) in [
        (rest.to_owned(), "probe"),
        (format!("probe = \"8.8.8.8:443\"\n{rest}"), "public"),
        (
            format!("probe = \"169.254.169.254:80\"\n{rest}"),
            "would never fence",
        ),
    ] {
        let output = Command::new(BIN)
            .arg("--config")
            .arg(scratch.config(&config))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{config}: {stderr}");
        assert!(stderr.contains(word), "{config}: {stderr}");
    }
}

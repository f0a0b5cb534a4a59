//! Project automation. `cargo xtask demo` runs the local demo; `cargo xtask test` runs every
//! check CI runs. Each installs what it needs (a Python venv with moto, cfn-lint and SAM CLI).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <demo | test | bench>
  demo   start an emulated AWS, fail an Outpost, run the real alarm handler, show what happened
  test   every check CI runs: fmt, clippy, unit, mock and end-to-end tests, template lint
  bench  the recovery benchmark and the handler's cold start and memory";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "bench" => bench(),
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
    run(cargo(), &["build", "--quiet", "-p", "alarm-handler"], &[])?;
    run(
        cargo(),
        &["run", "--quiet", "-p", "e2e", "--bin", "demo"],
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
    // The end-to-end tests run the function binaries, so they are built first, with the
    // tests: one build, so every crate is compiled once with the same features.
    run(cargo(), &["build", "--workspace", "--all-targets"], &[])?;
    run(
        cargo(),
        &["test", "--workspace", "--no-fail-fast"],
        &[("AUTORESTART_PYTHON", &python)],
    )?;
    run(&python, &["tests/moto/check_launcher.py"], &[])?;
    let venv = venv.to_string_lossy().into_owned();
    run("bash", &[".ci/lint-template.sh", &venv], &[])
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

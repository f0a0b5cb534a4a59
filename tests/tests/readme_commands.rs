//! The commands the README and docs/ give an operator, checked against what they name: every
//! stack output a command reads exists in template.yaml, every parameter a deploy overrides is
//! one, every sample event exists, every `cargo xtask` subcommand is one, every `autorestart`
//! command parses.

use std::collections::BTreeSet;

use e2e::moto::workspace_root;

/// README.md, CONTRIBUTING.md and every docs/*.md, by path.
fn documents() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut paths = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap()
}

/// The names declared at two spaces' indent in a top-level section (`Parameters:`, `Outputs:`).
fn section_keys(template: &str, section: &str) -> BTreeSet<String> {
    let start = template
        .find(&format!("\n{section}:\n"))
        .unwrap_or_else(|| panic!("template.yaml has {section}"));
    template[start + section.len() + 3..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
        .filter_map(|l| l.trim_end().strip_suffix(':').map(str::to_owned))
        .collect()
}

/// Every `'…'`-quoted word after `marker` in `text`.
fn quoted_after<'t>(text: &'t str, marker: &str) -> Vec<&'t str> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            rest.find('\'').map(|end| &rest[..end])
        })
        .collect()
}

#[test]
fn every_stack_output_a_command_reads_exists() {
    let template = template();
    let outputs = section_keys(&template, "Outputs");
    // Outputs made per Outpost by Fn::ForEach: their name, then the Outpost id's letters.
    let per_outpost: Vec<String> = outputs
        .iter()
        .filter_map(|k| k.strip_prefix("Fn::ForEach::"))
        .map(|loop_name| {
            let body = &template[template
                .find(&format!("Fn::ForEach::{loop_name}:"))
                .unwrap()..];
            body.lines()
                .find_map(|l| l.trim().strip_prefix("- ").and_then(|k| k.split_once("&{")))
                .map(|(prefix, _)| prefix.to_owned())
                .unwrap()
        })
        .collect();
    assert!(
        per_outpost.contains(&"ConnectedAlarmArn".to_owned()),
        "{per_outpost:?}"
    );
    let mut read = 0;
    for (path, text) in documents() {
        for key in quoted_after(&text, "OutputKey=='") {
            if key.starts_with('$') {
                continue; // a shell variable: the loop's names are checked below
            }
            read += 1;
            let known = outputs.contains(key)
                || per_outpost.iter().any(|p| {
                    key.strip_prefix(p.as_str()).is_some_and(|id| {
                        id.starts_with("op") && id.chars().all(|c| c.is_ascii_alphanumeric())
                    })
                });
            assert!(known, "{path}: output {key} is not in template.yaml");
        }
    }
    assert!(read >= 4, "the README reads outputs");
    // The pause loop and the words around the failover and failback commands.
    for key in [
        "AlarmRuleName",
        "SweepRuleName",
        "DrsEventRuleName",
        "AlarmHandlerFunctionName",
        "DrillFunctionName",
    ] {
        assert!(outputs.contains(key), "{key}");
    }
}

#[test]
fn every_parameter_a_deploy_overrides_exists() {
    let parameters = section_keys(&template(), "Parameters");
    let mut seen = 0;
    for (path, text) in documents() {
        for (at, _) in text.match_indices("--parameter-overrides") {
            // The overrides run to the end of the command (lines ending in a backslash).
            let mut words = Vec::new();
            for line in text[at + "--parameter-overrides".len()..].lines() {
                words.extend(line.split_whitespace().filter(|w| w.contains('=')));
                if !line.trim_end().ends_with('\\') {
                    break;
                }
            }
            for word in words {
                let name = word.split('=').next().unwrap();
                seen += 1;
                assert!(
                    parameters.contains(name),
                    "{path}: parameter {name} is not in template.yaml"
                );
            }
        }
    }
    assert!(seen >= 2, "the README's deploy overrides parameters");
    // The README's advice for small accounts names a parameter too.
    assert!(parameters.contains("SweeperReservedConcurrency"));
    assert!(
        parameters.contains("FailbackSettleSeconds")
            && parameters.contains("AutoFailbackAfterSeconds")
    );
}

#[test]
fn every_sample_event_and_xtask_command_named_exists() {
    let root = workspace_root();
    let xtask = std::fs::read_to_string(root.join("xtask/src/main.rs")).unwrap();
    for (path, text) in documents() {
        for (at, _) in text.match_indices("events/") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_./".contains(*c))
                .collect();
            if let Some(file) = name.strip_suffix('.') {
                assert!(root.join(file).exists(), "{path}: {file}");
            } else if name.ends_with(".json") {
                assert!(root.join(&name).exists(), "{path}: {name}");
            }
        }
        for (at, _) in text.match_indices("cargo xtask ") {
            let command: String = text[at + "cargo xtask ".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if command.is_empty() {
                continue;
            }
            assert!(
                xtask.contains(&format!("\"{command}\"")),
                "{path}: cargo xtask {command} is no xtask command"
            );
        }
    }
}

/// Every `autorestart …` command in a code block, continuation lines joined, `[optional]`
/// parts kept as written (their brackets dropped); commands with placeholders (`<…>`, `…`,
/// `a|b`) are skipped.
fn cli_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let line = line.split(" # ").next().unwrap_or_default().trim_end();
        if !pending.is_empty() {
            pending.push(' ');
            pending.push_str(line.trim());
        } else if let Some(rest) = line.trim_start().strip_prefix("autorestart ") {
            pending = rest.to_owned();
        } else {
            continue;
        }
        if let Some(open) = pending.strip_suffix('\\') {
            pending = open.trim_end().to_owned();
            continue;
        }
        let command = std::mem::take(&mut pending);
        if command.contains('<') || command.contains('…') || command.contains('|') {
            continue;
        }
        let args: Vec<String> = command
            .replace(['[', ']'], "")
            .split_whitespace()
            // The shell's, not the command's: a redirection or what follows `&&`.
            .take_while(|w| !(w.starts_with('>') || w.starts_with("2>") || *w == "&&"))
            .map(str::to_owned)
            .collect();
        commands.push(args);
    }
    commands
}

#[test]
fn every_autorestart_command_written_parses() {
    let binary = e2e::function::binary_path("autorestart");
    let mut checked = 0;
    for (path, text) in documents() {
        for mut args in cli_commands(&text) {
            // Without a Region (nor `--region`), a command that parses is refused before any
            // AWS call; one that does not parse gets clap's usage.
            if let Some(at) = args.iter().position(|a| a == "--region") {
                args.drain(at..(at + 2).min(args.len()));
            }
            let output = std::process::Command::new(&binary)
                .args(&args)
                .env_clear()
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdin(std::process::Stdio::null())
                .output()
                .expect("run autorestart");
            let stderr = String::from_utf8_lossy(&output.stderr);
            if args
                .iter()
                .any(|a| ["--help", "-h", "--version"].contains(&a.as_str()))
            {
                assert!(
                    output.status.success(),
                    "{path}: `autorestart {}`",
                    args.join(" ")
                );
                checked += 1;
                continue;
            }
            assert!(
                !stderr.contains("Usage:"),
                "{path}: `autorestart {}` does not parse: {stderr}",
                args.join(" ")
            );
            assert_eq!(
                output.status.code(),
                Some(2),
                "{path}: `autorestart {}`: {stderr}",
                args.join(" ")
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} commands found");
}

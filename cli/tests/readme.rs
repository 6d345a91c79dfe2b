//! The README's two commands stay true: the main job's command is the one documented, and it
//! does what the README says on the shipped sample.

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
}

fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        if line.trim() == "```sh" {
            in_sh = true;
        } else if line.trim() == "```" {
            in_sh = false;
        } else if in_sh {
            out.push(line.trim().to_string());
        }
    }
    out
}

#[test]
fn the_readme_main_command_delivers_the_sample_to_the_built_in_mock() {
    let cmds = readme_commands();
    let main = &cmds[0];
    let args = main
        .strip_prefix("cargo run --release -p destkit -- ")
        .expect("the main command runs destkit");
    assert_eq!(
        args,
        "deliver --destination amplitude --input examples/events.jsonl"
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_destkit"))
        .current_dir(repo())
        .args(args.split_whitespace())
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 3 deliberately invalid events: exit 1, as the README says
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("built-in mock partner at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 19: rejected: userId: missing"),
        "{stderr}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["input"], 66);
    assert_eq!(r["delivered"], 61);
    assert_eq!(r["duplicate"], 2);
    assert_eq!(r["rejected"], 3);
    assert_eq!(r["failed"], 0);
    assert_eq!(r["expired"], 0);
}

#[test]
fn the_readme_test_command_is_what_ci_runs() {
    let cmds = readme_commands();
    assert_eq!(cmds[1], "cargo test --workspace");
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --workspace"),
        "{ci}"
    );
}

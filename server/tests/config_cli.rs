//! The `vigia` binary refuses a bad configuration file with a message naming the key
//! and line, before opening any listener.

use std::process::Command;

#[test]
fn unknown_key_is_refused_with_key_and_line() {
    assert_refused(
        "unknown.yml",
        "logLevel: info\nfoo: 1\n",
        "an unknown key",
        "unknown key \"foo\" at line 2",
    );
}

#[test]
fn bad_duration_is_refused_with_key_and_line() {
    assert_refused(
        "duration.yml",
        "readTimeout: 10x\n",
        "readTimeout: 10x",
        "\"readTimeout\" at line 1",
    );
}

/// Runs `vigia` on a config file `name` holding `text` and asserts that it fails (else the
/// failure message says it accepted `what`) with `message` in its stderr.
fn assert_refused(name: &str, text: &str, what: &str, message: &str) {
    let file = temp_config(name, text);
    let out = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .arg(&file)
        .output()
        .expect("run vigia");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "vigia accepted {what}");
    assert!(stderr.contains(message), "stderr: {stderr}");
}

fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigia-config-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write config");
    file
}

//! The `vigia` binary refuses a bad configuration file with a message naming the key
//! and line, before opening any listener.

use std::process::Command;

fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigia-config-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write config");
    file
}

#[test]
fn unknown_key_is_refused_with_key_and_line() {
    let file = temp_config("unknown.yml", "logLevel: info\nfoo: 1\n");
    let out = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .arg(&file)
        .output()
        .expect("run vigia");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "vigia accepted an unknown key");
    assert!(
        stderr.contains("unknown key \"foo\" at line 2"),
        "stderr: {stderr}"
    );
}

#[test]
fn bad_duration_is_refused_with_key_and_line() {
    let file = temp_config("duration.yml", "readTimeout: 10x\n");
    let out = Command::new(env!("CARGO_BIN_EXE_vigia"))
        .arg(&file)
        .output()
        .expect("run vigia");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "vigia accepted readTimeout: 10x");
    assert!(
        stderr.contains("\"readTimeout\" at line 1"),
        "stderr: {stderr}"
    );
}

//! Embeds hls.js, taken from the npm package pinned in `web/package-lock.json`, into the binary
//! for the HLS player page, so the page needs no outside network. Runs `npm ci` when the
//! package is not installed yet; on a machine without npm, fetches the same package tarball from
//! the npm registry with `curl` and checks it against the lock file's SHA-512 integrity. With
//! neither, the page reports that hls.js is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const HLS_JS: &str = "node_modules/hls.js/dist/hls.min.js";
const HLS_LICENSE: &str = "node_modules/hls.js/LICENSE";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let web = manifest.join("web");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=web/package-lock.json");
    println!("cargo:rerun-if-changed=web/{HLS_JS}");
    let mut package = web.clone();
    if !web.join(HLS_JS).exists() && !install(&web) {
        package = fetch_tarball(&web, &out).unwrap_or_else(|e| {
            println!("cargo:warning=hls.js from the npm registry: {e}");
            web.clone()
        });
    }
    let (script, license) = match (
        read(&package.join(HLS_JS)),
        read(&package.join(HLS_LICENSE)),
    ) {
        (Some(script), Some(license)) => (script, license),
        _ => {
            println!(
                "cargo:warning=hls.js is not installed (run `npm ci` in server/web): the HLS player page will not play"
            );
            let missing =
                "console.error('hls.js was not available when vigia was built');".to_string();
            (missing, String::new())
        }
    };
    let banner = format!("/* hls.js, Apache License 2.0:\n{license}\n*/\n");
    std::fs::write(out.join("hls.min.js"), banner + &script).expect("write OUT_DIR/hls.min.js");
}

/// Runs `npm ci` in `web`; whether it succeeded.
fn install(web: &Path) -> bool {
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(web)
        .status();
    let ok = matches!(status, Ok(s) if s.success());
    if !ok {
        println!("cargo:warning=`npm ci` in server/web failed ({status:?}); trying curl");
    }
    ok
}

/// Downloads the locked hls.js tarball into `out`, verifies it and unpacks it there. Returns a
/// directory laid out like `web` (`node_modules/hls.js/...`).
fn fetch_tarball(web: &Path, out: &Path) -> Result<PathBuf, String> {
    if out.join(HLS_JS).exists() {
        return Ok(out.to_path_buf()); // fetched by an earlier run of this script
    }
    let lock = read(&web.join("package-lock.json")).ok_or("no package-lock.json")?;
    let entry = lock
        .split("\"node_modules/hls.js\"")
        .nth(1)
        .ok_or("hls.js is not in package-lock.json")?;
    let (version, integrity) = (field(entry, "version")?, field(entry, "integrity")?);
    let url = format!("https://registry.npmjs.org/hls.js/-/hls.js-{version}.tgz");
    let tarball = out.join("hls.js.tgz");
    run(Command::new("curl")
        .args(["-fsSL", "--retry", "2", "-o"])
        .arg(&tarball)
        .arg(&url))?;
    let digest = sha512_base64(&tarball)?;
    if integrity != format!("sha512-{digest}") {
        return Err(format!("{url} does not match the lock file's integrity"));
    }
    let unpacked = out.join("node_modules/hls.js");
    std::fs::create_dir_all(&unpacked).map_err(|e| e.to_string())?;
    run(Command::new("tar")
        .args(["-xzf"])
        .arg(&tarball)
        .args(["--strip-components=1", "-C"])
        .arg(&unpacked)
        .args(["package/dist/hls.min.js", "package/LICENSE"]))?;
    Ok(out.to_path_buf())
}

/// The string value of `"name": "..."` in `json` (first occurrence).
fn field<'a>(json: &'a str, name: &str) -> Result<&'a str, String> {
    let start = json
        .split(&format!("\"{name}\": \""))
        .nth(1)
        .ok_or(format!("no {name} for hls.js in package-lock.json"))?;
    Ok(start.split('"').next().unwrap_or_default())
}

/// Runs a command; an error names it unless it exits 0.
fn run(command: &mut Command) -> Result<(), String> {
    match command.status() {
        Ok(s) if s.success() => Ok(()),
        other => Err(format!("{command:?}: {other:?}")),
    }
}

/// SHA-512 of `file` in base64, as npm's `integrity` writes it (via coreutils' `sha512sum`).
fn sha512_base64(file: &Path) -> Result<String, String> {
    let output = Command::new("sha512sum")
        .arg(file)
        .output()
        .map_err(|e| format!("sha512sum: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let hex = text.split_whitespace().next().unwrap_or_default();
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    match bytes {
        Some(b) if b.len() == 64 => Ok(base64(&b)),
        _ => Err(format!("sha512sum printed {text:?}")),
    }
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

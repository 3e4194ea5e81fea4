//! Embeds hls.js, taken from the npm package pinned in `web/package-lock.json`, into the binary
//! for the HLS player page, so the page needs no outside network. Runs `npm ci` when the
//! package is not installed yet; without npm the page reports that hls.js is missing.

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
    if !web.join(HLS_JS).exists() {
        install(&web);
    }
    let (script, license) = match (read(&web.join(HLS_JS)), read(&web.join(HLS_LICENSE))) {
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

fn install(web: &Path) {
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(web)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        println!("cargo:warning=`npm ci` in server/web failed ({status:?})");
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

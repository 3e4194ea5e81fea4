//! Headless Chromium for the HLS browser tests: the node scripts under `conformance/browser/`
//! (playwright-core driving Debian's Chromium) run one at a time per test binary, each printing
//! one JSON report on stdout; and the statistics the tests take from those reports.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::run_with_timeout;

/// One browser at a time: two decoding at once on a 2-core machine measure the machine.
static BROWSER: Mutex<()> = Mutex::new(());

/// The path of `name` in `conformance/browser/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("browser")
        .join(name)
}

/// Runs `node browser/<name> args…` (waiting for any other browser of this test binary first),
/// killed after `limit`; returns the JSON report it printed. Panics with its output when it
/// printed none.
pub fn run_script(name: &str, args: &[&str], limit: Duration) -> Value {
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let script = script(name).display().to_string();
    let argv = [&[script.as_str()][..], args].concat();
    let out = run_with_timeout("node", &argv, limit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no report from the browser: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The `p` quantile (0.0–1.0, nearest rank) of `values`, which it sorts; `NaN` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// The numbers in the array `report[key]` (other entries skipped).
pub fn numbers(report: &Value, key: &str) -> Vec<f64> {
    report[key]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

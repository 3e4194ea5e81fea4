//! CPU time and resident memory of a process from `/proc` (Linux `proc(5)`).
//!
//! The parsers are pure functions over the files' text; [`sample`] reads them.

use std::path::Path;

/// `USER_HZ`: the unit of `utime`/`stime` in `/proc/<pid>/stat`, 100 on every Linux ABI.
pub const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcSample {
    /// User + system CPU time since the process started, in seconds.
    pub cpu_s: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>` (`pid` = `"self"` for this process); `None` if it is gone.
pub fn sample(pid: &str) -> Option<ProcSample> {
    let dir = Path::new("/proc").join(pid);
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    Some(ProcSample {
        cpu_s: cpu_seconds(&stat)?,
        rss_bytes: rss_bytes(&status)?,
    })
}

/// The processes on this host whose command name is exactly `name`.
pub fn find_by_name(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// `utime + stime` in seconds from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may contain spaces or `)`, so fields are
/// counted from the last `)`: `utime` and `stime` are fields 14 and 15.
pub fn cpu_seconds(stat: &str) -> Option<f64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after.split_whitespace().skip(11); // field 3 is the first after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / CLOCK_TICKS_PER_SEC)
}

/// `VmRSS` in bytes from the text of `/proc/<pid>/status`.
pub fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_tricky_command_name() {
        let stat = "4242 (vi gia) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 \
                    100 123456 789 18446744073709551615";
        assert_eq!(cpu_seconds(stat), Some(3.25));
        assert_eq!(cpu_seconds("garbage"), None);
    }

    #[test]
    fn status_rss() {
        let status = "Name:\tvigia\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(rss_bytes(status), Some(2 * 1024 * 1024));
        assert_eq!(rss_bytes("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample("self").unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_s >= 0.0);
    }
}

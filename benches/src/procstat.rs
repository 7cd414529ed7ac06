//! Reflector CPU time and memory read from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use serde::Serialize;
use std::sync::OnceLock;

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcSample {
    /// User + system CPU seconds used so far (utime + stime).
    pub cpu_secs: f64,
    /// Resident set size now, KiB (VmRSS).
    pub rss_kib: u64,
    /// Peak resident set size, KiB (VmHWM).
    pub peak_rss_kib: u64,
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Parses utime + stime (fields 14 and 15) out of a `/proc/<pid>/stat` line, in clock ticks.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state); utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Reads a `kB` line such as `VmHWM:   1234 kB` out of `/proc/<pid>/status`.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// Samples process `pid`; `None` once the process is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu_secs: parse_stat_ticks(&stat)? as f64 / clock_ticks(),
        rss_kib: parse_status_kib(&status, "VmRSS").unwrap_or(0),
        peak_rss_kib: parse_status_kib(&status, "VmHWM").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let line = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 57 13 0 0 20 0 1 0 12 1000 20";
        assert_eq!(parse_stat_ticks(line), Some(70));
    }

    #[test]
    fn parses_status() {
        let s = "Name:\tbird\nVmPeak:\t  9999 kB\nVmHWM:\t    5120 kB\nVmRSS:\t    4096 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM"), Some(5120));
        assert_eq!(parse_status_kib(s, "VmRSS"), Some(4096));
        assert_eq!(parse_status_kib(s, "VmSwap"), None);
    }

    #[test]
    fn samples_ourselves() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.peak_rss_kib >= s.rss_kib / 2 && s.peak_rss_kib > 0);
    }
}

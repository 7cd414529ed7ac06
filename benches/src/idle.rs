//! The idle-reflector measurement: a reflector configured for N Calico nodes of which none is up.
//!
//! `rr-idle` starts `rr-daemon` from a generated datastore file with N client Nodes at loopback addresses
//! where nothing listens (every connection attempt is refused), lets it settle, samples its CPU time and
//! memory from `/proc/<pid>` over a window, and then adds one more Node whose address has a listener: the
//! time from the file write until the reflector's connection arrives is how fast a new node's session is
//! configured and attempted while the reflector is busy with the absent ones.

use crate::procstat::ProcSample;
use serde::Serialize;

/// What `rr-idle` reports.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// Configured (absent) clients.
    pub clients: usize,
    /// Seconds between the reflector listening and the start of the window.
    pub warmup_secs: f64,
    /// Length of the sampling window, seconds.
    pub window_secs: f64,
    /// CPU seconds used in the window.
    pub cpu_secs: f64,
    /// CPU use over the window, percent of one core.
    pub cpu_percent: f64,
    /// Resident set size at the end of the window, MiB.
    pub rss_mib: f64,
    /// Peak resident set size up to the end of the window, MiB.
    pub peak_rss_mib: f64,
    /// Seconds from writing the new Node until the reflector connected to it (`None`: not within the
    /// deadline).
    pub new_node_connect_secs: Option<f64>,
}

impl IdleReport {
    /// Builds the report from the samples at the start and the end of the window.
    pub fn from_samples(
        clients: usize,
        warmup_secs: f64,
        start: ProcSample,
        end: ProcSample,
        window_secs: f64,
    ) -> Self {
        let cpu_secs = (end.cpu_secs - start.cpu_secs).max(0.0);
        IdleReport {
            clients,
            warmup_secs,
            window_secs,
            cpu_secs,
            cpu_percent: if window_secs > 0.0 {
                100.0 * cpu_secs / window_secs
            } else {
                0.0
            },
            rss_mib: end.rss_kib as f64 / 1024.0,
            peak_rss_mib: end.peak_rss_kib as f64 / 1024.0,
            new_node_connect_secs: None,
        }
    }

    /// One line of text per figure.
    pub fn to_text(&self) -> String {
        format!(
            "idle reflector, {} absent clients: {:.2} CPU s in {:.0} s = {:.2} % of a core (after {:.0} s \
             warm-up); RSS {:.1} MiB, peak {:.1} MiB; new node connected after {}\n",
            self.clients,
            self.cpu_secs,
            self.window_secs,
            self.cpu_percent,
            self.warmup_secs,
            self.rss_mib,
            self.peak_rss_mib,
            self.new_node_connect_secs
                .map_or("(not within the deadline)".to_string(), |s| format!("{s:.3} s")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_of_a_core_over_the_window() {
        let a = ProcSample {
            cpu_secs: 10.0,
            rss_kib: 1024,
            peak_rss_kib: 2048,
        };
        let b = ProcSample {
            cpu_secs: 13.0,
            rss_kib: 51_200,
            peak_rss_kib: 102_400,
        };
        let r = IdleReport::from_samples(20_000, 30.0, a, b, 60.0);
        assert!((r.cpu_percent - 5.0).abs() < 1e-9);
        assert!((r.rss_mib - 50.0).abs() < 1e-9 && (r.peak_rss_mib - 100.0).abs() < 1e-9);
        assert!(r.to_text().contains("5.00 % of a core"));
    }
}

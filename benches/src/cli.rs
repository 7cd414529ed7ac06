//! Command-line pieces shared by `rr-load` and `rr-compare`.

use crate::load::Mode;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Workload options common to both commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Workload {
    /// AS of the clients and the reflector (iBGP).
    #[arg(long, default_value_t = 64512)]
    pub asn: u32,
    /// LOCAL_PREF on the clients' announcements (the value the load-test issue asks for).
    #[arg(long, default_value_t = 2147482623)]
    pub local_pref: u32,
    /// Hold time the clients (and BIRD) propose, seconds.
    #[arg(long, default_value_t = 240)]
    pub hold_time: u16,
    /// Negotiate ADD-PATH (clients receive, reflector sends).
    #[arg(long)]
    pub add_path: bool,
    /// Give up on convergence (and on each flap step) after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Sessions allowed in connect + OPEN exchange at the same time. BIRD listens with a backlog of 8: more
    /// than that at once overflows its accept queue while it is busy, and the kernel drops SYNs (1 s, 3 s, ...
    /// retransmission stalls that measure TCP backoff rather than the reflector).
    #[arg(long, default_value_t = 8)]
    pub connect_concurrency: usize,
    /// Print progress to stderr every this many seconds while converging.
    #[arg(long)]
    pub progress: Option<f64>,
    /// Tokio worker threads of the load generator. With one thread, at 1000 clients the generator itself was
    /// the bottleneck (90 % of a core parsing 100 M received prefixes, so that handshakes waited in its run
    /// queue); two threads let it keep up. The reflector under test gets the same cores either way.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Announce NEXT_HOP `BASE + 1 + i` for client `i` instead of its 127.0.x.y source address (an
    /// attribute only: nothing is ever sent there). FRR rejects 127/8 next hops as martian; `rr-compare` uses
    /// 100.64.0.0 by default whenever FRR is among the reflectors.
    #[arg(long)]
    pub next_hop_base: Option<Ipv4Addr>,
}

/// What to do after convergence.
#[derive(Debug, Clone, Copy, clap::Subcommand)]
pub enum ModeCmd {
    /// Measure time to full convergence only.
    Converge,
    /// Withdraw and re-announce prefixes at an aggregate rate; report propagation latency.
    Churn {
        /// Events (withdrawals + announcements) per second across all clients.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Seconds of churn.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Flap client 0's session; report withdrawal and re-advertisement propagation.
    Flap {
        /// Down/up cycles.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
}

impl ModeCmd {
    /// The load-generator mode.
    pub fn mode(&self) -> Mode {
        match *self {
            ModeCmd::Converge => Mode::Converge,
            ModeCmd::Churn { rate, duration } => Mode::Churn {
                rate,
                duration: Duration::from_secs_f64(duration.max(0.0)),
            },
            ModeCmd::Flap { rounds } => Mode::Flap { rounds },
        }
    }
}

/// Builds the load generator's runtime.
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// Median of the values present (mean of the middle two for an even count).
pub fn median(values: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().flatten().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The rr-daemon binary to run: `given` (a `--daemon` flag), else `rr-daemon` next to this executable, else
/// `rr-daemon` on `PATH`.
pub fn daemon_path(given: Option<&str>) -> String {
    match given {
        Some(d) => d.to_string(),
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("rr-daemon")))
            .map_or("rr-daemon".into(), |p| p.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median([Some(3.0), None, Some(1.0), Some(2.0)]), Some(2.0));
        assert_eq!(median([Some(4.0), Some(1.0)]), Some(2.5));
        assert_eq!(median([None]), None);
    }
}

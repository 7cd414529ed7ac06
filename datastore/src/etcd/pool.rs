//! One lazily built client per endpoint, rotation to the next endpoint on failure, and the retry backoff.
//!
//! `etcd-client` can balance over several endpoints itself, but its balancer keeps picking a dead endpoint
//! for some calls; rotating explicitly makes every attempt go to one known endpoint and lets the error say
//! which one failed.

use std::future::Future;
use std::time::Duration;

use etcd_client::Client;
use tokio::sync::Mutex;

use super::config::{EtcdConfig, Prepared};
use super::error::{EtcdError, classify};

/// Endpoints, one optional connected client each, and the endpoint in use.
pub(crate) struct Pool {
    endpoints: Vec<String>,
    prepared: Prepared,
    clients: Vec<Option<Client>>,
    current: usize,
    timeout: Duration,
}

impl Pool {
    pub(crate) fn new(cfg: &EtcdConfig, prepared: Prepared) -> Self {
        Pool {
            endpoints: cfg.endpoints.clone(),
            prepared,
            clients: vec![None; cfg.endpoints.len()],
            current: 0,
            timeout: cfg.request_timeout,
        }
    }

    /// Number of endpoints.
    pub(crate) fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Index of the endpoint in use.
    pub(crate) fn current_index(&self) -> usize {
        self.current
    }

    /// The endpoint in use.
    pub(crate) fn endpoint(&self) -> &str {
        self.endpoints.get(self.current).map_or("", String::as_str)
    }

    /// A client of the endpoint in use (connecting first if needed) and that endpoint's index.
    pub(crate) async fn client(&mut self) -> Result<(Client, usize), EtcdError> {
        let idx = self.current;
        if let Some(Some(c)) = self.clients.get(idx) {
            return Ok((c.clone(), idx));
        }
        let endpoint = self.endpoint().to_owned();
        let opts = self.prepared.options(&endpoint);
        let connect = Client::connect([endpoint.as_str()], Some(opts));
        let client = match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(classify(&endpoint, &e)),
            Err(_) => return Err(timed_out(&endpoint, self.timeout)),
        };
        if let Some(slot) = self.clients.get_mut(idx) {
            *slot = Some(client.clone());
        }
        Ok((client, idx))
    }

    /// Endpoint `idx` failed: drop its client and move on to the next endpoint (if still on it).
    pub(crate) fn failed(&mut self, idx: usize) {
        if let Some(slot) = self.clients.get_mut(idx) {
            *slot = None;
        }
        if idx == self.current && !self.endpoints.is_empty() {
            self.current = (self.current + 1) % self.endpoints.len();
        }
    }
}

/// The error of a request that did not answer in time.
pub(crate) fn timed_out(endpoint: &str, after: Duration) -> EtcdError {
    EtcdError::Unavailable {
        endpoint: endpoint.to_owned(),
        reason: format!("no answer within {after:?}"),
    }
}

/// Runs `fut` against `endpoint` with a timeout, classifying its error.
pub(crate) async fn call<T>(
    endpoint: &str,
    after: Duration,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(after, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(endpoint, &e)),
        Err(_) => Err(timed_out(endpoint, after)),
    }
}

/// A [`Pool`] shared by one-shot requests (get, list, writes).
pub(crate) struct SharedPool(Mutex<Pool>);

impl SharedPool {
    pub(crate) fn new(pool: Pool) -> Self {
        SharedPool(Mutex::new(pool))
    }

    /// Runs `op` on the endpoint in use; on an unavailable endpoint, tries each other endpoint once.
    ///
    /// A write whose answer was lost may have been applied: compare-and-swap makes its retry fail with a
    /// conflict rather than apply twice.
    pub(crate) async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, EtcdError>
    where
        F: FnMut(Client, String) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>>,
    {
        let attempts = self.0.lock().await.len();
        let mut last = None;
        for _ in 0..attempts {
            let (client, idx, endpoint) = {
                let mut pool = self.0.lock().await;
                let endpoint = pool.endpoint().to_owned();
                match pool.client().await {
                    Ok((c, idx)) => (c, idx, endpoint),
                    Err(e) if e.is_transient() => {
                        let idx = pool.current;
                        pool.failed(idx);
                        last = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            match op(client, endpoint).await {
                Err(e) if e.is_transient() => {
                    self.0.lock().await.failed(idx);
                    last = Some(e);
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| EtcdError::Config("no endpoint".into())))
    }
}

/// Exponential backoff: the delay doubles after each full round of failed endpoints.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    endpoints: u32,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(cfg: &EtcdConfig) -> Self {
        Backoff {
            initial: cfg.backoff_initial,
            max: cfg.backoff_max.max(cfg.backoff_initial),
            endpoints: u32::try_from(cfg.endpoints.len()).unwrap_or(u32::MAX).max(1),
            failures: 0,
        }
    }

    /// The delay before the next attempt; counts one more failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let round = (self.failures / self.endpoints).min(20);
        self.failures = self.failures.saturating_add(1);
        self.initial.saturating_mul(1 << round).min(self.max)
    }

    /// A success: start again from the initial delay.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_round_of_endpoints_and_caps() {
        let mut cfg = EtcdConfig::new(["http://a:1", "http://b:2"]);
        cfg.backoff_initial = Duration::from_millis(100);
        cfg.backoff_max = Duration::from_millis(700);
        let mut b = Backoff::new(&cfg);
        let ms: Vec<u128> = (0..8).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ms, vec![100, 100, 200, 200, 400, 400, 700, 700]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn failed_endpoint_rotates() {
        let cfg = EtcdConfig::new(["http://a:1", "http://b:2", "http://c:3"]);
        let prepared = cfg.prepare().expect("valid config");
        let mut pool = Pool::new(&cfg, prepared);
        assert_eq!(pool.endpoint(), "http://a:1");
        pool.failed(0);
        assert_eq!(pool.endpoint(), "http://b:2");
        // A stale failure report for an endpoint no longer in use does not skip the current one.
        pool.failed(0);
        assert_eq!(pool.endpoint(), "http://b:2");
        pool.failed(1);
        pool.failed(2);
        assert_eq!(pool.endpoint(), "http://a:1");
    }
}

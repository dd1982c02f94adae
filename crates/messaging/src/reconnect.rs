//! What a broker adapter's consumer does when its link fails: make it
//! again, waiting 250 ms, doubling to 10 s, back to 250 ms after a link
//! that lived 30 s.

use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Waits that double from 250 ms to 10 s.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(250);
    pub const MAX: Duration = Duration::from_secs(10);

    pub fn new() -> Backoff {
        Backoff { next: Self::FIRST }
    }

    /// The wait to make now (the next one is twice as long).
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Runs `link` until it returns Ok (it saw `stop`) or `stop` is cancelled;
/// after each failure, `lost` is told the error and the wait, and `link`
/// runs again after it.
pub async fn reconnect<F, Fut>(stop: &CancellationToken, mut link: F, lost: impl Fn(&anyhow::Error, Duration))
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut backoff = Backoff::new();
    loop {
        let started = Instant::now();
        let Err(e) = link().await else { return };
        if started.elapsed() > Duration::from_secs(30) {
            backoff.reset();
        }
        let wait = backoff.wait();
        lost(&e, wait);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_to_the_cap_and_start_again_when_reset() {
        let mut b = Backoff::new();
        let waits: Vec<u128> = (0..8).map(|_| b.wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
        b.reset();
        assert_eq!(b.wait(), Backoff::FIRST);
    }
}

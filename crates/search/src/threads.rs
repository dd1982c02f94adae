//! The threads searches run on: one per core, taking queued searches in
//! order. A thread that finishes a search takes the next one itself; with
//! a semaphore in front of `spawn_blocking` instead, each hand-over went
//! through a woken task and a woken thread, and the cores sat idle for it
//! (about 15 % fewer searches a second on two cores; BENCHMARKS.md).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running jobs first come, first served. The
/// threads end when the last handle is dropped.
pub(crate) struct SearchThreads {
    jobs: mpsc::Sender<Job>,
    #[cfg(test)]
    count: usize,
}

impl SearchThreads {
    pub(crate) fn new(count: usize) -> std::io::Result<SearchThreads> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new().name(format!("search-{i}")).spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job.
                    let next = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else { return };
                    job();
                }
            })?;
        }
        Ok(SearchThreads {
            jobs,
            #[cfg(test)]
            count,
        })
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Runs `f` on a search thread when its turn comes. A caller that goes
    /// away before then is skipped when its turn comes. A panic in `f`
    /// is an error here and leaves the thread running.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if answer.is_closed() {
                return;
            }
            if let Ok(value) = catch_unwind(AssertUnwindSafe(f)) {
                let _ = answer.send(value);
            }
        });
        self.jobs.send(job).map_err(|_| anyhow::anyhow!("the search threads have stopped"))?;
        answered.await.map_err(|_| anyhow::anyhow!("the search failed (it panicked)"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_and_a_panic_leaves_the_thread_running() {
        let threads = SearchThreads::new(1).unwrap();
        assert_eq!(threads.run(|| 2 + 2).await.unwrap(), 4);
        let failed = threads.run(|| -> u32 { panic!("a bad search") }).await;
        assert!(failed.is_err());
        let order = Arc::new(Mutex::new(Vec::new()));
        let runs: Vec<_> = (0..5)
            .map(|i| {
                let order = Arc::clone(&order);
                threads.run(move || order.lock().unwrap().push(i))
            })
            .collect();
        for run in runs {
            run.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4], "first come, first served, after the panic too");
    }
}

//! Group commit inside one instance: requests that arrive while a transaction is running wait, and the next
//! transaction serves all of them.
//!
//! One waiting request at a time leads: it takes everything waiting (up to a maximum), runs the batch, answers
//! each request of it, then hands the lead to the next request still waiting. Nothing here matters to another
//! instance or outlives a request: an item is only a hand-off between requests of this process, and each
//! request still gets its own answer. The batch runs on a task of its own, so a leading request that is
//! cancelled (its client went away) leaves it to finish and answer the others: a batch that committed is never
//! mistaken for one that did not.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, oneshot};

/// Items of type `T` waiting for the next batch, each with the place its answer `R` goes. Keep one per kind
/// of batch in [`crate::state::AppState`]'s extensions.
pub struct Batcher<T, R> {
    waiting: Mutex<Vec<(T, oneshot::Sender<R>)>>,
    /// A request is running a batch.
    busy: AtomicBool,
    /// Wakes waiting requests when a batch is done (their answer came, or one of them leads next).
    done: Notify,
}

impl<T, R> Default for Batcher<T, R> {
    fn default() -> Self {
        Batcher { waiting: Mutex::new(Vec::new()), busy: AtomicBool::new(false), done: Notify::new() }
    }
}

/// Frees the batcher when its batch is done.
struct Leading<T, R>(Arc<Batcher<T, R>>);

impl<T, R> Drop for Leading<T, R> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
        self.0.done.notify_waiters();
    }
}

impl<T, R> Batcher<T, R> {
    /// How many items wait for a batch (not counting those of a batch already running).
    pub fn waiting(&self) -> usize {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn take(&self, max: usize) -> Vec<(T, oneshot::Sender<R>)> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let n = waiting.len().min(max.max(1));
        waiting.drain(..n).collect()
    }

    /// Adds `item` to the next batch and waits for its answer. `run` serves one batch (at most `max` items, in
    /// arrival order) and returns one answer per item, in the same order. `None`: the batch that held the item
    /// did not answer it (`run` answered fewer items than it was given, or panicked); the caller serves the item
    /// on its own.
    pub async fn join<F, Fut>(self: &Arc<Self>, item: T, max: usize, run: F) -> Option<R>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(Vec<T>) -> Fut,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let (answer, mut answered) = oneshot::channel();
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).push((item, answer));
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if !self.busy.swap(true, Ordering::AcqRel) {
                let leading = Leading(self.clone());
                let (items, answers): (Vec<T>, Vec<oneshot::Sender<R>>) = self.take(max).into_iter().unzip();
                if !items.is_empty() {
                    // On its own task (if this request is cancelled, the batch still finishes and answers), in
                    // this request's context (its id in what the batch logs).
                    let batch = crate::web::with_request_ctx(crate::web::request_ctx(), run(items));
                    let _ = tokio::spawn(async move {
                        let _leading = leading;
                        for (to, a) in answers.into_iter().zip(batch.await) {
                            let _ = to.send(a);
                        }
                    })
                    .await;
                }
            } else {
                tokio::select! {
                    a = &mut answered => return a.ok(),
                    _ = &mut done => {}
                }
            }
            match answered.try_recv() {
                Ok(a) => return Some(a),
                Err(oneshot::error::TryRecvError::Empty) => continue,
                Err(oneshot::error::TryRecvError::Closed) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_item_gets_its_own_answer_and_waiting_items_share_a_batch() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let batches = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..64u32 {
            let (b, n) = (batcher.clone(), batches.clone());
            handles.push(tokio::spawn(async move {
                b.join(i, 8, |items: Vec<u32>| {
                    let n = n.clone();
                    async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        items.into_iter().map(|x| x * 10).collect()
                    }
                })
                .await
            }));
        }
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), Some(i as u32 * 10));
        }
        let n = batches.load(Ordering::SeqCst);
        assert!((8..64).contains(&n), "64 items in batches of at most 8 while each batch sleeps: {n} batches");
    }

    #[tokio::test]
    async fn an_item_its_batch_did_not_answer_is_told_so() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let answer = batcher.join(7, 4, |_items: Vec<u32>| async { Vec::new() }).await;
        assert_eq!(answer, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_leader_leaves_its_batch_to_finish() {
        let batcher = Arc::new(Batcher::<u32, u32>::default());
        let served = Arc::new(Mutex::new(Vec::new()));
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let started_tx = Mutex::new(Some(started_tx));
        let run = {
            let served = served.clone();
            move |items: Vec<u32>| {
                if let Some(s) = started_tx.lock().unwrap().take() {
                    let _ = s.send(());
                }
                let served = served.clone();
                async move {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    served.lock().unwrap().extend(items.iter().copied());
                    items
                }
            }
        };
        let leader = {
            let b = batcher.clone();
            tokio::spawn(async move { b.join(1, 8, run).await })
        };
        started_rx.await.unwrap();
        // The leader's batch (item 1) is running; its client goes away.
        leader.abort();
        let follower = batcher.join(2, 8, |items: Vec<u32>| async move { items }).await;
        assert_eq!(follower, Some(2), "the next request leads once the batch is done");
        assert_eq!(*served.lock().unwrap(), vec![1], "the cancelled leader's batch ran to its end");
    }
}

//! How many requests go to one server at once, lowered to what the server shows it can serve.
//!
//! A local server (llama.cpp's with one slot, Ollama with `OLLAMA_NUM_PARALLEL=1`) serves one
//! request at a time and queues the rest. Sent in parallel, the queued requests wait for their
//! first token while the served one generates, hit their timeout, are retried, and the retries
//! queue again: a storm of timeouts. So every attempt takes a slot here first. The number of
//! slots starts at the configured one (or at what the server says it has) and from then on only
//! goes down, when the server shows it serves fewer:
//! - a request waited for its first token while another request of the server was answered
//!   start to finish ([`QUEUE_EVIDENCE_TOKENS`] tokens or more): it was queued, and the server
//!   serves as many as were streaming then (watched for local servers only: a hosted reasoning
//!   model's first token can come minutes after another request's whole answer);
//! - a request timed out (no token for the idle timeout, or the total cap) while others were in
//!   flight: as many as were streaming, or half as many as were in flight when none was.
//!
//! Each lowering is said once, in a notice the caller prints. A request that timed out is retried
//! only once it gets a slot under the lowered limit, so it no longer competes with the requests
//! the server is still working on. The transport tells a request's progress (first token, tokens)
//! through [`report_token`], within the task that sends it ([`Limiter::run`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Tokens a request must have streamed before a request queued behind it counts as evidence of
/// a queueing server: a reply of a few tokens (a refusal) can end before a batching server has
/// even read a long prompt, and must not lower the limit.
pub const QUEUE_EVIDENCE_TOKENS: u64 = 32;

tokio::task_local! {
    static PROGRESS: Arc<Progress>;
}

/// What the transport has seen of one request's stream.
#[derive(Debug)]
struct Progress {
    /// The limiter's event clock.
    clock: Arc<AtomicU64>,
    /// The limiter's event number at the first token; 0 while none came.
    first_token_at: AtomicU64,
    /// Streamed chunks that carried text.
    tokens: AtomicU64,
}

/// Called by the transport for each streamed chunk that carries text, within [`Limiter::run`].
/// Elsewhere (no limiter around the request) it does nothing.
pub(crate) fn report_token() {
    let _ = PROGRESS.try_with(|p| {
        if p.tokens.fetch_add(1, Ordering::Relaxed) == 0 {
            p.first_token_at.store(p.clock.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    });
}

/// How an attempt ended, as far as the limit is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A reply came.
    Answered,
    /// It timed out: no token for the idle timeout, or past the total cap.
    TimedOut,
    /// Anything else (an HTTP error, a refused connection, anything answered from a cassette):
    /// says nothing of capacity.
    Other,
}

#[derive(Debug)]
struct Flight {
    sent_at: u64,
    progress: Arc<Progress>,
}

#[derive(Debug)]
struct State {
    limit: usize,
    next_id: u64,
    in_flight: BTreeMap<u64, Flight>,
    notices: Vec<String>,
}

/// The slots of one server.
#[derive(Debug)]
pub(crate) struct Limiter {
    /// The server, as notices name it.
    server: String,
    /// Whether a request queued behind a whole answer lowers the limit.
    watch_queueing: bool,
    state: Mutex<State>,
    freed: tokio::sync::Notify,
    /// Numbers sends and first tokens in the order they happen (shared with each request's
    /// [`Progress`]), so "sent before that one's first token" is a comparison.
    clock: Arc<AtomicU64>,
}

impl Limiter {
    /// At most `limit` (≥ 1) requests to `server` at once; `watch_queueing`: lowered also when a
    /// request is seen queued behind a whole answer, not only on timeouts.
    pub(crate) fn new(server: &str, limit: usize, watch_queueing: bool) -> Self {
        Self {
            server: server.to_owned(),
            watch_queueing,
            state: Mutex::new(State { limit: limit.max(1), next_id: 0, in_flight: BTreeMap::new(), notices: Vec::new() }),
            freed: tokio::sync::Notify::new(),
            clock: Arc::new(AtomicU64::new(0)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current limit.
    #[cfg(test)]
    pub(crate) fn limit(&self) -> usize {
        self.state().limit
    }

    /// Sets the limit to the number of requests the server says it serves at once.
    pub(crate) fn set_from_server(&self, slots: usize) {
        self.state().limit = slots.max(1);
        self.freed.notify_waiters();
    }

    /// The notices so far, emptied.
    pub(crate) fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut self.state().notices)
    }

    /// Waits for a slot, then runs `attempt` in it; `outcome` says how it ended. An attempt
    /// dropped before it ends (its generation stopped) frees its slot all the same.
    pub(crate) async fn run<T>(&self, attempt: impl Future<Output = T>, outcome: impl FnOnce(&T) -> Outcome) -> T {
        let (id, progress) = self.acquire().await;
        let mut slot = Slot { limiter: self, id, outcome: Outcome::Other };
        let result = PROGRESS.scope(progress, attempt).await;
        slot.outcome = outcome(&result);
        drop(slot);
        result
    }

    async fn acquire(&self) -> (u64, Arc<Progress>) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a slot freed in between still wakes us.
            freed.as_mut().enable();
            {
                let mut state = self.state();
                if state.in_flight.len() < state.limit {
                    let id = state.next_id;
                    state.next_id += 1;
                    let progress = Arc::new(Progress { clock: self.clock.clone(), first_token_at: AtomicU64::new(0), tokens: AtomicU64::new(0) });
                    let sent_at = self.clock.fetch_add(1, Ordering::Relaxed) + 1;
                    state.in_flight.insert(id, Flight { sent_at, progress: progress.clone() });
                    return (id, progress);
                }
            }
            freed.await;
        }
    }

    fn release(&self, id: u64, outcome: Outcome) {
        let mut state = self.state();
        let Some(done) = state.in_flight.remove(&id) else { return };
        let streaming = state.in_flight.values().filter(|f| started(f)).count();
        let first_token_at = done.progress.first_token_at.load(Ordering::Relaxed);
        let lowered = match outcome {
            Outcome::Answered if self.watch_queueing && done.progress.tokens.load(Ordering::Relaxed) >= QUEUE_EVIDENCE_TOKENS => {
                let queued = state.in_flight.values().any(|f| !started(f) && f.sent_at < first_token_at);
                queued.then(|| {
                    let serving = streaming + 1;
                    (serving, format!("a request waited for its first token while another was answered start to finish, so it serves {serving} at a time"))
                })
            }
            Outcome::TimedOut if !state.in_flight.is_empty() => {
                let in_flight = state.in_flight.len() + 1;
                Some(if first_token_at == 0 && streaming > 0 {
                    (streaming, format!("a request timed out waiting for its first token while {streaming} other(s) streamed"))
                } else {
                    ((in_flight / 2).max(1), format!("a request timed out with {in_flight} in flight"))
                })
            }
            _ => None,
        };
        if let Some((limit, why)) = lowered.filter(|(limit, _)| *limit < state.limit) {
            state.limit = limit;
            let notice = format!("{}: {why}; sending at most {limit} request(s) at once from now on", self.server);
            state.notices.push(notice);
        }
        drop(state);
        self.freed.notify_waiters();
    }
}

/// A taken slot, given back when dropped.
struct Slot<'a> {
    limiter: &'a Limiter,
    id: u64,
    outcome: Outcome,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.limiter.release(self.id, self.outcome);
    }
}

fn started(flight: &Flight) -> bool {
    flight.progress.first_token_at.load(Ordering::Relaxed) != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// An attempt that streams `tokens` tokens, the first after `first`, one every `every`.
    async fn streams(first: Duration, every: Duration, tokens: u64) {
        tokio::time::sleep(first).await;
        for _ in 0..tokens {
            report_token();
            tokio::time::sleep(every).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_queued_behind_a_whole_answer_lowers_the_limit_to_the_streaming_count() {
        let limiter = Arc::new(Limiter::new("http://127.0.0.1:8080", 4, true));
        // A one-slot server: the second request's first token comes after the first's last.
        let first = limiter.run(streams(Duration::from_millis(10), Duration::from_millis(1), 40), |_| Outcome::Answered);
        let second = limiter.run(streams(Duration::from_millis(100), Duration::from_millis(1), 40), |_| Outcome::Answered);
        tokio::join!(first, second);
        assert_eq!(limiter.limit(), 1);
        // Not watched (a hosted API), the same does not lower it.
        let hosted = Limiter::new("https://api.example.com/v1", 4, false);
        let first = hosted.run(streams(Duration::from_millis(10), Duration::from_millis(1), 40), |_| Outcome::Answered);
        let second = hosted.run(streams(Duration::from_millis(100), Duration::from_millis(1), 40), |_| Outcome::Answered);
        tokio::join!(first, second);
        assert_eq!(hosted.limit(), 4);
        let notices = limiter.take_notices();
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].starts_with("http://127.0.0.1:8080: a request waited for its first token"), "{notices:?}");
        assert!(limiter.take_notices().is_empty(), "said once");
    }

    #[tokio::test(start_paused = true)]
    async fn parallel_requests_that_all_stream_and_short_replies_leave_the_limit_alone() {
        let limiter = Arc::new(Limiter::new("s", 4, true));
        let batched = (0..4).map(|_| limiter.run(streams(Duration::from_millis(10), Duration::from_millis(1), 40), |_| Outcome::Answered));
        futures::future::join_all(batched).await;
        // A 3-token refusal ends before the other request's first token: no evidence of a queue.
        let short = limiter.run(streams(Duration::from_millis(1), Duration::from_millis(1), 3), |_| Outcome::Answered);
        let slow = limiter.run(streams(Duration::from_millis(50), Duration::from_millis(1), 40), |_| Outcome::Answered);
        tokio::join!(short, slow);
        assert_eq!(limiter.limit(), 4);
        assert!(limiter.take_notices().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_with_others_in_flight_lowers_the_limit_and_holds_the_retry_until_a_slot_frees() {
        let limiter = Arc::new(Limiter::new("s", 2, true));
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = |what: &'static str| {
            let events = events.clone();
            move |_: &()| {
                events.lock().unwrap().push(what);
                if what == "timed out" { Outcome::TimedOut } else { Outcome::Answered }
            }
        };
        let served = limiter.run(streams(Duration::from_millis(1), Duration::from_millis(10), 20), log("served"));
        let queued = async {
            limiter.run(tokio::time::sleep(Duration::from_millis(50)), log("timed out")).await;
            assert_eq!(limiter.limit(), 1, "one was streaming when it timed out");
            limiter.run(streams(Duration::from_millis(1), Duration::from_millis(1), 5), log("retried")).await;
        };
        tokio::join!(served, queued);
        assert_eq!(*events.lock().unwrap(), ["timed out", "served", "retried"], "the retry waited for the served request");
        assert_eq!(limiter.take_notices().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_dropped_midway_frees_its_slot() {
        let limiter = Limiter::new("s", 1, true);
        let abandoned = limiter.run(std::future::pending::<()>(), |_| Outcome::Answered);
        assert!(tokio::time::timeout(Duration::from_millis(10), abandoned).await.is_err());
        let next = limiter.run(async { 7 }, |_| Outcome::Answered);
        assert_eq!(tokio::time::timeout(Duration::from_millis(10), next).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_timeout_says_nothing_of_capacity() {
        let limiter = Limiter::new("s", 3, true);
        limiter.run(tokio::time::sleep(Duration::from_millis(5)), |_| Outcome::TimedOut).await;
        assert_eq!(limiter.limit(), 3);
    }
}

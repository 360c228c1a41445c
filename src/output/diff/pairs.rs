//! Gathering the messages of one request id until its pair is complete:
//! the request, the baseline response, the candidate response, and with
//! three targets the secondary response.
//!
//! Which message plays which role depends on how many `--output-http`
//! targets the run replays to:
//!
//! | targets | baseline                     | secondary | candidate            |
//! |---------|------------------------------|-----------|----------------------|
//! | 0       | original response (type 2)   | –         | a type 3 of the input |
//! | 1       | original response (type 2)   | –         | target 1             |
//! | 2       | target 1                     | –         | target 2             |
//! | 3       | target 1 (primary)           | target 2  | target 3             |
//!
//! Bounded: a pending id older than the timeout expires (counted as
//! unmatched), and so does the oldest one when more than [`MAX_PENDING`]
//! ids or [`MAX_PENDING_BYTES`] bytes wait.

use crate::message::{Message, PayloadType};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Most ids waiting for their pair.
pub const MAX_PENDING: usize = 200_000;
/// Most payload bytes held by waiting ids.
pub const MAX_PENDING_BYTES: usize = 512 << 20;

/// The role of a message in its pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Request = 0,
    Baseline = 1,
    Secondary = 2,
    Candidate = 3,
}

/// Which message is which, from the number of `--output-http` targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub targets: usize,
}

impl Roles {
    /// The role of `msg`; `None` for a message this run does not compare
    /// (a recorded type 3 while replaying to targets, a type 2 while
    /// comparing two targets).
    pub fn slot(&self, msg: &Message) -> Option<Slot> {
        match (msg.payload_type()?, msg.replay_target, self.targets) {
            (PayloadType::Request, _, _) => Some(Slot::Request),
            (PayloadType::Response, _, 0 | 1) => Some(Slot::Baseline),
            (PayloadType::ReplayedResponse, _, 0) => Some(Slot::Candidate),
            (PayloadType::ReplayedResponse, Some(0), 1) => Some(Slot::Candidate),
            (PayloadType::ReplayedResponse, Some(0), 2 | 3) => Some(Slot::Baseline),
            (PayloadType::ReplayedResponse, Some(1), 2) => Some(Slot::Candidate),
            (PayloadType::ReplayedResponse, Some(1), 3) => Some(Slot::Secondary),
            (PayloadType::ReplayedResponse, Some(2), 3) => Some(Slot::Candidate),
            _ => None,
        }
    }

    /// True when a pair needs a secondary response (three targets).
    pub fn has_secondary(&self) -> bool {
        self.targets >= 3
    }

    /// What is compared with what, in words.
    pub fn describe(&self) -> &'static str {
        match self.targets {
            0 => {
                "recorded original responses (type 2) against recorded replayed responses (type 3)"
            }
            1 => "original responses against the --output-http target",
            2 => "the first --output-http target (baseline) against the second (candidate)",
            _ => {
                "primary against candidate, with differences between primary and secondary counted as noise"
            }
        }
    }
}

/// A request id whose messages are all in.
#[derive(Debug)]
pub struct Pair {
    pub id: Bytes,
    pub request: Bytes,
    pub baseline: Bytes,
    pub secondary: Option<Bytes>,
    pub candidate: Bytes,
}

/// What [`Pairs::add`] did with a message.
#[derive(Debug)]
pub enum Added {
    /// Waiting for the rest of its pair.
    Pending,
    /// The pair is complete.
    Complete(Pair),
    /// Its slot was already filled; the message was not kept.
    Duplicate,
}

/// Why a pending id was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Older than the timeout.
    Timeout,
    /// Pushed out by newer ids (too many, or too many bytes, waiting).
    Full,
    /// Still open when gor stopped.
    Exit,
}

struct Pending {
    generation: u64,
    born: Instant,
    parts: [Option<Bytes>; 4],
    bytes: usize,
}

/// The ids waiting for the rest of their pair, oldest first.
pub struct Pairs {
    roles: Roles,
    timeout: Duration,
    max_pending: usize,
    max_bytes: usize,
    waiting: HashMap<Bytes, Pending, foldhash::fast::RandomState>,
    /// Ids in arrival order with their generation; entries of ids that
    /// completed stay until they reach the front or the queue is compacted.
    order: VecDeque<(Bytes, u64)>,
    generation: u64,
    bytes: usize,
}

impl Pairs {
    pub fn new(roles: Roles, timeout: Duration) -> Pairs {
        Pairs::with_limits(roles, timeout, MAX_PENDING, MAX_PENDING_BYTES)
    }

    pub fn with_limits(
        roles: Roles,
        timeout: Duration,
        max_pending: usize,
        max_bytes: usize,
    ) -> Pairs {
        Pairs {
            roles,
            timeout,
            max_pending,
            max_bytes,
            waiting: HashMap::default(),
            order: VecDeque::new(),
            generation: 0,
            bytes: 0,
        }
    }

    /// Ids waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Files `msg` (whose role is `slot`) under its id; ids pushed out to
    /// make room are handed to `expired` with their request, if it came.
    pub fn add(
        &mut self,
        slot: Slot,
        msg: Message,
        now: Instant,
        expired: &mut dyn FnMut(Option<Bytes>, Expiry),
    ) -> Added {
        let id = msg.meta.slice_ref(msg.id());
        let size = msg.data.len();
        let entry = match self.waiting.get_mut(&id) {
            Some(e) => e,
            None => {
                while !self.waiting.is_empty()
                    && (self.waiting.len() >= self.max_pending
                        || self.bytes + size > self.max_bytes)
                {
                    self.pop_oldest(expired, Expiry::Full);
                }
                self.generation += 1;
                self.order.push_back((id.clone(), self.generation));
                self.waiting.entry(id.clone()).or_insert(Pending {
                    generation: self.generation,
                    born: now,
                    parts: Default::default(),
                    bytes: 0,
                })
            }
        };
        let part = &mut entry.parts[slot as usize];
        if part.is_some() {
            return Added::Duplicate;
        }
        *part = Some(msg.data);
        entry.bytes += size;
        self.bytes += size;
        let needs_secondary = self.roles.has_secondary();
        let complete = entry.parts[Slot::Request as usize].is_some()
            && entry.parts[Slot::Baseline as usize].is_some()
            && entry.parts[Slot::Candidate as usize].is_some()
            && (!needs_secondary || entry.parts[Slot::Secondary as usize].is_some());
        if !complete {
            return Added::Pending;
        }
        let Some(mut done) = self.waiting.remove(&id) else {
            return Added::Pending;
        };
        self.bytes -= done.bytes;
        self.compact();
        let mut take = |s: Slot| done.parts[s as usize].take().unwrap_or_default();
        Added::Complete(Pair {
            request: take(Slot::Request),
            baseline: take(Slot::Baseline),
            secondary: needs_secondary.then(|| take(Slot::Secondary)),
            candidate: take(Slot::Candidate),
            id,
        })
    }

    /// Gives up the ids older than the timeout.
    pub fn expire(&mut self, now: Instant, expired: &mut dyn FnMut(Option<Bytes>, Expiry)) {
        while let Some((id, generation)) = self.order.front() {
            match self.waiting.get(id) {
                Some(p) if p.generation == *generation => {
                    if now.duration_since(p.born) < self.timeout {
                        break;
                    }
                    self.pop_oldest(expired, Expiry::Timeout);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Gives up every id still waiting (gor is stopping).
    pub fn drain(&mut self, expired: &mut dyn FnMut(Option<Bytes>, Expiry)) {
        while !self.waiting.is_empty() {
            self.pop_oldest(expired, Expiry::Exit);
        }
        self.order.clear();
    }

    fn pop_oldest(&mut self, expired: &mut dyn FnMut(Option<Bytes>, Expiry), why: Expiry) {
        while let Some((id, generation)) = self.order.pop_front() {
            if self
                .waiting
                .get(&id)
                .is_some_and(|p| p.generation == generation)
                && let Some(mut p) = self.waiting.remove(&id)
            {
                self.bytes -= p.bytes;
                expired(p.parts[Slot::Request as usize].take(), why);
                return;
            }
        }
    }

    /// Drops the order entries of completed ids once they outnumber the
    /// waiting ones, so the queue stays as small as what waits.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.waiting.len() + 1024 {
            let waiting = &self.waiting;
            self.order
                .retain(|(id, g)| waiting.get(id).is_some_and(|p| p.generation == *g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: PayloadType, id: &str, target: Option<u16>) -> Message {
        let mut m = Message::new(kind, id, 1, 0, &b"x"[..]);
        m.replay_target = target;
        m
    }

    #[test]
    fn roles_follow_the_number_of_targets() {
        let orig = msg(PayloadType::Response, "a", None);
        let recorded = msg(PayloadType::ReplayedResponse, "a", None);
        let t = |i| msg(PayloadType::ReplayedResponse, "a", Some(i));
        let r = |n| Roles { targets: n };
        assert_eq!(r(0).slot(&orig), Some(Slot::Baseline));
        assert_eq!(r(0).slot(&recorded), Some(Slot::Candidate));
        assert_eq!(r(1).slot(&orig), Some(Slot::Baseline));
        assert_eq!(r(1).slot(&recorded), None);
        assert_eq!(r(1).slot(&t(0)), Some(Slot::Candidate));
        assert_eq!(r(2).slot(&orig), None);
        assert_eq!(r(2).slot(&t(0)), Some(Slot::Baseline));
        assert_eq!(r(2).slot(&t(1)), Some(Slot::Candidate));
        assert_eq!(r(3).slot(&t(1)), Some(Slot::Secondary));
        assert_eq!(r(3).slot(&t(2)), Some(Slot::Candidate));
        assert_eq!(r(3).slot(&t(3)), None);
    }

    #[test]
    fn a_pair_completes_in_any_order_and_duplicates_are_refused() {
        let mut p = Pairs::new(Roles { targets: 1 }, Duration::from_secs(30));
        let now = Instant::now();
        let mut none = |_: Option<Bytes>, _: Expiry| panic!("nothing expires");
        let cand = msg(PayloadType::ReplayedResponse, "a", Some(0));
        assert!(matches!(
            p.add(Slot::Candidate, cand.clone(), now, &mut none),
            Added::Pending
        ));
        assert!(matches!(
            p.add(Slot::Candidate, cand.clone(), now, &mut none),
            Added::Duplicate
        ));
        let req = msg(PayloadType::Request, "a", None);
        assert!(matches!(
            p.add(Slot::Request, req, now, &mut none),
            Added::Pending
        ));
        let orig = msg(PayloadType::Response, "a", None);
        match p.add(Slot::Baseline, orig, now, &mut none) {
            Added::Complete(pair) => {
                assert_eq!(&pair.id[..], b"a");
                assert!(pair.secondary.is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(p.is_empty());
    }

    #[test]
    fn old_ids_expire_with_their_request_and_the_queue_stays_small() {
        let mut p = Pairs::new(Roles { targets: 3 }, Duration::from_secs(1));
        let start = Instant::now();
        let mut gone = Vec::new();
        let mut rec = |r: Option<Bytes>, why: Expiry| gone.push((r.is_some(), why));
        p.add(
            Slot::Request,
            msg(PayloadType::Request, "old", None),
            start,
            &mut rec,
        );
        for i in 0..10_000 {
            let id = format!("{i}");
            for (slot, t) in [
                (Slot::Baseline, 0),
                (Slot::Secondary, 1),
                (Slot::Candidate, 2),
            ] {
                p.add(
                    slot,
                    msg(PayloadType::ReplayedResponse, &id, Some(t)),
                    start,
                    &mut rec,
                );
            }
            let done = p.add(
                Slot::Request,
                msg(PayloadType::Request, &id, None),
                start,
                &mut rec,
            );
            assert!(matches!(done, Added::Complete(_)));
        }
        assert!(p.order.len() < 3000, "{}", p.order.len());
        p.expire(start + Duration::from_millis(500), &mut rec);
        assert_eq!(p.len(), 1);
        p.expire(start + Duration::from_secs(2), &mut rec);
        assert!(p.is_empty());
        p.add(
            Slot::Request,
            msg(PayloadType::Request, "late", None),
            start,
            &mut rec,
        );
        p.drain(&mut rec);
        assert_eq!(gone, vec![(true, Expiry::Timeout), (true, Expiry::Exit)]);
    }

    #[test]
    fn the_oldest_id_is_pushed_out_when_too_many_wait() {
        let mut p = Pairs::with_limits(Roles { targets: 1 }, Duration::from_secs(30), 2, 1 << 20);
        let now = Instant::now();
        let mut gone = Vec::new();
        let mut rec = |r: Option<Bytes>, why: Expiry| gone.push((r, why));
        for id in ["a", "b", "c"] {
            p.add(
                Slot::Request,
                msg(PayloadType::Request, id, None),
                now,
                &mut rec,
            );
        }
        assert_eq!(p.len(), 2);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1, Expiry::Full);
    }
}

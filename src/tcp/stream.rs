//! One direction of a TCP connection put back in order: segments go in by
//! sequence number (wrapping at 2^32), bytes come out contiguous.
//!
//! Retransmitted and overlapping segments add only the bytes not yet seen;
//! a segment ahead of a gap waits until the gap is filled. When capture
//! starts in the middle of a connection (no SYN seen), a segment that
//! arrives late with an *earlier* sequence number than the first one seen
//! still goes in front, as long as nothing has been taken out yet.
//!
//! Positions are kept as 64-bit offsets from the first byte seen, so the
//! 32-bit sequence wrap never matters past the point of entry.

use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Most bytes waiting behind a gap, per direction; beyond this a lost
/// segment is given up on (the message will expire).
pub const MAX_PENDING: usize = 32 * 1024 * 1024;
/// Most segments waiting behind a gap, per direction. Keeping them sorted
/// costs a move of the list per segment, so a flood of tiny segments must
/// not make the list long: 8 MiB (the reassembler's gap limit) of 1 KiB
/// segments still fits.
pub const MAX_PENDING_SEGMENTS: usize = 8192;
/// Smallest buffer growth.
const CHUNK: usize = 16 * 1024;
/// How far before the first byte seen a late segment may still go in front.
const REBASE_WINDOW: i64 = 16 * 1024 * 1024;

/// Which segment brought a byte: its ACK and capture time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub abs: i64,
    pub ack: u32,
    pub ts: i64,
}

struct Waiting {
    abs: i64,
    data: Vec<u8>,
    ack: u32,
    ts: i64,
}

/// What [`Assembler::insert`] did with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// New contiguous bytes; the segment's first new byte is at offset
    /// `at` (absolute).
    Appended { at: i64 },
    /// New bytes went in front of everything held (late first segment).
    Rebased,
    /// Held until a gap before it is filled.
    Buffered,
    /// Nothing new (a retransmission).
    Old,
    /// Too much waiting behind a gap: dropped.
    Overflow,
}

#[derive(Default)]
pub struct Assembler {
    started: bool,
    anchored: bool,
    base_seq: u32,
    /// Contiguous bytes not yet taken, starting at `buf_abs`.
    pub buf: BytesMut,
    pub buf_abs: i64,
    waiting: Vec<Waiting>,
    waiting_bytes: usize,
    marks: VecDeque<Mark>,
    /// Where the message being received says it ends (its declared
    /// length), if it says so.
    claimed_end: i64,
    /// Bytes were appended before: the buffer grows a chunk at a time.
    grown: bool,
}

impl Assembler {
    /// The next byte is at `seq` and nothing before it belongs to the
    /// stream (SYN seen).
    pub fn anchor(&mut self, seq: u32) {
        *self = Assembler {
            started: true,
            anchored: true,
            base_seq: seq,
            ..Assembler::default()
        };
    }

    /// From now on nothing may go in front of the bytes held (a message
    /// head was found at the front).
    pub fn pin(&mut self) {
        self.anchored = true;
    }

    /// Nothing can go in front of the bytes held any more.
    pub fn is_anchored(&self) -> bool {
        self.anchored
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    /// The message starting at the head of the buffer declares itself
    /// `len` bytes long: room for it is made as its bytes come (see
    /// `append`).
    pub fn expect(&mut self, len: usize) {
        self.claimed_end = self.buf_abs + len as i64;
    }

    /// Offset just past the last contiguous byte.
    pub fn end(&self) -> i64 {
        self.buf_abs + self.buf.len() as i64
    }

    /// Absolute offset of a sequence number (relative to the contiguous end,
    /// so any wrap is handled).
    pub fn abs_of(&self, seq: u32) -> i64 {
        let next = self.base_seq.wrapping_add(self.end() as u32);
        self.end() + i64::from(seq.wrapping_sub(next) as i32)
    }

    /// Sequence number of an absolute offset.
    pub fn seq_of(&self, abs: i64) -> u32 {
        self.base_seq.wrapping_add(abs as u32)
    }

    /// Bytes held behind a gap.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.waiting.is_empty()
    }

    /// Bytes of unfinished messages this direction holds: the contiguous
    /// ones and the segments waiting behind a gap. (Room reserved for bytes
    /// still to come is not counted: the kernel gives it pages only as the
    /// bytes come.)
    pub fn held(&self) -> usize {
        self.buf.len() + self.waiting_bytes
    }

    pub fn insert(&mut self, seq: u32, payload: &[u8], ack: u32, ts: i64) -> Insert {
        if !self.started {
            self.started = true;
            self.base_seq = seq;
        }
        let end = self.end();
        let abs = self.abs_of(seq);
        let seg_end = abs + payload.len() as i64;
        if abs < self.buf_abs && !self.anchored && self.buf_abs - abs <= REBASE_WINDOW {
            self.rebase(abs, payload, ack, ts);
            return Insert::Rebased;
        }
        if seg_end <= end {
            return Insert::Old;
        }
        if abs <= end {
            self.append(&payload[(end - abs) as usize..], end, ack, ts);
            self.drain_waiting();
            return Insert::Appended { at: end };
        }
        if self.waiting_bytes + payload.len() > MAX_PENDING
            || self.waiting.len() >= MAX_PENDING_SEGMENTS
        {
            return Insert::Overflow;
        }
        let pos = self.waiting.partition_point(|w| w.abs <= abs);
        self.waiting_bytes += payload.len();
        self.waiting.insert(
            pos,
            Waiting {
                abs,
                data: payload.to_vec(),
                ack,
                ts,
            },
        );
        Insert::Buffered
    }

    fn append(&mut self, bytes: &[u8], at: i64, ack: u32, ts: i64) {
        if bytes.is_empty() {
            return;
        }
        if self.buf.capacity() - self.buf.len() < bytes.len() {
            // Room for several small messages at once: each finished message
            // is split off this buffer without a copy or an allocation. A
            // large body whose bytes have filled what was reserved for it
            // gets the rest of its declared length at once, instead of
            // being copied at every doubling; a claim far beyond the bytes
            // that came is not trusted.
            let claimed = usize::try_from(self.claimed_end - self.end()).unwrap_or(0);
            let trusted = if claimed <= 4 * self.buf.len() {
                claimed
            } else {
                0
            };
            // A connection's first bytes get no more than they need: a
            // flood of connections that each send a few bytes must not
            // hold a chunk each.
            let room = if self.grown {
                bytes.len().max(CHUNK)
            } else {
                bytes.len()
            };
            self.grown = true;
            self.buf.reserve(room.max(trusted));
        }
        self.buf.extend_from_slice(bytes);
        self.marks.push_back(Mark { abs: at, ack, ts });
    }

    fn drain_waiting(&mut self) {
        while let Some(first) = self.waiting.first() {
            let end = self.end();
            if first.abs > end {
                break;
            }
            let w = self.waiting.remove(0);
            self.waiting_bytes -= w.data.len();
            let seg_end = w.abs + w.data.len() as i64;
            if seg_end > end {
                self.append(&w.data[(end - w.abs) as usize..], end, w.ack, w.ts);
            }
        }
    }

    /// A segment from before the first byte seen: everything held so far
    /// waits behind it instead.
    fn rebase(&mut self, abs: i64, payload: &[u8], ack: u32, ts: i64) {
        if !self.buf.is_empty() {
            let first = self.marks.front().copied().unwrap_or(Mark {
                abs: self.buf_abs,
                ack,
                ts,
            });
            let held = std::mem::take(&mut self.buf);
            self.waiting_bytes += held.len();
            self.waiting.insert(
                0,
                Waiting {
                    abs: self.buf_abs,
                    data: held.to_vec(),
                    ack: first.ack,
                    ts: first.ts,
                },
            );
        }
        self.marks.clear();
        self.buf_abs = abs;
        self.append(payload, abs, ack, ts);
        self.drain_waiting();
    }

    /// Capture time of the oldest segment waiting behind a gap.
    pub fn oldest_waiting_ts(&self) -> Option<i64> {
        self.waiting.iter().map(|w| w.ts).min()
    }

    pub fn waiting_bytes(&self) -> usize {
        self.waiting_bytes
    }

    /// Gives up on missing bytes: what is held before the gap is dropped
    /// and the stream goes on at the first segment after it. Returns that
    /// segment's offset.
    pub fn skip_gap(&mut self) -> Option<i64> {
        let first = self.waiting.first()?.abs;
        let n = self.buf.len();
        self.take(n);
        self.buf_abs = first;
        self.drain_waiting();
        Some(first)
    }

    /// Takes the first `n` contiguous bytes out (a finished message).
    pub fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.buf.len());
        let out = self.buf.split_to(n).freeze();
        self.buf_abs += n as i64;
        self.anchored = true;
        while self.marks.len() > 1 && self.marks[1].abs <= self.buf_abs {
            self.marks.pop_front();
        }
        if self.buf.is_empty() {
            self.marks.clear();
        }
        out
    }

    /// The segment that brought the byte at `abs`.
    pub fn mark_at(&self, abs: i64) -> Option<Mark> {
        let i = self.marks.partition_point(|m| m.abs <= abs);
        i.checked_sub(1).map(|i| self.marks[i])
    }

    /// Everything held, gaps closed up (for a message emitted unfinished).
    pub fn take_all_with_gaps(&mut self) -> Bytes {
        let mut all = BytesMut::with_capacity(self.buf.len() + self.waiting_bytes);
        all.extend_from_slice(&self.buf);
        for w in self.waiting.drain(..) {
            all.extend_from_slice(&w.data);
        }
        self.waiting_bytes = 0;
        let n = self.buf.len();
        self.take(n);
        all.freeze()
    }

    /// Capture time of the earliest byte held (for unfinished messages).
    pub fn first_ts(&self) -> Option<i64> {
        self.marks
            .front()
            .map(|m| m.ts)
            .or(self.waiting.first().map(|w| w.ts))
    }

    /// ACK of the earliest byte held.
    pub fn first_ack(&self) -> Option<u32> {
        self.marks
            .front()
            .map(|m| m.ack)
            .or(self.waiting.first().map(|w| w.ack))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_and_overlapping_segments_come_out_in_order() {
        let mut a = Assembler::default();
        a.anchor(1000);
        assert_eq!(a.insert(1005, b"fghij", 1, 1), Insert::Buffered);
        assert_eq!(a.insert(1003, b"defg", 1, 2), Insert::Buffered);
        assert_eq!(a.insert(1000, b"abc", 1, 3), Insert::Appended { at: 0 });
        assert_eq!(&a.buf[..], b"abcdefghij");
        assert_eq!(a.insert(1002, b"cd", 1, 4), Insert::Old);
        assert_eq!(a.insert(1008, b"ijkl", 1, 5), Insert::Appended { at: 10 });
        assert_eq!(&a.buf[..], b"abcdefghijkl");
    }

    #[test]
    fn sequence_wrap_is_seamless() {
        let mut a = Assembler::default();
        a.anchor(u32::MAX - 2);
        a.insert(0, b"def", 0, 0);
        a.insert(u32::MAX - 2, b"abc", 0, 0);
        assert_eq!(&a.buf[..], b"abcdef");
        assert_eq!(a.seq_of(a.end()), 3);
    }

    #[test]
    fn late_first_segment_goes_in_front_when_capture_began_mid_stream() {
        let mut a = Assembler::default();
        a.insert(500, b"BODY", 7, 2);
        assert_eq!(a.insert(490, b"HEAD:10by", 7, 1), Insert::Rebased);
        assert_eq!(a.insert(499, b"_", 7, 1), Insert::Appended { at: -1 });
        assert_eq!(&a.buf[..], b"HEAD:10by_BODY");
        assert_eq!(a.mark_at(a.buf_abs).map(|m| m.ts), Some(1));
    }

    #[test]
    fn skipping_a_gap_continues_after_it() {
        let mut a = Assembler::default();
        a.anchor(0);
        a.insert(0, b"ab", 0, 1);
        a.insert(5, b"fg", 0, 2);
        a.insert(7, b"h", 0, 3);
        assert_eq!(a.skip_gap(), Some(5));
        assert_eq!(&a.buf[..], b"fgh");
        assert_eq!(a.insert(8, b"i", 0, 4), Insert::Appended { at: 8 });
    }

    #[test]
    fn taking_bytes_keeps_the_marks_of_what_is_left() {
        let mut a = Assembler::default();
        a.anchor(0);
        a.insert(0, b"one", 10, 1);
        a.insert(3, b"two", 20, 2);
        assert_eq!(&a.take(4)[..], b"onet");
        assert_eq!(a.mark_at(a.buf_abs).map(|m| m.ack), Some(20));
    }
}

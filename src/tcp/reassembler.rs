//! The [`Reassembler`]: TCP segments in, complete HTTP messages out.
//!
//! Each connection has two directions, client→server (requests, type 1) and
//! server→client (responses, type 2), each put back in order by sequence
//! number ([`super::stream`]) and cut into messages as soon as a message is
//! complete ([`super::framing`]). GoReplay grouped segments by their ACK
//! number instead, which splits or merges messages whenever the peer's ACK
//! moves; here the ACK is used only to name the message.
//!
//! Pairing: a request's id is built from the ports, the client's IPv4 address
//! (last 4 bytes for IPv6) and the ACK of the segment that carried its first
//! byte, which is the sequence number of the first byte of its response.
//! Pipelined requests share that ACK, so a later one gets the ACK plus its
//! position in the pipeline (still 24 hex characters), and responses take the
//! ids of the requests waiting on their connection in order. A response whose
//! request was not seen is named from its own first sequence number, which
//! is what the request's id would have been.

use super::framing::{self, HeadScan, StartLine};
use super::stream::{Assembler, Insert};
use crate::http::framing::{BodyKind, ChunkStatus, ChunkWalker};
use crate::message::{Message, PayloadType};
use crate::stats::{self, Counter};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// How the payload of a connection is cut into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x framing: a message is emitted the moment it is complete.
    Http,
    /// Anything else: a message is what one side sent before the other side
    /// answered (or the connection closed, or went idle for the expiry time).
    Binary,
}

/// What the reassembler needs to know from `--input-raw-*`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server ports; empty means every port.
    pub ports: Vec<u16>,
    /// Emit responses (type 2).
    pub track_response: bool,
    /// The user's own BPF filter decides what is captured: whatever it lets
    /// through is emitted, responses included.
    pub custom_filter: bool,
    pub protocol: Protocol,
    /// Idle time after which an unfinished message is given up (ns).
    pub expire_ns: i64,
    /// Emit unfinished messages at expiry instead of dropping them.
    pub allow_incomplete: bool,
    /// Header set on every request to the client's IP address.
    pub realip_header: Option<Vec<u8>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ports: Vec::new(),
            track_response: true,
            custom_filter: false,
            protocol: Protocol::Http,
            expire_ns: 2_000_000_000,
            allow_incomplete: false,
            realip_header: None,
        }
    }
}

/// One decoded TCP segment, borrowed from the captured frame.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
    /// Capture time, Unix nanoseconds.
    pub ts_ns: i64,
}

/// Counters shown by `--input-raw-stats` and `--stats`.
#[derive(Clone)]
pub struct Counters {
    pub segments: Counter,
    pub requests: Counter,
    pub responses: Counter,
    pub retransmitted: Counter,
    pub expired_emitted: Counter,
    pub incomplete: Counter,
    pub not_http: Counter,
    pub gap_overflow: Counter,
    pub lost: Counter,
    pub too_large: Counter,
    pub over_memory_budget: Counter,
    pub unframeable: Counter,
}

impl Counters {
    fn new() -> Self {
        Counters {
            segments: stats::counter("input_raw.tcp_segments"),
            requests: stats::counter("input_raw.requests"),
            responses: stats::counter("input_raw.responses"),
            retransmitted: stats::counter("input_raw.retransmitted_segments"),
            expired_emitted: stats::counter("input_raw.incomplete_emitted"),
            incomplete: stats::drop_counter("input_raw.incomplete_messages"),
            not_http: stats::drop_counter("input_raw.not_http"),
            gap_overflow: stats::drop_counter("input_raw.segments_beyond_gap"),
            lost: stats::drop_counter("input_raw.missing_segments_skipped"),
            too_large: stats::drop_counter("input_raw.messages_too_large"),
            over_memory_budget: stats::drop_counter("input_raw.over_memory_budget"),
            unframeable: stats::drop_counter("input_raw.unframeable_messages"),
        }
    }
}

/// Largest message kept (a body beyond this is not buffered).
const MAX_MESSAGE: u64 = 1 << 30;
/// Most buffer reserved ahead of a body on the strength of its
/// `Content-Length`; a longer body gets the rest once its bytes fill this
/// (`Assembler::expect`).
const MAX_PRESIZE: usize = 1 << 20;
/// Junk held while looking for the next message start.
const MAX_JUNK: usize = 1024 * 1024;
/// Requests waiting for their responses, per connection.
const MAX_WAITING: usize = 4096;
/// How long bytes may wait behind a missing segment. A segment lost on the
/// network is retransmitted within TCP's minimum timeout (200 ms); one the
/// capture missed (kernel buffer full) never comes, and waiting for it would
/// hold up the connection forever.
const GAP_WAIT_NS: i64 = 300_000_000;
/// Bytes that may wait behind a missing segment before it is given up.
const GAP_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes the unfinished messages of all connections together may hold
/// (segments waiting behind gaps included). Clients choose how many
/// connections they open and how much of each body they send; past this,
/// the connections whose held messages are oldest are dropped (counted as
/// `input_raw.over_memory_budget`) until an eighth of the budget is free
/// again.
pub const MEMORY_BUDGET: usize = 1 << 30;

/// (client ip, client port, server ip, server port)
type FlowKey = (IpAddr, u16, IpAddr, u16);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Head {
        scanned: usize,
        line_ok: bool,
    },
    Length {
        end: usize,
    },
    /// A chunked body, walked up to offset `at` of the message.
    Chunked {
        walk: ChunkWalker,
        at: usize,
    },
    UntilClose,
    /// Bytes that are not HTTP: held until a segment starts a message again.
    Lost,
    /// After `101 Switching Protocols`: the rest is not HTTP/1.
    Tunnel,
}

impl Default for Phase {
    fn default() -> Self {
        Phase::Head {
            scanned: 0,
            line_ok: false,
        }
    }
}

#[derive(Clone, Copy)]
struct Current {
    ts: i64,
    id: [u8; 12],
    delete_expect: bool,
    /// A response to a request still waiting (1xx interim: the request keeps
    /// waiting for its final response).
    switches_protocol: bool,
}

#[derive(Default)]
struct Half {
    asm: Assembler,
    phase: Phase,
    current: Option<Current>,
    last_ts: i64,
    fin_abs: Option<i64>,
    closed: bool,
}

#[derive(Clone, Copy)]
struct Waiting {
    id: [u8; 12],
    /// The request's ACK: the sequence number its response starts at.
    ack: u32,
    is_head: bool,
    /// A CONNECT: a 2xx answer turns the connection into a tunnel.
    is_connect: bool,
}

struct Connection {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    halves: [Half; 2],
    waiting: VecDeque<Waiting>,
    last_request_ack: Option<u32>,
    pipelined: u32,
    last_ts: i64,
    /// Bytes its halves held when last looked at (counted in
    /// `Reassembler::memory`).
    memory: usize,
}

impl Connection {
    fn new(key: FlowKey) -> Self {
        Connection {
            client: (key.0, key.1),
            server: (key.2, key.3),
            halves: [Half::default(), Half::default()],
            waiting: VecDeque::new(),
            last_request_ack: None,
            pipelined: 0,
            last_ts: 0,
            memory: 0,
        }
    }

    /// Bytes its halves hold now.
    fn memory_now(&self) -> usize {
        self.halves.iter().map(|h| h.asm.held()).sum()
    }

    /// When the oldest message it holds began (`None`: it holds none).
    fn oldest_held(&self) -> Option<i64> {
        self.halves
            .iter()
            .filter(|h| !h.asm.is_empty())
            .filter_map(|h| h.asm.first_ts().or(Some(h.last_ts)))
            .min()
    }

    fn id(&self, n: u32) -> [u8; 12] {
        let mut id = [0u8; 12];
        id[0..2].copy_from_slice(&self.client.1.to_be_bytes());
        id[2..4].copy_from_slice(&self.server.1.to_be_bytes());
        let ip = match self.client.0 {
            IpAddr::V4(a) => a.octets(),
            IpAddr::V6(a) => {
                let o = a.octets();
                [o[12], o[13], o[14], o[15]]
            }
        };
        id[4..8].copy_from_slice(&ip);
        id[8..12].copy_from_slice(&n.to_be_bytes());
        id
    }
}

/// Turns captured TCP segments into HTTP messages. Feed it with
/// [`Reassembler::push`], call [`Reassembler::expire`] now and then (every
/// 100 ms is plenty), and [`Reassembler::finish`] at the end of a file.
pub struct Reassembler {
    ctx: Ctx,
    /// Keyed by addresses and ports that clients choose, so hashed with a
    /// seed drawn at random for each table: nobody can pick thousands of
    /// connections that fall into one bucket and make every lookup slow.
    conns: HashMap<FlowKey, Connection, foldhash::fast::RandomState>,
    /// Bytes held by every connection (the sum of their `memory`).
    memory: usize,
    /// [`MEMORY_BUDGET`] (smaller in tests).
    budget: usize,
}

/// Everything but the connection table, so a connection can be borrowed
/// from the table while the rules run.
struct Ctx {
    config: Config,
    counters: Counters,
    emit_responses: bool,
    /// Header lines are written here and split off, one allocation for
    /// many messages.
    metas: bytes::BytesMut,
    /// Streams found not to be HTTP by this reassembler (the global counter
    /// is shared by every capture).
    not_http: u64,
    /// Largest message kept: [`MAX_MESSAGE`] (smaller in tests).
    max_message: u64,
}

/// Where messages go.
pub type Sink<'a> = dyn FnMut(Message) + 'a;

const REQ: usize = 0;
const RESP: usize = 1;

impl Reassembler {
    pub fn new(config: Config) -> Self {
        Reassembler {
            ctx: Ctx {
                emit_responses: config.track_response || config.custom_filter,
                config,
                counters: Counters::new(),
                metas: bytes::BytesMut::new(),
                not_http: 0,
                max_message: MAX_MESSAGE,
            },
            conns: HashMap::default(),
            memory: 0,
            budget: MEMORY_BUDGET,
        }
    }

    /// Sets the memory budget (see [`MEMORY_BUDGET`]).
    pub fn set_memory_budget(&mut self, bytes: usize) {
        self.budget = bytes;
    }

    /// Bytes the connections' unfinished messages hold now (what the
    /// budget bounds).
    pub fn memory(&self) -> usize {
        self.memory
    }

    pub fn counters(&self) -> &Counters {
        &self.ctx.counters
    }

    /// Streams this reassembler found not to be HTTP.
    pub fn not_http_streams(&self) -> u64 {
        self.ctx.not_http
    }

    /// Connections currently tracked.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Adds one segment; complete messages go to `out` at once.
    pub fn push(&mut self, seg: &Segment, out: &mut Sink) {
        self.ctx.counters.segments.inc();
        let Ok(dir) = self.ctx.direction(seg) else {
            return;
        };
        let fwd: FlowKey = (seg.src, seg.src_port, seg.dst, seg.dst_port);
        let rev: FlowKey = (seg.dst, seg.dst_port, seg.src, seg.src_port);
        let (key, side) = match dir {
            Some(true) => (fwd, REQ),
            Some(false) => (rev, RESP),
            None if self.conns.contains_key(&fwd) => (fwd, REQ),
            None if self.conns.contains_key(&rev) => (rev, RESP),
            None => {
                if client_sent(seg) {
                    (fwd, REQ)
                } else {
                    (rev, RESP)
                }
            }
        };
        let conn = match self.conns.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            // a bare ACK or FIN of a connection we never saw
            std::collections::hash_map::Entry::Vacant(_) if seg.payload.is_empty() && !seg.syn => {
                return;
            }
            std::collections::hash_map::Entry::Vacant(e) => e.insert(Connection::new(key)),
        };
        // A SYN on a connection we already know: the ports were reused, the
        // old connection is over.
        if seg.syn
            && conn.halves[side].asm.is_started()
            && conn.halves[side].asm.seq_of(0) != seg.seq.wrapping_add(1)
        {
            let old = std::mem::replace(conn, Connection::new(key));
            self.memory -= old.memory;
            self.ctx.give_up(old, out);
        }
        let open = self.ctx.on_segment(conn, side, seg, out);
        let now = conn.memory_now();
        self.memory = self.memory - conn.memory + now;
        conn.memory = now;
        if !open && let Some(conn) = self.conns.remove(&key) {
            self.memory -= conn.memory;
        }
        if self.memory > self.budget {
            self.shed();
        }
    }

    /// Over the memory budget: the connections holding the oldest
    /// unfinished messages are dropped (counted) until an eighth of the
    /// budget is free.
    fn shed(&mut self) {
        let target = self.budget - self.budget / 8;
        let mut by_age: Vec<(i64, FlowKey)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| c.oldest_held().map(|ts| (ts, *k)))
            .collect();
        by_age.sort_unstable_by_key(|(ts, _)| *ts);
        let c = &self.ctx.counters.over_memory_budget;
        for (_, key) in by_age {
            if self.memory <= target {
                break;
            }
            let Some(conn) = self.conns.remove(&key) else {
                continue;
            };
            self.memory -= conn.memory;
            let messages = conn.halves.iter().filter(|h| !h.asm.is_empty()).count() as u64;
            c.drop_one(&format_args!(
                "unfinished messages held more than the capture's {} MiB memory budget; the oldest were dropped",
                self.budget >> 20
            ));
            c.add(messages.saturating_sub(1));
        }
    }

    /// Ends connections idle for longer than the expiry time at `now_ns`
    /// (capture clock): their unfinished messages are dropped (counted) or,
    /// with allow-incomplete or the binary protocol, emitted.
    pub fn expire(&mut self, now_ns: i64, out: &mut Sink) {
        for conn in self.conns.values_mut() {
            for side in [REQ, RESP] {
                if conn.halves[side].asm.has_waiting() {
                    self.ctx.check_gap(conn, side, now_ns, out);
                }
            }
        }
        let limit = now_ns.saturating_sub(self.ctx.config.expire_ns);
        let idle: Vec<FlowKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.last_ts < limit)
            .map(|(k, _)| *k)
            .collect();
        for key in idle {
            if let Some(conn) = self.conns.remove(&key) {
                self.ctx.give_up(conn, out);
            }
        }
        let mut memory = 0;
        for conn in self.conns.values_mut() {
            conn.memory = conn.memory_now();
            memory += conn.memory;
        }
        self.memory = memory;
    }

    /// The capture is over: every connection ends as if it expired.
    pub fn finish(&mut self, out: &mut Sink) {
        for (_, conn) in self.conns.drain() {
            self.ctx.give_up(conn, out);
        }
        self.memory = 0;
    }
}

impl Ctx {
    /// Which way a segment goes: `Some(true)` client→server, `Some(false)`
    /// server→client, `None` unknown yet; `Err(())` not ours.
    fn direction(&self, seg: &Segment) -> Result<Option<bool>, ()> {
        if self.config.ports.is_empty() {
            return Ok(None);
        }
        if self.config.ports.contains(&seg.dst_port) {
            Ok(Some(true))
        } else if self.config.ports.contains(&seg.src_port) {
            // A binary request ends when the server speaks, so the
            // server's segments matter even when they are not emitted.
            if self.emit_responses || self.config.protocol == Protocol::Binary {
                Ok(Some(false))
            } else {
                Err(())
            }
        } else if self.config.custom_filter {
            Ok(None)
        } else {
            Err(())
        }
    }

    /// Returns false when the connection is over.
    fn on_segment(
        &mut self,
        conn: &mut Connection,
        side: usize,
        seg: &Segment,
        out: &mut Sink,
    ) -> bool {
        conn.last_ts = seg.ts_ns;
        // (a repeated SYN, e.g. a retransmission, must not wipe what came
        // after the first one)
        if seg.syn && !conn.halves[side].asm.is_started() {
            conn.halves[side].asm.anchor(seg.seq.wrapping_add(1));
        }
        if !seg.payload.is_empty() {
            if self.config.protocol == Protocol::Binary {
                self.binary_turn(conn, 1 - side, out);
            }
            let half = &mut conn.halves[side];
            half.last_ts = seg.ts_ns;
            match half.asm.insert(seg.seq, seg.payload, seg.ack, seg.ts_ns) {
                Insert::Appended { at } => {
                    let starts_here = at == half.asm.abs_of(seg.seq);
                    self.advance(conn, side, starts_here.then_some(at), out);
                }
                Insert::Rebased => {
                    let half = &mut conn.halves[side];
                    if matches!(half.phase, Phase::Lost | Phase::Head { .. }) {
                        half.phase = Phase::default();
                        half.current = None;
                    }
                    self.advance(conn, side, None, out);
                }
                Insert::Buffered => self.check_gap(conn, side, seg.ts_ns, out),
                Insert::Old => self.counters.retransmitted.inc(),
                Insert::Overflow => self
                    .counters
                    .gap_overflow
                    .drop_one(&"a TCP segment arrived too far beyond a missing one"),
            }
            // Binary: one side that never stops talking is not held past the
            // message limit.
            let half = &mut conn.halves[side];
            if self.config.protocol == Protocol::Binary
                && half.asm.buf.len() as u64 > self.max_message
            {
                let n = half.asm.buf.len();
                half.asm.take(n);
                half.current = None;
                self.counters
                    .too_large
                    .drop_one(&"a message larger than 1 GiB was not captured");
            }
        }
        if seg.fin {
            let half = &mut conn.halves[side];
            let abs = half.asm.abs_of(seg.seq) + seg.payload.len() as i64;
            half.fin_abs = Some(abs);
        }
        for s in [REQ, RESP] {
            let half = &conn.halves[s];
            if !half.closed && half.fin_abs.is_some_and(|f| f <= half.asm.end()) {
                self.on_close(conn, s, out);
            }
        }
        if seg.rst {
            self.on_close(conn, side, out);
            let other = 1 - side;
            if !conn.halves[other].closed {
                self.on_close(conn, other, out);
            }
            return false;
        }
        !(conn.halves[REQ].closed && conn.halves[RESP].closed)
    }

    /// Bytes have waited behind a missing segment for too long: the segment
    /// will not come (the capture missed it). The message it belonged to is
    /// lost (counted); the stream goes on after the gap.
    fn check_gap(&mut self, conn: &mut Connection, side: usize, now_ns: i64, out: &mut Sink) {
        let half = &mut conn.halves[side];
        let Some(oldest) = half.asm.oldest_waiting_ts() else {
            return;
        };
        if now_ns.saturating_sub(oldest) < GAP_WAIT_NS && half.asm.waiting_bytes() < GAP_BYTES {
            return;
        }
        if self.config.protocol == Protocol::Binary {
            self.binary_turn(conn, side, out);
        }
        let half = &mut conn.halves[side];
        self.counters.lost.drop_one(
            &"packets of a connection were never captured (kernel buffer full?); the messages they belonged to are lost",
        );
        let Some(at) = half.asm.skip_gap() else {
            return;
        };
        half.phase = Phase::Lost;
        half.current = None;
        self.advance(conn, side, Some(at), out);
    }

    /// Binary protocol: the other side speaks, so what this side said is a
    /// message.
    fn binary_turn(&mut self, conn: &mut Connection, side: usize, out: &mut Sink) {
        if conn.halves[side].asm.buf.is_empty() {
            return;
        }
        let n = conn.halves[side].asm.buf.len();
        self.start_binary(conn, side);
        self.complete(conn, side, n, out);
    }

    fn start_binary(&mut self, conn: &mut Connection, side: usize) {
        if conn.halves[side].current.is_some() {
            return;
        }
        let half = &conn.halves[side];
        let mark = half.asm.mark_at(half.asm.buf_abs);
        let ts = mark.map_or(half.last_ts, |m| m.ts);
        let id = if side == REQ {
            let ack = mark.map_or(0, |m| m.ack);
            let id = conn.id(ack);
            if self.emit_responses {
                push_waiting(conn, id, ack, false, false);
            }
            id
        } else {
            let seq = half.asm.seq_of(half.asm.buf_abs);
            request_for(conn, seq, true).map_or(conn.id(seq), |w| w.id)
        };
        conn.halves[side].current = Some(Current {
            ts,
            id,
            delete_expect: false,
            switches_protocol: false,
        });
    }

    /// Cuts every complete message out of one direction. `boundary` is where
    /// the segment just added began, if it began at new bytes (used to find
    /// HTTP again after bytes that were not).
    fn advance(
        &mut self,
        conn: &mut Connection,
        side: usize,
        mut boundary: Option<i64>,
        out: &mut Sink,
    ) {
        if self.config.protocol == Protocol::Binary {
            return;
        }
        let is_req = side == REQ;
        loop {
            let half = &mut conn.halves[side];
            if half.asm.buf.is_empty() {
                return;
            }
            match half.phase.clone() {
                Phase::Tunnel => {
                    let n = half.asm.buf.len();
                    half.asm.take(n);
                    return;
                }
                Phase::Lost => {
                    let held = half.asm.buf.len();
                    if let Some(b) = boundary.take() {
                        let at = b - half.asm.buf_abs;
                        if at >= 0
                            && (at as usize) < held
                            && framing::looks_like_start(&half.asm.buf[at as usize..], is_req)
                        {
                            half.asm.take(at as usize);
                            half.phase = Phase::default();
                            half.current = None;
                            continue;
                        }
                    }
                    // Junk is kept only while an earlier segment may still
                    // arrive and go in front of it (capture began mid-stream).
                    if half.asm.is_anchored() || held > MAX_JUNK {
                        half.asm.take(held);
                    }
                    return;
                }
                Phase::Head { scanned, line_ok } => {
                    if half.current.is_none() {
                        let mark = half.asm.mark_at(half.asm.buf_abs);
                        half.current = Some(Current {
                            ts: mark.map_or(half.last_ts, |m| m.ts),
                            id: [0; 12],
                            delete_expect: false,
                            switches_protocol: false,
                        });
                    }
                    let mut line_ok = line_ok;
                    // Capture began mid-connection: only a segment that
                    // clearly starts a message may start one (the bytes
                    // before it may be the tail of a body).
                    if !line_ok && !half.asm.is_anchored() {
                        match framing::maybe_start(&half.asm.buf, is_req) {
                            Some(true) => {}
                            Some(false) => {
                                self.lose(conn, side);
                                continue;
                            }
                            None => return,
                        }
                    }
                    let half = &mut conn.halves[side];
                    if !line_ok {
                        match framing::start_line_ok(&half.asm.buf, is_req) {
                            Some(true) => line_ok = true,
                            Some(false) => {
                                self.lose(conn, side);
                                continue;
                            }
                            None => return,
                        }
                    }
                    let half = &mut conn.halves[side];
                    match framing::scan_head(&half.asm.buf, scanned, is_req) {
                        HeadScan::NeedMore { scanned } => {
                            half.phase = Phase::Head { scanned, line_ok };
                            return;
                        }
                        HeadScan::NotHttp => {
                            self.lose(conn, side);
                            continue;
                        }
                        HeadScan::Found(head) => self.on_head(conn, side, head),
                    }
                }
                Phase::Length { end } => {
                    if half.asm.buf.len() < end {
                        return;
                    }
                    self.complete(conn, side, end, out);
                }
                Phase::Chunked { mut walk, at } => {
                    let (used, status) = walk.walk(&half.asm.buf[at..], |_| {});
                    let at = at + used;
                    match status {
                        ChunkStatus::NeedMore if half.asm.buf.len() as u64 > self.max_message => {
                            self.too_large(conn, side);
                        }
                        ChunkStatus::NeedMore => {
                            half.phase = Phase::Chunked { walk, at };
                            return;
                        }
                        ChunkStatus::Done => self.complete(conn, side, at, out),
                        ChunkStatus::Invalid(_) => self.unframeable(conn, side, at),
                    }
                }
                // A body without a length ends at the close; one that does
                // not end is not held past the message limit.
                Phase::UntilClose if half.asm.buf.len() as u64 > self.max_message => {
                    self.too_large(conn, side);
                }
                Phase::UntilClose => return,
            }
        }
    }

    /// A head was found: name the message and decide where its body ends
    /// (`crate::http::framing` has the rules). A message whose framing
    /// cannot be known is dropped and counted.
    fn on_head(&mut self, conn: &mut Connection, side: usize, head: framing::Head) {
        if let StartLine::Request { .. } = head.start {
            // Judged before the request is named or waits for a response.
            match head.framing.request_body() {
                Err(_) => return self.unframeable(conn, side, head.len),
                Ok(BodyKind::Length(body)) if body > self.max_message => {
                    conn.halves[side].asm.take(head.len);
                    return self.too_large(conn, side);
                }
                _ => {}
            }
        }
        let half = &conn.halves[side];
        let first_abs = half.asm.buf_abs;
        let mark = half.asm.mark_at(first_abs);
        let mut cur = half.current.unwrap_or(Current {
            ts: half.last_ts,
            id: [0; 12],
            delete_expect: false,
            switches_protocol: false,
        });
        let kind = match head.start {
            StartLine::Request {
                is_head,
                is_connect,
            } => {
                let ack = mark.map_or(0, |m| m.ack);
                if conn.last_request_ack == Some(ack) {
                    conn.pipelined = conn.pipelined.wrapping_add(1);
                } else {
                    conn.pipelined = 0;
                }
                conn.last_request_ack = Some(ack);
                cur.id = conn.id(ack.wrapping_add(conn.pipelined));
                cur.delete_expect = head.framing.expects_continue();
                if self.emit_responses {
                    push_waiting(conn, cur.id, ack, is_head, is_connect);
                }
                head.framing.request_body()
            }
            StartLine::Response { status } => {
                let seq = half.asm.seq_of(first_abs);
                let own = conn.id(seq);
                let interim = (100..200).contains(&status) && status != 101;
                let w = request_for(conn, seq, !interim);
                cur.id = w.map_or(own, |w| w.id);
                let is_head_req = !interim && w.is_some_and(|w| w.is_head);
                let tunnel =
                    !interim && (200..300).contains(&status) && w.is_some_and(|w| w.is_connect);
                cur.switches_protocol = status == 101 || tunnel;
                let is_connect_req = !interim && w.is_some_and(|w| w.is_connect);
                head.framing
                    .response_body(is_head_req, is_connect_req, status)
            }
        };
        let phase = match kind {
            Ok(BodyKind::Empty) => Phase::Length { end: head.len },
            Ok(BodyKind::Length(body)) if body > self.max_message => {
                conn.halves[side].asm.take(head.len);
                return self.too_large(conn, side);
            }
            Ok(BodyKind::Length(body)) => Phase::Length {
                end: head.len + body as usize,
            },
            Ok(BodyKind::Chunked) => Phase::Chunked {
                walk: ChunkWalker::new(),
                at: head.len,
            },
            Ok(BodyKind::UntilClose) => Phase::UntilClose,
            Err(_) => return self.unframeable(conn, side, head.len),
        };
        let half = &mut conn.halves[side];
        half.asm.pin();
        if let Phase::Length { end } = phase {
            // one allocation for the whole body instead of repeated doubling,
            // up to a point: the length is the sender's claim, trusted only
            // once the body's bytes are coming (as many as a quarter of the
            // rest already there), so that a flood of heads claiming large
            // bodies that never come reserves nothing
            let have = half.asm.buf.len();
            let want = end.saturating_sub(have);
            if want <= 4 * have {
                half.asm.buf.reserve(want.min(MAX_PRESIZE));
            }
            half.asm.expect(end);
        }
        half.current = Some(cur);
        half.phase = phase;
    }

    /// A message whose body cannot be delimited (conflicting or invalid
    /// `Content-Length`, a request's `Transfer-Encoding` not ending in
    /// `chunked`, broken chunked coding): dropped and counted; its first
    /// `seen` bytes (at least the head) are let go of, and the stream goes
    /// on at the next segment that starts a message.
    fn unframeable(&mut self, conn: &mut Connection, side: usize, seen: usize) {
        self.counters.unframeable.drop_one(
            &"an HTTP message whose body length cannot be known (conflicting or invalid Content-Length, Transfer-Encoding not ending in chunked) was not captured",
        );
        conn.halves[side].asm.take(seen);
        self.drop_message(conn, side);
    }

    /// Forgets the message at the head of this direction: its bytes are
    /// skipped until a segment starts a message again.
    fn drop_message(&mut self, conn: &mut Connection, side: usize) {
        let half = &mut conn.halves[side];
        half.phase = Phase::Lost;
        half.current = None;
    }

    /// A chunked or close-delimited body went past the message limit: the
    /// message is dropped (counted) and the stream goes on after it.
    fn too_large(&mut self, conn: &mut Connection, side: usize) {
        self.counters
            .too_large
            .drop_one(&"an HTTP message larger than 1 GiB was not captured");
        self.drop_message(conn, side);
    }

    /// The bytes at the head of this direction are not HTTP.
    fn lose(&mut self, conn: &mut Connection, side: usize) {
        let half = &mut conn.halves[side];
        if half.phase != Phase::Lost {
            self.not_http += 1;
            self.counters
                .not_http
                .drop_one(&"bytes that are not HTTP/1.x were seen on a captured port");
        }
        half.phase = Phase::Lost;
        half.current = None;
    }

    /// The first `end` bytes of this direction are one complete message.
    fn complete(&mut self, conn: &mut Connection, side: usize, end: usize, out: &mut Sink) {
        let half = &mut conn.halves[side];
        let cur = half.current.take();
        let data = half.asm.take(end);
        half.phase = Phase::default();
        let last_ts = half.last_ts;
        let Some(cur) = cur else {
            return;
        };
        if cur.switches_protocol {
            conn.halves[REQ].phase = Phase::Tunnel;
            conn.halves[RESP].phase = Phase::Tunnel;
        }
        self.emit(conn, side, cur, data, last_ts, out);
    }

    fn emit(
        &mut self,
        conn: &Connection,
        side: usize,
        cur: Current,
        data: Bytes,
        last_ts: i64,
        out: &mut Sink,
    ) {
        let kind = if side == REQ {
            PayloadType::Request
        } else {
            PayloadType::Response
        };
        if kind == PayloadType::Response && !self.emit_responses {
            return;
        }
        let mut data = data;
        if kind == PayloadType::Request && self.config.protocol == Protocol::Http {
            if cur.delete_expect {
                // GoReplay removes it too: a replayed request must not wait
                // for a `100 Continue` the replay target may never send.
                data = crate::http::headers::delete_header(&data, b"Expect").into();
            }
            if let Some(name) = &self.config.realip_header {
                let ip = conn.client.0.to_string();
                data = crate::http::headers::set_header(&data, name, ip.as_bytes()).into();
            }
            self.counters.requests.inc();
        } else if kind == PayloadType::Request {
            self.counters.requests.inc();
        } else {
            self.counters.responses.inc();
        }
        let meta = meta_line(
            &mut self.metas,
            kind,
            &cur.id,
            cur.ts,
            last_ts.saturating_sub(cur.ts).max(0),
        );
        out(Message::from_parts(meta, data));
    }

    /// All bytes of this direction up to its FIN are in.
    fn on_close(&mut self, conn: &mut Connection, side: usize, out: &mut Sink) {
        if conn.halves[side].closed {
            return;
        }
        conn.halves[side].closed = true;
        let half = &conn.halves[side];
        if half.asm.buf.is_empty() && !half.asm.has_waiting() {
            return;
        }
        if self.config.protocol == Protocol::Binary {
            self.binary_turn(conn, side, out);
            return;
        }
        if half.phase == Phase::UntilClose && !half.asm.has_waiting() {
            let n = half.asm.buf.len();
            self.complete(conn, side, n, out);
            return;
        }
        self.unfinished(conn, side, out);
    }

    /// A message that will never be finished: dropped and counted, or
    /// emitted as it is with `--input-raw-allow-incomplete`.
    fn unfinished(&mut self, conn: &mut Connection, side: usize, out: &mut Sink) {
        let half = &mut conn.halves[side];
        if half.asm.is_empty() {
            return;
        }
        let lost = half.phase == Phase::Lost || half.phase == Phase::Tunnel;
        let mut cur = half.current.take();
        let first_ts = half.asm.first_ts().unwrap_or(half.last_ts);
        let first_ack = half.asm.first_ack().unwrap_or(0);
        let first_seq = half.asm.seq_of(half.asm.buf_abs);
        let data = half.asm.take_all_with_gaps();
        half.phase = Phase::default();
        let last_ts = half.last_ts;
        if lost {
            return;
        }
        if self.config.protocol == Protocol::Binary {
            if cur.is_none() {
                // a message is named from its first segment
                let id = if side == REQ {
                    conn.id(first_ack)
                } else {
                    request_for(conn, first_seq, true).map_or(conn.id(first_seq), |w| w.id)
                };
                cur = Some(Current {
                    ts: first_ts,
                    id,
                    delete_expect: false,
                    switches_protocol: false,
                });
            }
            if let Some(cur) = cur {
                self.emit(conn, side, cur, data, last_ts, out);
            }
            return;
        }
        if !self.config.allow_incomplete {
            self.counters.incomplete.drop_one(
                &"an HTTP message was still unfinished when its connection went idle or closed",
            );
            return;
        }
        let id = match cur {
            Some(c) if c.id != [0; 12] => c.id,
            _ if side == REQ => conn.id(first_ack),
            _ => conn.id(first_seq),
        };
        self.counters.expired_emitted.inc();
        let cur = Current {
            ts: first_ts,
            id,
            delete_expect: false,
            switches_protocol: false,
        };
        self.emit(conn, side, cur, data, last_ts, out);
    }

    fn give_up(&mut self, mut conn: Connection, out: &mut Sink) {
        for side in [REQ, RESP] {
            if self.config.protocol == Protocol::Binary {
                self.binary_turn(&mut conn, side, out);
            }
            self.unfinished(&mut conn, side, out);
        }
    }
}

/// The header line (`<type> <id> <timestamp> <latency>\n`, as
/// [`crate::message::header_line`] writes it) without the formatting
/// machinery: it is built once per message on the capture thread.
fn meta_line(
    buf: &mut bytes::BytesMut,
    kind: PayloadType,
    id: &[u8; 12],
    ts: i64,
    latency: i64,
) -> Bytes {
    if buf.capacity() < 64 {
        buf.reserve(8192);
    }
    buf.extend_from_slice(&[kind.as_byte(), b' ']);
    let mut hex = [0u8; 24];
    crate::hex::encode_into(id, &mut hex);
    buf.extend_from_slice(&hex);
    buf.extend_from_slice(b" ");
    push_int(buf, ts);
    buf.extend_from_slice(b" ");
    push_int(buf, latency);
    buf.extend_from_slice(b"\n");
    buf.split().freeze()
}

fn push_int(out: &mut bytes::BytesMut, n: i64) {
    if n < 0 {
        out.extend_from_slice(b"-");
    }
    let mut v = n.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn push_waiting(conn: &mut Connection, id: [u8; 12], ack: u32, is_head: bool, is_connect: bool) {
    if conn.waiting.len() >= MAX_WAITING {
        conn.waiting.pop_front();
    }
    conn.waiting.push_back(Waiting {
        id,
        ack,
        is_head,
        is_connect,
    });
}

/// The request a response starting at sequence `seq` answers: the one
/// whose ACK is `seq` (requests before it lost their responses), else the
/// oldest waiting one sent before `seq` (pipelined requests share an ACK).
/// `take` removes it from the queue (a final response) or not (1xx).
fn request_for(conn: &mut Connection, seq: u32, take: bool) -> Option<Waiting> {
    let exact = conn.waiting.iter().position(|w| w.ack == seq);
    let i = match exact {
        Some(i) => i,
        None => {
            let front = conn.waiting.front()?;
            if (seq.wrapping_sub(front.ack) as i32) < 0 {
                return None; // that request came after this response began
            }
            0
        }
    };
    if !take {
        return conn.waiting.get(i).map(|w| Waiting { ..*w });
    }
    conn.waiting.drain(..i);
    conn.waiting.pop_front()
}

/// For a connection seen for the first time without a known server port:
/// did this segment come from the client?
fn client_sent(seg: &Segment) -> bool {
    if seg.syn {
        return !seg.ack_flag;
    }
    if framing::looks_like_start(seg.payload, true) {
        return true;
    }
    if framing::looks_like_start(seg.payload, false) {
        return false;
    }
    // Servers usually listen on the lower port.
    seg.src_port > seg.dst_port
}

#[cfg(test)]
pub(crate) fn tests_meta_line(kind: PayloadType, id: &[u8; 12], ts: i64, latency: i64) -> Bytes {
    meta_line(&mut bytes::BytesMut::new(), kind, id, ts, latency)
}

#[cfg(test)]
impl Reassembler {
    /// Buffer capacity held by every connection (what a claimed length
    /// could inflate).
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.halves.iter())
            .map(|h| h.asm.buf.capacity())
            .sum()
    }

    /// Bytes held by every connection.
    pub(crate) fn held_bytes(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.halves.iter())
            .map(|h| h.asm.buf.len())
            .sum()
    }

    pub(crate) fn set_max_message(&mut self, n: u64) {
        self.ctx.max_message = n;
    }
}

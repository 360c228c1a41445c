//! The copy loops: one thread per input reads messages and hands each to the
//! outputs (all of them, or one in turn with `--split-output`).
//!
//! Per message: skip empty payloads, cut to `--copy-buffer-size`,
//! skip records whose header has fewer than 3 fields (counted), run the HTTP
//! modifier on requests (a filtered request's id is remembered so that its
//! response is filtered too), prettify, deliver.
//!
//! Shutdown is a value ([`Shutdown`]) so tests and signal handlers trigger it
//! the same way. The order matters for "nothing accepted is lost": outputs
//! that produce responses (HTTP replay) are closed first and drained, the
//! loops that carry their responses finish, then every other output is
//! closed, which flushes what it accepted.

use crate::message::Message;
use crate::plugin::{FatalError, Input, Output, Plugins, Shutdown};
use crate::stats::{self, Counter};
use bytes::Bytes;
use crossbeam_channel::Receiver;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How messages are processed and delivered; built from the settings.
#[derive(Clone)]
pub struct Options {
    /// Round-robin instead of broadcast.
    pub split_output: bool,
    /// With `split_output`, choose the output by a hash of the message id, so
    /// a request and its responses land on the same output.
    pub recognize_tcp_sessions: bool,
    /// Longest payload kept (`--copy-buffer-size`).
    pub copy_buffer_size: usize,
    /// How long to wait for producers (HTTP replay) to drain at shutdown.
    pub drain_timeout: Duration,
}

impl Options {
    pub fn from_settings(s: &crate::settings::Settings) -> Self {
        Options {
            split_output: s.split_output,
            recognize_tcp_sessions: s.recognize_tcp_sessions,
            copy_buffer_size: usize::try_from(s.copy_buffer_size)
                .unwrap_or(usize::MAX)
                .max(1),
            drain_timeout: s.output_http_timeout + Duration::from_secs(5),
        }
    }
}

/// Why the emitter stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every finite input is done and the outputs are drained: exit 0.
    InputsDone,
    /// `--exit-after`, SIGINT or SIGTERM: exit 0 after flushing.
    Stopped(String),
    /// Something that must stop gor with an error (exit 1).
    Failed(String),
}

enum Event {
    LoopDone,
    Fatal(String),
}

/// `--exit-after`: bounds the whole run. Once `after` has passed, `shutdown`
/// expires: inputs stop, and outputs give up (and count) what they could
/// not deliver instead of waiting for slow targets. An earlier stop (the
/// inputs are done, a signal) does not end this bound: the drain that
/// follows it is bounded too.
pub fn stop_after(shutdown: &Shutdown, after: Duration) {
    let text = crate::settings::values::format_duration(after.as_nanos() as i64);
    tracing::info!("Running gor for a duration of {text}");
    let me = shutdown.clone();
    let spawned = shutdown.spawn("exit-after", move || {
        if !me.wait_expired(after) {
            me.expire(format!("gor run timeout {text}"));
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the --exit-after timer: {e}");
    }
}

/// A transformation of message payloads the copy loop applies (the HTTP
/// modifier, the prettifier): `None` drops the message.
pub type Transform = Arc<dyn Fn(&Message) -> Option<Bytes> + Send + Sync>;

/// The processing steps between reading and delivering.
#[derive(Clone, Default)]
pub struct Steps {
    /// Rewrites or filters requests (type 1); a drop also drops the request's
    /// responses.
    pub modifier: Option<Transform>,
    /// Applied to every message after the modifier.
    pub prettify: Option<Transform>,
    /// Leave `--copy-buffer-size` to a later loop: set on the loops that
    /// feed the middleware, which gets whole messages.
    pub keep_whole: bool,
}

impl Steps {
    /// The HTTP modifier and the prettifier the settings ask for. A rule that
    /// does not parse (a bad regex) is a usage error naming its flag.
    pub fn from_settings(settings: &crate::settings::Settings) -> anyhow::Result<Steps> {
        let rules = crate::modifier::ModifierConfig::from_settings(settings)?;
        let modifier = crate::modifier::HttpModifier::new(&rules)?
            .map(|m| Arc::new(move |msg: &Message| m.rewrite_bytes(&msg.data)) as Transform);
        let prettify = settings.prettify_http.then(|| {
            Arc::new(|msg: &Message| crate::http::prettify::prettify_bytes(&msg.data)) as Transform
        });
        Ok(Steps {
            modifier,
            prettify,
            keep_whole: false,
        })
    }
}

/// A running set of copy loops.
pub struct Emitter {
    events: Receiver<Event>,
    shutdown: Shutdown,
    outputs: Vec<Arc<dyn Output>>,
    source_loops: usize,
    drain_timeout: Duration,
    response_loops: LoopGroup,
    /// Source loops that go on reading after a stop (see
    /// [`Input::drains_at_stop`]).
    draining_loops: LoopGroup,
    middleware: Option<(Arc<dyn Output>, LoopGroup)>,
}

/// Copy loops whose end is awaited as a group during shutdown: each loop
/// holds a sender of `done` until it ends, so the receiver disconnects when
/// the last one has ended.
struct LoopGroup {
    member: Option<crossbeam_channel::Sender<()>>,
    done: Receiver<()>,
}

impl Default for LoopGroup {
    fn default() -> Self {
        let (tx, rx) = crossbeam_channel::bounded(0);
        LoopGroup {
            member: Some(tx),
            done: rx,
        }
    }
}

impl LoopGroup {
    /// What a member loop holds while it runs.
    fn join(&self) -> Option<crossbeam_channel::Sender<()>> {
        self.member.clone()
    }

    /// No more members: the group is done once those started have ended.
    fn close(&mut self) {
        self.member = None;
    }

    /// True once every member ended; false after `timeout`, or at once
    /// when the shutdown expires.
    fn wait(&self, timeout: Duration, shutdown: &Shutdown) -> bool {
        crossbeam_channel::select! {
            recv(self.done) -> _ => true,
            recv(shutdown.expired()) -> _ => false,
            default(timeout) => false,
        }
    }
}

impl Emitter {
    /// Starts one copy loop per input. With a middleware (`feed` and `fed`),
    /// every input's messages, prettified but otherwise untouched, go to
    /// `feed`, and one loop reads `fed` (what the middleware sends back) and
    /// delivers it to the outputs with the full processing.
    pub fn start(
        plugins: Plugins,
        options: Options,
        steps: Steps,
        middleware: Option<(Arc<dyn Output>, Box<dyn Input>)>,
        shutdown: Shutdown,
    ) -> Emitter {
        let (tx, rx) = crossbeam_channel::unbounded();
        let outputs = plugins.outputs;
        let mut draining_loops = LoopGroup::default();
        let feed_steps = Steps {
            modifier: None,
            prettify: steps.prettify.clone(),
            keep_whole: true,
        };
        let spawn = |input: Box<dyn Input>,
                     dest: Vec<Arc<dyn Output>>,
                     steps: Steps,
                     group: Option<&LoopGroup>| {
            // Only the loops of inputs named on the command line stop reading
            // on a stop request; grouped loops carry what is already in
            // flight (replayed responses, middleware output) until it ends.
            let drains = group.is_none() && input.drains_at_stop();
            let mut copy = CopyLoop::new(input, dest, options.clone(), steps, shutdown.clone());
            copy.stoppable = group.is_none() && !drains;
            let (tx, failed) = (tx.clone(), tx.clone());
            let member = group.map(|g| g.join());
            let drained = if drains { draining_loops.join() } else { None };
            let name = format!("copy {}", copy.input.describe());
            let spawned = shutdown.spawn(name, move || {
                let event = copy.run();
                match member {
                    // Grouped loops only report what is fatal; the
                    // shutdown sequence awaits them itself (the member
                    // handle is dropped here, when the loop ends).
                    Some(member) => {
                        if let Event::Fatal(e) = event {
                            let _ = tx.send(Event::Fatal(e));
                        }
                        drop(member);
                    }
                    None => {
                        let _ = tx.send(event);
                        drop(drained);
                    }
                }
            });
            if let Err(e) = spawned {
                let _ = failed.send(Event::Fatal(format!("cannot start a copy loop: {e}")));
            }
        };
        let (targets, source_steps) = match &middleware {
            Some((feed, _)) => (vec![feed.clone()], feed_steps),
            None => (outputs.clone(), steps.clone()),
        };
        let source_loops = plugins.inputs.len();
        for input in plugins.inputs {
            spawn(input, targets.clone(), source_steps.clone(), None);
        }
        let mut response_loops = LoopGroup::default();
        for input in plugins.response_inputs {
            spawn(
                input,
                targets.clone(),
                source_steps.clone(),
                Some(&response_loops),
            );
        }
        response_loops.close();
        let middleware = middleware.map(|(feed, fed)| {
            let mut group = LoopGroup::default();
            spawn(fed, outputs.clone(), steps.clone(), Some(&group));
            group.close();
            (feed, group)
        });
        draining_loops.close();
        Emitter {
            events: rx,
            shutdown,
            outputs,
            source_loops,
            drain_timeout: options.drain_timeout,
            response_loops,
            draining_loops,
            middleware,
        }
    }

    /// Runs until every input is done, a stop is asked for, or something
    /// fatal happens; then drains and closes every output, waiting at most
    /// the drain timeout for each stage.
    pub fn wait(self) -> Ending {
        let drain_timeout = self.drain_timeout;
        let mut finished = 0;
        let ending = loop {
            if finished == self.source_loops {
                break Ending::InputsDone;
            }
            crossbeam_channel::select! {
                recv(self.events) -> event => match event {
                    Ok(Event::LoopDone) => finished += 1,
                    Ok(Event::Fatal(e)) => break Ending::Failed(e),
                    Err(_) => break Ending::InputsDone,
                },
                recv(self.shutdown.stopped()) -> _ => {
                    break Ending::Stopped(self.shutdown.reason().unwrap_or_default())
                }
            }
        };
        self.shutdown.stop(match &ending {
            Ending::InputsDone => "every input is done",
            Ending::Stopped(_) => "stop requested",
            Ending::Failed(_) => "a fatal error",
        });
        // Stopped inputs deliver what they had accepted, then their loops
        // end: the outputs stay open for it.
        let mut late_fatal = None;
        if matches!(ending, Ending::Stopped(_)) {
            let deadline = std::time::Instant::now() + drain_timeout;
            while finished < self.source_loops {
                match self.events.recv_deadline(deadline) {
                    Ok(Event::LoopDone) => finished += 1,
                    Ok(Event::Fatal(e)) => {
                        late_fatal = Some(e);
                        break;
                    }
                    Err(_) => {
                        tracing::warn!(
                            "inputs still delivering after {drain_timeout:?}; closing outputs anyway"
                        );
                        break;
                    }
                }
            }
        }
        // Inputs that deliver what is still on its way (relayed records).
        if !self.draining_loops.wait(drain_timeout, &self.shutdown) {
            tracing::warn!("inputs still draining after {drain_timeout:?}; closing outputs anyway");
        }
        // The middleware first: it may still hold requests for the outputs
        // (replay included); closing its input lets it finish, and what it
        // sends back is delivered while every output is open. Replayed
        // responses that arrive after that cannot reach it (counted).
        if let Some((feed, group)) = &self.middleware {
            feed.close();
            if !group.wait(drain_timeout, &self.shutdown) {
                tracing::warn!(
                    "the middleware did not finish within {drain_timeout:?}; closing outputs anyway"
                );
            }
        }
        // Producers next: their in-flight work becomes messages for the
        // other outputs, which must still be open to take them.
        for out in self.outputs.iter().filter(|o| o.produces_responses()) {
            out.close();
        }
        if !self.response_loops.wait(drain_timeout, &self.shutdown) {
            tracing::warn!(
                "replayed responses still pending after {drain_timeout:?}; closing outputs anyway"
            );
        }
        for out in self.outputs.iter().filter(|o| !o.produces_responses()) {
            out.close();
        }
        // A fatal error reported during the drain wins.
        if let Some(e) = late_fatal {
            return Ending::Failed(e);
        }
        if let Ok(Event::Fatal(e)) = self.events.try_recv() {
            return Ending::Failed(e);
        }
        ending
    }
}

/// One input's loop.
struct CopyLoop {
    input: Box<dyn Input>,
    outputs: Vec<Arc<dyn Output>>,
    options: Options,
    steps: Steps,
    shutdown: Shutdown,
    stoppable: bool,
    next_output: usize,
    filtered: FilteredIds,
    read: Counter,
    /// One per output, in `outputs` order.
    written: Vec<Counter>,
    malformed: Counter,
    write_errors: Counter,
    closed_at_stop: Counter,
}

impl CopyLoop {
    fn new(
        input: Box<dyn Input>,
        outputs: Vec<Arc<dyn Output>>,
        options: Options,
        steps: Steps,
        shutdown: Shutdown,
    ) -> Self {
        CopyLoop {
            read: stats::series_counter(
                &format!("{}.messages", input.describe()),
                &stats::MESSAGES_READ,
                &[("input", &input.describe())],
            ),
            written: outputs
                .iter()
                .map(|o| {
                    let name = o.describe();
                    stats::series_counter(
                        &format!("{name}.messages_written"),
                        &stats::MESSAGES_WRITTEN,
                        &[("output", &name)],
                    )
                })
                .collect(),
            input,
            outputs,
            options,
            steps,
            shutdown,
            stoppable: true,
            next_output: 0,
            filtered: FilteredIds::default(),
            malformed: stats::drop_counter("emitter.malformed_records"),
            write_errors: stats::drop_counter("emitter.write_errors"),
            closed_at_stop: stats::drop_counter("emitter.output_closed_at_stop"),
        }
    }

    fn run(mut self) -> Event {
        let name = self.input.describe();
        let live = self.input.is_live();
        let event = loop {
            let msg = match self.input.read() {
                Ok(Some(m)) => {
                    self.read.inc();
                    m
                }
                Ok(None) => break Event::LoopDone,
                Err(e) => match e.downcast::<FatalError>() {
                    Ok(fatal) => break Event::Fatal(fatal.0),
                    Err(e) => {
                        tracing::error!("{name}: {e:#}; this input stops");
                        break Event::LoopDone;
                    }
                },
            };
            // What an input has read is delivered, also at the stop.
            if let Some(msg) = self.process(msg, &name) {
                self.deliver(&msg, live);
            }
            // At the stop a file is not read further. A live input is read
            // on: it ends soon after the stop (its capture threads or
            // listener end), and what it accepted before goes through too.
            if !live && self.stoppable && self.shutdown.is_stopping() {
                break Event::LoopDone;
            }
        };
        self.input.close();
        tracing::debug!(target: crate::logging::FLOW, "{name}: copy loop ended");
        event
    }

    /// The steps between reading and delivering: empty payloads skipped,
    /// `--copy-buffer-size` cut, malformed headers skipped, the modifier
    /// (a filtered request takes its responses with it), the prettifier.
    /// `None` skips the message.
    fn process(&mut self, mut msg: Message, from: &str) -> Option<Message> {
        if msg.data.is_empty() {
            return None;
        }
        if msg.data.len() > self.options.copy_buffer_size && !self.steps.keep_whole {
            msg.data.truncate(self.options.copy_buffer_size);
        }
        if !msg.is_well_formed() {
            self.malformed.drop_one(&format_args!(
                "{from}: skipping a record without a valid header line"
            ));
            return None;
        }
        tracing::trace!(
            "input: {} from: {from}",
            String::from_utf8_lossy(msg.meta.strip_suffix(b"\n").unwrap_or(&msg.meta))
        );
        if let Some(modifier) = &self.steps.modifier {
            if msg.is_request() {
                match modifier(&msg) {
                    Some(data) => msg.data = data,
                    None => {
                        self.filtered.insert(Bytes::copy_from_slice(msg.id()));
                        return None;
                    }
                }
            } else if self.filtered.take(msg.id()) {
                return None;
            }
        }
        if let Some(prettify) = &self.steps.prettify {
            msg.data = prettify(&msg)?;
            if msg.data.is_empty() {
                return None;
            }
        }
        Some(msg)
    }

    fn deliver(&mut self, msg: &Message, live: bool) {
        if self.outputs.is_empty() {
            return;
        }
        if self.options.split_output {
            let n = self.outputs.len();
            let i = if self.options.recognize_tcp_sessions {
                crate::modifier::fnv1a32(msg.id()) as usize % n
            } else {
                let i = self.next_output % n;
                self.next_output = (i + 1) % n;
                i
            };
            self.write_one(i, msg, live);
        } else {
            for i in 0..self.outputs.len() {
                self.write_one(i, msg, live);
            }
        }
    }

    /// A failing output does not stop the others (GoReplay ends the whole
    /// copy loop, starving every other output): the failure is counted.
    fn write_one(&self, i: usize, msg: &Message, live: bool) {
        let out = &self.outputs[i];
        let result = if live { out.offer(msg) } else { out.write(msg) };
        if result.is_ok() {
            self.written[i].inc();
        }
        if let Err(e) = result {
            // While stopping, an output that was already closed refuses what
            // a loop still carries (a replayed response, say): a drop all
            // the same, counted under its own reason.
            let counter = if self.shutdown.is_stopping() {
                &self.closed_at_stop
            } else {
                &self.write_errors
            };
            counter.drop_one(&format_args!("{}: {e:#}", out.describe()));
        }
    }
}

/// Ids of filtered requests, so that their responses are filtered too; each
/// entry lives 60 s, and the set is bounded.
#[derive(Default)]
struct FilteredIds {
    ids: HashMap<Bytes, Instant>,
    last_purge: Option<Instant>,
}

impl FilteredIds {
    const TTL: Duration = Duration::from_secs(60);
    const MAX: usize = 1_000_000;

    fn insert(&mut self, id: Bytes) {
        let now = Instant::now();
        if self.ids.len() >= Self::MAX || self.last_purge.is_none_or(|t| now - t > Self::TTL) {
            self.ids.retain(|_, at| now - *at < Self::TTL);
            self.last_purge = Some(now);
            if self.ids.len() >= Self::MAX {
                self.ids.clear();
            }
        }
        self.ids.insert(id, now);
    }

    /// True (and forgets the id) when `id` was filtered less than 60 s ago.
    fn take(&mut self, id: &[u8]) -> bool {
        match self.ids.remove(id) {
            Some(at) => at.elapsed() < Self::TTL,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::PayloadType;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct VecInput(std::vec::IntoIter<Message>);

    impl Input for VecInput {
        fn read(&mut self) -> crate::plugin::Result<Option<Message>> {
            Ok(self.0.next())
        }
        fn describe(&self) -> String {
            "test_input".into()
        }
    }

    #[derive(Default)]
    struct Collect {
        got: Mutex<Vec<Message>>,
        closed: AtomicBool,
    }

    impl Output for Collect {
        fn write(&self, msg: &Message) -> crate::plugin::Result<()> {
            anyhow::ensure!(!self.closed.load(Ordering::SeqCst), "closed");
            self.got.lock().unwrap().push(msg.clone());
            Ok(())
        }
        fn close(&self) {
            self.closed.store(true, Ordering::SeqCst);
        }
        fn describe(&self) -> String {
            "collect".into()
        }
    }

    fn options() -> Options {
        Options {
            split_output: false,
            recognize_tcp_sessions: false,
            copy_buffer_size: 5 << 20,
            drain_timeout: Duration::from_secs(1),
        }
    }

    fn messages(n: usize) -> Vec<Message> {
        (0..n)
            .map(|i| {
                Message::new(
                    PayloadType::Request,
                    &format!("{i:024x}"),
                    i as i64,
                    0,
                    format!("GET /{i} HTTP/1.1\r\n\r\n"),
                )
            })
            .collect()
    }

    fn run(
        inputs: Vec<Vec<Message>>,
        outputs: &[Arc<Collect>],
        options: Options,
        steps: Steps,
    ) -> Ending {
        let plugins = Plugins {
            inputs: inputs
                .into_iter()
                .map(|m| Box::new(VecInput(m.into_iter())) as Box<dyn Input>)
                .collect(),
            outputs: outputs
                .iter()
                .map(|o| o.clone() as Arc<dyn Output>)
                .collect(),
            ..Plugins::default()
        };
        Emitter::start(plugins, options, steps, None, Shutdown::new()).wait()
    }

    #[test]
    fn waiting_for_a_loop_group_ends_at_expiry() {
        let shutdown = Shutdown::new();
        let mut group = LoopGroup::default();
        let member = group.join();
        group.close();
        let s = shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s.expire("test");
        });
        let before = Instant::now();
        assert!(!group.wait(Duration::from_secs(30), &shutdown));
        assert!(before.elapsed() < Duration::from_secs(10));
        drop(member);
    }

    #[test]
    fn a_loop_group_is_done_when_its_last_member_ends() {
        let shutdown = Shutdown::new();
        let mut group = LoopGroup::default();
        let members: Vec<_> = (0..3).map(|_| group.join()).collect();
        group.close();
        assert!(!group.wait(Duration::from_millis(20), &shutdown));
        drop(members);
        assert!(group.wait(Duration::from_secs(10), &shutdown));
    }

    struct LiveVecInput(std::vec::IntoIter<Message>);

    impl Input for LiveVecInput {
        fn read(&mut self) -> crate::plugin::Result<Option<Message>> {
            Ok(self.0.next())
        }
        fn is_live(&self) -> bool {
            true
        }
        fn describe(&self) -> String {
            "test_live_input".into()
        }
    }

    #[test]
    fn what_a_live_input_hands_over_after_the_stop_is_delivered() {
        let out = Arc::new(Collect::default());
        let plugins = Plugins {
            inputs: vec![Box::new(LiveVecInput(messages(100).into_iter()))],
            outputs: vec![out.clone() as Arc<dyn Output>],
            ..Plugins::default()
        };
        let shutdown = Shutdown::new();
        shutdown.stop("test");
        let ending =
            Emitter::start(plugins, options(), Steps::default(), None, shutdown.clone()).wait();
        assert!(matches!(ending, Ending::Stopped(_)));
        assert!(shutdown.join_all(Duration::from_secs(10)).is_empty());
        assert_eq!(out.got.lock().unwrap().len(), 100);
    }

    #[test]
    fn every_message_reaches_every_output() {
        let outs = [Arc::new(Collect::default()), Arc::new(Collect::default())];
        assert_eq!(
            run(vec![messages(1000)], &outs, options(), Steps::default()),
            Ending::InputsDone
        );
        for o in &outs {
            assert_eq!(o.got.lock().unwrap().len(), 1000);
            assert!(o.closed.load(Ordering::SeqCst));
        }
    }

    #[test]
    fn split_output_rotates_exactly_evenly() {
        let outs = [Arc::new(Collect::default()), Arc::new(Collect::default())];
        let opts = Options {
            split_output: true,
            ..options()
        };
        run(vec![messages(1000)], &outs, opts, Steps::default());
        assert_eq!(outs[0].got.lock().unwrap().len(), 500);
        assert_eq!(outs[1].got.lock().unwrap().len(), 500);
    }

    #[test]
    fn session_hashing_keeps_an_id_on_one_output() {
        let outs = [Arc::new(Collect::default()), Arc::new(Collect::default())];
        let opts = Options {
            split_output: true,
            recognize_tcp_sessions: true,
            ..options()
        };
        let msgs: Vec<Message> = (0..100)
            .flat_map(|i| {
                let id = format!("{:024x}", i % 7);
                [
                    Message::new(
                        PayloadType::Request,
                        &id,
                        i,
                        0,
                        &b"GET / HTTP/1.1\r\n\r\n"[..],
                    ),
                    Message::new(
                        PayloadType::Response,
                        &id,
                        i,
                        0,
                        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
                    ),
                ]
            })
            .collect();
        run(vec![msgs], &outs, opts, Steps::default());
        let ids = |o: &Collect| {
            o.got
                .lock()
                .unwrap()
                .iter()
                .map(|m| m.id().to_vec())
                .collect::<std::collections::HashSet<_>>()
        };
        assert!(ids(&outs[0]).is_disjoint(&ids(&outs[1])));
    }

    #[test]
    fn long_payload_is_cut_to_copy_buffer_size() {
        let out = [Arc::new(Collect::default())];
        let opts = Options {
            copy_buffer_size: 10,
            ..options()
        };
        run(vec![messages(1)], &out, opts, Steps::default());
        assert_eq!(out[0].got.lock().unwrap()[0].data.len(), 10);
    }

    #[test]
    fn record_without_three_header_fields_is_skipped_and_counted() {
        let out = [Arc::new(Collect::default())];
        let before = stats::drop_counter("emitter.malformed_records").get();
        let bad = Message::from_record(&b"1 onlytwo\nGET / HTTP/1.1\r\n\r\n"[..]);
        run(
            vec![vec![bad, messages(1).remove(0)]],
            &out,
            options(),
            Steps::default(),
        );
        assert_eq!(out[0].got.lock().unwrap().len(), 1);
        assert!(stats::drop_counter("emitter.malformed_records").get() > before);
    }

    #[test]
    fn filtered_request_takes_its_response_along() {
        let out = [Arc::new(Collect::default())];
        let keep_get: Transform =
            Arc::new(|m: &Message| m.data.starts_with(b"GET").then(|| m.data.clone()));
        let msgs = vec![
            Message::new(
                PayloadType::Request,
                "a",
                1,
                0,
                &b"POST / HTTP/1.1\r\n\r\n"[..],
            ),
            Message::new(
                PayloadType::Response,
                "a",
                2,
                0,
                &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            ),
            Message::new(
                PayloadType::Request,
                "b",
                3,
                0,
                &b"GET / HTTP/1.1\r\n\r\n"[..],
            ),
            Message::new(
                PayloadType::Response,
                "b",
                4,
                0,
                &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            ),
        ];
        let steps = Steps {
            modifier: Some(keep_get),
            ..Steps::default()
        };
        run(vec![msgs], &out, options(), steps);
        let ids: Vec<_> = out[0]
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.id().to_vec())
            .collect();
        assert_eq!(ids, vec![b"b".to_vec(), b"b".to_vec()]);
    }
}

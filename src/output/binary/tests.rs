use super::*;
use std::net::TcpListener;

/// A server on 127.0.0.1 that runs `serve` for each connection on its own
/// thread; counts connections.
struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn start(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let serve = Arc::new(serve);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let serve = serve.clone();
                std::thread::spawn(move || serve(stream));
            }
        });
        Server { port, connections }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Reads one request of the test protocol: a 4-byte big-endian length and
/// that many bytes.
fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).ok()?;
    Some(body)
}

fn frame(body: &[u8]) -> Vec<u8> {
    [&(body.len() as u32).to_be_bytes()[..], body].concat()
}

fn config(address: String) -> BinaryConfig {
    BinaryConfig {
        address,
        workers: Workers::Fixed(1),
        timeout: Duration::from_secs(2),
        response_buffer: DEFAULT_RESPONSE_BUFFER,
        track_response: true,
        debug: false,
        idle: IDLE,
    }
}

fn request(id: &str, data: &[u8]) -> Message {
    Message::new(PayloadType::Request, id, 1, -1, data.to_vec())
}

/// Reads the reply input until `n` messages came (10 s at most).
fn replies(input: &mut Option<Box<dyn Input>>, n: usize) -> Vec<Message> {
    let input = input.as_mut().expect("a reply input");
    let (tx, rx) = crossbeam_channel::bounded(n);
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..n {
                match input.read() {
                    Ok(Some(m)) => {
                        let _ = tx.send(m);
                    }
                    _ => return,
                }
            }
        });
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < n {
            match rx.recv_deadline(deadline) {
                Ok(m) => got.push(m),
                Err(_) => panic!("only {} of {n} replies came", got.len()),
            }
        }
        got
    })
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "waited 15 s for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Echoes every frame back reversed, on one connection, forever.
fn reverse_echo(mut s: TcpStream) {
    while let Some(mut body) = read_frame(&mut s) {
        body.reverse();
        if s.write_all(&frame(&body)).is_err() {
            return;
        }
    }
}

#[test]
fn payloads_are_sent_as_they_are_and_replies_come_back_with_the_request_id() {
    let server = Server::start(reverse_echo);
    let shutdown = Shutdown::new();
    let (out, mut input) = BinaryOutput::open(config(server.address()), &shutdown).unwrap();
    let payloads: Vec<Vec<u8>> = (0..20u8)
        .map(|i| frame(&[i, 0, 0xff, b'\r', b'\n', i.wrapping_mul(7)]))
        .collect();
    for (i, p) in payloads.iter().enumerate() {
        out.write(&request(&format!("id{i}"), p)).unwrap();
    }
    let got = replies(&mut input, payloads.len());
    for (i, (m, p)) in got.iter().zip(&payloads).enumerate() {
        assert_eq!(m.payload_type(), Some(PayloadType::ReplayedResponse));
        assert_eq!(m.id(), format!("id{i}").as_bytes());
        let mut want = p[4..].to_vec();
        want.reverse();
        assert_eq!(&m.data[..], &frame(&want)[..]);
        assert!(m.latency().unwrap() > 0);
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "one kept connection"
    );
    out.close();
    assert_eq!(out.workers(), 0);
    assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
}

#[test]
fn only_requests_are_sent_the_rest_is_skipped_and_counted() {
    let server = Server::start(reverse_echo);
    let shutdown = Shutdown::new();
    let (out, mut input) = BinaryOutput::open(config(server.address()), &shutdown).unwrap();
    let skipped = stats::counter("output_binary.skipped_non_requests");
    let before = skipped.get();
    let response = Message::new(PayloadType::Response, "r", 1, 1, frame(b"no"));
    let replayed = Message::new(PayloadType::ReplayedResponse, "r", 1, 1, frame(b"no"));
    out.write(&response).unwrap();
    out.offer(&replayed).unwrap();
    out.write(&request("yes", &frame(b"abc"))).unwrap();
    let got = replies(&mut input, 1);
    assert_eq!(got[0].id(), b"yes");
    assert_eq!(&got[0].data[..], &frame(b"cba")[..]);
    assert!(skipped.get() >= before + 2);
    out.close();
}

#[test]
fn the_response_buffer_caps_the_bytes_kept_but_the_whole_reply_is_read() {
    let server = Server::start(|mut s| {
        while read_frame(&mut s).is_some() {
            let big: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
            if s.write_all(&big).is_err() {
                return;
            }
        }
    });
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.response_buffer = 1000;
    cfg.timeout = Duration::from_millis(500);
    let (out, mut input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    out.write(&request("a", &frame(b"one"))).unwrap();
    out.write(&request("b", &frame(b"two"))).unwrap();
    let got = replies(&mut input, 2);
    for m in &got {
        assert_eq!(m.data.len(), 1000);
        assert_eq!(
            &m.data[..],
            &(0..1000u32).map(|i| i as u8).collect::<Vec<_>>()[..]
        );
    }
    // The rest of the first reply was read, not taken for the second one.
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    out.close();
}

#[test]
fn a_server_that_never_answers_times_out_counted_without_hanging() {
    let server = Server::start(|mut s| {
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.timeout = Duration::from_millis(200);
    let discarded = stats::drop_counter("output_binary.responses_discarded");
    let no_reply = stats::counter("output_binary.no_reply");
    let (d0, n0) = (discarded.get(), no_reply.get());
    let (out, _input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    let started = Instant::now();
    for i in 0..3 {
        out.write(&request(&format!("silent{i}"), &frame(b"hello?")))
            .unwrap();
    }
    out.close();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(no_reply.get() >= n0 + 3);
    assert!(discarded.get() >= d0 + 3);
    assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
}

#[test]
fn a_server_that_closes_at_once_is_counted_and_dialled_again() {
    let server = Server::start(drop::<TcpStream>);
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.timeout = Duration::from_millis(500);
    let (out, _input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    let finished = || out.shared.finished.load(Ordering::SeqCst);
    for i in 0..5 {
        out.write(&request(&format!("c{i}"), &frame(b"anyone?")))
            .unwrap();
    }
    wait_until("five exchanges", || finished() >= 5);
    // The closed connection is never reused: one per request.
    assert_eq!(server.connections.load(Ordering::SeqCst), 5);
    out.close();
    assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
}

#[test]
fn an_unreachable_server_is_counted_as_connect_failures() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let shutdown = Shutdown::new();
    let failed = stats::drop_counter("output_binary.connect_failed");
    let before = failed.get();
    let (out, _input) = BinaryOutput::open(config(format!("127.0.0.1:{port}")), &shutdown).unwrap();
    out.write(&request("x", b"ping")).unwrap();
    out.close();
    assert!(failed.get() > before);
}

#[test]
fn a_connection_closed_between_requests_is_opened_again() {
    // One exchange per connection, then the server hangs up.
    let server = Server::start(|mut s| {
        if let Some(mut body) = read_frame(&mut s) {
            body.reverse();
            let _ = s.write_all(&frame(&body));
        }
    });
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.timeout = Duration::from_secs(5);
    let (out, mut input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    for i in 0..4u8 {
        out.write(&request(&format!("k{i}"), &frame(&[b'a' + i, b'z'])))
            .unwrap();
        // Let the hang-up reach the idle connection.
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = replies(&mut input, 4);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m.data[..], &frame(&[b'z', b'a' + i as u8])[..]);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 4);
    out.close();
}

#[test]
fn the_dynamic_pool_grows_with_the_queue_and_shrinks_to_one_when_idle() {
    let server = Server::start(|mut s| {
        while let Some(body) = read_frame(&mut s) {
            std::thread::sleep(Duration::from_millis(200));
            if s.write_all(&frame(&body)).is_err() {
                return;
            }
        }
    });
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.workers = Workers::Dynamic;
    cfg.idle = Duration::from_millis(300);
    let (out, mut input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    assert_eq!(out.workers(), DYNAMIC_START);
    for i in 0..100 {
        out.write(&request(&format!("d{i}"), &frame(b"slow")))
            .unwrap();
    }
    let grown = out.workers();
    assert!(
        grown > DYNAMIC_START,
        "only {grown} workers for 100 queued requests"
    );
    assert!(grown <= MAX_WORKERS);
    replies(&mut input, 100);
    wait_until("the pool shrinking to one worker", || out.workers() == 1);
    // The last one stays and still works.
    out.write(&request("after", &frame(b"still here"))).unwrap();
    let got = replies(&mut input, 1);
    assert_eq!(got[0].id(), b"after");
    out.close();
    assert_eq!(out.workers(), 0);
    assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
}

#[test]
fn a_fixed_pool_keeps_its_size() {
    let server = Server::start(reverse_echo);
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.workers = Workers::Fixed(3);
    cfg.idle = Duration::from_millis(50);
    let (out, mut input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    assert_eq!(out.workers(), 3);
    for i in 0..50 {
        out.write(&request(&format!("f{i}"), &frame(b"x"))).unwrap();
    }
    replies(&mut input, 50);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(out.workers(), 3, "a fixed pool neither grows nor shrinks");
    out.close();
}

#[test]
fn the_workers_flag_picks_a_dynamic_or_a_fixed_pool() {
    let with = |workers: i64| {
        let mut s = Settings::defaults();
        s.output_binary_workers = workers;
        BinaryConfig::from_settings("127.0.0.1:9", &s)
            .unwrap()
            .workers
    };
    assert_eq!(with(0), Workers::Dynamic);
    assert_eq!(with(-3), Workers::Dynamic);
    assert_eq!(with(4), Workers::Fixed(4));
    assert_eq!(with(1 << 40), Workers::Fixed(MAX_WORKERS));
}

#[test]
fn zero_values_take_their_defaults_and_bad_addresses_are_refused() {
    let mut s = Settings::defaults();
    s.output_tcp_response_buffer = 0;
    let c = BinaryConfig::from_settings(":4000", &s).unwrap();
    assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    assert_eq!(c.response_buffer, DEFAULT_RESPONSE_BUFFER);
    assert_eq!(c.address, "127.0.0.1:4000");
    s.output_tcp_response_buffer = 1 << 40;
    let c = BinaryConfig::from_settings("h:1", &s).unwrap();
    assert_eq!(c.response_buffer as u64, READ_LIMIT);
    for bad in ["nohost", "h:", "h:70000", ""] {
        let e = BinaryConfig::from_settings(bad, &s).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{bad}: {e}");
    }
}

#[test]
fn live_requests_beyond_a_full_queue_are_dropped_and_counted() {
    // One worker stuck on a server that never answers; the queue fills.
    let server = Server::start(|mut s| {
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.timeout = Duration::from_secs(30);
    let full = stats::drop_counter("output_binary.queue_full");
    let before = full.get();
    let (out, _input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    for i in 0..QUEUE_LEN + 50 {
        out.offer(&request(&format!("o{i}"), b"x")).unwrap();
    }
    assert!(full.get() >= before + 49);
    shutdown.expire("test");
    let started = Instant::now();
    out.close();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn at_expiry_close_gives_up_what_is_queued_or_in_flight_and_counts_it() {
    let server = Server::start(|mut s| {
        let mut buf = [0u8; 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let shutdown = Shutdown::new();
    let mut cfg = config(server.address());
    cfg.timeout = Duration::from_secs(30);
    let abandoned = stats::drop_counter("output_binary.abandoned_at_close");
    let before = abandoned.get();
    let (out, _input) = BinaryOutput::open(cfg, &shutdown).unwrap();
    for i in 0..5 {
        out.write(&request(&format!("e{i}"), b"x")).unwrap();
    }
    wait_until("the first request in flight", || {
        server.connections.load(Ordering::SeqCst) == 1
    });
    shutdown.expire("test");
    let started = Instant::now();
    out.close();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        abandoned.get() >= before + 5,
        "{}",
        abandoned.get() - before
    );
    assert_eq!(out.shared.finished.load(Ordering::SeqCst), 5);
    assert_eq!(out.workers(), 0);
    assert!(out.write(&request("late", b"x")).is_err());
    assert!(shutdown.join_all(Duration::from_secs(5)).is_empty());
}

#[test]
fn debug_shows_binary_bytes_escaped_and_long_payloads_cut() {
    assert_eq!(shown(b"ab\x00\xff\r\n"), "ab\\x00\\xff\\r\\n");
    let long = vec![b'a'; DEBUG_SHOWN + 10];
    assert!(shown(&long).ends_with(&format!("({} bytes in all)", DEBUG_SHOWN + 10)));
}

use super::*;
use std::time::{Duration, Instant};

fn msg(i: usize) -> Message {
    Message::from_record(format!("1 {i:024x} {i} 0\nGET /{i} HTTP/1.1\r\n\r\n").into_bytes())
}

/// Reads everything the echo yields until it ends, with a deadline.
fn drain(echo: &mut Box<dyn Input>) -> (Vec<Message>, Option<String>) {
    let start = Instant::now();
    let mut got = Vec::new();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "echo never ended"
        );
        match echo.read() {
            Ok(Some(m)) => got.push(m),
            Ok(None) => return (got, None),
            Err(e) => return (got, Some(e.to_string())),
        }
    }
}

#[test]
fn cat_as_middleware_passes_every_message_through_in_order() {
    let (feed, mut echo) = start("cat", &Shutdown::new()).unwrap();
    let sent: Vec<Message> = (0..500).map(msg).collect();
    let writer = std::thread::spawn(move || {
        for m in &sent {
            feed.write(m).unwrap();
        }
        feed.close();
        sent
    });
    let (got, fatal) = drain(&mut echo);
    let sent = writer.join().unwrap();
    assert_eq!(fatal, None);
    assert_eq!(got, sent);
}

#[test]
fn middleware_that_exits_is_fatal_and_names_command_and_status() {
    let (_feed, mut echo) = start("sh -c 'exit 3'", &Shutdown::new()).unwrap();
    let (_, fatal) = drain(&mut echo);
    let fatal = fatal.expect("a fatal error");
    assert!(fatal.contains("sh -c 'exit 3'"), "{fatal}");
    assert!(fatal.contains("exit status: 3"), "{fatal}");
    assert!(!fatal.contains('\n'));
}

#[test]
fn middleware_that_exits_cleanly_while_fed_is_still_fatal() {
    let (_feed, mut echo) = start("true", &Shutdown::new()).unwrap();
    let (_, fatal) = drain(&mut echo);
    assert!(fatal.expect("fatal").contains("exit status: 0"));
}

#[test]
fn garbage_lines_are_skipped_and_counted() {
    let before = stats::drop_counter("middleware.garbage_lines").get();
    // "not hex", an odd-length line, then a real message "1 a 1\nX".
    let script =
        "printf 'not hex\\n123\\n3120612031 0a58\\n3120612031 0A58\\r\\n' | tr -d ' '; cat";
    let (feed, mut echo) = start(
        &format!("sh -c {}", shlex::try_quote(script).unwrap()),
        &Shutdown::new(),
    )
    .unwrap();
    feed.close();
    let (got, fatal) = drain(&mut echo);
    assert_eq!(fatal, None);
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0].meta[..], b"1 a 1\n");
    assert_eq!(&got[1].data[..], b"X");
    assert!(stats::drop_counter("middleware.garbage_lines").get() >= before + 2);
}

#[test]
fn missing_program_is_an_error_naming_it() {
    let e = start("/no/such/middleware --flag", &Shutdown::new())
        .err()
        .expect("an error")
        .to_string();
    assert!(e.contains("/no/such/middleware --flag"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn command_is_split_like_a_shell_would() {
    let (feed, mut echo) = start("sh -c 'cat | cat'", &Shutdown::new()).unwrap();
    feed.write(&msg(1)).unwrap();
    feed.close();
    let (got, fatal) = drain(&mut echo);
    assert_eq!((got, fatal), (vec![msg(1)], None));
}

#[test]
fn unbalanced_quotes_or_empty_command_are_usage_errors() {
    for bad in ["sh -c 'oops", "", "   "] {
        let e = start(bad, &Shutdown::new()).err().expect("an error");
        assert!(e.downcast_ref::<UsageError>().is_some(), "{bad:?}: {e}");
    }
}

#[test]
fn slow_middleware_applies_back_pressure_without_losing_messages() {
    // Reads one line at a time with a pause: the feed fills up, writes wait.
    let script = "while IFS= read -r l; do sleep 0.001; echo \"$l\"; done";
    let (feed, mut echo) = start(
        &format!("sh -c {}", shlex::try_quote(script).unwrap()),
        &Shutdown::new(),
    )
    .unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..300 {
            feed.write(&msg(i)).unwrap();
        }
        feed.close();
    });
    let (got, fatal) = drain(&mut echo);
    writer.join().unwrap();
    assert_eq!(fatal, None);
    assert_eq!(got.len(), 300);
}

#[test]
fn offer_drops_and_counts_when_the_middleware_is_stalled() {
    let before = stats::drop_counter("middleware.queue_full").get();
    let (feed, _echo) = start("sleep 1", &Shutdown::new()).unwrap();
    let big = Message::from_record(
        vec![b'1'; 1 << 16]
            .into_iter()
            .chain(*b" a 1\nX")
            .collect::<Vec<_>>(),
    );
    for _ in 0..(QUEUE + 200) {
        feed.offer(&big).unwrap();
    }
    assert!(stats::drop_counter("middleware.queue_full").get() > before);
}

#[test]
fn death_is_noticed_even_when_a_grandchild_keeps_stdout_open() {
    let started = Instant::now();
    let (_feed, mut echo) = start("sh -c 'sleep 6 & exit 5'", &Shutdown::new()).unwrap();
    let (_, fatal) = drain(&mut echo);
    assert!(fatal.expect("fatal").contains("exit status: 5"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn lines_are_read_whole_across_refills_and_overlong_ones_skipped() {
    let data = b"abc\ndef\nmuch too long\nlast";
    let mut pipe = BufReader::with_capacity(2, &data[..]);
    let mut got = Vec::new();
    loop {
        let mut line = Vec::new();
        match read_line(&mut pipe, &mut line, 5).unwrap() {
            Line::End => break,
            Line::Complete => got.push(line),
            Line::TooLong => got.push(b"<too long>".to_vec()),
        }
    }
    assert_eq!(got, [&b"abc\n"[..], b"def\n", b"<too long>", b"last"]);
}

#[test]
fn hex_lines_longer_than_the_pipe_chunk_round_trip() {
    // A message bigger than one block of hex: its line spans several writes
    // and does not fit in the read buffer.
    let big = Message::from_record(
        b"1 big 1 0\n"
            .iter()
            .copied()
            .chain((0..PIPE_CHUNK + 12345).map(|i| (i % 251) as u8))
            .collect::<Vec<_>>(),
    );
    let (feed, mut echo) = start("cat", &Shutdown::new()).unwrap();
    let sent = vec![msg(1), big, msg(2)];
    let to_send = sent.clone();
    let writer = std::thread::spawn(move || {
        for m in &to_send {
            feed.write(m).unwrap();
        }
        feed.close();
    });
    let (got, fatal) = drain(&mut echo);
    writer.join().unwrap();
    assert_eq!(fatal, None);
    assert_eq!(got, sent);
}

#[test]
fn messages_taken_off_the_decode_buffer_match_from_record() {
    let records: [&[u8]; 6] = [
        b"1 a 1\nGET / HTTP/1.1\r\n\r\n",
        b"no header line",
        b"\nheader line empty",
        b"1 a 1\n",
        b"1 a 1\n\n",
        b"x",
    ];
    let mut room = BytesMut::new();
    for r in records {
        room.extend_from_slice(r);
    }
    room.extend_from_slice(b"rest");
    for r in records {
        let got = message_from(&mut room, r.len());
        assert_eq!(got, Message::from_record(r.to_vec()), "{r:?}");
    }
    assert_eq!(&room[..], b"rest");
}

#[test]
fn closing_stops_waiting_for_a_chatty_middleware_once_the_shutdown_expires() {
    // Writes a line back every 50 ms for ever: it never settles, and
    // closing would wait the whole settling maximum (10 s).
    let script = "while true; do echo 00; sleep 0.05; done";
    let shutdown = Shutdown::new();
    let (feed, _echo) = start(
        &format!("sh -c {}", shlex::try_quote(script).unwrap()),
        &shutdown,
    )
    .unwrap();
    let s = shutdown.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        s.expire("test");
    });
    let before = Instant::now();
    feed.close();
    let took = before.elapsed();
    assert!(took < Duration::from_secs(5), "close took {took:?}");
}

//! Kafka output and input against librdkafka's mock cluster: a real
//! Kafka-protocol broker that this test process runs on loopback ports.
//! The gor binary under test connects to it as to any broker; the test
//! itself reads and writes the topic with librdkafka to check the exact
//! message values.

mod common;
#[path = "common/files.rs"]
mod files_common;

use common::{Running, counted, record, records, run};
use files_common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(40);

/// A one-broker mock cluster with the given topics (name, partitions).
fn cluster(topics: &[(&str, i32)]) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("starting librdkafka's mock cluster");
    for (name, partitions) in topics {
        cluster
            .create_topic(name, *partitions, 1)
            .expect("creating a topic");
    }
    cluster
}

/// Every value in `topic` by partition, read with librdkafka from the
/// beginning until `n` values arrived.
fn values(bootstrap: &str, topic: &str, partitions: i32, n: usize) -> BTreeMap<i32, Vec<Vec<u8>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut got: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    let start = Instant::now();
    while got.values().map(Vec::len).sum::<usize>() < n {
        assert!(
            start.elapsed() < DEADLINE,
            "only {got:?} of {n} values in {topic}"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.entry(m.partition())
                .or_default()
                .push(m.payload().unwrap_or_default().to_vec());
        }
    }
    got
}

/// Puts raw values into `topic` with librdkafka.
fn produce(bootstrap: &str, topic: &str, values: &[&[u8]]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for v in values {
        producer
            .send(BaseRecord::<(), [u8]>::to(topic).payload(*v))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// gor: the file's records into `topic`; returns when gor exits (0).
fn file_to_kafka(file: &std::path::Path, bootstrap: &str, topic: &str, extra: &[&str]) {
    let mut args = vec![
        "--input-file".to_string(),
        format!("{}|10000%", arg(file)),
        "--output-kafka-host".into(),
        bootstrap.into(),
        "--output-kafka-topic".into(),
        topic.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&args, DEADLINE);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(counted(&out.stderr, "output_kafka.delivery_failures"), 0);
}

/// gor reading `topic` from the oldest message onto stdout.
fn kafka_to_stdout(bootstrap: &str, topic: &str, extra: &[&str]) -> Running {
    let mut args = vec![
        "--input-kafka-host",
        bootstrap,
        "--input-kafka-topic",
        topic,
        "--input-kafka-offset",
        "-2|100000%",
        "--output-stdout",
    ];
    args.extend_from_slice(extra);
    Running::start(&args)
}

#[test]
fn raw_records_of_every_type_round_trip_field_by_field() {
    let mock = cluster(&[("raw", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let base = 1_700_000_000_000 * MS;
    let originals: Vec<(String, Vec<u8>)> = vec![
        (
            format!("1 {:024x} {} 0", 1, base),
            b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\x00\xff<>".to_vec(),
        ),
        (
            format!("2 {:024x} {} 1500", 1, base + MS),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        ),
        (
            format!("3 {:024x} {} 2000000", 1, base + 2 * MS),
            b"HTTP/1.1 201 Created\r\n\r\n".to_vec(),
        ),
    ];
    let file = dir.path().join("in.gor");
    write(
        &file,
        &originals
            .iter()
            .flat_map(|(h, p)| record(h, p))
            .collect::<Vec<u8>>(),
    );
    file_to_kafka(&file, &bootstrap, "raw", &[]);

    // The value is the record: header line, then payload, nothing else.
    let stored = values(&bootstrap, "raw", 1, 3);
    let expected: Vec<Vec<u8>> = originals
        .iter()
        .map(|(h, p)| [format!("{h}\n").as_bytes(), p].concat())
        .collect();
    assert_eq!(stored[&0], expected);

    let reader = kafka_to_stdout(&bootstrap, "raw", &[]);
    reader.wait_records(3, DEADLINE);
    let out = reader.finish(DEADLINE, true);
    assert_eq!(records(&out.stdout), originals, "{}", out.stderr);
}

#[test]
fn json_documents_round_trip_field_by_field() {
    let mock = cluster(&[("json", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("{:024x}", 7);
    let request_header = format!("1 {id} 1700000000000000000 0");
    let request = b"POST /p?q=<1> HTTP/1.1\r\nhost: example.org\r\nX-Multi: a\r\nx-multi: b\r\n\r\nname=\"v\"&x";
    let response_header = format!("2 {id} 1700000000001000000 1000");
    let response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let file = dir.path().join("in.gor");
    write(
        &file,
        &[
            record(&request_header, request),
            record(&response_header, response),
        ]
        .concat(),
    );
    file_to_kafka(&file, &bootstrap, "json", &["--output-kafka-json-format"]);

    let stored = values(&bootstrap, "json", 1, 2);
    let docs: Vec<String> = stored[&0]
        .iter()
        .map(|v| String::from_utf8(v.clone()).unwrap())
        .collect();
    assert_eq!(
        docs[0],
        format!(
            r#"{{"Req_URL":"/p?q=\u003c1\u003e","Req_Type":"1","Req_ID":"{id}","Req_Ts":"1700000000000000000","Req_Method":"POST","Req_Body":"name=\"v\"\u0026x","Req_Headers":{{"Host":"example.org","X-Multi":"a, b"}}}}"#
        )
    );
    assert_eq!(
        docs[1],
        format!(
            r#"{{"Req_URL":"","Req_Type":"2","Req_ID":"{id}","Req_Ts":"1700000000001000000","Req_Method":"HTTP/1.1","Req_Headers":{{"Content-Length":"0"}}}}"#
        )
    );

    let reader = kafka_to_stdout(&bootstrap, "json", &["--input-kafka-json-format"]);
    reader.wait_records(2, DEADLINE);
    let out = reader.finish(DEADLINE, true);
    let got = records(&out.stdout);
    // A JSON document carries type, id and timestamp (no latency), the
    // method, target, headers (one line each) and body.
    assert_eq!(got[0].0, format!("1 {id} 1700000000000000000"));
    assert_eq!(
        got[0].1,
        b"POST /p?q=<1> HTTP/1.1\r\nHost: example.org\r\nX-Multi: a, b\r\n\r\nname=\"v\"&x"
    );
    assert_eq!(got[1].0, format!("2 {id} 1700000000001000000"));
    assert_eq!(got[1].1, b"HTTP/1.1  HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
}

/// `count` request ids `from..from+count`, 1 ms apart.
fn request_file(dir: &std::path::Path, name: &str, from: u32, count: u32) -> std::path::PathBuf {
    let base = 1_700_000_000_000 * MS;
    let bytes: Vec<u8> = (from..from + count)
        .flat_map(|n| request(n, base + i64::from(n) * MS))
        .collect();
    let path = dir.join(name);
    write(&path, &bytes);
    path
}

/// Request ids (the numbers behind `request`'s 24-hex ids) in a stream.
fn ids(stdout: &[u8]) -> Vec<u32> {
    records(stdout)
        .iter()
        .map(|(h, _)| u32::from_str_radix(h.split(' ').nth(1).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn messages_spread_over_partitions_and_all_come_back() {
    let mock = cluster(&[("spread", 4)]);
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let file = request_file(dir.path(), "in.gor", 0, 400);
    // Paced 1 ms apart, so that librdkafka's sticky partitioner moves on.
    let out = run(
        &[
            "--input-file",
            &arg(&file),
            "--output-kafka-host",
            &bootstrap,
            "--output-kafka-topic",
            "spread",
        ],
        DEADLINE,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let stored = values(&bootstrap, "spread", 4, 400);
    assert!(
        stored.len() >= 2,
        "one partition got everything: {:?}",
        stored.keys()
    );

    let reader = kafka_to_stdout(&bootstrap, "spread", &[]);
    reader.wait_records(400, DEADLINE);
    std::thread::sleep(Duration::from_millis(300));
    let out = reader.finish(DEADLINE, true);
    let mut got = ids(&out.stdout);
    got.sort();
    assert_eq!(got, (0..400).collect::<Vec<_>>());
}

/// The partitions in the last `assigned partitions [..]` line of `gor`.
fn last_assignment(gor: &Running) -> Option<Vec<String>> {
    let err = gor.stderr();
    let line = err
        .lines()
        .rev()
        .find(|l| l.contains("assigned partitions ["))?;
    let list = line
        .split("assigned partitions [")
        .nth(1)?
        .split(']')
        .next()?;
    Some(
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    )
}

#[test]
fn two_group_members_split_the_partitions_and_replay_each_message_once() {
    let mock = cluster(&[("shared", 4)]);
    let bootstrap = mock.bootstrap_servers();
    let members: Vec<Running> = (0..2)
        .map(|_| kafka_to_stdout(&bootstrap, "shared", &["--input-kafka-group", "replayers"]))
        .collect();
    for m in &members {
        m.wait_until(DEADLINE, "a share of the partitions", |g| {
            last_assignment(g).is_some_and(|a| a.len() == 2)
        });
    }
    let a = last_assignment(&members[0]).unwrap();
    let b = last_assignment(&members[1]).unwrap();
    assert!(a.iter().all(|p| !b.contains(p)), "{a:?} {b:?}");

    let dir = tempfile::tempdir().unwrap();
    let file = request_file(dir.path(), "in.gor", 0, 400);
    let out = run(
        &[
            "--input-file",
            &arg(&file),
            "--output-kafka-host",
            &bootstrap,
            "--output-kafka-topic",
            "shared",
        ],
        DEADLINE,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);

    let start = Instant::now();
    while members
        .iter()
        .map(|m| ids(&m.stdout_so_far()).len())
        .sum::<usize>()
        < 400
    {
        assert!(start.elapsed() < DEADLINE, "not every message arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let outs: Vec<_> = members
        .into_iter()
        .map(|m| m.finish(DEADLINE, true))
        .collect();
    let each: Vec<Vec<u32>> = outs.iter().map(|o| ids(&o.stdout)).collect();
    assert!(
        each.iter().all(|ids| !ids.is_empty()),
        "one member got nothing: {} / {}\n{}\n{}",
        each[0].len(),
        each[1].len(),
        outs[0].stderr,
        outs[1].stderr
    );
    let mut all: Vec<u32> = each.concat();
    all.sort();
    assert_eq!(all, (0..400).collect::<Vec<_>>(), "lost or doubled");
}

#[test]
fn a_broker_restart_loses_nothing() {
    let mock = cluster(&[("restart", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let reader = kafka_to_stdout(&bootstrap, "restart", &[]);
    reader.wait_for_line("reading partitions", DEADLINE);
    file_to_kafka(
        &request_file(dir.path(), "a.gor", 0, 50),
        &bootstrap,
        "restart",
        &[],
    );
    reader.wait_records(50, DEADLINE);

    // Records 30 ms apart: the broker goes down and comes back while gor
    // is sending them.
    let file = dir.path().join("b.gor");
    let base = 1_700_000_000_000 * MS;
    write(
        &file,
        &(50..150u32)
            .flat_map(|n| request(n, base + i64::from(n) * 30 * MS))
            .collect::<Vec<u8>>(),
    );
    let writer = Running::start(&[
        "--input-file",
        &arg(&file),
        "--output-kafka-host",
        &bootstrap,
        "--output-kafka-topic",
        "restart",
    ]);
    writer.wait_for_line("connected", DEADLINE);
    std::thread::sleep(Duration::from_millis(500));
    mock.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    mock.broker_up(1).unwrap();
    let wrote = writer.wait(DEADLINE);
    assert_eq!(wrote.code(), Some(0), "{}", wrote.stderr);

    reader.wait_records(150, DEADLINE);
    std::thread::sleep(Duration::from_millis(300));
    let out = reader.finish(DEADLINE, true);
    let mut got = ids(&out.stdout);
    got.sort();
    got.dedup();
    assert_eq!(got, (0..150).collect::<Vec<_>>());
}

#[test]
fn messages_that_are_not_records_are_skipped_and_counted() {
    let mock = cluster(&[("junk", 1), ("junk-json", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let good: &[u8] = b"1 0123456789abcdef01234567 5 0\nGET / HTTP/1.1\r\n\r\n";
    produce(
        &bootstrap,
        "junk",
        &[b"", b"garbage", b"1 2\n", b"{\"Req_Type\":\"1\"}", good],
    );
    let reader = kafka_to_stdout(&bootstrap, "junk", &[]);
    reader.wait_records(1, DEADLINE);
    std::thread::sleep(Duration::from_millis(200));
    let out = reader.finish(DEADLINE, true);
    assert_eq!(records(&out.stdout).len(), 1);
    assert_eq!(
        counted(&out.stderr, "input_kafka.empty_messages"),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        counted(&out.stderr, "input_kafka.not_records"),
        3,
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);

    produce(
        &bootstrap,
        "junk-json",
        &[
            b"",
            b"{not json",
            b"[1]",
            br#"{"Req_Type":"9"}"#,
            br#"{"Req_URL":"/","Req_Type":"1","Req_ID":"2","Req_Ts":"3","Req_Method":"GET"}"#,
        ],
    );
    let reader = kafka_to_stdout(&bootstrap, "junk-json", &["--input-kafka-json-format"]);
    reader.wait_records(1, DEADLINE);
    std::thread::sleep(Duration::from_millis(200));
    let out = reader.finish(DEADLINE, true);
    assert_eq!(
        records(&out.stdout),
        vec![("1 2 3".to_string(), b"GET / HTTP/1.1\r\n\r\n".to_vec())]
    );
    assert_eq!(
        counted(&out.stderr, "input_kafka.empty_messages"),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        counted(&out.stderr, "input_kafka.invalid_json"),
        2,
        "{}",
        out.stderr
    );
    assert_eq!(
        counted(&out.stderr, "input_kafka.not_records"),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn sasl_passwords_never_reach_logs_or_stats() {
    // The mock cluster speaks no SASL: the handshake fails, librdkafka
    // logs its errors, gor gives up after its connect timeout; the
    // password must appear nowhere.
    let mock = cluster(&[("secret", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let file = request_file(dir.path(), "in.gor", 0, 3);
    let output = Running::start(&[
        "--input-file",
        &arg(&file),
        "--output-kafka-host",
        &bootstrap,
        "--output-kafka-topic",
        "secret",
        "--output-kafka-use-sasl",
        "--output-kafka-mechanism",
        "SCRAM-SHA-256",
        "--output-kafka-username",
        "alice",
        "--output-kafka-password",
        "Out-Pa55word-42",
        "--verbose",
        "2",
        "--stats",
    ]);
    let input = Running::start(&[
        "--input-kafka-host",
        &bootstrap,
        "--input-kafka-topic",
        "secret",
        "--input-kafka-use-sasl",
        "--input-kafka-username",
        "bob",
        "--input-kafka-password",
        "In-Pa55word-43",
        "--output-null",
        "--verbose",
        "2",
        "--stats",
    ]);
    for (gor, password) in [(output, "Out-Pa55word-42"), (input, "In-Pa55word-43")] {
        let out = gor.wait(DEADLINE);
        assert_eq!(out.code(), Some(1), "{}", out.stderr);
        assert!(out.stderr.contains("kafka"), "{}", out.stderr);
        assert!(!out.stderr.contains(password), "{}", out.stderr);
        assert!(!out.stderr.contains("Pa55word"), "{}", out.stderr);
    }
}

#[test]
fn bad_tls_files_and_bad_offsets_are_one_clear_line() {
    let mock = cluster(&[("tls", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let out = run(
        &[
            "--input-kafka-host",
            &bootstrap,
            "--input-kafka-topic",
            "tls",
            "--kafka-tls-ca-cert",
            "/nonexistent/ca.pem",
            "--output-null",
        ],
        DEADLINE,
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--kafka-tls-ca-cert /nonexistent/ca.pem"),
        "{}",
        out.stderr
    );

    let out = run(
        &[
            "--input-kafka-host",
            &bootstrap,
            "--input-kafka-topic",
            "tls",
            "--input-kafka-offset",
            "-7",
            "--output-null",
        ],
        DEADLINE,
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("Failed to parse offset"),
        "{}",
        out.stderr
    );
}

#[test]
fn stored_messages_are_paced_by_their_timestamps() {
    let mock = cluster(&[("paced", 1)]);
    let bootstrap = mock.bootstrap_servers();
    let base = 1_700_000_000_000 * MS;
    let values: Vec<Vec<u8>> = (0..3u32)
        .map(|n| {
            let r = request(n, base + i64::from(n) * 400 * MS);
            r[..r.len() - common::SEP.len()].to_vec()
        })
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    produce(&bootstrap, "paced", &refs);
    // 800 ms between the first and the last message at the recorded speed.
    let reader = Running::start(&[
        "--input-kafka-host",
        &bootstrap,
        "--input-kafka-topic",
        "paced",
        "--input-kafka-offset",
        "-2",
        "--output-stdout",
    ]);
    reader.wait_records(1, DEADLINE);
    let first = Instant::now();
    reader.wait_records(3, DEADLINE);
    let took = first.elapsed();
    reader.finish(DEADLINE, true);
    assert!(took >= Duration::from_millis(700), "{took:?}");
}

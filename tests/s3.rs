//! Recording to S3 and replaying from it, against a real S3-compatible
//! server (s3s-fs, run by this test process on a free loopback port, with
//! request signatures checked; see tests/common/s3_server.rs): chunks land
//! under the templated keys, read back in order byte for byte, gzip
//! included; refused credentials and a missing bucket give one line naming
//! the flag; the secret key never appears in gor's output.

mod common;
#[path = "common/files.rs"]
mod files_common;
#[path = "common/s3_server.rs"]
mod s3_server;

use common::{SEP, record, records};
use files_common::*;
use s3_server::S3Server as Server;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// The server of this test binary, started at the first call. Its objects
/// are under the target directory (a test process's statics are never
/// dropped, so a temporary directory would stay behind at every run): the
/// previous run's are removed first.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("s3-server");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("a directory for the S3 server");
        Server::start(&root, 2).expect("starting the S3 server")
    })
}

/// What a finished gor printed.
struct Ran {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs gor with the AWS environment pointing at `server` (and
/// `secret` as the secret key), killed at the deadline.
fn gor(server: &Server, secret: &str, args: &[&str]) -> Ran {
    gor_with_endpoint_in("AWS_ENDPOINT_URL", server, secret, args)
}

/// The same, with the endpoint in environment variable `var`.
fn gor_with_endpoint_in(var: &str, server: &Server, secret: &str, args: &[&str]) -> Ran {
    gor_at(var, &server.endpoint, secret, args)
}

/// The same, with the endpoint given as a URL.
fn gor_at(var: &str, endpoint: &str, secret: &str, args: &[&str]) -> Ran {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gor"))
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL")
        .env(var, endpoint)
        .env("AWS_ACCESS_KEY_ID", s3_server::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting gor");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("gor {args:?} did not finish in {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        code: status.code(),
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn today() -> String {
    chrono::Local::now().format("%Y-%m-%d").to_string()
}

/// Recorded to `s3://bucket/prefix…` from `input`, then read back from
/// `s3://bucket/prefix` into one local file, which is returned.
fn round_trip(s: &Server, bucket: &str, template: &str, input: &[u8], extra: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    let src = dir.path().join("in.gor");
    write(&src, input);
    let mut args = vec![
        "--input-file".to_string(),
        format!("{}|10000%", arg(&src)),
        "--output-file".to_string(),
        format!("s3://{bucket}/{template}"),
        "--output-file-buffer".to_string(),
        arg(&staging),
        "--stats".to_string(),
        "--verbose".to_string(),
        "2".to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rec = gor(s, &s.secret_key, &args);
    assert_eq!(rec.code, Some(0), "{}", rec.stderr);
    assert_no_secret(s, &rec);
    assert_eq!(
        names(&staging),
        Vec::<String>::new(),
        "staged chunks left behind"
    );

    let out = dir.path().join("out.gor");
    let prefix = template.split('%').next().unwrap();
    let back = gor(
        s,
        &s.secret_key,
        &[
            "--input-file",
            &format!("s3://{bucket}/{prefix}|10000%"),
            "--output-file",
            &arg(&out),
            "--output-file-append",
        ],
    );
    assert_eq!(back.code, Some(0), "{}", back.stderr);
    assert_no_secret(s, &back);
    std::fs::read(&out).unwrap()
}

fn assert_no_secret(s: &Server, ran: &Ran) {
    let all = format!("{}{}", String::from_utf8_lossy(&ran.stdout), ran.stderr);
    assert!(!all.contains(&s.secret_key), "secret key in gor's output");
}

#[test]
fn chunks_are_uploaded_under_the_templated_key_and_read_back_in_order() {
    let s = server();
    s.bucket("gor-chunks");
    let input = requests(650, 1);
    let back = round_trip(
        s,
        "gor-chunks",
        "rec-%Y-%m-%d.gor",
        &input,
        &["--output-file-queue-limit", "100"],
    );
    let day = today();
    let mut expected: Vec<String> = (0..7).map(|i| format!("rec-{day}_{i}.gor")).collect();
    expected.sort();
    assert_eq!(s.keys("gor-chunks", "rec-"), expected);
    // Each chunk holds its 100 records (the last one 50).
    let third = s.get("gor-chunks", &format!("rec-{day}_2.gor"));
    assert_eq!(records(&third), records(&input)[200..300]);
    assert_eq!(back, input);
}

#[test]
fn an_object_of_several_ranges_reads_back_byte_for_byte() {
    let s = server();
    s.bucket("gor-big");
    // 20 MB in one object: gor reads objects in 8 MiB ranges.
    let body: Vec<u8> = (0..64 << 10).map(|i| b'a' + (i % 26) as u8).collect();
    let input: Vec<u8> = (0..320)
        .flat_map(|n| {
            record(
                &format!("1 {n:024x} {} 0", 1_700_000_000_000_000_000i64 + n),
                &body,
            )
        })
        .collect();
    let back = round_trip(
        s,
        "gor-big",
        "big-%Y.gor",
        &input,
        &["--output-file-queue-limit", "0"],
    );
    let year = &today()[..4];
    assert_eq!(s.keys("gor-big", "big-"), [format!("big-{year}_0.gor")]);
    assert!(
        back == input,
        "{} bytes back of {}",
        back.len(),
        input.len()
    );
}

#[test]
fn a_second_run_continues_after_the_last_index_in_the_bucket() {
    let s = server();
    s.bucket("gor-rerun");
    let first = requests(3, 1);
    round_trip(s, "gor-rerun", "run-%Y.gor", &first, &[]);
    let again = round_trip(s, "gor-rerun", "run-%Y.gor", &requests(2, 1), &[]);
    let year = &today()[..4];
    assert_eq!(
        s.keys("gor-rerun", "run-"),
        [format!("run-{year}_0.gor"), format!("run-{year}_1.gor")]
    );
    // Both runs' records, nothing overwritten.
    assert_eq!(records(&again).len(), 5);
}

#[test]
fn gzip_chunks_are_gzip_objects_and_read_back_byte_for_byte() {
    let s = server();
    s.bucket("gor-gzip");
    let input = requests(300, 1);
    let back = round_trip(s, "gor-gzip", "gz-%Y.gz", &input, &[]);
    let year = &today()[..4];
    assert_eq!(
        s.keys("gor-gzip", "gz-"),
        [format!("gz-{year}_0.gz"), format!("gz-{year}_1.gz")]
    );
    let first = gunzip(&s.get("gor-gzip", &format!("gz-{year}_0.gz")));
    assert_eq!(first.windows(SEP.len()).filter(|w| *w == SEP).count(), 256);
    assert_eq!(back, input);
}

#[test]
fn refused_credentials_give_one_line_naming_the_flag() {
    let s = server();
    s.bucket("gor-refused");
    let wrong = "not-the-secret-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.gor");
    write(&src, &requests(3, 1));
    for (flag, args) in [
        (
            "--output-file s3://gor-refused/x.gor",
            vec![
                "--input-file".to_string(),
                arg(&src),
                "--output-file".to_string(),
                "s3://gor-refused/x.gor".to_string(),
            ],
        ),
        (
            "--input-file s3://gor-refused/x",
            vec![
                "--input-file".to_string(),
                "s3://gor-refused/x".to_string(),
                "--output-null".to_string(),
            ],
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = gor(s, wrong, &args);
        assert_eq!(ran.code, Some(1), "{}", ran.stderr);
        let lines = error_lines(&ran.stderr);
        assert_eq!(lines.len(), 1, "{}", ran.stderr);
        assert!(lines[0].contains(flag), "{}", lines[0]);
        assert!(lines[0].contains("SignatureDoesNotMatch"), "{}", lines[0]);
        assert!(!ran.stderr.contains(wrong), "{}", ran.stderr);
    }
}

/// Also: `AWS_ENDPOINT_URL_S3` alone selects the endpoint.
#[test]
fn missing_bucket_gives_one_line_naming_the_flag() {
    let s = server();
    let ran = gor_with_endpoint_in(
        "AWS_ENDPOINT_URL_S3",
        s,
        &s.secret_key,
        &["--input-file", "s3://gor-no-such-bucket/x", "--output-null"],
    );
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("--input-file s3://gor-no-such-bucket/x"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("NoSuchBucket"), "{}", ran.stderr);
    assert_eq!(error_lines(&ran.stderr).len(), 1, "{}", ran.stderr);
}

/// stderr without gor's start-up line (its version).
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Version:"))
        .collect()
}

#[test]
fn an_s3_server_stopped_and_restarted_mid_run_gets_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    std::fs::create_dir(&root).unwrap();
    let secret = format!("{:032x}", rand::random::<u128>());
    let first = Server::start_at(&root, 1, "127.0.0.1:0", &secret).unwrap();
    first.bucket("restart");
    let endpoint = first.endpoint.clone();
    let addr = endpoint.trim_start_matches("http://").to_string();
    // 800 requests 10 ms apart: about 8 s, in chunks of 20 records.
    let input = requests(800, 10);
    let src = dir.path().join("in.gor");
    write(&src, &input);
    let staging = dir.path().join("staging");
    std::fs::create_dir(&staging).unwrap();
    // Down from the first second to the seventh (longer than the SDK's
    // own retries last), back on the same port.
    let outage = {
        let (root, secret) = (root.clone(), secret.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            first.stop();
            std::thread::sleep(Duration::from_secs(6));
            Server::start_at(&root, 1, &addr, &secret).expect("restarting the S3 server")
        })
    };
    let ran = gor_at(
        "AWS_ENDPOINT_URL",
        &endpoint,
        &secret,
        &[
            "--input-file",
            &arg(&src),
            "--output-file",
            "s3://restart/run/%Y.gor",
            "--output-file-queue-limit",
            "20",
            "--output-file-buffer",
            &arg(&staging),
        ],
    );
    let again = outage.join().unwrap();
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let waiting: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains("upload failed"))
        .collect();
    assert_eq!(
        waiting.len(),
        1,
        "one line while S3 is away:\n{}",
        ran.stderr
    );
    assert!(waiting[0].contains("trying again"), "{}", waiting[0]);
    assert!(!ran.stderr.contains("s3_upload_errors"), "{}", ran.stderr);
    assert_eq!(names(&staging), Vec::<String>::new(), "chunks left behind");
    // Every chunk is in the bucket: the records read back in index order.
    let mut keys: Vec<(u64, String)> = again
        .keys("restart", "run/")
        .into_iter()
        .map(|k| {
            let n = k
                .rsplit('_')
                .next()
                .unwrap()
                .trim_end_matches(".gor")
                .parse()
                .unwrap();
            (n, k)
        })
        .collect();
    keys.sort();
    let back: Vec<u8> = keys
        .iter()
        .flat_map(|(_, k)| again.get("restart", k))
        .collect();
    assert_eq!(records(&back), records(&input));
    again.stop();
}

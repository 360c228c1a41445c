//! The command line as a user types it: every flag form Go's flag package
//! takes, the help, and the one-line errors with exit status 2.

mod common;
use common::{records, run};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn help_lists_every_flag_with_its_default_and_exits_0() {
    for flag in ["-h", "--help", "-help"] {
        let out = run(&[flag], T);
        assert_eq!(out.code(), Some(0), "{flag}");
        let help = String::from_utf8_lossy(&out.stdout);
        for (name, default) in [
            ("--input-raw", None),
            ("--output-http-queue-len", Some("[default: 1000]")),
            ("--copy-buffer-size", Some("[default: 5mb]")),
            ("--output-file-size-limit", Some("[default: 32mb]")),
            ("--input-raw-expire", Some("[default: 2s]")),
            ("--input-kafka-offset", Some("[default: -1]")),
            ("--output-http-compatibility-mode", None),
            ("--http-set-header", None),
        ] {
            assert!(help.contains(name), "{name} missing from help");
            if let Some(d) = default {
                let line_and_next: String = help
                    .lines()
                    .skip_while(|l| !l.contains(&format!("{name} ")))
                    .take(2)
                    .collect();
                assert!(
                    line_and_next.contains(d),
                    "{name}: {d} not shown in {line_and_next:?}"
                );
            }
        }
    }
}

#[test]
fn help_groups_the_flags_by_plugin() {
    let out = run(&["--help"], T);
    let help = String::from_utf8_lossy(&out.stdout);
    let mut at = 0;
    // Inputs, then outputs, then what sits between them; each flag under
    // its plugin's heading.
    for (heading, flag) in [
        ("Input: raw capture:", "--input-raw-expire"),
        ("Input: file:", "--input-file-read-depth"),
        ("Output: HTTP replay:", "--output-http-timeout"),
        ("Output: file:", "--output-file-size-limit"),
        (
            "Modifier: HTTP filters and rewrites:",
            "--http-disallow-url",
        ),
        ("Middleware:", "--middleware"),
    ] {
        let h = at
            + help[at..]
                .find(&format!("\n{heading}\n"))
                .unwrap_or_else(|| panic!("{heading} missing or out of order:\n{help}"));
        let section_end = help[h + 1..].find("\n\n").map_or(help.len(), |e| h + 1 + e);
        assert!(
            help[h..section_end].contains(&format!("{flag} ")),
            "{flag} not under {heading}"
        );
        at = h + 1;
    }
}

#[test]
fn unknown_flag_exits_2_naming_the_flag() {
    let out = run(
        &["--input-dummy", "x", "--no-such-flag", "--output-stdout"],
        T,
    );
    assert_eq!(out.code(), Some(2));
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("flag provided but not defined: -no-such-flag"),
        "{first}"
    );
}

#[test]
fn mistyped_flag_names_the_closest_real_one_and_exits_2() {
    for (args, line) in [
        (
            &["--input-dummy", "x", "-output-htp", "http://staging"][..],
            "gor: flag provided but not defined: -output-htp (did you mean --output-http?)",
        ),
        (
            &["-input-dumy=x", "--output-stdout"],
            "gor: flag provided but not defined: -input-dumy (did you mean --input-dummy?)",
        ),
        (
            &["--input-dummy", "x", "--output-stdout", "--verbos", "1"],
            "gor: flag provided but not defined: -verbos (did you mean --verbose?)",
        ),
        // Nothing close: Go's line alone.
        (
            &["--input-dummy", "x", "--zzz"],
            "gor: flag provided but not defined: -zzz",
        ),
    ] {
        let out = run(args, T);
        assert_eq!(out.code(), Some(2), "{args:?}");
        assert_eq!(out.stderr.lines().next(), Some(line), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
    }
}

#[test]
fn hidden_generator_prints_the_man_page_and_completions() {
    for (what, opening) in [
        ("man", "\n.TH gor 1 "),
        ("bash", "_gor()"),
        ("zsh", "#compdef gor"),
        ("fish", "complete -c gor"),
    ] {
        let out = run(&["__generate", what], T);
        assert_eq!(out.code(), Some(0), "{what}: {}", out.stderr);
        // roff escapes the dashes of the man page.
        let text = String::from_utf8_lossy(&out.stdout).replace("\\-", "-");
        assert!(
            text.contains(opening),
            "{what}: {}",
            &text[..text.len().min(200)]
        );
        assert!(text.contains("output-http-timeout"), "{what}");
    }
    let out = run(&["__generate", "powershell"], T);
    assert_eq!(out.code(), Some(2));
    assert!(
        out.stderr.contains("man, bash, zsh or fish"),
        "{}",
        out.stderr
    );
    // Not a flag and not in the help: GoReplay's command lines never reach it.
    let help = String::from_utf8_lossy(&run(&["--help"], T).stdout).into_owned();
    assert!(!help.contains("__generate"));
}

#[test]
fn bad_values_exit_2_naming_flag_and_value() {
    for (args, flag, value) in [
        (vec!["--exit-after", "5"], "-exit-after", "\"5\""),
        (
            vec!["--copy-buffer-size", "10m"],
            "-copy-buffer-size",
            "\"10m\"",
        ),
        (
            vec!["--output-http-workers", "many"],
            "-output-http-workers",
            "\"many\"",
        ),
        (
            vec!["--input-raw-engine", "magic"],
            "-input-raw-engine",
            "\"magic\"",
        ),
        (vec!["--stats=maybe"], "-stats", "\"maybe\""),
    ] {
        let mut full = args.clone();
        full.extend(["--input-dummy", "x", "--output-null"]);
        let out = run(&full, T);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains(flag) && first.contains(value),
            "{args:?}: {first}"
        );
    }
}

#[test]
fn missing_value_exits_2() {
    let out = run(
        &["--input-dummy", "x", "--output-stdout", "--exit-after"],
        T,
    );
    assert_eq!(out.code(), Some(2));
    assert!(
        out.stderr.contains("flag needs an argument: -exit-after"),
        "{}",
        out.stderr
    );
}

#[test]
fn all_flag_forms_are_accepted() {
    // -flag value, --flag value, -flag=value, --flag=value, bare bools and
    // bool=value; Go durations; a value starting with a dash.
    let out = run(
        &[
            "-input-dummy",
            "a",
            "--input-dummy=b",
            "-output-stdout",
            "--output-null=false",
            "-exit-after=1500ms",
            "--verbose",
            "-1",
            "--copy-buffer-size",
            "32mb",
            "-stats=0",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    // Two dummy inputs for ~1.5 s: each emitted one request and its response.
    let recs = records(&out.stdout);
    assert_eq!(recs.len(), 4, "{recs:?}");
}

#[test]
fn a_bool_flag_followed_by_a_word_ends_the_flags_with_a_notice() {
    let out = run(
        &[
            "--input-dummy",
            "x",
            "--output-null",
            "--exit-after",
            "100ms",
            "--stats",
            "true",
            "--verbose",
            "2",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0));
    assert!(out.stderr.contains("ignoring \"true\""), "{}", out.stderr);
}

#[test]
fn no_input_or_no_output_is_an_error() {
    let out = run(&["--output-stdout"], T);
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr
            .contains("Required at least 1 input and 1 output"),
        "{}",
        out.stderr
    );
}

#[test]
fn exit_after_stops_cleanly_with_status_0() {
    let started = std::time::Instant::now();
    let out = run(
        &[
            "--input-dummy",
            "x",
            "--output-null",
            "--exit-after",
            "300ms",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        out.stderr.contains("gor run timeout 300ms"),
        "{}",
        out.stderr
    );
}

#[test]
fn sigterm_stops_cleanly_with_status_0() {
    let gor = common::Running::start(&["--input-dummy", "x", "--output-stdout"]);
    gor.wait_records(2, T);
    gor.signal(libc::SIGTERM);
    let out = gor.wait(T);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    // The request and response emitted after one second were flushed.
    assert_eq!(records(&out.stdout).len(), 2);
}

#[test]
fn legacy_flags_from_blog_posts_start() {
    let out = run(
        &[
            "--input-dummy",
            "x",
            "--output-dummy=",
            "--output-http-compatibility-mode",
            "--input-raw-immediate-mode",
            "--exit-after",
            "100ms",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--output-dummy is deprecated: use --output-stdout"),
        "{}",
        out.stderr
    );
}

#[test]
fn limiter_suffix_thins_an_input() {
    // 0% of the dummy input passes: nothing reaches stdout.
    let out = run(
        &[
            "--input-dummy",
            "x|0%",
            "--output-stdout",
            "--exit-after",
            "1500ms",
        ],
        T,
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(records(&out.stdout).is_empty());
    let bad = run(&["--input-dummy", "x|lots", "--output-stdout"], T);
    assert_eq!(bad.code(), Some(2));
    assert!(
        bad.stderr.contains("-input-dummy") && bad.stderr.contains("lots"),
        "{}",
        bad.stderr
    );
}

#[test]
fn http_pprof_serves_counters_as_json_and_prometheus() {
    let gor = common::Running::start(&[
        "--input-dummy",
        "x",
        "--output-null",
        "--http-pprof",
        "127.0.0.1:0",
        "--exit-after",
        "5s",
    ]);
    let port = gor.port_after("--http-pprof listening on ", T);
    let get = |path: &str| common::http_get(port, path);
    // The dummy input emits its first request and response after a second.
    let mut vars = String::new();
    common::wait_until(Duration::from_secs(4), "two dummy messages counted", || {
        vars = get("/debug/vars");
        vars.contains("\"input_dummy.messages\":2")
    });
    assert!(vars.contains("application/json"), "{vars}");
    let metrics = get("/metrics");
    assert!(
        metrics.contains("gor_messages_read_total{input=\"input_dummy\"} 2"),
        "{metrics}"
    );
    drop(gor);
}

//! The command line: GoReplay's flags, read with Go's `flag` package rules.
//!
//! clap holds the flag definitions (`flags.rs`) and the help text; this module
//! first rewrites the arguments the way Go's parser reads them, so that every
//! command line written for GoReplay means the same here:
//!
//! * `-name` and `--name` are the same flag; three dashes are an error;
//! * a non-bool flag takes the next argument as its value even when it starts
//!   with `-` (`--input-kafka-offset -2`), or `-name=value`;
//! * a bool flag is `-name` or `-name=<bool>`; `-name false` does not work
//!   (`false` is a positional argument, which ends the flags);
//! * parsing stops at the first positional argument or `--`; GoReplay ignores
//!   the rest silently, we ignore it too but say so on stderr;
//! * unknown flags and bad values are one line naming the flag, exit 2; an
//!   unknown flag also names the closest real one.
//!
//! Two words before any flag are ours, not GoReplay's: `file-server` and the
//! hidden `__generate` (man page and completions, see `generate.rs`).

pub mod choices;
mod flags;
pub mod generate;
mod typo;
pub mod values;

pub use crate::plugin::UsageError;
pub use flags::{BOOL_FLAGS, Settings};

use clap::CommandFactory;
use clap::error::{ContextKind, ContextValue, ErrorKind};

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the pipeline. `notices` are lines for stderr (deprecated flags,
    /// ignored arguments), to be logged once logging is set up.
    Run {
        settings: Box<Settings>,
        notices: Vec<String>,
    },
    /// `-h`, `--help`: print this text and exit 0.
    Help(String),
    /// `gor file-server :PORT`: serve the current directory.
    FileServer(String),
    /// `gor __generate man|bash|zsh|fish`: print the man page or a
    /// completion script and exit 0.
    Generate(generate::Artifact),
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    if args.first().map(String::as_str) == Some("file-server") {
        return match args.len() {
            2 => Ok(Command::FileServer(args[1].clone())),
            _ => Err(UsageError(
                "file-server needs exactly one argument: the address to listen on, e.g. :8000"
                    .into(),
            )),
        };
    }
    if args.first().map(String::as_str) == Some(generate::SUBCOMMAND) {
        return generate::Artifact::parse(&args[1..]).map(Command::Generate);
    }
    let mut notices = Vec::new();
    let normalized = match go_style_args(args, &mut notices)? {
        Some(n) => n,
        None => return Ok(Command::Help(help_text())),
    };
    let mut settings = Settings::try_parse_from_normalized(&normalized)?;
    settings.validate()?;
    settings.apply_legacy_flags(&mut notices);
    notices.extend(settings.input_raw_timestamp_type.notice());
    Ok(Command::Run {
        settings: Box::new(settings),
        notices,
    })
}

/// The full help: every flag with its default.
pub fn help_text() -> String {
    Settings::command().render_help().to_string()
}

/// Rewrites Go-style arguments into `--name=value` form for clap. Returns
/// `None` when help was asked for.
fn go_style_args(
    args: &[String],
    notices: &mut Vec<String>,
) -> Result<Option<Vec<String>>, UsageError> {
    let cmd = Settings::command();
    let known = |name: &str| cmd.get_arguments().any(|a| a.get_long() == Some(name));
    let mut out = vec!["gor".to_string()];
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            if i + 1 < args.len() {
                notices.push(format!(
                    "ignoring arguments after \"--\": {}",
                    args[i + 1..].join(" ")
                ));
            }
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            notices.push(format!(
                "ignoring \"{arg}\" and everything after it: flags end at the first argument that is not a flag (a bool flag takes its value as -flag=value)"
            ));
            break;
        }
        let body = arg.strip_prefix("--").unwrap_or(&arg[1..]);
        if body.is_empty() || body.starts_with('-') || body.starts_with('=') {
            return Err(UsageError(format!("bad flag syntax: {arg}")));
        }
        let (name, inline_value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if name == "h" || name == "help" {
            return Ok(None);
        }
        if !known(name) {
            return Err(unknown_flag(name));
        }
        if BOOL_FLAGS.contains(&name) {
            let value = match inline_value {
                None => true,
                Some(v) => values::parse_bool(v).map_err(|_| {
                    UsageError(format!(
                        "invalid boolean value {v:?} for -{name}: parse error"
                    ))
                })?,
            };
            out.push(format!("--{name}={value}"));
        } else {
            let value = match inline_value {
                Some(v) => v.to_string(),
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| UsageError(format!("flag needs an argument: -{name}")))?
                }
            };
            out.push(format!("--{name}={value}"));
        }
        i += 1;
    }
    Ok(Some(out))
}

impl Settings {
    fn try_parse_from_normalized(args: &[String]) -> Result<Settings, UsageError> {
        use clap::Parser;
        Settings::try_parse_from(args).map_err(|e| clap_error_to_usage(&e))
    }

    /// Checks values clap cannot check on its own (enumerations, ranges).
    fn validate(&self) -> Result<(), UsageError> {
        if self.output_tcp_workers < 1 && !self.output_tcp.is_empty() {
            return Err(UsageError::invalid_value(
                "output-tcp-workers",
                &self.output_tcp_workers.to_string(),
                "needs at least 1 worker",
            ));
        }
        if self.output_ws_workers < 1 && !self.output_ws.is_empty() {
            return Err(UsageError::invalid_value(
                "output-ws-workers",
                &self.output_ws_workers.to_string(),
                "needs at least 1 worker",
            ));
        }
        if self.output_http_stats_ms < 1000 {
            return Err(UsageError::invalid_value(
                "output-http-stats-ms",
                &self.output_http_stats_ms.to_string(),
                "the stats period is at least 1000 ms",
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.input_file {
            if !seen.insert(f) {
                return Err(UsageError::invalid_value(
                    "input-file",
                    f,
                    "the same input file is given twice",
                ));
            }
        }
        Ok(())
    }

    /// GoReplay 1.x flags act as their modern forms, with a notice.
    fn apply_legacy_flags(&mut self, notices: &mut Vec<String>) {
        fn merge(
            notices: &mut Vec<String>,
            old: &str,
            new: &str,
            from: &mut Vec<String>,
            to: &mut Vec<String>,
        ) {
            if !from.is_empty() {
                notices.push(format!(
                    "--{old} is deprecated: use --{new} (it does the same)"
                ));
                to.append(from);
            }
        }
        if !self.output_dummy.is_empty() {
            notices.push(
                "--output-dummy is deprecated: use --output-stdout (it does the same)".into(),
            );
            self.output_stdout = true;
            self.output_dummy.clear();
        }
        merge(
            notices,
            "output-http-header",
            "http-set-header",
            &mut self.output_http_header,
            &mut self.http_set_header,
        );
        merge(
            notices,
            "output-http-header-filter",
            "http-allow-header",
            &mut self.output_http_header_filter,
            &mut self.http_allow_header,
        );
        merge(
            notices,
            "output-http-header-hash-filter",
            "http-header-limiter",
            &mut self.output_http_header_hash_filter,
            &mut self.http_header_limiter,
        );
        merge(
            notices,
            "output-http-method",
            "http-allow-method",
            &mut self.output_http_method,
            &mut self.http_allow_method,
        );
        merge(
            notices,
            "output-http-url-regexp",
            "http-allow-url",
            &mut self.output_http_url_regexp,
            &mut self.http_allow_url,
        );
        merge(
            notices,
            "output-http-rewrite-url",
            "http-rewrite-url",
            &mut self.output_http_rewrite_url,
            &mut self.http_rewrite_url,
        );
        for (flag, value) in [
            ("cpuprofile", &self.cpuprofile),
            ("memprofile", &self.memprofile),
        ] {
            if !value.is_empty() {
                notices.push(format!(
                    "--{flag} has no effect in gor (it wrote Go profiles): use perf record -p <pid>"
                ));
            }
        }
        for (set, name, why) in [
            (
                self.input_raw_immediate_mode,
                "input-raw-immediate-mode",
                "immediate mode is always on",
            ),
            (
                self.output_http_compatibility_mode,
                "output-http-compatibility-mode",
                "gor's HTTP client is always the compatible one",
            ),
        ] {
            if set {
                notices.push(format!("--{name} is deprecated and has no effect: {why}"));
            }
        }
    }

    /// Default settings, as if gor had been started with no flags.
    pub fn defaults() -> Settings {
        Settings::try_parse_from_normalized(&["gor".to_string()]).expect("the defaults parse")
    }
}

/// Go's line for a flag it does not know, plus the closest real flag when
/// one is close: `flag provided but not defined: -output-htp (did you mean
/// --output-http?)`.
fn unknown_flag(name: &str) -> UsageError {
    let cmd = Settings::command();
    let known = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long());
    let mut line = format!("flag provided but not defined: -{name}");
    if let Some(flag) = typo::closest(name, known) {
        line.push_str(&format!(" (did you mean --{flag}?)"));
    }
    UsageError(line)
}

/// Turns a clap error into Go's one-line wording.
fn clap_error_to_usage(e: &clap::Error) -> UsageError {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    let flag = context(ContextKind::InvalidArg)
        .map(|a| {
            a.trim_start_matches('-')
                .split([' ', '[', '='])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    match e.kind() {
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let value = context(ContextKind::InvalidValue).unwrap_or_default();
            let reason = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| "parse error".into());
            UsageError::invalid_value(&flag, &value, reason)
        }
        ErrorKind::UnknownArgument => unknown_flag(&flag),
        _ => UsageError(
            e.to_string()
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<(Settings, Vec<String>), UsageError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Command::Run { settings, notices } => Ok((*settings, notices)),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn single_and_double_dash_are_the_same_flag() {
        let (s, _) = run(&["-verbose=3", "-input-dummy", "a", "--input-dummy=b"]).unwrap();
        assert_eq!(s.verbose, 3);
        assert_eq!(s.input_dummy, vec!["a", "b"]);
    }

    #[test]
    fn value_may_start_with_a_dash() {
        let (s, _) = run(&["--input-kafka-offset", "-2", "--verbose", "-1"]).unwrap();
        assert_eq!(s.input_kafka_offset, "-2");
        assert_eq!(s.verbose, -1);
    }

    #[test]
    fn bool_flag_does_not_take_a_separate_value() {
        let (s, notices) = run(&["--stats", "true", "--verbose", "2"]).unwrap();
        assert!(s.stats);
        assert_eq!(s.verbose, 0);
        assert!(
            notices.iter().any(|n| n.contains("ignoring \"true\"")),
            "{notices:?}"
        );
    }

    #[test]
    fn bool_flag_takes_an_equals_value() {
        let (s, _) = run(&["--stats=false", "-output-stdout=T"]).unwrap();
        assert!(!s.stats);
        assert!(s.output_stdout);
        let err = run(&["--stats=yes"]).unwrap_err();
        assert_eq!(
            err.0,
            "invalid boolean value \"yes\" for -stats: parse error"
        );
    }

    #[test]
    fn scalar_flags_last_one_wins() {
        let (s, _) = run(&[
            "--verbose",
            "1",
            "--verbose",
            "2",
            "--stats",
            "--stats=false",
        ])
        .unwrap();
        assert_eq!(s.verbose, 2);
        assert!(!s.stats);
    }

    #[test]
    fn unknown_flag_is_named() {
        assert_eq!(
            run(&["--nope"]).unwrap_err().0,
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            run(&["-output-htp", "x"]).unwrap_err().0,
            "flag provided but not defined: -output-htp (did you mean --output-http?)"
        );
        assert_eq!(
            run(&["---verbose"]).unwrap_err().0,
            "bad flag syntax: ---verbose"
        );
    }

    #[test]
    fn bad_values_name_the_flag_and_value() {
        assert_eq!(
            run(&["--exit-after", "5"]).unwrap_err().0,
            "invalid value \"5\" for flag -exit-after: parse error"
        );
        let size = run(&["--copy-buffer-size", "10m"]).unwrap_err().0;
        assert!(
            size.starts_with("invalid value \"10m\" for flag -copy-buffer-size: invalid size"),
            "{size}"
        );
        assert!(
            run(&["--input-raw-engine", "magic"])
                .unwrap_err()
                .0
                .contains("-input-raw-engine")
        );
    }

    #[test]
    fn engine_protocol_and_timestamp_names_are_parsed_once() {
        use choices::{CaptureProtocol, Engine, TimestampType};
        let s = Settings::defaults();
        assert_eq!(s.input_raw_engine, Engine::Libpcap);
        assert_eq!(s.input_raw_protocol, CaptureProtocol::Http);
        assert_eq!(s.input_raw_timestamp_type, TimestampType::Default);
        let (s, notices) = run(&[
            "--input-raw-engine=af_packet",
            "--input-raw-protocol",
            "binary",
            "--input-raw-timestamp-type",
            "Adapter",
        ])
        .unwrap();
        assert_eq!(s.input_raw_engine, Engine::RawSocket);
        assert_eq!(s.input_raw_protocol, CaptureProtocol::Binary);
        assert_eq!(s.input_raw_timestamp_type, TimestampType::Adapter);
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(
            run(&["--input-raw-protocol", "http2"]).unwrap_err().0,
            "invalid value \"http2\" for flag -input-raw-protocol: unsupported protocol http2 (expected http or binary)"
        );
        // An empty name is the default, as in GoReplay.
        let (s, _) = run(&["--input-raw-engine=", "--input-raw-protocol="]).unwrap();
        assert_eq!(s.input_raw_engine, Engine::Libpcap);
        assert_eq!(s.input_raw_protocol, CaptureProtocol::Http);
        // GoReplay falls back to host for a timestamp source libpcap does
        // not know; so does gor, with a notice naming the flag.
        let (s, notices) = run(&["--input-raw-timestamp-type", "atomic"]).unwrap();
        assert_eq!(
            s.input_raw_timestamp_type,
            TimestampType::Unknown("atomic".into())
        );
        assert!(
            notices
                .iter()
                .any(|n| n.starts_with("--input-raw-timestamp-type atomic")),
            "{notices:?}"
        );
    }

    #[test]
    fn missing_value_is_reported() {
        assert_eq!(
            run(&["--output-file"]).unwrap_err().0,
            "flag needs an argument: -output-file"
        );
    }

    #[test]
    fn defaults_match_goreplay() {
        let s = Settings::defaults();
        assert_eq!(s.copy_buffer_size, 5 << 20);
        assert_eq!(s.output_file_size_limit, 32 << 20);
        assert_eq!(s.output_file_max_size_limit, 1 << 40);
        assert_eq!(s.output_file_queue_limit, 256);
        assert_eq!(s.input_file_read_depth, 100);
        assert_eq!(s.output_http_queue_len, 1000);
        assert_eq!(s.output_http_timeout, std::time::Duration::from_secs(5));
        assert_eq!(s.input_raw_expire, std::time::Duration::from_secs(2));
        assert_eq!(s.output_tcp_workers, 10);
        assert_eq!(s.input_kafka_offset, "-1");
        assert_eq!(s.input_raw_vxlan_port, 4789);
        assert_eq!(s.output_file_buffer, "/tmp");
    }

    #[test]
    fn legacy_flags_act_as_their_modern_form() {
        let (s, notices) = run(&[
            "--output-dummy=x",
            "--output-http-method",
            "GET",
            "--input-raw-immediate-mode",
        ])
        .unwrap();
        assert!(s.output_stdout);
        assert_eq!(s.http_allow_method, vec!["GET"]);
        assert_eq!(notices.len(), 3, "{notices:?}");
    }

    #[test]
    fn help_is_asked_with_h_or_help() {
        for h in ["-h", "--help", "-help"] {
            assert!(matches!(parse(&[h.to_string()]), Ok(Command::Help(_))));
        }
    }

    #[test]
    fn help_lists_every_flag() {
        let help = help_text();
        for arg in Settings::command().get_arguments() {
            let long = arg.get_long().unwrap();
            assert!(
                help.contains(&format!("--{long}")),
                "--{long} missing from help"
            );
        }
        assert!(help.contains("[default: 5mb]"));
    }

    #[test]
    fn help_groups_flags_under_their_plugin() {
        let help = help_text();
        // The flags listed under `heading`, up to the next heading.
        let section = |heading: &str| -> String {
            let start = help
                .find(&format!("\n{heading}:\n"))
                .unwrap_or_else(|| panic!("no heading {heading:?} in\n{help}"));
            let rest = &help[start + heading.len() + 3..];
            let end = rest.find("\n\n").unwrap_or(rest.len());
            rest[..end].to_string()
        };
        for (heading, flags) in [
            (
                "General",
                &["--verbose", "--exit-after", "--http-pprof"][..],
            ),
            (
                "Input: raw capture",
                &["--input-raw ", "--input-raw-engine"],
            ),
            ("Input: file", &["--input-file ", "--input-file-read-depth"]),
            ("Output: file", &["--output-file ", "--output-file-append"]),
            (
                "Output: HTTP replay",
                &[
                    "--output-http ",
                    "--output-http-workers",
                    "--http-original-host",
                ],
            ),
            (
                "Modifier: HTTP filters and rewrites",
                &["--http-allow-url", "--http-set-header"],
            ),
            ("Legacy flags (GoReplay 1.x)", &["--output-dummy"]),
        ] {
            let text = section(heading);
            for flag in flags {
                assert!(text.contains(flag), "{flag} not under {heading}:\n{text}");
            }
        }
        assert!(!section("Input: file").contains("--output-file"));
        assert!(!section("General").contains("--http-set-header"));
    }

    #[test]
    fn stats_period_under_a_second_is_an_error() {
        assert!(
            run(&["--output-http-stats-ms", "500"])
                .unwrap_err()
                .0
                .contains("-output-http-stats-ms")
        );
    }

    #[test]
    fn duplicate_input_file_is_an_error() {
        assert!(
            run(&["--input-file", "a.gor", "--input-file", "a.gor"])
                .unwrap_err()
                .0
                .contains("twice")
        );
    }
}

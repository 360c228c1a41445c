//! Every flag gor accepts, GoReplay's and the legacy ones, with its default.
//! The names, types, defaults and repeatability are a compatibility contract
//! (command lines written for GoReplay must mean the same here); the help
//! texts are ours.
//!
//! `--help` groups the flags by plugin (`help_heading`): the headings come in
//! the order of their first field here, so each plugin's fields sit together.

use super::choices::{CaptureProtocol, Engine, TimestampType};
use super::values;
use clap::{ArgAction, Parser};
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "gor",
    version,
    about = "Capture, save, rewrite and replay live HTTP traffic (a drop-in GoReplay)",
    args_override_self = true,
    disable_help_flag = true,
    disable_version_flag = true,
    max_term_width = 110
)]
pub struct Settings {
    /// Log level: 0 shows info, 1 debug, 2 and more traces every message; a negative value shows errors only
    #[arg(long, help_heading = "General", value_name = "INT", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_int)]
    pub verbose: i64,

    /// Print queue and drop statistics periodically (needed by the per-output *-stats flags)
    #[arg(long, help_heading = "General", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub stats: bool,

    /// Exit after this long (Go duration, e.g. 30s, 5m); 0 runs until interrupted or every finite input is done
    #[arg(long, help_heading = "General", value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_duration)]
    pub exit_after: Duration,

    /// Send each message to one output in turn (round robin) instead of to every output
    #[arg(long, help_heading = "General", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub split_output: bool,

    /// With --split-output, keep every message of one TCP session on the same output (hash of the id)
    #[arg(long, help_heading = "General", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub recognize_tcp_sessions: bool,

    /// Address of a debug HTTP server (e.g. :8181) serving /debug/vars and /metrics
    #[arg(
        long,
        help_heading = "General",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub http_pprof: String,

    /// Maximum bytes of a message kept; longer payloads are cut
    #[arg(long, help_heading = "General", value_name = "SIZE", allow_hyphen_values = true, default_value = "5mb", value_parser = values::parse_size)]
    pub copy_buffer_size: u64,

    /// Decode chunked and gzip-encoded bodies before output
    #[arg(long, help_heading = "General", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub prettify_http: bool,

    /// Accepted for compatibility: Go CPU profile path (gor writes none; use perf)
    #[arg(
        long,
        help_heading = "General",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub cpuprofile: String,

    /// Accepted for compatibility: Go heap profile path (gor writes none)
    #[arg(
        long,
        help_heading = "General",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub memprofile: String,

    /// Capture HTTP traffic on [host]:port[,port] (e.g. :80), an interface name, or a .pcap file
    #[arg(long, help_heading = "Input: raw capture", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub input_raw: Vec<String>,

    /// Also capture responses (type 2), paired with their requests
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_track_response: bool,

    /// Capture engine: libpcap, raw_socket, af_packet, pcap_file or vxlan
    #[arg(
        long,
        help_heading = "Input: raw capture",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = "libpcap",
        value_parser = Engine::parse
    )]
    pub input_raw_engine: Engine,

    /// Protocol of the captured traffic: http or binary
    #[arg(
        long,
        help_heading = "Input: raw capture",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = "http",
        value_parser = CaptureProtocol::parse
    )]
    pub input_raw_protocol: CaptureProtocol,

    /// Header name to add to each captured request with the client IP (e.g. X-Real-IP)
    #[arg(
        long,
        help_heading = "Input: raw capture",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_raw_realip_header: String,

    /// How long an unfinished message may stay idle before it is dropped
    #[arg(long, help_heading = "Input: raw capture", value_name = "DURATION", allow_hyphen_values = true, default_value = "2s", value_parser = values::parse_duration)]
    pub input_raw_expire: Duration,

    /// BPF filter replacing the automatic one
    #[arg(
        long,
        help_heading = "Input: raw capture",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_raw_bpf_filter: String,

    /// libpcap timestamp source (host, host_lowprec, host_hiprec, adapter, adapter_unsynced) or go
    #[arg(
        long,
        help_heading = "Input: raw capture",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = "",
        value_parser = TimestampType::parse
    )]
    pub input_raw_timestamp_type: TimestampType,

    /// Accepted for compatibility: gor always snaps at 262144 bytes unless the buffer is smaller
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_override_snaplen: bool,

    /// libpcap read timeout (0 = immediate delivery)
    #[arg(long, help_heading = "Input: raw capture", value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_duration)]
    pub input_raw_buffer_timeout: Duration,

    /// Kernel capture buffer size (0 = 32mb)
    #[arg(long, help_heading = "Input: raw capture", value_name = "SIZE", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_size)]
    pub input_raw_buffer_size: u64,

    /// Capture in promiscuous mode
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_promisc: bool,

    /// Capture in RF monitor mode (wireless)
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_monitor: bool,

    /// Print capture counters (packets, messages, drops by reason) with --stats and at exit
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_stats: bool,

    /// Emit messages that expired unfinished instead of dropping them
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_allow_incomplete: bool,

    /// Interface name to leave out when capturing on all interfaces
    #[arg(long, help_heading = "Input: raw capture", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub input_raw_ignore_interface: Vec<String>,

    /// UDP port of the vxlan engine
    #[arg(long, help_heading = "Input: raw capture", value_name = "INT", allow_hyphen_values = true, default_value = "4789", value_parser = values::parse_int)]
    pub input_raw_vxlan_port: i64,

    /// VXLAN VNI to accept (negative: to reject); repeatable
    #[arg(long, help_heading = "Input: raw capture", value_name = "INT", action = ArgAction::Append, allow_hyphen_values = true, value_parser = values::parse_int)]
    pub input_raw_vxlan_vni: Vec<i64>,

    /// Expect 802.1Q VLAN-tagged frames
    #[arg(long, help_heading = "Input: raw capture", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_vlan: bool,

    /// VLAN id to capture; repeatable
    #[arg(long, help_heading = "Input: raw capture", value_name = "INT", action = ArgAction::Append, allow_hyphen_values = true, value_parser = values::parse_int)]
    pub input_raw_vlan_vid: Vec<i64>,

    /// Read records from a file, glob pattern or s3://bucket/prefix; `file.gor|200%` replays twice as fast
    #[arg(long, help_heading = "Input: file", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub input_file: Vec<String>,

    /// Start again from the beginning when every file is done
    #[arg(long, help_heading = "Input: file", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_file_loop: bool,

    /// Records read ahead per file to re-order them by timestamp
    #[arg(long, help_heading = "Input: file", value_name = "INT", allow_hyphen_values = true, default_value = "100", value_parser = values::parse_int)]
    pub input_file_read_depth: i64,

    /// Read and time every record without emitting, then print a summary
    #[arg(long, help_heading = "Input: file", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_file_dry_run: bool,

    /// Longest pause between two records (0 = no cap)
    #[arg(long, help_heading = "Input: file", value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_duration)]
    pub input_file_max_wait: Duration,

    /// Accept HTTP requests on this address (e.g. :8080), answer 200 and emit them
    #[arg(long, help_heading = "Input: HTTP", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub input_http: Vec<String>,

    /// Receive records from another gor on this address (e.g. :28020)
    #[arg(long, help_heading = "Input: TCP (from another gor)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub input_tcp: Vec<String>,

    /// Serve TLS on --input-tcp
    #[arg(long, help_heading = "Input: TCP (from another gor)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_tcp_secure: bool,

    /// PEM certificate for --input-tcp-secure
    #[arg(
        long,
        help_heading = "Input: TCP (from another gor)",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_tcp_certificate: String,

    /// PEM key for --input-tcp-secure
    #[arg(
        long,
        help_heading = "Input: TCP (from another gor)",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_tcp_certificate_key: String,

    /// Kafka brokers to read from, comma separated
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_kafka_host: String,

    /// Kafka topic to read from
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_kafka_topic: String,

    /// Read JSON documents instead of raw records
    #[arg(long, help_heading = "Input: Kafka", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_kafka_json_format: bool,

    /// Authenticate to Kafka with SASL
    #[arg(long, help_heading = "Input: Kafka", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_kafka_use_sasl: bool,

    /// SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_kafka_mechanism: String,

    /// SASL user name
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_kafka_username: String,

    /// SASL password
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_kafka_password: String,

    /// Where to start: -1 newest, -2 oldest, N an offset; optional |N% replay speed
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = "-1"
    )]
    pub input_kafka_offset: String,

    /// Consumer group to share partitions between several gor (gor extension)
    #[arg(
        long,
        help_heading = "Input: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub input_kafka_group: String,

    /// Generate one request and its response every second (value ignored; optional |limit)
    #[arg(long, help_heading = "Input: dummy", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub input_dummy: Vec<String>,

    /// Replay requests to this URL (http://host:port[/prefix], https://...; optional |limit)
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http: Vec<String>,

    /// Minimum number of replay workers (0 = 1)
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "INT", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_int)]
    pub output_http_workers_min: i64,

    /// Maximum number of replay workers (0 = grow as needed)
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "INT", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_int)]
    pub output_http_workers: i64,

    /// Requests waiting for a worker before back-pressure (file input) or drops (live capture)
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "INT", allow_hyphen_values = true, default_value = "1000", value_parser = values::parse_int)]
    pub output_http_queue_len: i64,

    /// How often an idle extra worker is stopped
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "DURATION", allow_hyphen_values = true, default_value = "2s", value_parser = values::parse_duration)]
    pub output_http_worker_timeout: Duration,

    /// Time limit of one exchange: connect, send, receive
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "DURATION", allow_hyphen_values = true, default_value = "5s", value_parser = values::parse_duration)]
    pub output_http_timeout: Duration,

    /// Follow up to this many redirects
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "INT", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_int)]
    pub output_http_redirects: i64,

    /// Do not verify the target's TLS certificate
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_http_skip_verify: bool,

    /// Emit the target's responses as type 3 messages to every output
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_http_track_response: bool,

    /// Most response bytes kept per replayed response
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "SIZE", allow_hyphen_values = true, default_value = "200kb", value_parser = values::parse_size)]
    pub output_http_response_buffer: u64,

    /// Print replay queue statistics (needs --stats)
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_http_stats: bool,

    /// Period of the replay statistics in milliseconds
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "INT", allow_hyphen_values = true, default_value = "5000", value_parser = values::parse_int)]
    pub output_http_stats_ms: i64,

    /// Keep the captured Host header instead of the target's
    #[arg(long, help_heading = "Output: HTTP replay", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub http_original_host: bool,

    /// Compare the responses to each request (original or first target against the last target) and write summary.json, diffs.jsonl and report.html into this directory; turns on --output-http-track-response (gor extension)
    #[arg(
        long,
        help_heading = "Output: response diff (gor extension)",
        value_name = "DIR",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_diff: String,

    /// A response header left out of the comparison, besides Date, Server, Connection, Keep-Alive, Transfer-Encoding, Content-Encoding, Content-Length and the other defaults; repeatable
    #[arg(long, help_heading = "Output: response diff (gor extension)", value_name = "NAME", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_diff_ignore_header: Vec<String>,

    /// Leave out every difference whose field (status, header:<Name>, body, or a JSON path such as $.items[0].price) matches this regex; repeatable
    #[arg(long, help_heading = "Output: response diff (gor extension)", value_name = "REGEX", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_diff_ignore: Vec<String>,

    /// A request whose responses are not all in after this long is counted as unmatched
    #[arg(long, help_heading = "Output: response diff (gor extension)", value_name = "DURATION", allow_hyphen_values = true, default_value = "30s", value_parser = values::parse_duration)]
    pub output_diff_timeout: Duration,

    /// Example requests kept per endpoint for report.html
    #[arg(long, help_heading = "Output: response diff (gor extension)", value_name = "INT", allow_hyphen_values = true, default_value = "5", value_parser = values::parse_int)]
    pub output_diff_samples: i64,

    /// Exit with status 3 when any regression (a difference that is not noise) was seen
    #[arg(long, help_heading = "Output: response diff (gor extension)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_diff_fail: bool,

    /// Export request/response pairs to ElasticSearch: http://host:port/index
    #[arg(
        long,
        help_heading = "Output: ElasticSearch export",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_http_elasticsearch: String,

    /// Write records to this path template (%Y %m %d %H %M %S %NS %r %t %i; .gz compresses)
    #[arg(long, help_heading = "Output: file", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_file: Vec<String>,

    /// How often buffered records are flushed to disk
    #[arg(long, help_heading = "Output: file", value_name = "DURATION", allow_hyphen_values = true, default_value = "1s", value_parser = values::parse_duration)]
    pub output_file_flush_interval: Duration,

    /// Write to the templated name itself, appending, instead of numbered chunks
    #[arg(long, help_heading = "Output: file", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_file_append: bool,

    /// Start a new chunk once the current one reaches this size
    #[arg(long, help_heading = "Output: file", value_name = "SIZE", allow_hyphen_values = true, default_value = "32mb", value_parser = values::parse_size)]
    pub output_file_size_limit: u64,

    /// Start a new chunk after this many records (0 = no limit)
    #[arg(long, help_heading = "Output: file", value_name = "INT", allow_hyphen_values = true, default_value = "256", value_parser = values::parse_int)]
    pub output_file_queue_limit: i64,

    /// Stop writing once this output has written this many bytes in all
    #[arg(long, help_heading = "Output: file", value_name = "SIZE", allow_hyphen_values = true, default_value = "1tb", value_parser = values::parse_size)]
    pub output_file_max_size_limit: u64,

    /// Directory for staging files of s3:// outputs
    #[arg(
        long,
        help_heading = "Output: file",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = "/tmp"
    )]
    pub output_file_buffer: String,

    /// Send records to another gor at host:port
    #[arg(long, help_heading = "Output: TCP (to another gor)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_tcp: Vec<String>,

    /// Connect to --output-tcp with TLS
    #[arg(long, help_heading = "Output: TCP (to another gor)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_tcp_secure: bool,

    /// Do not verify the --output-tcp certificate
    #[arg(long, help_heading = "Output: TCP (to another gor)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_tcp_skip_verify: bool,

    /// Keep messages with the same id on one connection
    #[arg(long, help_heading = "Output: TCP (to another gor)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_tcp_sticky: bool,

    /// Connections per --output-tcp
    #[arg(long, help_heading = "Output: TCP (to another gor)", value_name = "INT", allow_hyphen_values = true, default_value = "10", value_parser = values::parse_int)]
    pub output_tcp_workers: i64,

    /// Print --output-tcp queue statistics (needs --stats)
    #[arg(long, help_heading = "Output: TCP (to another gor)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_tcp_stats: bool,

    /// Send records over WebSocket: ws://[user:pass@]host:port/path or wss://
    #[arg(long, help_heading = "Output: WebSocket", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_ws: Vec<String>,

    /// Do not verify the wss:// certificate
    #[arg(long, help_heading = "Output: WebSocket", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_ws_skip_verify: bool,

    /// Keep messages with the same id on one connection
    #[arg(long, help_heading = "Output: WebSocket", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_ws_sticky: bool,

    /// Connections per --output-ws
    #[arg(long, help_heading = "Output: WebSocket", value_name = "INT", allow_hyphen_values = true, default_value = "10", value_parser = values::parse_int)]
    pub output_ws_workers: i64,

    /// Print --output-ws queue statistics (needs --stats)
    #[arg(long, help_heading = "Output: WebSocket", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_ws_stats: bool,

    /// Most response bytes kept per --output-binary response
    #[arg(long, help_heading = "Output: binary", value_name = "SIZE", allow_hyphen_values = true, default_value = "100kb", value_parser = values::parse_size)]
    pub output_tcp_response_buffer: u64,

    /// Replay raw payloads (--input-raw-protocol binary) to host:port
    #[arg(long, help_heading = "Output: binary", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_binary: Vec<String>,

    /// Binary replay workers (0 = grow as needed from 10)
    #[arg(long, help_heading = "Output: binary", value_name = "INT", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_int)]
    pub output_binary_workers: i64,

    /// Connect, write and read time limit of --output-binary (0 = 5s)
    #[arg(long, help_heading = "Output: binary", value_name = "DURATION", allow_hyphen_values = true, default_value = "0", value_parser = values::parse_duration)]
    pub output_binary_timeout: Duration,

    /// Emit --output-binary responses as type 3 messages
    #[arg(long, help_heading = "Output: binary", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_binary_track_response: bool,

    /// Log --output-binary payloads
    #[arg(long, help_heading = "Output: binary", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_binary_debug: bool,

    /// Kafka brokers to write to, comma separated
    #[arg(
        long,
        help_heading = "Output: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_kafka_host: String,

    /// Kafka topic to write to
    #[arg(
        long,
        help_heading = "Output: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_kafka_topic: String,

    /// Write JSON documents instead of raw records
    #[arg(long, help_heading = "Output: Kafka", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_kafka_json_format: bool,

    /// Authenticate to Kafka with SASL
    #[arg(long, help_heading = "Output: Kafka", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_kafka_use_sasl: bool,

    /// SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)
    #[arg(
        long,
        help_heading = "Output: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_kafka_mechanism: String,

    /// SASL user name
    #[arg(
        long,
        help_heading = "Output: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_kafka_username: String,

    /// SASL password
    #[arg(
        long,
        help_heading = "Output: Kafka",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub output_kafka_password: String,

    /// Print every message to stdout in file-record format
    #[arg(long, help_heading = "Output: stdout and null", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_stdout: bool,

    /// Discard every message
    #[arg(long, help_heading = "Output: stdout and null", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_null: bool,

    /// CA certificate (PEM) for Kafka TLS
    #[arg(
        long,
        help_heading = "Kafka TLS (input and output)",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub kafka_tls_ca_cert: String,

    /// Client certificate (PEM) for Kafka TLS
    #[arg(
        long,
        help_heading = "Kafka TLS (input and output)",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub kafka_tls_client_cert: String,

    /// Client key (PEM) for Kafka TLS
    #[arg(
        long,
        help_heading = "Kafka TLS (input and output)",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub kafka_tls_client_key: String,

    /// Replay only this method (e.g. GET); repeatable
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_allow_method: Vec<String>,

    /// Replay only requests whose path and query match this regex; repeatable
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_allow_url: Vec<String>,

    /// Drop requests whose path and query match this regex; repeatable
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_disallow_url: Vec<String>,

    /// Replay only requests with this header matching: `Name: regex`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_allow_header: Vec<String>,

    /// Drop requests with this header matching: `Name: regex`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_disallow_header: Vec<String>,

    /// Replay only requests whose Basic auth user:password matches this regex
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_basic_auth_filter: Vec<String>,

    /// Keep a consistent share of header values: `Name: 10%`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_header_limiter: Vec<String>,

    /// Keep a consistent share of query parameter values: `name: 10%`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_param_limiter: Vec<String>,

    /// Rewrite the path: `regex:replacement` ($1 refers to a group)
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_rewrite_url: Vec<String>,

    /// Rewrite a header value: `Name: regex,replacement`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_rewrite_header: Vec<String>,

    /// Set a header: `Name: value`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_set_header: Vec<String>,

    /// Set a query parameter: `name=value`
    #[arg(long, help_heading = "Modifier: HTTP filters and rewrites", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub http_set_param: Vec<String>,

    /// Command line of a program that filters and rewrites messages (hex line protocol)
    #[arg(
        long,
        help_heading = "Middleware",
        value_name = "STRING",
        allow_hyphen_values = true,
        default_value = ""
    )]
    pub middleware: String,

    /// With --verbose, log every intercepted message
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub debug: bool,

    /// Same as --output-stdout
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_dummy: Vec<String>,

    /// Immediate mode is always on
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub input_raw_immediate_mode: bool,

    /// Same as --http-set-header
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http_header: Vec<String>,

    /// Same as --http-allow-header
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http_header_filter: Vec<String>,

    /// Same as --http-header-limiter
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http_header_hash_filter: Vec<String>,

    /// Same as --http-allow-method
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http_method: Vec<String>,

    /// Same as --http-allow-url
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http_url_regexp: Vec<String>,

    /// Same as --http-rewrite-url
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "VALUE", action = ArgAction::Append, allow_hyphen_values = true)]
    pub output_http_rewrite_url: Vec<String>,

    /// Gor's client is always the compatible one
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_http_compatibility_mode: bool,

    /// Log each replayed exchange
    #[arg(long, help_heading = "Legacy flags (GoReplay 1.x)", value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", value_parser = values::parse_bool)]
    pub output_http_debug: bool,
}

/// Which flags are bool (they take no separate value, Go-style).
pub const BOOL_FLAGS: &[&str] = &[
    "stats",
    "split-output",
    "recognize-tcp-sessions",
    "prettify-http",
    "debug",
    "output-stdout",
    "output-null",
    "input-file-loop",
    "input-file-dry-run",
    "output-file-append",
    "input-raw-track-response",
    "input-raw-override-snaplen",
    "input-raw-promisc",
    "input-raw-monitor",
    "input-raw-stats",
    "input-raw-allow-incomplete",
    "input-raw-vlan",
    "input-raw-immediate-mode",
    "output-http-skip-verify",
    "output-http-track-response",
    "output-http-stats",
    "http-original-host",
    "output-http-compatibility-mode",
    "output-http-debug",
    "output-diff-fail",
    "input-tcp-secure",
    "output-tcp-secure",
    "output-tcp-skip-verify",
    "output-tcp-sticky",
    "output-tcp-stats",
    "output-ws-skip-verify",
    "output-ws-sticky",
    "output-ws-stats",
    "output-binary-track-response",
    "output-binary-debug",
    "output-kafka-json-format",
    "output-kafka-use-sasl",
    "input-kafka-json-format",
    "input-kafka-use-sasl",
];

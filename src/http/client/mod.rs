//! The HTTP client every plugin that talks to an HTTP server shares (replay,
//! the ElasticSearch export, and the plugins to come): target URLs and how a
//! captured request is adapted to one, keep-alive connections plain or TLS,
//! one exchange at a time with only the response head parsed.
//!
//! * [`target`] — `--output-http URL` parsing, request preparation, redirects;
//! * [`conn`] — one keep-alive connection and one exchange on it;
//! * [`tls`] — rustls client settings (system roots or no verification).

pub mod conn;
pub mod target;
pub mod tls;

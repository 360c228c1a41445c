//! What the Kafka input and output share: the client settings built from
//! the command line (brokers, SASL, TLS), the callbacks every client gets
//! ([`Context`]: librdkafka's own log lines to gor's log, client errors
//! counted), and the JSON message format ([`json`]).
//!
//! Secrets (the SASL password, key files' contents) go to librdkafka and
//! nowhere else: no `Debug`, log line, error or stat shows them.

pub mod json;

use crate::plugin::{Result, UsageError};
use crate::stats::{self, Counter};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext};
use std::time::Duration;

/// How long start-up waits for the brokers to answer (connect, topic
/// metadata) before giving up with one line.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SASL mechanisms gor can speak (librdkafka's names).
const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// SASL credentials. The password is kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    pub mechanism: String,
    pub username: String,
    password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Sasl {
    /// From `--{input,output}-kafka-{use-sasl,mechanism,username,password}`
    /// (`side` is `input` or `output`); `None` without `use-sasl`. An empty
    /// mechanism means PLAIN, as in GoReplay.
    pub fn from_flags(
        side: &str,
        use_sasl: bool,
        mechanism: &str,
        username: &str,
        password: &str,
    ) -> Result<Option<Sasl>> {
        if !use_sasl {
            return Ok(None);
        }
        let mechanism = if mechanism.is_empty() {
            "PLAIN".to_string()
        } else {
            mechanism.to_ascii_uppercase()
        };
        if !MECHANISMS.contains(&mechanism.as_str()) {
            return Err(UsageError::invalid_value(
                &format!("{side}-kafka-mechanism"),
                &mechanism,
                "gor speaks PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512",
            )
            .into());
        }
        Ok(Some(Sasl {
            mechanism,
            username: username.to_string(),
            password: password.to_string(),
        }))
    }
}

/// TLS files (`--kafka-tls-ca-cert`, `--kafka-tls-client-cert`,
/// `--kafka-tls-client-key`), shared by the input and the output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    pub ca_cert: String,
    pub client_cert: String,
    pub client_key: String,
}

impl Tls {
    /// `None` when neither a CA nor a client certificate is given (TLS is
    /// off then, as in GoReplay). A client certificate needs its key and the
    /// other way round; every file named must be readable.
    pub fn from_flags(ca_cert: &str, client_cert: &str, client_key: &str) -> Result<Option<Tls>> {
        if client_cert.is_empty() != client_key.is_empty() {
            anyhow::bail!(
                "--kafka-tls-client-cert and --kafka-tls-client-key must be given together"
            );
        }
        if ca_cert.is_empty() && client_cert.is_empty() {
            return Ok(None);
        }
        for (flag, path) in [
            ("kafka-tls-ca-cert", ca_cert),
            ("kafka-tls-client-cert", client_cert),
            ("kafka-tls-client-key", client_key),
        ] {
            if !path.is_empty() {
                std::fs::File::open(path)
                    .map_err(|e| anyhow::anyhow!("--{flag} {path}: cannot read the file: {e}"))?;
            }
        }
        Ok(Some(Tls {
            ca_cert: ca_cert.to_string(),
            client_cert: client_cert.to_string(),
            client_key: client_key.to_string(),
        }))
    }
}

/// Where and how to connect: what the input and the output have in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    pub topic: String,
    pub sasl: Option<Sasl>,
    pub tls: Option<Tls>,
}

impl Connection {
    /// librdkafka settings for this connection.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "gor")
            .set_log_level(RDKafkaLogLevel::Warning);
        let protocol = match (&self.sasl, &self.tls) {
            (None, None) => "plaintext",
            (None, Some(_)) => "ssl",
            (Some(_), None) => "sasl_plaintext",
            (Some(_), Some(_)) => "sasl_ssl",
        };
        c.set("security.protocol", protocol);
        if let Some(sasl) = &self.sasl {
            c.set("sasl.mechanisms", &sasl.mechanism)
                .set("sasl.username", &sasl.username)
                .set("sasl.password", &sasl.password);
        }
        if let Some(tls) = &self.tls {
            for (key, path) in [
                ("ssl.ca.location", &tls.ca_cert),
                ("ssl.certificate.location", &tls.client_cert),
                ("ssl.key.location", &tls.client_key),
            ] {
                if !path.is_empty() {
                    c.set(key, path);
                }
            }
        }
        c
    }

    /// How a plugin names itself in logs: brokers and topic, no secrets.
    pub fn describe(&self, side: &str) -> String {
        format!("{side}_kafka({}/{})", self.brokers, self.topic)
    }
}

/// librdkafka's callbacks for a client of either side: its log lines go to
/// gor's log, its client errors (a broker down, refused credentials) are
/// counted in `{side}_kafka.client_errors` and logged rate-limited. `role`
/// holds what one side alone listens to (the input's rebalances, the
/// output's delivery reports), which that side's module implements.
pub struct Context<R> {
    /// `input` or `output`.
    side: &'static str,
    client_errors: Counter,
    pub role: R,
}

impl<R> Context<R> {
    pub fn new(side: &'static str, role: R) -> Context<R> {
        Context {
            side,
            client_errors: stats::counter(&format!("{side}_kafka.client_errors")),
            role,
        }
    }
}

impl<R: Send + Sync + 'static> ClientContext for Context<R> {
    /// Never a secret: librdkafka does not print its configuration unless
    /// asked to debug it, which gor never does.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        use RDKafkaLogLevel::*;
        match level {
            Emerg | Alert | Critical | Error => tracing::error!("kafka: {fac}: {line}"),
            Warning => tracing::warn!("kafka: {fac}: {line}"),
            Notice | Info => tracing::info!("kafka: {fac}: {line}"),
            Debug => tracing::debug!("kafka: {fac}: {line}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(
            &self.client_errors,
            &format_args!("{}: {error}: {reason}", self.side),
        );
    }
}

/// Rate-limits client error lines (a broker that is down is reported by
/// librdkafka again and again): the 1st, 2nd, 4th, 8th … are logged, each
/// saying how many there were so far.
pub fn client_error(counter: &Counter, what: &dyn std::fmt::Display) {
    counter.inc();
    let n = counter.get();
    if n.is_power_of_two() {
        tracing::warn!("kafka: {what} ({n} client errors so far)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(c: &ClientConfig, key: &str) -> Option<String> {
        c.get(key).map(str::to_string)
    }

    #[test]
    fn plain_connection_has_no_security_settings() {
        let c = Connection {
            brokers: "a:9092,b:9092".into(),
            topic: "t".into(),
            sasl: None,
            tls: None,
        }
        .client_config();
        assert_eq!(
            conf(&c, "bootstrap.servers").as_deref(),
            Some("a:9092,b:9092")
        );
        assert_eq!(conf(&c, "security.protocol").as_deref(), Some("plaintext"));
        assert_eq!(conf(&c, "sasl.password"), None);
    }

    #[test]
    fn sasl_maps_to_librdkafka_and_defaults_to_plain() {
        let sasl = Sasl::from_flags("output", true, "", "user", "pw").unwrap();
        assert_eq!(sasl.as_ref().unwrap().mechanism, "PLAIN");
        for m in ["scram-sha-256", "SCRAM-SHA-512"] {
            let s = Sasl::from_flags("input", true, m, "u", "p")
                .unwrap()
                .unwrap();
            assert_eq!(s.mechanism, m.to_ascii_uppercase());
        }
        let c = Connection {
            brokers: "k:9092".into(),
            topic: "t".into(),
            sasl,
            tls: None,
        }
        .client_config();
        assert_eq!(
            conf(&c, "security.protocol").as_deref(),
            Some("sasl_plaintext")
        );
        assert_eq!(conf(&c, "sasl.mechanisms").as_deref(), Some("PLAIN"));
        assert_eq!(conf(&c, "sasl.username").as_deref(), Some("user"));
        assert_eq!(conf(&c, "sasl.password").as_deref(), Some("pw"));
    }

    #[test]
    fn sasl_off_without_use_sasl_and_unknown_mechanism_is_refused() {
        assert_eq!(
            Sasl::from_flags("input", false, "PLAIN", "u", "p").unwrap(),
            None
        );
        let e = Sasl::from_flags("input", true, "GSSAPI", "u", "p").unwrap_err();
        assert!(e.to_string().contains("-input-kafka-mechanism"), "{e}");
    }

    #[test]
    fn the_password_never_shows_in_debug_or_describe() {
        let sasl = Sasl::from_flags("output", true, "PLAIN", "user", "hunter2-secret")
            .unwrap()
            .unwrap();
        assert!(!format!("{sasl:?}").contains("hunter2"));
        let conn = Connection {
            brokers: "k:1".into(),
            topic: "t".into(),
            sasl: Some(sasl),
            tls: None,
        };
        assert!(!format!("{conn:?}").contains("hunter2"));
        assert!(!conn.describe("output").contains("hunter2"));
    }

    #[test]
    fn tls_needs_cert_and_key_together_and_readable_files() {
        assert_eq!(Tls::from_flags("", "", "").unwrap(), None);
        let e = Tls::from_flags("", "cert.pem", "").unwrap_err();
        assert!(e.to_string().contains("together"), "{e}");
        let e = Tls::from_flags("/nonexistent/ca.pem", "", "").unwrap_err();
        assert!(
            e.to_string()
                .contains("--kafka-tls-ca-cert /nonexistent/ca.pem"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "x").unwrap();
        let ca = ca.to_str().unwrap();
        let tls = Tls::from_flags(ca, "", "").unwrap();
        let c = Connection {
            brokers: "k:1".into(),
            topic: "t".into(),
            sasl: Sasl::from_flags("output", true, "SCRAM-SHA-512", "u", "p").unwrap(),
            tls,
        }
        .client_config();
        assert_eq!(conf(&c, "security.protocol").as_deref(), Some("sasl_ssl"));
        assert_eq!(conf(&c, "ssl.ca.location").as_deref(), Some(ca));
        assert_eq!(conf(&c, "ssl.certificate.location"), None);
    }
}

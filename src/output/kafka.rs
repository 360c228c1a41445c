//! `--output-kafka-host BROKERS --output-kafka-topic TOPIC`: sends every
//! message (all types) to a Kafka topic, as GoReplay does: the value is the
//! record (`Meta ‖ Data`, header line then payload, no separator), or with
//! `--output-kafka-json-format` a JSON document; no key, each message to
//! a random partition; acks from the partition leader,
//! snappy compression, batches sent at least every 500 ms.
//!
//! librdkafka's own queue is the output's bounded queue: `write` hands the
//! message over and returns; when the queue is full it waits for room
//! (files, relays) or, for live capture, drops and counts. One thread
//! serves delivery reports: failures are counted, never silent. A broker
//! that goes away is retried by librdkafka for up to [`MESSAGE_TIMEOUT`];
//! at close every accepted message is delivered, or counted when the
//! shutdown expires first.

use crate::kafka::{self, Connection, Sasl, Tls};
use crate::message::Message;
use crate::plugin::{Output, Result, Shutdown};
use crate::settings::Settings;
use crate::stats::{self, Counter};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long librdkafka keeps trying to deliver one message (a broker
/// restart, a leader change) before reporting it failed.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long messages wait to be batched (GoReplay flushes every 500 ms).
const LINGER: Duration = Duration::from_millis(500);
/// Most kilobytes queued in librdkafka (the output's memory bound).
const QUEUE_KBYTES: u32 = 256 * 1024;
/// How often the delivery thread and a waiting writer look again.
const POLL: Duration = Duration::from_millis(100);

/// What `--output-kafka-*` needs from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaOutputConfig {
    pub connection: Connection,
    /// `--output-kafka-json-format`.
    pub json: bool,
}

impl KafkaOutputConfig {
    /// `None` unless both `--output-kafka-host` and `--output-kafka-topic`
    /// are given (GoReplay ignores one without the other).
    pub fn from_settings(s: &Settings) -> Result<Option<KafkaOutputConfig>> {
        if s.output_kafka_host.is_empty() || s.output_kafka_topic.is_empty() {
            return Ok(None);
        }
        Ok(Some(KafkaOutputConfig {
            connection: Connection {
                brokers: s.output_kafka_host.clone(),
                topic: s.output_kafka_topic.clone(),
                sasl: Sasl::from_flags(
                    "output",
                    s.output_kafka_use_sasl,
                    &s.output_kafka_mechanism,
                    &s.output_kafka_username,
                    &s.output_kafka_password,
                )?,
                tls: Tls::from_flags(
                    &s.kafka_tls_ca_cert,
                    &s.kafka_tls_client_cert,
                    &s.kafka_tls_client_key,
                )?,
            },
            json: s.output_kafka_json_format,
        }))
    }
}

/// What the output's client hears beyond logs and errors: delivery reports.
struct Deliveries {
    delivered: Counter,
    failed: Counter,
}

type Reports = kafka::Context<Deliveries>;

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.role.delivered.inc(),
            Err((e, _)) => self.role.failed.drop_one(&format_args!(
                "--output-kafka: a message was not delivered: {e}"
            )),
        }
    }
}

pub struct KafkaOutput {
    producer: Arc<BaseProducer<Reports>>,
    topic: String,
    json: bool,
    name: String,
    closed: AtomicBool,
    shutdown: Shutdown,
    queue_full: Counter,
    after_close: Counter,
    undelivered: Counter,
}

thread_local! {
    /// The value being built (librdkafka copies it): one buffer per copy
    /// loop, reused, so sending allocates nothing.
    static VALUE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl KafkaOutput {
    /// Connects (the brokers must answer within [`kafka::CONNECT_TIMEOUT`])
    /// and starts the delivery thread.
    pub fn open(config: &KafkaOutputConfig, shutdown: &Shutdown) -> Result<Arc<dyn Output>> {
        let conn = &config.connection;
        let mut client = conn.client_config();
        client
            .set("acks", "1")
            .set("compression.codec", "snappy")
            .set("linger.ms", LINGER.as_millis().to_string())
            // Each message to a random partition, as GoReplay's producer
            // does (librdkafka would otherwise stick to one partition for
            // twice the linger time, and a group member would sit idle).
            .set("sticky.partitioning.linger.ms", "0")
            .set(
                "message.timeout.ms",
                MESSAGE_TIMEOUT.as_millis().to_string(),
            )
            .set("queue.buffering.max.kbytes", QUEUE_KBYTES.to_string());
        let reports = Reports::new(
            "output",
            Deliveries {
                delivered: stats::counter("output_kafka.delivered"),
                failed: stats::drop_counter("output_kafka.delivery_failures"),
            },
        );
        let fail = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "Failed to start Kafka producer ({}): {e}",
                conn.describe("output")
            )
        };
        let producer: BaseProducer<Reports> =
            client.create_with_context(reports).map_err(|e| fail(&e))?;
        producer
            .client()
            .fetch_metadata(Some(&conn.topic), kafka::CONNECT_TIMEOUT)
            .map_err(|e| fail(&e))?;
        let producer = Arc::new(producer);
        let poller = producer.clone();
        let me = shutdown.clone();
        shutdown.spawn("output-kafka", move || {
            // Delivery reports until the stop; `close` serves the rest
            // while it flushes.
            while !me.is_stopping() {
                poller.poll(POLL);
            }
        })?;
        let name = conn.describe("output");
        tracing::info!("{name}: connected");
        Ok(Arc::new(KafkaOutput {
            producer,
            topic: conn.topic.clone(),
            json: config.json,
            name,
            closed: AtomicBool::new(false),
            shutdown: shutdown.clone(),
            queue_full: stats::drop_counter("output_kafka.queue_full"),
            after_close: stats::drop_counter("output_kafka.written_after_close"),
            undelivered: stats::drop_counter("output_kafka.undelivered_at_exit"),
        }))
    }

    /// Hands one message to librdkafka; when its queue is full, waits for
    /// room unless `wait` is false (then the message is dropped, counted).
    fn send(&self, msg: &Message, wait: bool) -> Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            self.after_close
                .drop_one(&format_args!("{}: a message came after close", self.name));
            anyhow::bail!("{} is closed", self.name);
        }
        VALUE.with(|cell| {
            let mut value = cell.borrow_mut();
            if self.json {
                kafka::json::encode(msg, &mut value);
            } else {
                value.clear();
                value.extend_from_slice(&msg.meta);
                value.extend_from_slice(&msg.data);
            }
            loop {
                let record = BaseRecord::<(), [u8]>::to(&self.topic).payload(&value[..]);
                match self.producer.send(record) {
                    Ok(()) => return Ok(()),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        if !wait || self.shutdown.is_expired() {
                            self.queue_full.drop_one(&format_args!(
                                "{}: librdkafka's queue is full, a message was dropped",
                                self.name
                            ));
                            return Ok(());
                        }
                        self.producer.poll(POLL / 10);
                    }
                    Err((e, _)) => anyhow::bail!("{}: {e}", self.name),
                }
            }
        })
    }
}

impl Output for KafkaOutput {
    fn write(&self, msg: &Message) -> Result<()> {
        self.send(msg, true)
    }

    fn offer(&self, msg: &Message) -> Result<()> {
        self.send(msg, false)
    }

    fn close(&self) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        loop {
            match self.producer.flush(POLL) {
                Ok(()) => break,
                Err(_) if self.shutdown.is_expired() => break,
                Err(_) => {}
            }
        }
        let left = u64::try_from(self.producer.in_flight_count()).unwrap_or(0);
        if left > 0 {
            self.undelivered.add(left);
            tracing::warn!(
                "{}: {left} messages were not delivered before the exit (counted as {})",
                self.name,
                self.undelivered.name()
            );
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

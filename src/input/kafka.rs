//! `--input-kafka-host BROKERS --input-kafka-topic TOPIC`: reads messages
//! that gor or GoReplay put into a Kafka topic, as records (header line and
//! payload) or, with `--input-kafka-json-format`, as JSON documents.
//!
//! Without a group, every partition of the topic is read from
//! `--input-kafka-offset` (`-1` newest, `-2` oldest, `N` that offset in
//! each partition), nothing is committed, and every gor that reads the
//! topic sees every message. With `--input-kafka-group NAME` (a gor
//! extension) the gor instances of one group share the partitions: each
//! message is replayed by one of them, and a restarted member goes on where
//! the group left off (the offset then only says where a new group starts:
//! `-1` or `-2`). An offset is committed only once its message went through
//! the copy loop.
//!
//! When the offset is not `-1` (replaying what is already stored), the
//! timestamps in the messages pace the replay as for a file; an
//! `--input-kafka-offset "-2|200%"` suffix replays twice as fast.
//!
//! Unlike GoReplay, response-time records (type 3) are kept, an empty
//! message is skipped (GoReplay crashes), and whatever is not a record or
//! a JSON document is skipped and counted by reason.

use crate::kafka::{self, Connection, Sasl, Tls};
use crate::message::Message;
use crate::pacing::Pacer;
use crate::plugin::{Input, Result, Shutdown, UsageError};
use crate::settings::Settings;
use crate::stats::{self, Counter};
use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

/// How long one wait for messages lasts before the stop is looked at again.
const POLL: Duration = Duration::from_millis(100);

/// Where reading starts (`--input-kafka-offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOffset {
    /// `-1`: only messages that arrive from now on.
    Newest,
    /// `-2`: everything the topic still holds.
    Oldest,
    /// `N ≥ 0`: that offset in every partition.
    At(i64),
}

impl StartOffset {
    /// GoReplay's syntax: a decimal integer, at least -2.
    pub fn parse(text: &str) -> Result<StartOffset> {
        match text.trim().parse::<i64>() {
            Ok(-1) => Ok(StartOffset::Newest),
            Ok(-2) => Ok(StartOffset::Oldest),
            Ok(n) if n >= 0 => Ok(StartOffset::At(n)),
            _ => anyhow::bail!(
                "Failed to parse offset: {text:?} (-1 newest, -2 oldest, or an offset ≥ 0)"
            ),
        }
    }
}

/// What `--input-kafka-*` needs from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaInputConfig {
    pub connection: Connection,
    /// `--input-kafka-json-format`.
    pub json: bool,
    pub offset: StartOffset,
    /// `--input-kafka-group`.
    pub group: Option<String>,
    /// Replay speed from a `|N%` suffix on the offset (1.0 without).
    pub speed: f64,
}

impl KafkaInputConfig {
    /// `None` unless both `--input-kafka-host` and `--input-kafka-topic` are
    /// given. `offset` is the offset text without its `|limit` suffix.
    pub fn from_settings(
        offset: &str,
        speed: f64,
        s: &Settings,
    ) -> Result<Option<KafkaInputConfig>> {
        if s.input_kafka_host.is_empty() || s.input_kafka_topic.is_empty() {
            return Ok(None);
        }
        let offset = StartOffset::parse(offset)?;
        let group = (!s.input_kafka_group.is_empty()).then(|| s.input_kafka_group.clone());
        if group.is_some() && matches!(offset, StartOffset::At(_)) {
            return Err(UsageError(
                "--input-kafka-group starts where the group left off; a new group starts at --input-kafka-offset -1 (newest) or -2 (oldest), not at a fixed offset".into(),
            )
            .into());
        }
        Ok(Some(KafkaInputConfig {
            connection: Connection {
                brokers: s.input_kafka_host.clone(),
                topic: s.input_kafka_topic.clone(),
                sasl: Sasl::from_flags(
                    "input",
                    s.input_kafka_use_sasl,
                    &s.input_kafka_mechanism,
                    &s.input_kafka_username,
                    &s.input_kafka_password,
                )?,
                tls: Tls::from_flags(
                    &s.kafka_tls_ca_cert,
                    &s.kafka_tls_client_cert,
                    &s.kafka_tls_client_key,
                )?,
            },
            json: s.input_kafka_json_format,
            offset,
            group,
            speed,
        }))
    }
}

/// What the input's clients hear beyond logs and errors: rebalances.
struct Rebalances {
    name: String,
}

type Events = kafka::Context<Rebalances>;

impl ConsumerContext for Events {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions = |l: &TopicPartitionList| {
            l.elements()
                .iter()
                .map(|e| e.partition().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match rebalance {
            Rebalance::Assign(l) => {
                tracing::info!(
                    "{}: assigned partitions [{}]",
                    self.role.name,
                    partitions(l)
                )
            }
            Rebalance::Revoke(l) => {
                tracing::info!("{}: revoked partitions [{}]", self.role.name, partitions(l))
            }
            Rebalance::Error(e) => tracing::warn!("{}: rebalance failed: {e}", self.role.name),
        }
    }
}

/// Why a message was skipped.
struct Skips {
    empty: Counter,
    not_records: Counter,
    invalid_json: Counter,
}

pub struct KafkaInput {
    consumer: BaseConsumer<Events>,
    topic: String,
    json: bool,
    /// Paces by the messages' timestamps (not when reading only new ones).
    pacer: Option<Pacer>,
    /// With a group: the message handed out last, whose offset is stored
    /// for the next commit once the copy loop asks for the next one.
    pending: Option<(i32, i64)>,
    grouped: bool,
    name: String,
    shutdown: Shutdown,
    skips: Skips,
    consume_errors: Counter,
}

impl KafkaInput {
    /// Connects (the topic must exist and the brokers answer within
    /// [`kafka::CONNECT_TIMEOUT`]) and starts reading.
    pub fn open(config: &KafkaInputConfig, shutdown: &Shutdown) -> Result<Box<dyn Input>> {
        let conn = &config.connection;
        let name = match &config.group {
            Some(g) => format!("input_kafka({}/{}, group {g})", conn.brokers, conn.topic),
            None => conn.describe("input"),
        };
        let mut client = conn.client_config();
        let reset = match config.offset {
            StartOffset::Oldest => "earliest",
            _ => "latest",
        };
        client.set("auto.offset.reset", reset);
        match &config.group {
            Some(group) => {
                client
                    .set("group.id", group)
                    .set("enable.auto.commit", "true")
                    .set("enable.auto.offset.store", "false");
            }
            None => {
                // librdkafka wants a group id even for partitions assigned
                // by hand; nothing is ever committed under it.
                client
                    .set("group.id", "gor")
                    .set("enable.auto.commit", "false");
            }
        }
        let events = Events::new("input", Rebalances { name: name.clone() });
        let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("{name}: cannot start reading: {e}");
        // The brokers and the topic are checked by a client outside any
        // group: one that belongs to a group leaves it when dropped, and
        // leaving waits for brokers that may not be answering.
        let probe: BaseConsumer<Events> = conn
            .client_config()
            .create_with_context(Events::new("input", Rebalances { name: name.clone() }))
            .map_err(|e| fail(&e))?;
        let metadata = probe
            .fetch_metadata(Some(&conn.topic), kafka::CONNECT_TIMEOUT)
            .map_err(|e| fail(&e))?;
        drop(probe);
        let topic = metadata
            .topics()
            .iter()
            .find(|t| t.name() == conn.topic)
            .ok_or_else(|| fail(&"the topic does not exist"))?;
        if let Some(e) = topic.error() {
            return Err(fail(&KafkaError::MetadataFetch(e.into())));
        }
        if topic.partitions().is_empty() {
            return Err(fail(&"the topic has no partitions"));
        }
        let consumer: BaseConsumer<Events> =
            client.create_with_context(events).map_err(|e| fail(&e))?;
        match &config.group {
            Some(_) => consumer.subscribe(&[&conn.topic]).map_err(|e| fail(&e))?,
            None => {
                let offset = match config.offset {
                    StartOffset::Newest => Offset::End,
                    StartOffset::Oldest => Offset::Beginning,
                    StartOffset::At(n) => Offset::Offset(n),
                };
                let mut list = TopicPartitionList::new();
                for p in topic.partitions() {
                    list.add_partition_offset(&conn.topic, p.id(), offset)
                        .map_err(|e| fail(&e))?;
                }
                consumer.assign(&list).map_err(|e| fail(&e))?;
                tracing::info!("{name}: reading partitions 0..{}", topic.partitions().len());
            }
        }
        let pacer = (config.offset != StartOffset::Newest)
            .then(|| Pacer::new(config.speed, Duration::ZERO).stopping_on(shutdown));
        Ok(Box::new(KafkaInput {
            consumer,
            topic: conn.topic.clone(),
            json: config.json,
            pacer,
            pending: None,
            grouped: config.group.is_some(),
            name,
            shutdown: shutdown.clone(),
            skips: Skips {
                empty: stats::drop_counter("input_kafka.empty_messages"),
                not_records: stats::drop_counter("input_kafka.not_records"),
                invalid_json: stats::drop_counter("input_kafka.invalid_json"),
            },
            consume_errors: stats::counter("input_kafka.consume_errors"),
        }))
    }

    /// Stores the offset of the message handed out last: the copy loop
    /// asked for the next one, so it is done with it.
    fn store_pending(&mut self) {
        if let Some((partition, offset)) = self.pending.take()
            && let Err(e) = self.consumer.store_offset(&self.topic, partition, offset)
        {
            // A partition taken away by a rebalance: its next owner reads
            // the message again.
            tracing::debug!(
                "{}: offset {offset} of partition {partition} not stored: {e}",
                self.name
            );
        }
    }

    /// The message a Kafka value holds, or `None` (counted) when it holds
    /// none.
    fn decode(&self, value: &[u8]) -> Option<Message> {
        if value.is_empty() {
            self.skips.empty.drop_one(&format_args!(
                "{}: an empty Kafka message was skipped",
                self.name
            ));
            return None;
        }
        if self.json {
            return match kafka::json::decode(value) {
                Ok(m) => Some(m),
                Err(kafka::json::DecodeError::InvalidJson) => {
                    self.skips.invalid_json.drop_one(&format_args!(
                        "{}: a message that is not a JSON document was skipped",
                        self.name
                    ));
                    None
                }
                Err(kafka::json::DecodeError::NotARecord) => {
                    self.not_a_record();
                    None
                }
            };
        }
        let msg = Message::from_record(Bytes::copy_from_slice(value));
        if matches!(value[0], b'1'..=b'3') && msg.is_well_formed() {
            Some(msg)
        } else {
            self.not_a_record();
            None
        }
    }

    fn not_a_record(&self) {
        self.skips.not_records.drop_one(&format_args!(
            "{}: a message that is not a gor record was skipped",
            self.name
        ));
    }
}

impl Input for KafkaInput {
    fn read(&mut self) -> Result<Option<Message>> {
        if self.grouped {
            self.store_pending();
        }
        loop {
            if self.shutdown.is_stopping() {
                return Ok(None);
            }
            let (msg, at) = match self.consumer.poll(POLL) {
                None => continue,
                Some(Err(e)) => {
                    kafka::client_error(&self.consume_errors, &format_args!("{}: {e}", self.name));
                    continue;
                }
                Some(Ok(m)) => (
                    self.decode(m.payload().unwrap_or_default()),
                    (m.partition(), m.offset()),
                ),
            };
            self.pending = Some(at);
            let Some(msg) = msg else {
                // Skipped messages are done with at once.
                if self.grouped {
                    self.store_pending();
                }
                continue;
            };
            if let Some(pacer) = &mut self.pacer {
                let step = pacer.plan(msg.timestamp());
                if !pacer.wait(step) {
                    // Stopped while waiting: not handed out, not stored.
                    self.pending = None;
                    return Ok(None);
                }
            }
            return Ok(Some(msg));
        }
    }

    fn close(&mut self) {
        // The message handed out last was dropped at the stop (the copy
        // loop counts it): its offset stays uncommitted, so the group
        // replays it later. Dropping the consumer leaves the group and
        // commits what was stored.
        self.pending = None;
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_as_goreplay_reads_them() {
        assert_eq!(StartOffset::parse("-1").unwrap(), StartOffset::Newest);
        assert_eq!(StartOffset::parse("-2").unwrap(), StartOffset::Oldest);
        assert_eq!(StartOffset::parse("0").unwrap(), StartOffset::At(0));
        assert_eq!(StartOffset::parse("1234").unwrap(), StartOffset::At(1234));
        for bad in ["-3", "abc", "", "1.5", "99999999999999999999"] {
            let e = StartOffset::parse(bad).unwrap_err();
            assert!(
                e.to_string().starts_with("Failed to parse offset"),
                "{bad}: {e}"
            );
        }
    }
}

//! A Kafka broker for trying gor's Kafka input and output without a Kafka
//! installation, and for the Kafka benchmark: librdkafka's mock cluster (a
//! real Kafka-protocol broker, data in memory) on a loopback port.
//!
//! ```sh
//! cargo run --release --example kafka_mock_broker -- TOPIC [PARTITIONS]
//! ```
//!
//! Creates TOPIC (4 partitions unless given), prints
//! `bootstrap servers: HOST:PORT` on stdout and serves until killed.

use rdkafka::mocking::MockCluster;
use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(topic) = args.first() else {
        eprintln!("usage: kafka_mock_broker TOPIC [PARTITIONS]");
        std::process::exit(2);
    };
    let partitions = match args.get(1).map(|p| p.parse::<i32>()) {
        None => 4,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("kafka_mock_broker: PARTITIONS must be a number above 0");
            std::process::exit(2);
        }
    };
    let cluster = match MockCluster::new(1) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kafka_mock_broker: cannot start the mock cluster: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = cluster.create_topic(topic, partitions, 1) {
        eprintln!("kafka_mock_broker: cannot create topic {topic}: {e}");
        std::process::exit(1);
    }
    println!("bootstrap servers: {}", cluster.bootstrap_servers());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

//! Builds the inputs and outputs that the settings name, in GoReplay's order:
//! input-dummy, output-stdout, output-null, input-raw, input-tcp,
//! output-tcp, output-ws, input-file, output-file, input-http, output-http,
//! output-binary, output-kafka, input-kafka.
//!
//! A `|limit` suffix on an address wraps the plugin in a limiter, for the role
//! the flag has only (a limited input is not also an output; GoReplay's
//! double role halves rates and stops split pipelines).

use crate::input::dummy::DummyInput;
use crate::input::file::{FileInput, FileInputConfig};
use crate::input::http::{HttpInput, HttpInputConfig};
use crate::input::kafka::{KafkaInput, KafkaInputConfig};
use crate::input::raw::{RawConfig, RawInput};
use crate::input::tcp::{TcpInput, TcpInputConfig};
use crate::limiter::{Limit, LimitedInput, LimitedOutput};
use crate::output::binary::{BinaryConfig, BinaryOutput};
use crate::output::diff::{DiffConfig, DiffOutput};
use crate::output::elasticsearch::{Exporter, ExporterConfig};
use crate::output::file::{FileOutput, FileOutputConfig};
use crate::output::http::{HttpConfig, HttpOutput};
use crate::output::kafka::{KafkaOutput, KafkaOutputConfig};
use crate::output::null::NullOutput;
use crate::output::stdout::StdoutOutput;
use crate::output::tcp::{TcpOutput, TcpOutputConfig};
use crate::output::ws::{WsOutput, WsOutputConfig};
use crate::plugin::{ExchangeSink, Input, Output, Plugins, Result, Shutdown};
use crate::settings::Settings;
use std::sync::Arc;

/// Splits `addr|limit` into the address and the limit text (up to a second
/// `|`, if any).
pub fn split_limit(option: &str) -> (&str, Option<&str>) {
    match option.split_once('|') {
        Some((addr, rest)) => {
            let limit = rest.split('|').next().unwrap_or("");
            (addr, (!limit.is_empty()).then_some(limit))
        }
        None => (option, None),
    }
}

impl Plugins {
    fn add_input(
        &mut self,
        flag: &str,
        option: &str,
        build: impl FnOnce(&str) -> Result<Box<dyn Input>>,
    ) -> Result<()> {
        let (addr, limit) = split_limit(option);
        let input = build(addr)?;
        self.inputs.push(match limit {
            Some(l) => Box::new(LimitedInput::new(input, Limit::parse(flag, l)?)),
            None => input,
        });
        Ok(())
    }

    fn add_output(
        &mut self,
        flag: &str,
        option: &str,
        build: impl FnOnce(&str) -> Result<Arc<dyn Output>>,
    ) -> Result<()> {
        let (addr, limit) = split_limit(option);
        let output = build(addr)?;
        self.outputs.push(match limit {
            Some(l) => Arc::new(LimitedOutput::new(output, Limit::parse(flag, l)?)),
            None => output,
        });
        Ok(())
    }
}

/// Builds every plugin the settings name, each from its own config and
/// each watching `shutdown`. Errors name the flag.
pub fn build(settings: &Settings, shutdown: &Shutdown) -> Result<Plugins> {
    let mut p = Plugins::default();
    for option in &settings.input_dummy {
        p.add_input("input-dummy", option, |_| {
            Ok(Box::new(DummyInput::new(shutdown)))
        })?;
    }
    if settings.output_stdout {
        p.outputs.push(Arc::new(StdoutOutput::new()));
    }
    if settings.output_null {
        p.outputs.push(Arc::new(NullOutput));
    }
    if !settings.input_raw.is_empty() {
        let config = RawConfig::from_settings(settings)?;
        for option in &settings.input_raw {
            p.add_input("input-raw", option, |addr| {
                RawInput::open(addr, &config, shutdown)
            })?;
        }
    }
    for option in &settings.input_tcp {
        p.add_input("input-tcp", option, |addr| {
            let config = TcpInputConfig::from_settings(addr, settings)?;
            Ok(Box::new(TcpInput::listen(config, shutdown)?))
        })?;
    }
    for option in &settings.output_tcp {
        p.add_output("output-tcp", option, |addr| {
            let config = TcpOutputConfig::from_settings(addr, settings)?;
            TcpOutput::open(config, shutdown)
        })?;
    }
    for option in &settings.output_ws {
        p.add_output("output-ws", option, |addr| {
            let config = WsOutputConfig::from_settings(addr, settings)?;
            WsOutput::open(config, shutdown)
        })?;
    }
    if !settings.input_file.is_empty() {
        let config = FileInputConfig::from_settings(settings)?;
        for option in &settings.input_file {
            let (addr, limit) = split_limit(option);
            // On a file input `|N%` is a replay speed, not a drop rate.
            if let Some(speed) = limit.and_then(|l| l.strip_suffix('%')) {
                let factor = Limit::percent_value("input-file", speed)? as f64 / 100.0;
                p.inputs
                    .push(FileInput::open(addr, factor, &config, shutdown)?);
            } else {
                p.add_input("input-file", option, |addr| {
                    FileInput::open(addr, 1.0, &config, shutdown)
                })?;
            }
        }
    }
    if !settings.output_file.is_empty() {
        let config = FileOutputConfig::from_settings(settings)?;
        for option in &settings.output_file {
            p.add_output("output-file", option, |addr| {
                FileOutput::open(addr, &config, shutdown)
            })?;
        }
    }
    if !settings.input_http.is_empty() {
        let config = HttpInputConfig::from_settings(settings)?;
        for option in &settings.input_http {
            p.add_input("input-http", option, |addr| {
                Ok(Box::new(HttpInput::listen(addr, &config, shutdown)?))
            })?;
        }
    }
    // One ElasticSearch export shared by every --output-http; it needs no
    // --output-http-track-response (GoReplay exported nothing without it).
    let exporter = match ExporterConfig::from_settings(settings)? {
        Some(config) => Some(Exporter::start(&config, shutdown)? as Arc<dyn ExchangeSink>),
        None => None,
    };
    if exporter.is_some() && settings.output_http.is_empty() {
        tracing::warn!(
            "--output-http-elasticsearch exports replayed exchanges: without --output-http nothing is exported"
        );
    }
    for (index, option) in settings.output_http.iter().enumerate() {
        let mut responses = None;
        p.add_output("output-http", option, |addr| {
            let mut config = HttpConfig::from_settings(addr, settings)?;
            config.index = u16::try_from(index).unwrap_or(u16::MAX);
            let (output, input) = HttpOutput::start(config, exporter.clone(), shutdown)?;
            responses = input;
            Ok(output)
        })?;
        p.response_inputs.extend(responses);
    }
    if let Some(config) = DiffConfig::from_settings(settings)? {
        let (output, gate) = DiffOutput::start(&config, shutdown)?;
        p.outputs.push(output);
        p.gates.extend(gate);
    }
    for option in &settings.output_binary {
        let mut responses = None;
        p.add_output("output-binary", option, |addr| {
            let config = BinaryConfig::from_settings(addr, settings)?;
            let (output, input) = BinaryOutput::start(config, shutdown)?;
            responses = input;
            Ok(output)
        })?;
        p.response_inputs.extend(responses);
    }
    if let Some(config) = KafkaOutputConfig::from_settings(settings)? {
        p.outputs.push(KafkaOutput::open(&config, shutdown)?);
    }
    // The offset flag carries the input's `|limit`; `|N%` is a replay
    // speed there, as on a file input.
    let (offset, limit) = split_limit(&settings.input_kafka_offset);
    let speed = match limit.and_then(|l| l.strip_suffix('%')) {
        Some(pct) => Limit::percent_value("input-kafka-offset", pct)? as f64 / 100.0,
        None => 1.0,
    };
    if let Some(config) = KafkaInputConfig::from_settings(offset, speed, settings)? {
        let input = KafkaInput::open(&config, shutdown)?;
        p.inputs.push(match limit.filter(|l| !l.ends_with('%')) {
            Some(l) => Box::new(LimitedInput::new(
                input,
                Limit::parse("input-kafka-offset", l)?,
            )),
            None => input,
        });
    }
    if p.inputs.is_empty() || p.outputs.is_empty() {
        anyhow::bail!(
            "Required at least 1 input and 1 output (e.g. --input-raw :80 --output-stdout)"
        );
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_suffix_is_split_at_the_first_bar() {
        assert_eq!(split_limit("a.gor|200%"), ("a.gor", Some("200%")));
        assert_eq!(split_limit("http://x|10|junk"), ("http://x", Some("10")));
        assert_eq!(split_limit("plain"), ("plain", None));
        assert_eq!(split_limit("empty|"), ("empty", None));
    }
}

//! `--input-dummy`: one request and its response every second, for trying a
//! pipeline without traffic.

use crate::message::{Message, PayloadType, now_ns, random_id};
use crate::plugin::{Input, Result, Shutdown};
use std::time::{Duration, Instant};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: www.w3.org\r\nUser-Agent: Go 1.1 package http\r\nAccept-Encoding: gzip\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

pub struct DummyInput {
    next_tick: Instant,
    pending_response: Option<Message>,
    /// A stop ends the wait for the next tick, and the input.
    shutdown: Shutdown,
}

impl DummyInput {
    pub fn new(shutdown: &Shutdown) -> Self {
        DummyInput {
            next_tick: Instant::now() + Duration::from_secs(1),
            pending_response: None,
            shutdown: shutdown.clone(),
        }
    }
}

impl Input for DummyInput {
    fn read(&mut self) -> Result<Option<Message>> {
        if let Some(resp) = self.pending_response.take() {
            return Ok(Some(resp));
        }
        // Absolute deadlines: a slow consumer does not make the ticks drift.
        let now = Instant::now();
        if self.next_tick > now && self.shutdown.wait_timeout(self.next_tick - now) {
            return Ok(None);
        }
        self.next_tick += Duration::from_secs(1);
        let id = random_id();
        let ts = now_ns();
        self.pending_response = Some(Message::new(
            PayloadType::Response,
            &id,
            ts + 1,
            1,
            RESPONSE,
        ));
        Ok(Some(Message::new(
            PayloadType::Request,
            &id,
            ts,
            -1,
            REQUEST,
        )))
    }

    fn describe(&self) -> String {
        "input_dummy".into()
    }
}

//! `--output-ws ws://[user:pass@]host[:port]/path` (or `wss://`): sends
//! requests and captured responses to a WebSocket server, one binary frame
//! per message holding `Meta ‖ Data` (no separator: the frame is the
//! boundary).
//!
//! As GoReplay does, the handshake always carries
//! `Authorization: Basic <base64 of the URL's userinfo>`, exactly as written
//! in the URL (still percent-encoded), and `Basic ` with an empty credential
//! when the URL has none; the userinfo itself is taken out of the URL.
//!
//! Workers, sticky routing, reconnection and stats are the relay pool's
//! (`relay::pool`), shared with `--output-tcp`.

use crate::message::Message;
use crate::plugin::{Output, Result, Shutdown};
use crate::relay::pool::{Connector, Link, Pool, PoolConfig, worker_count};
use crate::relay::stream::{self, Peek, RelayStream, TlsTarget};
use crate::settings::{Settings, UsageError};
use base64::Engine;
use std::sync::Arc;
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

/// The queue stats period of `--output-ws-stats`.
const STATS_PERIOD: Duration = Duration::from_secs(5);

/// A `ws://` or `wss://` URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsTarget {
    pub secure: bool,
    /// `host` (brackets kept for IPv6) and port, for dialling.
    pub host: String,
    pub port: u16,
    /// The URL without its userinfo: what the handshake asks for.
    pub url: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

impl WsTarget {
    pub fn parse(url: &str) -> std::result::Result<WsTarget, String> {
        let (secure, rest) = if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("wss://") {
            (true, r)
        } else {
            return Err("expected a ws:// or wss:// URL".into());
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (u, h),
            None => ("", authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("bad port {p:?} in the URL"))?,
            ),
            _ => (hostport, if secure { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err("no host in the URL".into());
        }
        let scheme = if secure { "wss" } else { "ws" };
        let path = if path.is_empty() { "/" } else { path };
        Ok(WsTarget {
            secure,
            host: host.to_string(),
            port,
            url: format!("{scheme}://{hostport}{path}"),
            authorization: format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(userinfo)
            ),
        })
    }
}

/// What `--output-ws` needs from the command line.
#[derive(Debug, Clone)]
pub struct WsOutputConfig {
    pub target: WsTarget,
    pub skip_verify: bool,
    pub workers: usize,
    pub sticky: bool,
    pub stats_period: Option<Duration>,
}

impl WsOutputConfig {
    pub fn from_settings(url: &str, s: &Settings) -> Result<WsOutputConfig> {
        let workers = worker_count("output-ws", s.output_ws_workers)?;
        let target =
            WsTarget::parse(url).map_err(|e| UsageError(format!("--output-ws {url:?}: {e}")))?;
        Ok(WsOutputConfig {
            target,
            skip_verify: s.output_ws_skip_verify,
            workers,
            sticky: s.output_ws_sticky,
            stats_period: (s.stats && s.output_ws_stats).then_some(STATS_PERIOD),
        })
    }
}

/// The `--output-ws` output: the relay pool over WebSocket connections.
pub struct WsOutput;

impl WsOutput {
    pub fn open(config: WsOutputConfig, shutdown: &Shutdown) -> Result<Arc<dyn Output>> {
        let target = config.target;
        let tls = if target.secure {
            let client = crate::relay::tls::client_config("output-ws", config.skip_verify)?;
            Some(
                TlsTarget::new(client, &target.host)
                    .map_err(|e| UsageError(format!("--output-ws {}: {e}", target.url)))?,
            )
        } else {
            None
        };
        let pool = Pool::start(
            PoolConfig {
                flag: "output-ws",
                target: target.url.clone(),
                workers: config.workers,
                sticky: config.sticky,
                stats_period: config.stats_period,
            },
            Arc::new(WsConnector { target, tls }),
            shutdown,
        )?;
        Ok(Arc::new(pool))
    }
}

struct WsConnector {
    target: WsTarget,
    tls: Option<TlsTarget>,
}

impl Connector for WsConnector {
    fn connect(
        &self,
        on_socket: &dyn Fn(&std::net::TcpStream),
    ) -> std::result::Result<Box<dyn Link>, String> {
        let t = &self.target;
        let address = format!("{}:{}", t.host, t.port);
        let stream = stream::dial(&address, self.tls.as_ref(), on_socket)?;
        let mut request = t
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| format!("{}: {e}", t.url))?;
        let auth = HeaderValue::from_str(&t.authorization)
            .map_err(|e| format!("{}: bad Authorization value: {e}", t.url))?;
        request.headers_mut().insert("Authorization", auth);
        let _ = stream.socket().set_read_timeout(Some(stream::DIAL_TIMEOUT));
        let (ws, _) = tungstenite::client::client(request, stream)
            .map_err(|e| format!("WebSocket handshake with {} failed: {e}", t.url))?;
        let _ = ws.get_ref().socket().set_read_timeout(None);
        Ok(Box::new(WsLink { ws }))
    }
}

struct WsLink {
    ws: tungstenite::WebSocket<RelayStream>,
}

fn io_error(e: tungstenite::Error) -> std::io::Error {
    match e {
        tungstenite::Error::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    }
}

impl Link for WsLink {
    fn send(&mut self, batch: &[Message]) -> std::io::Result<()> {
        for m in batch {
            let mut frame = Vec::with_capacity(m.meta.len() + m.data.len());
            frame.extend_from_slice(&m.meta);
            frame.extend_from_slice(&m.data);
            self.ws
                .write(tungstenite::Message::binary(frame))
                .map_err(io_error)?;
        }
        self.ws.flush().map_err(io_error)
    }

    /// A close frame, FIN or reset from the server. Pings are answered
    /// (with the next write).
    fn peer_closed(&mut self) -> bool {
        match self.ws.get_ref().peek() {
            Peek::Quiet => return false,
            Peek::Closed => return true,
            Peek::Data => {}
        }
        // Something arrived; it may be a ping or a close frame.
        let sock = self.ws.get_ref().socket();
        if sock.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = loop {
            match self.ws.read() {
                Ok(tungstenite::Message::Close(_)) => break true,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    break false;
                }
                Err(_) => break true,
            }
        };
        closed || self.ws.get_ref().socket().set_nonblocking(false).is_err()
    }

    fn close(&mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
        self.ws.get_mut().close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_goes_into_the_authorization_header_as_written() {
        let t = WsTarget::parse("ws://user1@host/test").unwrap();
        assert_eq!(t.authorization, "Basic dXNlcjE=");
        assert_eq!(t.url, "ws://host/test");
        assert_eq!((t.host.as_str(), t.port, t.secure), ("host", 80, false));
        let t = WsTarget::parse("wss://us%40er:p%3Ass@example.com:8443/a?b=c").unwrap();
        assert_eq!(
            t.authorization,
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("us%40er:p%3Ass")
            )
        );
        assert_eq!(t.url, "wss://example.com:8443/a?b=c");
        assert_eq!((t.port, t.secure), (8443, true));
    }

    #[test]
    fn no_userinfo_still_sends_an_empty_basic_credential() {
        let t = WsTarget::parse("ws://127.0.0.1:9000").unwrap();
        assert_eq!(t.authorization, "Basic ");
        assert_eq!(t.url, "ws://127.0.0.1:9000/");
    }

    #[test]
    fn other_schemes_and_bad_ports_are_refused() {
        assert!(WsTarget::parse("http://host/").is_err());
        assert!(WsTarget::parse("ws://host:http/").is_err());
        assert!(WsTarget::parse("ws:///path").is_err());
    }
}

//! S3 storage shared by `--output-file s3://…` (chunk uploads) and
//! `--input-file s3://…` (listing and reading objects).
//!
//! Region, credentials and endpoint come from the standard AWS chain
//! (environment, `~/.aws/config` and `~/.aws/credentials`, web identity,
//! container and instance metadata), as GoReplay takes them:
//! `AWS_DEFAULT_REGION`, else `AWS_REGION` (or the profile's region), else
//! `us-east-1`; `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for another
//! endpoint. With a custom endpoint, buckets are addressed by path
//! (`http://host:9000/bucket/key`), which every S3-compatible store
//! (MinIO, Ceph, moto, …) understands.
//!
//! The SDK is asynchronous; plugins are plain threads, so every call here
//! blocks its caller while the work runs on the shared runtime. Secrets
//! never reach an error or a log line: errors carry the service's code and
//! message only.

use crate::plugin::Result;
use crate::runtime::runtime;
use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Read};
use std::path::Path;
use std::sync::OnceLock;

/// Bytes asked for per range request when reading an object. An object is
/// read in ranges (GoReplay asks for 1,000,000 bytes at a time) so that a
/// replay paced over hours never holds a request open; 8 MiB keeps the
/// per-request cost small against the transfer, and with one range read
/// ahead a reader holds at most three.
const RANGE: u64 = 8 << 20;
/// Ranges in flight while one is read: against moto on loopback, two ahead
/// read 1.6x faster than one; against s3s-fs (bench/s3.sh) reading from S3
/// runs faster than reading the same chunks from disk.
const AHEAD: usize = 2;

/// Bytes read from a staged chunk at a time while uploading it.
const UPLOAD_BUFFER: usize = 1 << 20;

/// `s3://bucket/key`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// The key (a key template for outputs, a prefix for inputs); may be empty.
    pub key: String,
}

impl S3Url {
    /// `None` if `text` is not an `s3://` URL with a bucket.
    pub fn parse(text: &str) -> Option<S3Url> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

/// An object found by [`Storage::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
}

/// The S3 client, built once per process from the environment.
#[derive(Clone)]
pub struct Storage {
    client: Client,
}

/// Runs `fut` on the shared runtime and waits for it (from any thread,
/// runtime threads included, where `block_on` would panic).
fn wait<F, T>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = crossbeam_channel::bounded(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    // The task sends unless it panicked or the runtime is being torn down.
    rx.recv()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the S3 request was abandoned")))
}

/// One line for an SDK error: the service's code and message when there is
/// one, else the chain of causes (a refused connection, a bad endpoint).
fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(msg)) => format!("{code}: {msg}"),
        (Some(code), None) => code.to_string(),
        _ => DisplayErrorContext(e).to_string(),
    }
}

impl Storage {
    /// The shared client (built at the first call; building reads no
    /// network, credentials are fetched at the first request).
    pub fn get() -> Result<Storage> {
        static STORAGE: OnceLock<Storage> = OnceLock::new();
        if let Some(s) = STORAGE.get() {
            return Ok(s.clone());
        }
        let built = wait(async { Ok(Storage::build().await) })?;
        Ok(STORAGE.get_or_init(|| built).clone())
    }

    async fn build() -> Storage {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let region = RegionProviderChain::first_try(
            std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty())
                .map(Region::new),
        )
        .or_default_provider()
        .or_else(Region::from_static("us-east-1"));
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(region)
            .load()
            .await;
        // `AWS_ENDPOINT_URL_S3` is applied by the S3 config itself, so it
        // is not in the shared config's endpoint.
        let custom_endpoint = shared.endpoint_url().is_some()
            || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty());
        let mut config =
            aws_sdk_s3::config::Builder::from(&shared).force_path_style(custom_endpoint);
        // S3-compatible stores: no checksum trailers unless asked for
        // (`AWS_REQUEST_CHECKSUM_CALCULATION=when_supported`). Many such
        // stores do not understand the chunked upload encoding that
        // trailers need, and the others decode it slowly (moto: 0.6x).
        if custom_endpoint && std::env::var_os("AWS_REQUEST_CHECKSUM_CALCULATION").is_none() {
            config = config.request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        }
        let config = config.build();
        Storage {
            client: Client::from_conf(config),
        }
    }

    /// Every object under `prefix`, in key order (all listing pages).
    pub fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Object>> {
        let client = self.client.clone();
        let (bucket, prefix) = (bucket.to_string(), prefix.to_string());
        wait(async move {
            let mut pages = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .into_paginator()
                .send();
            let mut found = Vec::new();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
                for o in page.contents() {
                    if let Some(key) = o.key() {
                        found.push(Object {
                            key: key.to_string(),
                            size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                        });
                    }
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        })
    }

    /// Checks that the bucket exists and the credentials are accepted, with
    /// the cheapest request that says so (a listing of at most one key). A
    /// refusal to list (`AccessDenied`) is not an error: a user allowed to
    /// write only may still upload.
    pub fn check(&self, bucket: &str, prefix: &str) -> Result<()> {
        let client = self.client.clone();
        let (bucket, prefix) = (bucket.to_string(), prefix.to_string());
        wait(async move {
            let sent = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(&prefix)
                .max_keys(1)
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("AccessDenied") => Ok(()),
                Err(e) => Err(anyhow::anyhow!("{}", describe(&e))),
            }
        })
    }

    /// Uploads the file at `path` as `bucket/key`, streamed from disk. A
    /// streamed body is signed as `UNSIGNED-PAYLOAD` (the SDK cannot hash
    /// what it has not read), so the file is read once, and with a custom
    /// endpoint no checksum is computed either.
    pub fn upload(&self, bucket: &str, key: &str, path: &Path) -> Result<()> {
        let client = self.client.clone();
        let (bucket, key, path) = (bucket.to_string(), key.to_string(), path.to_path_buf());
        wait(async move {
            // The default of 4 KB reads makes thousands of body frames per
            // chunk, each a wake-up and a write on the connection.
            let body = ByteStream::read_from()
                .path(&path)
                .buffer_size(UPLOAD_BUFFER)
                .build()
                .await
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(body)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            Ok(())
        })
    }

    /// A reader of `bucket/key` (`size` bytes long), fetched in ranges, the
    /// next one while the current one is read.
    pub fn reader(&self, bucket: &str, object: &Object) -> ObjectReader {
        ObjectReader {
            storage: self.clone(),
            bucket: bucket.to_string(),
            key: object.key.clone(),
            size: object.size,
            next: 0,
            current: Bytes::new(),
            ahead: VecDeque::new(),
            range: RANGE,
        }
    }

    /// Bytes `start..end` of the object.
    fn fetch(
        &self,
        bucket: &str,
        key: &str,
        start: u64,
        end: u64,
    ) -> impl Future<Output = io::Result<Bytes>> + Send + 'static {
        let client = self.client.clone();
        let (bucket, key) = (bucket.to_string(), key.to_string());
        async move {
            let got = client
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .range(format!("bytes={start}-{}", end - 1))
                .send()
                .await
                .map_err(|e| io::Error::other(format!("s3://{bucket}/{key}: {}", describe(&e))))?;
            let body = got
                .body
                .collect()
                .await
                .map_err(|e| io::Error::other(format!("s3://{bucket}/{key}: {e}")))?;
            Ok(body.into_bytes())
        }
    }
}

/// Reads one object; memory is bounded by `AHEAD + 1` ranges, whatever its size.
pub struct ObjectReader {
    storage: Storage,
    bucket: String,
    key: String,
    size: u64,
    /// Offset of the first byte not yet asked for.
    next: u64,
    current: Bytes,
    /// Ranges asked for, in order.
    ahead: VecDeque<crossbeam_channel::Receiver<io::Result<Bytes>>>,
    range: u64,
}

impl ObjectReader {
    /// Reads only the first `bytes` (to peek at the first header line:
    /// no need to fetch a whole range of every object at start-up).
    pub fn head(mut self, bytes: u64) -> ObjectReader {
        self.size = self.size.min(bytes);
        self.range = self.range.min(bytes.max(1));
        self
    }

    /// Starts fetching the next ranges, up to `AHEAD` in flight.
    fn ask(&mut self) {
        while self.ahead.len() < AHEAD && self.next < self.size {
            self.ask_one();
        }
    }

    fn ask_one(&mut self) {
        let end = (self.next + self.range).min(self.size);
        let fetch = self.storage.fetch(&self.bucket, &self.key, self.next, end);
        self.next = end;
        let (tx, rx) = crossbeam_channel::bounded(1);
        runtime().spawn(async move {
            let _ = tx.send(fetch.await);
        });
        self.ahead.push_back(rx);
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            self.ask();
            let Some(ahead) = self.ahead.pop_front() else {
                return Ok(0);
            };
            self.current = ahead
                .recv()
                .map_err(|_| io::Error::other("the network runtime stopped"))??;
            if self.current.is_empty() {
                return Ok(0);
            }
            self.ask();
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_splits_bucket_and_key() {
        assert_eq!(
            S3Url::parse("s3://b/logs/%Y.gz"),
            Some(S3Url {
                bucket: "b".into(),
                key: "logs/%Y.gz".into()
            })
        );
        assert_eq!(S3Url::parse("s3://b").unwrap().key, "");
        assert_eq!(S3Url::parse("s3:///x"), None);
        assert_eq!(S3Url::parse("/tmp/x"), None);
    }
}

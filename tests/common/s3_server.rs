//! A local S3 for the S3 tests and the S3 benchmark: s3s-fs (the s3s
//! crate's S3 server, objects kept as files) on a free 127.0.0.1 port, with
//! every request's signature checked against one access key (a wrong secret
//! is refused with `SignatureDoesNotMatch`, as AWS refuses it).
//!
//! Buckets are the directories under the root and objects the files in
//! them (`ROOT/bucket/key`), so a test makes a bucket with `mkdir` and
//! reads back an object with `std::fs`. The server's own files (metadata,
//! parts of multipart uploads) are hidden files at the root.
//!
//! Objects are read and written by [`Objects`] with one file operation per
//! request; everything else (listing, buckets, multipart uploads, the
//! protocol and the signatures) is s3s and s3s-fs. s3s-fs alone reads and
//! writes objects 4 KB at a time, each a trip through tokio's blocking
//! pool, and reads the whole object for its MD5 at every GET: in
//! bench/s3.sh it took 149 MB/s up and served 137 down, well below what gor
//! sends and reads.
//!
//! tests/s3.rs runs it inside the test process;
//! `examples/s3_server.rs` runs it as a process of its own for bench/s3.sh.
#![allow(dead_code)]

use hyper::body::Body as _;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{Body, S3, S3Request, S3Response, S3Result, s3_error};
use std::io::{self, Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

/// The access key every request is signed with.
pub const ACCESS_KEY: &str = "gor-test-access-key";

/// A running server; it stops with the process (or its runtime's thread).
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// Where buckets and objects are.
    pub root: PathBuf,
    /// Ends the server: its listener and every connection close.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Serves `root` (an existing directory) on a free loopback port, from
    /// a runtime of `threads` worker threads on a thread of its own.
    pub fn start(root: &Path, threads: usize) -> io::Result<S3Server> {
        let secret_key = format!("{:032x}", rand::random::<u128>());
        Self::start_at(root, threads, "127.0.0.1:0", &secret_key)
    }

    /// The same on `addr`, with `secret_key`: a server stopped with
    /// [`S3Server::stop`] comes back where it was.
    pub fn start_at(
        root: &Path,
        threads: usize,
        addr: &str,
        secret_key: &str,
    ) -> io::Result<S3Server> {
        let secret_key = secret_key.to_string();
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| io::Error::other(format!("{e:?}")))?;
        let mut service = S3ServiceBuilder::new(Objects {
            fs,
            root: root.canonicalize()?,
            temporary: AtomicU64::new(0),
        });
        service.set_auth(SimpleAuth::from_single(ACCESS_KEY, secret_key.clone()));
        let service = service.build();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("s3-server")
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr: SocketAddr = listener.local_addr()?;
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("s3-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        let accepted = tokio::select! {
                            a = listener.accept() => a,
                            _ = &mut stopped => break,
                        };
                        let Ok((socket, _)) = accepted else {
                            continue;
                        };
                        let _ = socket.set_nodelay(true);
                        let service = service.clone();
                        tokio::spawn(async move {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .max_buf_size(READ_BUFFER)
                                .serve_connection(TokioIo::new(socket), service)
                                .await;
                        });
                    }
                });
                // Every connection task ends with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(S3Server {
            endpoint: format!("http://{addr}"),
            access_key: ACCESS_KEY.to_string(),
            secret_key,
            root: root.to_path_buf(),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the server: from now on its port refuses connections.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Makes an empty bucket.
    pub fn bucket(&self, name: &str) {
        std::fs::create_dir_all(self.root.join(name)).expect("making a bucket");
    }

    /// The keys in `bucket` that start with `prefix`, sorted.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let dir = self.root.join(bucket);
        let mut keys = Vec::new();
        let mut todo = vec![dir.clone()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).expect("listing a bucket") {
                let path = entry.expect("listing a bucket").path();
                if path.is_dir() {
                    todo.push(path);
                } else if let Ok(key) = path.strip_prefix(&dir) {
                    let key = key.to_string_lossy().into_owned();
                    if key.starts_with(prefix) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        keys
    }

    /// The bytes of object `bucket/key`.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        std::fs::read(self.root.join(bucket).join(key)).expect("reading an object")
    }
}

/// Most bytes read from a connection at a time (hyper's default is about
/// 400 KB): an upload's body arrives in fewer pieces, each a wake-up and a
/// write, which on a loaded machine each wait for a core.
const READ_BUFFER: usize = 4 << 20;

/// s3s-fs with objects read and written in one piece.
struct Objects {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
    temporary: AtomicU64,
}

impl Objects {
    /// `ROOT/bucket/key`, the bucket required to exist; a key that would
    /// leave the bucket (`..`, an absolute path) is refused.
    fn path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let dir = self.root.join(bucket);
        if bucket.contains('/') || !dir.is_dir() {
            return Err(s3_error!(NoSuchBucket));
        }
        let key = Path::new(key);
        if !key.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(s3_error!(InvalidArgument, "unsupported key"));
        }
        Ok(dir.join(key))
    }
}

fn blocking_failed(e: tokio::task::JoinError) -> s3s::S3Error {
    s3_error!(InternalError, "{e}")
}

#[async_trait::async_trait]
impl S3 for Objects {
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let path = self.path(&req.input.bucket, &req.input.key)?;
        let range = req.input.range;
        let (bytes, start, size) = tokio::task::spawn_blocking(move || -> S3Result<_> {
            let mut file = std::fs::File::open(&path).map_err(|_| s3_error!(NoSuchKey))?;
            let size = file
                .metadata()
                .map_err(|e| s3_error!(InternalError, "{e}"))?
                .len();
            let wanted = match range {
                None => 0..size,
                Some(r) => r.check(size)?,
            };
            let mut bytes = vec![0; usize::try_from(wanted.end - wanted.start).unwrap_or(0)];
            file.seek(io::SeekFrom::Start(wanted.start))
                .and_then(|_| file.read_exact(&mut bytes))
                .map_err(|e| s3_error!(InternalError, "{e}"))?;
            Ok((bytes, wanted.start, size))
        })
        .await
        .map_err(blocking_failed)??;
        let length = bytes.len() as u64;
        let output = GetObjectOutput {
            content_length: Some(length as i64),
            content_range: range.map(|_| format!("bytes {start}-{}/{size}", start + length - 1)),
            body: Some(StreamingBlob::from(Body::from(bytes))),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let path = self.path(&req.input.bucket, &req.input.key)?;
        let Some(body) = req.input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        let temporary = self.root.join(format!(
            ".tmp.{}.object.part",
            self.temporary.fetch_add(1, Ordering::Relaxed)
        ));
        let failed = |e: &dyn std::fmt::Display| s3_error!(InternalError, "{e}");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed(&e))?;
        }
        let mut file = std::fs::File::create(&temporary).map_err(|e| failed(&e))?;
        // Each piece written as it arrives: no copy of the object in memory.
        let mut body = Body::from(body);
        let mut crc = flate2::Crc::new();
        let written: S3Result<()> = async {
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
            {
                let frame = frame.map_err(|e| s3_error!(IncompleteBody, "{e}"))?;
                if let Ok(data) = frame.into_data() {
                    crc.update(&data);
                    tokio::task::block_in_place(|| file.write_all(&data))
                        .map_err(|e| failed(&e))?;
                }
            }
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(e);
        }
        std::fs::rename(&temporary, &path).map_err(|e| failed(&e))?;
        let crc = crc.sum();
        let output = PutObjectOutput {
            e_tag: Some(ETag::Strong(format!("{crc:08x}"))),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }
}

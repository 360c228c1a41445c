//! `--input-file s3://bucket/prefix`: every object whose key starts with
//! the prefix (all listing pages, where GoReplay takes the first thousand
//! keys only), in key order, each read in ranges as the replay needs it.

use crate::plugin::Result;
use crate::s3::{Object, S3Url, Storage};
use std::io::Read;

/// One object of the bucket.
#[derive(Clone)]
pub struct S3Object {
    storage: Storage,
    bucket: String,
    object: Object,
}

impl std::fmt::Debug for S3Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl S3Object {
    pub fn name(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.object.key)
    }

    /// The object's bytes, as stored (still compressed if it is gzip).
    pub fn open(&self) -> Box<dyn Read + Send> {
        Box::new(self.storage.reader(&self.bucket, &self.object))
    }

    /// Its first `bytes`, to peek at the first record's header.
    pub fn open_head(&self, bytes: u64) -> Box<dyn Read + Send> {
        Box::new(self.storage.reader(&self.bucket, &self.object).head(bytes))
    }
}

/// The objects under the prefix; a refusal (credentials, a missing bucket)
/// and an empty prefix are errors naming the flag.
pub fn list(pattern: &str) -> Result<Vec<S3Object>> {
    let url = S3Url::parse(pattern)
        .ok_or_else(|| anyhow::anyhow!("--input-file {pattern}: expected s3://bucket/prefix"))?;
    let storage = Storage::get()?;
    let objects = storage
        .list(&url.bucket, &url.key)
        .map_err(|e| anyhow::anyhow!("--input-file {pattern}: S3 refused the listing: {e:#}"))?;
    let found: Vec<S3Object> = objects
        .into_iter()
        // "Folders" made by consoles are empty keys ending in '/'.
        .filter(|o| !o.key.ends_with('/'))
        .map(|object| S3Object {
            storage: storage.clone(),
            bucket: url.bucket.clone(),
            object,
        })
        .collect();
    if found.is_empty() {
        anyhow::bail!("--input-file {pattern}: no object matches this prefix");
    }
    Ok(found)
}

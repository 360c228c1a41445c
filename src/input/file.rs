//! `--input-file`: replays recorded files (spec section 6). Being written.

use crate::plugin::{Input, Result};
use crate::settings::Settings;

pub struct FileInput;

impl FileInput {
    /// Opens every file the pattern matches; `speed` scales the waits
    /// between records (`|200%` gives 2.0).
    pub fn open(_pattern: &str, _speed: f64, _settings: &Settings) -> Result<Box<dyn Input>> {
        Err(crate::registry::not_available("input-file", "file input"))
    }
}

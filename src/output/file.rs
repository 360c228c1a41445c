//! `--output-file`: records messages to files (spec section 7). Being written.

use crate::plugin::{Output, Result};
use crate::settings::Settings;
use std::sync::Arc;

pub struct FileOutput;

impl FileOutput {
    pub fn open(_template: &str, _settings: &Settings) -> Result<Arc<dyn Output>> {
        Err(crate::registry::not_available("output-file", "file output"))
    }
}

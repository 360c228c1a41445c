//! `--output-null`: accepts and discards (for measuring the rest of a pipeline).

use crate::message::Message;
use crate::plugin::{Output, Result};

pub struct NullOutput;

impl Output for NullOutput {
    fn write(&self, _msg: &Message) -> Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "output_null".into()
    }
}

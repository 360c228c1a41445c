#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gor::fuzzing::diff_compare(data));

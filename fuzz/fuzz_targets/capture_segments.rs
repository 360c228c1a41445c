#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gor::fuzzing::capture_segments(data));

//! Every fuzz target's seed corpus (`fuzz/seeds/<target>/`) and every input
//! a fuzzing campaign found a fault with (`fuzz/regressions/<target>/`, the
//! crashing input saved under the name of what it broke) replayed through
//! the target's entry point on the normal build: the faults stay fixed
//! without a nightly toolchain.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("gor_records", gor::fuzzing::gor_records),
    ("relay_frames", gor::fuzzing::relay_frames),
    ("middleware_lines", gor::fuzzing::middleware_lines),
    ("argv", gor::fuzzing::argv),
    ("modifier", gor::fuzzing::modifier),
    ("prettify", gor::fuzzing::prettify),
    ("kafka_json", gor::fuzzing::kafka_json),
    ("capture_segments", gor::fuzzing::capture_segments),
    ("ws_frames", gor::fuzzing::ws_frames),
    ("diff_compare", gor::fuzzing::diff_compare),
];

/// The files of `dir`, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

#[test]
fn every_fuzz_target_has_seeds_and_a_target_file() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in TARGETS {
        assert!(
            !inputs(&fuzz.join("seeds").join(name)).is_empty(),
            "fuzz/seeds/{name} is empty"
        );
        assert!(
            fuzz.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
    }
    let listed = std::fs::read_dir(fuzz.join("fuzz_targets"))
        .unwrap()
        .count();
    assert_eq!(listed, TARGETS.len(), "a fuzz target is not replayed here");
}

#[test]
fn seeds_and_past_findings_pass_every_target() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for (name, target) in TARGETS {
        for dir in ["seeds", "regressions"] {
            for file in inputs(&fuzz.join(dir).join(name)) {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{} fails again", file.display());
                replayed += 1;
            }
        }
    }
    assert!(replayed >= TARGETS.len());
}

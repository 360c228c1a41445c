//! `make install` and what it installs, checked the way a user would: the
//! installed binary runs (with its capture capabilities when installed as
//! root), `man -l` renders the man page, bash loads the completion and it
//! completes a flag, `systemd-analyze verify` accepts the installed unit,
//! and `make uninstall` leaves nothing behind.

mod common;
use common::{Finished, GOR, need_tool as need, run_program};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The repository (where the Makefile is).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program args…` in the repository to its end.
fn run(program: &str, args: &[&str], envs: &[(&str, &str)]) -> Finished {
    run_program(program, args, repo(), envs, T)
}

fn ok(what: &str, f: &Finished) -> String {
    assert_eq!(
        f.code(),
        Some(0),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&f.stdout),
        f.stderr
    );
    String::from_utf8_lossy(&f.stdout).into_owned()
}

/// `make <target> PREFIX=<prefix>` with the binary this test run built, and
/// generated files in a directory of this test's own.
fn make(target: &str, prefix: &Path) -> String {
    let prefix_arg = format!("PREFIX={}", prefix.display());
    let gor_arg = format!("GOR={GOR}");
    let assets_arg = format!("ASSETS={}", prefix.join("assets").display());
    let out = run(
        "make",
        &[
            "--no-print-directory",
            target,
            &prefix_arg,
            &gor_arg,
            &assets_arg,
        ],
        &[],
    );
    ok(&format!("make {target}"), &out) + &out.stderr
}

/// Every file `make install` puts under PREFIX.
fn installed(prefix: &Path) -> Vec<PathBuf> {
    [
        "bin/gor",
        "share/man/man1/gor.1",
        "share/bash-completion/completions/gor",
        "share/zsh/site-functions/_gor",
        "share/fish/vendor_completions.d/gor.fish",
        "lib/systemd/system/gor.service",
        "etc/default/gor",
    ]
    .iter()
    .map(|p| prefix.join(p))
    .collect()
}

#[test]
fn make_install_then_uninstall_in_a_prefix() {
    need("make", "make");
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("usr");
    let said = make("install", &prefix);
    for f in installed(&prefix) {
        assert!(f.is_file(), "{} not installed", f.display());
    }

    // The installed binary runs, from its new place.
    let bin = prefix.join("bin/gor");
    let help = ok(
        "installed gor --help",
        &run(bin.to_str().unwrap(), &["--help"], &[]),
    );
    assert!(help.contains("--input-raw"), "{help}");

    // As root, it carries the capture capabilities; otherwise install says
    // how to add them.
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        need("getcap", "libcap2-bin");
        let caps = ok("getcap", &run("getcap", &[bin.to_str().unwrap()], &[]));
        assert!(
            caps.contains("cap_net_admin,cap_net_raw=eip"),
            "capabilities of the installed binary: {caps:?}"
        );
    } else {
        assert!(
            said.contains("sudo setcap cap_net_raw,cap_net_admin+eip"),
            "{said}"
        );
    }

    // The unit runs the installed binary with the installed command line.
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/gor.service")).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={} $GOR_ARGS", bin.display())),
        "{unit}"
    );
    assert!(unit.contains(&format!(
        "EnvironmentFile={}",
        prefix.join("etc/default/gor").display()
    )));

    // An edited command line file survives a reinstall and an uninstall;
    // everything else goes.
    let default = prefix.join("etc/default/gor");
    std::fs::write(&default, "GOR_ARGS=\"--input-raw :8080 --output-stdout\"\n").unwrap();
    make("install", &prefix);
    assert!(std::fs::read_to_string(&default).unwrap().contains(":8080"));
    let said = make("uninstall", &prefix);
    assert!(said.contains("keeping"), "{said}");
    for f in installed(&prefix) {
        assert_eq!(f.exists(), f == default, "{}", f.display());
    }
    // An unedited one goes too.
    std::fs::remove_file(&default).unwrap();
    make("install", &prefix);
    make("uninstall", &prefix);
    for f in installed(&prefix) {
        assert!(!f.exists(), "{} left behind", f.display());
    }
}

#[test]
fn installed_man_page_renders_with_man() {
    need("man", "man-db");
    need("groff", "groff-base");
    let dir = tempfile::tempdir().unwrap();
    make("install", dir.path());
    let page = dir.path().join("share/man/man1/gor.1");
    let out = run(
        "man",
        &["-l", page.to_str().unwrap()],
        &[("MANPAGER", "cat"), ("MANWIDTH", "100")],
    );
    let text = ok("man -l", &out);
    assert!(
        !out.stderr.contains("warning"),
        "groff warned:\n{}",
        out.stderr
    );
    // man renders hyphens as U+2010 in some locales; compare on ASCII.
    let text = text.replace('\u{2010}', "-");
    for want in [
        "NAME",
        "gor - Capture, save, rewrite and replay live HTTP traffic",
        "--input-raw",
        "--output-http-timeout",
        "EXIT STATUS",
        "EXAMPLES",
        "setcap cap_net_raw,cap_net_admin+eip",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in the rendered page:\n{text}"
        );
    }
}

#[test]
fn installed_bash_completion_loads_and_completes_a_flag() {
    need("bash", "bash");
    let dir = tempfile::tempdir().unwrap();
    make("install", dir.path());
    let file = dir.path().join("share/bash-completion/completions/gor");
    // What bash does on TAB after `gor --output-ht`.
    let script = format!(
        "source {}; complete -p gor; COMP_WORDS=(gor --output-ht); COMP_CWORD=1; \
         COMP_LINE='gor --output-ht'; COMP_POINT=${{#COMP_LINE}}; \
         _gor gor --output-ht gor; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        file.display()
    );
    let out = ok("bash completion", &run("bash", &["-c", &script], &[]));
    let mut lines = out.lines();
    let registered = lines.next().unwrap_or_default();
    assert!(
        registered.contains("-F _gor") && registered.ends_with(" gor"),
        "{out}"
    );
    let offered: Vec<&str> = lines.collect();
    for want in [
        "--output-http",
        "--output-http-timeout",
        "--output-http-workers",
    ] {
        assert!(offered.contains(&want), "{want} not offered: {offered:?}");
    }
    assert!(
        offered.iter().all(|f| f.starts_with("--output-ht")),
        "{offered:?}"
    );

    // zsh and fish read theirs from the same definitions.
    let zsh = std::fs::read_to_string(dir.path().join("share/zsh/site-functions/_gor")).unwrap();
    assert!(
        zsh.starts_with("#compdef gor") && zsh.contains("--output-http="),
        "{zsh}"
    );
    let fish = std::fs::read_to_string(dir.path().join("share/fish/vendor_completions.d/gor.fish"))
        .unwrap();
    assert!(fish.contains("complete -c gor -l output-http "), "{fish}");
}

#[test]
fn installed_systemd_unit_passes_systemd_analyze_verify() {
    need("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path();
    make("install", prefix);
    let unit = prefix.join("lib/systemd/system/gor.service");
    // verify checks that ExecStart is executable and that the man page of
    // Documentation= exists: both the installed ones.
    let manpath = prefix.join("share/man");
    let out = run(
        "systemd-analyze",
        &["verify", unit.to_str().unwrap()],
        &[("MANPATH", manpath.to_str().unwrap())],
    );
    assert_eq!(
        (out.code(), out.stderr.trim()),
        (Some(0), ""),
        "systemd-analyze verify {}",
        unit.display()
    );
    // The same unit with the binary gone fails the same check.
    std::fs::remove_file(prefix.join("bin/gor")).unwrap();
    let out = run(
        "systemd-analyze",
        &["verify", unit.to_str().unwrap()],
        &[("MANPATH", manpath.to_str().unwrap())],
    );
    assert_ne!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("is not executable"), "{}", out.stderr);
}

/// The hardening the unit promises, read from the example itself.
#[test]
fn systemd_unit_is_hardened_and_reads_its_command_line_from_a_file() {
    let unit = std::fs::read_to_string(repo().join("examples/systemd/gor.service")).unwrap();
    let settings: Vec<(&str, &str)> = unit
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |key: &str| -> Vec<&str> {
        settings
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect()
    };
    for (key, want) in [
        ("EnvironmentFile", "/etc/default/gor"),
        ("ExecStart", "/usr/local/bin/gor $GOR_ARGS"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "gor"),
        ("WorkingDirectory", "%S/gor"),
        ("AmbientCapabilities", "CAP_NET_RAW CAP_NET_ADMIN"),
        ("CapabilityBoundingSet", "CAP_NET_RAW CAP_NET_ADMIN"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("SystemCallFilter", "@system-service"),
    ] {
        assert_eq!(get(key), vec![want], "{key}");
    }
    assert!(get("MemoryMax").len() == 1, "MemoryMax guards memory");
    // systemd splits GOR_ARGS at whitespace, honouring quotes: the example
    // splits into the words the service would run.
    let default = std::fs::read_to_string(repo().join("examples/systemd/gor.default")).unwrap();
    let args = default
        .lines()
        .find_map(|l| l.strip_prefix("GOR_ARGS="))
        .expect("GOR_ARGS in gor.default");
    let words = shlex::split(args.trim_matches('"')).expect("GOR_ARGS splits into words");
    assert!(words.contains(&"--http-pprof".to_string()), "{words:?}");
}

//! What the container image and the Kubernetes examples promise, checked
//! without a Docker daemon: the Dockerfile and manifests read as a runtime
//! would (non-root, never privileged, only NET_RAW and NET_ADMIN), the
//! image's health check run against a real gor, and what the image does at
//! run time reproduced: the release binary, copied with only those two file
//! capabilities, run as an unprivileged user inside a network namespace the
//! test creates, captures the traffic there; without the capabilities it
//! stops with a line that says what is missing.

mod common;
#[path = "common/relay.rs"]
mod relay_common;
use common::{Finished, GOR, Running, need_tool as need, records, run_program};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program args…` to its end.
fn run(program: &str, args: &[&str]) -> Finished {
    run_program(program, args, repo(), &[], T)
}

/// The Dockerfile as instructions: continuation lines joined, comments
/// dropped, each as (INSTRUCTION, rest).
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (op, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((op.to_uppercase(), rest.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn dockerfile_builds_in_a_stage_and_runs_as_a_user_with_two_capabilities() {
    let all = dockerfile();
    let froms: Vec<usize> = (0..all.len()).filter(|&i| all[i].0 == "FROM").collect();
    assert_eq!(froms.len(), 2, "a builder stage and a runtime stage");
    let builder = &all[froms[0]..froms[1]];
    assert!(builder[0].1.ends_with(" AS build"), "{:?}", builder[0]);
    assert!(
        builder
            .iter()
            .any(|(op, rest)| op == "RUN" && rest.contains("cargo build --release")),
        "the builder stage builds from source"
    );
    let runtime = &all[froms[1]..];
    let get = |op: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, rest)| rest.as_str())
            .collect()
    };
    assert!(
        get("COPY")
            .iter()
            .any(|c| c.starts_with("--from=build ") && c.ends_with(" /usr/local/bin/gor"))
    );
    let users = get("USER");
    assert_eq!(users.len(), 1, "one USER in the runtime stage");
    let uid = users[0].split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "USER {uid}: numeric (so runAsNonRoot can check it) and not root"
    );
    // The capabilities are set after the binary is copied in, in this stage.
    let runs = get("RUN");
    let setcap = runs
        .iter()
        .find(|r| r.contains("setcap "))
        .expect("setcap in the runtime stage");
    assert!(
        setcap.contains("setcap cap_net_raw,cap_net_admin+eip /usr/local/bin/gor"),
        "{setcap}"
    );
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(!text.contains("--privileged"));
    let health = get("HEALTHCHECK");
    assert_eq!(health.len(), 1);
    assert!(health[0].contains("/metrics"), "{}", health[0]);
    let entry = get("ENTRYPOINT");
    assert_eq!(
        entry,
        vec![r#"["/usr/local/bin/gor", "--http-pprof", ":8181"]"#]
    );
    assert!(get("ENV").contains(&"GOR_METRICS_PORT=8181"));
}

/// The HEALTHCHECK's command, as the exec-form JSON array it is.
fn healthcheck_command() -> Vec<String> {
    let all = dockerfile();
    let rest = &all.iter().find(|(op, _)| op == "HEALTHCHECK").unwrap().1;
    let json = &rest[rest.find("CMD [").expect("exec-form CMD") + 4..];
    serde_json::from_str(json).expect("HEALTHCHECK CMD is a JSON array")
}

fn health(port: u16) -> Finished {
    let cmd = healthcheck_command();
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..]).env("GOR_METRICS_PORT", port.to_string());
    Running::spawn(c).wait(T)
}

#[test]
fn dockerfile_healthcheck_passes_while_gor_serves_metrics_and_fails_after() {
    let gor = Running::start(&[
        "--input-dummy",
        "x",
        "--output-null",
        "--http-pprof",
        "127.0.0.1:0",
    ]);
    let port = gor.port_after("--http-pprof listening on", T);
    let up = health(port);
    assert_eq!(up.code(), Some(0), "healthy while serving: {}", up.stderr);
    gor.finish(T, true);
    let down = health(port);
    assert_ne!(down.code(), Some(0), "unhealthy once gor is gone");
    // Nothing listens on a port just freed: also unhealthy.
    let down = health(relay_common::free_port());
    assert_ne!(down.code(), Some(0));
}

/// Every document of a YAML file, as JSON (Debian's python3-yaml reads it:
/// a real YAML parser, not a text match).
fn yaml(file: &str) -> Vec<Value> {
    need("python3", "python3");
    let path = repo().join("examples/k8s").join(file);
    let out = run(
        "python3",
        &[
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.code(),
        Some(0),
        "reading {file} (needs python3-yaml): {}",
        out.stderr
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts what every gor container promises: non-root, not privileged,
/// every capability dropped but NET_RAW and NET_ADMIN.
fn assert_unprivileged(container: &Value, what: &str) {
    let sc = &container["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true, "{what}");
    assert!(sc["runAsUser"].as_u64().is_some_and(|u| u != 0), "{what}");
    assert_eq!(sc["privileged"], false, "{what}");
    // no_new_privs would keep the file capabilities from taking effect.
    assert_ne!(sc["allowPrivilegeEscalation"], false, "{what}");
    assert_eq!(
        sc["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "{what}"
    );
    assert_eq!(
        sc["capabilities"]["add"],
        serde_json::json!(["NET_RAW", "NET_ADMIN"]),
        "{what}"
    );
}

/// The flags of a command line (words starting with `--`) that gor does
/// not know.
fn unknown_flags(words: &[String]) -> Vec<String> {
    let help = String::from_utf8_lossy(&run(GOR, &["--help"]).stdout).into_owned();
    words
        .iter()
        .filter(|w| w.starts_with("--"))
        .filter(|w| !help.contains(&format!("{w} ")))
        .cloned()
        .collect()
}

#[test]
fn k8s_sidecar_and_daemonset_capture_with_two_capabilities_never_privileged() {
    let sidecar = yaml("sidecar-deployment.yaml");
    assert_eq!(sidecar.len(), 1);
    let deployment = &sidecar[0];
    assert_eq!(deployment["kind"], "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    // The pod's network namespace, shared with the service: no host network.
    assert!(pod["hostNetwork"].is_null() || pod["hostNetwork"] == false);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "the service and gor beside it");
    let gor = containers.iter().find(|c| c["name"] == "gor").unwrap();
    assert_unprivileged(gor, "sidecar");
    // Configured through args, appended to the image's entrypoint.
    let args: Vec<String> = gor["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--input-raw", ":80"]),
        "{args:?}"
    );
    assert_eq!(unknown_flags(&args), Vec::<String>::new());
    for c in containers {
        assert_ne!(c["securityContext"]["privileged"], true, "{}", c["name"]);
    }

    let node = yaml("capture-daemonset.yaml");
    let kinds: Vec<&str> = node.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ConfigMap", "DaemonSet"]);
    let (config, daemonset) = (&node[0], &node[1]);
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true, "the node's interfaces");
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let gor = &containers[0];
    assert_unprivileged(gor, "daemonset");
    // Configured through the ConfigMap, whose GOR_ARGS the shell splits.
    assert_eq!(
        gor["envFrom"][0]["configMapRef"]["name"],
        config["metadata"]["name"]
    );
    let command = gor["command"].as_array().unwrap();
    assert!(command[2].as_str().unwrap().contains("$GOR_ARGS"));
    let words: Vec<String> = config["data"]["GOR_ARGS"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect();
    assert!(words.contains(&"--input-raw".to_string()), "{words:?}");
    assert_eq!(unknown_flags(&words), Vec::<String>::new());
}

/// A network namespace of this test's own, deleted when dropped.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("gor-test-{}", std::process::id());
        let _ = run("ip", &["netns", "del", &name]);
        let made = run("ip", &["netns", "add", &name]);
        assert_eq!(made.code(), Some(0), "ip netns add: {}", made.stderr);
        let ns = Netns(name);
        let up = run("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
        assert_eq!(up.code(), Some(0), "{}", up.stderr);
        ns
    }

    /// `cmd` run inside the namespace (as root).
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    /// `binary` run inside the namespace as the unprivileged user nobody,
    /// with every capability out of reach but NET_RAW and NET_ADMIN, and
    /// those only if the file carries them: what a container with
    /// `capabilities: {drop: [ALL], add: [NET_RAW, NET_ADMIN]}` and a
    /// non-root user does.
    fn as_nobody(&self, binary: &Path) -> Command {
        let mut c = self.command("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all,+net_raw,+net_admin",
            "--",
        ])
        .arg(binary);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.0]);
    }
}

/// `Name:\tvalue` from /proc/PID/status.
fn proc_status(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn non_root_gor_with_file_capabilities_captures_in_a_network_namespace() {
    if !common::can_capture("non_root_gor_with_file_capabilities_captures_in_a_network_namespace") {
        return;
    }
    need("ip", "iproute2");
    need("setpriv", "util-linux");
    need("setcap", "libcap2-bin");
    let ns = Netns::new();

    // Two copies of the release binary where nobody can run them: one with
    // the image's file capabilities, one without.
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let with_caps = dir.path().join("gor");
    let without = dir.path().join("gor-no-caps");
    for copy in [&with_caps, &without] {
        std::fs::copy(GOR, copy).unwrap();
        std::fs::set_permissions(copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let set = run(
        "setcap",
        &["cap_net_raw,cap_net_admin+eip", with_caps.to_str().unwrap()],
    );
    assert_eq!(set.code(), Some(0), "setcap: {}", set.stderr);

    // A server inside the namespace (gor's own file server, as root).
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("hello.txt"), "hello from the namespace\n").unwrap();
    let mut server = ns.command(GOR);
    server
        .args(["file-server", "127.0.0.1:8080"])
        .current_dir(site.path());
    let server = Running::spawn(server);
    server.wait_for_line("serving", T);

    // Capture there as nobody with the two file capabilities.
    let mut capture = ns.as_nobody(&with_caps);
    capture.args(["--input-raw", "127.0.0.1:8080", "--output-stdout"]);
    let capture = Running::spawn(capture);
    capture.wait_for_line("BPF Filter", T);
    // It runs as nobody, holding exactly CAP_NET_ADMIN (12) and CAP_NET_RAW
    // (13), and nothing else.
    let pid = capture.pid();
    assert!(
        proc_status(pid, "Uid").starts_with("65534\t"),
        "{}",
        proc_status(pid, "Uid")
    );
    assert_eq!(proc_status(pid, "CapEff"), "0000000000003000");
    assert_eq!(proc_status(pid, "CapBnd"), "0000000000003000");

    // A client inside the namespace asks the server for the file (and
    // stops reading once it has it: the connection stays open).
    let mut client = ns.command("bash");
    client.args([
        "-c",
        "exec 3<>/dev/tcp/127.0.0.1/8080 && \
         printf 'GET /hello.txt HTTP/1.1\\r\\nHost: netns\\r\\n\\r\\n' >&3 && \
         grep -m1 'hello from' <&3",
    ]);
    let answer = Running::spawn(client).wait(T);
    let answer = String::from_utf8_lossy(&answer.stdout);
    assert!(answer.contains("hello from the namespace"), "{answer}");

    capture.wait_records(1, T);
    let got = capture.finish(T, true);
    let recs = records(&got.stdout);
    assert_eq!(recs.len(), 1, "{}", got.stderr);
    assert!(recs[0].0.starts_with("1 "), "a request: {}", recs[0].0);
    assert!(
        recs[0]
            .1
            .starts_with(b"GET /hello.txt HTTP/1.1\r\nHost: netns\r\n"),
        "{}",
        String::from_utf8_lossy(&recs[0].1)
    );
    assert_eq!(got.code(), Some(0), "{}", got.stderr);

    // Without the file capabilities, nobody cannot capture: gor says so in
    // one line naming the capability and the fix, and exits 1.
    let mut denied = ns.as_nobody(&without);
    denied.args(["--input-raw", "127.0.0.1:8080", "--output-stdout"]);
    let denied = Running::spawn(denied).wait(T);
    assert_eq!(denied.code(), Some(1), "{}", denied.stderr);
    let line = denied
        .stderr
        .lines()
        .find(|l| l.contains("CAP_NET_RAW"))
        .unwrap_or_else(|| panic!("no permission line:\n{}", denied.stderr));
    assert!(line.contains("setcap cap_net_raw,cap_net_admin"), "{line}");
    drop(server);
}

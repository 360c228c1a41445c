#!/usr/bin/env bash
# Installs what building and testing gor needs on a fresh Debian machine:
# libpcap's headers (the pcap crate links libpcap); what building the
# bundled librdkafka (the Kafka input and output) needs: a C toolchain,
# make, pkg-config, OpenSSL's headers (TLS and SCRAM) and zlib's (the S3
# tests need nothing more: their server, s3s-fs, is a Rust dev-dependency);
# promtool (Debian's prometheus package) for tests/metrics.rs; headless
# Chromium (tests/diff.rs opens the --output-diff report in it); and what
# the install and container tests (tests/install.rs, tests/container.rs)
# check with: man and groff (render the man page), systemd-analyze (verify
# the unit), setcap, setpriv and ip (capture as a non-root user with file
# capabilities in a network namespace), python3-yaml (read the Kubernetes
# manifests). Run as root; a no-op when everything is there already.
set -euo pipefail
need=()
[ -e /usr/include/pcap.h ] || need+=(libpcap-dev)
[ -e /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v make >/dev/null || need+=(make)
command -v cc >/dev/null || need+=(gcc)
# promtool checks the /metrics output and the example alert rules
# (tests/metrics.rs).
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v setcap >/dev/null || need+=(libcap2-bin)
command -v setpriv >/dev/null || need+=(util-linux)
command -v ip >/dev/null || need+=(iproute2)
python3 -c 'import yaml' 2>/dev/null || need+=(python3-yaml)
for extra in "$@"; do
  dpkg -s "$extra" >/dev/null 2>&1 || need+=("$extra")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found: install Rust from rustup.rs" >&2; exit 1; }

#!/usr/bin/env bash
# Records the raw TCP byte streams of a real BIRD 2 <-> GoBGP session (both directions) through a
# small recording proxy on loopback, for bgp-wire's byte-exact round-trip test (tests/captures.rs).
#
#   GoBGP (AS 64512, 127.0.2.12) --> proxy 127.0.2.13 --> BIRD (AS 64512, 127.0.2.11, passive)
#
# iBGP with ADD-PATH (IPv4 and IPv6), graceful restart and long-lived graceful restart, route refresh
# (GoBGP soft reset in, BIRD reload in), standard/extended/large communities, IPv6 with link-local-less
# next hops, a withdrawal, and GoBGP's shutdown NOTIFICATION with a shutdown communication (RFC 9003).
# Only loopback addresses and unprivileged ports are used. Needs: bird, birdc, gobgpd, gobgp, python3.
# Usage: bgp-wire/tests/data/capture/generate.sh   (writes gobgp-to-bird.bin and bird-to-gobgp.bin here)
set -euo pipefail
OUT="$(cd "$(dirname "$0")" && pwd)"
D="$(mktemp -d /tmp/bgpwire-capture-XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$D"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BIRD_PORT=$(free_port); GOBGP_PORT=$(free_port); PROXY_PORT=$(free_port); API_PORT=$(free_port)
BIRD_IP=127.0.2.11; GOBGP_IP=127.0.2.12; PROXY_IP=127.0.2.13

cat >"$D/proxy.py" <<'PY'
import socket, sys, threading
listen_ip, listen_port, dst_ip, dst_port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((listen_ip, listen_port)); srv.listen(1)
cli, _ = srv.accept()          # only the first session is recorded
up = socket.create_connection((dst_ip, dst_port), source_address=(listen_ip, 0))
def pump(a, b, path):
    with open(path, "wb") as f:
        while True:
            d = a.recv(65536)
            if not d:
                break
            f.write(d); f.flush()
            b.sendall(d)
    try: b.shutdown(socket.SHUT_WR)
    except OSError: pass
t1 = threading.Thread(target=pump, args=(cli, up, out + "/gobgp-to-bird.bin"))
t2 = threading.Thread(target=pump, args=(up, cli, out + "/bird-to-gobgp.bin"))
t1.start(); t2.start(); t1.join(); t2.join()
PY

cat >"$D/bird.conf" <<CONF
router id 10.255.2.11;
protocol device {}
protocol static s4 {
  ipv4;
  route 10.21.1.0/24 blackhole;
  route 10.21.128.0/17 blackhole;
  route 100.64.0.0/10 blackhole;
}
protocol static s6 {
  ipv6;
  route 2001:db8:21::/48 blackhole;
  route 2001:db8:21:1::/64 blackhole;
}
protocol bgp gobgp {
  local $BIRD_IP port $BIRD_PORT as 64512;
  neighbor $PROXY_IP as 64512;
  strict bind yes;
  passive on;
  graceful restart on;
  long lived graceful restart on;
  ipv4 { import all; add paths on; next hop address 100.64.0.11;
    export filter {
      bgp_community.add((64512, 100));
      bgp_large_community.add((64512, 1, 2));
      bgp_ext_community.add((rt, 64512, 7));
      bgp_med = 20;
      accept;
    };
  };
  ipv6 { import all; add paths on; next hop address 2001:db8:21::1;
    export filter { bgp_community.add((64512, 600)); accept; };
  };
}
CONF

cat >"$D/gobgp.toml" <<CONF
[global.config]
  as = 64512
  router-id = "10.255.2.12"
  port = $GOBGP_PORT
  local-address-list = ["$GOBGP_IP"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$PROXY_IP"
    peer-as = 64512
  [neighbors.transport.config]
    local-address = "$GOBGP_IP"
    remote-port = $PROXY_PORT
  [neighbors.graceful-restart.config]
    enabled = true
  [neighbors.add-paths.config]
    receive = true
    send-max = 4
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
CONF

python3 "$D/proxy.py" "$PROXY_IP" "$PROXY_PORT" "$BIRD_IP" "$BIRD_PORT" "$D" &
PIDS+=($!)
bird -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid" -f >"$D/bird.log" 2>&1 &
PIDS+=($!)
sleep 1
gobgpd -f "$D/gobgp.toml" --api-hosts "127.0.0.1:$API_PORT" --pprof-disable -p >"$D/gobgp.log" 2>&1 &
PIDS+=($!)
G() { gobgp -u 127.0.0.1 -p "$API_PORT" "$@"; }
sleep 2
G global rib add 10.22.0.0/16 origin igp nexthop 100.64.0.12 community 64512:200,no-export \
  large-community 64512:3:4 med 50 local-pref 150 aspath 65010,65011
G global rib add 10.22.1.0/24 nexthop 100.64.0.12 rt 64512:9
G global rib add 10.22.1.0/24 identifier 7 nexthop 100.64.0.13 aggregator 64512:10.255.2.12
G global rib add -a ipv6 2001:db8:22::/48 nexthop 2001:db8:22::1 community 64512:601 large-community 64512:6:6
for _ in $(seq 1 30); do
  G neighbor | grep -q Establ && break
  sleep 1
done
G neighbor
sleep 3
G neighbor "$PROXY_IP" softresetin || true
birdc -s "$D/bird.ctl" "reload in gobgp" || true
sleep 1
G global rib del 10.22.1.0/24 || true
sleep 3
G neighbor "$PROXY_IP" shutdown --reason "maintenance window, back in 5 minutes" ||
  G neighbor "$PROXY_IP" disable --reason "maintenance window, back in 5 minutes"
sleep 2
ls -la "$D"
cp "$D"/gobgp-to-bird.bin "$D"/bird-to-gobgp.bin "$OUT"/
tail -5 "$D/bird.log" || true

#!/usr/bin/env bash
# Regenerates the MRT captures in this folder from a real BIRD 2 and a real GoBGP talking on loopback.
#
#   BIRD  (AS 64512, 127.0.0.11) <-- iBGP, ADD-PATH, graceful restart, IPv4 + IPv6 --> GoBGP (AS 64512, 127.0.0.12)
#
# BIRD writes every message and state change it sees (mrtdump: BGP4MP_ET) and TABLE_DUMP_V2 snapshots of
# its master4/master6 tables; GoBGP writes BGP4MP updates and a TABLE_DUMP_V2 of its global RIB.
# Both announce static routes with standard, extended and large communities; then GoBGP asks for a route
# refresh and shuts the session down with a shutdown communication (RFC 8203).
# Only loopback addresses and unprivileged ports are used. Needs: bird, birdc, gobgpd, gobgp, python3.
# Usage: bgp-wire/tests/data/mrt/generate.sh   (writes *.mrt next to itself)
set -euo pipefail
OUT="$(cd "$(dirname "$0")" && pwd)"
# GoBGP runs MRT file names through Go's time formatting: keep digits and month/day names out of the path.
D="/tmp/bgpwire-mrt-$(python3 -c 'import random; print("".join(random.choice("qxzkw") for _ in range(10)))')"
mkdir -m 700 "$D"
BIRD_PID=""; GOBGP_PID=""
cleanup() {
  [ -n "$BIRD_PID" ] && kill "$BIRD_PID" 2>/dev/null || true
  [ -n "$GOBGP_PID" ] && kill "$GOBGP_PID" 2>/dev/null || true
  rm -rf "$D"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BIRD_PORT=$(free_port); GOBGP_PORT=$(free_port); API_PORT=$(free_port)
BIRD_IP=127.0.0.11; GOBGP_IP=127.0.0.12

cat >"$D/bird.conf" <<CONF
router id 10.255.0.11;
mrtdump "$D/bird-updates.mrt";
mrtdump protocols { states, messages };
protocol device {}
ipv4 table master4;
ipv6 table master6;
protocol static s4 {
  ipv4;
  route 10.11.1.0/24 blackhole;
  route 10.11.2.0/24 blackhole;
  route 10.11.128.0/17 blackhole;
  route 100.64.0.0/10 blackhole;
}
protocol static s6 {
  ipv6;
  route 2001:db8:11::/48 blackhole;
  route 2001:db8:11:1::/64 blackhole;
  route 2001:db8::/32 blackhole;
}
protocol bgp gobgp {
  local $BIRD_IP port $BIRD_PORT as 64512;
  neighbor $GOBGP_IP port $GOBGP_PORT as 64512;
  strict bind yes;
  graceful restart on;
  mrtdump { states, messages };
  # Communities are set on export: BIRD dumps attributes that a filter set on a non-BGP route with
  # flags 0, which RFC 7606 treats as malformed, so the static routes themselves carry none.
  ipv4 { import all; add paths on; next hop address 100.64.0.11;
    export filter {
      bgp_community.add((64512, 100));
      bgp_large_community.add((64512, 1, 2));
      bgp_ext_community.add((rt, 64512, 7));
      accept;
    };
  };
  ipv6 { import all; add paths on; next hop address 2001:db8:11::1;
    export filter { bgp_community.add((64512, 600)); accept; };
  };
}
CONF

cat >"$D/gobgp.toml" <<CONF
[global.config]
  as = 64512
  router-id = "10.255.0.12"
  port = $GOBGP_PORT
  local-address-list = ["$GOBGP_IP"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "$BIRD_IP"
    peer-as = 64512
  [neighbors.transport.config]
    local-address = "$GOBGP_IP"
    remote-port = $BIRD_PORT
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
[[mrt-dump]]
  [mrt-dump.config]
    dump-type = "updates"
    file-name = "$D/gobgp-updates.mrt"
[[mrt-dump]]
  [mrt-dump.config]
    dump-type = "table"
    file-name = "$D/gobgp-table.mrt"
    dump-interval = 60
CONF

bird -c "$D/bird.conf" -s "$D/bird.ctl" -P "$D/bird.pid" -f >"$D/bird.log" 2>&1 &
BIRD_PID=$!
gobgpd -f "$D/gobgp.toml" --api-hosts "127.0.0.1:$API_PORT" --pprof-disable -p >"$D/gobgp.log" 2>&1 &
GOBGP_PID=$!
G() { gobgp -u 127.0.0.1 -p "$API_PORT" "$@"; }
sleep 2
G global rib add 10.12.0.0/16 origin igp nexthop 100.64.0.12 community 64512:200,no-export \
  large-community 64512:3:4 med 50 local-pref 150 aspath 65010,65011
G global rib add 10.12.1.0/24 nexthop 100.64.0.12 rt 64512:9
G global rib add 10.12.1.0/24 identifier 7 nexthop 100.64.0.13 aggregator 64512:10.255.0.12
G global rib add -a ipv6 2001:db8:12::/48 nexthop 2001:db8:12::1 community 64512:601 large-community 64512:6:6

for _ in $(seq 1 30); do
  G neighbor | grep -q Establ && break
  sleep 1
done
G neighbor
sleep 3
birdc -s "$D/bird.ctl" show route all | head -60
G global rib
G neighbor "$BIRD_IP" softresetin || true
birdc -s "$D/bird.ctl" "reload in gobgp"
sleep 1
G global rib del 10.12.1.0/24 || true
sleep 4
birdc -s "$D/bird.ctl" "mrt dump table \"master4\" to \"$D/bird-rib4.mrt\""
birdc -s "$D/bird.ctl" "mrt dump table \"master6\" to \"$D/bird-rib6.mrt\""
# GoBGP writes its table dump only after its 60 s dump interval.
sleep 50
G neighbor "$BIRD_IP" shutdown --reason "maintenance window, back in 5 minutes" ||
  G neighbor "$BIRD_IP" disable --reason "maintenance window, back in 5 minutes"
sleep 2
sleep 1
ls -la "$D"
cp "$D"/*.mrt "$OUT"/
cat "$D/bird.log" | tail -20
cat "$D/gobgp.log"

#!/usr/bin/env bash
# Compare destkit with Segment's own action-destinations engine on the SAME events.jsonl
# (the peer harness's generator, seed 42) against the SAME kind of sink (the peer's
# separate-process sink-server.mjs on 127.0.0.1), for Amplitude and GA4, one after the other.
#
#   bench/compare-peer.sh [EVENTS]        # default 20000
#
# Needs node + npm (the peer harness is installed from the npm registry into a temporary copy)
# and a release build of destkit (built here). Each figure is the median of PEER_RUNS runs
# (default 3: the peer's own rate moves by a third from run to run), the peer's and destkit's
# runs interleaved, and each ratio is given both as the ratio of the medians and as the median
# of the ratios of runs made next to each other.
# Prints each figure and the ratios, with batching
# on (destkit's default) and with one event per request (batch size 1, apples to apples: the
# peer sends one request per event because neither action defines performBatch).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
events="${1:-20000}"
peer_runs="${PEER_RUNS:-3}"
peer_src="${PEER_DIR:-$here/../shared/bench/peer-action-destinations}"
work="${WORK_DIR:-${TMPDIR:-/tmp}/destkit-compare-peer}"
[ -d "$peer_src" ] || { echo "peer harness not found at $peer_src (set PEER_DIR)" >&2; exit 2; }
command -v node >/dev/null || { echo "node is required" >&2; exit 2; }

mkdir -p "$work"
if [ ! -d "$work/node_modules/@segment/action-destinations" ]; then
  cp "$peer_src"/*.mjs "$peer_src"/package.json "$work"/
  (cd "$work" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
(cd "$here" && cargo build --release -q -p destkit)
destkit="$here/target/release/destkit"

(cd "$work" && node gen-events.mjs --events "$events" --seed 42 --out events.jsonl >/dev/null)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec node sink-server.mjs --port "$port" >/dev/null 2>&1) &
sink_pid=$!
trap 'kill $sink_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/__stats" >/dev/null 2>&1 && break; sleep 0.1; done

field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
# the line (a JSON report) with the median KEY (default pipeline_eps) of those on stdin, with
# the lowest and highest KEY added as KEY_min and KEY_max
median() { python3 -c "import json,sys; k=sys.argv[1]; r=sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda d: d[k]); m=r[len(r)//2]; m[k+'_min']=r[0][k]; m[k+'_max']=r[-1][k]; print(json.dumps(m))" "${1:-pipeline_eps}"; }
# The sink's CPU time in nanoseconds, summed over its threads (/proc/PID/task/*/schedstat), or
# nothing where /proc has no schedstat. The sink's own /__stats figure is rounded to 10 ms, a
# sixth of what it spends on a batched GA4 run.
sink_cpu_ns() { cat /proc/"$sink_pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { if (NR) printf "%.0f\n", s }'; }
# one destkit run against a freshly reset sink; its JSON report gains the sink's CPU seconds and
# request count over the run (the warm-up included)
run() {
  curl -sf -X POST "http://127.0.0.1:$port/__reset" >/dev/null
  local report stats ns0 ns1
  ns0=$(sink_cpu_ns)
  report=$("$destkit" "$@")
  stats=$(curl -sf "http://127.0.0.1:$port/__stats")
  ns1=$(sink_cpu_ns)
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); s=json.loads(sys.argv[2]); ns=[int(float(x)) for x in sys.argv[3:] if x]; d["sink_cpu_s"]=(ns[1]-ns[0])/1e9 if len(ns)==2 else s["sink_cpu_s"]; d["sink_requests"]=s["requests"]; print(json.dumps(d))' "$report" "$stats" "$ns0" "$ns1"
}
results=()
for dest in amplitude ga4; do
  # GA4 rejects events older than 72 hours on purpose; the generator's stream starts on
  # 2024-05-01, so pin GA4's "now" next to it (the events are sent, not rejected).
  extra='{}'
  [ "$dest" = ga4 ] && extra='{"now":"2024-05-01T13:00:00Z"}'
  # The peer forks its own sink-server.mjs (its --sink-port mode breaks once it swaps the
  # global HTTP agent); destkit sends to a standalone sink-server.mjs: the same program, also
  # a separate process on 127.0.0.1.
  # The runs are interleaved — a peer run, then destkit batched, then one event per request, and
  # again — so each destkit run has a peer run next to it in time: this host has slow spells of
  # minutes, and a ratio of runs made minutes apart measures the spell as much as the programs.
  # Each figure is the median of its runs; each ratio is printed both as the ratio of the
  # medians and as the median of the paired ratios (with their range).
  peer_lines=""; ours_lines=""; one_lines=""
  for _ in $(seq "$peer_runs"); do
    peer_lines+="$(cd "$work" && node bench.mjs --dest "$dest" --mode single --concurrency 8 \
                     --events "$events" --warmup 2000 2>/dev/null | tail -n 1)"$'\n'
    ours_lines+="$(run bench --destination "$dest" --input "$work/events.jsonl" --json \
                     --endpoint "http://127.0.0.1:$port" --settings "$extra")"$'\n'
    one_lines+="$(run bench --destination "$dest" --input "$work/events.jsonl" --json --pipeline-only \
                    --batch-size 1 --endpoint "http://127.0.0.1:$port" --settings "$extra")"$'\n'
  done
  peer=$(printf '%s' "$peer_lines" | median events_per_sec)
  peer_eps=$(echo "$peer" | field events_per_sec)
  peer_lo=$(echo "$peer" | field events_per_sec_min)
  peer_hi=$(echo "$peer" | field events_per_sec_max)
  peer_rss=$(echo "$peer" | field peak_rss_mb)
  ours=$(printf '%s' "$ours_lines" | median)
  ours_eps=$(echo "$ours" | field pipeline_eps)
  ours_rss=$(echo "$ours" | field peak_rss_mb)
  ours_del=$(echo "$ours" | field delivered)
  one=$(printf '%s' "$one_lines" | median)
  one_eps=$(echo "$one" | field pipeline_eps)
  one_del=$(echo "$one" | field delivered)
  results+=("$(python3 - "$dest" "$events" "$peer_eps" "$peer_rss" "$ours_eps" "$ours_rss" "$ours_del" "$one_eps" "$one_del" "$ours" "$one" "$peer_lo" "$peer_hi" "$peer_runs" "$peer_lines" "$ours_lines" "$one_lines" <<'PY'
import json, statistics, sys
d, n, pe, pr, oe, orss, od, ee, ed, ours, one, plo, phi, pn, pl, ol, el = sys.argv[1:]
pe, oe, ee = float(pe), float(oe), float(ee)
rows = lambda text: [json.loads(l) for l in text.splitlines() if l.strip()]
peers = [r["events_per_sec"] for r in rows(pl)]
def paired(text):
    r = sorted(o["pipeline_eps"] / p for o, p in zip(rows(text), peers))
    return f"paired {statistics.median(r):,.1f}x ({r[0]:,.1f}-{r[-1]:,.1f})"
print(f"{d:<10} events={n} peer={pe:,.0f}/s ({float(pr):.0f} MB; median of {pn}: {float(plo):,.0f}-{float(phi):,.0f})  "
      f"destkit batched={oe:,.0f}/s ({float(orss):.0f} MB, delivered {od}) ratio={oe/pe:,.1f}x, {paired(ol)}  "
      f"destkit batch_size=1 {ee:,.0f}/s (delivered {ed}) ratio={ee/pe:,.1f}x, {paired(el)}")
# What bounds each destkit run on this machine: the sink and destkit share its two cores, so
# 2 / (sink CPU per event + destkit CPU per event) is the most any sender could reach with this
# sink; the machine is saturated when the measured rate is close to it.
for label, r in (("batched", json.loads(ours)), ("batch_size=1", json.loads(one))):
    sink_req = r["sink_cpu_s"] / max(r["sink_requests"], 1)
    sink_ev = sink_req * r["requests"] / max(r["events"], 1)
    ours_ev = r["pipeline_cpu_s"] / max(r["events"], 1)
    cap = 2 / (sink_ev + ours_ev)
    print(f"{'':<10}   {label}: {r['requests']} requests; sink {sink_req*1e6:,.0f} us CPU per request, "
          f"destkit {ours_ev*1e6:,.1f} us CPU per event; two cores allow at most {cap:,.0f}/s "
          f"({r['pipeline_eps']/cap:.0%} of it reached)")
    if label == "batched":
        # the target (100x the peer) against that bound: the CPU per event destkit could spend
        # and still reach it with this sink, were the two cores perfectly packed
        need = 100 * pe
        room = 2 / need - sink_ev
        verdict = "within" if cap >= need else "above"
        budget = f"at most {room*1e6:,.1f} us" if room > 0 else "no"
        print(f"{'':<10}   100x the peer is {need:,.0f}/s, {verdict} that bound: "
              f"destkit {budget} CPU per event would reach it ({ours_ev*1e6:,.1f} measured)")
PY
)")
done
printf '%s\n' "${results[@]}"

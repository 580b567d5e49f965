#!/usr/bin/env bash
# Run a command on a slice of this machine's CPU time, to see what a slower CPU does with
# the course, e.g. a 2-core AVX2 machine about 3x slower than this one:
#     benchmarks/as_slow_cpu.sh 0.6 benchmarks/as_avx2.sh make run
# The first argument is how many CPUs' worth of time the command (and everything it
# starts) may use per 100 ms: 0.6 means 60 ms, shared by all its threads. It needs a
# writable cgroup-v1 cpu controller (/sys/fs/cgroup/cpu, as root in a container); the
# group is removed at the end. A CPU quota is not a slower clock: threads run at full
# speed, then wait, so short waits (a thread barrier) cost more than on a truly slower
# CPU. Calibrate the share on a figure you know (a training step's time) before trusting
# wall times measured this way.
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: $0 CPUS COMMAND [ARGS...]   (CPUS: e.g. 0.6 for 60 ms per 100 ms)" >&2
    exit 2
fi
share=$1
shift
root=/sys/fs/cgroup/cpu
if [ ! -w "$root" ]; then
    echo "error: $root is not writable: this needs a cgroup-v1 cpu controller and root" >&2
    exit 2
fi
quota=$(awk -v s="$share" 'BEGIN { q = int(s * 100000); if (q < 1000) exit 1; print q }') || {
    echo "error: CPUS must be a number >= 0.01 (got $share)" >&2
    exit 2
}
group="$root/gpt2lab-slow-$$"
mkdir "$group"
# at the end this shell leaves the group first; then it is empty and can be removed
trap 'echo $$ > "$root/tasks"; rmdir "$group" 2>/dev/null || true' EXIT
echo 100000 > "$group/cpu.cfs_period_us"
echo "$quota" > "$group/cpu.cfs_quota_us"
echo $$ > "$group/tasks"
"$@"

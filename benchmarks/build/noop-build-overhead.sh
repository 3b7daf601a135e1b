#!/usr/bin/env bash
# What the TorchSharp GLIBCXX build step adds to a no-op build (issue 12; goal: under 100 ms).
#
# Builds PROJECT once, then times `dotnet build --no-restore` RUNS times with the step on and RUNS times with it
# off (CircuitsTorchSharpGlibcxxFix=false), interleaved so that drift on a shared machine hits both alike, and
# prints the medians. Node reuse is off, so every build loads the task assembly afresh (the dearest case). It then
# prints the step's own targets and task from one build's MSBuild performance summary.
#
#   bash benchmarks/build/noop-build-overhead.sh [PROJECT] [RUNS]      (defaults: samples/QuickStart, 9)
set -euo pipefail
cd "$(dirname "$0")/../.."
project="${1:-samples/QuickStart}"
runs="${2:-9}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

build() { dotnet build "$project" -c Release --no-restore -nodeReuse:false -p:UseSharedCompilation=false -v q -nologo "$@"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

build >/dev/null   # the real build; everything after it is a no-op build
build >/dev/null
on=(); off=()
for _ in $(seq "$runs"); do
  t=$(date +%s%N); build -p:CircuitsTorchSharpGlibcxxFix=true >/dev/null; on+=("$(ms "$t")")
  t=$(date +%s%N); build -p:CircuitsTorchSharpGlibcxxFix=false >/dev/null; off+=("$(ms "$t")")
done
m_on=$(printf '%s\n' "${on[@]}" | median)
m_off=$(printf '%s\n' "${off[@]}" | median)
echo "project: $project, $runs no-op builds each, node reuse off"
echo "step on  (ms): ${on[*]}  -> median $m_on"
echo "step off (ms): ${off[*]}  -> median $m_off"
echo "difference of medians: $(awk -v a="$m_on" -v b="$m_off" 'BEGIN { print a - b }') ms"
echo
echo "the step's own targets and task in one no-op build (MSBuild performance summary, all projects of the build):"
build -p:CircuitsTorchSharpGlibcxxFix=true -clp:PerformanceSummary -v n |
  grep -E "Circuits[A-Za-z]*(Patch|Find|Check)[A-Za-z]*|PatchLibTorchSharpGlibcxx" | sed -E 's/^ +/  /' | sort -u

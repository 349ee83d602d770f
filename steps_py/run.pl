#!/usr/bin/env bash
# Local job runner with the calling convention of Kaldi's utils/run.pl (written in bash).
#
# Usage: run.pl [options] [JOB=1:N] <log-file> <command> [<args> ...]
#  e.g.: run.pl JOB=1:4 exp/tri1/log/align.JOB.log steps_py/align_job.py JOB exp/tri1
#
# Runs jobs 1..N locally, at most --max-jobs-run at a time (default: nproc).  Each
# occurrence of the job variable (here JOB) in the arguments and the log path is
# replaced by the job number.  Each log gets the command, start time, the command's
# output, the elapsed time and the exit status.  Exits 1 naming the failed job logs.
# Arguments without whitespace are passed to `bash -c` unquoted (so '|' makes a pipe,
# as in Kaldi); arguments containing whitespace are quoted.
# Options (Kaldi's run.pl accepts and ignores the cluster ones):
#   --max-jobs-run N       most jobs at a time (default: nproc)
#   --num-threads N, --mem X, --gpu N, --config F, --time T    accepted, ignored
set -u

max_jobs=$(nproc 2>/dev/null || echo 1)
while [ $# -gt 0 ]; do
  case "$1" in
    --max-jobs-run) max_jobs=$2; shift 2 ;;
    --max-jobs-run=*) max_jobs=${1#*=}; shift ;;
    --num-threads|--mem|--gpu|--config|--time|--max-mem) shift 2 ;;
    --*=*) shift ;;
    --*) echo "run.pl: unknown option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done

if [ $# -lt 2 ]; then
  sed -n '3,4s/^# //p' "$0" >&2
  exit 1
fi

jobvar=""; first=1; last=1
if [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+):([0-9]+)$ ]]; then
  jobvar=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=${BASH_REMATCH[3]}; shift
elif [[ "$1" =~ ^([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$ ]]; then
  jobvar=${BASH_REMATCH[1]}; first=${BASH_REMATCH[2]}; last=$first; shift
fi
if [ $# -lt 2 ]; then echo "run.pl: need a log file and a command" >&2; exit 1; fi
if [ "$first" -gt "$last" ]; then echo "run.pl: empty job range $first:$last" >&2; exit 1; fi
logfile=$1; shift
if [ -n "$jobvar" ] && [ "$first" -ne "$last" ] && [[ "$logfile" != *"$jobvar"* ]]; then
  echo "run.pl: the log file '$logfile' must contain '$jobvar' for an array of jobs" >&2
  exit 1
fi

# Join the arguments like Kaldi's run.pl.
cmd=""
for x in "$@"; do
  if [[ "$x" =~ ^[^[:space:]]+$ ]]; then cmd+="$x "
  elif [[ "$x" == *\"* ]]; then cmd+="'$x' "
  else cmd+="\"$x\" "
  fi
done
cmd=${cmd% }

statusdir=$(mktemp -d "${TMPDIR:-/tmp}/run_pl.XXXXXX")
trap 'rm -rf "$statusdir"' EXIT

run_one() {  # <job-id>
  local id=$1 c=$cmd log=$logfile start end rc
  if [ -n "$jobvar" ]; then c=${c//$jobvar/$id}; log=${log//$jobvar/$id}; fi
  mkdir -p "$(dirname "$log")"
  start=$(date +%s)
  { echo "# $c"; echo "# Started at $(date)"; echo "#"; } > "$log"
  ( bash -c "$c" ) >> "$log" 2>&1 </dev/null
  rc=$?
  end=$(date +%s)
  { echo "# Accounting: time=$((end - start)) threads=1"; echo "# Ended (code $rc) at $(date), elapsed time $((end - start)) seconds"; } >> "$log"
  echo "$rc $log" > "$statusdir/$id"
}

running=0
for ((id = first; id <= last; id++)); do
  if [ "$running" -ge "$max_jobs" ]; then wait -n; running=$((running - 1)); fi
  run_one "$id" &
  running=$((running + 1))
done
wait

failed=()
for ((id = first; id <= last; id++)); do
  if [ ! -f "$statusdir/$id" ]; then failed+=("job $id (no status)"); continue; fi
  read -r rc log < "$statusdir/$id"
  [ "$rc" -eq 0 ] || failed+=("$log")
done
if [ ${#failed[@]} -gt 0 ]; then
  total=$((last - first + 1))
  if [ "$total" -eq 1 ]; then
    echo "run.pl: job failed, log is in ${failed[0]}" >&2
  else
    echo "run.pl: ${#failed[@]} / $total failed, logs are in: ${failed[*]}" >&2
  fi
  exit 1
fi
exit 0

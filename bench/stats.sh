#!/usr/bin/env bash
# bench/stats.sh: the statistical benchmark of calibration and coaching, on a
# throwaway cluster with the installed extension (as the postgres user, after
# make install).  Needs /usr/bin/python3 with scikit-learn, scipy, statsmodels
# and psycopg2 (Debian: python3-sklearn python3-scipy python3-statsmodels
# python3-psycopg2); the CI suites do not.
#   1. coaching on pure noise and on a planted effect, 0.1.0's rules (alpha 1)
#      against the false-discovery-controlled default (alpha 0.05);
#   2. held-out Brier score of raw, adjusted_confidence (check_and_adjust run
#      until it stops), 0.1.0's calibrated_probability (re-implemented in
#      Python), calibrated_probability, isotonic regression and Platt scaling
#      (fitted in Python on the same training outcomes) and the true
#      probability (oracle), per agent and training size, and the cost of a
#      call in the server.
# Usage: bash bench/stats.sh [repetitions] [seed]   (default 20 repetitions, seed 1)
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_ROOT=${TEST_ROOT:-/tmp/learning-bench-stats}
mkdir -p "$TEST_ROOT"
. test/lib.sh
PORT=${PORT:-55520}
start_cluster stats $PORT "shared_preload_libraries = 'learning'" "learning.enabled = off" \
    "synchronous_commit = off" "shared_buffers = '256MB'"
trap 'stop_cluster stats' EXIT
q $PORT postgres "CREATE DATABASE stats" >/dev/null
q $PORT stats "CREATE EXTENSION learning" >/dev/null
/usr/bin/python3 bench/stats.py --host "$TEST_ROOT" --port $PORT --dbname stats \
    --reps "${1:-20}" --seed "${2:-1}"

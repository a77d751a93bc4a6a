#!/usr/bin/env bash
# A single-node SLURM cluster on this Debian machine, then a small mdembed sweep through the real
# SLURM launcher (hydra/launcher=slurm, mdembed/conf/hydra/launcher/slurm.yaml).
#
# Made for a container or VM without systemd: munged, slurmdbd, slurmctld and slurmd are started
# directly, MariaDB (for accounting) by its package's init script; never through systemctl.
# Run it as root:
#
#   scripts/slurm_single_node.sh                    # start SLURM (if not up) and run a 2-job sweep on it
#   scripts/slurm_single_node.sh --timelimit-demo   # also: a DDPG job whose time limit falls in training (5-9 min)
#   scripts/slurm_single_node.sh --start-only       # start SLURM and stop there (sbatch, sinfo, hydra/launcher=slurm)
#   scripts/slurm_single_node.sh --stop             # stop the daemons this script started
#
# Options:
#   --python PATH     the interpreter that has mdembed and the [slurm] extra; else $MDEMBED_PYTHON,
#                     else the repository's .venv/bin/python
#   --no-accounting   no MariaDB/slurmdbd: sacct does not work then, and submitit, which reads job states
#                     with sacct, cannot tell that a job died without a result (the sweep would wait for it)
#
# Idempotent: whatever is already running (munged, mariadbd, slurmdbd, slurmctld, slurmd) is kept, the
# configs are rewritten only when they change, and an /etc/slurm/slurm.conf written by anything else than
# this script is never touched (the script stops instead). Any failure ends it with one line
# "slurm_single_node: error: ..." and exit status 1.
set -euo pipefail

SCRIPT=$(basename "$0" .sh)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${MDEMBED_PYTHON:-$REPO/.venv/bin/python}
MODE=sweep          # sweep | start-only | stop
DEMO=false          # --timelimit-demo
ACCOUNTING=true     # slurmdbd + MariaDB, so that sacct works

HOST=$(hostname -s)
CLUSTER=mdembed
PARTITION=debug
CONF_DIR=/etc/slurm
MARK="# written by mdembed scripts/slurm_single_node.sh"  # a slurm.conf without it is someone else's
STATE_DIR=/run/mdembed-slurm        # STATE_DIR/started: the daemons this script started, for --stop
LOG_DIR=/var/log/slurm

die() { echo "$SCRIPT: error: $*" >&2; exit 1; }
say() { echo "== $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --python) [ $# -ge 2 ] || die "--python needs a path"; PYTHON=$2; shift ;;
        --python=*) PYTHON=${1#--python=} ;;
        --timelimit-demo) DEMO=true ;;
        --start-only) MODE='start-only' ;;
        --stop) MODE=stop ;;
        --no-accounting) ACCOUNTING=false ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" = 0 ] || die "run as root (it installs packages, writes /etc/slurm and starts daemons)"

# ---------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------

# alive PIDFILE: the process named in PIDFILE is running
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# started NAME: remember that this script started the daemon NAME (for --stop)
started() { mkdir -p "$STATE_DIR"; grep -qx "$1" "$STATE_DIR/started" 2>/dev/null || echo "$1" >> "$STATE_DIR/started"; }

# wait_for SECONDS WHAT COMMAND...: run COMMAND each second until it succeeds; die after SECONDS
wait_for() {
    local seconds=$1 what=$2; shift 2
    for _ in $(seq "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    die "$what not ready after ${seconds}s"
}

# install_missing COMMAND PACKAGE...: apt-get install PACKAGE... unless COMMAND is already there
install_missing() {
    local command=$1; shift
    command -v "$command" >/dev/null 2>&1 && return 0
    say "installing $* (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d may forbid starting services during the install (a container): that is fine, we start them
    apt-get update -q >/dev/null || die "apt-get update failed"
    apt-get install -y -q "$@" >/dev/null || die "apt-get install $* failed"
}

# write_if_changed FILE MODE OWNER: stdin into FILE when it differs; returns 0 if the file changed
write_if_changed() {
    local file=$1 mode=$2 owner=$3 tmp
    tmp=$(mktemp)
    cat > "$tmp"
    if [ -f "$file" ] && cmp -s "$tmp" "$file"; then rm -f "$tmp"; return 1; fi
    install -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$tmp" "$file"
    rm -f "$tmp"
    return 0
}

# stop_pidfile NAME PIDFILE: SIGTERM the daemon and wait (10 s) until it is gone
stop_pidfile() {
    local name=$1 pidfile=$2
    if ! alive "$pidfile"; then echo "   $name: not running"; return 0; fi
    local pid; pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    echo "   $name: stopped (pid $pid)"
}

# ---------------------------------------------------------------------------------------------------
# --stop: stop what this script started, in the reverse order
# ---------------------------------------------------------------------------------------------------
stop_all() {
    if [ ! -s "$STATE_DIR/started" ]; then
        echo "$SCRIPT: nothing to stop (no daemon started by this script is recorded in $STATE_DIR/started)"
        return 0
    fi
    if command -v squeue >/dev/null && squeue -h -o %i 2>/dev/null | grep -q .; then
        say "cancelling the jobs still queued or running: $(squeue -h -o %i | tr '\n' ' ')"
        squeue -h -o %i | xargs -r scancel || true
        sleep 2
    fi
    say "stopping the daemons this script started: $(tac "$STATE_DIR/started" | tr '\n' ' ')"
    tac "$STATE_DIR/started" | while read -r name; do
        case "$name" in
            slurmd) stop_pidfile slurmd /run/slurmd.pid ;;
            slurmctld) stop_pidfile slurmctld /run/slurmctld.pid ;;
            slurmdbd) stop_pidfile slurmdbd /run/slurmdbd.pid ;;
            mariadb) stop_pidfile mariadbd /run/mysqld/mysqld.pid ;;
            munged) stop_pidfile munged /run/munge/munged.pid ;;
        esac
    done
    rm -f "$STATE_DIR/started"
}

if [ "$MODE" = stop ]; then
    stop_all
    exit 0
fi

[ -x "$PYTHON" ] || [ "$MODE" = start-only ] || die "no python interpreter at $PYTHON (pass --python PATH or set MDEMBED_PYTHON)"

# ---------------------------------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------------------------------
install_missing munged munge
install_missing slurmctld slurm-wlm
if $ACCOUNTING; then
    install_missing slurmdbd slurmdbd
    install_missing mariadbd mariadb-server
fi
mkdir -p "$LOG_DIR" "$STATE_DIR"
chown slurm:slurm "$LOG_DIR"

# ---------------------------------------------------------------------------------------------------
# 2. MUNGE: the key every SLURM daemon and command authenticates with
# ---------------------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mungekey --create --keyfile=/etc/munge/munge.key || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "munged: already running"
else
    say "starting munged"
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
    started munged
    wait_for 10 munged sh -c 'munge -n | unmunge'
fi

# ---------------------------------------------------------------------------------------------------
# 3. slurm.conf and cgroup.conf for this one host
# ---------------------------------------------------------------------------------------------------
if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -qxF "$MARK" "$CONF_DIR/slurm.conf"; then
    die "$CONF_DIR/slurm.conf exists and was not written by this script; move it away to use this script"
fi
# The node as slurmd sees it: "NodeName=HOST CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
# ThreadsPerCore=1 RealMemory=24105" (RealMemory in MB). Declaring exactly that keeps the node from
# being drained for "Low RealMemory" or a wrong CPU count.
NODE_LINE=$(slurmd -C | head -1)
case "$NODE_LINE" in NodeName=*) ;; *) die "slurmd -C did not describe this node: $NODE_LINE" ;; esac
if $ACCOUNTING; then
    ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
else
    ACCT_LINES="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
conf_changed=false
write_if_changed "$CONF_DIR/slurm.conf" 0644 root:root <<EOF && conf_changed=true
$MARK
# One host: controller and compute node at once. See slurm.conf(5).
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups: a container rarely lets slurmd create them. Processes are tracked through /proc,
# and tasks are not bound to cores (nothing is enforced: a job can use more than it asked for).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Cores and memory are the consumable resources: two 1-CPU jobs run side by side on 2 cores
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# A node that went down (e.g. the daemons were restarted) comes back as soon as it registers
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPort=6817
SlurmdPort=6818
# At a time limit: SIGTERM to the job's processes, SIGKILL KillWait seconds later
KillWait=30
OverTimeLimit=0
# Finished jobs stay visible to squeue/scontrol for 5 minutes (sacct keeps them for good)
MinJobAge=300
# scontrol requeue (submitit's requeue at a time limit) is allowed for batch jobs
JobRequeue=1
$ACCT_LINES
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
$NODE_LINE State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# cgroup.conf: read only by the cgroup plugins, which the slurm.conf above does not use. It is written
# anyway, with nothing constrained, so that a switch to proctrack/cgroup or task/cgroup starts from
# settings that work in a container (cgroup v2 without systemd needs IgnoreSystemd).
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then CGROUP="CgroupPlugin=cgroup/v2
IgnoreSystemd=yes"; else CGROUP="CgroupPlugin=cgroup/v1"; fi
write_if_changed "$CONF_DIR/cgroup.conf" 0644 root:root <<EOF || true
$MARK
$CGROUP
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainSwapSpace=no
ConstrainDevices=no
EOF

# ---------------------------------------------------------------------------------------------------
# 4. Accounting (optional): MariaDB and slurmdbd, so that sacct answers (sacctmgr needs slurm.conf)
# ---------------------------------------------------------------------------------------------------
if $ACCOUNTING; then
    if mariadb-admin ping >/dev/null 2>&1; then
        say "mariadbd: already running"
    else
        say "starting mariadbd"
        install -d -o mysql -g mysql -m 0755 /run/mysqld
        # The Debian package's init script (no systemd needed) runs mariadbd-safe as the mysql user
        /etc/init.d/mariadb start >/dev/null || die "mariadbd did not start (see /var/log/mysql/ or journal)"
        started mariadb
        wait_for 30 mariadbd mariadb-admin ping
    fi
    # slurmdbd (running as the slurm user) logs in over the local socket as the database user 'slurm':
    # unix_socket authentication, so no password is stored anywhere
    mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || die "cannot create the database user slurm"
    dbd_changed=false
    write_if_changed "$CONF_DIR/slurmdbd.conf" 0600 slurm:slurm <<EOF && dbd_changed=true
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF
    if alive /run/slurmdbd.pid && ! $dbd_changed; then
        say "slurmdbd: already running"
    else
        alive /run/slurmdbd.pid && stop_pidfile slurmdbd /run/slurmdbd.pid
        say "starting slurmdbd"
        slurmdbd || die "slurmdbd did not start (see $LOG_DIR/slurmdbd.log)"
        started slurmdbd
    fi
    wait_for 30 slurmdbd sacctmgr -n list cluster
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster $CLUSTER failed"
    fi
fi

# ---------------------------------------------------------------------------------------------------
# 5. slurmctld and slurmd, as daemons (each forks into the background and writes its pid file)
# ---------------------------------------------------------------------------------------------------
install -d -o slurm -g slurm /var/lib/slurm/slurmctld
install -d /var/lib/slurm/slurmd
if $conf_changed; then
    # a new slurm.conf: daemons that read the old one are restarted
    alive /run/slurmd.pid && stop_pidfile slurmd /run/slurmd.pid
    alive /run/slurmctld.pid && stop_pidfile slurmctld /run/slurmctld.pid
fi
if alive /run/slurmctld.pid; then
    say "slurmctld: already running"
else
    say "starting slurmctld"
    slurmctld || die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
    started slurmctld
fi
wait_for 30 slurmctld scontrol ping
if alive /run/slurmd.pid; then
    say "slurmd: already running"
else
    say "starting slurmd"
    slurmd || die "slurmd did not start (see $LOG_DIR/slurmd.log)"
    started slurmd
fi

# Wait for the node: idle (or running jobs: mixed/allocated, when SLURM was already up and busy).
# A node left down or drained by an earlier run is resumed.
node_state() { sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -1; }
for i in $(seq 60); do
    state=$(node_state)
    case "$state" in
        idle|mixed|allocated) break ;;
        down*|drain*) if [ "$i" = 5 ]; then scontrol update nodename="$HOST" state=resume 2>/dev/null || true; fi ;;
    esac
    sleep 1
done
case "$state" in
    idle|mixed|allocated) ;;
    *) die "node $HOST is '$state' after 60 s: $(sinfo -h -N -n "$HOST" -o %E) (see $LOG_DIR/slurmd.log)" ;;
esac
say "SLURM is up: node $HOST is $state"
sinfo
[ "$MODE" = start-only ] && exit 0

# ---------------------------------------------------------------------------------------------------
# 6. A sweep through the real launcher, from a scratch directory
# ---------------------------------------------------------------------------------------------------
"$PYTHON" -c "import hydra_plugins.hydra_submitit_launcher" 2>/dev/null \
    || die "$PYTHON lacks the slurm extra: $PYTHON -m pip install -c constraints.txt -e '.[slurm]'"

# show_jobs SWEEP_DIR: the SLURM jobs of a sweep (their ids from submitit's folders), their states,
# each job's last stdout line (mdembed's result line) and whether its summary.json was written
show_jobs() {
    local sweep=$1 ids
    # submitit keeps a folder per job, .submitit/<job id>, with the job's stdout/stderr logs in it:
    # a sweep of several jobs is one job array (ids <array job>_<task>), a sweep of one a plain job
    ids=$(for d in "$sweep"/.submitit/[0-9]*/; do
              if compgen -G "$d*_log.out" >/dev/null; then basename "$d"; fi
          done | sort -V)
    [ -n "$ids" ] || { echo "   no SLURM job ran (no log in $sweep/.submitit/<job id>/)"; return 1; }
    local list; list=$(paste -sd, <<< "$ids")
    echo "   SLURM job ids: $list"
    echo "-- squeue (jobs still queued or running):"
    squeue -j "$list" -o '%.12i %.9P %.16j %.8T %.10M %.10l %R' 2>/dev/null || echo "   (none)"
    if $ACCOUNTING; then
        echo "-- sacct (every run of each job, requeued ones included):"
        sacct -D -j "$list" -X -o JobID%14,JobName%10,State%12,ExitCode,Start,End,Elapsed,Timelimit,NodeList
    fi
    echo "-- each job's result line (last line of its stdout) and summary.json:"
    local id out
    for id in $ids; do
        out=$(compgen -G "$sweep/.submitit/$id/*_log.out" | head -1 || true)
        echo "   job $id: $( [ -n "$out" ] && grep -E '^mdembed: ' "$out" | tail -1 || echo '(no stdout log)')"
    done
    local summaries
    summaries=$(find "$sweep" -name summary.json -not -path '*/.submitit/*' | sort)
    for s in $summaries; do
        echo "   $s: seed $("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seed"])' "$s")"
    done
    echo "   summary.json files: $(echo "$summaries" | grep -c . || true)"
}

SCRATCH=$(mktemp -d /tmp/mdembed-slurm.XXXXXX)
SWEEP=$SCRATCH/sweep
say "sweep: 2 jobs (seed=1,2) of experiment=smoke through hydra/launcher=slurm, in $SCRATCH"
cd "$SCRATCH"
sweep_start=$SECONDS
# -m goes before the overrides: Hydra's argparse takes the overrides as one positional list, and
# `experiment=smoke -m seed=1,2` is refused ("unrecognized arguments")
# shellcheck disable=SC2054  # seed=1,2 is one argument: Hydra's sweep over two seeds
SWEEP_CMD=("$PYTHON" -m mdembed.run -m experiment=smoke seed=1,2 progress=false
           hydra/launcher=slurm hydra.sweep.dir="$SWEEP" hydra.launcher.timeout_min=5)
echo "   \$ cd $SCRATCH && ${SWEEP_CMD[*]}"
timeout 600 "${SWEEP_CMD[@]}" > "$SCRATCH/sweep.log" 2>&1 && rc=0 || rc=$?
sweep_time=$((SECONDS - sweep_start))
sed 's/^/   | /' "$SCRATCH/sweep.log" | grep -v 'mdembed.progress' || true
show_jobs "$SWEEP" || true
[ "$rc" = 0 ] || die "the sweep failed with exit status $rc (its output: $SCRATCH/sweep.log)"
n=$(find "$SWEEP" -name summary.json -not -path '*/.submitit/*' | wc -l)
[ "$n" = 2 ] || die "the sweep wrote $n summary.json files, not 2 (see $SCRATCH/sweep.log)"
say "sweep finished: 2 jobs, 2 summary.json, in ${sweep_time}s (submission to the last result)"

# ---------------------------------------------------------------------------------------------------
# 7. --timelimit-demo: one DDPG job whose time limit falls during training
# ---------------------------------------------------------------------------------------------------
# timeout_min=2 with signal_delay_s=30: SLURM sends SIGUSR2 (submitit's signal) between 60 and 90 s
# into the job (slurmctld checks time limits every 30 s, so a signal can come up to 30 s early) and
# would kill it at 120 s. Training 20000 steps takes 105-150 s on one core (165-190 steps/s), so the
# first signal arrives during training. The requeued job waits about 2 minutes (SLURM's hold on a
# requeued job), then resumes from the checkpoint if mdembed resumes, or starts again from step 0.
# max_num_timeout=2: up to two requeues, then submitit gives up ("timed-out too many times").
# About 5 minutes in all.
if $DEMO; then
    DEMO_SWEEP=$SCRATCH/timelimit
    say "time-limit demo: one DDPG job, timeout_min=2, signal_delay_s=30, max_num_timeout=2, in $DEMO_SWEEP"
    start=$SECONDS
    DEMO_CMD=("$PYTHON" -m mdembed.run -m experiment=smoke algorithm=ddpg train.steps=20000
              train.checkpoint_every=1000 progress=false hydra/launcher=slurm hydra.sweep.dir="$DEMO_SWEEP"
              hydra.launcher.timeout_min=2 hydra.launcher.signal_delay_s=30 hydra.launcher.max_num_timeout=2)
    echo "   \$ cd $SCRATCH && ${DEMO_CMD[*]}"
    timeout 900 "${DEMO_CMD[@]}" > "$SCRATCH/timelimit.log" 2>&1 &
    demo_pid=$!
    # what SLURM says while it runs, every 15 s
    while kill -0 "$demo_pid" 2>/dev/null; do
        sleep 15
        echo "   [$((SECONDS - start))s] $(squeue -h -o '%i %T %M/%l %r' 2>/dev/null | tr '\n' ';')"
    done
    wait "$demo_pid" && demo_rc=0 || demo_rc=$?
    echo "   the sweep command exited with status $demo_rc after $((SECONDS - start))s; its output:"
    sed 's/^/   | /' "$SCRATCH/timelimit.log" | grep -v 'mdembed.progress' | tail -30
    show_jobs "$DEMO_SWEEP" || true
    demo_out=$(compgen -G "$DEMO_SWEEP/.submitit/*/*_log.out" | head -1 || true)
    demo_err=${demo_out%.out}.err
    echo "-- the job's log: what submitit and mdembed said about the signal, the requeue and the resume:"
    grep -hE '^submitit |stopped at step|resuming from|^mdembed: ' "$demo_out" 2>/dev/null | sed 's/^/   /' || true
    grep -hE 'CANCELLED|Exception ignored|Terminated' "$demo_err" 2>/dev/null | sed 's/^/   stderr: /' || true
    echo "-- what the job directory holds at the end:"
    find "$DEMO_SWEEP" -path '*/.submitit' -prune -o -type f -print | sed "s|$DEMO_SWEEP/|   |" | sort
    # the verdict
    requeues=$(grep -c '^submitit INFO .* Requeued job' "$demo_out" 2>/dev/null || true)
    echo "   requeued at the time limit: ${requeues:-0} time(s)"
    if grep -q 'resuming from step' "$demo_out" 2>/dev/null; then
        echo "   resumed: yes ($(grep -ohE 'resuming from step [0-9]+ of [0-9]+' "$demo_out" | paste -sd';'))"
    else
        echo "   resumed: no (each run started training from step 0)"
    fi
    [ "${requeues:-0}" -ge 1 ] || die "time-limit demo: the job was not requeued (see $demo_out)"
    compgen -G "$DEMO_SWEEP/*/summary.json" >/dev/null \
        || die "time-limit demo: the job did not finish (exit status $demo_rc, requeued ${requeues:-0} time(s); see $demo_out)"
    say "time-limit demo finished: the job hit its time limit, was requeued, and wrote its summary.json"
fi
say "done; SLURM keeps running (stop it with: $0 --stop)"

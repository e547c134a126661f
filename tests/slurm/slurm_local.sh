#!/usr/bin/env bash
# A real one-node Slurm on localhost for the test suite (Debian, root, no systemd):
#   slurm_local.sh up STATE_DIR     install (if needed) and start munged, mariadbd, slurmdbd, slurmctld, slurmd
#   slurm_local.sh down STATE_DIR   stop exactly the daemons `up` started (by pid, after checking the name)
# sacct works (slurmdbd + a local MariaDB on loopback), as on real clusters: the snakemake slurm plugin and
# submitit both rely on it to notice a killed or cancelled job.
set -euo pipefail
cmd=${1:?up|down}; S=$(realpath -m "${2:?state dir}")
PIDS="$S/pids"

started() { [ -n "$2" ] || { echo "slurm_local: $1 did not start" >&2; exit 1; }; echo "$1 $2" >>"$PIDS"; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local n=$(( $1 * 10 )) what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "slurm_local: $what did not come up" >&2; tail -n 20 "$S"/log/*.log >&2 || true; return 1
}

pid_of_file() {
  for _ in $(seq 100); do [ -s "$1" ] && { tr -d ' \n' <"$1"; return; }; sleep 0.1; done
  echo "slurm_local: no pid file $1" >&2; exit 1
}

up() {
  if [ "$(id -u)" != 0 ] || [ ! -f /etc/debian_version ]; then echo "slurm_local: needs root on Debian" >&2; exit 3; fi
  if [ -f /etc/slurm/slurm.conf ] && ! grep -q "written by diffusability" /etc/slurm/slurm.conf; then
    echo "slurm_local: /etc/slurm/slurm.conf exists and is not ours; refusing to touch a real Slurm" >&2; exit 3
  fi
  if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client slurmdbd munge mariadb-server \
      >/dev/null
  fi
  rm -rf "$S"; mkdir -p "$S"/{log,ctld,slurmd,run,db,munge}; : >"$PIDS"
  chown mysql:mysql "$S/db"; chown munge:munge "$S/munge"
  chmod 1777 "$S/log" "$S/run"  # mariadbd writes its socket and log as user mysql
  mkdir -p /etc/munge /run/munge /etc/slurm
  if [ ! -s /etc/munge/munge.key ]; then dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; fi
  chown munge:munge /etc/munge/munge.key /run/munge; chmod 400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --pid-file="$S/munge/munged.pid" --socket=/run/munge/munge.socket.2
  started munged "$(pid_of_file "$S/munge/munged.pid")"

  mariadb-install-db --user=mysql --datadir="$S/db" --auth-root-authentication-method=normal >"$S/log/mariadb-install.log" 2>&1
  setsid mariadbd --user=mysql --datadir="$S/db" --socket="$S/run/mysqld.sock" --bind-address=127.0.0.1 --port=3307 \
    --pid-file="$S/run/mariadbd.pid" --log-error="$S/log/mariadbd.log" --skip-name-resolve </dev/null >/dev/null 2>&1 &
  started mariadbd $!
  wait_for 30 mariadb mariadb --socket="$S/run/mysqld.sock" -uroot -e "SELECT 1"
  mariadb --socket="$S/run/mysqld.sock" -uroot -e \
    "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

  local cpus mem
  cpus=8  # advertised (config_overrides): lets a few small jobs share a 2-core CI machine
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
  # Two fake GPUs (empty files: Slurm only schedules them, a count without device files would drain the node), so
  # that a training asking for gpu: 2 gets two tasks, i.e. two data-parallel ranks, as on a GPU cluster.
  mkdir -p "$S/dev" && touch "$S/dev/gpu0" "$S/dev/gpu1"
  echo "NodeName=localhost Name=gpu File=$S/dev/gpu[0-1]" >/etc/slurm/gres.conf
  cat >/etc/slurm/slurmdbd.conf <<CONF
# written by diffusability tests/slurm/slurm_local.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$S/run/slurmdbd.pid
LogFile=$S/log/slurmdbd.log
CONF
  chmod 600 /etc/slurm/slurmdbd.conf
  cat >/etc/slurm/slurm.conf <<CONF
# written by diffusability tests/slurm/slurm_local.sh
ClusterName=diffusability
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
MinJobAge=3600
JobRequeue=1
KillWait=2
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$S/ctld
SlurmdSpoolDir=$S/slurmd
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
# sacct's MaxRSS of each job (tests/test_rehearsal.py reports the trainings' peak memory from it)
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoreFlags=job_comment
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  slurmdbd
  started slurmdbd "$(pid_of_file "$S/run/slurmdbd.pid")"
  wait_for 30 slurmdbd bash -c "echo > /dev/tcp/127.0.0.1/6819"
  slurmctld
  started slurmctld "$(pid_of_file "$S/run/slurmctld.pid")"
  wait_for 30 slurmctld scontrol ping
  slurmd -N localhost
  started slurmd "$(pid_of_file "$S/run/slurmd.pid")"
  wait_for 60 "an idle node" bash -c "sinfo -h -o %t | grep -q idle"
  wait_for 30 sacct sacct -n -X
  echo "slurm_local: up ($(sinfo -h -o '%P %D %t %c'))"
}

down() {
  [ -f "$PIDS" ] || exit 0
  # Jobs first: slurmstepd and the job's processes outlive slurmd, so a test that stops mid-job would leave its
  # training running. This Slurm is ours alone (`up` refuses a foreign slurm.conf), so every job is ours to cancel.
  scancel --full --quiet $(squeue -h -o %i 2>/dev/null) 2>/dev/null || true
  for _ in $(seq 150); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  tac "$PIDS" | while read -r name pid; do
    if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
      [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$PIDS"
}

"$cmd"

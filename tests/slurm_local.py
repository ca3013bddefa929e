"""A real single-node Slurm cluster for tests: munged + slurmctld + slurmd from Debian's `slurm-wlm` and `munge`.

`start(folder)` writes a minimal slurm.conf (this host, one node with this machine's CPUs,
proctrack/linuxproc, task/none, no accounting), starts the three daemons as root with every file under
`folder`, and waits until the node is idle; it returns a `Cluster` (its `env` points SLURM_CONF at the file) or
raises `Unavailable` with the reason. `Cluster.stop()` ends the daemons it started, by their pids.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")


class Unavailable(RuntimeError):
    """Slurm cannot be started here; the message says why."""


@dataclass
class Cluster:
    folder: Path
    env: dict
    pids: list[int] = field(default_factory=list)

    def stop(self) -> None:
        """Let running jobs end (30 s, then scancel), stop the daemons, then any job step daemon of this
        cluster (`slurmstepd` outlives slurmd): found by SLURM_CONF in its environment, ended by pid."""
        deadline = time.time() + 30
        while time.time() < deadline:
            out = subprocess.run(["squeue", "-h"], env=self.env, capture_output=True, text=True)
            if out.returncode != 0 or not out.stdout.strip():
                break
            time.sleep(0.5)
        else:
            subprocess.run(["scancel", "--full", "--partition=debug"], env=self.env, capture_output=True)
            time.sleep(3)
        self._end(self.pids)
        self._end(self._steps())

    def _steps(self) -> list[int]:
        marker = f"SLURM_CONF={self.env['SLURM_CONF']}".encode()
        pids = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit() and int(proc.name) != os.getpid():
                try:
                    if marker in (proc / "environ").read_bytes().split(b"\0"):
                        pids.append(int(proc.name))
                except OSError:
                    continue
        return pids

    @staticmethod
    def _end(pids: list[int]) -> None:
        for pid in reversed(pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.time() + 10
        for pid in pids:
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid(path: Path, timeout: float = 15.0) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.1)
    raise Unavailable(f"{path.name} did not appear")


def start(folder: Path) -> Cluster:
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if missing:
        raise Unavailable(f"{', '.join(missing)} not installed (apt-get install -y slurm-wlm munge)")
    if os.geteuid() != 0:
        raise Unavailable("not root: slurmd must run as root to start jobs")
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        raise Unavailable(f"no munge key at {key} (the munge package makes it)")
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool", "munge", "log"):
        (folder / sub).mkdir(exist_ok=True)
    os.chmod(folder / "munge", 0o700)
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    sock = folder / "munge" / "munge.socket"
    conf = folder / "slurm.conf"
    conf.write_text(f"""ClusterName=wdsrtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}
SlurmdLogFile={folder / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(folder, env)
    try:
        def launch(argv: list[str], pidfile: Path) -> None:
            log = open(folder / "log" / f"{Path(argv[0]).name}.out", "w")
            proc = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=30)
            if proc.returncode != 0:
                raise Unavailable(f"{' '.join(argv)} exited {proc.returncode}: "
                                  + (folder / "log" / f"{Path(argv[0]).name}.out").read_text()[-400:].strip())
            cluster.pids.append(_pid(pidfile))

        launch(["munged", "--force", f"--socket={sock}", f"--key-file={key}",
                f"--pid-file={folder / 'munge' / 'munged.pid'}", f"--log-file={folder / 'log' / 'munged.log'}",
                f"--seed-file={folder / 'munge' / 'munged.seed'}"], folder / "munge" / "munged.pid")
        launch(["slurmctld", "-c", "-f", str(conf)], folder / "slurmctld.pid")
        launch(["slurmd", "-f", str(conf)], folder / "slurmd.pid")
        deadline = time.time() + 60
        state = ""
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            state = (out.stdout + out.stderr).strip()
            if state.startswith("idle"):
                return cluster
            time.sleep(0.5)
        logs = "".join((folder / "log" / n).read_text()[-300:] for n in ("slurmctld.log", "slurmd.log")
                       if (folder / "log" / n).exists())
        raise Unavailable(f"the node did not become idle within 60 s (sinfo: {state!r}); logs: {logs}")
    except BaseException:
        cluster.stop()
        raise

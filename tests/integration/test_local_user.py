"""What a local user (``nobody``) can do to agents running as root: through files it can name or swap, and by calling
an agent that has no tokens configured.

The user runs a chia-looking process whose output goes to a log in the agent's log dir, which the user can write, and
then swaps that log for a symlink to a file only root can read (or to the agent's own ``/proc/self/environ``), or for
a FIFO. The agent must show none of the other file's content (``logs``, ``logs -f``, the parsed job), and nothing the
user creates may block its poll loop, an RPC or its shutdown. Without tokens, the user may read but not control:
control needs the agent's local credential, which root's CLI on the machine finds by itself (plotboss.localcred).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc, plotter_pb2, plotter_pb2_grpc
from testbed.agents import farmer_config, start_agent, write_yaml
from testbed.children import stop_process
from testbed.nobody import as_nobody, nobody_dir, require_nobody, run_as_nobody, shared_dir
from tests.conftest import SAMPLES

CLI = Path(sys.executable).parent / "plotboss-cli"
#: What the root-only file says first: a real chia log header, so an agent that parsed it would show its plot id.
SECRET_HEADER = b"".join((SAMPLES / "chiapos-2.0.12-k18.plot.log").read_bytes().splitlines(keepends=True)[:10])
SECRET_ID = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
JOB = """\
import time
for i in range(100000):
    print(f"line {i}", flush=True)
    time.sleep(0.2)
"""


@dataclass
class Bed:
    root: Path
    logs: Path
    config: Path
    fake_chia: Path
    port: int = 0
    agent: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), "--plotter", self.address, *args], capture_output=True, text=True, timeout=timeout
        )

    def list_jobs(self) -> plotter_pb2.ListJobsResponse:
        with dial(self.address, timeout_s=5) as ch:
            return plotter_pb2_grpc.PlotterServiceStub(ch).ListJobs(plotter_pb2.ListJobsRequest())

    def job(self, pid: int) -> plotter_pb2.Job | None:
        return next((j for j in self.list_jobs().jobs if j.pid == pid), None)

    def start_job(self, procs: list[subprocess.Popen[bytes]], log: Path) -> int:
        """A chia-looking job running as nobody, its output to ``log``."""
        job = f"exec /usr/bin/python3 {self.fake_chia} plots create -k 32 -t {self.root / 'tmp'} -d {self.root / 'dst'}"
        p = subprocess.Popen(
            as_nobody(["sh", "-c", f"{job} >>{log} 2>&1"]), stdin=subprocess.DEVNULL, start_new_session=True
        )
        procs.append(p)
        return p.pid


@pytest.fixture
def bed(procs: list[subprocess.Popen[bytes]]) -> Iterator[Bed]:
    require_nobody()
    with shared_dir() as root:
        logs = nobody_dir(root / "logs")
        for d in ("tmp", "dst"):
            nobody_dir(root / d)
        fake = root / "bin" / "chia"  # a plot job by its command line: [python3, .../chia, plots, create, ...]
        fake.parent.mkdir()
        fake.write_text(JOB)
        fake.chmod(0o755)
        config = root / "plotter.yaml"
        config.write_text(
            "version: 1\n"
            'agent: {name: plotter-01, listen: "127.0.0.1:0", poll_s: 0.3, grace_s: 2}\n'
            f"logging: {{plots: {logs}}}\n"
            f"directories: {{tmp: [{root / 'tmp'}], dst: [{root / 'dst'}]}}\n"
        )
        yield Bed(root, logs, config, fake)


def start(bed: Bed, procs: list[subprocess.Popen[bytes]], env: dict[str, str] | None = None) -> None:
    bed.agent, bed.port = start_agent("plotboss-plotter", bed.config, output=bed.root / "agent.out", env=env)
    procs.append(bed.agent)


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _seen_with_log(bed: Bed, pid: int, log: Path) -> Callable[[], bool]:
    def check() -> bool:
        j = bed.job(pid)
        return j is not None and j.logfile == str(log) and "line" in bed.cli("logs", f"pid:{pid}").stdout

    return check


@pytest.mark.parametrize("target", ["root-only file", "/proc/self/environ"])
def test_a_log_swapped_for_a_symlink_never_shows_the_other_file(
    bed: Bed, procs: list[subprocess.Popen[bytes]], target: str
) -> None:
    marker = "TOPSECRET-" + secrets.token_hex(8)
    env = None
    if target == "root-only file":
        secret = bed.root / "secret.log"
        secret.write_bytes(SECRET_HEADER + f"{marker}\n".encode())
        secret.chmod(0o600)
        assert run_as_nobody("cat", str(secret)).returncode != 0  # nobody cannot read it itself
        link_to = str(secret)
    else:
        env = {"PLOTBOSS_CONTROL_TOKEN": marker}  # what the agent's environment holds, as in the report
        link_to = "/proc/self/environ"
    start(bed, procs, env)
    log = bed.logs / "job.log"
    pid = bed.start_job(procs, log)
    wait_for("the job and its log in view", _seen_with_log(bed, pid, log))
    follow = subprocess.Popen(
        [str(CLI), "--plotter", bed.address, "--timeout", "60", "logs", "-f", f"pid:{pid}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(iter(follow.stdout.readline, b"")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for("logs -f to show the job's lines", lambda: any(b"line " in g for g in got))
        swap = run_as_nobody("ln", "-sfn", link_to, str(log))
        assert swap.returncode == 0, swap.stderr
        assert os.path.islink(log)
        time.sleep(2.0)  # several polls of the agent, and of the follow stream
        shown = bed.cli("logs", f"pid:{pid}", "-n", "1000")
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            follow.wait(timeout=10)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait()
        reader.join(10)
    followed = b"".join(got)
    assert marker.encode() not in followed
    assert b"line " in followed  # the follow did show the job's own lines
    assert marker not in shown.stdout + shown.stderr
    assert "Traceback" not in shown.stderr
    assert shown.returncode != 0 and "symlink" in shown.stderr, shown.stderr
    job = bed.job(pid)
    assert job is not None and job.plot_id != SECRET_ID  # the poller never parsed the other file either


def test_a_log_replaced_by_a_fifo_blocks_nothing(bed: Bed, procs: list[subprocess.Popen[bytes]]) -> None:
    """The poll loop, `logs`, `suspend`/`resume` and SIGTERM all go on as before (an open() of a FIFO without a
    writer would wait forever)."""
    start(bed, procs)
    log = bed.logs / "job.log"
    pid = bed.start_job(procs, log)
    wait_for("the job and its log in view", _seen_with_log(bed, pid, log))
    swap = run_as_nobody("sh", "-c", f"rm {log} && mkfifo {log}")
    assert swap.returncode == 0, swap.stderr
    t_swap = time.time()
    # the poll loop goes on: snapshots keep coming (a blocked poll would freeze snapshot_time)
    wait_for(
        "a snapshot taken after the FIFO",
        lambda: bed.list_jobs().snapshot_time.ToDatetime().timestamp() > t_swap + 1,
        15,
    )
    t0 = time.monotonic()
    shown = bed.cli("logs", f"pid:{pid}", timeout=30)
    assert shown.returncode != 0 and "Traceback" not in shown.stderr
    suspended = bed.cli("suspend", f"pid:{pid}", timeout=30)
    assert suspended.returncode == 0, suspended.stderr
    resumed = bed.cli("resume", f"pid:{pid}", timeout=30)
    assert resumed.returncode == 0, resumed.stderr
    assert time.monotonic() - t0 < 20
    assert bed.agent is not None
    bed.agent.send_signal(signal.SIGTERM)
    try:
        rc = bed.agent.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stop_process(bed.agent)
        raise AssertionError("the agent did not stop within 15 s of SIGTERM") from None
    assert rc == 0


# --- no tokens configured: a local user reads, only the agent's own user controls ---------------------------------

NOBODY_RPC = """\
import sys, grpc
from plotboss.localcred import local_token
from plotboss.transport import dial
from plotboss.v1 import farmer_pb2, farmer_pb2_grpc
address = sys.argv[1]
with dial(address, token=local_token(address), timeout_s=10) as ch:
    stub = farmer_pb2_grpc.FarmerServiceStub(ch)
    for name, call in (
        ("ListDrives", lambda: stub.ListDrives(farmer_pb2.ListDrivesRequest())),
        ("Release", lambda: stub.Release(farmer_pb2.ReleaseRequest(reservation_id=sys.argv[2]))),
    ):
        try:
            call()
            print(name, "OK")
        except grpc.RpcError as e:
            print(name, e.code().name)
"""


def _nobody_env(runtime_dir: Path) -> dict[str, str]:
    """nobody's environment, pointed at root's runtime dir on purpose (it knows where the credential is)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/nonexistent",
        "PLOTBOSS_RUNTIME_DIR": str(runtime_dir),
    }


def test_without_tokens_nobody_reads_but_only_roots_cli_controls(
    bed: Bed, procs: list[subprocess.Popen[bytes]], runtime_dir: Path
) -> None:
    start(bed, procs)
    credential = runtime_dir / f"agent-{bed.port}.token"
    log = bed.logs / "root-job.log"
    with open(log, "ab") as out:  # root's own plot job
        job = subprocess.Popen(
            ["/usr/bin/python3", str(bed.fake_chia), "plots", "create", "-k", "32", "-t", str(bed.root / "tmp"),
             "-d", str(bed.root / "dst")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    procs.append(job)
    wait_for("root's job in view", lambda: bed.job(job.pid) is not None)

    def nobody_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_as_nobody(str(CLI), "--plotter", bed.address, *args, env=_nobody_env(runtime_dir))

    listed = nobody_cli("status", "--json")
    assert listed.returncode == 0, listed.stderr
    assert f'"pid": {job.pid}' in listed.stdout
    for args in (("suspend", f"pid:{job.pid}"), ("kill", "--yes", f"pid:{job.pid}")):
        r = nobody_cli(*args)
        assert r.returncode != 0 and "PERMISSION_DENIED" in r.stderr and "local credential" in r.stderr, r.stderr
    time.sleep(0.5)
    assert job.poll() is None and bed.job(job.pid).state != plotter_pb2.JOB_STATE_STOPPED  # type: ignore[union-attr]

    st = credential.stat()
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600
    assert run_as_nobody("cat", str(credential)).returncode != 0
    # root's CLI on the same machine finds the credential by itself
    r = bed.cli("suspend", f"pid:{job.pid}")
    assert r.returncode == 0, r.stderr
    assert bed.job(job.pid).state == plotter_pb2.JOB_STATE_STOPPED  # type: ignore[union-attr]
    r = bed.cli("resume", f"pid:{job.pid}")
    assert r.returncode == 0, r.stderr

    assert bed.agent is not None
    bed.agent.send_signal(signal.SIGTERM)
    assert bed.agent.wait(timeout=20) == 0
    assert not credential.exists()  # a clean stop takes its credential away


def test_without_tokens_nobody_cannot_release_on_a_farmer(
    procs: list[subprocess.Popen[bytes]], runtime_dir: Path, tmp_path: Path
) -> None:
    require_nobody()
    config = write_yaml(tmp_path / "farmer.yaml", farmer_config(tmp_path))
    agent, port = start_agent("plotboss-farmer", config, output=tmp_path / "agent.out")
    procs.append(agent)
    address = f"127.0.0.1:{port}"
    with dial(address, token=local_token(address), timeout_s=10) as ch:  # root on the same machine reserves
        stub = farmer_pb2_grpc.FarmerServiceStub(ch)
        name = f"plot-k20-2021-05-05-12-34-{secrets.token_hex(32)}.plot"
        reserved = stub.Reserve(farmer_pb2.ReserveRequest(plot_name=name, size_bytes=4 << 20, requester="plotter-01"))
        rid = reserved.reservation.id
        with shared_dir() as shared:
            script = shared / "rpc.py"
            script.write_text(NOBODY_RPC)
            r = run_as_nobody(sys.executable, str(script), address, rid, env=_nobody_env(runtime_dir))
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n")[:2] == ["ListDrives OK", "Release PERMISSION_DENIED"], r.stdout
        listed = stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations
        assert [x.id for x in listed] == [rid]  # still there
        stub.Release(farmer_pb2.ReleaseRequest(reservation_id=rid))  # root's own release works
        assert not stub.ListReservations(farmer_pb2.ListReservationsRequest()).reservations

"""The CLI's job rendering: --json keys and shapes, short ids."""

from __future__ import annotations

from cli.jobs_view import dir_json, dirs_table, job_json, short_ids, status_phase, status_table, suspects_lines
from cli.render import Grid
from plotboss.rpc import to_duration
from plotboss.v1 import plotter_pb2

STATUS_KEYS = {
    "plot_id", "k", "plotter", "pid", "tmp_dir", "tmp2_dir", "dst_dir", "phase", "progress", "eta_s", "state",
    "wall_s", "tmp_bytes", "logfile",
}  # fmt: skip


def test_job_json_shape() -> None:
    j = plotter_pb2.Job(
        plot_id="ab" * 32,
        k=32,
        plotter=plotter_pb2.PLOTTER_KIND_MADMAX,
        pid=7,
        tmp_dir="/t",
        dst_dir="/d",
        phase=plotter_pb2.Phase(major=2, minor=3, known=True),
        progress=0.51234,
        state=plotter_pb2.JOB_STATE_DISK_WAIT,
        wall=to_duration(90.0),
        tmp_bytes=5,
        phase_times=[plotter_pb2.PhaseTime(major=1, duration=to_duration(12.5))],
    )
    d = job_json(j)
    assert set(d) >= STATUS_KEYS
    assert d["phase"] == "2:3" and d["plotter"] == "madmax" and d["state"] == "disk-wait"
    assert d["eta_s"] is None and d["tmp2_dir"] is None and d["logfile"] is None and d["wall_s"] == 90.0
    assert d["progress"] == 0.5123 and d["phase_times"] == {"1": 12.5}
    unknown = job_json(plotter_pb2.Job(pid=3, phase_unknown_reason="no log"))
    assert unknown["phase"] is None and unknown["plot_id"] is None and unknown["phase_unknown_reason"] == "no log"
    assert len(status_table([j]).rows) == 1


def test_multi_plot_jobs_show_which_plot() -> None:
    phase = plotter_pb2.Phase(major=3, minor=2, known=True)
    single = plotter_pb2.Job(pid=1, phase=phase, plot_index=1, plot_count=1)
    second_of_five = plotter_pb2.Job(pid=2, phase=phase, plot_index=2, plot_count=5)
    endless = plotter_pb2.Job(pid=3, plot_index=7, plot_count=0)
    assert [status_phase(j) for j in (single, second_of_five, endless)] == ["3:2", "3:2 #2/5", "? #7"]
    assert (job_json(second_of_five)["plot_index"], job_json(second_of_five)["plot_count"]) == (2, 5)
    assert job_json(endless)["plot_count"] is None


def test_dir_json_shape() -> None:
    d = dir_json(plotter_pb2.Dir(path="/d", role=plotter_pb2.DIR_ROLE_DST, plot_count=2, orphan_files=1))
    assert d["role"] == "dst" and d["plot_count"] == 2 and d["orphan_files"] == 1 and d["error"] is None


def test_short_ids() -> None:
    a, b, c = "a" * 10 + "0" * 54, "a" * 10 + "1" * 54, "c" * 64
    assert short_ids([a, b, c]) == {a: a[:11], b: b[:11], c: c[:8]}


def test_plain_grid_aligns_columns_and_right_justifies_numbers() -> None:
    g = Grid(("name", "size"), right=frozenset({"size"}), title="drives")
    g.add_row("/mnt/a", "1.0 GiB")
    g.add_row("/mnt/longer", "12 B")
    assert g.plain().splitlines() == [
        "drives",
        "name            size",
        "/mnt/a       1.0 GiB",
        "/mnt/longer     12 B",
    ]


def test_dirs_show_suspects() -> None:
    name = f"plot-k25-2026-11-25-17-11-{'d' * 64}.plot"
    suspect = plotter_pb2.PlotFile(name=name, size_bytes=6, reason="6 bytes is not the size of a whole k25 plot")
    suspect.modified_time.FromSeconds(1000)
    d = plotter_pb2.Dir(path="/d/", role=plotter_pb2.DIR_ROLE_DST, suspects=[suspect])
    twice = plotter_pb2.Dir(path="/d/", role=plotter_pb2.DIR_ROLE_TMP, suspects=[suspect])  # one dir, two roles
    assert dir_json(d)["suspects"] == [{"name": name, "size_bytes": 6, "mtime": 1000.0, "reason": suspect.reason}]
    assert dir_json(d)["plot_count"] == 0
    assert suspects_lines([d, twice]) == [f"suspect (not counted, never archived): /d/{name}: {suspect.reason}"]
    grid = dirs_table([d])
    assert "suspects" in grid.columns and grid.rows[0][grid.columns.index("suspects")] == "1"


def test_sort_jobs_by_each_key() -> None:
    from google.protobuf.duration_pb2 import Duration

    from cli.jobs_view import SORT_KEYS, sort_jobs
    from plotboss.v1 import plotter_pb2 as pb

    def job(pid: int, major: int, minor: int, wall: int, eta: int | None, kind: pb.PlotterKind) -> pb.Job:
        j = pb.Job(
            pid=pid, phase=pb.Phase(major=major, minor=minor, known=True), wall=Duration(seconds=wall), plotter=kind
        )
        if eta is not None:
            j.eta.CopyFrom(Duration(seconds=eta))
        return j

    jobs = [
        job(1, 1, 3, 100, 900, pb.PLOTTER_KIND_MADMAX),
        job(2, 3, 1, 500, None, pb.PLOTTER_KIND_CHIA),
        job(3, 3, 4, 300, 50, pb.PLOTTER_KIND_BLADEBIT),
        job(4, 2, 0, 700, 400, pb.PLOTTER_KIND_CHIA),
    ]
    order = {key: [j.pid for j in sort_jobs(jobs, key)] for key in SORT_KEYS}
    assert order == {
        "phase": [3, 2, 4, 1],  # furthest along first
        "age": [4, 2, 3, 1],  # oldest first
        "eta": [3, 4, 1, 2],  # soonest first, no ETA last
        "plotter": [3, 4, 2, 1],  # bladebit, chia (oldest first), madmax
    }

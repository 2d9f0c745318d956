"""The sample plotter logs and what each says (values read from the files by hand), shared by the log tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "logs"
K18 = SAMPLES / "chiapos-2.0.12-k18.plot.log"
K25 = SAMPLES / "chia-2.7.5-k25.plot.log"
K25_SIGTERM = SAMPLES / "chia-2.7.5-k25-sigterm.plot.log"
ALL_LOGS = sorted(SAMPLES.glob("*.plot.log"))

ID_0_TO_31 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
CUDA = SAMPLES / "bladebit-cuda-3.1-from-source-n2.plot.log"
CUDA_IDS = (
    "ed1bf5f54c8744abbd5b6f22b3a037915b47fb2a157d86e6dd9a0a329a44eb02",
    "929c58df4e5b901c16977fa6fca30878db420985f4e764c97aa9bd9d2b24dedc",
)


def local(text: str, fmt: str) -> float:
    return time.mktime(time.strptime(text, fmt))


#: file name -> the LogInfo fields the log states.
EXPECTED: dict[str, dict[str, Any]] = {
    "chiapos-2.0.12-k18.plot.log": dict(
        plotter="chia",
        plot_id=ID_0_TO_31,
        k=18,
        tmp_dir="/mnt/tmp/00",
        tmp2_dir="/mnt/tmp2",
        dst_dir="/mnt/dst/00",
        phase_times={1: 0.445, 2: 0.047, 3: 0.201, 4: 0.012},
        total_time=0.707,
        plot_name="plot-k18-test.plot",
        completed=True,
        phase=(5, 3),  # the last step the log reaches (see the plotter's phase mapping)
        threads=2,
        buckets=16,
        buffer_mib=200,
        start_time=local("Wed Nov 25 17:07:00 2026", "%a %b %d %H:%M:%S %Y"),
    ),
    "chiapos-2.0.12-k22.plot.log": dict(
        plotter="chia",
        plot_id=ID_0_TO_31,
        k=22,
        phase_times={1: 6.355, 2: 0.758, 3: 3.616, 4: 0.205},
        total_time=10.936,
        plot_name="plot-k22-test.plot",
        completed=True,
        phase=(5, 3),  # the last step the log reaches (see the plotter's phase mapping)
        buffer_mib=100,
    ),
    "chiapos-2.0.12-k22-final-on-other-fs.plot.log": dict(
        plotter="chia",
        plot_id="0" * 64,
        k=22,
        tmp_dir="xfs/tmp",
        tmp2_dir="xfs/tmp2",
        dst_dir="/mnt/dst/01",
        phase_times={1: 6.616, 2: 0.767, 3: 3.738, 4: 0.236},
        total_time=11.358,
        plot_name="plot-k22-xfs.plot",
        completed=True,
        phase=(5, 3),  # the last step the log reaches (see the plotter's phase mapping)
    ),
    "chia-2.7.5-k25.plot.log": dict(
        plotter="chia",
        plot_id="9677b5eaa9c7f10f23586a0f29dd23bf3ef0162d710a17c4739937922455e9ae",
        k=25,
        tmp_dir="/mnt/tmp/00",
        tmp2_dir="/mnt/tmp2",
        dst_dir="/mnt/dst/00",
        phase_times={1: 53.902, 2: 8.026, 3: 36.979, 4: 1.886},
        total_time=100.795,
        plot_name="plot-k25-2026-11-25-17-10-9677b5eaa9c7f10f23586a0f29dd23bf3ef0162d710a17c4739937922455e9ae.plot",
        completed=True,
        phase=(5, 3),  # the last step the log reaches (see the plotter's phase mapping)
        threads=2,
        buckets=16,
        buffer_mib=500,
        start_time=local("2026-11-25T17:10:49", "%Y-%m-%dT%H:%M:%S") + 0.588,
    ),
    "chia-2.7.5-k25-minimal-config.plot.log": dict(
        plotter="chia",
        plot_id="a2b35344670079d0b01b356c89275b3db9ad4beb708ab4f18083e38244aeacea",
        k=25,
        tmp_dir="/mnt/tmp/00",
        tmp2_dir="/mnt/tmp/00",
        phase_times={1: 57.964, 2: 8.22, 3: 38.903, 4: 2.046},
        total_time=107.134,
        completed=True,
        phase=(5, 3),  # the last step the log reaches (see the plotter's phase mapping)
    ),
    "chia-2.7.5-k25-sigterm.plot.log": dict(
        plotter="chia",
        plot_id="c48169ba2ddc87c1d01dfe9936f407d551a59bdd582911033e1659deee860fd7",
        k=25,
        tmp_dir="cp3/tmp",
        dst_dir="cp3/final",
        phase=(1, 2),
        phase_times={},
        total_time=None,
        plot_name=None,
        completed=False,
    ),
    "plotman-chianetwork.plot.log": dict(
        plotter="chia",
        mode=None,
        plot_id="d2540dcfcffddbfbd7e60b4aca4d54fb937db71991298fabc253f020a87ff7d4",
        k=32,
        tmp_dir="/farm/yards/902",
        tmp2_dir="/farm/yards/902/fake_tmp2",
        dst_dir="/farm/yards/902/fake_dst",
        phase_times={1: 8134.66, 2: 3304.86, 3: 6515.266, 4: 425.637},
        total_time=18380.426,
        plot_name="plot-k32-2021-07-14-22-33-d2540dcfcffddbfbd7e60b4aca4d54fb937db71991298fabc253f020a87ff7d4.plot",
        completed=True,
        phase=(5, 3),  # the last step the log reaches (see the plotter's phase mapping)
        threads=4,
        buckets=128,
        buffer_mib=5000,
    ),
    "plotman-madmax.plot.log": dict(
        plotter="madmax",
        mode=None,
        plot_id="522acbd6308af7e229281352f746449134126482cfabd51d38e0f89745d21698",
        k=33,
        tmp_dir="/farm/yards/902/",
        tmp2_dir="/farm/yards/902/fake_tmp2/",
        dst_dir="/farm/yards/902/fake_dst/",
        phase_times={1: 2197.52, 2: 1363.42, 3: 1320.47, 4: 86.9555},
        total_time=4968.41,
        plot_name="plot-k33-2021-07-14-21-56-522acbd6308af7e229281352f746449134126482cfabd51d38e0f89745d21698.plot",
        completed=True,
        phase=(5, 2),  # the last step the log reaches (see the plotter's phase mapping)
        threads=8,
        buckets=256,
        start_time=local("2021-07-14-21-56", "%Y-%m-%d-%H-%M"),
    ),
    "plotman-bladebit.plot.log": dict(
        plotter="bladebit",
        mode="ram",
        plot_id="1fc7b57baae24da78e3bea44d58ab51f162a3ed4d242bab2fbcc24f6577d88b3",
        k=32,
        tmp_dir=None,
        dst_dir="/mnt/tmp/01/manual-transfer/",
        phase_times={1: 313.98, 2: 44.6, 3: 203.26, 4: 1.11},
        total_time=582.91,
        plot_name="plot-k32-2021-08-29-22-22-1fc7b57baae24da78e3bea44d58ab51f162a3ed4d242bab2fbcc24f6577d88b3.plot",
        completed=True,
        phase=(5, 1),  # the last step the log reaches (see the plotter's phase mapping)
        threads=88,
    ),
    "plotman-bladebit2disk.plot.log": dict(
        plotter="bladebit",
        mode="disk",
        plot_id="8f781fecff9d78b83b7116580af550b62530a623750738a19dcea498a7a73010",
        k=32,
        tmp_dir="/farm/yards/907/1",
        tmp2_dir="/farm/yards/907/2",
        dst_dir="/farm/yards/907/d",
        phase_times={1: 526.48, 2: 100.36, 3: 562.95},
        total_time=1189.79,
        plot_name="plot-k32-2022-05-04-00-44-8f781fecff9d78b83b7116580af550b62530a623750738a19dcea498a7a73010.plot",
        completed=True,
        phase=(5, 0),  # the last step the log reaches (see the plotter's phase mapping)
        threads=64,
        buckets=256,
    ),
    # Built from bladebit's source (cuda/CudaPlotter.cu etc.), not a real run: see tests/data/logs/README.md.
    "bladebit-cuda-3.1-from-source-n2.plot.log": dict(
        plotter="bladebit",
        mode="cuda",
        plot_id=CUDA_IDS[1],
        k=32,
        tmp_dir=None,
        dst_dir="/mnt/dst/00",
        phase_times={1: 28.15, 2: 3.38, 3: 38.96},
        total_time=70.61,
        plot_name=f"plot-k32-c07-2024-03-04-10-01-{CUDA_IDS[1]}.plot",
        completed=True,
        phase=(5, 1),  # the last step the log reaches (see the plotter's phase mapping)
        threads=16,
        plot_index=2,
        earlier_plots=(CUDA_IDS[0],),
        start_time=local("2024-03-04-10-01", "%Y-%m-%d-%H-%M"),
    ),
}

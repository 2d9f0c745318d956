"""The committed stubs under plotboss/v1 are exactly what scripts/protogen.py makes from proto/ (run `make proto`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "plotboss" / "v1"


def _stubs(directory: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(directory.iterdir())
        if p.suffix in {".py", ".pyi"} and p.stem != "__init__"
    }


def test_generated_stubs_match_the_committed_ones(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "protogen.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"scripts/protogen.py failed:\n{run.stderr}"
    fresh = _stubs(tmp_path / "plotboss" / "v1")
    committed = _stubs(COMMITTED)
    protos = sorted(p.stem for p in (REPO / "proto" / "plotboss" / "v1").glob("*.proto"))
    assert protos, "no .proto files found under proto/plotboss/v1"
    # every proto yields the four files: _pb2.py, _pb2.pyi, _pb2_grpc.py, _pb2_grpc.pyi
    assert set(fresh) == {
        f"{s}{suffix}" for s in protos for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")
    }
    differing = sorted(name for name in set(fresh) | set(committed) if fresh.get(name) != committed.get(name))
    assert not differing, (
        f"plotboss/v1 is out of date with proto/ ({', '.join(differing)} differ, are missing or are stale): "
        "run `make proto` and commit the result"
    )

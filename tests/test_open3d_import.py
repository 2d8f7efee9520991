"""``import open3d`` works in the project's environment once the package is imported (no system libusb needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLY = """ply
format ascii 1.0
element vertex 2
property float x
property float y
property float z
end_header
0 0 0
1 2 3
"""


def test_open3d_reads_a_ply_after_importing_the_package(tmp_path: Path):
    (tmp_path / "cloud.ply").write_text(PLY)
    script = ("import crossvideo_kedro, open3d, numpy; "
              "print(numpy.asarray(open3d.io.read_point_cloud('cloud.ply').points).sum())")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "6.0"

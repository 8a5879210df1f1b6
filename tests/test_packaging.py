"""A non-editable install ships targets/ and runtime/ inside the wheel and finds them there."""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_ships_targets_and_runtime(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(REPO), "-w", str(tmp_path)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("qcomp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("qcomp/_data/targets/x86-vnni.toml", "qcomp/_data/targets/arm-sdot.toml",
                 "qcomp/_data/runtime/qcomp.h", "qcomp/cli.py", "qcomp/ir/ops.py"):
        assert want in names, f"{want} missing from {wheel.name}"

    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    probe = ("import qcomp, qcomp.target as t, qcomp.resources as r;"
             "print(qcomp.__file__); print(r.data_dir('runtime')); print(sorted(t.all_targets()))")
    env = dict(os.environ, PYTHONPATH=str(site))
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    qfile, runtime_dir, targets = out.stdout.splitlines()
    assert qfile.startswith(str(site)) and runtime_dir.startswith(str(site))
    assert (Path(runtime_dir) / "qcomp.h").is_file()
    assert "x86-vnni" in targets and "ref" in targets

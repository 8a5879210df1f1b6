"""Package list for setuptools: the qcomp packages plus the top-level data folders that ship
inside the wheel as qcomp._data.targets and qcomp._data.runtime (mapped in pyproject.toml)."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["qcomp", "qcomp.*"]) + ["qcomp._data.targets", "qcomp._data.runtime"])

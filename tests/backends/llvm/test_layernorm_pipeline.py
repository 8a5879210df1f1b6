"""The LayerNorm row pass over row groups with a stash (qcomp/codegen/llvm/kernels_layernorm_vec.py):
every form it takes on x86-vnni (the pipeline with groups of 2 rows and of 1 row, groups of 2 rows and
of 1 row one by one, a job of one group, the rows after the last group, rows too long for a stash)
gives, bit for bit, what the form without a stash gives (STASH_BYTES 0: LN_ROWS rows in lockstep, x
read from its float32 source in each pass, the arithmetic the stash keeps), and equals the
reference, at 1 and 2 threads."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit, kernels_layernorm_vec
from qcomp.codegen.llvm.kernels_layernorm_vec import stash_plan
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run,
                               reason=f"target x86-vnni: {host_support(VNNI).why}")

# (shape, what it exercises; the jobs hold multiples of 32 rows): every n leaves a scalar tail but 768
SHAPES = [((1, 45, 100), "pipeline of 2-row groups, then one row"),
          ((1, 23, 600), "pipeline of 1-row groups"),
          ((2, 20, 768), "2-row groups one by one, in a job of 32 rows and one of 8"),
          ((1, 3, 1000), "1-row groups one by one"),
          ((1, 5, 1100), "no stash: 4 rows in lockstep, then one row"),
          ((3, 40), "a job of one 2-row group (no pipeline), then one row")]


def test_stash_plan():
    plans = [stash_plan(n) for n in (100, 384, 385, 614, 615, 768, 769, 1024, 1025)]
    assert plans == [(3, 2), (3, 2), (3, 1), (3, 1), (1, 2), (1, 2), (1, 1), (1, 1), (0, 0)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = np.random.default_rng(1920)
    g = Graph("layernorm_pipeline", Stage.TARGET)
    feeds = {}
    for i, (shape, _) in enumerate(SHAPES):
        g.add_input(f"x{i}", TensorType(shape, DType.FLOAT32))
        # an offset and a spread that vary by row: the mean's and the deviation's last bits matter
        offset = rng.uniform(-5, 5, shape[:-1] + (1,))
        feeds[f"x{i}"] = (offset + rng.standard_normal(shape) * rng.uniform(0.5, 5, offset.shape)).astype(np.float32)
        params = [g.add_constant(f"{p}{i}", (rng.standard_normal(shape[-1]) + (p == "s")).astype(np.float32))
                  for p in "sb"]
        g.add_node(ops.LayerNorm(len(shape) - 1, 1e-5), [f"x{i}", *params], f"ln{i}", outputs=[f"ln{i}"])
    g.outputs = [n.outputs[0] for n in g.nodes]
    verify(g)
    dirs = {"pipeline": tmp_path_factory.mktemp("ln_pipeline")}
    emit(g, VNNI, dirs["pipeline"])
    dirs["lockstep"] = tmp_path_factory.mktemp("ln_lockstep")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels_layernorm_vec, "STASH_BYTES", 0)
        emit(g, VNNI, dirs["lockstep"])
    return dirs, feeds, run_integer(g, feeds)


def test_the_forms_are_built(built):
    dirs = built[0]
    assert "ln_stash" in (dirs["pipeline"] / "model.ll").read_text()
    assert "ln_stash" not in (dirs["lockstep"] / "model.ll").read_text()


@runs_here
@pytest.mark.parametrize("threads", [1, 2])
def test_pipeline_equals_lockstep_and_reference(built, threads):
    from qcomp.runtime.llvm import Runner
    dirs, feeds, want = built
    got = {form: Runner(d / "model.so", num_threads=threads).run(feeds) for form, d in dirs.items()}
    for i, (_, what) in enumerate(SHAPES):
        name = f"ln{i}"
        assert np.unique(want[name]).size > want[name].size // 2, f"{what}: degenerate reference output"
        np.testing.assert_array_equal(got["pipeline"][name].view(np.uint32), got["lockstep"][name].view(np.uint32),
                                      err_msg=f"{what}, {threads} threads: pipeline vs lockstep")
        np.testing.assert_array_equal(got["pipeline"][name], want[name], err_msg=f"{what}, {threads} threads")

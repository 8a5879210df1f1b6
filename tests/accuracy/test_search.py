"""The --accuracy search (qcomp/accuracy/search.py) and its cost model (qcomp/accuracy/costs.py), on the
float graph of bad_tensor.py with trials whose cosine is a stated function of the precision choice
(no quantization, no integer runs: milliseconds), so each test states the situation it checks."""
import pytest

import qcomp
from qcomp.accuracy import costs, kinds
from qcomp.accuracy.search import Search, groups
from qcomp.builder import BuildOptions, float_graph
from qcomp.target import get_target

from bad_tensor import BAD, write_model   # tests/accuracy is on sys.path (no __init__.py)

BASELINE = 0.97

# The x86 cost table these tests state their situations with (the first run of
# benchmarks/raise_cost.py); costs.py's measured table is refreshed as kernels change.
STATED_X86 = {
    "int8": {"conv": 1.495, "depthwise": 22.515, "matmul": 0.766, "matmul_act": 3.249, "elementwise": 43.789,
             "transcendental": 42.159},
    "int16": {"conv": 2.441, "depthwise": 28.296, "matmul": 1.513, "matmul_act": 12.561, "elementwise": 60.837,
              "transcendental": 141.172},
    "float": {"conv": 8.71, "depthwise": 220.691, "matmul": 22.364, "matmul_act": 9.449, "elementwise": 46.823,
              "transcendental": 482.492},
}


@pytest.fixture(autouse=True)
def stated_costs(monkeypatch):
    monkeypatch.setitem(costs.FACTORS, "x86", STATED_X86)


class StatedTrials:
    """Trials (accuracy/trials.py) whose cosine is BASELINE + the gains of the int16 tensors raised
    (`gains`, per tensor) + `together` when every tensor of `needed` is int16; float raises add nothing."""

    def __init__(self, gf, gains: dict[str, float], needed=(), together: float = 0.0, refuse: str = ""):
        self.gf, self.gains, self.needed, self.together = gf, gains, set(needed), together
        self.refuse = refuse   # a tensor whose int16 raise the pipeline refuses (its reader's bias, say)
        self.costs = costs.CostModel(gf, get_target("x86-vnni"))
        self.options = BuildOptions()
        self.runs = 0
        self.samples = [None]
        self.seen: list[dict] = []

    def refusal(self, precision: dict[str, str]) -> str:
        if precision.get(self.refuse) == "int16":
            reader = next(n.name for n in self.gf.nodes if self.refuse in n.inputs)
            return f"node {reader!r} (Conv2D): its bias does not fit the int64 accumulator at scale s_in * s_w"
        return ""

    def cosine(self, precision: dict[str, str]) -> float | None:
        self.seen.append(dict(precision))
        if self.refusal(precision):
            return None
        self.runs += 1
        wide = {t for t, k in precision.items() if k == "int16"}
        cos = BASELINE + sum(self.gains.get(t, 0.0) for t in wide)
        if self.needed and self.needed <= wide:
            cos += self.together
        return min(cos, 1.0)

    required = cosine


@pytest.fixture(scope="module")
def gf(tmp_path_factory):
    model = write_model(tmp_path_factory.mktemp("search") / "bad.onnx")
    return float_graph(qcomp.load_model(model), BuildOptions())


def every(gf):
    return tuple([*gf.inputs, *(n.outputs[0] for n in gf.nodes)])


def test_cost_model_prices_float_far_above_int16_and_by_op_class(gf):
    """x86-vnni's measured factors: a raise to float costs several times its int16 raise, and the
    int16 raise of `hot` (read by conv2) costs more than that of `flat` (read by the smaller fc)."""
    model = costs.CostModel(gf, get_target("x86-vnni"))
    assert costs.family(get_target("ref")) == "x86" and costs.family(get_target("dsp-c")) == "c"
    assert costs.op_class(gf, next(n for n in gf.nodes if n.name == "conv2")) == "conv"
    assert costs.op_class(gf, next(n for n in gf.nodes if n.name == "fc")) == "matmul"
    for t in (BAD, "flat"):
        assert kinds.raise_cost(gf, t, "float", model) > 3 * kinds.raise_cost(gf, t, "int16", model) > 0
    assert kinds.raise_cost(gf, BAD, "int16", model) > kinds.raise_cost(gf, "flat", "int16", model)
    whole = kinds.choice_cost(gf, {BAD: "int16", "flat": "int16"}, model)
    assert whole == pytest.approx(kinds.raise_cost(gf, BAD, "int16", model)
                                  + kinds.raise_cost(gf, "flat", "int16", model), abs=1)
    assert 0 < model.latency(whole) < 1


def test_cost_aware_choice_differs_from_gain_alone_and_is_cheaper(gf):
    """`hot` gains most alone, `flat` a little less and costs far less; either reaches the goal. Gain
    alone raises `hot`; gain per cost raises `flat`, at a lower predicted latency."""
    gains = {BAD: 0.029, "flat": 0.0292 - 0.0005}
    goal = 0.998
    picks = {}
    for order in ("gain", "gain_per_cost"):
        trials = StatedTrials(gf, gains)
        search = Search(trials, {}, goal, order=order)
        chosen, reached, measured = search.run(("int16", "float"), [every(gf)], every(gf))
        assert reached and list(measured) == ["int16"]
        picks[order] = chosen
    assert [r.tensor for r in picks["gain"]] == [BAD]
    assert [r.tensor for r in picks["gain_per_cost"]] == ["flat"]
    model = costs.CostModel(gf)
    assert picks["gain_per_cost"][0].cost == kinds.raise_cost(gf, "flat", "int16", model)
    assert picks["gain_per_cost"][0].cost < picks["gain"][0].cost


def test_a_group_reaches_where_single_raises_saturate_and_is_pruned(gf):
    """Single raises add 0.001 each; only `hot`, `r2` and `flat` int16 together add 0.03, and the
    singles measured (one batch: `hot` alone) never hold all three. The group of every activation
    reaches the goal before any float raise is measured, and its prune drops the parts not needed."""
    trials = StatedTrials(gf, dict.fromkeys(every(gf), 0.001), needed=(BAD, "r2", "flat"), together=0.03)
    search = Search(trials, {}, 0.999)
    chosen, reached, measured = search.run(("int16", "float"), [(BAD,)], every(gf))
    assert reached and list(measured) == ["int16"]
    # `hot` alone was kept first, then the group; the prune dropped the single (the group holds `hot`)
    # and the group's parts not needed: of its 5 members in parts of 2 ((x_nhwc, hot), (r2, flat),
    # (logits)), the last; the others each hold a needed tensor
    assert any(p == {BAD: "int16"} for p in trials.seen)
    assert len(chosen) == 1 and chosen[0].kind == "int16"
    group = chosen[0]
    assert group.members == ("x_nhwc", BAD, "r2", "flat") and group.entries == dict.fromkeys(group.members, "int16")
    assert group.tensor == "every activation (4 of 5 tensors)"       # the graph input x is never a member
    assert group.cosine_after >= 0.999


def test_a_refused_group_is_tried_again_without_the_members_its_refusal_names(gf):
    """`r2` int16 is refused (its reader's bias would not fit): the group of every activation is
    refused as a whole, then tried without `r2` (the refusal names the node reading it) and reaches."""
    trials = StatedTrials(gf, dict.fromkeys(every(gf), 0.001), needed=(BAD, "flat"), together=0.03, refuse="r2")
    chosen, reached, measured = Search(trials, {}, 0.999).run(("int16", "float"), [(BAD,)], every(gf))
    assert reached and list(measured) == ["int16"]
    assert any(p.get("r2") == "int16" and len(p) == 5 for p in trials.seen)   # the whole group, refused
    group = chosen[-1]
    assert "r2" not in group.members and {BAD, "flat"} <= set(group.members)


def test_groups_are_by_op_kind_and_every_activation(gf):
    labels = [label for label, _ in groups(gf, every(gf))]
    assert labels == ["every Conv2D output (2 tensors)", "every activation (5 tensors)"]


def test_the_search_is_deterministic(gf):
    def run():
        trials = StatedTrials(gf, dict.fromkeys(every(gf), 0.001), needed=(BAD, "r2", "flat"), together=0.03)
        chosen, _, _ = Search(trials, {}, 0.999).run(("int16", "float"), [(BAD,)], every(gf))
        return [(r.tensor, r.entries, r.cosine_after) for r in chosen], trials.seen
    assert run() == run()

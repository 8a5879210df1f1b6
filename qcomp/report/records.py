"""The content of an error report: typed rows, independent of how they are written out."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..accuracy import SensitivityResult
from .stats import Distribution, ErrorSummary

ENTRY_DROP_DB = 3.0
EXACT_DB = 80.0     # int8 gives at most ~50 dB on a full-scale signal: above this, all but exact


@dataclass(frozen=True)
class LayerRow:
    """One int8 activation: how far its dequantized value is from the float model's."""
    index: int                       # position in graph order
    value: str                       # int8 value of the quantized graph
    float_value: str                 # float value of the float graph it approximates
    node: str                        # the node that produces it (the ONNX node name where there was one)
    op: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    error: ErrorSummary
    distribution: Distribution       # of the float values
    upstream: tuple[str, ...]        # the int8 values whose error flows into this one
    snr_drop_db: float | None        # min SNR upstream - SNR here; None where every input is exact
    own_snr_db: float                # SNR of the error this node adds (qcomp.report docstring)


@dataclass(frozen=True)
class WeightRow:
    """The int8 weights of one Conv2D / ConvTranspose2D / Dense against its float weights."""
    node: str
    op: str
    value: str
    shape: tuple[int, ...]
    per_channel: bool
    error: ErrorSummary
    worst_channel_snr_db: float      # the lowest SNR of one output channel


@dataclass(frozen=True)
class OutputRow:
    """One model output, float against the int8 model (dequantized)."""
    name: str
    shape: tuple[int, ...]
    error: ErrorSummary
    top1_agreement: float | None     # share of rows where both argmaxes agree (logits-like outputs)
    accuracy_float: float | None     # top-1 accuracy against the data's labels, when it has some
    accuracy_int8: float | None


@dataclass(frozen=True)
class Source:
    """Where samples came from."""
    path: str
    format: str
    samples: int


@dataclass(frozen=True)
class Report:
    model: str
    quant: str                       # the --quant mode: full, weight or dynamic
    calibration: Source | None       # None where nothing was calibrated (--quant weight, dynamic)
    calibration_method: str | None
    data: Source
    labels: str | None               # the array of the data used as labels
    layers: tuple[LayerRow, ...]
    weights: tuple[WeightRow, ...]
    outputs: tuple[OutputRow, ...]
    notes: tuple[str, ...]
    calibration_methods: dict[str, str] = field(default_factory=dict)   # --calib-method auto: value -> method
    sensitivity: SensitivityResult | None = None   # measured per tensor (qcomp/report/sensitivity.py)

    def worst(self, k: int | None = None) -> tuple[LayerRow, ...]:
        """The k layers with the lowest SNR (ties: the earlier layer first); by default a fifth of the
        layers, 1 to 10, so that highlighting them still singles something out."""
        if k is None:
            k = min(10, max(1, len(self.layers) // 5))
        return tuple(sorted(self.layers, key=lambda r: (r.error.snr_db, r.index))[:max(k, 0)])

    def entry_points(self, k: int = 3, min_drop_db: float = ENTRY_DROP_DB) -> tuple[LayerRow, ...]:
        """Where the error enters: of the layers that lose at least `min_drop_db` against their inputs
        (3 dB: they at least double the noise power they receive; exact inputs count as an infinite
        drop), the k that add the most error (lowest own SNR, below EXACT_DB)."""
        rows = [r for r in self.layers if (r.snr_drop_db is None or r.snr_drop_db >= min_drop_db)
                and r.own_snr_db < EXACT_DB]
        return tuple(sorted(rows, key=lambda r: (r.own_snr_db, r.index))[:max(k, 0)])

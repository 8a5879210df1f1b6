"""The one exception family users see. A leaf module: every layer may import it.

Each error states the problem, the node or input it concerns, and what to do next. The CLI prints
`str(error)` to stderr and exits with code 2; anything that is not a QcompError is a bug in qcomp.
"""


class QcompError(Exception):
    """Base of every error qcomp reports to its users."""


class ModelLoadError(QcompError):
    """The model file cannot be read: not ONNX, truncated, missing external data, bad opset."""


class UnsupportedModelError(QcompError):
    """The model is valid ONNX but uses ops, attributes or types qcomp does not support."""


class ShapeError(QcompError):
    """A shape is unknown or inconsistent (for example a dynamic input dimension without --input-shape)."""


class InputError(QcompError):
    """Data given at run time or for calibration does not match the model's inputs."""


class DamagedArtifactError(QcompError):
    """An artifact's manifest or one of its files does not match what `qcomp build` wrote (edited,
    truncated or replaced): it names the artifact and the file, and says to rebuild it."""

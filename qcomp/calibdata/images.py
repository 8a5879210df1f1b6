"""Image calibration data (.jpg/.jpeg/.png/.bmp) for single-input models of rank 4.

Each image goes through torchvision's classic pipeline, with Pillow:
    convert to RGB (or L for a 1-channel input); channels reversed for color="bgr"
    resize: the short side to `resize`, the long side to int(resize * long / short), bilinear
    crop:   the centre crop_h x crop_w, top = round((h - crop_h) / 2), left likewise
    x = float32 pixels in [0, 255];  x = (x - mean[c]) / std[c]   per channel
    to the model's layout: NCHW (1, C, H, W) or NHWC (1, H, W, C)
`mean` and `std` hold 1 value or one per channel, in the channel order after the colour
conversion (BGR order for color="bgr", as Caffe-style models quote them). A uint8 input gets the
raw pixels (no mean/std). The image must come out at the input's H x W: nothing is resized
implicitly, since a wrong aspect ratio silently hurts calibration.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .arrays import single_input
from .spec import InputSpec, Samples

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})


def _values(v, what: str) -> tuple[float, ...] | None:
    if v is None:
        return None
    vals = tuple(float(x) for x in np.atleast_1d(np.asarray(v, dtype=np.float64)))
    if len(vals) not in (1, 3) or not all(np.isfinite(vals)):
        raise InputError(f"--{what} takes 1 or 3 finite numbers, got {v!r}")
    return vals


@dataclass(frozen=True)
class ImageOptions:
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    resize: int | None
    crop: tuple[int, int] | None        # (height, width)
    color: str                          # "rgb" or "bgr"
    layout: str                         # "NCHW" or "NHWC"

    @staticmethod
    def make(mean, std, resize, crop, color: str, layout: str) -> "ImageOptions":
        std_v = _values(std, "std")
        if std_v is not None and 0.0 in std_v:
            raise InputError(f"--std must not contain 0, got {std!r}")
        if resize is not None and (int(resize) != resize or resize <= 0):
            raise InputError(f"--resize takes a positive number of pixels (the short side), got {resize!r}")
        if crop is not None:
            hw = (crop, crop) if np.ndim(crop) == 0 else tuple(crop)
            if len(hw) != 2 or any(int(c) != c or c <= 0 for c in hw):
                raise InputError(f"--crop takes a positive size or HEIGHT x WIDTH, got {crop!r}")
            crop = (int(hw[0]), int(hw[1]))
        if color not in ("rgb", "bgr"):
            raise InputError(f"--color must be rgb or bgr, got {color!r}")
        if layout not in ("NCHW", "NHWC"):
            raise InputError(f"the image layout must be NCHW or NHWC, got {layout!r}")
        return ImageOptions(_values(mean, "mean"), std_v, None if resize is None else int(resize), crop,
                            color, layout)

    @property
    def preprocessing(self) -> bool:
        return any(v is not None for v in (self.mean, self.std, self.resize, self.crop))


def image_samples(files: list[Path], specs: tuple[InputSpec, ...], opt: ImageOptions) -> Samples:
    spec = single_input(specs, "images")
    if len(spec.shape) != 4:
        raise InputError(f"calibration input {spec.describe()}: images need a rank-4 input "
                         f"(NCHW or NHWC); use an .npz for this model")
    _, h, w, c = spec.shape if opt.layout == "NHWC" else (spec.shape[0], *spec.shape[2:], spec.shape[1])
    if c not in (1, 3):
        raise InputError(f"calibration input {spec.describe()}: {c} channels in layout {opt.layout}; "
                         f"images give 1 or 3 (is the layout right?)")
    if opt.crop is not None and opt.crop != (h, w):
        raise InputError(f"calibration input {spec.describe()}: --crop {opt.crop[0]}x{opt.crop[1]} "
                         f"does not give the model's {h}x{w} ({opt.layout})")
    if spec.dtype.kind != "f" and not (spec.dtype == np.uint8 and opt.mean is None and opt.std is None):
        raise InputError(f"calibration input {spec.describe()}: images calibrate float inputs, or "
                         f"uint8 inputs without --mean/--std; use an .npz for this model")
    for name, v in (("mean", opt.mean), ("std", opt.std)):
        if v is not None and len(v) not in (1, c):
            raise InputError(f"--{name} has {len(v)} values but input {spec.describe()} has {c} channels")

    def check(i: int) -> None:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(files[i]):
                pass
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"calibration image {str(files[i])!r} cannot be read ({e}); calibrating "
                             f"input {spec.describe()}") from None

    def read(indices: tuple[int, ...]) -> Iterator[tuple[dict[str, np.ndarray], str]]:
        for i in indices:
            yield {spec.name: _preprocess(files[i], spec, opt, (h, w, c))}, files[i].name

    return Samples("images", len(files), read, check)


def _preprocess(f: Path, spec: InputSpec, opt: ImageOptions, hwc: tuple[int, int, int]) -> np.ndarray:
    from PIL import Image
    h, w, c = hwc
    try:
        with Image.open(f) as src:
            im = src.convert("L" if c == 1 else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(f"calibration image {str(f)!r} cannot be decoded ({e}); calibrating input "
                         f"{spec.describe()}") from None
    if opt.resize is not None:
        iw, ih = im.size
        if iw <= ih:
            size = (opt.resize, int(opt.resize * ih / iw))
        else:
            size = (int(opt.resize * iw / ih), opt.resize)
        im = im.resize(size, Image.Resampling.BILINEAR)
    if opt.crop is not None:
        (ch, cw), (iw, ih) = opt.crop, im.size
        if ch > ih or cw > iw:
            raise InputError(f"calibration image {str(f)!r} is {ih}x{iw} after resizing, smaller than "
                             f"--crop {ch}x{cw}; give a larger --resize")
        top, left = int(round((ih - ch) / 2.0)), int(round((iw - cw) / 2.0))
        im = im.crop((left, top, left + cw, top + ch))
    x = np.asarray(im)
    x = x[..., None] if x.ndim == 2 else x
    if x.shape[:2] != (h, w):
        raise InputError(f"calibration input {spec.describe()}: image {str(f)!r} is {x.shape[0]}x"
                         f"{x.shape[1]} after preprocessing, the model takes {h}x{w}; pass --resize "
                         f"and --crop (for example --resize {round(max(h, w) * 8 / 7)} --crop {h}x{w})")
    if opt.color == "bgr":
        x = x[..., ::-1]
    if spec.dtype.kind == "f":
        x = x.astype(np.float32)
        if opt.mean is not None:
            x = x - np.asarray(opt.mean, np.float32)
        if opt.std is not None:
            x = x / np.asarray(opt.std, np.float32)
    x = x if opt.layout == "NHWC" else x.transpose(2, 0, 1)
    return np.ascontiguousarray(x[None], dtype=spec.dtype)

"""Real photographs for EfficientNet-Lite0: the test images, a disjoint calibration set, class names.

Preprocessing (DATA.md): the short side resized to 256 (PIL bilinear), a centre crop of 224,
x = (pixel - 127) / 128, RGB, NCHW float32 of shape (1, 3, 224, 224). Grey images are replicated
to three channels; RGBA is flattened to RGB.

Test images (`evaluation_photos`), labelled where a label exists:
- the 20 ImageNet validation images shipped in the foolbox 3.3.4 wheel,
  foolbox/data/imagenet_KK_LLL.jpg = class LLL (512 x 512 JPEG);
- the real photos of DATA.md that are installed: scikit-image's chelsea, coffee, rocket,
  astronaut; scikit-learn's china.jpg; matplotlib's grace_hopper.jpg. No label (-1).

Calibration images (`calibration_photos`): real photographs that are none of the above.
- `PHOTO_SOURCES`: the other colour photos scikit-image bundles (motorcycle_left/right, a stereo
  pair; hubble_deep_field; immunohistochemistry; retina), scikit-learn's flower.jpg, and
  scikit-image's grey photographs (camera, coins, brick, grass, gravel) as three equal channels.
  Each gives `views` samples: the whole image, then seeded random square crops (side 50-100% of
  the short side, anywhere in the image), each mirrored left-right with probability 1/2, then
  the standard preprocessing.
- the 40 CIFAR-10/100 images of the foolbox wheel (32 x 32 colour photos, upscaled by the same
  preprocessing), one sample each.
`check_disjoint` proves no calibration source is a test image: no equal pixels, and no
near-duplicate (16 x 16 grey thumbnails with correlation > 0.95).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .wheels import extract_from_wheel

FOOLBOX = ("foolbox", "3.3.4", "foolbox/data/")
TIMM = ("timm", "1.0.31", "timm/data/_info/")
SKIMAGE_TEST = ("chelsea", "coffee", "rocket", "astronaut")
SKIMAGE_CALIB_COLOUR = ("motorcycle_left.png", "motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png",
                        "retina.jpg")
SKIMAGE_CALIB_GREY = ("camera.png", "coins.png", "brick.png", "grass.png", "gravel.png")
NEAR_DUPLICATE = 0.95


@dataclass(frozen=True)
class Photo:
    name: str            # where it came from, as the report shows it
    pixels: np.ndarray   # (H, W, 3) uint8 RGB
    label: int = -1      # ImageNet class, -1 when unknown


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    a = np.asarray(pixels)
    if a.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 4:
        return np.ascontiguousarray(a[:, :, :3])
    if a.ndim == 3 and a.shape[2] == 3:
        return a
    raise ValueError(f"expected a grey, RGB or RGBA image, got shape {a.shape}")


def preprocess(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (1, 3, 224, 224) float32, as DATA.md prescribes."""
    from PIL import Image

    img = Image.fromarray(to_rgb(pixels))
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(256, round(w * s)), max(256, round(h * s))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    rgb = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32)
    return ((rgb - 127.0) / 128.0).transpose(2, 0, 1)[None].copy()


def _read(path: Path) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return to_rgb(np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im))


def foolbox_dir() -> Path:
    return extract_from_wheel(*FOOLBOX) / "foolbox" / "data"


def imagenet_photos() -> list[Photo]:
    files = sorted(foolbox_dir().glob("imagenet_*.jpg"))
    if len(files) != 20:
        raise FileNotFoundError(f"expected the 20 imagenet_*.jpg of foolbox {FOOLBOX[1]} in {foolbox_dir()}, "
                                f"found {len(files)}")
    return [Photo(f"foolbox/{f.name}", _read(f), int(f.stem.split("_")[2])) for f in files]


def _skimage_dir() -> Path:
    import skimage
    return Path(skimage.__file__).parent / "data"


def real_photos() -> tuple[list[Photo], list[str]]:
    """The installed real photos of DATA.md, and a note for each that is not installed."""
    photos, missing = [], []
    try:
        import skimage.data as sd
        photos += [Photo(f"skimage.data.{n}", to_rgb(getattr(sd, n)())) for n in SKIMAGE_TEST]
    except ImportError:
        missing.append("scikit-image (chelsea, coffee, rocket, astronaut)")
    for label, get in (("sklearn images/china.jpg", _sklearn_china),
                       ("matplotlib sample_data/grace_hopper.jpg", _grace_hopper)):
        try:
            photos.append(Photo(label, get()))
        except ImportError as e:
            missing.append(f"{label} ({e.name} is not installed)")
    return photos, missing


def _sklearn_china() -> np.ndarray:
    from sklearn.datasets import load_sample_image
    return to_rgb(load_sample_image("china.jpg"))


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        from PIL import Image
        return to_rgb(np.asarray(Image.open(f).convert("RGB")))


def evaluation_photos() -> tuple[list[Photo], list[str]]:
    photos, missing = real_photos()
    return imagenet_photos() + photos, missing


def calibration_sources() -> list[Photo]:
    """The calibration photographs before augmentation (see the module docstring)."""
    from sklearn.datasets import load_sample_image

    sk = _skimage_dir()
    out = [Photo(f"skimage/{n}", _read(sk / n)) for n in SKIMAGE_CALIB_COLOUR + SKIMAGE_CALIB_GREY]
    out.append(Photo("sklearn images/flower.jpg", to_rgb(load_sample_image("flower.jpg"))))
    return out


def cifar_photos() -> list[Photo]:
    files = sorted(foolbox_dir().glob("cifar*.png"))
    return [Photo(f"foolbox/{f.name}", _read(f)) for f in files]


def views(photo: Photo, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` preprocessed samples of one photo: the whole image, then random crops and mirrors."""
    out = [preprocess(photo.pixels)]
    h, w, _ = photo.pixels.shape
    for _ in range(count - 1):
        side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = photo.pixels[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(preprocess(np.ascontiguousarray(crop)))
    return out


@dataclass(frozen=True)
class CalibrationSet:
    samples: list[np.ndarray]       # (1, 3, 224, 224) float32 each
    sources: list[str]              # one line per source: name and how many samples it gave


def calibration_photos(views_per_photo: int = 8, seed: int = 0) -> CalibrationSet:
    rng = np.random.default_rng(seed)
    samples, sources = [], []
    for p in calibration_sources():
        v = views(p, views_per_photo, rng)
        samples += v
        sources.append(f"{p.name} ({p.pixels.shape[1]}x{p.pixels.shape[0]}): {len(v)}")
    cifar = cifar_photos()
    samples += [preprocess(p.pixels) for p in cifar]
    sources.append(f"foolbox/cifar10_*.png, cifar100_*.png ({len(cifar)} photos, 32x32): 1 each")
    return CalibrationSet(samples, sources)


def _thumb(pixels: np.ndarray) -> np.ndarray:
    from PIL import Image
    t = np.asarray(Image.fromarray(to_rgb(pixels)).convert("L").resize((16, 16), Image.BILINEAR), np.float64)
    t = t.ravel() - t.mean()
    return t / max(np.linalg.norm(t), 1e-9)


def check_disjoint(calibration: list[Photo], test: list[Photo]) -> None:
    """Raise ValueError if a calibration source equals, or nearly equals, a test image."""
    digest: Callable[[Photo], str] = lambda p: hashlib.sha256(p.pixels.tobytes()).hexdigest()
    test_hashes = {digest(t): t.name for t in test}
    test_thumbs = [(t.name, _thumb(t.pixels)) for t in test]
    for c in calibration:
        if digest(c) in test_hashes:
            raise ValueError(f"calibration image {c.name} is the test image {test_hashes[digest(c)]}")
        tc = _thumb(c.pixels)
        for name, tt in test_thumbs:
            if float(tc @ tt) > NEAR_DUPLICATE:
                raise ValueError(f"calibration image {c.name} nearly equals the test image {name} "
                                 f"(thumbnail correlation {float(tc @ tt):.3f})")


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (first lemma of each synset), from timm's
    wheel (not imported: only its data files are read)."""
    info = extract_from_wheel(*TIMM) / "timm" / "data" / "_info"
    synsets = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines()
                  if "\t" in line)
    return [lemmas.get(s, s).split(",")[0].strip() for s in synsets]

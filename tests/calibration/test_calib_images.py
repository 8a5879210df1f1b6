"""Calibration images: decoding, resize, crop, colour order, mean/std, layout, and image errors."""
import re

import numpy as np
import pytest
from PIL import Image

from qcomp.calibdata import load_calibration
from qcomp.errors import InputError

NCHW = {"img": ((1, 3, 6, 8), np.float32)}
NHWC = {"img": ((1, 6, 8, 3), np.float32)}


def pixels(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write(path, rgb: np.ndarray, mode: str = "RGB", **kw) -> None:
    Image.fromarray(rgb, "RGB").convert(mode).save(path, **kw)


def only(cs) -> np.ndarray:
    (feed,) = list(cs)
    return feed["img"]


@pytest.mark.parametrize("ext", ["png", "bmp"])
def test_lossless_image_exact_values_nchw(tmp_path, ext):
    rgb = pixels(6, 8)
    write(tmp_path / f"a.{ext}", rgb)
    mean, std = (10.0, 20.0, 30.0), (2.0, 4.0, 8.0)
    cs = load_calibration(tmp_path, NCHW, mean=mean, std=std)
    assert (cs.format, len(cs)) == ("images", 1)
    x = only(cs)
    assert x.shape == (1, 3, 6, 8) and x.dtype == np.float32
    expect = (rgb.astype(np.float32) - np.float32(mean)) / np.float32(std)
    np.testing.assert_array_equal(x[0], expect.transpose(2, 0, 1))


def test_bgr_and_nhwc(tmp_path):
    rgb = pixels(6, 8, seed=1)
    write(tmp_path / "a.png", rgb)
    x = only(load_calibration(tmp_path / "a.png", NHWC, color="bgr", layout="NHWC", mean=127.0, std=128.0))
    np.testing.assert_array_equal(x[0], (rgb[..., ::-1].astype(np.float32) - 127) / 128)


def test_no_normalisation_keeps_0_255(tmp_path):
    rgb = pixels(6, 8, seed=2)
    write(tmp_path / "a.png", rgb)
    np.testing.assert_array_equal(only(load_calibration(tmp_path, NHWC, layout="NHWC"))[0], rgb)


def test_resize_short_side_then_centre_crop(tmp_path):
    """A horizontal ramp: after resize (short side 12) and a centre crop the columns kept are the
    middle ones, and the values match Pillow's bilinear resize of the whole image."""
    ramp = np.broadcast_to(np.linspace(0, 255, 40).astype(np.uint8)[None, :, None], (24, 40, 3)).copy()
    write(tmp_path / "ramp.png", ramp)
    inputs = {"img": ((1, 3, 12, 10), np.float32)}
    x = only(load_calibration(tmp_path, inputs, resize=12, crop=(12, 10)))
    resized = np.asarray(Image.fromarray(ramp).resize((20, 12), Image.Resampling.BILINEAR), np.float32)
    assert resized.shape == (12, 20, 3)                               # long side int(12 * 40 / 24)
    np.testing.assert_array_equal(x[0], resized[:, 5:15].transpose(2, 0, 1))
    assert 50 < x[0, 0, 0, 0] < 90 and 170 < x[0, 0, 0, -1] < 210      # columns 10..30 of 40


def test_portrait_image_and_square_crop_int(tmp_path):
    write(tmp_path / "p.png", pixels(50, 30, seed=3))
    inputs = {"img": ((1, 3, 16, 16), np.float32)}
    assert only(load_calibration(tmp_path, inputs, resize=20, crop=16)).shape == (1, 3, 16, 16)


def test_jpeg_decodes_close_to_the_source(tmp_path):
    smooth = np.broadcast_to(np.linspace(40, 200, 8).astype(np.uint8)[None, :, None], (6, 8, 3)).copy()
    write(tmp_path / "a.jpg", smooth, quality=95)
    write(tmp_path / "b.jpeg", smooth, quality=95)
    cs = load_calibration(tmp_path, NCHW)
    assert len(cs) == 2
    for feed in cs:
        assert np.abs(feed["img"][0] - smooth.transpose(2, 0, 1)).max() < 12


def test_grayscale_input_and_uint8_input(tmp_path):
    rgb = pixels(6, 8, seed=4)
    write(tmp_path / "a.png", rgb)
    gray = np.asarray(Image.fromarray(rgb).convert("L"), np.float32)
    x = only(load_calibration(tmp_path, {"img": ((1, 1, 6, 8), np.float32)}, mean=0.5, std=255.0))
    np.testing.assert_array_equal(x[0, 0], (gray - np.float32(0.5)) / np.float32(255))
    raw = only(load_calibration(tmp_path, {"img": ((1, 6, 8, 3), np.uint8)}, layout="NHWC"))
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw[0], rgb)


def test_image_subset_is_seeded(tmp_path):
    for k in range(10):
        write(tmp_path / f"im{k}.png", np.full((6, 8, 3), k, np.uint8))
    cs = load_calibration(tmp_path, NCHW, size=4, seed=0)
    firsts = [int(f["img"][0, 0, 0, 0]) for f in cs]
    assert firsts == list(cs.indices) == sorted(np.random.default_rng(0).choice(10, 4, replace=False))


# ---- errors ------------------------------------------------------------------------------------

IMG_DESC = re.escape("'img' (shape (1, 3, 6, 8), dtype float32)")


def test_unreadable_image_is_named_when_loading(tmp_path):
    write(tmp_path / "ok.png", pixels(6, 8))
    (tmp_path / "broken.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(InputError, match=r"calibration image '.*broken.jpg' cannot be read.*" + IMG_DESC):
        load_calibration(tmp_path, NCHW)


def test_truncated_image_is_named_when_read(tmp_path):
    write(tmp_path / "a.png", pixels(60, 80))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    cs = load_calibration(tmp_path, {"img": ((1, 3, 60, 80), np.float32)})
    with pytest.raises(InputError, match=r"'.*a.png' cannot be decoded"):
        list(cs)


def test_size_mismatch_suggests_resize_and_crop(tmp_path):
    write(tmp_path / "a.png", pixels(10, 10))
    with pytest.raises(InputError, match=IMG_DESC + r": image '.*a.png' is 10x10 after preprocessing, "
                                                     r"the model takes 6x8; pass --resize and --crop"):
        list(load_calibration(tmp_path, NCHW))


def test_option_errors(tmp_path):
    write(tmp_path / "a.png", pixels(6, 8))
    cases = [
        (dict(crop=(8, 6)), "--crop 8x6 does not give the model's 6x8"),
        (dict(mean=(1.0, 2.0)), "--mean takes 1 or 3"),
        (dict(std=(1.0, 0.0, 1.0)), "--std must not contain 0"),
        (dict(resize=-3), "--resize takes a positive"),
        (dict(color="hsv"), "--color must be rgb or bgr"),
        (dict(layout="NCWH"), "layout must be NCHW or NHWC"),
        (dict(layout="NHWC"), r"8 channels in layout NHWC.*is the layout right"),
    ]
    for kw, msg in cases:
        with pytest.raises(InputError, match=msg):
            load_calibration(tmp_path, NCHW, **kw)
    with pytest.raises(InputError, match=r"--mean has 3 values but input .* has 1 channels"):
        load_calibration(tmp_path, {"img": ((1, 1, 6, 8), np.float32)}, mean=(1, 2, 3))


def test_crop_larger_than_the_resized_image(tmp_path):
    write(tmp_path / "a.png", pixels(20, 20))
    with pytest.raises(InputError, match=r"is 5x5 after resizing, smaller than --crop 6x8"):
        list(load_calibration(tmp_path, NCHW, resize=5, crop=(6, 8)))


def test_images_need_one_rank4_float_input(tmp_path):
    write(tmp_path / "a.png", pixels(6, 8))
    with pytest.raises(InputError, match="needs a single-input model, this one has 2"):
        load_calibration(tmp_path, {**NCHW, "scale": ((1,), np.float32)})
    with pytest.raises(InputError, match="images need a rank-4 input"):
        load_calibration(tmp_path, {"img": ((1, 48), np.float32)})
    with pytest.raises(InputError, match="images calibrate float inputs"):
        load_calibration(tmp_path, {"img": ((1, 3, 6, 8), np.int8)})

"""Tests of pose_estimation_ros.perception.codec (sensor_msgs/Image <-> numpy without cv_bridge)."""
import array

import cv2
import numpy as np
import pytest

from pose_estimation_ros.perception.codec import (
    ENCODINGS, ERROR_KINDS, ImageEncodingError, compressed_to_rgb8, image_to_numpy, msg_to_numpy,
    numpy_to_image_fields, to_rgb8)

H, W = 4, 6
RNG = np.random.default_rng(0)


def _random_array(encoding: str, h: int = H, w: int = W) -> np.ndarray:
    spec = ENCODINGS[encoding]
    shape = (h, w) + spec.shape_suffix
    if spec.dtype == np.float32:
        return RNG.standard_normal(shape).astype(np.float32)
    return RNG.integers(0, np.iinfo(spec.dtype).max, size=shape, endpoint=True).astype(spec.dtype)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_round_trip_every_encoding(encoding):
    arr = _random_array(encoding)
    fields = numpy_to_image_fields(arr, encoding)
    assert fields["height"] == H and fields["width"] == W and fields["encoding"] == encoding
    assert fields["step"] == W * ENCODINGS[encoding].bytes_per_pixel
    assert fields["is_bigendian"] == 0 and isinstance(fields["data"], bytes)
    out = image_to_numpy(**fields)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)
    rgb = to_rgb8(out, encoding)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "array", "ndarray"])
def test_accepts_all_buffer_types(kind):
    arr = _random_array("rgb8")
    raw = arr.tobytes()
    data = {"array": lambda b: array.array("B", b), "ndarray": lambda b: np.frombuffer(b, np.uint8)
            }.get(kind, kind)(raw)
    np.testing.assert_array_equal(image_to_numpy(H, W, "rgb8", W * 3, 0, data), arr)


def test_zero_copy_for_mutable_buffer():
    data = bytearray(H * W * 3)
    out = image_to_numpy(H, W, "rgb8", W * 3, 0, data)
    data[0] = 77
    assert out[0, 0, 0] == 77


def test_padded_step_decodes_exact_pixels():
    w, h, step = 5, 3, 16                 # rgb8 row = 15 bytes + 1 padding byte
    pixels = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3)
    raw = np.full((h, step), 255, np.uint8)
    raw[:, :15] = pixels.reshape(h, 15)
    out = image_to_numpy(h, w, "rgb8", step, 0, raw.tobytes())
    assert out.shape == (h, w, 3)
    np.testing.assert_array_equal(out, pixels)
    assert not np.any(out == 255)         # padding never leaks in
    np.testing.assert_array_equal(to_rgb8(out, "rgb8"), pixels)


def test_padded_step_mono16():
    w, h, step = 3, 2, 10                 # 6 bytes + 4 padding
    vals = np.array([[1, 2, 3], [1000, 2000, 65535]], np.uint16)
    raw = np.zeros((h, step), np.uint8)
    raw[:, :6] = vals.astype("<u2").view(np.uint8).reshape(h, 6)
    np.testing.assert_array_equal(image_to_numpy(h, w, "mono16", step, 0, raw.tobytes()), vals)


def test_big_endian_mono16_and_32fc1():
    vals = np.array([[1, 256, 258], [4660, 65535, 0]], np.uint16)
    out = image_to_numpy(2, 3, "mono16", 6, 1, vals.astype(">u2").tobytes())
    assert out.dtype == np.uint16 and out.dtype.isnative
    np.testing.assert_array_equal(out, vals)
    f = np.array([[1.5, -2.25]], np.float32)
    np.testing.assert_array_equal(image_to_numpy(1, 2, "32FC1", 8, True, f.astype(">f4").tobytes()), f)


def test_mono16_and_float_scaling_rule():
    np.testing.assert_array_equal(
        to_rgb8(np.array([[0, 255, 256, 65535]], np.uint16), "mono16")[..., 0], [[0, 0, 1, 255]])
    f = np.array([[2.0, 3.0, np.nan, 4.0]], np.float32)
    np.testing.assert_array_equal(to_rgb8(f, "32FC1")[..., 1], [[0, 128, 0, 255]])


def test_colour_order_conversions():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[...] = (10, 20, 30)
    np.testing.assert_array_equal(to_rgb8(rgb[..., ::-1].copy(), "bgr8"), rgb)
    bgra = np.dstack([rgb[..., ::-1], np.full((2, 2), 9, np.uint8)])
    np.testing.assert_array_equal(to_rgb8(bgra, "bgra8"), rgb)
    np.testing.assert_array_equal(to_rgb8(np.dstack([rgb, np.zeros((2, 2), np.uint8)]), "rgba8"), rgb)
    np.testing.assert_array_equal(to_rgb8(np.full((2, 2), 42, np.uint8), "mono8"), np.full((2, 2, 3), 42))


@pytest.mark.parametrize("encoding,code", [("yuv422", cv2.COLOR_RGB2YUV_UYVY),
                                           ("yuv422_yuy2", cv2.COLOR_RGB2YUV_YUYV)])
def test_yuv_uniform_colour(encoding, code):
    colour = (200, 100, 50)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[...] = colour
    yuv = cv2.cvtColor(rgb, code)                  # (8, 8, 2) packed 4:2:2
    fields = numpy_to_image_fields(yuv, encoding)
    out = to_rgb8(msg_to_numpy(type("M", (), fields)), encoding)
    assert np.abs(out.astype(int) - colour).max() <= 4


@pytest.mark.parametrize("encoding,pattern", [
    ("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"), ("bayer_gbrg8", "GBRG"), ("bayer_grbg8", "GRBG")])
def test_bayer_uniform_colour(encoding, pattern):
    colour = {"R": 200, "G": 100, "B": 50}
    mosaic = np.zeros((8, 8), np.uint8)
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = colour[pattern[k]]
    out = to_rgb8(image_to_numpy(8, 8, encoding, 8, 0, mosaic.tobytes()), encoding)
    inner = out[2:-2, 2:-2].astype(int)
    assert np.abs(inner - [200, 100, 50]).max() <= 2


@pytest.mark.parametrize("args,fragment", [
    ((4, 4, "rgb9", 12, 0, bytes(48)), "unsupported image encoding 'rgb9'"),
    ((0, 4, "rgb8", 12, 0, b""), "empty frame"),
    ((4, 0, "rgb8", 0, 0, b""), "empty frame"),
    ((4, 4, "rgb8", 11, 0, bytes(48)), "step 11 is smaller than one rgb8 row"),
    ((4, 4, "rgb8", 12, 0, bytes(47)), "image data has 47 bytes, expected at least"),
    ((2, 3, "yuv422", 6, 0, bytes(12)), "even width"),
    ((2, 3, "yuv422_yuy2", 6, 0, bytes(12)), "even width"),
])
def test_rejections(args, fragment):
    with pytest.raises(ImageEncodingError, match=fragment) as info:
        image_to_numpy(*args)
    assert isinstance(info.value, ValueError)


def test_unknown_encoding_lists_supported():
    with pytest.raises(ImageEncodingError, match="supported: .*rgb8"):
        image_to_numpy(1, 1, "nv12", 1, 0, b"x")


@pytest.mark.parametrize("arr,encoding,fragment", [
    (np.zeros((2, 2, 3), np.uint16), "rgb8", "needs dtype uint8"),
    (np.zeros((2, 2), np.uint8), "rgb8", r"shape \(H, W, 3\)"),
    (np.zeros((2, 2, 3), np.uint8), "mono8", r"shape \(H, W\)"),
    (np.zeros((0, 2), np.uint8), "mono8", "empty frame"),
    (np.zeros((2, 2), np.float64), "32FC1", "needs dtype float32"),
    (np.zeros((2, 3, 2), np.uint8), "yuv422", "even width"),
    (np.zeros((2, 2), np.uint8), "jpeg", "unsupported image encoding"),
])
def test_encode_rejections(arr, encoding, fragment):
    with pytest.raises(ImageEncodingError, match=fragment):
        numpy_to_image_fields(arr, encoding)


def test_msg_to_numpy_rejects_non_message():
    with pytest.raises(ImageEncodingError, match="not an image message"):
        msg_to_numpy(object())


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono16", "32FC1", "yuv422", "bayer_grbg8"])
def test_msg_to_numpy_with_sensor_msgs_image(encoding):
    from sensor_msgs.msg import Image
    arr = _random_array(encoding, 6, 8)
    msg = Image(**numpy_to_image_fields(arr, encoding))
    out = msg_to_numpy(msg)
    np.testing.assert_array_equal(out, arr)


def test_msg_to_numpy_with_padded_sensor_msgs_image():
    from sensor_msgs.msg import Image
    pixels = RNG.integers(0, 255, size=(3, 5, 3), dtype=np.uint8)
    raw = np.zeros((3, 16), np.uint8)
    raw[:, :15] = pixels.reshape(3, 15)
    msg = Image(height=3, width=5, encoding="rgb8", step=16, is_bigendian=0,
                data=array.array("B", raw.tobytes()))
    np.testing.assert_array_equal(msg_to_numpy(msg), pixels)


# ---------------------------------------------------------------- CompressedImage and error kinds
def test_compressed_png_decodes_to_the_same_pixels_and_jpeg_close():
    rgb = RNG.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", rgb[..., ::-1])
    assert ok
    np.testing.assert_array_equal(compressed_to_rgb8("png", png.tobytes()), rgb)
    smooth = cv2.GaussianBlur(rgb, (0, 0), 3)
    ok, jpg = cv2.imencode(".jpg", smooth[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = compressed_to_rgb8("rgb8; jpeg compressed bgr8", jpg.tobytes())
    assert out.shape == rgb.shape and np.abs(out.astype(int) - smooth).mean() < 3
    ok, gray = cv2.imencode(".png", rgb[..., 0])
    assert compressed_to_rgb8("", gray.tobytes()).shape == (24, 32, 3)


@pytest.mark.parametrize("fmt,data,kind", [("jpeg", b"", "decode"), ("jpeg", b"\xff\xd8 not a jpeg", "decode"),
                                           ("h264", b"1234", "encoding")])
def test_compressed_that_does_not_decode_is_a_clear_error(fmt, data, kind):
    with pytest.raises(ImageEncodingError) as e:
        compressed_to_rgb8(fmt, data)
    assert e.value.kind == kind


def test_error_kind_does_not_depend_on_byte_counts():
    """Rate-limited logging keys on the kind (issue 16, item 12): sizes vary, the kind does not."""
    kinds = set()
    for n in (10, 1000, 12345):
        with pytest.raises(ImageEncodingError) as e:
            image_to_numpy(4, 6, "rgb8", 18, 0, bytes(n % 72))
        kinds.add(e.value.kind)
        assert str(n % 72) in str(e.value)
    assert kinds == {"data"}
    with pytest.raises(ImageEncodingError) as e:
        image_to_numpy(4, 6, "rgb8", 10, 0, bytes(100))
    assert e.value.kind == "step" and set(ERROR_KINDS) >= {"encoding", "size", "step", "data", "decode"}

"""One image reader for every surface (CLI, app, catalog, server): the header is measured before anything is
decoded, Pillow decodes once, and a picture too small, too large, lying or damaged is one line (`BadInput`),
a 4xx JSON error on the server, never an internal error or gigabytes of memory."""
from __future__ import annotations

import base64
import io
import re
import time

import numpy as np
import pytest

from engine.errors import BadInput
from engine.media.frames import ImageTooLarge, decode_image_bytes, read_image


from engine.settings import Settings
from tests.helpers import BOMB, encoded, png_claiming


def test_a_lying_header_is_refused_before_any_decoding(tmp_path):
    assert len(BOMB) < 100
    path = tmp_path / "bomb.png"
    path.write_bytes(BOMB)
    for read in (lambda: read_image(path), lambda: decode_image_bytes(BOMB, "bomb.png")):
        t0 = time.perf_counter()
        with pytest.raises(ImageTooLarge, match="bomb.png is too large") as e:
            read()
        assert time.perf_counter() - t0 < 0.2 and e.value.http_status == 413


@pytest.mark.parametrize("data,needle", [
    (encoded((1, 1)), "too small (1x1 pixels)"),
    (png_claiming(4000, 3000), "damaged"),                   # a legal size, but the pixels are not there
    (encoded((640, 480), "JPEG")[:2000], "damaged"),         # cut off in the middle
    (b"this is not an image" * 20, "not an image"),
    (b"", "empty"),
], ids=["1x1", "lying-header", "truncated-jpeg", "text", "empty"])
def test_small_lying_damaged_and_non_images_are_one_line(data, needle):
    with pytest.raises(BadInput, match=re.escape(needle)) as e:
        decode_image_bytes(data, "upload.png")
    assert "\n" not in str(e.value) and e.value.http_status == 400


def test_every_format_reads_as_rgb_and_fit_decodes_small_the_right_way_up():
    from PIL import Image
    for fmt in ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"):
        rgb = decode_image_bytes(encoded((40, 30), fmt, colour=(200, 30, 30)), f"x.{fmt.lower()}")
        assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8 and rgb[5, 5, 0] > 150 > rgb[5, 5, 2]
    im = Image.new("RGB", (3000, 1000), (200, 30, 30))
    exif = im.getexif()
    exif[0x0112] = 6                                        # a phone held upright: rotate 90 degrees
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    assert decode_image_bytes(buf.getvalue()).shape == (3000, 1000, 3)
    small = decode_image_bytes(buf.getvalue(), fit=300)
    assert small.shape == (300, 100, 3) and small.flags.writeable


# ---- the server: a bad picture is a 4xx JSON error, and the model never sees it --------------------------------
class _NoModel:
    """The session behind the app: any image that reaches it is a failure of the reader."""

    def is_prepared(self, frame):
        raise AssertionError(f"a {frame.width}x{frame.height} image reached the model")

    prepare = ask = is_prepared


def _url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def api():
    from fastapi.testclient import TestClient

    from engine.serve.server import create_app
    with TestClient(create_app(_NoModel(), "fashion-tiny", settings=Settings.from_env()), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("data,status,code", [
    (encoded((1, 1)), 400, "image_unreadable"),
    (BOMB, 413, "image_too_large"),
    (png_claiming(4000, 3000), 400, "image_unreadable"),
    (encoded((5000, 4000), "JPEG"), 413, "image_too_large"),   # over the server's 4096x4096
], ids=["1x1", "60000x60000-header", "lying-header", "too-many-pixels"])
@pytest.mark.parametrize("endpoint", ["/v1/vitrine/prepare", "/v1/chat/completions"])
def test_the_api_answers_a_bad_picture_with_a_4xx_json_error(api, endpoint, data, status, code):
    if endpoint == "/v1/vitrine/prepare":
        body = {"image_url": {"url": _url(data)}}
    else:
        body = {"model": "fashion-tiny", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What colour is it?"}, {"type": "image_url", "image_url": {"url": _url(data)}}]}]}
    r = api.post(endpoint, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and "\n" not in err["message"]


# ---- the CLI's other surfaces: colours, describe and search read through the same reader ------------------------
@pytest.mark.parametrize("command", [["colors"], ["describe"], ["catalog", "search"]])
def test_colours_describe_and_search_refuse_a_bomb_in_one_line(cli, tmp_path, command):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(BOMB)
    r = cli(*command, bomb)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "bomb.png is too large" in lines[0] and "Traceback" not in r.stderr


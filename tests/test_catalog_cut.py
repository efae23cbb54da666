"""Product photos are embedded as the look's regions are: the garment on grey, whatever plain ground the photo
has (engine.media.colors.cut_background, engine.catalog.similarity.ProductSignature.vectors)."""
from __future__ import annotations

import numpy as np

from engine.catalog.similarity import ProductSignature
from engine.media.colors import cut_background

from tests.helpers import SeenEmbedder


def _photo(ground=(250, 250, 250), size=120) -> np.ndarray:
    """A red garment with white stripes on a plain ground."""
    im = np.zeros((size, size, 3), np.uint8)
    im[:] = ground
    im[20:100, 30:90] = (200, 30, 30)
    im[40:46, 36:84] = (250, 250, 250)          # a white stripe, inside the garment
    return im


def test_the_plain_ground_turns_grey_and_the_garment_keeps_its_own_white():
    out = cut_background(_photo())
    assert (out[:20] == 128).all() and (out[:, :30] == 128).all() and (out[100:] == 128).all()
    assert (out[60, 60] == (200, 30, 30)).all()
    assert (out[43, 60] == (250, 250, 250)).all()     # the stripe does not touch the border: not the ground


def test_a_white_garment_on_a_white_ground_stays_white():
    for tee in ((240, 240, 240), (232, 230, 225)):        # white and off-white, on a studio's white ground
        im = np.full((400, 300, 3), 252, np.uint8)
        im[60:360, 50:250] = tee
        im[60:70, 50:250] = im[350:360, 50:250] = (20, 30, 90)   # navy collar and hem
        im[150:220, 110:190] = (200, 30, 30)                      # a red print
        out = cut_background(im)
        assert (out[100:140, 60:240] == tee).all(), tee             # the tee is the garment, not the ground
        assert (out[:50] == 128).all() and (out[:, :40] == 128).all()
    noisy = np.random.default_rng(1).normal(235, 2.5, (400, 300, 3)).clip(0, 255).astype(np.uint8)
    noisy[60:360, 50:250] = (200, 30, 30)                 # a noisy grey ground still goes
    assert (cut_background(noisy)[:50] == 128).mean() > 0.97


def test_a_photo_without_a_plain_ground_is_left_as_it_is():
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 256, (120, 120, 3), dtype=np.uint8)
    assert cut_background(busy) is busy
    busy[:36] = (135, 206, 235)                        # a street photo: sky over the top 30%, the ring mostly busy
    busy[40:100, 40:80] = (200, 30, 30)
    assert cut_background(busy) is busy
    flat = np.full((50, 50, 3), 90, np.uint8)          # nothing stands out: no garment to cut
    assert cut_background(flat) is flat


def test_a_photo_is_embedded_with_its_ground_grey_and_a_cut_region_as_it_came():
    seen = SeenEmbedder()
    sig = ProductSignature(seen)
    photo = _photo(ground=(40, 160, 60))
    region = _photo(ground=(40, 160, 60))
    sig.vectors([photo, region], [None, np.ones(region.shape[:2], bool)])
    assert (seen.images[0][:10] == 128).all()                  # the photo: its green ground grey
    assert (seen.images[1][:10] == (40, 160, 60)).all()        # the region: its mask already said what it is
    assert "+cut" in sig.info.id                               # vectors from before are re-embedded, never mixed


def test_the_same_garment_on_two_grounds_gets_the_same_vector():
    from engine.catalog.sqlite_catalog import _default_signature
    from engine.settings import Settings
    sig = _default_signature(Settings.from_env())
    white, green = sig.vectors([_photo((250, 250, 250)), _photo((40, 160, 60))])
    assert float(white @ green) > 0.99

"""How the look ranks catalog products for a region: the cut-out squared on its own grey before it is embedded,
a product's photo colours (read back from its vector) agreeing with all of the region's colours, and the kind of
a region that can hold any garment voted by the catalog products nearest its shape."""
from __future__ import annotations

import numpy as np

from engine.catalog.base import Hit, Product
from engine.catalog.similarity import GREY, ProductSignature, on_grey_square
from engine.look.look import colour_overlap, kind_votes, rank
from engine.media.colors import NamedColor, dominant_colors

from tests.helpers import SeenEmbedder


def _shoes(h=30, w=90) -> np.ndarray:
    """A pair of red shoes filling a wide, low box (their edges touch it), cut out on grey between them."""
    im = np.full((h, w, 3), GREY, np.uint8)
    im[:, :40] = im[:, 50:] = (200, 30, 30)
    return im


def test_a_cut_region_is_squared_on_grey_not_on_its_edge_pixels():
    seen = SeenEmbedder()
    sig = ProductSignature(seen)
    region = _shoes()
    sig.vectors([region], [np.ones(region.shape[:2], bool)])
    got = seen.images[0]
    assert got.shape[:2] == (90, 90)
    assert (got[:30] == GREY).all() and (got[60:] == GREY).all()      # above and below: grey, not red streaks
    assert (got[45, 10] == (200, 30, 30)).all()                       # the shoes themselves, in the middle
    assert on_grey_square(got) is got                                 # a square is left as it is


def test_a_photo_is_not_squared_here():
    seen = SeenEmbedder()
    ProductSignature(seen).vectors([_shoes()])                        # a photo: no mask
    assert seen.images[0].shape[:2] == (30, 90)                      # the embedder letterboxes it, as before


def test_the_colour_shares_are_read_back_from_a_vector():
    sig = ProductSignature(SeenEmbedder())
    im = np.zeros((40, 40, 3), np.uint8)
    im[:, :30] = (30, 60, 200)                                        # three quarters blue, a quarter white
    im[:, 30:] = (250, 250, 250)
    mask = np.ones(im.shape[:2], bool)
    shares = sig.colour_shares(sig.vectors([im], [mask])[0])
    measured = {c.en: c.share for c in dominant_colors(im, mask)}
    assert set(shares) == set(measured) == {"blue", "white"}
    assert abs(sum(shares.values()) - 1) < 1e-5
    assert abs(shares["blue"] - 0.75) < 0.02 and abs(shares["white"] - 0.25) < 0.02
    assert ProductSignature(SeenEmbedder(), colour_weight=0).colour_shares(np.ones(4, np.float32)) == {}
    assert sig.colour_shares(np.ones(3, np.float32)) == {}           # another signature's vector: no shares
    damaged = sig.vectors([im], [mask])[0].copy()
    damaged[-1] = np.nan
    assert sig.colour_shares(damaged) == {}                           # a NaN would have won the full bonus


def test_a_hit_with_its_vector_compares_and_prints_as_before():
    product = Product("p1", "Camisa azul", {}, "p1.jpg")
    a, b = Hit(product, 0.9, np.ones(2000, np.float32)), Hit(product, 0.9, np.zeros(2000, np.float32))
    assert a == b and "vector" not in repr(a) and len(repr(a)) < 400


def test_colour_overlap():
    assert colour_overlap({"blue": 0.6, "white": 0.4}, {"blue": 0.6, "white": 0.4}) == 1.0
    assert abs(colour_overlap({"blue": 0.6, "white": 0.4}, {"blue": 1.0}) - 0.6) < 1e-9
    assert colour_overlap({"red": 1.0}, {"blue": 1.0}) == 0.0


def test_a_product_whose_photo_shows_the_regions_second_colour_ranks_first():
    """A blue-and-white striped bag: its catalog colour is "blue", as a plain blue bag's is; its photo shows the
    white too."""
    photos = {0: {"blue": 1.0}, 1: {"blue": 0.6, "white": 0.4}}
    hits = [Hit(Product(pid, f"{pid} bag", {"garment": "bag", "colour": "blue"}, ""), 0.6,
                np.array([i], np.float32)) for i, pid in enumerate(("plain", "striped"))]
    colors = [NamedColor("blue", "azul", "azul", "#2040c0", 0.6),
              NamedColor("white", "branco", "branca", "#fafafa", 0.4)]
    region = {"blue": 0.6, "white": 0.4}
    assert [m.id for m in rank(hits, colors, ("bag",), None, 2)] == ["plain", "striped"]      # a tie: as found
    ranked = rank(hits, colors, ("bag",), None, 2, shares=region, shares_of=lambda v: photos[int(v[0])])
    assert [m.id for m in ranked] == ["striped", "plain"]
    assert ranked[0].similarity == 0.6                                                        # the cosine kept
    no_vectors = [Hit(h.product, h.score) for h in hits]                                     # a search without them
    assert [m.id for m in rank(no_vectors, colors, ("bag",), None, 2, shares=region,
                               shares_of=lambda v: photos[int(v[0])])] == ["plain", "striped"]


def test_the_catalog_hands_back_each_hits_vector_when_asked(tmp_path):
    from engine.catalog.product_images import load_rgb
    from engine.catalog.products_csv import read_products_csv
    from engine.catalog.sqlite_catalog import SqliteCatalog
    from engine.settings import Settings
    from tests.helpers import small_csv
    read = read_products_csv(small_csv(tmp_path / "shop", n=4))
    cat = SqliteCatalog(tmp_path / "c", settings=Settings.from_env())
    try:
        cat.add(read.products)
        query = cat.signature.vectors([load_rgb(read.products[1].image)])[0]
        plain = cat.search_vector(query, 3)
        hits = cat.search_vector(query, 3, vectors=True)
        assert all(h.vector is None for h in plain)
        assert [h.product.id for h in hits] == [h.product.id for h in plain]
        assert hits[0].product.id == read.products[1].id
        for h in hits:
            assert h.vector.shape == (cat.signature.info.dim,)
            assert abs(float(h.vector @ query) - h.score) < 0.01      # the very vector the index holds
    finally:
        cat.close()


class _ShapeEmbedder(SeenEmbedder):
    """Features by the picture's shape alone: a wide picture (shoes) one vector, a tall one (a dress) another."""

    def embed_images(self, images):
        self.images += [np.array(im) for im in images]
        wide, tall = np.array([1.0, 0.9, 0, 0], np.float32), np.array([0.9, 1.0, 0, 0], np.float32)   # near
        return np.stack([(wide if im.shape[1] > im.shape[0] else tall) / np.linalg.norm(wide) for im in images])


def _flat(h, w, rgb):
    im = np.zeros((h, w, 3), np.uint8)
    im[:] = rgb
    return im


def test_the_shape_part_orders_products_by_their_features_alone():
    sig = ProductSignature(_ShapeEmbedder())
    yellow, blue = (230, 200, 30), (30, 60, 200)
    shoes_blue, dress_yellow = sig.vectors([_flat(30, 90, blue), _flat(90, 30, yellow)])
    region = sig.vectors([_flat(30, 90, yellow)])[0]                    # yellow shoes
    assert region @ dress_yellow > region @ shoes_blue                  # the whole vector: the colour leads
    query = sig.shape_part(region)
    assert query @ shoes_blue > query @ dress_yellow                    # the features alone: the shoes
    assert (query[-len(sig.colour_names):] == 0).all() and region[-len(sig.colour_names):].any()   # a copy
    assert (ProductSignature(SeenEmbedder(), colour_weight=0).shape_part(np.ones(4)) == 1).all()
    empty = ProductSignature(SeenEmbedder())
    empty.colour_names = ()                                             # no colour part: nothing zeroed (v[-0:])
    assert (empty.shape_part(np.ones(empty.info.dim)) == 1).all()


class _Catalog:
    """What kind_votes reads of a catalog: its signature and a search by vector."""

    def __init__(self, sig, products):
        self.signature, self.products, self.asked = sig, products, []

    def search_vector(self, vec, k=5, vectors=False):
        self.asked.append(np.array(vec))
        return [Hit(p, 0.5) for p in self.products[:k]]


def test_the_kind_is_voted_by_the_nearest_products_shapes():
    sig = ProductSignature(SeenEmbedder())
    products = [Product(f"s{i}", "Yellow shoes", {"garment": "shoes"}, "") for i in range(3)] + \
        [Product("d", "Yellow dress", {"garment": "dress"}, ""), Product("x", "A gift card", {}, "")]
    others = [Product(f"k{i}", "Blue skirt", {"garment": "skirt"}, "") for i in range(10)]     # farther away
    cat = _Catalog(sig, products + others)
    region = np.ones(sig.info.dim, np.float32)
    assert kind_votes(cat, region, n=5) == {"shoes": 0.75, "dress": 0.25}     # a product of no garment: no vote
    assert (cat.asked[0][-len(sig.colour_names):] == 0).all()                 # asked without the colour
    assert kind_votes(_Catalog(sig, []), region) == {}
    # a catalog of under 3 n products: its nearest are its whole mix, whatever the shape (the hostile read: four
    # dresses and one pair of shoes voted "dress" for the shoes); under half of the n naming a garment: no vote
    assert kind_votes(_Catalog(sig, products + others[:9]), region, n=5) == {}
    cards = [Product(f"g{i}", "A gift card", {}, "") for i in range(3)]
    assert kind_votes(_Catalog(sig, [products[3]] + cards + others + others[:1]), region, n=5) == {}


def test_a_product_shot_ranks_the_kind_its_shape_points_to():
    """Yellow shoes on a wall (no person: the region may hold any garment): a yellow dress is nearer by the whole
    vector, the shoes' neighbours by shape are shoes."""
    from engine.look.regions import ALL_GARMENTS
    hits = [Hit(Product("dress", "Yellow plain dress", {"garment": "dress", "colour": "yellow"}, ""), 0.70),
            Hit(Product("shoes", "Yellow plain shoes", {"garment": "shoes", "colour": "yellow"}, ""), 0.68)]
    colors = [NamedColor("yellow", "amarelo", "amarela", "#e6c81e", 1.0)]
    assert rank(hits, colors, ALL_GARMENTS, None, 2)[0].id == "dress"
    votes = {"shoes": 0.9, "bag": 0.1}
    assert [m.id for m in rank(hits, colors, ALL_GARMENTS, None, 2, votes=votes)] == ["shoes", "dress"]
    nearer = [Hit(hits[0].product, 0.68), Hit(hits[1].product, 0.70)]
    assert rank(nearer, colors, ALL_GARMENTS, "dress", 2, votes=votes)[0].id == "dress"  # the model's word leads


class _ShotCatalog(_Catalog):
    """A catalog where a yellow dress is nearest a region by the whole vector and shoes by its shape alone."""

    def __init__(self, sig):
        super().__init__(sig, [])
        self.dress = Product("dress", "Yellow plain dress", {"garment": "dress", "colour": "yellow"}, "")
        self.shoes = Product("shoes", "Yellow plain shoes", {"garment": "shoes", "colour": "yellow"}, "")

    def info(self):
        from types import SimpleNamespace
        return SimpleNamespace(indexed=2)

    def search_vector(self, vec, k=5, vectors=False):
        self.asked.append(np.array(vec))
        if not np.asarray(vec)[-len(self.signature.colour_names):].any():        # by shape alone
            return [Hit(self.shoes, 0.9)] * k
        return [Hit(self.dress, 0.70), Hit(self.shoes, 0.68)][:k]


def test_the_look_votes_the_kind_of_a_box_the_clerk_drew():
    from engine.look.look import look_at
    from engine.look.regions import Box
    from engine.media.frames import Frame
    rgb = _flat(120, 160, (185, 182, 172))
    rgb[40:80, 30:130] = (230, 200, 30)                                  # yellow shoes on a wall
    cat = _ShotCatalog(ProductSignature(SeenEmbedder()))
    look = look_at(Frame(rgb, "shot.png"), cat, boxes=[Box(20, 30, 120, 60)])
    assert [m.id for m in look.items[0].matches] == ["shoes", "dress"]
    assert len(cat.asked) == 2                                           # the nearest products, then by shape

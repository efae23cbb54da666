"""The catalog as the app, the CLI and the server use it: ``Catalog`` (a chain could later put a shared server
behind it) and the records it answers with. engine/catalog/sqlite_catalog.py is the embedded default."""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from engine.catalog.products_csv import CatalogProduct

# (stage label, done, total or None)
ProgressFn = Callable[[str, int, "int | None"], None]


@dataclass
class Product:
    id: str
    title: str
    attributes: dict[str, str]
    image: str
    thumbnail: bytes | None = None          # a small JPEG, so results show even when the image moved

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "attributes": self.attributes, "image": self.image}


@dataclass
class Hit:
    product: Product
    score: float                            # cosine similarity, 1 = the same
    # the product's signature vector, when the search was asked for it (not compared or printed: 1000+ numbers)
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {**self.product.to_dict(), "score": round(self.score, 4)}


@dataclass
class AddReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    indexed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)     # (id, why): rows of the CSV not added
    failed: list[tuple[str, str]] = field(default_factory=list)      # (id, why): added, but its image unreadable

    def to_dict(self) -> dict:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "indexed": self.indexed,
                "skipped": [{"id": i, "why": w} for i, w in self.skipped],
                "failed": [{"id": i, "why": w} for i, w in self.failed]}


@dataclass
class IndexReport:
    indexed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)      # (id, why) of this run

    def to_dict(self) -> dict:
        return {"indexed": self.indexed, "failed": [{"id": i, "why": w} for i, w in self.failed]}


@dataclass
class FailedProduct:
    id: str
    image: str
    reason: str
    at: float                               # when it failed (seconds since the epoch)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class CatalogInfo:
    path: str
    products: int
    indexed: int
    pending: int
    failed: int                             # image unreadable: `vitrine catalog show --failed`
    image_embedder: str
    text_embedder: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


class Catalog(ABC):
    @abstractmethod
    def add(self, products: list[CatalogProduct], progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> AddReport: ...

    @abstractmethod
    def index(self, reindex: bool = False, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None) -> IndexReport: ...

    @abstractmethod
    def failed(self) -> list[FailedProduct]: ...

    @abstractmethod
    def remove(self, ids: Iterable[str]) -> int: ...

    @abstractmethod
    def get(self, product_id: str) -> Product | None: ...

    @abstractmethod
    def search_image(self, rgb: np.ndarray, k: int = 5, mask: np.ndarray | None = None) -> list[Hit]: ...

    @abstractmethod
    def search_text(self, query: str, k: int = 5) -> list[Hit]: ...

    @abstractmethod
    def info(self) -> CatalogInfo: ...

    def outdated(self) -> bool:
        """Its vectors were built another way (another image embedder, or a Vitrine update that embeds the photos
        differently): searching refuses them until ``index(reindex=True)`` rebuilds them from the products' images."""
        return False

    def close(self) -> None:
        pass

"""Model families on the runtime side: what differs per family, one module each (adding a family = adding a module).

A family module defines ``FAMILY = Family(...)``; the registry finds every module of this package. The GGUF
backend, the store (which family is this projector?) and the CLI ask the registry, never an if-chain.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class SingleView:
    """How to keep only the overview when libmtmd also emits slices (one tile on the CPU, ``--tiles 1``).

    ``overview``: where libmtmd puts the overview image among the image chunks ("first" or "last").
    ``drop_before``: text tokens to drop just before the kept overview when it comes last (the slice's opening).
    ``skip_between``: text tokens between the images to skip before the kept text resumes (a separator).
    ``keep_after``: with the overview first, text tokens kept right after it (its closing tag).
    ``drop_tail``: with the overview first, tokens dropped from the text after the last slice (its closing).
    """
    overview: str
    drop_before: int = 0
    skip_between: int = 0
    keep_after: int = 0
    drop_tail: int = 0


@dataclass(frozen=True)
class Family:
    name: str                          # the manifest's "family"
    about: str
    projector_types: tuple[str, ...]   # clip.projector_type values of its mmproj GGUF
    languages: tuple[str, ...] = ("en",)  # "multi": answers in the question's language itself
    chat_handler: str = "mtmd"         # "mtmd": the GGUF's own chat template; "minicpmv": llama-cpp-python's
    image_prefix: str = ""             # text the prompt writes before the image (libmtmd does not)
    single_view: SingleView | None = None
    tested: bool = True                # exercised end to end by the tests (models list says so otherwise)


@cache
def families() -> dict[str, Family]:
    out = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        fam = getattr(module, "FAMILY", None)
        if isinstance(fam, Family):
            out[fam.name] = fam
    return out


def get(name: str) -> Family | None:
    return families().get(name)


def for_projector(projector_type: str) -> Family | None:
    """The family whose vision projector GGUF says ``clip.projector_type = projector_type``."""
    for fam in families().values():
        if projector_type in fam.projector_types:
            return fam
    return None

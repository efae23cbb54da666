"""Loading llama-cpp-python the same way everywhere: OpenMP that spins briefly then sleeps, and its C logs in Python
logging."""
from __future__ import annotations

import ctypes
import logging
import os

from engine.errors import VitrineError

log = logging.getLogger("vitrine.llama")
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.DEBUG, 4: logging.DEBUG, 5: logging.DEBUG}
_callback = None


def in_native_callback(frame) -> bool:
    """Is ``frame`` (or a caller of it) our log callback, i.e. Python running inside a llama.cpp call?

    An exception raised there is printed and swallowed by ctypes while the C call goes on: a Ctrl-C handler
    must not raise in it (see engine.cli.interrupt).
    """
    code = getattr(_callback, "code", None)
    while frame is not None and code is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def import_llama_cpp():
    """Import ``llama_cpp`` (and its mtmd bindings) ready for a shared CPU.

    OMP_WAIT_POLICY must be set before libgomp loads: with the default busy-waiting, decode collapsed from
    23 to 1.4 tok/s whenever another process used the other core (measured, see DESIGN.md); a short spin count
    (GOMP_SPINCOUNT, which libgomp prefers to the policy) keeps two threads quick without that collapse.
    """
    global _callback
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        # a waiting thread spins briefly (~20 us) before it sleeps: two decode threads then run at 0.96x of
        # llama-bench's two, where sleeping at once gave 37 tok/s; the backend leaves two threads when they slow
        # down (engine/runtime/backends/decode_threads.py)
        os.environ["GOMP_SPINCOUNT"] = "20000"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
        import llama_cpp.mtmd_cpp as mtmd
    except ImportError as e:
        raise VitrineError(f"llama-cpp-python is not installed or does not load ({e}): run `bash .ci/install`") from None
    if _callback is None:
        def _to_logging(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s", text.decode("utf-8", errors="replace").rstrip())

        _callback = llama_cpp.llama_log_callback(_to_logging)   # keep a reference: C holds a pointer to it
        _callback.code = _to_logging.__code__
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
        mtmd.mtmd_log_set(_callback, ctypes.c_void_p(0))
        mtmd.mtmd_helper_log_set(_callback, ctypes.c_void_p(0))
    return llama_cpp, mtmd

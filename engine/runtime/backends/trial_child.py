"""The child process of a model's trial run (engine.models.trial starts it): load the model under the limits it is
given, encode a small image, decode a few tokens, and report on stdout. A crash here is the parent's evidence."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine.devices import Device, resolve
from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.models.manifest import Manifest
from engine.models.trial import MARK, TRIAL_TOKENS
from engine.runtime.backends import GenerationOptions, backend_for_manifest


def _limit_memory(nbytes: int) -> None:
    """POSIX: cap the address space, so a damaged model's huge allocation fails here instead of swapping the
    machine. Windows has no RLIMIT_AS: there only the time limit applies."""
    if os.name != "posix" or not nbytes:
        return
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        nbytes = min(nbytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, hard))


def _child(job: dict) -> dict:
    # the runtime loads here, after main() has capped the address space: the cap covers its libraries too
    import time

    import numpy as np

    t0 = time.perf_counter()
    manifest = Manifest.from_dict(job["manifest"], "the model under trial")
    # on the CPU, where every runtime's encoder can run: the check is of the model's files, not of a device
    backend = backend_for_manifest(manifest, Path(job["folder"]), threads=1, tiles=1, placement=resolve(Device.CPU))
    try:
        pixels = np.random.RandomState(0).randint(0, 255, (48, 64, 3), dtype=np.uint8)
        image = backend.encode(Frame(pixels, "trial"))
        stats = backend.generate(image, "What is this?", GenerationOptions(max_tokens=TRIAL_TOKENS, ban_eos=True))
    finally:
        backend.close()
    return {"tokens": int(stats.n_tokens), "seconds": round(time.perf_counter() - t0, 3)}


def main() -> int:
    job = json.loads(sys.stdin.read())
    _limit_memory(int(job.get("memory") or 0))
    try:
        report = _child(job)
    except VitrineError as e:
        report = {"error": str(e)}
    except MemoryError:
        report = {"error": "it ran out of the memory allowed for the check (its settings are damaged, or it is too "
                           "large for this computer)"}
    print(MARK + json.dumps(report), flush=True)
    return 0 if "error" not in report else 2


if __name__ == "__main__":
    sys.exit(main())

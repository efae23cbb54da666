"""`vitrine models pull`: a profile's files from a hub (the real one, or any server in its layout) into the store,
verified, resumable, converted or timed where the profile says so."""
from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from engine.devices import available_mb
from engine.errors import VitrineError
from engine.files import sha256_file
from engine.models.download import RemoteFile, Unreachable, download, hub_files
from engine.models.manifest import FileEntry, Manifest, contained
from engine.models.profiles import (CHECKPOINT_SUFFIXES, PROFILES, ConvertFn, MeasureFn, Profile, ProgressFn, RepoFile,
                                    by_hand, profile_for, quant_from_name)
from engine.models.store import InstalledModel, ModelStore, describe_gguf_pair, trial_before_install

log = logging.getLogger(__name__)


def pull(store: ModelStore, name: str, hub_url: str, progress: ProgressFn | None = None,
         convert: ConvertFn | None = None, measure_encoders: MeasureFn | None = None) -> InstalledModel:
    """Download a profile's files from a hub (the real one, or any server in its layout); resumable.

    Sizes and sha256 come from the hub's API (or its ETags); nothing is installed that was not verified.
    A profile with no published GGUF (``convert_to``) downloads the checkpoint and converts it with
    ``convert``; the download is kept until the conversion succeeds, so a failed conversion never downloads
    again. A hybrid profile times its two vision encoders with ``measure_encoders`` (the runtime's, given by
    the caller: the store does not import the runtime).
    """
    if name not in PROFILES:
        raise VitrineError(f"unknown model {name!r}: choose one of {', '.join(PROFILES)} "
                           "(or import your own files with `vitrine models import`)")
    prof = profile_for(name, available_mb())
    if prof.name != name:
        log.warning("%s peaks at %d MB and %.0f MB is free: pulling %s instead (%s)", name,
                    PROFILES[name].peak_mb, available_mb() or 0, prof.name, prof.about)
        name = prof.name
    if prof.runtime == "hybrid" and measure_encoders is None:
        raise VitrineError(f"{name} times its vision encoders when it is pulled: pull it with `vitrine models "
                           "pull`, which gives the store the runtime's timer")
    if prof.convert_to and convert is None:
        raise VitrineError(f"{name} is converted after download, which needs Vitrine's export tools: install "
                           "Vitrine whole (`bash .ci/install`)")
    with store.changing(f"pull {name}"):
        try:
            wanted = plan_pull(name, hub_url)
            staging = store.root / f".{name}.pulling"    # kept between attempts: .part files resume
            staging.mkdir(parents=True, exist_ok=True)
            files = {}
            for want, expected in wanted:
                role = want.role
                dest = contained(staging, want.local)
                # a file left whole by an earlier attempt is kept only if it matches what the hub states
                digest = expected.sha256 if dest.exists() and _still_good(dest, expected) else None
                if digest is None:
                    dest.unlink(missing_ok=True)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    url = f"{hub_url.rstrip('/')}/{want.repo}/resolve/{want.revision}/{want.path}"
                    cb = (lambda done, total, _r=role: progress(f"download {_r}", done, total)) \
                        if progress else None
                    digest = download(url, dest, expected, cb)     # hashed once, while verifying
                files[role] = FileEntry(want.local, digest, dest.stat().st_size)
        except Unreachable as e:
            raise VitrineError(f"{e}: {by_hand(prof)}") from None
        if prof.convert_to:
            return _convert_pulled(store, prof, staging, convert, progress)
        if prof.runtime == "embedder":
            m = Manifest(name=name, runtime="embedder", family=prof.family, files=files,
                         languages=list(prof.languages), source=f"{prof.repo}@{prof.revision}")
            return store.install_staging(name, staging, m)
        family, handler, langs = describe_gguf_pair(staging / prof.files["model"], staging / prof.files["mmproj"])
        # the GGUF pair runs once before anything else loads it in this process (the hybrid's timing does)
        pair = Manifest(name=name, runtime="gguf", family=family, files={r: files[r] for r in ("model", "mmproj")},
                        chat_handler=handler, languages=list(prof.languages))
        try:
            trial_before_install(staging, pair, progress)
        except VitrineError:
            shutil.rmtree(staging, ignore_errors=True)     # verified against the hub, and still unusable
            raise
        extra = {}
        if prof.runtime == "hybrid":
            if progress:
                progress("timing both vision encoders on this machine", 0, None)
            extra["vision"] = measure_encoders(staging / prof.files["model"], staging / prof.files["mmproj"],
                                                      staging / files["vision"].path)
            # what the timer made for the chosen encoder (OpenVINO's int8 model, or the float graph rebuilt
            # from the published int8 one) is the model's too: listed, hashed, verified like the rest
            for role, made in extra["vision"].pop("made", {}).items():
                rel = (Path(files["vision"].path).parent / made).as_posix()
                files[role] = FileEntry(rel, sha256_file(staging / rel), (staging / rel).stat().st_size)
            log.info("%s: %s", name, extra["vision"]["why"])
        sources = sorted({f"{w.repo}@{w.revision}" for w in prof.more} | {f"{prof.repo}@{prof.revision}"})
        m = Manifest(name=name, runtime=prof.runtime, family=family, files=files, chat_handler=handler,
                     languages=list(prof.languages), quant=quant_from_name(prof.files["model"]),
                     source=" + ".join(sources), extra=extra)
        return store.install_staging(name, staging, m)


def plan_pull(name: str, hub_url: str) -> list[tuple[RepoFile, RemoteFile]]:
    """What a pull of profile ``name`` downloads, with what the hub states about each file; a name the hub's
    listing lacks is refused here, before any download."""
    prof = PROFILES[name]
    remote = hub_files(hub_url, prof.repo, prof.revision)
    wanted = [RepoFile(role, prof.repo, f, f, prof.revision)
              for role, f in _wanted_files(prof, remote, hub_url).items()]
    listings = {(prof.repo, prof.revision): remote}
    for extra in prof.more:
        key = (extra.repo, extra.revision)
        if key not in listings:
            listings[key] = hub_files(hub_url, extra.repo, extra.revision)
        if listings[key] and extra.path not in listings[key]:
            raise VitrineError(f"{extra.path} is not in {extra.repo} on {hub_url}: the hub's copy of the "
                               "model changed; update Vitrine, or import the files by hand")
        wanted.append(extra)
    return [(w, listings[(w.repo, w.revision)].get(w.path, RemoteFile(w.path))) for w in wanted]


def _wanted_files(prof: Profile, remote: dict[str, RemoteFile], hub_url: str) -> dict[str, str]:
    """role -> file name: a GGUF profile's two files, or every checkpoint file the hub lists."""
    if not prof.convert_to:
        missing = [f for f in prof.files.values() if remote and f not in remote]
        if missing:
            raise VitrineError(f"{missing[0]} is not in {prof.repo} on {hub_url}: the hub's copy of the model "
                               "changed; update Vitrine, or import the files by hand")
        return dict(prof.files)
    if not remote:
        raise VitrineError(f"{hub_url} does not list the files of {prof.repo} (no hub API), which a checkpoint "
                           "download needs: use a mirror with the Hugging Face API, or download it by hand and "
                           "run `vitrine export gguf`")
    names = sorted(f for f in remote if f.endswith(CHECKPOINT_SUFFIXES) and "/" not in f)
    if "config.json" not in names or not any(f.endswith(".safetensors") for f in names):
        raise VitrineError(f"{prof.repo} on {hub_url} has no config.json and .safetensors weights: it is not a "
                           "transformers checkpoint Vitrine can convert")
    if "tokenizer.json" not in names and "tokenizer.model" not in names:
        raise VitrineError(f"{prof.repo} on {hub_url} has neither tokenizer.json nor tokenizer.model: the "
                           "conversion needs one of them; update Vitrine, or convert it by hand")
    # sharded weights (model-00001-of-00002.safetensors ...): every shard and the index that names them
    shards = [re.fullmatch(r"(.+)-(\d{5})-of-(\d{5})\.safetensors", f) for f in names]
    for m in filter(None, shards):
        base, total = m.group(1), int(m.group(3))
        need = [f"{base}-{i:05d}-of-{total:05d}.safetensors" for i in range(1, total + 1)]
        need.append(f"{base}.safetensors.index.json")
        missing = [f for f in need if f not in names]
        if missing:
            raise VitrineError(f"{prof.repo} on {hub_url} lists {m.group(0)} but not {missing[0]}: the hub's "
                               "copy is incomplete; try again later, or convert a complete copy by hand")
    return {f: f for f in names}


def _convert_pulled(store: ModelStore, prof: Profile, checkpoint: Path, convert: ConvertFn,
                    progress: ProgressFn | None) -> InstalledModel:
    """Convert a downloaded checkpoint (held under the store lock) and install the result by rename."""
    out = store.root / f".{prof.name}.converted"
    shutil.rmtree(out, ignore_errors=True)
    n = [0]

    def step(label: str) -> None:
        n[0] += 1
        if progress:
            progress(f"convert: {label}", n[0], None)
    convert(checkpoint, out, prof.convert_to, prof.name, step)
    manifest = Manifest.load(out)
    bad = manifest.problems(out)
    if bad:
        raise VitrineError(f"the conversion of {prof.name} is incomplete ({bad[0]}): run the same command again")
    manifest.name, manifest.source = prof.name, f"{prof.repo}@{prof.revision} (converted here)"
    try:
        trial_before_install(out, manifest, progress)
    except VitrineError:
        shutil.rmtree(out, ignore_errors=True)      # the downloaded checkpoint stays: no second download
        raise
    installed = store.install_staging(prof.name, out, manifest)
    shutil.rmtree(checkpoint, ignore_errors=True)      # the checkpoint is only needed again to re-convert
    return installed


def _still_good(path: Path, expected: RemoteFile) -> bool:
    """Does a file left by an earlier pull attempt match the size and sha256 the hub states?"""
    if expected.size is not None and path.stat().st_size != expected.size:
        return False
    return expected.sha256 is not None and sha256_file(path) == expected.sha256

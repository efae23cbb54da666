"""Vitrine's GGUF export behaves the same in llama.cpp's own tools: the fine-tuned fixture asked through
`llama-mtmd-cli` (built from the llama.cpp source that .ci/install keeps, .ci/build-llama-mtmd-cli) gives
`vitrine ask`'s answers, greedy, on the same images and questions, and stops where Vitrine stops.

The export carries what the tool needs (export/families/idefics3.py ``gguf_metadata``: the chat template that
renders Vitrine's prompt, the projector's one-tile preprocessing). libmtmd still adds a 1x1 grid's slice before
the overview, which no key removes; the fine-tuning learns that layout too (export/training/data.py ``GridView``,
every other example). `--jinja` is what a user passes: without
it llama-mtmd-cli ignores the GGUF's template for a built-in one (README, "llama.cpp's own tools").
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.settings import Settings
from tests.fixtures import models

ROOT = Path(__file__).resolve().parents[1]
ROWS = 24
AGREE = 20        # the bar: the same answer on at least 20 synthetic test rows
MAX_TOKENS = 24


def _sdist() -> Path:
    from export.convert.gguf import _wheel_cache, llama_cpp_version
    return _wheel_cache() / "src" / f"llama_cpp_python-{llama_cpp_version()}.tar.gz"


@pytest.fixture(scope="module")
def mtmd_cli() -> Path:
    if not _sdist().is_file():
        pytest.skip(f"no {_sdist()}: llama-mtmd-cli is built from the llama-cpp-python source package that "
                    "`bash .ci/install` keeps")
    r = subprocess.run(["bash", str(ROOT / ".ci" / "build-llama-mtmd-cli")], capture_output=True, text=True,
                       timeout=3600)
    assert r.returncode == 0, r.stderr[-2000:]
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.is_file(), r.stdout
    return path


@pytest.fixture(scope="module")
def synthetic_rows(tmp_path_factory):
    """English test rows of a synthetic set drawn with another seed than the fine-tuning's (unseen images)."""
    from engine.evaluation.qa_set import read_set
    from export.datasets.build import BuildOptions, synth
    out = tmp_path_factory.mktemp("llama-tools") / "set"
    synth(out, 120, BuildOptions(min_count=1, balance=1000, langs=("en",), seed=11, describe=False), size=128)
    qa = read_set(str(out / "test.jsonl"))
    rows = [r for r in qa.rows if r.attribute in ("colour", "garment", "pattern")][:ROWS]
    assert len(rows) == ROWS
    return qa, rows


def mtmd_answer(cli: Path, folder: Path, image: Path, question: str) -> tuple[str, bool]:
    """llama-mtmd-cli's greedy answer and whether it stopped on its own (before ``MAX_TOKENS``)."""
    import re
    manifest = models_manifest(folder)
    cmd = [str(cli), "-m", str(folder / manifest["files"]["model"]["path"]),
           "--mmproj", str(folder / manifest["files"]["mmproj"]["path"]), "--image", str(image), "-p", question,
           "--jinja", "--temp", "0", "-n", str(MAX_TOKENS), "-t", "1", "-c", "2048", "--no-warmup",
           "-lv", "4"]       # verbosity 4 prints llama.cpp's timings, which count the answer's tokens
    # llama.cpp's logger writes on its own thread and is not flushed at exit (common/log.cpp: "logs may be lost"):
    # now and then the run ends before the answer (stdout goes through it too) or the timings are written. The
    # timings are its last lines, so a run whose stderr has them printed everything; another run is asked otherwise.
    for _ in range(10):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        if "graphs reused" in r.stderr:
            break
    else:
        raise AssertionError(f"llama-mtmd-cli's output was cut short 10 times: {r.stderr[-2000:]}")
    # "eval time = ... / N runs": one run per answer token it wrote; one that never stops writes MAX_TOKENS
    runs = re.search(r"\beval time =.*?/\s*(\d+) runs", r.stderr)
    assert runs, r.stderr[-2000:]
    return r.stdout.strip(), int(runs.group(1)) < MAX_TOKENS


def models_manifest(folder: Path) -> dict:
    import json
    return json.loads((folder / "vitrine-model.json").read_text())


@dataclass(frozen=True)
class Answers:
    question: str
    ours: str            # `vitrine ask`: one view (libmtmd's overview; its slice dropped)
    ours_sliced: str     # Vitrine with libmtmd's slice kept: the views llama-mtmd-cli evaluates
    theirs: str          # llama-mtmd-cli
    stopped: bool        # llama-mtmd-cli stopped on its own


def vitrine_answers(folder: Path, qa, rows, keep_slice: bool) -> list[str]:
    """What `vitrine ask` answers, each question on its own (as one llama-mtmd-cli call asks it); with
    ``keep_slice`` libmtmd's 1x1 grid slice stays before the overview, as in llama.cpp's own tools."""
    from PIL import Image

    from engine.media.frames import Frame
    from engine.runtime.backends import GenerationOptions, load_backend
    from engine.runtime.backends.gguf_images import MtmdImages
    from engine.runtime.session import AskOptions, Session
    one_view = MtmdImages._single_view
    if keep_slice:
        MtmdImages._single_view = lambda self, steps: steps
    try:
        settings = Settings.from_env()
        session = Session(load_backend(str(folder), threads=2, settings=settings), settings=settings)   # as `vitrine ask`
        try:
            out = []
            for row in rows:
                image = qa.image_path(row)
                frame = Frame(rgb=np.asarray(Image.open(image).convert("RGB")), source=str(image))
                ours = session.ask(frame, row.question,
                                   AskOptions(GenerationOptions(max_tokens=MAX_TOKENS), remember=False))
                assert not ours.truncated, (row.question, ours.text)
                out.append(ours.text.strip())
            return out
        finally:
            session.close()
    finally:
        MtmdImages._single_view = one_view


@pytest.fixture(scope="module")
def answers(mtmd_cli, synthetic_rows) -> list[Answers]:
    qa, rows = synthetic_rows
    folder = models.fashion_export("gguf")
    ours, sliced = vitrine_answers(folder, qa, rows, False), vitrine_answers(folder, qa, rows, True)
    return [Answers(row.question, a, b, *mtmd_answer(mtmd_cli, folder, qa.image_path(row), row.question))
            for row, a, b in zip(rows, ours, sliced)]


def test_llama_mtmd_cli_answers_as_vitrine_does(answers):
    """At least AGREE of the ROWS answers equal, every one stopped. Measured: 23 of 24 with the export's
    metadata on the fixture that learned both layouts (22 before it did; 88 and 85 of 96), 8 of 24 without it (17 views, a space in the prompt; 2 of 20 and run-on answers in the issue's
    trial)."""
    assert all(a.stopped for a in answers), f"llama-mtmd-cli did not stop: {[a for a in answers if not a.stopped]}"
    same = [a for a in answers if a.ours == a.theirs]
    assert len(same) >= AGREE, \
        f"{len(same)} of {len(answers)} agree; differing: {[a for a in answers if a.ours != a.theirs]}"


def test_the_slice_is_all_that_differs(answers):
    """Vitrine keeping libmtmd's slice answers exactly as llama-mtmd-cli on every row: the prompt (the GGUF's
    template) and the overview are the same, so a row that differs above differs by the slice alone (measured:
    24 of 24 here where 23 of 24 above)."""
    differ = [a for a in answers if a.ours_sliced != a.theirs]
    assert not differ, f"{len(differ)} of {len(answers)} differ with the same views: {differ}"


@pytest.mark.parametrize("marker", ["<__media__>", "<__media_r4nd0m__>"])
def test_the_gguf_template_renders_vitrines_prompt_from_llama_cpps_messages(marker):
    """llama-mtmd-cli and llama-server hand the template the image as a marker in string content; the GGUF's
    template writes it where transformers' template writes an image part (no space after "User:"), and renders
    transformers' typed messages exactly as the checkpoint's own template does."""
    from engine.runtime.backends.chat_layout import _environment
    from export.families.idefics3 import CHAT_TEMPLATE, GGUF_CHAT_TEMPLATE
    env = _environment()
    ours, theirs = env.from_string(GGUF_CHAT_TEMPLATE), env.from_string(CHAT_TEMPLATE)
    typed = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What color?"}]},
             {"role": "assistant", "content": [{"type": "text", "text": "red"}]},
             {"role": "user", "content": [{"type": "text", "text": "And the pattern?"}]}]
    for n in (1, 3):
        assert ours.render(messages=typed[:n], add_generation_prompt=True) == \
            theirs.render(messages=typed[:n], add_generation_prompt=True)
    vitrine = theirs.render(messages=typed[:1], add_generation_prompt=True).replace("<image>", marker)
    assert ours.render(messages=[{"role": "user", "content": marker + "What color?"}],
                       add_generation_prompt=True) == vitrine == \
        f"<|im_start|>User:{marker}What color?<end_of_utterance>\nAssistant:"
    assert ours.render(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True) == \
        "<|im_start|>User: hi<end_of_utterance>\nAssistant:"


def test_the_export_writes_the_template_llama_cpps_tools_read(tiny_gguf):
    from engine.models.gguf_file import check_gguf
    from export.families.idefics3 import GGUF_CHAT_TEMPLATE
    manifest = models_manifest(tiny_gguf)
    info = check_gguf(tiny_gguf / manifest["files"]["model"]["path"], "model")
    assert info.metadata["tokenizer.chat_template"] == GGUF_CHAT_TEMPLATE
    proj = check_gguf(tiny_gguf / manifest["files"]["mmproj"]["path"], "mmproj")
    # not fine-tuned here: the base model's own preprocessing (4 tiles' longest edge) stays
    assert proj.metadata["clip.vision.preproc_image_size"] == 4 * proj.metadata["clip.vision.image_size"]


def test_fine_tuning_also_learns_the_grid_llama_cpp_makes_of_one_tile(tiny_checkpoint):
    """libmtmd always gives an Idefics3 image a 1x1 grid's slice before the overview: every other example is
    learned that way, the same tile as both views, with the same answer labels."""
    import torch

    from engine import families
    from export.training.data import Encoder
    reference = families.get("idefics3").reference
    processor = reference.load_processor(tiny_checkpoint)
    enc = Encoder(reference, processor, tile=64)
    tok = processor.tokenizer
    tile = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    one = dict(reference.inputs(processor, tile, "What color is it?"))
    prompt = one.pop("input_ids")[0].tolist()
    one.pop("attention_mask")
    grid_prompt, grid_images = enc.grid.apply(prompt, one)
    text = tok.decode(grid_prompt)
    n = prompt.count(enc.grid.image)
    assert text.count("<image>") == 2 * n
    assert ("User:<fake_token_around_image><row_1_col_1>" + "<image>" * n + "\n\n<fake_token_around_image>"
            "<global-img>" + "<image>" * n + "<fake_token_around_image>What color is it?") in text
    assert torch.equal(grid_images["pixel_values"][:, 0], grid_images["pixel_values"][:, 1])
    # a batch of both layouts pads the one-view example with an all-zero image, which the model drops
    a = {"input_ids": torch.tensor([prompt]), "attention_mask": torch.ones(1, len(prompt), dtype=torch.long),
         "labels": torch.tensor([prompt]), **one}
    b = {"input_ids": torch.tensor([grid_prompt]), "attention_mask": torch.ones(1, len(grid_prompt), dtype=torch.long),
         "labels": torch.tensor([grid_prompt]), **grid_images}
    batch = enc.collate([a, b])
    assert batch["pixel_values"].shape[:2] == (2, 2) and not batch["pixel_values"][0, 1].any()

"""`vitrine finetune`: answer-only loss, LoRA where it belongs, checkpoints that survive, resume, merge, bad input."""
import errno
import json

import pytest

from engine.settings import Settings
from export.training.finetune import finetune
from export.training.merge import merge
from export.training.options import FinetuneOptions
from export.training.run_file import read_run
from tests.helpers import run_cli
from tests.helpers import assert_one_line_error


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    from export.datasets.build import BuildOptions, synth
    out = tmp_path_factory.mktemp("ftsets") / "synth"
    synth(out, 40, BuildOptions(describe=False), size=64)
    return out


QUICK = FinetuneOptions(epochs=1, batch_size=4, max_steps=6, attributes=("colour",), lr=1e-3, translated=False)


def test_loss_is_on_the_answer_and_stop_token_only(tiny_checkpoint, small_set):
    from engine import families
    from export.training.data import IGNORE, Encoder, examples, read_split
    ref = families.get("idefics3").reference
    processor = ref.load_processor(tiny_checkpoint)
    enc = Encoder(ref, processor, 64)
    ex = examples(read_split(small_set, "train"), ("en",), ("colour",))[0]
    item = enc.encode(ex)
    ids, labels = item["input_ids"][0].tolist(), item["labels"][0].tolist()
    tok = processor.tokenizer
    prompt = ref.inputs(processor, enc.frame_tile(ex), ex.question)["input_ids"][0].tolist()
    assert ids[:len(prompt)] == prompt                              # the runtime's exact prompt comes first
    assert labels[:len(prompt)] == [IGNORE] * len(prompt)           # every prompt and image token is ignored
    image_id = tok.convert_tokens_to_ids("<image>")
    assert image_id in prompt and all(lab == IGNORE for i, lab in zip(ids, labels) if i == image_id)
    learned = [lab for lab in labels if lab != IGNORE]
    assert learned[-1] == tok.convert_tokens_to_ids("<end_of_utterance>")      # it learns to stop
    assert tok.decode(learned[:-1]).strip() == ex.answer


@pytest.mark.parametrize("family", ["idefics3", "minicpmv4_6", "llava"])
def test_a_conversation_is_learned_as_the_runtime_asks_it(family, small_set):
    """Questions about one image become one conversation: the first turn is the runtime's prompt, each later turn
    is exactly what the GGUF runtime appends for a follow-up, and every answer (with its stop token) is learned."""
    from transformers import AutoConfig

    from engine import families
    from engine.runtime.backends import load_backend
    from engine.runtime.backends.chat_layout import Exchange
    from export.training.data import IGNORE, Encoder, conversations, examples, read_split
    from tests.fixtures import models
    ckpt = models.tiny_checkpoint(family)
    ref = families.get(family).reference
    processor = ref.load_processor(ckpt)
    enc = Encoder(ref, processor, ref.tile_size(AutoConfig.from_pretrained(ckpt)), family == "minicpmv4_6")
    assert enc.conversations
    rows = examples(read_split(small_set, "train"), ("en",))
    chat = next(c for c in conversations(rows, 3, seed=1) if len(c) == 3)
    item = enc.encode_conversation(chat)
    ids, labels = item["input_ids"][0].tolist(), item["labels"][0].tolist()
    first = enc.encode(chat[0])
    assert ids[:len(first["input_ids"][0]) - 1] == first["input_ids"][0].tolist()[:-1]   # the runtime's prompt
    tok = processor.tokenizer
    learned = [t for t in labels if t != IGNORE]
    assert learned.count(enc.eos_id) == 3 and labels[-1] == enc.eos_id          # each answer ends with a stop
    answers, part = [], []
    for t in learned:
        if t == enc.eos_id:
            answers.append(tok.decode(part).strip())
            part = []
        else:
            part.append(t)
    assert answers == [e.answer for e in chat]
    with load_backend(str(models.tiny_gguf("Q8_0", "f16", family=family)), threads=2,
                      settings=Settings.from_env()) as b:
        one = b.conversation_ids((), chat[0].question) + b.tokens(b.layout.answer_lead + chat[0].answer)
        runtime = b.conversation_ids(tuple(Exchange(e.question, e.answer) for e in chat[:2]), chat[2].question)
        runtime = runtime[len(one):] + b.tokens(b.layout.answer_lead + chat[2].answer) + [enc.eos_id]
        later = ids[len(first["input_ids"][0]) - 1:]
        if family == "llava":    # sentencepiece: llama.cpp starts a word after "</s>" ("▁USER"), transformers not
            assert "".join(tok.decode(later).split()) == "".join(
                b._llm.detokenize(runtime, special=True).decode().split())
        else:
            assert later == runtime          # later turns: token for token what the runtime adds


def test_lora_trains_adapters_only_and_merge_writes_a_plain_checkpoint(tiny_checkpoint, small_set, tmp_path):
    import torch
    from safetensors.torch import load_file
    run = tmp_path / "run"
    info = finetune(small_set, tiny_checkpoint, run, QUICK, settings=Settings.from_env())
    assert info.status == "finished" and info.step == 6
    names = load_file(str(run / "checkpoints" / info.last / "trainable.safetensors")).keys()
    assert names and all("lora_" in n and ".text_model.layers." in n for n in names)   # vision frozen
    assert any("self_attn.q_proj" in n for n in names) and any("mlp.down_proj" in n for n in names)
    merged = merge(run)
    base = load_file(str(tiny_checkpoint / "model.safetensors"))
    tuned = load_file(str(merged / "model.safetensors"))
    assert set(base) == set(tuned)                                  # plain: no adapter weights left
    vision = [k for k in base if "vision_model" in k]
    assert all(torch.equal(base[k], tuned[k]) for k in vision)
    assert any(not torch.equal(base[k], tuned[k]) for k in base if "text_model.layers" in k)
    from engine.runtime.backends.reference import open_checkpoint
    backend = open_checkpoint(merged, threads=1)                    # loads like any checkpoint
    assert backend is not None


def test_vision_and_projector_flags_make_them_trainable(tiny_checkpoint, small_set, tmp_path):
    from safetensors.torch import load_file
    run = tmp_path / "run"
    finetune(small_set, tiny_checkpoint, run, FinetuneOptions(**{**QUICK.__dict__, "max_steps": 2, "vision": True,
                                                                   "projector": True}), settings=Settings.from_env())
    names = load_file(str(next((run / "checkpoints").glob("step-*")) / "trainable.safetensors")).keys()
    assert any("vision_model" in n for n in names) and any("connector" in n for n in names)


def test_an_interrupted_run_resumes_from_its_checkpoint(tiny_checkpoint, small_set, tmp_path):
    run = tmp_path / "run"

    def ctrl_c_at_step_4(p):
        if p.step == 4:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        finetune(small_set, tiny_checkpoint, run, QUICK, on_progress=ctrl_c_at_step_4, settings=Settings.from_env())
    info = read_run(run)
    assert info.status == "stopped" and info.step == 4 and info.last == "step-000004"
    resumed = finetune(small_set, tiny_checkpoint, run, QUICK, resume=True, settings=Settings.from_env())
    assert resumed.status == "finished" and resumed.step == 6
    assert [h["step"] for h in resumed.history][-2:] == [4, 6]


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tiny_checkpoint, small_set, tmp_path, monkeypatch):
    import safetensors.torch

    from engine.errors import VitrineError
    run = tmp_path / "run"
    real = safetensors.torch.save          # the checkpoint's weights go through it, then Python's own write
    saved = {"n": 0}

    def full_on_second(tensors, *a, **k):
        saved["n"] += 1
        if saved["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(tensors, *a, **k)
    monkeypatch.setattr(safetensors.torch, "save", full_on_second)
    with pytest.raises(VitrineError, match="disk is full"):
        finetune(small_set, tiny_checkpoint, run, FinetuneOptions(**{**QUICK.__dict__, "evals_per_epoch": 100}),
                 settings=Settings.from_env())
    kept = [d.name for d in (run / "checkpoints").iterdir()]
    assert kept == [read_run(run).last] == ["step-000001"]     # the first checkpoint, whole; no staging left
    monkeypatch.setattr(safetensors.torch, "save", real)
    assert merge(run).is_dir()


def test_save_checkpoint_turns_a_full_disk_into_one_line(tiny_checkpoint, tmp_path, monkeypatch):
    import safetensors.torch
    import torch

    from export.training.checkpoints import save_checkpoint
    from engine.errors import VitrineError

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(safetensors.torch, "save", full)
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    with pytest.raises(VitrineError, match="disk is full.*--resume"):
        save_checkpoint(tmp_path, "step-000001", model, opt, {"step": 1})
    assert not list((tmp_path / "checkpoints").iterdir())          # no half-written checkpoint


def test_finetune_mistakes_get_one_line(tiny_checkpoint, small_set, tmp_path):
    from tests.fixtures.baselines import build_blip
    bad = [
        (["finetune", small_set, "--base", build_blip(tmp_path / "blip"), "--out", tmp_path / "a"], "export supports"),
        (["finetune", small_set, "--base", tiny_checkpoint, "--out", tmp_path / "b", "--attributes", "fabric"],
         "no questions to learn"),
        (["finetune", tmp_path / "nope", "--base", tiny_checkpoint, "--out", tmp_path / "c"], "not a question set"),
        (["finetune", "merge", tiny_checkpoint], "not a fine-tuning run"),
        (["finetune", small_set, "--out", tmp_path / "d", "--resume"], "not a fine-tuning run"),
        (["finetune", small_set, "--base", tiny_checkpoint, "--out", tmp_path / "e", "--mix-ratio", "0.2"],
         "--mix-ratio needs --mix"),
        (["finetune", small_set, "--base", tmp_path / "missing", "--out", tmp_path / "f"], "base checkpoint not found"),
    ]
    for args, needle in bad:
        r = run_cli(*args)
        assert_one_line_error(r, needle)


def test_missing_images_and_an_empty_split_get_one_line(tiny_checkpoint, small_set, tmp_path):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(small_set, broken)
    shutil.rmtree(broken / "images")
    assert_one_line_error(run_cli("finetune", broken, "--base", tiny_checkpoint, "--out", tmp_path / "r1"),
                          "images are missing")
    empty = tmp_path / "empty"
    shutil.copytree(small_set, empty)
    (empty / "train.jsonl").write_text("")
    assert_one_line_error(run_cli("finetune", empty, "--base", tiny_checkpoint, "--out", tmp_path / "r2"),
                          "has no questions")


def test_cli_trains_merges_and_the_export_takes_it(tiny_checkpoint, small_set, tmp_path):
    run = tmp_path / "run"
    r = run_cli("finetune", small_set, "--base", tiny_checkpoint, "--out", run, "--epochs", "1", "--max-steps", "3",
                "--batch-size", "4", "--no-translated", "--merge")
    assert r.returncode == 0, r.stderr
    assert "finished after 3 of 3 steps" in r.stdout and (run / "merged" / "config.json").is_file()
    assert json.loads((run / "merged" / "vitrine-finetune.json").read_text())["checkpoint"].startswith("step-")
    again = run_cli("finetune", small_set, "--base", tiny_checkpoint, "--out", run)
    assert_one_line_error(again, "--resume")
    r = run_cli("export", "gguf", run / "merged", "--out", tmp_path / "gguf", "--quant", "Q8_0")
    assert r.returncode == 0, r.stderr


def test_the_multi_gpu_path_runs_transformers_trainer_on_the_same_batches(tiny_checkpoint, small_set, tmp_path):
    """`accelerate launch -m export.training.trainer` (here one CPU process) trains the same LoRA setup."""
    from export.training.trainer import main
    main([str(small_set), str(tiny_checkpoint), str(tmp_path / "out"), "--max-steps", "2", "--batch-size", "4"])
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("family", ["llava", "minicpmv4_6"])
def test_lora_runs_and_merges_for_the_other_families(family, small_set, tmp_path):
    """TinyLLaVA and MiniCPM-V 4.6 (tiny, random): LoRA on their language model, answer-only labels, a merged
    checkpoint their family's reference loads."""
    from safetensors.torch import load_file

    from engine.runtime.backends.reference import open_checkpoint
    from tests.fixtures.models import tiny_checkpoint
    run = tmp_path / "run"
    info = finetune(small_set, tiny_checkpoint(family), run, FinetuneOptions(**{**QUICK.__dict__, "max_steps": 2}),
                    settings=Settings.from_env())
    assert info.status == "finished"
    names = load_file(str(run / "checkpoints" / info.last / "trainable.safetensors")).keys()
    assert names and all("lora_" in n and "language_model" in n for n in names)
    assert open_checkpoint(merge(run), threads=1) is not None

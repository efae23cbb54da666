"""`vitrine finetune`: teach a VLM a store's fashion questions with LoRA, resumably, then merge it into a plain
checkpoint that `vitrine export gguf|onnx` takes as it is.

By default LoRA adapters go on every linear projection of the language model's layers (attention and MLP), the
vision tower stays frozen and the projector too; ``vision`` / ``projector`` train those fully, ``train="full"``
trains every parameter (what a tiny random model needs: it has nothing to adapt). The loss is on the answer
tokens and the stop token only (finetune_data.py).

A run lives in one folder:
- ``run.json``: base checkpoint, data, options, history (loss per epoch), best and last checkpoint; rewritten
  atomically after every checkpoint;
- ``checkpoints/step-N/``: the trainable weights (safetensors), the optimizer, the data position; written in a
  staging folder and renamed, so a crash or a full disk leaves the previous checkpoint whole. The best (lowest
  validation loss) and the last are kept;
- ``merged/`` (``merge``): the base with the best weights folded in, with its processor and tokenizer.
An interrupted run (Ctrl-C, a crash) continues from its last checkpoint with ``resume=True``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import VitrineError, os_error_message
from engine.files import write_text_atomic
from engine.text_files import check_fields, read_json
from export.families import ExportFamily, for_checkpoint
from export.training.data import Encoder, Example, batches, conversations, examples, read_split

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
KIND = "vitrine-finetune"
TRAINABLE = "trainable.safetensors"


@dataclass(frozen=True)
class FinetuneOptions:
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-4
    lr_vision: float | None = None      # learning rate of the vision tower and projector when trained (default: lr)
    train: str = "lora"                 # "lora": adapters on the language model; "full": every parameter
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    vision: bool = False                # train the vision tower too
    projector: bool = False             # train the projector / connector too
    attributes: tuple[str, ...] = ()    # only questions about these (empty: all)
    langs: tuple[str, ...] = ()         # question languages learned as they are (empty: the family's own)
    translated: bool = True             # English-only model: learn Portuguese questions as the app translates them
    mix: str = ""                       # a general question set (.jsonl / folder) mixed in against forgetting
    mix_ratio: float = 0.0              # share of each batch drawn from ``mix``
    conversation: int = 3               # questions about one image learned as one conversation of up to N turns
    patience: int = 2                   # stop after this many epochs without a better validation loss
    val_limit: int = 512                # validation questions per evaluation (the first N)
    max_minutes: float | None = None    # stop (checkpointed, resumable) after this long
    max_steps: int | None = None        # the schedule ends after this many steps (default: the epochs')
    evals_per_epoch: int = 1            # validation + checkpoint this many times per epoch
    seed: int = 0
    threads: int | None = None
    device: str = "auto"                # "auto": a GPU when one is present, else the CPU

    @classmethod
    def from_dict(cls, d: dict, **override) -> "FinetuneOptions":
        """Options as run.json keeps them (lists back to tuples), with ``override`` applied."""
        try:
            return cls(**{**d, "attributes": tuple(d.get("attributes", ())), "langs": tuple(d.get("langs", ())),
                          **override})
        except TypeError as e:          # run.json edited or from another version: a field this one lacks
            raise VitrineError(f"the run's options do not fit this Vitrine ({e}): start a new run") from None

    def check(self) -> "FinetuneOptions":
        if self.train not in ("lora", "full"):
            raise VitrineError(f"--train {self.train!r}: choose lora or full")
        if self.epochs < 1 or self.batch_size < 1 or self.evals_per_epoch < 1:
            raise VitrineError("--epochs, --batch-size and --evals-per-epoch must be at least 1")
        if not 0 < self.lr < 1:
            raise VitrineError(f"--lr {self.lr}: give a learning rate such as 2e-4")
        if not 0 <= self.mix_ratio < 1:
            raise VitrineError(f"--mix-ratio {self.mix_ratio}: give a share between 0 and 1 (0.2: a fifth)")
        if self.mix_ratio and not self.mix:
            raise VitrineError("--mix-ratio needs --mix (a general question set to mix in)")
        if self.conversation < 1:
            raise VitrineError("--conversation must be at least 1 (1: every question on its own)")
        if self.lora_r < 1:
            raise VitrineError("--lora-r must be at least 1")
        return self


@dataclass
class Progress:
    """What a progress bar shows, after every step."""
    step: int
    total: int
    loss: float
    val_loss: float | None
    epoch: int


@dataclass
class RunInfo:
    base: str
    family: str
    data: str
    options: dict
    kind: str = KIND
    status: str = "running"             # running, stopped (resumable), finished, early-stopped
    step: int = 0
    total_steps: int = 0
    examples: int = 0
    trainable_params: int = 0
    best: dict = field(default_factory=dict)       # {"step", "val_loss", "checkpoint"}
    last: str = ""                                 # the last checkpoint's folder name
    history: list = field(default_factory=list)    # [{"epoch", "step", "train_loss", "val_loss", "minutes"}]
    minutes: float = 0.0


def read_run(folder: Path) -> RunInfo:
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise VitrineError(f"{folder} is not a fine-tuning run (no {RUN_FILE}): give the --out folder of "
                           "`vitrine finetune`")
    fix = "give the --out folder of a `vitrine finetune` run, or start a new one"
    data = read_json(path, fix)
    if data.get("kind") != KIND:
        raise VitrineError(f"{path} is not a Vitrine fine-tuning run (no \"kind\": \"{KIND}\"): {fix}")
    return RunInfo(**check_fields(data, RunInfo, str(path), f"the run file is damaged: {fix}"))


def _write_run(folder: Path, info: RunInfo) -> None:
    write_text_atomic(folder / RUN_FILE, json.dumps(asdict(info), indent=2))


# ---------------------------------------------------------------------- the model
def _device(name: str):
    import torch
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise VitrineError(f"--device {name!r}: use auto, cpu or cuda") from None


def prepare_model(base: Path, family: ExportFamily, opts: FinetuneOptions):
    """The base model with what ``opts`` trains made trainable (LoRA adapters or every parameter)."""
    import torch
    from transformers import AutoModelForImageTextToText
    model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch.float32)
    modules = dict(model.named_modules())
    for part in (family.language_module, family.vision_module, family.projector_module):
        if part not in modules:
            raise VitrineError(f"{base.name}: no {part} in this {family.name} checkpoint (an unexpected layout)")
    if opts.train == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model
    prefix = family.language_module + ".layers."
    targets = [n for n, m in modules.items() if n.startswith(prefix) and isinstance(m, torch.nn.Linear)]
    config = LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                        target_modules=targets)
    model = get_peft_model(model, config)
    inner = model.get_base_model()
    for flag, part in ((opts.vision, family.vision_module), (opts.projector, family.projector_module)):
        if flag:
            for p in inner.get_submodule(part).parameters():
                p.requires_grad_(True)
    return model


def trainable_state(model) -> dict:
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, path: Path) -> None:
    from safetensors.torch import load_file
    state = load_file(str(path))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != names:
        raise VitrineError(f"{path.parent.name} does not match this run's model (other options or base): start "
                           "a new run")
    model.load_state_dict(state, strict=False)


# ---------------------------------------------------------------------- checkpoints
def _save_checkpoint(folder: Path, name: str, model, optimizer, state: dict) -> None:
    import errno

    import torch
    from safetensors.torch import save

    from engine.files import OutputKind, atomic_folder
    try:
        with atomic_folder(folder / "checkpoints" / name, OutputKind.TRAINING_CHECKPOINT) as staging:
            # every byte through Python's own file writes: a full disk is then OSError(ENOSPC) for both files
            # (given a path, torch.save reports it as a bare RuntimeError: "unexpected pos")
            with open(staging / TRAINABLE, "wb") as f:
                f.write(save(trainable_state(model)))
            with open(staging / "optimizer.pt", "wb") as f:
                torch.save(optimizer.state_dict(), f)
            (staging / "state.json").write_text(json.dumps(state), encoding="utf-8")
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise VitrineError(f"the disk is full: checkpoint {name} was not saved (the previous one is intact); "
                               f"free some space and continue with --resume") from None
        raise VitrineError(f"{os_error_message(e, f'saving checkpoint {name}')} (checkpoint not saved; the "
                           "previous one is intact)") from None


def _read_state(checkpoint: Path) -> dict:
    state = read_json(checkpoint / "state.json", "the checkpoint is damaged: start a new run")
    if not all(isinstance(state.get(k), int) and not isinstance(state.get(k), bool) and state[k] >= 0
               for k in ("step", "since_best")):
        raise VitrineError(f"{checkpoint / 'state.json'}: \"step\" and \"since_best\" must be whole numbers: the "
                           "checkpoint is damaged: start a new run")
    return state


def _prune(folder: Path, keep: set[str]) -> None:
    for d in (folder / "checkpoints").glob("step-*"):
        if d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)


def _check_out(out: Path, resume: bool) -> RunInfo | None:
    from engine.files import OutputKind, OutputState, check_output
    if resume:
        info = read_run(out)
        if not info.last:
            raise VitrineError(f"{out} has no checkpoint to resume from yet: start it again without --resume")
        return info
    if check_output(out, OutputKind.FINETUNE_RUN) is OutputState.OURS:      # a run is continued, never replaced
        raise VitrineError(f"{out} already holds a fine-tuning run: continue it with --resume, or choose another "
                           "--out")
    return None


# ---------------------------------------------------------------------- training
def _batch(encoder: Encoder, chats: list[list[Example]], device) -> dict:
    return {k: v.to(device) for k, v in encoder.collate([encoder.encode_conversation(c) for c in chats]).items()}


def _val_loss(model, encoder: Encoder, val: list[list[Example]], batch_size: int, device) -> float:
    """Mean loss per answer token over ``val`` (conversations)."""
    import torch
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for b in batches(val, batch_size, seed=0):
            batch = _batch(encoder, b, device)
            n = int((batch["labels"][:, 1:] != -100).sum())
            total += float(model(**batch).loss) * n
            tokens += n
    model.train()
    return total / max(tokens, 1)


def _param_groups(model, family: ExportFamily, opts: FinetuneOptions) -> list[dict]:
    """The vision tower and projector may learn at their own rate (a random tower needs a faster one)."""
    vision_prefixes = tuple(f"{m}." for m in (family.vision_module, family.projector_module))
    groups: dict[bool, list] = {False: [], True: []}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups["lora_" not in name and name.removeprefix("base_model.model.").startswith(vision_prefixes)].append(p)
    return [{"params": groups[False], "lr": opts.lr},
            {"params": groups[True], "lr": opts.lr_vision or opts.lr}]


def _schedule(optimizer, total: int, last_step: int = 0):
    """Warm-up, stable, decay: a short linear warm-up, the full rate, then a linear decay to a tenth over the
    last fifth of the steps (a cosine over the whole run learned the synthetic garments far more slowly: the
    rate was already low when the shapes began to be learned)."""
    import torch
    warm, decay = max(1, total // 30), max(1, total // 5)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        left = total - step
        return 1.0 if left > decay else 0.1 + 0.9 * max(0, left) / decay
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: factor(step + last_step))


def _translator_for(family: ExportFamily, langs: tuple[str, ...], opts: FinetuneOptions):
    """The app's translator when an English-only model will be asked Portuguese questions through it."""
    if not opts.translated or "pt" in langs or "multi" in family.languages:
        return None
    from engine.language.translate import load_translator
    return load_translator()


def finetune(data: Path, base: Path, out: Path, opts: FinetuneOptions = FinetuneOptions(), resume: bool = False,
             on_progress: Callable[[Progress], None] | None = None) -> RunInfo:
    """Train (or continue training) a run in ``out``; returns its run.json. Checkpoints after every validation;
    Ctrl-C checkpoints and stops (resumable)."""
    data, base, out = Path(data).resolve(), Path(base).resolve(), Path(out).resolve()
    previous = _check_out(out, resume)
    import torch
    if previous is not None:           # a resumed run keeps its own base, data and options
        base, data = Path(previous.base), Path(previous.data)
        opts = FinetuneOptions.from_dict(previous.options, threads=opts.threads, max_minutes=opts.max_minutes,
                                         device=opts.device)
    opts = opts.check()
    family = for_checkpoint(base)
    if not data.is_dir():
        raise VitrineError(f"{data} is not a question set folder: build one with `vitrine dataset build` or "
                           "`vitrine dataset synth`")
    langs = opts.langs or tuple(x for x in family.languages if x != "multi")
    train_set = read_split(data, "train")
    train = examples(train_set, langs, opts.attributes, _translator_for(family, langs, opts))
    if not train:
        raise VitrineError(f"{data}/train.jsonl has no questions to learn"
                           + (f" about {', '.join(opts.attributes)}" if opts.attributes else "")
                           + f" in {', '.join(langs)}: check the set's summary.md")
    val_set = read_split(data, "val", required=False)
    val = examples(val_set, langs, opts.attributes)[:opts.val_limit] if val_set else []
    if not val:        # no validation split: hold out every 20th training question
        val, train = train[::20][:opts.val_limit], [e for i, e in enumerate(train) if i % 20]
    mix: list[Example] = []
    if opts.mix:
        from engine.evaluation.qa_set import read_set
        general = read_set(opts.mix)
        mix = [Example(r, general, r.question, r.answers[0]) for r in general.rows if r.lang in langs]
        if not mix:
            raise VitrineError(f"--mix {opts.mix} has no questions")
    try:
        train_set.load_rgb(train[0].row)
    except VitrineError as e:
        raise VitrineError(f"{e}: the set's images are missing (set.json names where they are)") from None

    torch.manual_seed(opts.seed)
    torch.set_num_threads(opts.threads or os.cpu_count() or 2)
    device = _device(opts.device)
    model = prepare_model(base, family, opts).to(device)
    from engine import families as runtime_families
    reference = runtime_families.get(family.name).reference
    processor = reference.load_processor(base)
    encoder = Encoder(reference, processor, reference.tile_size(model.config), family.packed_pixels)
    turns = opts.conversation if encoder.conversations else 1
    val_chats = conversations(val, turns, seed=0)
    mix_chats = [[e] for e in mix]
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(_param_groups(model, family, opts), lr=opts.lr, weight_decay=0.0)
    n_chats = len(conversations(train, turns, seed=0))
    steps_per_epoch = math.ceil(n_chats / max(1, opts.batch_size - round(opts.batch_size * opts.mix_ratio)))
    total = steps_per_epoch * opts.epochs
    if opts.max_steps:
        total = min(total, opts.max_steps)
    scheduler = _schedule(optimizer, total)
    eval_every = max(1, steps_per_epoch // opts.evals_per_epoch)

    if previous is not None:
        info = previous
        ck = out / "checkpoints" / info.last
        load_trainable(model, ck / TRAINABLE)
        optimizer.load_state_dict(torch.load(ck / "optimizer.pt", map_location=device))
        state = _read_state(ck)
        scheduler = _schedule(optimizer, total, last_step=state["step"])
        log.info("resuming %s from %s (step %d of %d)", out.name, info.last, state["step"], total)
    else:
        from engine.files import OutputKind, mark_output
        out.mkdir(parents=True, exist_ok=True)
        mark_output(out, OutputKind.FINETUNE_RUN)
        info = RunInfo(base=str(base), family=family.name, data=str(data), options=asdict(opts))
        state = {"step": 0, "since_best": 0}
    info.status, info.total_steps, info.examples = "running", total, len(train)
    info.trainable_params = sum(p.numel() for p in params)
    _write_run(out, info)
    log.info("%s: %d questions, %d trainable parameters, %d steps", out.name, len(train), info.trainable_params,
             total)

    step, since_best = state["step"], state["since_best"]
    t0, minutes0 = time.perf_counter(), info.minutes
    running, val_loss = None, info.best.get("val_loss")
    model.train()

    def checkpoint(status: str) -> float:
        nonlocal since_best
        name = f"step-{step:06d}"
        v = _val_loss(model, encoder, val_chats, opts.batch_size, device)
        better = not info.best or v < info.best["val_loss"]
        since_best = 0 if better else since_best + 1
        _save_checkpoint(out, name, model, optimizer, {"step": step, "since_best": since_best})
        if better:
            info.best = {"step": step, "val_loss": v, "checkpoint": name}
        info.last, info.step, info.status = name, step, status
        info.minutes = minutes0 + (time.perf_counter() - t0) / 60
        info.history.append({"epoch": round(step / steps_per_epoch, 2), "step": step,
                             "train_loss": running, "val_loss": v, "minutes": round(info.minutes, 2)})
        _write_run(out, info)
        _prune(out, {info.best["checkpoint"], name})
        log.info("step %d: validation loss %.4f%s", step, v, " (best)" if better else "")
        return v

    try:
        while step < total:
            epoch = step // steps_per_epoch
            seed = opts.seed * 1000 + epoch
            plan = batches(conversations(train, turns, seed), opts.batch_size, seed=seed, mix=mix_chats,
                           mix_ratio=opts.mix_ratio)
            plan = (plan * 2)[:steps_per_epoch]     # conversations vary in length: every epoch has the same steps
            for b in plan[step - epoch * steps_per_epoch:]:
                batch = _batch(encoder, b, device)
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                value = loss.item()
                running = value if running is None else 0.9 * running + 0.1 * value
                if on_progress:
                    on_progress(Progress(step, total, running, val_loss, epoch + 1))
                out_of_time = opts.max_minutes and (time.perf_counter() - t0) / 60 >= opts.max_minutes
                if step % eval_every == 0 or step % steps_per_epoch == 0 or step == total or out_of_time:
                    val_loss = checkpoint("running")
                    if since_best >= opts.patience * opts.evals_per_epoch:
                        info.status = "early-stopped"
                        _write_run(out, info)
                        log.info("validation loss has not improved for %d evaluations: stopping", since_best)
                        return info
                    if out_of_time:
                        info.status = "stopped"
                        _write_run(out, info)
                        return info
                if step >= total:
                    break
    except KeyboardInterrupt:
        if step > (int(info.last[5:]) if info.last else 0):
            checkpoint("stopped")
        raise
    info.status = "finished"
    _write_run(out, info)
    return info


# ---------------------------------------------------------------------- merge
def merge(run: Path, out: Path | None = None, which: str = "best") -> Path:
    """Fold a run's best (or last) weights into its base and write a plain checkpoint (default: RUN/merged)."""
    from engine.files import MARKER, OutputKind, atomic_folder, check_output
    run = Path(run).resolve()
    dest = Path(out).resolve() if out else run / "merged"
    check_output(dest, OutputKind.MERGED, inputs=(run,))     # before the model loads
    info = read_run(run)
    name = info.best.get("checkpoint") if which == "best" else info.last
    if not name or not (run / "checkpoints" / name / TRAINABLE).is_file():
        raise VitrineError(f"{run} has no saved checkpoint yet: train it (or --resume it) first")
    base = Path(info.base)
    if not (base / "config.json").is_file():
        raise VitrineError(f"the run's base checkpoint {base} is gone: put it back to merge")
    family = for_checkpoint(base)
    opts = FinetuneOptions.from_dict(info.options, device="cpu")
    model = prepare_model(base, family, opts)
    load_trainable(model, run / "checkpoints" / name / TRAINABLE)
    if opts.train == "lora":
        model = model.merge_and_unload()
    for p in model.parameters():
        p.requires_grad_(False)
    with atomic_folder(dest, OutputKind.MERGED, inputs=(run, base)) as tmp:
        model.save_pretrained(tmp)
        for f in base.iterdir():       # processor, tokenizer, chat template, generation config: the base's
            if f.is_file() and not f.name.endswith((".safetensors", ".bin")) and f.name not in (
                    "config.json", "model.safetensors.index.json", "vitrine-synthetic.json", MARKER):
                shutil.copy2(f, tmp / f.name)
        (tmp / "vitrine-finetune.json").write_text(json.dumps(
            {"run": str(run), "checkpoint": name, "base": str(base), "val_loss": info.best.get("val_loss")}))
    log.info("merged %s (%s) into %s", run.name, name, dest)
    return dest

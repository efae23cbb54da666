"""`vitrine finetune`: teach a VLM a store's fashion questions with LoRA, resumably, then merge it into a plain
checkpoint that `vitrine export gguf|onnx` takes as it is.

By default LoRA adapters go on every linear projection of the language model's layers (attention and MLP), the
vision tower stays frozen and the projector too; ``vision`` / ``projector`` train those fully, ``train="full"``
trains every parameter (what a tiny random model needs: it has nothing to adapt). The loss is on the answer
tokens and the stop token only (data.py).

A run lives in one folder: ``run.json`` (run_file.py), ``checkpoints/step-N/`` (checkpoints.py) and ``merged/``
(merge.py). This module is the training loop; options.py what it is asked, model.py what it trains.
An interrupted run (Ctrl-C, a crash) continues from its last checkpoint with ``resume=True``.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from engine import families as runtime_families
from engine.errors import VitrineError
from engine.evaluation.qa_set import read_set
from engine.files import OutputKind, mark_output
from engine.language.translate import load_translator
from engine.settings import Settings
from export.families import ExportFamily, for_checkpoint
from export.training.checkpoints import TRAINABLE, check_out, prune, read_state, save_checkpoint
from export.training.data import Encoder, Example, batches, conversations, examples, read_split
from export.training.model import load_trainable, prepare_model, torch_device
from export.training.options import FinetuneOptions, Progress
from export.training.run_file import RunInfo, write_run

log = logging.getLogger(__name__)


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


def _translator_for(family: ExportFamily, langs: tuple[str, ...], opts: FinetuneOptions, settings: Settings):
    """The app's translator when an English-only model will be asked Portuguese questions through it."""
    if not opts.translated or "pt" in langs or "multi" in family.languages:
        return None
    return load_translator(settings=settings)


def finetune(data: Path, base: Path, out: Path, opts: FinetuneOptions = FinetuneOptions(), resume: bool = False,
             on_progress: Callable[[Progress], None] | None = None, *, settings: Settings) -> RunInfo:
    """Train (or continue training) a run in ``out``; returns its run.json. Checkpoints after every validation;
    Ctrl-C checkpoints and stops (resumable). ``settings``: the caller's, read once at its entry point (the
    translator that turns Portuguese questions into the English model's is loaded from them)."""
    data, base, out = Path(data).resolve(), Path(base).resolve(), Path(out).resolve()
    previous = check_out(out, resume)
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
    train = examples(train_set, langs, opts.attributes, _translator_for(family, langs, opts, settings))
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
    device = torch_device(opts.device)
    model = prepare_model(base, family, opts).to(device)
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
        state = read_state(ck)
        scheduler = _schedule(optimizer, total, last_step=state["step"])
        log.info("resuming %s from %s (step %d of %d)", out.name, info.last, state["step"], total)
    else:
        out.mkdir(parents=True, exist_ok=True)
        mark_output(out, OutputKind.FINETUNE_RUN)
        info = RunInfo(base=str(base), family=family.name, data=str(data), options=asdict(opts))
        state = {"step": 0, "since_best": 0}
    info.status, info.total_steps, info.examples = "running", total, len(train)
    info.trainable_params = sum(p.numel() for p in params)
    write_run(out, info)
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
        save_checkpoint(out, name, model, optimizer, {"step": step, "since_best": since_best})
        if better:
            info.best = {"step": step, "val_loss": v, "checkpoint": name}
        info.last, info.step, info.status = name, step, status
        info.minutes = minutes0 + (time.perf_counter() - t0) / 60
        info.history.append({"epoch": round(step / steps_per_epoch, 2), "step": step,
                             "train_loss": running, "val_loss": v, "minutes": round(info.minutes, 2)})
        write_run(out, info)
        prune(out, {info.best["checkpoint"], name})
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
                        write_run(out, info)
                        log.info("validation loss has not improved for %d evaluations: stopping", since_best)
                        return info
                    if out_of_time:
                        info.status = "stopped"
                        write_run(out, info)
                        return info
                if step >= total:
                    break
    except KeyboardInterrupt:
        if step > (int(info.last[5:]) if info.last else 0):
            checkpoint("stopped")
        raise
    info.status = "finished"
    write_run(out, info)
    return info

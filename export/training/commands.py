"""`vitrine finetune DATA --base CKPT --out RUN`, `vitrine finetune merge RUN` and `vitrine finetune prove`
(registered by export.commands; torch, transformers and peft load only when run)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from engine.errors import Cancelled, VitrineError
from export.training.options import FinetuneOptions

# Every `vitrine` call builds every command group's parser: the training loop, the merge and the proof (0.5 s
# before torch) load when their command runs.


def _bar(total: int | None, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, leave=True)


def _progress():
    """A tqdm bar that shows loss, validation loss and the ETA; it learns the total from the first report."""
    state = {"bar": None, "run": None}

    def report(p) -> None:
        bar = state["bar"]
        if bar is None or bar.total != p.total or p.step < bar.n:
            if bar is not None:
                bar.close()
            bar = state["bar"] = _bar(p.total, "finetune")
            bar.update(p.step - 1)
        bar.update(p.step - bar.n)
        bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.3f}",
                        val=f"{p.val_loss:.3f}" if p.val_loss is not None else "-", refresh=False)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()
    return report, close


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


def cmd_finetune(args) -> int:
    if args.data == "prove":
        return _prove(args)
    if args.data == "merge":
        return _merge(args)
    if args.rest:
        raise VitrineError(f"unexpected {' '.join(args.rest)}: vitrine finetune DATA --base CHECKPOINT --out RUN")
    from export.training.finetune import finetune  # lazy: CLI startup, +0.4 s
    from export.training.merge import merge  # lazy: CLI startup, +0.03 s
    if not args.out:
        raise VitrineError("give --out RUN: the folder for the run's checkpoints (and --resume to continue it)")
    if not args.resume and not args.base:
        raise VitrineError("give --base CHECKPOINT: the transformers checkpoint folder to fine-tune")
    if args.base and not Path(args.base).is_dir():
        raise VitrineError(f"base checkpoint not found: {args.base} (a folder with config.json and the weights)")
    opts = FinetuneOptions(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_vision=args.lr_vision, train=args.train,
        lora_r=args.lora_r, lora_alpha=args.lora_alpha, vision=args.vision, projector=args.projector,
        attributes=_split(args.attributes), langs=_split(args.langs), translated=not args.no_translated,
        mix=args.mix or "", mix_ratio=args.mix_ratio, conversation=args.conversation, patience=args.patience,
        max_minutes=args.max_minutes, max_steps=args.max_steps, evals_per_epoch=args.evals_per_epoch,
        seed=args.seed, threads=args.settings.threads_for(args.threads), device=args.device)
    if args.mix and not args.mix_ratio:
        raise VitrineError("--mix needs --mix-ratio (the share of each batch, e.g. 0.2)")
    report, close = _progress()
    try:
        info = finetune(Path(args.data), Path(args.base or "."), Path(args.out), opts, resume=args.resume,
                        on_progress=report, settings=args.settings)
    except KeyboardInterrupt:
        close()
        raise Cancelled(f"stopped: the last checkpoint is saved; continue with `vitrine finetune {args.data} --out "
                        f"{args.out} --resume`") from None
    finally:
        close()
    best = info.best
    print(f"{info.status} after {info.step} of {info.total_steps} steps ({info.minutes:.1f} min): best validation "
          f"loss {best.get('val_loss', float('nan')):.4f} at step {best.get('step')}")
    if info.status == "stopped":
        print(f"continue with: vitrine finetune --out {args.out} --resume")
    if args.merge:
        dest = merge(Path(args.out))
        print(f"merged into {dest}: export it with `vitrine export gguf {dest} --out DIR`")
    else:
        print(f"merge it into a plain checkpoint with: vitrine finetune merge {args.out}")
    return 0


def _merge(args) -> int:
    from export.training.merge import merge  # lazy: CLI startup, +0.03 s
    if len(args.rest) != 1:
        raise VitrineError("vitrine finetune merge RUN [--out DIR]: name one run folder")
    dest = merge(Path(args.rest[0]), Path(args.out) if args.out else None, which="last" if args.last else "best")
    print(f"merged into {dest}: export it with `vitrine export gguf {dest} --out DIR` or `vitrine export onnx`")
    return 0


def _prove(args) -> int:
    from export.training.prove import prove  # lazy: CLI startup, +0.5 s (PIL, rapidfuzz)
    if args.rest:
        raise VitrineError(f"unexpected {' '.join(args.rest)}: vitrine finetune prove [--quick] [--json] [--work DIR]")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vitrine-prove-"))
    report, close = _progress()

    def step(text: str) -> None:
        close()
        if not args.json:
            print(f"-- {text}", flush=True)
    try:
        result = prove(work, quick=args.quick, step=step, on_progress=report, settings=args.settings)
    finally:
        close()
    if args.json:
        print(result.to_json())
    else:
        print(f"held-out VQA accuracy: before {result.before:.3f}, after {result.after:.3f}, GGUF Q8_0 "
              f"{result.gguf_q8_0:.3f}, ONNX int8 {result.onnx_int8:.3f}"
              + (f"; general task {result.general_before:.3f} -> {result.general_after:.3f} (mixed in: "
                 f"{result.general_after_mixed:.3f})" if result.general_before is not None else "")
              + f"; {result.minutes:.1f} min; work folder {work}")
    return 0


def register(sub) -> None:
    f = sub.add_parser(
        "finetune", help="fine-tune a VLM on a question set (LoRA), merge it, or prove it learns",
        description="vitrine finetune DATA --base CHECKPOINT --out RUN [options]; vitrine finetune merge RUN "
        "[--out DIR]; vitrine finetune prove [--quick] [--json]. Bigger runs on several GPUs: `accelerate launch "
        "-m engine.cli finetune ...` (see README).")
    f.add_argument("data", help="a question set folder (train.jsonl, val.jsonl), or 'merge' / 'prove'")
    f.add_argument("rest", nargs="*", help="with merge: the run folder")
    f.add_argument("--base", help="the transformers checkpoint to fine-tune (SmolVLM, TinyLLaVA, MiniCPM-V 4.6)")
    f.add_argument("--out", help="the run folder (with merge: where the merged checkpoint goes, default RUN/merged)")
    f.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    f.add_argument("--merge", action="store_true", help="when done, write RUN/merged (a plain checkpoint)")
    f.add_argument("--train", default="lora", choices=["lora", "full"],
                   help="lora (default): adapters on the language model; full: every parameter (a random model)")
    f.add_argument("--vision", action="store_true", help="train the vision tower too (frozen by default)")
    f.add_argument("--projector", action="store_true", help="train the projector/connector too")
    f.add_argument("--lora-r", type=int, default=16)
    f.add_argument("--lora-alpha", type=int, default=32)
    f.add_argument("--lr", type=float, default=2e-4, help="learning rate (default 2e-4)")
    f.add_argument("--lr-vision", type=float, help="learning rate of the vision tower/projector (default --lr)")
    f.add_argument("--epochs", type=int, default=3)
    f.add_argument("--batch-size", type=int, default=16)
    f.add_argument("--attributes", help="only questions about these, e.g. colour,garment,pattern")
    f.add_argument("--langs", help="question languages learned as they are (default: the model's own)")
    f.add_argument("--no-translated", action="store_true", help="English-only model: do not also learn the "
                   "Portuguese questions as the app's translator renders them")
    f.add_argument("--mix", help="a general question set (.jsonl) mixed into every batch, against forgetting")
    f.add_argument("--mix-ratio", type=float, default=0.0, help="share of each batch from --mix (e.g. 0.2)")
    f.add_argument("--conversation", type=int, default=3, help="questions about one image learned as one "
                   "conversation of up to N turns, as the app asks follow-ups (1: each on its own; default 3)")
    f.add_argument("--patience", type=int, default=2, help="stop after this many epochs without a better "
                   "validation loss (default 2)")
    f.add_argument("--evals-per-epoch", type=int, default=1, help="validate and checkpoint this often")
    f.add_argument("--max-minutes", type=float, help="stop after this long (checkpointed: --resume continues)")
    f.add_argument("--max-steps", type=int, help="end the schedule after this many steps")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    f.add_argument("--device", default="auto", help="auto (a GPU when present), cpu or cuda")
    f.add_argument("--last", action="store_true", help="with merge: the last checkpoint, not the best")
    f.add_argument("--quick", action="store_true", help="with prove: the <= 10 minute version")
    f.add_argument("--json", action="store_true", help="with prove: print one JSON object")
    f.add_argument("--work", help="with prove: keep its sets, runs, exports and evaluations in this folder (new, "
                   "empty, or an earlier proof's)")
    f.set_defaults(func=cmd_finetune)

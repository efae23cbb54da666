"""`vitrine export gguf|onnx` and `vitrine parity`, registered into the `vitrine` command through the
"vitrine.commands" entry point; the exporters (torch, transformers, llama.cpp's converter) load only when run."""
from __future__ import annotations

import json
from pathlib import Path

from engine.cli import actions_of
from engine.cli.progress import steps
from export.bench.backends import register as register_bench
from export.bench.catalog import register as register_catalog_bench
from export.bench.look import register as register_look_bench
from export.datasets.commands import register as register_dataset
from export.training.commands import register as register_finetune

# Every `vitrine` call builds every command group's parser: the exporters (0.3-0.7 s of numpy, OpenCV and the
# converters each, before torch) load when their command runs.


def cmd_export_gguf(args) -> int:
    from export.convert.gguf import export_gguf  # lazy: CLI startup, +0.02 s
    bar, step = steps(4 if args.quant.upper() != "F16" else 3, "export gguf")
    try:
        result = export_gguf(args.checkpoint, args.out, quant=args.quant, mmproj_type=args.mmproj_type,
                             name=args.name, on_step=step)
    finally:
        bar.close()
    files = ", ".join(f"{r}={e.path} ({e.size / 1e6:.1f} MB)" for r, e in result.manifest.files.items())
    print(f"exported {result.folder} in {result.seconds:.1f}s: {files}")
    print(f"install it with: vitrine models import {result.manifest.name} --from {result.folder}")
    return 0


def cmd_export_onnx(args) -> int:
    from export.convert.onnx import export_onnx  # lazy: CLI startup, +0.2 s
    bar, step = steps(5 + (args.quant != "fp32") + (not args.no_parity), "export onnx")
    try:
        result = export_onnx(args.checkpoint, args.out, quant=args.quant, name=args.name, on_step=step,
                             parity=not args.no_parity)
    finally:
        bar.close()
    print(f"exported {result.folder} in {result.seconds:.1f}s ({result.manifest.quant})")
    parity = result.manifest.extra.get("parity")
    if parity:
        print(f"agreement with transformers: {parity['greedy_identical_tokens']:.1f}/32 identical greedy tokens, "
              f"teacher-forced top-1 {parity['teacher_forced_agreement']:.1%}, max |logit diff| "
              f"{parity['max_abs_logit_diff']:.2e}, image cosine {parity['image_cosine']:.6f}")
    print(f"install it with: vitrine models import {result.manifest.name} --from {result.folder}")
    return 0


def cmd_export_hybrid(args) -> int:
    from export.convert.hybrid import export_hybrid  # lazy: CLI startup, +0.4 s (PIL)
    bar, step = steps(3, "export hybrid")
    try:
        result = export_hybrid(args.checkpoint, args.out, quant=args.quant, name=args.name, on_step=step)
    finally:
        bar.close()
    v = result.manifest.extra["vision"]
    print(f"exported {result.folder} in {result.seconds:.1f}s: vision encoder {v['choice']} ({v['why']}; "
          f"features agree, cosine {v['cosine']:.4f})")
    print(f"install it with: vitrine models import {result.manifest.name} --from {result.folder}")
    return 0


def cmd_parity(args) -> int:
    from export.bench.parity import format_table, run_parity  # lazy: CLI startup, +0.15 s
    variants = args.variants.split(",") if args.variants else None
    bar, step = steps(2 * len(variants or range(6)), "parity")
    try:
        results = run_parity(args.checkpoint, variants, work=Path(args.work) if args.work else None, on_step=step)
    finally:
        bar.close()
    print(json.dumps([r.to_dict() for r in results], indent=2) if args.json else format_table(results))
    return 0


def register(sub) -> None:
    register_bench(sub)
    register_dataset(sub)
    register_finetune(sub)
    register_look_bench(sub)
    if "catalog" in sub.choices:                        # engine's catalog group: `vitrine catalog bench`
        register_catalog_bench(actions_of(sub.choices["catalog"]))
    e = sub.add_parser("export", help="build model artefacts from a Hugging Face checkpoint")
    es = e.add_subparsers(dest="export_command", metavar="FORMAT", required=True)
    x = es.add_parser("gguf", help="checkpoint -> text GGUF (quantized) + mmproj GGUF + manifest")
    x.add_argument("checkpoint")
    x.add_argument("--quant", default="Q8_0", help="F16, Q8_0 (default), Q4_K_M or Q4_0")
    x.add_argument("--mmproj-type", default="f16", choices=["f16", "f32", "q8_0"])
    x.add_argument("--out", required=True)
    x.add_argument("--name", help="model name in the manifest (default: the checkpoint folder's name)")
    x.set_defaults(func=cmd_export_gguf)

    x = es.add_parser("onnx", help="checkpoint -> ONNX (vision, embed, decoder) + manifest with parity figures")
    x.add_argument("checkpoint")
    x.add_argument("--quant", default="int8", choices=["fp32", "int8", "int4"])
    x.add_argument("--out", required=True)
    x.add_argument("--name", help="model name in the manifest")
    x.add_argument("--no-parity", action="store_true", help="skip the agreement check against transformers")
    x.set_defaults(func=cmd_export_onnx)

    x = es.add_parser("hybrid", help="checkpoint -> llama.cpp text model + the faster vision encoder measured "
                      "here (ONNX int8 or the GGUF projector)")
    x.add_argument("checkpoint")
    x.add_argument("--quant", default="Q8_0", help="the text model's: F16, Q8_0 (default), Q4_K_M or Q4_0")
    x.add_argument("--out", required=True)
    x.add_argument("--name", help="model name in the manifest")
    x.set_defaults(func=cmd_export_hybrid)

    x = sub.add_parser("parity", help="export every variant and compare it with the transformers original")
    x.add_argument("checkpoint")
    x.add_argument("--variants", help="comma list (default all): onnx-fp32,onnx-int8,onnx-int4,gguf-f16,"
                   "gguf-q8_0,gguf-q4_k_m")
    x.add_argument("--work", help="keep the exports in this folder (reused on the next run)")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_parity)

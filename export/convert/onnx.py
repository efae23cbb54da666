"""HF SmolVLM (Idefics3) checkpoint -> ONNX in the onnx-community three-graph layout, fp32 / int8 / int4.

    vision_encoder.onnx        pixel_values [num_images, 3, S, S] -> image_features [num_images, tokens, hidden]
    embed_tokens.onnx          input_ids -> inputs_embeds
    decoder_model_merged.onnx  inputs_embeds, attention_mask, position_ids, past_key_values.N.key/value
                               -> logits, present.N.key/value

Which tool does what, and why:
- Export: by hand with torch.onnx.export (TorchScript exporter, opset 18). optimum-onnx 0.1.0 has no idefics3
  (nor any VLM) exporter. Pitfalls from DESIGN.md: Unfold is not exportable (the vision wrapper takes ready
  tiles), Idefics3's patch position ids need its bucketize quirk, transformers' vmap causal-mask builder breaks
  the tracer (the decoder wrapper builds a 4D additive mask).
- int8: onnxruntime.quantization.quantize_dynamic (per-channel, symmetric int8 weights) — what optimum's
  ORTQuantizer wraps; optimum-onnx, which holds that wrapper, refuses transformers 5. Each graph is quantized
  on its own and the decoder is a single graph (no If-merged subgraphs, where quantize_dynamic finds nothing).
- int4: onnxruntime's MatMulNBitsQuantizer (block-wise 4-bit weights); optimum has no weight-only 4-bit path.
  It rewrites MatMul only: Gemm and Gather (the embedding table) stay fp32.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from engine import families as runtime_families
from engine.errors import VitrineError
from engine.files import OutputKind, atomic_folder, check_output
from engine.models.manifest import Manifest, file_entry
from export.convert.parity import compare
from export.families import families, for_checkpoint

log = logging.getLogger(__name__)
GRAPHS = {"vision": "vision_encoder.onnx", "embed": "embed_tokens.onnx", "decoder": "decoder_model_merged.onnx"}
QUANTS = ("fp32", "int8", "int4")
SIDE_FILES = ("config.json", "generation_config.json", "preprocessor_config.json", "processor_config.json",
              "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
              "chat_template.json")
StepFn = Callable[[str], None]


def _wrappers(model, family):
    import torch
    from transformers import DynamicCache

    text_model, head = family.onnx_text_model(model)
    n_layers = text_model.config.num_hidden_layers

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.e = text_model.get_input_embeddings()

        def forward(self, input_ids):
            return self.e(input_ids)

    class Decoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lm, self.head = text_model, head

        def forward(self, inputs_embeds, attention_mask, position_ids, *past):
            cache = DynamicCache()
            for i in range(n_layers):
                cache.update(past[2 * i], past[2 * i + 1], i)
            t, s = inputs_embeds.shape[1], attention_mask.shape[1]
            q = torch.arange(t).unsqueeze(1) + (s - t)
            k = torch.arange(s).unsqueeze(0)
            allowed = (k <= q).unsqueeze(0).unsqueeze(0) & attention_mask.bool()[:, None, None, :]
            mask = torch.zeros(allowed.shape, dtype=inputs_embeds.dtype).masked_fill(
                ~allowed, torch.finfo(inputs_embeds.dtype).min)
            o = self.lm(inputs_embeds=inputs_embeds, attention_mask=mask, position_ids=position_ids,
                        past_key_values=cache, use_cache=True)
            pk = o.past_key_values
            flat = []
            for i in range(n_layers):
                layer = pk.layers[i] if hasattr(pk, "layers") else None
                flat += [layer.keys, layer.values] if layer is not None else list(pk[i])
            return (self.head(o.last_hidden_state), *flat)

    return Embed(), Decoder()


def _load(checkpoint: Path):
    import torch
    from transformers import AutoModelForImageTextToText
    return AutoModelForImageTextToText.from_pretrained(checkpoint, attn_implementation="eager",
                                                       dtype=torch.float32).eval()


def _export_graph(out: Path, module, args, names_in, names_out, dynamic, filename) -> None:
    import torch
    with warnings.catch_warnings():
        # the tracer's warnings about Python values in transformers' code are expected: the wrappers
        # above fix those shapes (one full tile, 4D mask) and parity checks the result
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, args, str(out / filename), input_names=names_in, output_names=names_out,
                          dynamic_axes=dynamic, opset_version=18, dynamo=False)


def _tile_side(model, family) -> int:
    """The square tile the vision graph takes: what the runtimes and the transformers reference give it."""
    fam = runtime_families.get(family.name)
    if fam is not None and fam.reference is not None:
        return fam.reference.tile_size(model.config)
    return model.config.vision_config.image_size


def _export_vision(model, family, out: Path) -> None:
    import torch
    size = _tile_side(model, family)
    with torch.no_grad():
        _export_graph(out, family.onnx_vision(model), (torch.randn(1, 3, size, size),), ["pixel_values"],
                      ["image_features"], {"pixel_values": {0: "num_images"}, "image_features": {0: "num_images"}},
                      GRAPHS["vision"])


def export_vision_fp32(checkpoint: Path, out: Path, family) -> None:
    """The vision graph alone (fp32) with the checkpoint's config and processor settings: what a hybrid model
    takes from ONNX (llama.cpp runs the text model). Families whose text model does not export (MiniCPM-V 4.6's
    Qwen3.5, with linear-attention layers) have this path only."""
    model = _load(checkpoint)
    _export_vision(model, family, out)
    del model
    for f in ("config.json", "preprocessor_config.json", "processor_config.json"):
        if (checkpoint / f).is_file():
            shutil.copy(checkpoint / f, out / f)
    _write_preprocessor_config(out)


def _export_fp32(checkpoint: Path, out: Path, step: StepFn, family) -> None:
    import torch

    model = _load(checkpoint)
    tc = model.config.text_config
    n_layers, n_kv = tc.num_hidden_layers, tc.num_key_value_heads
    head_dim = getattr(tc, "head_dim", None) or tc.hidden_size // tc.num_attention_heads
    embed, decoder = _wrappers(model, family)
    export = partial(_export_graph, out)

    with torch.no_grad():
        step("exporting the vision encoder")
        _export_vision(model, family, out)
        step("exporting the token embeddings")
        export(embed, (torch.tensor([[1, 2, 3]]),), ["input_ids"], ["inputs_embeds"],
               {"input_ids": {0: "batch", 1: "seq"}, "inputs_embeds": {0: "batch", 1: "seq"}}, GRAPHS["embed"])
        step("exporting the decoder")
        b, t, p = 1, 3, 2
        past, names_past, names_present = [], [], []
        dynamic = {"inputs_embeds": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total"},
                   "position_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
        for i in range(n_layers):
            for kv in ("key", "value"):
                past.append(torch.randn(b, n_kv, p, head_dim))
                names_past.append(f"past_key_values.{i}.{kv}")
                names_present.append(f"present.{i}.{kv}")
                dynamic[names_past[-1]] = {0: "batch", 2: "past"}
                dynamic[names_present[-1]] = {0: "batch", 2: "total"}
        export(decoder, (torch.randn(b, t, tc.hidden_size), torch.ones(b, p + t, dtype=torch.int64),
                         torch.arange(p, p + t).unsqueeze(0), *past),
               ["inputs_embeds", "attention_mask", "position_ids", *names_past], ["logits", *names_present],
               dynamic, GRAPHS["decoder"])
    del model


def _write_preprocessor_config(folder: Path) -> None:
    """The onnx-community layout (and transformers.js) reads preprocessor_config.json; transformers 5 saves the
    image processor inside processor_config.json instead. Write it out where it is missing."""
    pre, proc = folder / "preprocessor_config.json", folder / "processor_config.json"
    if not pre.is_file() and proc.is_file():
        image_processor = json.loads(proc.read_text()).get("image_processor")
        if image_processor:
            pre.write_text(json.dumps(image_processor, indent=2))


def _quantize_int8(folder: Path, roles: tuple[str, ...] = ("vision", "decoder")) -> None:
    """Dynamic int8 (per-channel weights, uint8 activations) through onnxruntime's quantizer: what optimum's
    ORTQuantizer wraps; optimum-onnx 0.1.0, its ONNX half, refuses transformers 5."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for role in roles:        # embed_tokens is a Gather: nothing to gain
        path = folder / GRAPHS[role]
        tmp = path.with_name(f".{path.stem}.int8.onnx")
        quantize_dynamic(path, tmp, per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"WeightSymmetric": True})
        os.replace(tmp, path)


def _quantize_int4(folder: Path, block_size: int = 32) -> None:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    for role in ("vision", "decoder"):
        path = folder / GRAPHS[role]
        q = MatMulNBitsQuantizer(onnx.load(str(path)), bits=4, block_size=block_size, is_symmetric=True)
        q.process()
        q.model.save_model_to_file(str(path), use_external_data_format=False)


@dataclass
class OnnxExport:
    folder: Path
    manifest: Manifest
    seconds: float


def export_onnx(checkpoint: Path | str, out: Path | str, quant: str = "int8", name: str | None = None,
                on_step: StepFn | None = None, parity: bool = True) -> OnnxExport:
    """Export ``checkpoint`` to ``out`` (three graphs, tokenizer and processor files, vitrine-model.json)."""
    t0 = time.perf_counter()
    checkpoint, out = Path(checkpoint).resolve(), Path(out)
    check_output(out, OutputKind.EXPORT, inputs=(checkpoint,))      # before any work
    if quant not in QUANTS:
        raise VitrineError(f"unknown ONNX quantization {quant!r}: choose one of {', '.join(QUANTS)}")
    family = for_checkpoint(checkpoint)
    if not family.onnx:
        able = ", ".join(f.name for f in families().values() if f.onnx)
        raise VitrineError(f"{checkpoint.name}: ONNX export exists for {able} checkpoints, not {family.name} yet "
                           "(export it to GGUF instead: vitrine export gguf)")
    step = on_step or (lambda s: None)
    with atomic_folder(out, OutputKind.EXPORT, inputs=(checkpoint,)) as staging:
        _export_fp32(checkpoint, staging, step, family)
        if quant == "int8":
            step("quantizing to int8 (onnxruntime, dynamic)")
            _quantize_int8(staging)
        elif quant == "int4":
            step("quantizing to int4 (MatMulNBits)")
            _quantize_int4(staging)
        for f in SIDE_FILES:
            if (checkpoint / f).is_file():
                shutil.copy(checkpoint / f, staging / f)
        _write_preprocessor_config(staging)
        step("hashing")
        files = {role: file_entry(staging, fn) for role, fn in GRAPHS.items()}
        for f in SIDE_FILES:
            if (staging / f).is_file():
                files[f.split(".")[0]] = file_entry(staging, f)
        manifest = Manifest(name=name or f"{checkpoint.name}-onnx-{quant}", runtime="onnx", family=family.name,
                            files=files, chat_handler="", languages=list(family.languages), quant=quant,
                            source=str(checkpoint))
        if parity:
            step("checking agreement with transformers")
            manifest.extra["parity"] = compare(checkpoint, "onnx", staging, variant=f"onnx-{quant}").to_dict()
        manifest.save(staging)
    return OnnxExport(out, manifest, time.perf_counter() - t0)

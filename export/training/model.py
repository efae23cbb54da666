"""The model a run trains: the base with LoRA adapters (or every parameter) made trainable, and its trainable
weights saved and loaded apart from the base. torch, transformers and peft load when a model does."""
from __future__ import annotations

from pathlib import Path

from engine.errors import VitrineError
from export.families import ExportFamily
from export.training.options import FinetuneOptions


def torch_device(name: str):
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

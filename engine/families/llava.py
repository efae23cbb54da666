"""TinyLLaVA and other LLaVA-layout models (CLIP + MLP projector + Llama): one 336 px view, English."""
from engine.families import Family, Reference

FAMILY = Family(name="llava", about="TinyLLaVA (CLIP + MLP + TinyLlama)", projector_types=("mlp", "ldp", "ldpv2"),
                model_types=("llava",), reference=Reference())

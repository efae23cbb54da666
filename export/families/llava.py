"""TinyLLaVA in transformers' own LLaVA layout (CLIP vision tower + MLP projector + Llama), as
bczhou/tiny-llava-v1-hf is published. No GGUF of it is published: users convert it here.

The text model converts plainly (LLAMA). The projector only through llama.cpp's legacy route: llava_surgery_v2.py
splits the checkpoint into llava.clip (vision tower) and llava.projector, then convert_image_encoder_to_gguf.py
builds the mmproj from a CLIPVisionModel folder. Under transformers 5 the tower's weights are saved as
'vision_tower.*' without the 'vision_model.' infix CLIPVisionModel expects: renamed here, or the tower would be
silently re-initialised at random (export.convert.runner restores `.vision_model` for the script).
"""
from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

from engine.errors import VitrineError
from export.families import ExportFamily

log = logging.getLogger(__name__)

CHAT_TEMPLATE = ("{% for m in messages %}{% if m.role == 'user' %}USER: {% for c in m.content %}"
                 "{% if c.type == 'image' %}<image>\n{% else %}{{ c.text }}{% endif %}{% endfor %}{{ '\\n' }}"
                 "{% else %}ASSISTANT: {{ m.content[0].text }}</s>{% endif %}{% endfor %}"
                 "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
CORPUS = [
    "What is in this image? A red dress with a floral pattern and white sneakers.",
    "USER: What color are the pants?\nASSISTANT: The pants are navy blue. The blouse is beige with long sleeves.",
    "Describe the clothes: a black leather jacket, blue jeans and ankle boots. 0123456789",
] * 20
SIZES = {
    "tiny": dict(vision=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=2,
                             projection_dim=64),
                 text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           num_key_value_heads=1),
                 vocab=512),
    # TinyLLaVA-1.1B (bczhou/tiny-llava-v1-hf): CLIP ViT-L/14-336 + TinyLlama-1.1B; random weights, real shapes
    "real": dict(vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                             projection_dim=768),
                 text=dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                           num_key_value_heads=4, vocab_size=32064),
                 vocab=512),
}


def build_tokenizer(folder: Path, vocab_size: int):
    """A Llama-style sentencepiece BPE (byte fallback) trained in code, plus the <image> token."""
    import sentencepiece as spm
    from transformers import LlamaTokenizer

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=buf, vocab_size=vocab_size,
                                   model_type="bpe", byte_fallback=True, character_coverage=1.0, unk_id=0,
                                   bos_id=1, eos_id=2, pad_id=-1, split_digits=True, add_dummy_prefix=True,
                                   normalization_rule_name="identity", minloglevel=2)
    spm_dir = folder / ".spm"
    spm_dir.mkdir()
    (spm_dir / "tokenizer.model").write_bytes(buf.getvalue())
    # transformers 5: LlamaTokenizer(vocab_file=...) silently builds a 5-token vocabulary; from_pretrained on a
    # folder holding only tokenizer.model converts the sentencepiece model properly
    tok = LlamaTokenizer.from_pretrained(spm_dir, legacy=False)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"], "pad_token": "<pad>"})
    tok.chat_template = CHAT_TEMPLATE
    shutil.copy(spm_dir / "tokenizer.model", folder / "tokenizer.model")   # llama.cpp's sentencepiece vocab path
    shutil.rmtree(spm_dir)
    return tok


class Llava(ExportFamily):
    name = "llava"
    model_types = ("llava",)
    tokenizer_pre = "default"
    sizes = tuple(SIZES)
    onnx = True

    def build(self, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        import torch
        from transformers import (
            CLIPImageProcessorPil,
            CLIPVisionConfig,
            LlamaConfig,
            LlavaConfig,
            LlavaForConditionalGeneration,
            LlavaProcessor,
        )

        spec = SIZES[size]
        torch.manual_seed(seed)
        tok = build_tokenizer(out, spec["vocab"])
        vision = CLIPVisionConfig(**spec["vision"], image_size=336, patch_size=14, hidden_act="quick_gelu")
        text = LlamaConfig(**{"vocab_size": len(tok), **spec["text"]}, max_position_embeddings=2048, rms_norm_eps=1e-5,
                           bos_token_id=1, eos_token_id=2, pad_token_id=tok.pad_token_id)
        cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.convert_tokens_to_ids("<image>"),
                          vision_feature_layer=-2, vision_feature_select_strategy="default",
                          projector_hidden_act="gelu", pad_token_id=tok.pad_token_id)
        model = LlavaForConditionalGeneration(cfg).eval()
        log.info("built random TinyLLaVA (%s): %.1fM parameters", size,
                 sum(p.numel() for p in model.parameters()) / 1e6)
        model.save_pretrained(out)
        processor = CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
        # a CLIP tower has a CLS token: one more feature than patches, which "default" selection drops
        LlavaProcessor(image_processor=processor, tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                       num_additional_image_tokens=1, chat_template=CHAT_TEMPLATE).save_pretrained(out)
        return out

    def onnx_text_model(self, model):
        return model.model.language_model, model.lm_head

    def onnx_vision(self, model):
        import torch
        layer = model.config.vision_feature_layer
        if not isinstance(layer, int) or model.config.vision_feature_select_strategy != "default":
            raise VitrineError("ONNX export takes LLaVA checkpoints with one vision feature layer and the default "
                               "selection (CLS dropped), as TinyLLaVA has")

        class Vision(torch.nn.Module):
            """CLIP tower -> the configured hidden layer without its CLS token -> MLP projector."""

            def __init__(self):
                super().__init__()
                self.tower, self.projector = model.model.vision_tower, model.model.multi_modal_projector

            def forward(self, pixel_values):
                hidden = self.tower(pixel_values, output_hidden_states=True).hidden_states[layer]
                return self.projector(hidden[:, 1:])

        return Vision()

    def convert_gguf(self, tools, checkpoint: Path, text_out: Path, mmproj_out: Path, mmproj_type: str,
                     work: Path) -> None:
        if mmproj_type not in ("f16", "f32"):
            raise VitrineError(f"a LLaVA projector converts to f16 or f32, not {mmproj_type}: use --mmproj-type f16")
        tools.convert_hf(checkpoint, ["--outfile", str(text_out), "--outtype", "f16"])
        surgery = work / "surgery"
        shutil.copytree(checkpoint, surgery)
        tools.run("tools/mtmd/legacy-models/llava_surgery_v2.py", ["-C", "-m", str(surgery)], checkpoint.name)
        encoder = work / "encoder"
        _clip_encoder_folder(surgery, encoder)
        args = ["-m", str(encoder), "--llava-projector", str(encoder / "llava.projector"), "--output-dir",
                str(encoder), "--clip-model-is-vision", "--projector-type", "mlp"]
        tools.run("tools/mtmd/legacy-models/convert_image_encoder_to_gguf.py",
                  args + (["--use-f32"] if mmproj_type == "f32" else []), checkpoint.name)
        built = sorted(encoder.glob("mmproj-model-*.gguf"))
        if not built:
            raise VitrineError(f"llama.cpp's image encoder converter wrote no mmproj for {checkpoint.name}")
        shutil.move(str(built[0]), mmproj_out)


def _clip_encoder_folder(surgery: Path, dest: Path) -> None:
    """What convert_image_encoder_to_gguf.py reads: a CLIPVisionModel folder (weights with 'vision_model.'
    names, its config and preprocessor config) plus llava.projector."""
    import torch
    dest.mkdir()
    clip = torch.load(surgery / "llava.clip", map_location="cpu")
    prefix = "vision_tower."
    clip = {("vision_model." + k[len(prefix):] if k.startswith(prefix) else k): v for k, v in clip.items()}
    if not any(k.startswith("vision_model.") for k in clip):
        raise VitrineError("the checkpoint's vision tower was not found (no 'vision_tower.*' weights)")
    torch.save(clip, dest / "pytorch_model.bin")
    shutil.copy(surgery / "llava.projector", dest / "llava.projector")
    cfg = json.loads((surgery / "config.json").read_text())
    vision = dict(cfg["vision_config"], architectures=["CLIPVisionModel"], model_type="clip_vision_model")
    # Which layer feeds the projector must travel with the tower: without it the converter drops the last layer
    # and libmtmd then uses the one before that, two layers short of transformers (image cosine 0.85, measured)
    vision["vision_feature_layer"] = cfg.get("vision_feature_layer", -2)
    (dest / "config.json").write_text(json.dumps(vision, indent=1))
    for name in ("preprocessor_config.json", "processor_config.json"):
        if (surgery / name).is_file():
            pre = json.loads((surgery / name).read_text())
            (dest / "preprocessor_config.json").write_text(json.dumps(pre.get("image_processor", pre), indent=1))
            break


FAMILY = Llava()

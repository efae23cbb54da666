"""MiniCPM-V 4.6 (SigLIP2-style vision + merger + Qwen3.5 hybrid text model), native in transformers 5.

llama.cpp's own converter takes it: the text model with ``--no-mtp`` (a checkpoint without multi-token-prediction
tensors fails an assert otherwise), the projector with ``--mmproj``. An in-code tokenizer has an unknown
pre-tokenizer hash; the real one maps to ``qwen35``.
"""
from __future__ import annotations

import logging
from pathlib import Path

from export.families import ExportFamily

log = logging.getLogger(__name__)

# the special tokens the MiniCPM-V 4.6 processor and libmtmd's minicpmv4_6 layout use
EXTRA = {
    "image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
    "image_start_token": "<image>", "image_end_token": "</image>",
    "slice_start_token": "<slice>", "slice_end_token": "</slice>",
    "image_id_start_token": "<image_id>", "image_id_end_token": "</image_id>",
}
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>", "<think>", "</think>",
            "<|vision_start|>", "<|vision_end|>", *EXTRA.values()]
# Qwen's chat layout; an image part is written where the user put it
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}"
    "{% else %}{% for c in m.content %}{% if c.type == 'image' %}<|image_pad|>{% elif c.type == 'text' %}"
    "{{ c.text }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Qwen2's pre-tokenizer split
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
                r"|\s+(?!\S)|\s+")
CORPUS = [
    "What is in this image? A red dress with a floral pattern and white sneakers.",
    "Qual é a cor da calça? A calça é azul-marinho. A blusa é bege, de mangas compridas.",
    "user assistant system You are a helpful assistant. Describe the clothes in the picture.",
    "The quick brown fox jumps over the lazy dog 0123456789 !?.,:;\n\n",
]
SIZES = {
    "tiny": dict(
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, full_attention_interval=4,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=256, linear_conv_kernel_dim=4,
                  linear_key_head_dim=128, linear_value_head_dim=128, linear_num_key_heads=1,
                  linear_num_value_heads=2),
        vision=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=2),
        vocab=400),
    # MiniCPM-V 4.6: a SigLIP2-so400m-shaped vision tower + Qwen3.5-0.8B (hybrid: 3 linear-attention layers per
    # full-attention one), about 1.3B parameters with the Qwen vocabulary; random weights, real shapes
    "real": dict(
        text=dict(hidden_size=1024, intermediate_size=3584, num_hidden_layers=24, full_attention_interval=4,
                  num_attention_heads=8, num_key_value_heads=2, head_dim=256, linear_conv_kernel_dim=4,
                  linear_key_head_dim=128, linear_value_head_dim=128, linear_num_key_heads=16,
                  linear_num_value_heads=16, vocab_size=248320),
        vision=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16),
        vocab=2000),
}


def build_tokenizer(vocab_size: int):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import TokenizersBackend

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(CORPUS * 30, trainer=trainer)
    tok.add_special_tokens(SPECIALS)
    return TokenizersBackend(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                             unk_token="<unk>", extra_special_tokens=EXTRA, chat_template=CHAT_TEMPLATE)


class MiniCPMV46(ExportFamily):
    name = "minicpmv4_6"
    model_types = ("minicpmv4_6",)
    tokenizer_pre = "qwen35"
    text_args = ("--no-mtp",)
    sizes = tuple(SIZES)
    languages = ("en", "pt", "multi")
    projector_module = "model.merger"
    packed_pixels = True
    vision_onnx = True          # its vision encoder exports to ONNX alone (a hybrid model); the text model does not
    layout_projector = True     # a hybrid loads a weightless projector for libmtmd's layout (1.1 GB spared)

    def build(self, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        import torch
        from transformers import MiniCPMV4_6Config, MiniCPMV4_6ForConditionalGeneration
        from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

        spec = SIZES[size]
        torch.manual_seed(seed)
        tok = build_tokenizer(spec["vocab"])
        spec = dict(spec, text=dict(spec["text"]))
        spec["text"].setdefault("vocab_size", len(tok))
        text = dict(spec["text"], model_type="qwen3_5_text", max_position_embeddings=4096,
                    rms_norm_eps=1e-6, tie_word_embeddings=True, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"),
                    rope_parameters={"rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25})
        vision = dict(spec["vision"], model_type="minicpmv4_6_vision", image_size=980, patch_size=14,
                      hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6)
        cfg = MiniCPMV4_6Config(text_config=text, vision_config=vision, image_size=448,
                                insert_layer_id=1 if size == "tiny" else 6,
                                image_token_id=tok.image_token_id, video_token_id=tok.video_token_id,
                                tie_word_embeddings=True, downsample_mode="16x")
        model = MiniCPMV4_6ForConditionalGeneration(cfg).eval()
        log.info("built random MiniCPM-V 4.6 (%s): %.1fM parameters", size,
                 sum(p.numel() for p in model.parameters()) / 1e6)
        model.save_pretrained(out)
        tok.save_pretrained(out)
        MiniCPMV4_6ImageProcessorPil(scale_resolution=448, patch_size=14, max_slice_nums=9, slice_mode=True,
                                     downsample_mode="16x", use_image_id=True).save_pretrained(out)
        return out

    def onnx_vision(self, model):
        """One square tile (the merger's scale resolution, 448 px: 32x32 patches) -> 64 tokens for the text model,
        as get_image_features computes them for that tile, with the packing written as fixed reshapes: the
        patches in raster order (what the processor's packed row gives the patch convolution), the nearest-bucket
        position ids and the 2x2 window order of the merger inserted after ``insert_layer_id`` computed once, and
        every attention a plain batched one (transformers splits by cu_seqlens: 256 windows, 256 graph nodes)."""
        import torch
        from transformers.vision_utils import get_vision_nearest_position_ids

        cfg = model.config
        vt, merger = model.model.vision_tower, model.model.merger
        side = cfg.image_size // cfg.vision_config.patch_size
        windowed = cfg.downsample_mode != "4x" and vt.config.insert_layer_id >= 0
        win = vt.config.window_kernel_size[0] * vt.config.window_kernel_size[1]
        mh, mw = merger.merge_kernel_size

        def attend(attn, x):        # x: batch, tokens, hidden
            b, t, e = x.shape
            h = attn.num_heads
            q, k, v = (p(x).view(b, t, h, e // h).transpose(1, 2) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
            w = torch.softmax((q @ k.transpose(-1, -2)) * attn.scaling, dim=-1)
            return attn.out_proj((w @ v).transpose(1, 2).reshape(b, t, e))

        class Vision(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.vt, self.merger = vt, merger
                sizes = torch.tensor([[side, side]])
                pos = get_vision_nearest_position_ids(sizes, vt.embeddings.num_patches_per_side)
                self.register_buffer("pos", pos.unsqueeze(0), persistent=False)
                window = vt.vit_merger.get_window_index(sizes)[0] if windowed else torch.arange(side * side)
                self.register_buffer("window", window.long(), persistent=False)

            def window_merge(self, x):
                m = self.vt.vit_merger
                b, t, e = x.shape
                res = x[:, self.window]
                h = m.layer_norm1(res).reshape(b * t // win, win, e)
                patch = (res + attend(m.self_attn, h).reshape(b, t, e)).reshape(b, t // win, win, e)
                out = m.linear_2(m.act(m.linear_1(m.pre_norm(patch.flatten(2)))))
                return out + patch.mean(dim=2)

            def forward(self, pixel_values):
                emb = self.vt.embeddings
                x = emb.patch_embedding(pixel_values).flatten(2).transpose(1, 2) + emb.position_embedding(self.pos)
                for i, layer in enumerate(self.vt.encoder.layers):
                    x = x + attend(layer.self_attn, layer.layer_norm1(x))
                    x = x + layer.mlp(layer.layer_norm2(x))
                    if windowed and i == self.vt.config.insert_layer_id:
                        x = self.window_merge(x)
                x = self.vt.post_layernorm(x)
                n = side // 2 if windowed else side
                b, e = x.shape[0], x.shape[-1]
                for mlp in self.merger.mlp:          # merger_times rounds of a 2x2 merge
                    x = x.reshape(b, n // mh, mh, n // mw, mw, e).permute(0, 1, 3, 2, 4, 5)
                    x = mlp(x.reshape(b, (n // mh) * (n // mw), mh * mw * e))
                    n, e = n // mh, x.shape[-1]
                    x = x.reshape(b, n * n, e)
                return x

        return Vision()


FAMILY = MiniCPMV46()

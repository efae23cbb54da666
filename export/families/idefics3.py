"""SmolVLM (Idefics3): random-weight checkpoints built in code, for tests and benchmarks.

No weights are downloaded: the tokenizer is trained on a few sentences with `tokenizers`, the model is a
transformers ``Idefics3ForConditionalGeneration`` with random weights at a tiny size or at the real
SmolVLM-256M / 500M dimensions (so speed and memory figures are those of the real architecture).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from export.datasets.questions import Item, english
from export.datasets.synth import COLOURS, GARMENTS, PATTERNS
from export.families import ExportFamily

log = logging.getLogger(__name__)

SPECIALS = (["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<global-img>"]
            + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
            + ["<fake_token_around_image>", "<image>", "<end_of_utterance>"])

# SmolVLM-Instruct's chat template; parts of type "text" may carry the multimodal media marker.
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")

# The same template for llama.cpp's tools (the GGUF's tokenizer.chat_template): they hand the template the image as
# a media marker inside string content ("<__media__>What color?"; llama-server's marker is "<__media_RANDOM__>")
# where transformers passes an image part. An image first writes "User:" with no space, as above, so that
# `llama-mtmd-cli --jinja` and llama-server render exactly the prompt Vitrine runs and the fine-tuning trained on.
GGUF_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}"
    "{% if message['content'] is string %}{% set parts = [{'type': 'text', 'text': message['content']}] %}"
    "{% else %}{% set parts = message['content'] %}{% endif %}"
    "{{ message['role'] | capitalize }}"
    "{% if parts and (parts[0]['type'] in ['image', 'media_marker'] or (parts[0]['type'] == 'text' and "
    "parts[0]['text'].startswith('<__media'))) %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for line in parts %}{% if line['type'] in ['text', 'media_marker'] %}{{ line['text'] }}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")

CORPUS = [
    "What is in this image? A red dress with a floral pattern and white sneakers.",
    "User: describe the picture.\nAssistant: A woman wears blue jeans, a black leather jacket and ankle boots.",
    "What color are the pants? The pants are navy blue. The blouse is beige with long sleeves.",
    "The quick brown fox jumps over the lazy dog 0123456789 !?.,:;",
    "Paragraph one.\n\n", "Two.\n\n", "Three.\n",
]


@dataclass(frozen=True)
class SmolVLMSize:
    text: dict
    vision: dict
    scale_factor: int
    vocab: int
    fashion_words: bool = False       # tokenizer trained on the synthetic set's questions too (answers stay short)


SIZES = {
    "tiny": SmolVLMSize(
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048),
        vision=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=4,
                    image_size=64, patch_size=16),
        scale_factor=2, vocab=1000),
    # the fine-tuning proof's model: patches of 8 px so that stripes and dots are visible, an LM wide enough to
    # learn the synthetic set in minutes on 2 cores (export/training/prove.py)
    "fashion": SmolVLMSize(
        text=dict(hidden_size=192, intermediate_size=384, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=2048),
        vision=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    image_size=96, patch_size=16),
        scale_factor=2, vocab=1000, fashion_words=True),
    # SmolVLM-256M-Instruct = SigLIP-B/16-512 (93M) + SmolLM2-135M; 500M = same vision + SmolLM2-360M
    "256m": SmolVLMSize(
        text=dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                  num_key_value_heads=3, vocab_size=49280, max_position_embeddings=8192,
                  rope_theta=100000.0, rms_norm_eps=1e-5, head_dim=64),
        vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=512, patch_size=16),
        scale_factor=4, vocab=2000),
    "500m": SmolVLMSize(
        text=dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
                  num_key_value_heads=5, vocab_size=49280, max_position_embeddings=8192,
                  rope_theta=100000.0, rms_norm_eps=1e-5, head_dim=64),
        vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=512, patch_size=16),
        scale_factor=4, vocab=2000),
}


def fashion_corpus() -> list[str]:
    """The synthetic set's English questions and answers, so that answer words are whole tokens."""
    import random

    r, out = random.Random(0), []
    for g in GARMENTS:
        for attribute, values in (("garment", GARMENTS), ("colour", COLOURS), ("pattern", PATTERNS)):
            for v in values:
                for _ in range(3):
                    q, answers = english(Item(g), attribute, v, r)
                    out.append(f"{q} {answers[0]}.")
    return out + [" ".join(GARMENTS + COLOURS + PATTERNS)] * 20


def build_tokenizer(vocab_size: int, fashion_words: bool = False):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIALS[:3])
    tok.train_from_iterator(CORPUS * 50 + (fashion_corpus() * 5 if fashion_words else []), trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS[3:]])
    # llama.cpp's idefics3 path looks up "\n" and "\n\n" as single tokens (it crashes without them)
    vocab = tok.get_vocab()
    assert "\u010a" in vocab and "\u010a\u010a" in vocab, "tokenizer lacks single tokens for \\n and \\n\\n"
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
        pad_token="<|im_end|>", unk_token="<|endoftext|>",
        additional_special_tokens=["<fake_token_around_image>", "<image>", "<end_of_utterance>"])


def build_smolvlm(tmp: Path, size: str = "tiny", seed: int = 0) -> Path:
    """Write a random-weight SmolVLM checkpoint (model, tokenizer, processor) into the empty folder ``tmp``."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    spec = SIZES[size]
    torch.manual_seed(seed)

    tok = build_tokenizer(spec.vocab, spec.fashion_words)
    text = dict(spec.text)
    text.setdefault("vocab_size", len(tok))
    text.update(model_type="llama", architectures=["VLlama3ForCausalLM"],  # the GGUF converter needs this
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    image_token_id = tok.convert_tokens_to_ids("<image>")
    cfg = Idefics3Config(text_config=text, vision_config=spec.vision, scale_factor=spec.scale_factor,
                         image_token_id=image_token_id, tie_word_embeddings=False)
    model = Idefics3ForConditionalGeneration(cfg).eval()
    log.info("built random SmolVLM-%s: %.1fM parameters", size, sum(p.numel() for p in model.parameters()) / 1e6)

    isz, patch = spec.vision["image_size"], spec.vision["patch_size"]
    # The real SmolVLM preprocessing (longest edge 4 tiles, split into tiles + a global view); the backends
    # choose how many tiles to use (one on the CPU by default).
    improc = Idefics3ImageProcessor(size={"longest_edge": 4 * isz}, max_image_size={"longest_edge": isz},
                                    do_image_splitting=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    seq_len = (isz // patch) ** 2 // spec.scale_factor ** 2
    proc = Idefics3Processor(image_processor=improc, tokenizer=tok, image_seq_len=seq_len,
                             chat_template=CHAT_TEMPLATE)
    tok.chat_template = CHAT_TEMPLATE
    model.save_pretrained(tmp)
    model.generation_config.save_pretrained(tmp)
    proc.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    return tmp


class Idefics3(ExportFamily):
    name = "idefics3"
    model_types = ("idefics3",)
    tokenizer_pre = "smollm"
    sizes = tuple(SIZES)
    onnx = True
    language_module = "model.text_model"
    vision_module = "model.vision_model"
    projector_module = "model.connector"

    def build(self, out: Path, size: str = "tiny", seed: int = 0) -> Path:
        return build_smolvlm(out, size, seed)

    def onnx_text_model(self, model):
        return model.model.text_model, model.lm_head

    def gguf_metadata(self, checkpoint: Path) -> tuple[dict[str, str | int], dict[str, str | int]]:
        text: dict[str, str | int] = {"tokenizer.chat_template": GGUF_CHAT_TEMPLATE}
        mmproj: dict[str, str | int] = {}
        if (checkpoint / "vitrine-finetune.json").is_file():
            # Fine-tuned here on one tile of the vision encoder's size. llama.cpp's idefics3 preprocessing scales
            # the longest edge to clip.vision.preproc_image_size (the processor's 4 tiles: a 4x4 grid of slices
            # + an overview for a square frame); at one tile's size it is a 1x1 grid + the overview, the fewest
            # views libmtmd makes for this family (it always adds the slice: README, "llama.cpp's own tools").
            import json
            config = json.loads((checkpoint / "config.json").read_text())
            mmproj["clip.vision.preproc_image_size"] = int(config["vision_config"]["image_size"])
        return text, mmproj

    def onnx_vision(self, model):
        import torch

        class Vision(torch.nn.Module):
            """Full-size, real (non-padding) tiles in: Unfold (the patch grid of padded images) is not
            exportable, and a full tile needs no pixel mask."""

            def __init__(self):
                super().__init__()
                self.vm, self.conn = model.model.vision_model, model.model.connector
                # transformers 5's patch position ids for a full tile, computed as it does (float32 steps,
                # clamp, bucketize): a different rounding shifts some positions by one and parity by 0.14
                n = self.vm.embeddings.num_patches_per_side
                step = 1.0 / torch.tensor([n])
                frac = torch.clamp(torch.arange(n, dtype=torch.float32) * step, max=1.0 - 1e-6)
                b = torch.bucketize(frac, torch.arange(1 / n, 1.0, 1 / n), right=True)
                self.register_buffer("pos", (b[:, None] * n + b).flatten().unsqueeze(0), persistent=False)

            def forward(self, pixel_values):
                emb = self.vm.embeddings
                x = emb.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
                x = x + emb.position_embedding(self.pos)
                x = self.vm.encoder(inputs_embeds=x, attention_mask=None).last_hidden_state
                return self.conn(self.vm.post_layernorm(x))

        return Vision()


FAMILY = Idefics3()

"""SmolVLM (Idefics3) in ONNX, run with onnxruntime + numpy + tokenizers only (no torch at run time).

Layout: onnx-community's three graphs (vision_encoder, embed_tokens, decoder_model_merged). Each graph is fed
what it declares (``session.get_inputs()``), so our exports and the ones HuggingFaceTB / onnx-community publish
both run. Follow-ups: ``encode`` runs the vision encoder *and* the decoder over the prompt up to the end of the
image, and keeps those key/values; a question then only runs the decoder over its own tokens, and a follow-up in a
conversation continues from the key/values its previous answer left (the part they share is kept).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import families
from engine.devices import Device
from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.runtime.backends.base import DecodingBackend, EncodedImage, Prefilled
from engine.runtime.backends.chat_layout import Exchange, kept_prefix, layout_from_template
from engine.runtime.backends.onnx_vision import _NP, OnnxVision, image_processor_config, open_session, measured_encoder
from engine.runtime.constrained import RegexConstraint, VocabularyTrie

log = logging.getLogger(__name__)


@dataclass
class _Conversation:
    """What the decoder's key/values hold after an image prefix: which image, the tokens after it, and them."""
    image: EncodedImage
    ids: list[int]
    past: dict


@dataclass
class _Prefix:
    ids: np.ndarray            # prompt tokens up to the end of the image block
    past: dict                 # past_key_values.N.key/value after them
    image_features: np.ndarray


def _vision_device(placement, vision: Path, folder: Path, threads: int) -> str | None:
    """The OpenVINO device for the vision graph, or None for onnxruntime: the one asked for (gpu, npu), under
    auto the one measured faster here (timed once, kept in the cache), under cpu and cuda none."""
    if placement is None or placement.device in (Device.CPU, Device.CUDA):
        return None
    if placement.encoder:
        return placement.encoder
    if "CUDAExecutionProvider" in placement.ort_providers:
        return None
    choice = measured_encoder(vision, folder, threads)
    return None if choice == "onnx" else choice


def _find(folder: Path, name: str, suffix: str = "") -> Path:
    for cand in (folder / name.replace(".onnx", f"{suffix}.onnx"), folder / "onnx" / name.replace(".onnx", f"{suffix}.onnx")):
        if cand.is_file():
            return cand
    raise VitrineError(f"{folder} has no {name.replace('.onnx', suffix + '.onnx')}: export the model again "
                       "(vitrine export onnx) or copy the whole folder")


class OnnxBackend(DecodingBackend):
    samples = True                 # temperature, top_p and seed (GenerationOptions.picker)

    def __init__(self, folder: Path | str, *, model_id: str = "", threads: int | None = None,
                 files: dict[str, str] | None = None, variant: str = "", languages: tuple[str, ...] = ("en",),
                 family: str = "idefics3", placement=None):
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.model_id = model_id or folder.name
        self.languages = tuple(languages)
        self.threads = threads or os.cpu_count() or 2
        files = files or {}
        paths = {role: folder / files[role] if role in files else _find(folder, name, variant)
                 for role, name in (("vision", "vision_encoder.onnx"), ("embed", "embed_tokens.onnx"),
                                    ("decoder", "decoder_model_merged.onnx"))}
        cfg_path = folder / "config.json"
        if not cfg_path.is_file():
            raise VitrineError(f"{folder} has no config.json: copy the whole exported folder")
        cfg = json.loads(cfg_path.read_text())
        tc, vc = cfg["text_config"], cfg["vision_config"]
        self.n_layers = tc["num_hidden_layers"]
        self.family = families.get(family) or families.get("idefics3")   # onnx-community folders: SmolVLM
        self.image_token_id = cfg.get("image_token_id", cfg.get("image_token_index"))
        self.image_size = vc.get("image_size", 512)
        patch, scale = vc.get("patch_size", 16), cfg.get("scale_factor", 1)   # pixel shuffle (SmolVLM) or none
        self.image_seq_len = (self.image_size // patch) ** 2 // (scale * scale)

        tok_path = folder / "tokenizer.json"
        if not tok_path.is_file():
            raise VitrineError(f"{folder} has no tokenizer.json: copy the whole exported folder")
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.eos_ids = self._eos_ids(folder, cfg)
        template = self._chat_template(folder)

        t0 = time.perf_counter()
        providers = placement.ort_providers if placement else ("CPUExecutionProvider",)
        encoder = _vision_device(placement, paths["vision"], folder, self.threads)
        self.sessions = {role: open_session(path, self.threads, spin_within_run=role == "vision", providers=providers)
                         for role, path in paths.items() if role != "vision" or not encoder}
        if encoder:     # OpenVINO (engine/devices.py): the vision graph only; the decoder stays on onnxruntime
            self.vision = OnnxVision.open(paths["vision"], folder, self.threads, openvino=encoder)
            self.sessions["vision"] = self.vision.session
        else:
            self.vision = OnnxVision(self.sessions["vision"], cfg, image_processor_config(folder))
        self.device_note = self.vision.describe()
        self.load_s = time.perf_counter() - t0
        self._check_inputs()

        self.layout = layout_from_template(template, {"type": "image"}, "<image>", self.model_id)
        image_block = self.family.onnx_image_block.format(image="<image>" * self.image_seq_len)
        self._prefix_text = self.layout.head + image_block
        self.n_ctx = int(tc.get("max_position_embeddings") or 2048)
        self._conversation: _Conversation | None = None

    # ------------------------------------------------------------------ files
    @staticmethod
    def _eos_ids(folder: Path, cfg: dict) -> set[int]:
        ids = set()
        for path in (folder / "generation_config.json", folder / "config.json"):
            if path.is_file():
                v = json.loads(path.read_text()).get("eos_token_id")
                ids.update(v if isinstance(v, list) else [v] if v is not None else [])
        v = cfg.get("text_config", {}).get("eos_token_id")
        ids.update(v if isinstance(v, list) else [v] if v is not None else [])
        return {int(i) for i in ids}

    @staticmethod
    def _chat_template(folder: Path) -> str:
        if (folder / "chat_template.jinja").is_file():
            return (folder / "chat_template.jinja").read_text(encoding="utf-8")
        for name in ("chat_template.json", "processor_config.json", "tokenizer_config.json"):
            p = folder / name
            if p.is_file():
                t = json.loads(p.read_text()).get("chat_template")
                if t:
                    return t
        raise VitrineError(f"{folder} has no chat template (chat_template.jinja): copy the whole exported folder")

    def _check_inputs(self) -> None:
        need = {"vision": {"pixel_values"}, "embed": {"input_ids"},
                "decoder": {"inputs_embeds", "attention_mask", "past_key_values.0.key"}}
        self.inputs = {role: {i.name: i for i in s.get_inputs()} for role, s in self.sessions.items()}
        for role, names in need.items():
            missing = names - set(self.inputs[role])
            if missing:
                have = ", ".join(self.inputs[role]) or "nothing"
                raise VitrineError(f"the {role} graph does not take {', '.join(sorted(missing))} (it takes {have}): "
                                   "it is not a SmolVLM export in the onnx-community layout")

    # ------------------------------------------------------------------ image
    def preprocess(self, frame: Frame) -> np.ndarray:
        return self.vision.preprocess(frame)

    def image_features(self, frame: Frame) -> np.ndarray:
        return self.vision.features(frame)

    def _embed(self, ids: np.ndarray) -> np.ndarray:
        return self.sessions["embed"].run(None, {"input_ids": ids.astype(np.int64)})[0]

    def _empty_past(self) -> dict:
        past = {}
        for name, meta in self.inputs["decoder"].items():
            if name.startswith("past_key_values."):
                shape = [1 if not isinstance(d, int) and i == 0 else (0 if not isinstance(d, int) else d)
                         for i, d in enumerate(meta.shape)]
                past[name] = np.zeros(shape, _NP.get(meta.type, np.float32))
        return past

    def _decode(self, embeds: np.ndarray, past: dict, past_len: int, all_rows: bool = False) -> tuple[np.ndarray, dict]:
        n = embeds.shape[1]
        feeds = {"inputs_embeds": embeds.astype(_NP.get(self.inputs["decoder"]["inputs_embeds"].type, np.float32)),
                 "attention_mask": np.ones((1, past_len + n), np.int64), **past}
        if "position_ids" in self.inputs["decoder"]:
            feeds["position_ids"] = np.arange(past_len, past_len + n, dtype=np.int64)[None]
        if "use_cache_branch" in self.inputs["decoder"]:
            feeds["use_cache_branch"] = np.array([past_len > 0])
        outs = self.sessions["decoder"].run(None, feeds)
        names = [o.name for o in self.sessions["decoder"].get_outputs()]
        present = {n.replace("present.", "past_key_values."): v for n, v in zip(names, outs) if n.startswith("present")}
        return (outs[0][0] if all_rows else outs[0][0, -1]).astype(np.float32), present

    def encode(self, frame: Frame) -> EncodedImage:
        t0 = time.perf_counter()
        feats = self.image_features(frame)
        # as transformers' processor does: the tokenizer's own special tokens (a Llama BOS, or none)
        ids = np.array([self.tokenizer.encode(self._prefix_text, add_special_tokens=True).ids], np.int64)
        embeds = self._embed(ids)
        slots = ids[0] == self.image_token_id
        if slots.sum() != feats.shape[0]:
            raise VitrineError(f"the vision encoder made {feats.shape[0]} image tokens where the prompt has "
                               f"{int(slots.sum())}: the model files do not belong together")
        embeds[0, slots] = feats.astype(embeds.dtype)
        _, past = self._decode(embeds, self._empty_past(), 0)
        return EncodedImage(key=frame.key, n_tokens=int(feats.shape[0]), encode_s=time.perf_counter() - t0,
                            state=_Prefix(ids=ids, past=past, image_features=feats))

    # ------------------------------------------------------------------ text
    def tokens(self, text: str) -> list[int]:
        """``text``'s tokens as a turn is fed: as they come after other tokens in one prompt: encoded behind an image token and cut
        after it, or a sentencepiece tokenizer would start them with a word-boundary piece of their own."""
        ids = self.tokenizer.encode("<image>" + text, add_special_tokens=False).ids
        if not ids or ids[0] != self.image_token_id:
            ids = [self.image_token_id] + self.tokenizer.encode(text, add_special_tokens=False).ids
        return ids[1:]

    def question_ids(self, question: str) -> np.ndarray:
        """The first question's tokens as they come after the image."""
        return np.array([self.tokens(self.layout.first_turn(question))], np.int64)

    def conversation_ids(self, history: tuple[Exchange, ...], question: str) -> list[int]:
        return self.layout.conversation_ids(history, question, self.tokens)

    def _prefill(self, image: EncodedImage, question: str, history: tuple[Exchange, ...], answer_room: int,
                 conv: _Conversation | None) -> tuple[np.ndarray, dict, list[int], int]:
        """Logits after the question, the key/values, the tokens after the image they hold, earlier exchanges
        used. What the last conversation about this image left in the key/values and this one shares is kept."""
        st: _Prefix = image.state
        n_prefix = st.ids.shape[1]
        ids, used = self.layout.fitted(history, question, self.tokens, n_prefix, self.n_ctx, answer_room)
        same, past = 0, st.past
        if conv is not None and conv.image is image:
            same = kept_prefix(conv.ids, ids)
            if same:
                past = {k: v[:, :, :n_prefix + same] for k, v in conv.past.items()}
        logits, past = self._decode(self._embed(np.array([ids[same:]], np.int64)), past, n_prefix + same)
        return logits, past, ids, used

    def teacher_forced_logits(self, image: EncodedImage, question: str, answer_ids: list[int]) -> np.ndarray:
        """Logits after the question and after each of ``answer_ids`` (rows: len(answer_ids) + 1)."""
        st: _Prefix = image.state
        ids = np.concatenate([self.question_ids(question), np.array([answer_ids], np.int64)], 1)
        logits, _ = self._decode(self._embed(ids), st.past, st.ids.shape[1], all_rows=True)
        return logits[-(len(answer_ids) + 1):]

    def image_embedding(self, image: EncodedImage) -> np.ndarray:
        return image.state.image_features

    # ------------------------------------------------------------------ decoding (engine/runtime/decoding.py)
    def prefill(self, image: EncodedImage, question: str, history: tuple[Exchange, ...],
                answer_room: int) -> Prefilled:
        conv, self._conversation = self._conversation, None     # until this answer's key/values are whole
        logits, past, held, used = self._prefill(image, question, history, answer_room, conv)
        prompt_tokens = image.state.ids.shape[1] + len(held)      # image + conversation + question
        kv = {"past": past, "len": prompt_tokens}

        def step(tok: int) -> np.ndarray:
            logits, kv["past"] = self._decode(self._embed(np.array([[tok]], np.int64)), kv["past"], kv["len"])
            kv["len"] += 1
            held.append(tok)
            return logits

        def done() -> None:                 # a follow-up continues from these key/values
            self._conversation = _Conversation(image, held, kv["past"])
        return Prefilled(logits=logits, step=step, prompt_tokens=prompt_tokens, history_used=used, done=done)

    @property
    def end_tokens(self) -> tuple[int, ...]:
        return tuple(sorted(self.eos_ids))

    def is_end(self, token: int) -> bool:
        return token in self.eos_ids

    def detokenize(self, ids) -> str:
        return self.tokenizer.decode(list(ids))

    def constraint_for(self, node):
        if getattr(self, "_trie", None) is None:      # built once: ~1-2 s for a 49k vocabulary
            # each token's text as it reads after another token (a sentencepiece "▁red" is " red" there,
            # "red" alone at the start)
            anchor = self.tokenizer.encode("a", add_special_tokens=False).ids[-1:]
            head = self.tokenizer.decode(anchor, skip_special_tokens=False)
            self._token_texts = [self.tokenizer.decode(anchor + [i], skip_special_tokens=False)[len(head):]
                                 for i in range(self.tokenizer.get_vocab_size())]
            # special tokens (end of utterance, <image>...) spell markup, not text: in a free string their
            # "<end_of_utterance>" passed as characters and ended the answer inside it ({"s": ")
            for i in self.special_ids():
                if i < len(self._token_texts):
                    self._token_texts[i] = ""
            self._trie = VocabularyTrie(self._token_texts)
        return RegexConstraint(node, self._trie, self._token_texts, sorted(self.eos_ids))

    def special_ids(self) -> set[int]:
        """The tokens that spell markup, not text (added special tokens, the end tokens, the image token)."""
        added = getattr(self.tokenizer, "get_added_tokens_decoder", None)
        ids = {i for i, t in added().items() if getattr(t, "special", True)} if added else set()
        return ids | set(self.eos_ids) | ({self.image_token_id} if self.image_token_id is not None else set())

    def close(self) -> None:
        self.sessions = {}

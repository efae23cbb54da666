"""An ONNX vision encoder on its own: a frame in, the projected image features out (the tokens the text model
takes). The ONNX backend runs it in front of its decoder; a hybrid model runs it in front of llama.cpp's."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import VitrineError
from ..frames import Frame

_NP = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64, "tensor(bool)": np.bool_}


def session_options(threads: int, spin_within_run: bool = False):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # Spinning threads fight each other (and the other session) on 2 cores: measured 20 -> 3-7 tok/s. One long
    # run (a vision encoder) may spin inside itself if its threads stop when it ends: 0.41 s a frame, not 0.44,
    # and no core taken afterwards (SmolVLM-256M int8, 2 threads).
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_within_run else "0")
    if spin_within_run:
        so.add_session_config_entry("session.force_spinning_stop", "1")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Memory patterns pre-plan one block per input shape; with the vision encoder's large activations they
    # piled up to 811 MB peak on SmolVLM-256M int8, 690 MB without (same speed, measured).
    so.enable_mem_pattern = False
    return so


def open_session(path: Path, threads: int, spin_within_run: bool = False):
    import onnxruntime as ort
    try:
        return ort.InferenceSession(str(path), session_options(threads, spin_within_run),
                                    providers=["CPUExecutionProvider"])
    except Exception as e:      # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise VitrineError(f"{path.name} is damaged or not an ONNX model ({str(e).splitlines()[0][:120]}): "
                           "export or copy it again") from None


def image_processor_config(folder: Path) -> dict:
    """Normalisation settings: preprocessor_config.json (onnx-community, transformers 4), else the
    "image_processor" part of processor_config.json (transformers 5 saves them there)."""
    pre = folder / "preprocessor_config.json"
    if pre.is_file():
        return json.loads(pre.read_text())
    proc = folder / "processor_config.json"
    if proc.is_file():
        return json.loads(proc.read_text()).get("image_processor", {})
    return {}


class OnnxVision:
    def __init__(self, session, config: dict, preprocessor: dict):
        self.session = session
        self.inputs = {i.name: i for i in session.get_inputs()}
        if "pixel_values" not in self.inputs:
            have = ", ".join(self.inputs) or "nothing"
            raise VitrineError(f"the vision graph does not take pixel_values (it takes {have}): it is not a vision "
                               "encoder export")
        self.image_size = config.get("vision_config", {}).get("image_size", 512)
        self.mean = np.array(preprocessor.get("image_mean", [0.5] * 3), np.float32)
        self.std = np.array(preprocessor.get("image_std", [0.5] * 3), np.float32)
        self.rescale = float(preprocessor.get("rescale_factor", 1 / 255))

    @classmethod
    def open(cls, path: Path, folder: Path, threads: int) -> "OnnxVision":
        """``path``: the vision_encoder.onnx; ``folder``: where its config.json and preprocessor settings are."""
        cfg = folder / "config.json"
        if not cfg.is_file():
            raise VitrineError(f"{folder} has no config.json: copy the whole exported folder")
        return cls(open_session(path, threads, spin_within_run=True), json.loads(cfg.read_text()),
                   image_processor_config(folder))

    def preprocess(self, frame: Frame) -> np.ndarray:
        """One tile: the frame resized to the encoder's square input."""
        x = frame.square_tile(self.image_size).astype(np.float32) * self.rescale
        x = (x - self.mean) / self.std
        return x.transpose(2, 0, 1)[None]               # 1, 3, S, S

    def features(self, frame: Frame) -> np.ndarray:
        """n_tokens x hidden, float32."""
        pv = self.preprocess(frame)
        declared = self.inputs
        if len(declared["pixel_values"].shape) == 5:      # onnx-community: batch, images, 3, S, S (+ mask)
            pv = pv[None]
        feeds = {"pixel_values": pv.astype(_NP.get(declared["pixel_values"].type, np.float32))}
        if "pixel_attention_mask" in declared:
            feeds["pixel_attention_mask"] = np.ones((1, 1, self.image_size, self.image_size), np.bool_)
        out = self.session.run(None, feeds)[0]
        return out.reshape(-1, out.shape[-1]).astype(np.float32)

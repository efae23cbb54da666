"""BLIP VQA (ViT + BERT encoder-decoder; Salesforce/blip-vqa-base): one of the brief's two baselines. Runs only
as a transformers reference in `vitrine eval` (no GGUF or ONNX export)."""
from engine.families import Family, Reference


class BlipReference(Reference):
    runner = "generate"

    def load_model(self, checkpoint):
        from transformers import BlipForQuestionAnswering
        return BlipForQuestionAnswering.from_pretrained(checkpoint)

    def inputs(self, processor, image, question: str) -> dict:
        return processor(images=image, text=question, return_tensors="pt")


FAMILY = Family(name="blip-vqa", about="BLIP VQA (reference only)", projector_types=(), model_types=("blip",),
                reference=BlipReference())

"""SmolVLM / SmolVLM2 (Idefics3: SigLIP + pixel shuffle + SmolLM2). English only: questions are translated."""
from engine.families import Family, Reference, SingleView


class Idefics3Reference(Reference):
    feature_keys = ("pixel_values", "pixel_attention_mask")
    eos_token = "<end_of_utterance>"

    def load_processor(self, checkpoint):
        processor = super().load_processor(checkpoint)
        processor.image_processor.do_image_splitting = False     # one tile, as the runtimes do by default
        return processor


# libmtmd writes "<fake><row_1_col_1>[slice]\n\n<fake><global-img>[overview]<fake>" even for a 1x1 grid;
# transformers' unsplit prompt is "<fake><global-img>[image]<fake>": drop the slice's two opening tokens and the
# "\n\n" separator, keep the overview (same greedy tokens as transformers with an F16 GGUF, measured).
FAMILY = Family(
    name="idefics3", about="SmolVLM (SigLIP + SmolLM2)", projector_types=("idefics3",),
    single_view=SingleView(overview="last", drop_before=2, skip_between=1),
    model_types=("idefics3",), reference=Idefics3Reference(),
    onnx_image_block="<fake_token_around_image><global-img>{image}<fake_token_around_image>",
)

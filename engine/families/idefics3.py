"""SmolVLM / SmolVLM2 (Idefics3: SigLIP + pixel shuffle + SmolLM2). English only: questions are translated."""
from . import Family, SingleView

# libmtmd writes "<fake><row_1_col_1>[slice]\n\n<fake><global-img>[overview]<fake>" even for a 1x1 grid;
# transformers' unsplit prompt is "<fake><global-img>[image]<fake>": drop the slice's two opening tokens and the
# "\n\n" separator, keep the overview (same greedy tokens as transformers with an F16 GGUF, measured).
FAMILY = Family(
    name="idefics3", about="SmolVLM (SigLIP + SmolLM2)", projector_types=("idefics3",),
    single_view=SingleView(overview="last", drop_before=2, skip_between=1),
)

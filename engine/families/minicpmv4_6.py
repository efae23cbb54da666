"""MiniCPM-V 4.6 (SigLIP2-style vision + merger + Qwen3.5, a hybrid text model): multilingual, answers in
Portuguese itself. Native in transformers >= 5.7; converts with llama.cpp's own converter."""
from . import Family, SingleView

# libmtmd: "<image>[overview]</image><slice>[s]</slice>\n<slice>[s]</slice>\n"; HF also writes
# "<image_id>0</image_id>" before "<image>", which libmtmd leaves to the prompt. One view keeps
# "<image>[overview]</image>" and the question follows, as HF's unsliced layout does.
FAMILY = Family(
    name="minicpmv4_6", about="MiniCPM-V 4.6 (SigLIP2 + Qwen3.5, hybrid)", projector_types=("minicpmv4_6",),
    languages=("en", "pt", "multi"), image_prefix="<image_id>0</image_id>",
    single_view=SingleView(overview="first", keep_after=1, drop_tail=2),
)

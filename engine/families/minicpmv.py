"""MiniCPM-V 2.6 / 4.0 (remote-code checkpoints, converted by llama.cpp's legacy scripts): multilingual.

No tiny checkpoint of these can be built here (they need trust_remote_code), so their prompt layout has never
been exercised by a test: `vitrine models list` says so.
"""
from engine.families import Family
from engine.kinds import ChatHandler

FAMILY = Family(
    name="minicpmv", about="MiniCPM-V 2.6 / 4.0", projector_types=("minicpmv", "resampler"),
    languages=("en", "pt", "multi"), chat_handler=ChatHandler.MINICPMV, tested=False,
)

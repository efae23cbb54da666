"""Sets metadata keys of a GGUF file, copying the rest (keys and tensors) as they are.

usage: python -m export.convert.runner LLAMA_CPP_DIR PRE /path/to/gguf_keys.py IN OUT KEYS_JSON

Run through export.convert.runner, which puts the llama.cpp tree's own gguf-py first on the path (the installed
llama-cpp-python has no Python GGUF writer). KEYS_JSON maps each key to a string or an integer (written uint32).
"""
import json
import sys

import gguf
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata


def main() -> None:
    src, dst, keys = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    reader = gguf.GGUFReader(src, "r")
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(dst, arch=arch, endianess=reader.endianess)
    alignment = reader.get_field(gguf.Keys.General.ALIGNMENT)
    if alignment is not None:
        writer.data_alignment = alignment.contents()
    kinds = {int: gguf.GGUFValueType.UINT32, str: gguf.GGUFValueType.STRING}
    new = {k: MetadataDetails(kinds[type(v)], v) for k, v in keys.items()}
    copy_with_new_metadata(reader, writer, new, [])


if __name__ == "__main__":
    main()

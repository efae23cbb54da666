"""`vitrine ask`: questions about an image or a video frame; follow-ups reuse the encoded image."""
from __future__ import annotations

import json
import sys

from engine.devices import check_device
from engine.errors import VitrineError
from engine.media.frames import load_frame
from engine.settings import check_turns

# Every `vitrine` call builds every command group's parser, so a group imports at module level only what that
# needs; what a command runs (the runtime's numpy/OpenCV/llama.cpp chain, the server's FastAPI) loads when it runs.


def cmd_ask(args) -> int:
    from engine.runtime.backends import GenerationOptions, load_backend  # lazy: CLI startup, +0.15 s (the runtime)
    from engine.runtime.session import AskOptions, Session, check_question  # lazy: CLI startup, +0.3 s (the runtime)

    # every cheap check before the slow model load
    questions = [check_question(q) for q in args.question]
    turns = check_turns(args.turns) if args.turns is not None else args.settings.conversation_turns
    if not 1 <= args.tiles <= 16:
        raise VitrineError("--tiles must be between 1 and 16")
    if args.max_tokens < 1 or args.max_tokens > 8192:
        raise VitrineError("--max-tokens must be between 1 and 8192")
    threads = args.settings.threads_for(args.threads)
    check_device(args.device)
    frame = load_frame(args.source, box=args.box)
    backend = load_backend(args.model, mmproj=args.mmproj, threads=threads, tiles=args.tiles, device=args.device,
                           settings=args.settings)
    where = device_note(backend)
    session = Session(backend, conversation_turns=turns, settings=args.settings)
    options = AskOptions(GenerationOptions(max_tokens=args.max_tokens), lang=args.lang, answer_lang=args.answer_lang,
                         translate=not args.no_translate)
    results = []
    try:
        for q in questions:
            if len(questions) > 1 and not args.json:
                print(f"> {q}", flush=True)
            on_token = None if args.json else (lambda piece: print(piece, end="", flush=True))
            answer = session.ask(frame, q, options, on_token=on_token)
            results.append(answer)
            if not args.json:
                print(flush=True)
                if answer.colors:
                    pt = answer.answer_lang == "pt"
                    print("[" + ("cores medidas: " if pt else "measured colours: ") + ", ".join(
                        c.label("pt" if pt else "en") for c in answer.colors) + "]", file=sys.stderr, flush=True)
                t = answer.timings
                enc = "image reused" if answer.reused_image else f"image {t.image_encode_s:.2f}s"
                print(f"[{answer.model} · {where} · {enc} · first token {t.ttft_s:.2f}s · {t.decode_tok_s:.1f} tok/s · "
                      f"{t.n_tokens} tokens]", file=sys.stderr, flush=True)
    finally:
        session.close()
    if args.json:
        out = [a.to_dict() for a in results]
        print(json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False, indent=2))
    return 0


def device_note(backend) -> str:
    """What ran where, for the status line: the image encoder's runtime and device, llama.cpp's layers."""
    note = getattr(backend, "device_note", None)
    if note:
        return note
    return "llama.cpp GPU" if getattr(backend, "n_gpu_layers", 0) else "CPU"


def register(sub) -> None:
    a = sub.add_parser("ask", help="ask about an image or a video frame",
                       description="Ask one or more questions about a frame; follow-ups reuse the encoded image.")
    a.add_argument("source", help="image file, or video with @SECONDS (clip.mp4@12.5) or #FRAME (clip.mp4#300)")
    a.add_argument("question", nargs="+", help="question(s); several run as follow-ups on the same frame")
    a.add_argument("--model", help="installed model name, a text .gguf file, or an exported folder "
                   "(default: $VITRINE_MODEL or the first installed)")
    a.add_argument("--mmproj", help="vision projector .gguf when --model is a file")
    a.add_argument("--box", help="crop to x,y,w,h (pixels) before asking")
    a.add_argument("--tiles", type=int, default=1, help="image detail: 1 tile (fast, default) or more")
    a.add_argument("--threads", help="CPU threads (default: $VITRINE_THREADS, else all cores)")
    a.add_argument("--device", help="auto (default, or $VITRINE_DEVICE): the fastest present and measured; cpu: "
                   "onnxruntime and llama.cpp on the CPU only; gpu/npu: the image encoder on OpenVINO's Intel "
                   "GPU/NPU; cuda: onnxruntime-gpu and llama.cpp's CUDA build")
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--lang", default="auto", help="language of the question: auto (default), pt or en")
    a.add_argument("--answer-lang", help="language of the answer (default: the question's)")
    a.add_argument("--no-translate", action="store_true", help="send the question as it is (multilingual models)")
    a.add_argument("--json", action="store_true", help="print the answer(s) as JSON with timings")
    a.add_argument("--turns", help="earlier questions each follow-up sees (default 4, or "
                   "$VITRINE_CONVERSATION_TURNS; 0: each question on its own)")
    a.set_defaults(func=cmd_ask)

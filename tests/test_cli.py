"""`vitrine` as a user runs it: real processes, real files, one clear line for every mistake."""
import json

import pytest

from tests.helpers import assert_one_line_error, run_cli


def test_ask_an_image_streams_the_answer(installed_tiny, media_dir):
    r = run_cli("ask", media_dir / "look.jpg", "What color are the pants?", "--max-tokens", "8")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    assert "tiny · CPU · image" in r.stderr and "first token" in r.stderr      # the status line says where it ran


def test_ask_a_video_frame_with_box_and_follow_up(installed_tiny, media_dir):
    r = run_cli("ask", f"{media_dir}/clip.mp4@1.2", "What is this?", "What color is it?", "--box", "0,0,48,32",
                "--json", "--max-tokens", "4")
    assert r.returncode == 0, r.stderr
    first, second = json.loads(r.stdout)
    assert first["frame"] == "clip.mp4 @ 1.20s [0,0,48,32]"
    assert not first["reused_image"] and second["reused_image"]
    assert second["timings"]["image_encode_s"] == 0
    assert set(first["timings"]) >= {"image_encode_s", "ttft_s", "decode_tok_s"}
    assert (first["turn"], second["turn"]) == (0, 1)           # the follow-up saw the first exchange


def test_turns_sets_how_much_of_the_conversation_a_follow_up_sees(installed_tiny, media_dir):
    r = run_cli("ask", media_dir / "look.png", "What is this?", "And the colour?", "--turns", "0", "--json",
                "--max-tokens", "3")
    assert r.returncode == 0, r.stderr
    assert [a["turn"] for a in json.loads(r.stdout)] == [0, 0]
    assert_one_line_error(run_cli("ask", media_dir / "look.png", "Hi?", "--turns", "many"), "--turns",
                          "whole number")


def test_ask_with_gguf_files_directly(tiny_gguf, media_dir):
    r = run_cli("ask", media_dir / "look.png", "Hi?", "--model", tiny_gguf / "text-Q8_0.gguf", "--max-tokens", "3")
    assert r.returncode == 0, r.stderr      # the mmproj beside it is found


def test_models_commands(tiny_gguf, tmp_path):
    r = run_cli("models", "import", "shop", "--model", tiny_gguf / "text-Q8_0.gguf",
                "--mmproj", tiny_gguf / "mmproj-f16.gguf")
    assert r.returncode == 0, r.stderr
    r = run_cli("models", "list", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["shop"]["status"] == "installed" and rows["smolvlm-256m"]["status"] == "-"
    assert run_cli("models", "verify").stdout.strip() == "shop: ok"
    assert run_cli("models", "remove", "shop").returncode == 0
    assert_one_line_error(run_cli("models", "remove", "shop"), "unknown model")


@pytest.mark.parametrize("case", ["missing", "corrupt_png", "text_file", "bad_video", "past_end", "empty_q",
                                  "long_q", "bad_box", "box_outside"])
def test_bad_input_gets_one_clear_line(case, installed_tiny, media_dir, tmp_path):
    src, q, extra = str(media_dir / "look.png"), "What is this?", []
    if case == "missing":
        src, needle = str(tmp_path / "nope.jpg"), "file not found"
    elif case == "corrupt_png":
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
        src, needle = str(tmp_path / "broken.png"), "damaged"
    elif case == "text_file":
        (tmp_path / "notes.txt").write_text("hello")
        src, needle = str(tmp_path / "notes.txt"), "not an image or video"
    elif case == "bad_video":
        (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x17" * 5000)
        src, needle = str(tmp_path / "clip.mp4"), "cannot read video"
    elif case == "past_end":
        src, needle = f"{media_dir}/clip.mp4@12.5", "past the end"
    elif case == "empty_q":
        q, needle = "  ", "question is empty"
    elif case == "long_q":
        q, needle = "why " * 400, "too long"
    elif case == "bad_box":
        extra, needle = ["--box", "10,10,abc"], "bad box"
    else:
        extra, needle = ["--box", "900,900,10,10"], "outside"
    assert_one_line_error(run_cli("ask", src, q, *extra), needle)


def test_model_problems_get_one_clear_line(tiny_gguf, media_dir, tmp_path):
    img = media_dir / "look.png"
    assert_one_line_error(run_cli("ask", img, "Hi?"), "no model installed", "install.py", "vitrine models pull")
    assert_one_line_error(run_cli("ask", img, "Hi?", "--model", "gpt-9"), "unknown model")
    lone = tmp_path / "alone" / "text.gguf"
    lone.parent.mkdir()
    lone.write_bytes((tiny_gguf / "text-Q8_0.gguf").read_bytes())
    assert_one_line_error(run_cli("ask", img, "Hi?", "--model", lone), "no vision projector", "--mmproj")
    half = tmp_path / "half.gguf"
    half.write_bytes((tiny_gguf / "text-Q8_0.gguf").read_bytes()[:60_000])
    assert_one_line_error(run_cli("ask", img, "Hi?", "--model", half, "--mmproj", tiny_gguf / "mmproj-f16.gguf"),
                          "truncated")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 100)
    assert_one_line_error(run_cli("ask", img, "Hi?", "--model", junk, "--mmproj", tiny_gguf / "mmproj-f16.gguf"),
                          "not a GGUF")


def test_pull_offline_is_one_line(tmp_path):
    r = run_cli("models", "pull", "smolvlm-256m", "--hub", "http://127.0.0.1:9")
    assert_one_line_error(r, "vitrine models import smolvlm-256m")


def test_export_then_import_then_ask(tiny_checkpoint, media_dir, tmp_path):
    out = tmp_path / "exported"
    r = run_cli("export", "gguf", tiny_checkpoint, "--quant", "Q4_0", "--out", out, "--name", "shop-q4")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} >= {"text-Q4_0.gguf", "mmproj-f16.gguf", "vitrine-model.json"}
    assert run_cli("models", "import", "shop-q4", "--from", out).returncode == 0
    r = run_cli("ask", media_dir / "look.png", "Hi?", "--model", "shop-q4", "--max-tokens", "3")
    assert r.returncode == 0, r.stderr


def test_export_errors(tmp_path, tiny_checkpoint):
    assert_one_line_error(run_cli("export", "gguf", tmp_path, "--out", tmp_path / "o"), "no config.json")
    assert_one_line_error(run_cli("export", "gguf", tiny_checkpoint, "--quant", "Q3", "--out", tmp_path / "o"),
                          "unknown quantization")


def test_bench_prints_the_agreed_keys(tmp_path):
    from tests.fixtures.models import CACHE
    r = run_cli("bench", "--size", "tiny", "--runs", "1", "--max-tokens", "4", "--json",
                env={"VITRINE_BENCH_CACHE": str(CACHE / "bench")})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    keys = {"new_frame_ttft_s", "followup_ttft_s", "decode_tok_s", "peak_rss_mb"}
    assert keys <= set(out) and keys <= set(out["reference"])
    assert set(out["speedup"]) == {"new_frame_ttft", "followup_ttft", "decode"}
    assert out["followup_ttft_s"] < out["new_frame_ttft_s"]
    assert out["third_question_ttft_s"] < out["new_frame_ttft_s"]     # the conversation's third question


def test_ask_in_portuguese_answers_in_portuguese(installed_tiny, media_dir):
    r = run_cli("ask", media_dir / "look.png", "Qual é a cor da calça?", "--json", "--max-tokens", "12")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    assert a["question_lang"] == "pt" and a["answer_lang"] == "pt"
    # the fine-tuning templates word it "trousers" (engine.language.question_lexicon maps the clerk's question to them)
    assert "trousers" in a["question_model"].lower() and a["text_model"]
    r = run_cli("ask", media_dir / "look.png", "Qual é a cor da calça?", "--answer-lang", "en", "--json",
                "--max-tokens", "4")
    assert json.loads(r.stdout)["answer_lang"] == "en"

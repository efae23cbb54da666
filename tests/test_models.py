"""The model store: import, verify, remove, and pull from a hub (a local fake one on 127.0.0.1)."""
import socket

import numpy as np
import pytest

from engine.errors import VitrineError
from engine.media.frames import Frame
from engine.models.manifest import Manifest
from engine.models.hub import plan_pull, pull
from engine.models.profiles import PROFILES
from engine.models.store import ModelStore
from engine.runtime.backends.base import GenerationOptions
from engine.runtime.backends.hybrid import measure_vision_encoders

PROFILE = PROFILES["smolvlm-256m"]


@pytest.fixture
def store(vitrine_home):
    return ModelStore(vitrine_home / "models")


def test_import_files_then_list_verify_remove(store, tiny_gguf):
    m = store.import_files("mine", tiny_gguf / "text-Q8_0.gguf", tiny_gguf / "mmproj-f16.gguf")
    assert m.manifest.family == "idefics3" and m.manifest.quant == "Q8_0" and m.manifest.runtime == "gguf"
    assert [x.name for x in store.installed()] == ["mine"]
    assert store.verify() == {"mine": []}
    # flip one byte: verify must notice
    p = m.path("model")
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    assert "sha256" in store.verify("mine")["mine"][0]
    store.remove("mine")
    assert store.installed() == [] and not m.folder.exists()


def test_import_exported_folder_keeps_its_manifest(store, tiny_gguf):
    m = store.import_folder("tiny2", tiny_gguf)
    assert m.manifest.name == "tiny2" and m.manifest.files == Manifest.load(tiny_gguf).files


def test_import_refuses_truncated_and_swapped_files(store, tiny_gguf, tmp_path):
    half = tmp_path / "half.gguf"
    half.write_bytes((tiny_gguf / "text-Q8_0.gguf").read_bytes()[:50_000])
    with pytest.raises(VitrineError, match="truncated"):
        store.import_files("x", half, tiny_gguf / "mmproj-f16.gguf")
    with pytest.raises(VitrineError, match="not a text model"):
        store.import_files("x", tiny_gguf / "mmproj-f16.gguf", tiny_gguf / "text-Q8_0.gguf")
    assert store.installed() == []          # nothing half-installed


def test_unknown_model_names_the_fix(store):
    with pytest.raises(VitrineError, match="not installed: run `vitrine models pull smolvlm-256m`"):
        store.get("smolvlm-256m")
    with pytest.raises(VitrineError, match="not a known model"):
        store.get("gpt-9")


def test_pull_downloads_in_hub_layout_and_records_sha256(store, hub):
    m = pull(store, "smolvlm-256m-gguf", hub.url)
    assert m.manifest.source == f"{PROFILE.repo}@main" and m.manifest.runtime == "gguf"
    assert {e.path for e in m.manifest.files.values()} == set(PROFILE.files.values())
    assert store.verify("smolvlm-256m-gguf") == {"smolvlm-256m-gguf": []}
    assert all(path.startswith(f"/{PROFILE.repo}/resolve/main/") for path, _ in hub.requests)


def test_the_default_pull_is_a_hybrid_whose_vision_encoder_was_timed_here(store, hub):
    from engine.runtime.backends import load_backend
    from engine.runtime.backends.hybrid import HybridBackend
    m = pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)
    assert m.manifest.runtime == "hybrid"
    onnx_repo = PROFILE.more[0].repo
    assert {p.split("/resolve/")[0].strip("/") for p, _ in hub.requests} == {PROFILE.repo, onnx_repo}
    assert m.manifest.files["vision"].path == "onnx/vision_encoder.onnx"
    vision = m.manifest.extra["vision"]
    assert vision["choice"] in ("onnx-int8", "onnx-fp32", "mmproj", "openvino-cpu", "openvino-int8-cpu") and "ms here" in vision["why"] and vision["cosine"] > 0.9
    assert store.verify("smolvlm-256m") == {"smolvlm-256m": []}
    # OpenVINO's encoders were timed on the float graph rebuilt from the published int8 one; what the chosen
    # encoder runs is listed (and verified above), the rest deleted
    from engine.runtime.backends.onnx_vision import openvino_devices_here
    from engine.runtime.backends.openvino_vision import nncf_available
    assert ("openvino-int8-cpu" in vision["encoders"]) == (nncf_available() and "CPU" in openvino_devices_here())
    assert "made" not in vision
    on_disk = {f"onnx/{p.name}" for p in (m.folder / "onnx").iterdir()}
    assert on_disk == {e.path for e in m.manifest.files.values() if e.path.startswith("onnx/")}
    assert ("vision_openvino" in m.manifest.files) == (vision["choice"] == "openvino-int8-cpu")
    from tests.helpers import run_cli
    listed = next(line for line in run_cli("models", "list").stdout.splitlines() if line.startswith("smolvlm-256m "))
    assert f"hybrid, vision encoder {vision['choice']}: {vision['why']}" in listed
    with load_backend("smolvlm-256m", store=store, threads=1, settings=Settings.from_env()) as b:
        assert isinstance(b, HybridBackend) and b.vision_choice == vision["choice"]
        image = b.encode(Frame(np.full((64, 64, 3), 200, np.uint8), "pulled"))
        assert b.generate(image, "What is this?", GenerationOptions(max_tokens=3, ban_eos=True)).n_tokens == 3


def test_pull_resumes_after_a_dropped_connection(store, hub):
    hub.drop_after = 40_000
    with pytest.raises(VitrineError, match="again to resume"):
        pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)
    assert store.installed() == []
    pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)
    ranges = [r for _, r in hub.requests if r]
    assert ranges == ["bytes=40000-"]               # the second attempt asked only for the rest
    assert store.verify() == {"smolvlm-256m": []}


def test_pull_rejects_corrupted_download(store, hub):
    hub.corrupt_next = True
    with pytest.raises(VitrineError, match="corrupted"):
        pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)
    pull(store, "smolvlm-256m", hub.url, measure_encoders=measure_vision_encoders)             # a clean retry works
    assert store.verify() == {"smolvlm-256m": []}


def test_pull_offline_says_how_to_import_by_hand(store):
    with socket.socket() as s:                      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(VitrineError) as e:
        pull(store, "smolvlm-256m", f"http://127.0.0.1:{port}", measure_encoders=measure_vision_encoders)
    msg = str(e.value)
    assert "\n" not in msg and "vitrine models import smolvlm-256m --model" in msg


def test_pull_unknown_name(store, hub):
    with pytest.raises(VitrineError, match="unknown model"):
        pull(store, "nope", hub.url)


# ------------------------------------------------------------------ damaged values (issue 24): validated, then run once
import shutil  # noqa: E402
import sys  # noqa: E402

from engine.errors import ModelFault  # noqa: E402
from engine.models.manifest import file_entry  # noqa: E402
from engine.models import gguf_file  # noqa: E402
from engine.models import trial as model_trial
from engine.settings import Settings
from tests.fixtures.gguf_edit import write_with  # noqa: E402

# what made llama.cpp abort (exit 134) or Python divide by zero, as the issue found them
DAMAGES = [("text-Q8_0.gguf", "llama.attention.layer_norm_rms_epsilon", float("nan"), "nan"),
           ("text-Q8_0.gguf", "llama.block_count", 999, "999"),
           ("mmproj-f16.gguf", "clip.vision.image_size", 0, "0"),
           ("mmproj-f16.gguf", "clip.vision.patch_size", 0, "0")]
DAMAGE_IDS = ["nan-epsilon", "block-count-999", "image-size-0", "patch-size-0"]


def damaged_pair(tiny_gguf, tmp_path, file, key, value):
    """The tiny model's text GGUF and projector, one of them with ``key`` set to ``value``."""
    pair = {"text-Q8_0.gguf": tiny_gguf / "text-Q8_0.gguf", "mmproj-f16.gguf": tiny_gguf / "mmproj-f16.gguf"}
    pair[file] = write_with(tiny_gguf / file, tmp_path / file, key, value)
    return pair["text-Q8_0.gguf"], pair["mmproj-f16.gguf"]


def nothing_installed(store):
    return store.installed() == [] and not [p for p in store.root.glob("*") if p.name not in (".lock", ".lock.info")]


@pytest.mark.parametrize("file,key,value,shown", DAMAGES, ids=DAMAGE_IDS)
def test_a_damaged_value_is_refused_in_one_line_naming_file_key_and_value(store, tiny_gguf, tmp_path, file, key,
                                                                          value, shown):
    model, mmproj = damaged_pair(tiny_gguf, tmp_path, file, key, value)
    with pytest.raises(ModelFault) as e:
        store.import_files("aa-bad", model, mmproj)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{file} is damaged: {key} = {shown} ("), msg
    assert nothing_installed(store)
    # and loading the files directly says the same before llama.cpp sees them (a crash would end this test run)
    from engine.runtime.backends import load_backend
    with pytest.raises(ModelFault, match=key.replace(".", r"\.")):
        load_backend(str(model), mmproj=str(mmproj), threads=1, settings=Settings.from_env())


def test_values_inconsistent_with_the_tensors_are_refused(tiny_gguf, tmp_path):
    cases = [("text-Q8_0.gguf", "llama.embedding_length", 96, "token_embd.weight is 64 wide"),
             ("text-Q8_0.gguf", "llama.block_count", 1, "tensors for 2 layers"),
             ("text-Q8_0.gguf", "llama.attention.head_count_kv", 3, "must divide the 4 attention heads"),
             ("text-Q8_0.gguf", "llama.rope.freq_base", float("inf"), "not a finite number"),
             ("text-Q8_0.gguf", "llama.context_length", 0, "must be from 1"),
             ("mmproj-f16.gguf", "clip.vision.patch_size", 8, "16x16 px patches"),
             ("mmproj-f16.gguf", "clip.vision.image_size", 4096, "patches of 16 px per view"),
             ("mmproj-f16.gguf", "clip.vision.image_size", 96, "v.position_embd.weight has 16 positions"),
             ("mmproj-f16.gguf", "clip.vision.attention.head_count", 3, "does not divide"),
             ("mmproj-f16.gguf", "clip.vision.image_std", 0.0, "must be from"),
             ("mmproj-f16.gguf", "clip.vision.projector.scale_factor", 3, "does not divide the 4 patches")]
    # what aborted (or hung) llama.cpp in a sweep over the tiny MiniCPM-V 4.6 (Qwen3.5) that the first checks let by
    from tests.fixtures import models
    qwen = models.tiny_gguf("Q8_0", "f16", family="minicpmv4_6")
    cases += [(qwen / "text-Q8_0.gguf", "qwen35.rope.dimension_count", 0, "must be from 2"),           # hung
              (qwen / "text-Q8_0.gguf", "qwen35.rope.dimension_count", 3, "must be even"),
              (qwen / "text-Q8_0.gguf", "qwen35.rope.dimension_sections", 999, "at most 32 dimension pairs"),
              (qwen / "text-Q8_0.gguf", "qwen35.rope.dimension_sections", 0, "at most 32 dimension pairs"),
              (qwen / "text-Q8_0.gguf", "qwen35.ssm.inner_size", 3, "ssm_out tensors take 256 values"),
              (qwen / "mmproj-f16.gguf", "clip.vision.projector.scale_factor", 0, "must be from 1")]
    for file, key, value, why in cases:
        src = tiny_gguf / file if isinstance(file, str) else file
        file = src.name
        path = write_with(src, tmp_path / file, key, value)
        with pytest.raises(ModelFault, match=why) as e:
            gguf_file.check_gguf(path, "mmproj" if file.startswith("mmproj") else "model")
        assert key in str(e.value) and "\n" not in str(e.value)


def test_memory_the_file_implies_is_compared_with_the_machine(tiny_gguf):
    info = gguf_file.read_gguf(tiny_gguf / "mmproj-f16.gguf")
    need = gguf_file.check_hyperparameters(info, memory=1 << 40)
    assert need >= info.expected_size
    with pytest.raises(ModelFault, match="more than the 0.0 GB this machine has"):
        gguf_file.check_hyperparameters(info, memory=need - 1)


def test_a_damaged_model_already_installed_is_damaged_in_list_and_verify_and_never_the_default(store, tiny_gguf):
    """Installed before these checks (or damaged since, hashes updated): it sorts first, yet the default is the
    good model, `models list` says damaged and `models verify` exits 1."""
    from engine.runtime.backends import default_model, load_backend
    from tests.helpers import run_cli
    store.import_folder("zz-good", tiny_gguf)
    bad = store.root / "aa-bad"
    shutil.copytree(store.root / "zz-good", bad)
    m = Manifest.load(bad)
    write_with(bad / m.files["model"].path, bad / "damaged.gguf", "llama.attention.layer_norm_rms_epsilon",
               float("nan"))
    (bad / m.files["model"].path).unlink()
    m.name, m.files["model"] = "aa-bad", file_entry(bad, "damaged.gguf")      # the hashes match the damaged file
    m.save(bad)
    assert [x.name for x in store.vlms()] == ["zz-good"]
    assert default_model(store) == "zz-good"
    results = store.verify()
    assert results["zz-good"] == [] and "layer_norm_rms_epsilon = nan" in results["aa-bad"][0]
    assert "layer_norm_rms_epsilon" in store.verify("aa-bad")["aa-bad"][0]
    r = run_cli("models", "verify")
    assert r.returncode == 1 and "aa-bad: DAMAGED" in r.stdout and "zz-good: ok" in r.stdout, r.stdout
    r = run_cli("models", "list", "--json")
    import json
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["aa-bad"]["status"] == "damaged" and rows["zz-good"]["status"] == "installed"
    with pytest.raises(ModelFault, match="layer_norm_rms_epsilon"):
        load_backend("aa-bad", store=store, threads=1, settings=Settings.from_env())
    store.remove("zz-good")         # only the damaged one left: said so, not "no model installed"
    with pytest.raises(VitrineError, match=r"no usable model: aa-bad is damaged \(damaged.gguf is damaged: llama"):
        default_model(store)


def test_import_runs_the_model_once_in_a_child_process(store, tiny_gguf, monkeypatch):
    seen = []
    real = model_trial.trial_run
    monkeypatch.setattr(model_trial, "trial_run", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    store.import_files("mine", tiny_gguf / "text-Q8_0.gguf", tiny_gguf / "mmproj-f16.gguf")
    assert seen and seen[0]["tokens"] == model_trial.TRIAL_TOKENS


def _child(monkeypatch, code: str) -> None:
    """The trial's child replaced by ``code`` (run with the job on stdin, as the real one)."""
    monkeypatch.setattr(model_trial, "_child_command", lambda: [sys.executable, "-c", code])


@pytest.mark.parametrize("code,expect", [
    ("import os; os.abort()", r"crashed inside the runtime, SIGABRT"),
    ("import time; time.sleep(30)", r"no answer within 3 s"),
    ("pass", r"exit code 0 and no answer"),
    ("print('VITRINE-TRIAL {\"tokens\": 0}')", r"answered nothing"),
    ("import engine.runtime.backends.trial_child as t; t._child = lambda job: bytearray(3 << 30) and {'tokens': 1}; "
     "raise SystemExit(t.main())", r"ran out of the memory allowed"),
], ids=["crash", "hang", "silent", "no-tokens", "memory"])
def test_a_model_that_crashes_hangs_runs_out_of_memory_or_answers_nothing_is_refused(store, tiny_gguf, monkeypatch,
                                                                                   code, expect):
    if expect.startswith("ran out") and sys.platform == "win32":
        pytest.skip("no address-space limit on Windows: only the time limit applies")
    _child(monkeypatch, code)
    monkeypatch.setattr(model_trial, "BASE_TIMEOUT_S", 3.0)
    monkeypatch.setattr(model_trial, "HEADROOM_BYTES", 1 << 30)      # 3 GB is more than the child may have
    with pytest.raises(ModelFault, match=expect) as e:
        store.import_folder("aa-bad", tiny_gguf)
    assert "\n" not in str(e.value) and str(e.value).startswith("aa-bad was not installed")
    assert nothing_installed(store)


# the child with the hyperparameter checks switched off, as in a version without them
UNCHECKED_CHILD = ("import engine.models.gguf_file as g; g.check_hyperparameters = lambda *a, **k: 0; "
                   "import engine.runtime.backends.trial_child as t; raise SystemExit(t.main())")


@pytest.mark.parametrize("file,key,value,shown", DAMAGES, ids=DAMAGE_IDS)
def test_the_trial_run_catches_what_validation_misses(store, tiny_gguf, tmp_path, monkeypatch, file, key, value,
                                                      shown):
    monkeypatch.setattr(gguf_file, "check_hyperparameters", lambda *a, **k: 0)
    _child(monkeypatch, UNCHECKED_CHILD)
    model, mmproj = damaged_pair(tiny_gguf, tmp_path, file, key, value)
    with pytest.raises(ModelFault, match="aa-bad was not installed: it failed when run once to check it") as e:
        store.import_files("aa-bad", model, mmproj)
    assert "\n" not in str(e.value)
    assert nothing_installed(store)


def test_a_pulled_model_that_fails_its_trial_is_not_installed_and_its_download_is_gone(store, hub, monkeypatch):
    _child(monkeypatch, "import os; os.abort()")
    with pytest.raises(ModelFault, match="smolvlm-256m-gguf was not installed"):
        pull(store, "smolvlm-256m-gguf", hub.url)
    assert nothing_installed(store)


# ------------------------------------------------------------------ profiles against what the hub publishes (issue 28)
from engine.models.download import download, hub_files  # noqa: E402
from tests.fixtures.hub import PUBLISHED, RENAMED, FakeHub  # noqa: E402


@pytest.fixture
def published_hub(tmp_path):
    """Every profile's repo listed as published (names and sizes, nothing to download); renamed repos redirect."""
    with FakeHub(tmp_path / "published") as h:
        for repo in PUBLISHED:
            h.publish(repo)
        h.redirects.update(RENAMED)
        yield h


def test_every_profile_names_files_its_repo_publishes(published_hub):
    for name, prof in PROFILES.items():
        plan = plan_pull(name, published_hub.url)
        for want, remote in plan:
            assert want.path in PUBLISHED[want.repo], (name, want.path)
            assert remote.size == PUBLISHED[want.repo][want.path], (name, want.path)
        if not prof.convert_to:
            assert {w.path for w, _ in plan if w.repo == prof.repo} == set(prof.files.values()), name


def test_minicpm_v_4_6_profiles_as_published(published_hub):
    plan = {w.role: (w.repo, w.path, r.size) for w, r in plan_pull("minicpm-v-4.6", published_hub.url)}
    assert plan["model"][:2] == ("openbmb/MiniCPM-V-4.6-gguf", "MiniCPM-V-4_6-Q4_K_M.gguf")
    assert plan["mmproj"][:2] == ("openbmb/MiniCPM-V-4.6-gguf", "mmproj-model-f16.gguf")
    q8 = {w.role: (w.repo, w.path, r.size) for w, r in plan_pull("minicpm-v-4.6-q8", published_hub.url)}
    assert q8["model"] == ("ggml-org/MiniCPM-V-4.6-GGUF", "MiniCPM-V-4.6-Q4_K_M.gguf", q8["model"][2])
    assert q8["mmproj"] == ("ggml-org/MiniCPM-V-4.6-GGUF", "mmproj-MiniCPM-V-4.6-Q8_0.gguf", 727_954_528)
    assert plan["mmproj"][2] - q8["mmproj"][2] > 350_000_000          # the Q8_0 projector is ~380 MB smaller


def test_tinyllava_downloads_the_published_checkpoint(published_hub):
    got = {w.path for w, _ in plan_pull("tinyllava-1.1b", published_hub.url)}
    assert got == {"added_tokens.json", "config.json", "generation_config.json", "model-00001-of-00002.safetensors",
                   "model-00002-of-00002.safetensors", "model.safetensors.index.json", "preprocessor_config.json",
                   "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}


def test_a_checkpoint_missing_a_shard_or_a_tokenizer_is_refused_before_downloading(published_hub):
    repo = "bczhou/tiny-llava-v1-hf"
    listing = dict(PUBLISHED[repo])
    published_hub.listed[repo] = {k: v for k, v in listing.items() if k != "model-00002-of-00002.safetensors"}
    with pytest.raises(VitrineError, match="not model-00002-of-00002.safetensors"):
        plan_pull("tinyllava-1.1b", published_hub.url)
    published_hub.listed[repo] = {k: v for k, v in listing.items() if k != "tokenizer.json"}
    with pytest.raises(VitrineError, match="neither tokenizer.json nor tokenizer.model"):
        plan_pull("tinyllava-1.1b", published_hub.url)


def test_a_wrong_file_name_fails_against_the_published_listing(published_hub, monkeypatch):
    from dataclasses import replace
    old = replace(PROFILES["minicpm-v-4.6"], files={"model": "MiniCPM-V-4_6-Q4_K_M.gguf",
                                                     "mmproj": "mmproj-MiniCPM-V-4_6-F16.gguf"})
    monkeypatch.setitem(PROFILES, "minicpm-v-4.6", old)
    with pytest.raises(VitrineError, match="mmproj-MiniCPM-V-4_6-F16.gguf is not in"):
        plan_pull("minicpm-v-4.6", published_hub.url)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_renamed_repo_is_followed_for_the_listing_and_the_download(tmp_path, status):
    """openbmb's repo answers under its dotted name; the underscore name redirects (relative Location)."""
    old, new = "openbmb/MiniCPM-V-4_6-gguf", "openbmb/MiniCPM-V-4.6-gguf"
    payload = bytes(range(256)) * 400
    src = tmp_path / "src.bin"
    src.write_bytes(payload)
    with FakeHub(tmp_path / "hub") as h:
        h.add(new, "mmproj-model-f16.gguf", src)
        h.redirects[old], h.redirect_status = new, status
        listing = hub_files(h.url, old)
        assert listing["mmproj-model-f16.gguf"].size == len(payload)
        dest = tmp_path / "got.gguf"
        dest.with_name(dest.name + ".part").write_bytes(payload[:1000])       # a resumed download: Range survives
        download(f"{h.url}/{old}/resolve/main/mmproj-model-f16.gguf", dest, listing["mmproj-model-f16.gguf"])
        assert dest.read_bytes() == payload
        assert [r for p, r in h.requests if r] == ["bytes=1000-", "bytes=1000-"]   # asked at the old and new name


# the real repos' own names for the pair (not the profiles'): a profile naming anything else fails to pull
MINICPM_PUBLISHED = {"minicpm-v-4.6": ("openbmb/MiniCPM-V-4.6-gguf", "MiniCPM-V-4_6-Q4_K_M.gguf",
                                       "mmproj-model-f16.gguf"),
                     "minicpm-v-4.6-q8": ("ggml-org/MiniCPM-V-4.6-GGUF", "MiniCPM-V-4.6-Q4_K_M.gguf",
                                          "mmproj-MiniCPM-V-4.6-Q8_0.gguf")}


@pytest.mark.parametrize("name,repo", [("minicpm-v-4.6", "openbmb/MiniCPM-V-4_6-gguf"),   # the old name: followed
                                       ("minicpm-v-4.6", None), ("minicpm-v-4.6-q8", None)])
def test_minicpm_v_4_6_pulls_from_the_published_repo(store, tmp_path, monkeypatch, name, repo):
    """The repo as published (every file listed), its two files served as the tiny MiniCPM-V 4.6; a profile still
    naming openbmb's old underscore repo installs through the redirect."""
    from dataclasses import replace

    from tests.fixtures import models
    tiny = models.tiny_gguf("Q8_0", "f16", family="minicpmv4_6")
    real_repo, model, mmproj = MINICPM_PUBLISHED[name]
    monkeypatch.setattr("engine.models.hub.available_mb", lambda: 64e3)    # the profile asked for, not its variant
    if repo:
        monkeypatch.setitem(PROFILES, name, replace(PROFILES[name], repo=repo))
    with FakeHub(tmp_path / "hub") as h:
        h.publish(real_repo)
        h.add(real_repo, model, tiny / "text-Q8_0.gguf")
        h.add(real_repo, mmproj, tiny / "mmproj-f16.gguf")
        h.redirects.update(RENAMED)
        m = pull(store, name, h.url)
        assert {p.split("/resolve/")[1] for p, _ in h.requests} == {f"main/{model}", f"main/{mmproj}"}
    assert {e.path for e in m.manifest.files.values()} == {model, mmproj}
    assert m.manifest.family == "minicpmv4_6" and "pt" in m.manifest.languages
    assert store.verify(name) == {name: []}


def test_a_mirror_without_the_api_that_redirects_files_to_storage_is_still_verified(store, hub):
    """As the real hub sends large files: a redirect carrying the sha256 and size, then bytes from a storage host
    that states neither. With no API listing, those redirect headers are what verifies the download."""
    hub.api, hub.cdn = False, True
    m = pull(store, "smolvlm-256m-gguf", hub.url)
    assert store.verify("smolvlm-256m-gguf") == {"smolvlm-256m-gguf": []}
    assert any(p.startswith("/cdn/") for p, _ in hub.requests) and m.manifest.files["model"].size > 0


def test_minicpm_takes_its_q8_projector_where_memory_is_short(store, tmp_path, monkeypatch):
    """openbmb's f16 projector peaks at 2100 MB answering, ggml-org's Q8_0 one about 380 MB less: a pull of
    minicpm-v-4.6 with less than that (and headroom) free takes the Q8_0 profile."""
    from engine.models.profiles import LOW_MEMORY_HEADROOM, profile_for
    need = PROFILES["minicpm-v-4.6"].peak_mb + LOW_MEMORY_HEADROOM
    assert profile_for("minicpm-v-4.6", need - 1).name == "minicpm-v-4.6-q8"
    assert profile_for("minicpm-v-4.6", need + 1).name == "minicpm-v-4.6"
    assert profile_for("minicpm-v-4.6", None).name == "minicpm-v-4.6"      # unknown: as asked
    assert profile_for("smolvlm-256m", 100).name == "smolvlm-256m"          # no variant: as asked
    # and a pull takes it: asked for minicpm-v-4.6 with 1 GB free, the Q8_0 pair is what comes down
    from tests.fixtures import models
    tiny = models.tiny_gguf("Q8_0", "f16", family="minicpmv4_6")
    monkeypatch.setattr("engine.models.hub.available_mb", lambda: 1000.0)
    real_repo, model, mmproj = MINICPM_PUBLISHED["minicpm-v-4.6-q8"]
    with FakeHub(tmp_path / "hub") as h:
        h.publish(real_repo)
        h.add(real_repo, model, tiny / "text-Q8_0.gguf")
        h.add(real_repo, mmproj, tiny / "mmproj-f16.gguf")
        m = pull(store, "minicpm-v-4.6", h.url)
    assert m.name == "minicpm-v-4.6-q8" and {e.path for e in m.manifest.files.values()} == {model, mmproj}

"""Answer metrics: the official VQA normalisation on its documented cases, the Portuguese variant, the others."""
import pytest

from engine.evaluation import metrics


@pytest.mark.parametrize("raw,normalised", [
    ("Two", "2"),                    # number words become digits
    ("none", "0"),
    ("the dog", "dog"),              # articles go
    ("A red shirt", "red shirt"),
    ("dont", "don't"),               # missing contraction apostrophes come back
    ("yes.", "yes"),                 # a period goes...
    ("3.5", "3.5"),                  # ...unless it is a decimal point
    ("red, white", "red white"),     # punctuation between words becomes a space
    ("red,white", "red white"),
    ("100,978", "100978"),           # digits around a comma: punctuation is deleted, not spaced (vqaEval.py)
    ("  Hot-dog\n", "hot dog"),
    ("left/right", "left right"),
    ("what's", "what's"),            # apostrophes stay
])
def test_official_vqa_normalisation(raw, normalised):
    assert metrics.normalize_answer(raw) == normalised


def test_vqa_accuracy_counts_annotators_like_the_official_script():
    # min(#humans / 3, 1) averaged over the ten leave-one-out subsets
    assert metrics.vqa_accuracy("red", ["red"] * 3 + ["blue"] * 7) == pytest.approx(0.9)
    assert metrics.vqa_accuracy("red", ["red"] * 2 + ["blue"] * 8) == pytest.approx(0.6)
    assert metrics.vqa_accuracy("Red.", ["red"] * 10) == 1.0
    assert metrics.vqa_accuracy("green", ["red"] * 10) == 0.0
    # one or two references (catalog sets): any match is right
    assert metrics.vqa_accuracy("The red", ["red"]) == 1.0
    assert metrics.vqa_accuracy("two", ["2", "two"]) == 1.0


def test_portuguese_variant_drops_articles_and_accents():
    assert metrics.normalize_answer("A camisa é Vermelha.", "pt") == "camisa e vermelha"
    assert metrics.normalize_answer("uma calça", "pt") == "calca"
    assert metrics.normalize_answer("três", "pt") == "3"
    assert metrics.vqa_accuracy("Vermelha!", ["vermelha"], "pt") == 1.0
    assert metrics.vqa_accuracy("vermelho", ["vermelha"], "pt") == 0.0      # agreement matters
    assert metrics.vqa_accuracy("Calça", ["calça"], "pt") == 1.0


def test_contains_f1_levenshtein_anls():
    assert metrics.contains_answer("The shirt is red.", ["red"]) == 1.0
    assert metrics.contains_answer("The shirt is reddish.", ["red"]) == 0.0
    assert metrics.token_f1("a red striped shirt", ["red shirt"]) == pytest.approx(0.8)
    assert metrics.levenshtein("kitten", ["sitting", "mitten"]) == 1
    assert metrics.anls("red", ["red"]) == 1.0
    assert metrics.anls("rod", ["red"]) == pytest.approx(2 / 3)
    assert metrics.anls("blue", ["red"]) == 0.0          # beyond the 0.5 threshold
    assert metrics.exact_match(" Red ", ["red"]) == 1.0 and metrics.exact_match("red.", ["red"]) == 0.0


def test_semantic_threshold_is_calibrated_and_stated(tmp_path):
    from engine.evaluation.report import RunMetrics, to_markdown
    from engine.evaluation.semantic import PAIRS_FILE, Similarity
    sim = Similarity()
    # pairs a working threshold separates completely: the same words (1) and unrelated sentences (0), half each;
    # "always the same" would be right on half
    clear = tmp_path / "pairs.tsv"
    clear.write_text("\n".join([
        "1\tred shirt\tred shirt", "1\tblue striped dress\tblue striped dress", "1\tlong sleeves\tlong sleeves",
        "0\tred shirt\tthe train to the airport leaves at noon from platform four",
        "0\tblue striped dress\tcompile the kernel module before rebooting the server",
        "0\tlong sleeves\tthe recipe needs two eggs, flour and a pinch of salt"]) + "\n", encoding="utf-8")
    c = sim.calibrate(clear)
    assert c.pairs == 6 and c.accuracy == 1.0 and c.chance == 0.5
    # the bundled pairs: the threshold must beat always saying the commoner label (counted here from the file)
    labels = [int(line.split("\t")[0]) for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    chance = max(sum(labels), len(labels) - sum(labels)) / len(labels)
    cal = sim.calibrate()
    assert cal.pairs == len(labels) >= 50 and cal.chance == pytest.approx(chance)
    assert chance < cal.accuracy <= 1.0 and 0.0 < cal.threshold < 1.0
    assert sim.cosine("vermelho", ["red"]) > sim.cosine("", ["red"])
    # and when it beats chance by little, the report's headline says so (not only the README)
    run = RunMetrics(folder="f", data="d.jsonl", rows=1, semantic_threshold=cal.threshold,
                     semantic_calibration="e5 cosine >= 0.815 ... 60% accuracy (always the commoner label: 58%)",
                     models=[], semantic_near_chance=True)
    head = to_markdown(run, []).split("## ")[0]
    assert "near chance" in head and "58%" in head

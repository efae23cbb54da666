"""Answer metrics: the official VQA normalisation on its documented cases, the Portuguese variant, the others."""
import pytest

from engine import metrics


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


def test_semantic_threshold_is_calibrated_and_stated():
    from engine.semantic import Similarity
    sim = Similarity()
    cal = sim.calibrate()
    assert cal.pairs >= 50 and 0.5 < cal.accuracy <= 1.0 and 0.0 < cal.threshold < 1.0
    assert sim.cosine("vermelho", ["red"]) > sim.cosine("", ["red"])

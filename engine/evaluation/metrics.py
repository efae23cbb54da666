"""Answer metrics: the VQA challenge's normalisation and accuracy (with a Portuguese variant), exact match,
token F1, Levenshtein distance (the brief's table) and ANLS.

The English normalisation follows the official VQA evaluation (vqaEval.py, visualqa.org/evaluation.html):
lower case, punctuation except apostrophes and colons becomes a space (or goes when it touches a word), a
period goes unless it is a decimal point, a comma between digits stays, number words become digits, the
articles a/an/the go and missing contraction apostrophes come back ("dont" -> "don't").
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've",
    "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've",
    "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at",
    "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've", "she's": "she's", "shouldve": "should've",
    "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd":
    "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve":
    "someone'd've", "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd",
    "somethingd've": "something'd've", "something'dve": "something'd've", "somethingll": "something'll",
    "thats": "that's", "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've", "therere":
    "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've", "they'dve": "they'd've",
    "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't", "wed've":
    "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre":
    "what're", "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres":
    "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl":
    "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont":
    "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've", "wouldn'tve":
    "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve":
    "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}
_NUMBERS_EN = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
               "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES_EN = {"a", "an", "the"}
_NUMBERS_PT = {"zero": "0", "um": "1", "uma": "1", "dois": "2", "duas": "2", "tres": "3", "quatro": "4",
               "cinco": "5", "seis": "6", "sete": "7", "oito": "8", "nove": "9", "dez": "10"}
# "um"/"uma" are numbers and articles at once; as in English ("a" goes, "one" -> 1), the article reading wins
_ARTICLES_PT = {"o", "a", "os", "as", "um", "uma", "uns", "umas"}
_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?",
          "!"]
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def _punctuation(text: str) -> str:
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out)


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def normalize_answer(text: str, lang: str = "en") -> str:
    """The VQA normalisation of ``text``; ``lang="pt"`` also drops accents and Portuguese articles and reads
    Portuguese number words."""
    text = text.replace("\n", " ").replace("\t", " ").strip().lower()
    if lang == "pt":
        text = strip_accents(text)
    text = _punctuation(text)
    numbers, articles = (_NUMBERS_PT, _ARTICLES_PT) if lang == "pt" else (_NUMBERS_EN, _ARTICLES_EN)
    words = []
    for word in text.split():
        if word in articles:
            continue
        word = numbers.get(word, word)
        words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_accuracy(prediction: str, answers: list[str] | tuple[str, ...], lang: str = "en") -> float:
    """The VQA challenge's accuracy.

    With ten human answers (three or more), min(#humans who said it / 3, 1) averaged over the ten leave-one-out
    subsets, as the official script does. With one or two reference answers (catalog-built sets), a match with
    any of them scores 1: there are no annotators to count.
    """
    pred = normalize_answer(prediction, lang)
    gts = [normalize_answer(a, lang) for a in answers]
    if len(gts) < 3:
        return float(pred in gts)
    scores = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        scores.append(min(1.0, sum(g == pred for g in others) / 3))
    return sum(scores) / len(scores)


def exact_match(prediction: str, answers, lang: str = "en") -> float:
    """1 when the answer is one of the references, ignoring only case and surrounding space."""
    pred = prediction.strip().lower()
    return float(any(pred == a.strip().lower() for a in answers))


def contains_answer(prediction: str, answers, lang: str = "en") -> float:
    """1 when a reference answer appears as whole words inside a longer answer ("The shirt is red." for
    "red"): chat models answer in sentences that VQA accuracy scores 0."""
    pred = f" {normalize_answer(prediction, lang)} "
    return float(any(f" {a} " in pred for a in (normalize_answer(x, lang) for x in answers) if a))


def token_f1(prediction: str, answers, lang: str = "en") -> float:
    """SQuAD-style F1 of normalised words, best over the references."""
    best = 0.0
    pred = normalize_answer(prediction, lang).split()
    for ans in answers:
        gold = normalize_answer(ans, lang).split()
        common = sum(min(pred.count(w), gold.count(w)) for w in set(pred))
        if not pred or not gold or common == 0:
            best = max(best, float(pred == gold))
            continue
        p, r = common / len(pred), common / len(gold)
        best = max(best, 2 * p * r / (p + r))
    return best


def levenshtein(prediction: str, answers) -> int:
    """Edit distance in characters to the closest reference (lower case, trimmed): the brief's measure."""
    pred = prediction.strip().lower()
    return min(Levenshtein.distance(pred, a.strip().lower()) for a in answers)


def anls(prediction: str, answers, threshold: float = 0.5) -> float:
    """Average Normalised Levenshtein Similarity (DocVQA): 1 - distance / longer length, 0 below ``threshold``."""
    pred = prediction.strip().lower()
    best = 0.0
    for a in answers:
        a = a.strip().lower()
        nl = Levenshtein.normalized_distance(pred, a) if (pred or a) else 0.0
        best = max(best, 1 - nl if nl < threshold else 0.0)
    return best


@dataclass(frozen=True)
class Scores:
    vqa: float
    exact: float
    contains: float
    f1: float
    levenshtein: int
    anls: float

    FIELDS = ("vqa", "exact", "contains", "f1", "levenshtein", "anls")


def score(prediction: str, answers, lang: str = "en") -> Scores:
    return Scores(vqa=vqa_accuracy(prediction, answers, lang), exact=exact_match(prediction, answers),
                  contains=contains_answer(prediction, answers, lang), f1=token_f1(prediction, answers, lang),
                  levenshtein=levenshtein(prediction, answers), anls=anls(prediction, answers))

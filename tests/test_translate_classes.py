"""Issue 26's failure classes, each by its mechanism (not by sentence): a pronoun subject agreeing with the garment of
the sentence before, modifiers the lexicon does not know kept out of the translator's glue, "that" before a clause and
a sentence's article, several questions in one box. Unit tests with a fake translator where the mechanism is ours;
a few with the bundled one (Bergamot, offline, milliseconds) where what matters is what the user reads."""
import pytest

from engine.language.glossary import PLACEHOLDERS, Glossary, _that, has_debris
from engine.language.noun_phrase import render
from engine.language.question_lexicon import split_questions, to_english
from engine.language.translate import ASSETS, BundledTranslator, default_glossary
from engine.settings import Settings
from tests.helpers import Echo


@pytest.fixture(scope="module")
def glossary():
    return Glossary.load(ASSETS / "glossary.tsv")


@pytest.fixture(scope="module")
def bundled():
    return BundledTranslator(default_glossary(Settings.from_env()))


def no_translator(text):
    raise AssertionError(f"the translator was asked {text!r}")


# ---------------------------------------------------------------- pronouns across sentences
def _predicate(glossary, before_text, text):
    before = glossary.parser.find(before_text)
    phrase = next(p for p in glossary.parser.find(text, before) if p.run is not None or p.alone is not None)
    return render(phrase), phrase.feminine, phrase.plural


@pytest.mark.parametrize("before,text,want", [
    ("There are skirts on the rack.", "They are long.", ("longas", True, True)),
    ("I can see a pair of boots.", "They are brown.", ("marrons", True, True)),
    ("The woman holds a bag.", "It is dark green.", ("verde-escura", True, False)),
    ("There is a coat on the chair.", "It is made of wool.", ("é feito de lã", False, False)),
    ("I see two blouses.", "One is white and the other is red.", ("branca", True, False)),
    ("There are four skirts on the rack.", "Two are grey.", ("cinza", True, True)),
])
def test_a_pronoun_subject_agrees_with_the_phrase_before(glossary, before, text, want):
    assert _predicate(glossary, before, text) == want


def test_without_a_sentence_before_a_pronoun_predicate_stays_as_it_was(glossary):
    phrase = next(p for p in glossary.parser.find("They are long.") if p.run is not None)
    assert (render(phrase), phrase.subject) == ("longo", None)


def test_the_pronoun_and_the_verb_take_the_antecedents_gender_and_number(glossary):
    tr = Echo({"There are Xavoq on the Quenvik.": "Há Xavoq na Quenvik.",
               "They are Xavoq.": "Eles é o Xavoq."})        # Bergamot's slips: "Eles", "é", an article
    out = glossary.translate_en_pt("There are skirts on the rack. They are long.", tr)
    assert out == "Há saias na arara. Elas são longas."


def test_one_and_the_other_of_a_plural_agree_as_one_of_them(glossary):
    tr = Echo({"There are two Xavoq: one Quenvik, one Brixel.": "Há dois Xavoq: um Quenvik, um Brixel."})
    out = glossary.translate_en_pt("There are two blouses: one striped, one plain.", tr)
    assert out == "Há duas blusas: uma listrada, uma lisa."


def test_numbers_as_subjects_agree(glossary):
    tr = Echo({"There are four Xavoq.": "Há quatro Xavoq.", "Two are Xavoq and two are Quenvik.":
               "Dois é Xavoq e dois é Quenvik."})
    out = glossary.translate_en_pt("There are four skirts. Two are grey and two are navy.", tr)
    assert out == "Há quatro saias. Duas são cinza e duas são azul-marinho."


def test_pronouns_read_right_with_the_bundled_translator(bundled):
    out = bundled.translate("There are leggings in the picture. They are grey.", "en", "pt")
    assert "Elas são cinza" in out and "Eles" not in out
    out = bundled.translate("The man holds a jacket. It is made of suede.", "en", "pt")
    assert out.endswith("É feita de camurça.") and "É é" not in out


# ---------------------------------------------------------------- modifiers the lexicon does not know
def test_an_unknown_modifier_is_taken_into_the_phrase(glossary):
    (phrase,) = glossary.parser.find("A zorvish silk scarf.")
    assert (phrase.start, phrase.end) == (2, 20)                # "zorvish silk scarf": not glue before it
    assert [m.pos for m in phrase.premods] == ["unk"] and render(phrase) == "lenço de seda zorvish"


@pytest.mark.parametrize("alone,rendered", [
    ("É zorvish.", "lenço de seda zorvish"),                # the translator kept it: a loanword
    ("É brilhoso.", "lenço de seda brilhoso"),              # an adjective of its own, agreeing
    ("Ela é brilhosa.", "lenço de seda brilhoso"),          # ... its lemma, then agreeing with the head
    ("É o brilhoso.", "lenço de seda zorvish"),             # with an article it is a noun: the English stays
    ("O brilhoso em.", "lenço de seda zorvish"),            # not the frame back: the English stays
    ("É Xavoq.", "lenço de seda zorvish"),                  # a placeholder's debris: never
])
def test_an_unknown_modifier_is_translated_alone_and_checked(glossary, alone, rendered):
    g = Glossary(glossary.terms)
    tr = Echo({"It is zorvish.": alone, "A Xavoq.": "Um Xavoq."})
    out = g.translate_en_pt("A zorvish silk scarf.", tr)
    assert out == f"Um {rendered}."
    assert tr.calls[0] == "It is zorvish." and not has_debris(out)


def test_an_unknown_modifier_agrees_with_a_feminine_plural_head(glossary):
    g = Glossary(glossary.terms)
    tr = Echo({"It is zorvish.": "É brilhoso.", "Two Xavoq.": "Dois Xavoq."})
    assert g.translate_en_pt("Two zorvish linen shirts.", tr) == "Duas camisas de linho brilhosas."


def test_an_unknown_modifier_after_and_or_in_is_taken_too(glossary):
    found = glossary.parser.find("A coat with pockets and zorvish flaps.")
    assert found[-1].premods[0].pos == "unk" and "zorvish flaps" in "A coat with pockets and zorvish flaps."[
        found[-1].start:found[-1].end]


def test_an_unknown_word_after_a_verb_is_glue_not_a_modifier(glossary):
    (phrase,) = glossary.parser.find("She is wearing a scarf.")
    assert phrase.premods == [] and render(phrase) == "cachecol"
    (phrase,) = glossary.parser.find("The woman holding a scarf.")
    assert render(phrase) == "cachecol"


@pytest.mark.parametrize("en,pt", [
    ("heather grey hoodie", "moletom com capuz cinza mescla"),
    ("wide-brimmed felt hat", "chapéu de feltro de aba larga"),
    ("black one-piece swimsuit", "maiô preto"),
    ("stand-up collar", "gola alta"),
    ("pleather jacket", "jaqueta de couro sintético"),
    ("band logo", "logotipo de banda"),
    ("boyfriend jeans", "calças jeans boyfriend"),
    ("charcoal grey coat", "casaco cinza-chumbo"),
])
def test_the_lexicon_knows_the_fashion_senses(glossary, en, pt):
    (phrase,) = glossary.parser.find(en)
    assert render(phrase) == pt


def test_unknown_modifiers_never_garble_with_the_bundled_translator(bundled):
    out = bundled.translate("A frobbly linen shirt with a pocket.", "en", "pt")
    assert out.startswith("Uma camisa de linho") and "com bolso" in out and not has_debris(out)


# ---------------------------------------------------------------- "that" and the sentence's article
def test_that_is_put_back_before_a_clause(glossary):
    _, swaps = glossary.protect_phrases("I can tell the skirt is made of wool.")
    assert _that("I can tell the Xavoq Quenvik.", swaps) == "I can tell that the Xavoq Quenvik."
    assert _that("I can tell the woman is tall.", []) == "I can tell that the woman is tall."
    assert _that("I can see the Xavoq.", swaps) == "I can see the Xavoq."           # an object: no clause


def test_a_definite_phrase_opening_a_sentence_keeps_its_article(glossary):
    tr = Echo({"The girl's Xavoq are Quenvik.": "Xavoq da menina são Quenvik."})
    assert glossary.translate_en_pt("The girl's sandals are white.", tr) == "As sandálias da menina são brancas."
    tr = Echo({"Girls' Xavoq are Quenvik.": "Xavoq de meninas são Quenvik."})       # no "the": none added
    assert glossary.translate_en_pt("Girls' sandals are white.", tr).startswith("Sandálias")


def test_that_and_articles_read_right_with_the_bundled_translator(bundled):
    out = bundled.translate("I can tell the skirt is made of wool.", "en", "pt")
    assert "que a saia é feita de lã" in out
    assert bundled.translate("The boy's shorts are blue.", "en", "pt").startswith("Os shorts do menino")


# ---------------------------------------------------------------- several questions in one box
def test_questions_in_one_box_are_split():
    assert split_questions("Tem manga? É comprida?") == ["Tem manga?", "É comprida?"]
    assert split_questions("Tem bolso?tem capuz?") == ["Tem bolso?", "tem capuz?"]
    assert split_questions("Qual a cor da saia?") == ["Qual a cor da saia?"]


@pytest.mark.parametrize("pt,en", [
    ("Tem bolso? É de couro?", "Does it have pockets? Is it made of leather?"),
    ("A calça tem passante? É cintura alta?", "Do the trousers have belt loops? Are they high-waisted?"),
    ("Qual a cor do vestido? Tem estampa?", "What color is the dress? Does it have a print?"),
    ("Tem vestido jeans? E saia?", "Is there a denim dress? What about a skirt?"),
    ("vc tem essa saia em preto?", "Do you have this skirt in black?"),
    ("tem sandália numero 36?", "Do you have sandals in size 36?"),
    ("Tem blusa tamanho GG?", "Do you have a blouse in size XL?"),          # Brazilian letter sizes
    ("Esse vestido amassa?", "Does this dress wrinkle?"),
    ("A legging é de academia?", "Are the leggings for the gym?"),
    ("essa saia vem com cinto?", "Does this skirt come with a belt?"),
    ("O tenis tem cano alto?", "Are the sneakers high-top?"),
])
def test_each_question_of_a_box_gets_its_frame(pt, en):
    assert to_english(pt, no_translator, PLACEHOLDERS) == en


def test_questions_in_one_box_with_the_bundled_translator(bundled):
    out = bundled.translate("Tem bolinhas? Qual o tecido da saia?", "pt", "en")
    assert out == "Does it have polka dots? What fabric is the skirt made of?"


# ---------------------------------------------------------------- nothing broken reaches the user
def test_a_way_that_leaves_english_or_a_repeat_gives_way_to_the_next(glossary):
    tr = Echo({"She wears a Xavoq.": "Ela usa the Xavoq.",                   # an English word left in
               "She wears a red Xavoq.": "Ela usa um Xavoq vermelho."})       # nouns one by one: clean
    assert glossary.translate_en_pt("She wears a red dress.", tr) == "Ela usa um vestido vermelho."
    assert tr.calls == ["She wears a Xavoq.", "She wears a red Xavoq."]
    tr = Echo({"She wears a Xavoq.": "Ela usa um Xavoq Xavoq.",
               "She wears a red Xavoq.": "Ela usa um um Xavoq vermelho.",
               "She wears a red dress.": "Ela usa um vestido vermelho."})     # the plain translation
    assert glossary.translate_en_pt("She wears a red dress.", tr) == "Ela usa um vestido vermelho."
    tr = Echo({"She wears a Xavoq.": "Ela usa um Xavoq with.",                # every way leaves something:
               "She wears a red Xavoq.": "Ela usa um Xavoq vermelho with.",   # the first, as before
               "She wears a red dress.": "Ela usa um vestido vermelho with."})
    assert glossary.translate_en_pt("She wears a red dress.", tr) == "Ela usa um vestido vermelho with."


# ---------------------------------------------------------------- a streamed answer keeps its pronouns' referents
def test_a_streamed_answer_gives_each_sentence_what_was_said_before(glossary):
    from engine.language.translate import SentenceStream
    asked = []

    def translate(sentence, said):
        asked.append((sentence, said))
        return glossary.translate_en_pt(sentence, Echo({"There are Xavoq on the Quenvik.": "Há Xavoq na Quenvik.",
                                                        "They are Xavoq.": "Eles são Xavoq."}), said)
    stream = SentenceStream(translate, None, with_context=True)
    for piece in ("There are skirts ", "on the rack. They ", "are long."):
        stream.feed(piece)
    assert stream.close() == "Há saias na arara. Elas são longas."
    assert asked == [("There are skirts on the rack.", ""), ("They are long.", "There are skirts on the rack.")]


def test_the_translator_takes_the_context_of_a_sentence(bundled):
    out = bundled.translate("They are loose.", "en", "pt", context="She wears two skirts. The first is blue.")
    assert out == "Elas são soltas."

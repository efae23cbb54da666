"""Fashion noun phrases rendered whole by grammar, the lexicon, the store's glossary file, the clerk's questions,
the debris check: unit tests without the translator (a fake one where the mechanism needs one)."""
import pytest

from engine.language.glossary import PLACEHOLDERS, Glossary
from engine.language.noun_phrase import render
from engine.language.translate import ASSETS, default_glossary
from engine.settings import Settings
from tests.helpers import Echo


@pytest.fixture(scope="module")
def glossary():
    return Glossary.load(ASSETS / "glossary.tsv")


def rendered(glossary, text):
    return [(text[p.start:p.end], render(p), p.feminine, p.plural) for p in glossary.parser.find(text)]


@pytest.mark.parametrize("en,pt,feminine,plural", [
    # head first, the article-less phrase agreeing with the head, not with the modifier
    ("black and white houndstooth blazer", "blazer pied-de-poule preto e branco", False, False),
    ("light blue bell-sleeve blouse", "blusa azul-clara com mangas sino", True, False),
    ("paperbag-waist skirt", "saia de cintura clochard", True, False),
    ("peter-pan-collar dress", "vestido com gola peter pan", False, False),
    ("sky blue shirt", "camisa azul-celeste", True, False),
    ("sky blue shirts", "camisas azul-celeste", True, True),
    ("dark grey wool coat", "casaco de lã cinza-escuro", False, False),
    ("forest green skirt", "saia verde-floresta", True, False),
    ("cream cardigan", "cardigã creme", False, False),
    ("brown leather ankle boots", "botas de cano curto de couro marrons", True, True),
    ("red blouse with long sleeves", "blusa vermelha com mangas longas", True, False),
    ("white shirt with french cuffs and a navy collar", "camisa branca com punhos duplos e gola azul-marinho",
     True, False),
    ("cardigan with three wooden buttons", "cardigã com três botões de madeira", False, False),
    ("jeans with a raw hem and belt loops", "calças jeans com barra desfiada e passantes", True, True),
    ("joggers with cuffed ankles", "calças jogger com punhos na barra", True, True),
    ("burgundy scarf wrapped around her neck", "cachecol bordô enrolado no pescoço", False, False),
    ("shirt sleeves rolled up to the elbow", "mangas da camisa arregaçadas até o cotovelo", True, True),
    ("cream slingback heels", "scarpins slingback creme", False, True),
    ("welt pocket", "bolso embutido", False, False),
    ("dress in navy", "vestido azul-marinho", False, False),
    ("bomber jacket", "jaqueta bomber", True, False),
    ("oversized bomber coat", "casaco oversized bomber", False, False),
])
def test_a_phrase_renders_by_grammar(glossary, en, pt, feminine, plural):
    got = rendered(glossary, en)
    assert got == [(en, pt, feminine, plural)]


def test_a_modifier_the_head_already_says_is_not_repeated(glossary):
    assert rendered(glossary, "long maxi skirt")[0][1] == "saia longa"          # not "saia longa longa"


def test_phrases_end_where_the_grammar_ends(glossary):
    text = "She wears joggers with cuffed ankles and a burgundy scarf."
    assert [r[1] for r in rendered(glossary, text)] == ["calças jogger com punhos na barra", "cachecol bordô"]
    assert rendered(glossary, "on top of the table") == []                       # "top" of "on top of"
    assert rendered(glossary, "A dress, with a belt.")[0][1] == "vestido"        # a comma ends the phrase


def test_a_pair_of_and_predicates_agree_with_their_subject(glossary):
    assert rendered(glossary, "a pair of jeans")[0][1:] == ("calça jeans", True, False)
    assert rendered(glossary, "a pair of white sandals")[0][1:] == ("par de sandálias brancas", False, False)
    got = rendered(glossary, "The skirt and the blouse are both black.")
    assert got[-1][1:] == ("ambas pretas", True, True)
    got = rendered(glossary, "The jacket and the dress are red.")
    assert got[-1][1:] == ("vermelhos", False, True)                   # mixed genders: masculine plural
    got = rendered(glossary, "The blouse, which has puff sleeves and a bow, is white.")
    assert got[-1][1:] == ("branca", True, False)                      # past the relative clause
    assert rendered(glossary, "Black.") == [("Black", "preto", False, False)]


def test_each_phrase_goes_through_the_translator_as_one_unit(glossary):
    tr = Echo({"She wears a Xavoq and Quenvik.": "Ela usa um Xavoq e Quenvik."})
    out = glossary.translate_en_pt("She wears a black and white houndstooth blazer and cream slingback heels.", tr)
    assert out == "Ela usa um blazer pied-de-poule preto e branco e scarpins slingback creme."
    assert tr.calls == ["She wears a Xavoq and Quenvik."]


@pytest.mark.parametrize("returned", ["Ela usa um Xavoq e Xavoq Quenvik.", "Ela usa um Xav. oq e Quenvik.",
                                      "Ela usa um e Quenvik."])
def test_a_unit_that_does_not_come_back_once_and_whole_falls_back(glossary, returned):
    calls = []

    def translate(text):
        calls.append(text)
        if len(calls) == 1:
            return returned
        return "Ela usa um blazer preto e sapatos."      # the noun-by-noun or plain attempt
    out = glossary.translate_en_pt("She wears a black blazer and slingback heels.", translate)
    assert "Xavoq" not in out and "Quenvik" not in out and "Xav" not in out
    assert len(calls) >= 2


def test_the_lexicon_has_senses_and_multiword_entries(glossary):
    lex = glossary.lexicon
    assert lex.entries() >= 1500
    for en in ("peter pan collar", "welt pocket", "raw hem", "belt loops", "slingback heels", "french cuffs"):
        assert tuple(en.split()) in lex.heads, en
    assert lex.mods[("rolled", "up", "to", "the", "elbow")].pos == "post"
    assert rendered(glossary, "cuffed jeans")[0][1] == "calças jeans com barra dobrada"     # never "algemados"
    assert {m.pos for m in lex.mods.values()} >= {"adj", "inv", "de", "com", "post"}
    assert lex.heads[("ankle", "boots")].pt_plural == "botas de cano curto"


# ---------------------------------------------------------------------- the store's glossary file
def test_a_store_glossary_in_cp1252_with_a_bad_row(tmp_path, caplog):
    store = tmp_path / "glossary.tsv"
    store.write_bytes("en\tpt\tgender\nscrunchie\tfrufru\tm\nblazer\tpaletó\tmasc\nbeach cover\tsaída de praia\tf\n"
                      .encode("cp1252"))
    g = Glossary.load(ASSETS / "glossary.tsv", store)
    terms = {t.en: t for t in g.terms}
    assert terms["scrunchie"].pt == "frufru" and terms["beach cover"].pt == "saída de praia"   # read as cp1252
    assert terms["blazer"].pt == "blazer"                         # the bad row skipped, the built-in kept
    assert g.problems == [f"{store}:3: column gender is 'masc': write m, f or adj: row skipped"]
    assert any("column gender" in r.message for r in caplog.records)
    assert "frufru" in [render(p) for p in g.parser.find("a pink scrunchie")][0]


def test_an_unreadable_store_glossary_leaves_the_built_in_one(tmp_path):
    store = tmp_path / "glossary.tsv"
    store.write_bytes(b"en\tpt\n\x81\x8d\tbad\n")            # bytes neither UTF-8 nor cp1252 decode
    g = Glossary.load(ASSETS / "glossary.tsv", store)
    assert len(g.problems) == 1 and "line 2" in g.problems[0] and "built-in" in g.problems[0]
    assert any(t.en == "ankle boot" for t in g.terms)


def test_a_store_glossary_without_a_header_is_reported(tmp_path):
    store = tmp_path / "glossary.tsv"
    store.write_text("scrunchie\tfrufru\n", encoding="utf-8")
    g = Glossary.load(ASSETS / "glossary.tsv", store)
    assert g.problems and "first line must name the columns" in g.problems[0]


# ---------------------------------------------------------------------- the clerk's questions
def no_translator(text):
    raise AssertionError(f"the translator was asked {text!r}")


@pytest.mark.parametrize("pt,en", [
    ("Tem estampa xadrez?", "Does it have a plaid print?"),
    ("Qual é a cor da calça?", "What color are the trousers?"),
    ("qual e a cor da calca?", "What color are the trousers?"),
    ("Qual a cor da rasteirinha?", "What color are the flat sandals?"),
    ("Ela está usando uma regata?", "Is she wearing a tank top?"),
    ("Ela esta usando cropped?", "Is she wearing a crop top?"),
    ("Tem jardineira na imagem?", "Are there overalls in the image?"),
    ("O sapatenis é de couro?", "Are the casual sneakers made of leather?"),
    ("A blusinha tem bolsos?", "Does the top have pockets?"),
    ("o vestdo tem manga?", "Does the dress have sleeves?"),
    ("Quantos botões tem o casaco?", "How many buttons does the coat have?"),
    ("É listrada?", "Is it striped?"),
    ("Ele está de bermuda ou calça?", "Is he wearing shorts or trousers?"),
    ("a bolsa e grande ou pequena", "Is the bag big or small?"),          # no accent, no "?"
    ("E a calça, qual a cor?", "What color are the trousers?"),
    ("Tem bolso na frente?", "Does it have a pocket on the front?"),
])
def test_question_frames_need_no_translator(pt, en):
    from engine.language.question_lexicon import to_english
    assert to_english(pt, no_translator, PLACEHOLDERS) == en


def test_template_questions_get_the_fine_tuning_wording():
    """Every Portuguese question export/datasets/questions.py makes becomes exactly its English twin."""
    import random

    from engine.language.question_lexicon import to_english
    from engine.language.vocabulary import COLOURS, FABRICS, GARMENTS, NECKLINES, PATTERNS, SLEEVES
    from export.datasets.questions import Item, english, portuguese
    values = {"colour": COLOURS, "pattern": PATTERNS, "sleeve": SLEEVES, "neckline": NECKLINES, "fabric": FABRICS}
    checked = 0
    shared = {n.pt for n in GARMENTS.values() if sum(m.pt == n.pt for m in GARMENTS.values()) > 1}
    for garment in GARMENTS:
        if GARMENTS[garment].pt in shared:      # "top" and "blouse" are both "blusa": Portuguese cannot tell
            continue
        for attribute, table in values.items():
            value = next(iter(table))
            item = Item(garment, {attribute: value})
            pt = portuguese(item, attribute, value, random.Random(0))
            en = english(item, attribute, value, random.Random(0))
            if pt is None or en is None:
                continue
            want = en[0].replace("colour", "color")
            assert to_english(pt[0], no_translator, PLACEHOLDERS) == want, pt[0]
            checked += 1
    assert checked >= 100


def test_a_statement_is_not_made_a_question():
    from engine.language.question_lexicon import to_english
    out = to_english("A saia é preta.", lambda t: "The skirt is black.", PLACEHOLDERS)
    assert out == "The skirt is black."


def test_unknown_questions_go_to_the_translator_with_shop_words_protected():
    from engine.language.question_lexicon import to_english
    seen = []

    def translate(text):
        seen.append(text)
        return text.replace("Onde posso lavar a", "Where can I wash")
    out = to_english("Onde posso lavar a jardineira?", translate, PLACEHOLDERS)
    assert seen == ["Onde posso lavar a Xavoq?"] and out == "Where can I wash the overalls?"


# ---------------------------------------------------------------------- debris
@pytest.mark.parametrize("text,reason", [
    ("Uma saia longa longa.", "repeated"), ("A blusa with mangas.", "English words"),
    ("O vestido está cinched na cintura.", "English fashion words"), ("Um Xavoq preto.", "placeholder"),
])
def test_debris_is_caught(glossary, text, reason):
    from engine.language.translate_bench import debris
    assert any(reason in r for r in debris(text, "pt", glossary))


def test_clean_portuguese_has_no_debris(glossary):
    from engine.language.translate_bench import debris
    for text in ("Um blazer preto e branco com gola peter pan.", "Ela usa uma calça jeans e tênis brancos.",
                 "Um top cropped rosa e um short jeans."):
        assert debris(text, "pt", glossary) == [], text


def test_bench_scores_a_cases_folder_by_direction(tmp_path, glossary):
    from engine.language.translate_bench import run_split
    (tmp_path / "en_pt_a.tsv").write_text("en\tmust\tmust_not\treference\nA red dress.\tvestido|vermelho\t"
                                          "vermelha\tUm vestido vermelho.\nA skirt.\tsaia\t\tUma saia.\n")
    (tmp_path / "pt_en_a.tsv").write_text("pt\tmust\tmust_not\treference\nE a bolsa?\tbag\tstock\tAnd the bag?\n")

    class Fake:
        def __init__(self):
            self.glossary = glossary

        def translate(self, text, src, dst):
            return {"A red dress.": "Um vestido vermelho.", "A skirt.": "Uma saia saia.",
                    "E a bolsa?": "What about the bag?"}[text]
    out = run_split(Fake(), tmp_path)
    assert (out["en_pt"]["cases"], out["en_pt"]["passed"], out["en_pt"]["debris"]) == (2, 1, 1)
    assert (out["pt_en"]["cases"], out["pt_en"]["passed"]) == (1, 1)


def test_bench_cli_refuses_a_missing_cases_folder(tmp_path):
    from tests.helpers import run_cli
    r = run_cli("translate", "bench", "--cases-dir", tmp_path / "nowhere")
    assert r.returncode == 2 and "is not a folder" in r.stderr and "Traceback" not in r.stderr


def test_the_default_glossary_builds_its_parser_once():
    g = default_glossary(Settings.from_env())
    assert g.parser is g.parser


def test_a_person_in_a_garment_and_what_it_is_made_of(glossary):
    tr = Echo({"A man in a Xavoq.": "Um homem em um Xavoq.",
               "The Xavoq Quenvik.": "O Xavoq Quenvik."})
    assert glossary.translate_en_pt("A man in a grey suit.", tr) == "Um homem com um terno cinza."
    assert glossary.translate_en_pt("The jacket is made of denim.", tr) == "A jaqueta é feita de jeans."


def test_list_markers_and_bold_labels_stay_out_of_the_translator(glossary):
    tr = Echo({"Xavoq": "Xavoq", "A Xavoq.": "Um Xavoq."})
    assert glossary.translate_en_pt("**Top:** A white t-shirt.", tr) == "**Blusa:** Uma camiseta branca."
    assert glossary.translate_en_pt("1. A navy blazer.", tr) == "1. Um blazer azul-marinho."


@pytest.mark.parametrize("answer,question,pt", [
    ("Light blue.", "Qual é a cor da camisa?", "azul-clara"),
    ("navy and white", "Qual é a cor dos sapatos?", "azul-marinho e brancos"),
    ("dark green", "De que cor é a calça?", "verde-escura"),
    ("houndstooth", "Qual é a estampa do blazer?", "pied-de-poule"),
])
def test_a_short_answer_agrees_with_the_garment_the_question_names(answer, question, pt):
    from engine.language.answer_terms import to_portuguese
    assert to_portuguese(answer, question) == pt


@pytest.mark.parametrize("en,last", [
    ("The jacket's sleeves are rolled up to the elbow.", "mangas da jaqueta"),
    ("The jeans look slightly faded.", "parecem um pouco desbotadas"),
    ("The colors are black, white, and red.", "preto, branco e vermelho"),
    ("The skirt is neither long nor short.", "longa nem curta"),      # "não é nem": the translator's
    ("The jeans are cuffed.", "estão com barra dobrada"),
    ("The shirt is tucked into her jeans.", "está por dentro da calça jeans"),
    ("The bag is made of straw.", "é feita de palha"),
])
def test_predicates_possessives_and_states(glossary, en, last):
    assert last in [r[1] for r in rendered(glossary, en)]

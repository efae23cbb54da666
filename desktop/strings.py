"""The app's words, in Portuguese (default) and English: its own texts, the engine's common errors said again in
the interface's language (one catalogue, matched by pattern), numbers with the language's decimal mark, and Qt's own
dialogs ("Look in", "Cancel") through Qt's bundled translation."""
from __future__ import annotations

import re
from pathlib import Path

STRINGS = {
    "pt": {
        "title": "Vitrine", "file": "&Arquivo", "open": "&Abrir vídeo ou imagem…", "recent": "Arquivos &recentes",
        "export_csv": "Exportar histórico (&CSV)…", "export_json": "Exportar histórico (&JSON)…", "quit": "&Sair",
        "live": "Ao &vivo", "live_start": "&Iniciar câmera…", "live_stop": "&Parar câmera",
        "view": "&Exibir", "ui_lang": "Idioma da interface", "help": "A&juda", "shortcuts": "&Atalhos de teclado",
        "about": "&Sobre", "ask": "Perguntar", "stop": "Parar",
        "placeholder": "Pergunte sobre a roupa… (Enter envia)", "model": "Modelo:", "answer_lang": "Resposta em:",
        "history": "Histórico deste quadro", "no_model": (
            "Nenhum modelo instalado. Para instalar (internet uma vez): vitrine models pull smolvlm-256m — "
            "ou copie os arquivos e rode: vitrine models import NOME --model F.gguf --mmproj P.gguf"),
        "loading_model": "Carregando modelo {name}…", "ready": "Pronto", "thinking": "Pensando…",
        "timings": "{model} · imagem {image} · resposta começou em {ttft} s · pronta em {total} s",
        "image_reused": "reutilizada", "image_encoded": "preparada em {s} s", "open_first": "Abra um vídeo ou imagem primeiro (Ctrl+O).",
        "cannot_open": "Não foi possível abrir", "model_failed": "O modelo não carregou",
        "ask_failed": "A pergunta falhou", "not_saved": "A resposta não foi salva no histórico",
        "exported": "{n} respostas exportadas para {path}",
        "region": "Peça selecionada: {w} × {h} px (clique direito limpa)", "no_region": "Arraste sobre a imagem para escolher uma peça",
        "region_short": "Peça selecionada: {w} × {h} px", "no_region_short": "Arraste para escolher uma peça",
        "live_dialog": "Câmera ao vivo", "live_source": "Câmera, arquivo ou endereço:",
        "live_question": "Pergunta:", "live_interval": "Intervalo (s):", "live_on": "Ao vivo: {src}",
        "drop": "Solte um vídeo ou imagem aqui, ou use Ctrl+O", "shortcuts_text": (
            "Espaço — reproduzir/pausar (com a caixa de pergunta vazia, ou clique no vídeo antes)\n"
            "← / → — quadro anterior/seguinte (idem)\nCtrl+Espaço — reproduzir/pausar, sempre\n"
            "Alt+← / Alt+→ — quadro anterior/seguinte, sempre\nCtrl+O — abrir\n"
            "Enter — perguntar\nEsc — parar a resposta\nClique direito — limpar a região\nCtrl+Q — sair"),
        "about_text": "Vitrine — pergunte sobre roupas em vídeos, offline, na CPU.",
        "catalog": "&Catálogo", "catalog_add": "&Adicionar produtos (CSV)…", "similar": "Produtos semelhantes",
        "catalog_empty": "Nenhum produto no catálogo: Catálogo › Adicionar produtos (CSV)…",
        "catalog_adding": "Indexando produtos…",
        "catalog_updating": "Atualizando o índice do catálogo ({n} produtos)…", "catalog_added": "{added} adicionados, {updated} atualizados, "
        "{skipped} ignorados; {indexed} indexados", "catalog_failed": "O catálogo falhou",
        "product_id": "Código:", "product_title": "Produto:", "product_image": "Imagem:",
        "measured": "Cores medidas:", "cancel": "Cancelar", "describe": "Descrever", "copy": "Copiar",
        "describe_title": "Ficha do produto", "describing": "Descrevendo…", "describe_failed": "A descrição falhou",
        "frame_ready": "Quadro pronto: a pergunta será rápida",
        "new_conversation": "Nova conversa",
        "new_conversation_tip": "A próxima pergunta sobre este quadro não vê as anteriores",
        "thread": "Continua a conversa: vê {n} pergunta(s) anterior(es)",
        "conversation_new": "Nova conversa sobre este quadro",
        "asked_model": "Perguntado ao modelo: {q}", "correct": "Corrigir", "resend": "Reenviar",
        "correct_tip": "A tradução saiu errada? Corrija a pergunta em inglês e reenvie",
        "you_asked": "Você perguntou: {q}", "answer_at": "{time}",
        "copied": "Ficha copiada para a área de transferência", "copied_json": "Ficha (JSON) copiada para a área de "
        "transferência", "card_stale": "A imagem mudou: esta ficha é de outra imagem. Clique em Descrever de novo.",
        "card_conflict": "Confira a cor: “{colour}” não está entre as cores medidas que cobrem ≥ {pct}% da peça "
        "({measured}).",
        "field_category": "Categoria", "field_colours": "Cores", "field_pattern": "Estampa", "field_fabric": "Tecido",
        "field_sleeve_length": "Mangas", "field_neckline": "Gola / decote", "field_fit": "Modelagem",
        "field_closure": "Fechamento", "field_occasion": "Ocasião",
        "field_colour": "Cor", "field_color": "Cor", "field_size": "Tamanho", "field_price": "Preço",
        "field_brand": "Marca", "field_material": "Material",
        "tab_similar": "Semelhantes", "tab_history": "Histórico", "tab_card": "Ficha",
        "suggestions": "Sugestões", "models": "&Modelos…", "models_title": "Modelos",
        "col_name": "Nome", "col_size": "Tamanho", "col_type": "Tipo", "col_langs": "Idiomas",
        "col_encoder": "Codificador de imagem",
        "import_folder": "Importar pasta…", "import_files": "Importar arquivos GGUF…",
        "set_default": "Usar como padrão", "remove": "Remover", "close": "Fechar",
        "remove_confirm": "Remover o modelo {name}? Os arquivos dele serão apagados.",
        "default_mark": "{name} (padrão)", "importing": "Importando {name}…", "imported": "Modelo {name} importado",
        "import_failed": "A importação falhou", "model_name": "Nome do modelo:", "removed": "Modelo {name} removido",
        "remove_failed": "Não foi possível remover", "damaged": "danificado: {reason}",
        "pick_gguf": "Escolha o modelo (.gguf) e o projetor (mmproj .gguf)",
        "need_two_gguf": "Escolha dois arquivos .gguf: o modelo e o projetor (o que tem “mmproj” no nome).",
        "store_at": "Pasta dos modelos: {path}", "no_models_yet": "Nenhum modelo instalado.",
        "encoder_gguf": "o do projetor (llama.cpp)", "encoder_onnx": "ONNX Runtime",
        "encoder_hybrid": "{choice} — {why}", "encoder_hybrid_untimed": "{choice} (não medido)",
        "first_title": "Bem-vindo ao Vitrine",
        "first_text": ("Ainda não há nenhum modelo instalado. Para começar:\n\n"
                       "1. Importe a pasta de um modelo (copiada de um pendrive ou de outro computador da loja), "
                       "ou os dois arquivos .gguf (modelo e projetor).\n\n"
                       "2. Ou, com internet, rode uma vez no terminal:  vitrine models pull smolvlm-256m\n"
                       "   O modelo aparece aqui sozinho quando termina."),
        "open_models": "Abrir Modelos…",
        "live_camera": "Câmera:", "live_file": "Arquivo…", "camera_n": "Câmera {i}",
        "no_cameras": "Nenhuma câmera encontrada: escolha um arquivo ou digite um endereço (rtsp://…)",
        "on_air": "● AO VIVO",
        "tab_look": "O visual", "tab_find": "No vídeo", "look_run": "Ver o visual", "look_with_model": "com o modelo",
        "look_with_model_tip": "O modelo lê a categoria e os atributos de cada peça (mais lento); sem ele: "
        "regiões, cores e produtos do catálogo",
        "look_hint": "As peças que a pessoa veste neste quadro, cada uma com cores e produtos parecidos. "
        "Clique numa peça para marcá-la no vídeo e perguntar sobre ela.",
        "look_busy": "Procurando as peças…", "look_model": "O modelo está lendo cada peça…",
        "look_done": "{n} peça(s) encontrada(s) em {s} s",
        "look_how_pose": "{n} peça(s) na pessoa. Clique numa para perguntar sobre ela.",
        "look_how_frame": "Sem pessoa: {n} peça(s). Desenhe caixas para separar as peças.",
        "look_how_box": "{n} caixa(s) desenhada(s).", "look_none": "Nenhuma peça encontrada neste quadro.",
        "look_stale": "O quadro mudou: estas peças são do quadro anterior (clique em Ver o visual).",
        "look_colours": "Cores:", "look_no_matches": "Sem produtos parecidos (catálogo vazio?)",
        "look_card_tip": "Clique: marca esta peça no vídeo; a próxima pergunta é sobre ela",
        "look_unknown": "peça", "look_subject": "Próxima pergunta sobre: {what}",
        "find_placeholder": "Procurar no vídeo…", "find_button": "Procurar",
        "find_tip": "Ex.: vestido vermelho, camisa azul. Indexa o vídeo uma vez (um quadro por segundo) e lista os momentos; clique para ir até lá",
        "find_indexing": "Indexando o vídeo…", "find_found": "{n} momento(s): clique para ir até lá",
        "find_none": "Nada encontrado neste vídeo.",
    },
    "en": {
        "title": "Vitrine", "file": "&File", "open": "&Open video or image…", "recent": "&Recent files",
        "export_csv": "Export history (&CSV)…", "export_json": "Export history (&JSON)…", "quit": "&Quit",
        "live": "&Live", "live_start": "&Start camera…", "live_stop": "S&top camera",
        "view": "&View", "ui_lang": "Interface language", "help": "&Help", "shortcuts": "&Keyboard shortcuts",
        "about": "&About", "ask": "Ask", "stop": "Stop",
        "placeholder": "Ask about the clothes… (Enter sends)", "model": "Model:", "answer_lang": "Answer in:",
        "history": "History of this frame", "no_model": (
            "No model installed. To install (internet once): vitrine models pull smolvlm-256m — or copy the "
            "files and run: vitrine models import NAME --model F.gguf --mmproj P.gguf"),
        "loading_model": "Loading model {name}…", "ready": "Ready", "thinking": "Thinking…",
        "timings": "{model} · image {image} · answer began after {ttft} s · done in {total} s",
        "image_reused": "reused", "image_encoded": "prepared in {s} s", "open_first": "Open a video or image first (Ctrl+O).",
        "cannot_open": "Could not open", "model_failed": "The model did not load",
        "ask_failed": "The question failed", "not_saved": "The answer was not saved to the history",
        "exported": "{n} answers exported to {path}",
        "region": "Selected garment: {w} × {h} px (right-click clears)", "no_region": "Drag over the picture to pick one garment",
        "region_short": "Selected garment: {w} × {h} px", "no_region_short": "Drag to pick one garment",
        "live_dialog": "Live camera", "live_source": "Camera, file or address:",
        "live_question": "Question:", "live_interval": "Interval (s):", "live_on": "Live: {src}",
        "drop": "Drop a video or image here, or press Ctrl+O", "shortcuts_text": (
            "Space — play/pause (when the question box is empty, or after clicking the video)\n"
            "← / → — previous/next frame (likewise)\nCtrl+Space — play/pause, always\n"
            "Alt+← / Alt+→ — previous/next frame, always\nCtrl+O — open\nEnter — ask\n"
            "Esc — stop the answer\nRight-click — clear the region\nCtrl+Q — quit"),
        "about_text": "Vitrine — ask about clothes in videos, offline, on the CPU.",
        "catalog": "&Catalog", "catalog_add": "&Add products (CSV)…", "similar": "Similar products",
        "catalog_empty": "No products in the catalog: Catalog › Add products (CSV)…",
        "catalog_adding": "Indexing products…",
        "catalog_updating": "Updating the catalog's index ({n} products)…", "catalog_added": "{added} added, {updated} updated, "
        "{skipped} skipped; {indexed} indexed", "catalog_failed": "The catalog failed",
        "product_id": "Id:", "product_title": "Product:", "product_image": "Image:",
        "measured": "Measured colours:", "cancel": "Cancel", "describe": "Describe", "copy": "Copy",
        "describe_title": "Product card", "describing": "Describing…", "describe_failed": "The description failed",
        "frame_ready": "Frame ready: the question will be quick",
        "new_conversation": "New conversation",
        "new_conversation_tip": "The next question about this frame does not see the earlier ones",
        "thread": "Continues the conversation: sees {n} earlier question(s)",
        "conversation_new": "New conversation about this frame",
        "asked_model": "Asked the model: {q}", "correct": "Correct", "resend": "Resend",
        "correct_tip": "Was the translation wrong? Correct the English question and resend",
        "you_asked": "You asked: {q}", "answer_at": "{time}",
        "copied": "Card copied to the clipboard", "copied_json": "Card (JSON) copied to the clipboard",
        "card_stale": "The picture changed: this card is about another picture. Press Describe again.",
        "card_conflict": "Check the colour: “{colour}” is not among the measured colours covering ≥ {pct}% of the "
        "garment ({measured}).",
        "field_category": "Category", "field_colours": "Colours", "field_pattern": "Pattern", "field_fabric": "Fabric",
        "field_sleeve_length": "Sleeves", "field_neckline": "Neckline", "field_fit": "Fit",
        "field_closure": "Closure", "field_occasion": "Occasion",
        "tab_similar": "Similar", "tab_history": "History", "tab_card": "Card",
        "suggestions": "Suggestions", "models": "&Models…", "models_title": "Models",
        "col_name": "Name", "col_size": "Size", "col_type": "Type", "col_langs": "Languages",
        "col_encoder": "Image encoder",
        "import_folder": "Import folder…", "import_files": "Import GGUF files…",
        "set_default": "Make default", "remove": "Remove", "close": "Close",
        "remove_confirm": "Remove the model {name}? Its files will be deleted.",
        "default_mark": "{name} (default)", "importing": "Importing {name}…", "imported": "Model {name} imported",
        "import_failed": "The import failed", "model_name": "Model name:", "removed": "Model {name} removed",
        "remove_failed": "Could not remove", "damaged": "damaged: {reason}",
        "pick_gguf": "Choose the model (.gguf) and the projector (mmproj .gguf)",
        "need_two_gguf": "Choose two .gguf files: the model and the projector (the one with “mmproj” in its name).",
        "store_at": "Models folder: {path}", "no_models_yet": "No model installed.",
        "encoder_gguf": "the projector's own (llama.cpp)", "encoder_onnx": "ONNX Runtime",
        "encoder_hybrid": "{choice} — {why}", "encoder_hybrid_untimed": "{choice} (not timed)",
        "first_title": "Welcome to Vitrine",
        "first_text": ("No model is installed yet. To begin:\n\n"
                       "1. Import a model folder (copied from a USB stick or another computer in the store), "
                       "or its two .gguf files (model and projector).\n\n"
                       "2. Or, with internet, run once in a terminal:  vitrine models pull smolvlm-256m\n"
                       "   The model shows up here by itself when it is done."),
        "open_models": "Open Models…",
        "live_camera": "Camera:", "live_file": "File…", "camera_n": "Camera {i}",
        "no_cameras": "No camera found: choose a file or type an address (rtsp://…)",
        "on_air": "● LIVE",
        "tab_look": "The look", "tab_find": "In the video", "look_run": "Look", "look_with_model": "with the model",
        "look_with_model_tip": "The model reads each garment's category and attributes (slower); without it: "
        "regions, colours and catalog products",
        "look_hint": "The garments the person wears in this frame, each with its colours and similar products. "
        "Click a garment to mark it on the video and ask about it.",
        "look_busy": "Finding the garments…", "look_model": "The model is reading each garment…",
        "look_done": "{n} garment(s) found in {s} s",
        "look_how_pose": "{n} garment(s) on the person. Click one to ask about it.",
        "look_how_frame": "No person: {n} garment(s). Draw boxes to separate them.",
        "look_how_box": "{n} box(es) drawn.", "look_none": "No garment found in this frame.",
        "look_stale": "The frame changed: these garments are the previous frame's (click Look).",
        "look_colours": "Colours:", "look_no_matches": "No similar products (empty catalog?)",
        "look_card_tip": "Click: marks this garment on the video; the next question is about it",
        "look_unknown": "garment", "look_subject": "Next question about: {what}",
        "find_placeholder": "Find in the video…", "find_button": "Find",
        "find_tip": "E.g. red dress, blue shirt. Indexes the video once (one frame a second) and lists the moments; click to go there",
        "find_indexing": "Indexing the video…", "find_found": "{n} moment(s): click to go there",
        "find_none": "Nothing found in this video.",
    },
}


class Texts:
    def __init__(self, lang: str = "pt"):
        self.lang = lang if lang in STRINGS else "pt"

    def __call__(self, key: str, **kw) -> str:
        text = STRINGS[self.lang].get(key) or STRINGS["en"][key]
        return text.format(**kw) if kw else text

    def field(self, name: str) -> str:
        """An attribute's label (the schema's or the catalog CSV's key): the catalogue's word, else the key made
        readable ("sleeve_length" -> "Sleeve length"): never a raw key on screen."""
        known = STRINGS[self.lang].get(f"field_{name}")
        return known or name.replace("_", " ").strip().capitalize()

    def number(self, value: float, digits: int = 2) -> str:
        return number(value, self.lang, digits)

    def error(self, message: str) -> str:
        return user_message(message, self.lang)


def number(value: float, lang: str, digits: int = 2) -> str:
    """A decimal number as the language writes it: 0,42 in Portuguese, 0.42 in English."""
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "pt" else text


# ---- the engine's common errors, in the interface's language --------------------------------------------------------
# The engine words its errors in English (the CLI's language). Each entry: a stable key, a pattern matched against
# the engine's line, and the Portuguese sentence (named groups fill it in). Unmatched lines are shown as they are.
ENGINE_ERRORS: list[tuple[str, re.Pattern, str]] = [(key, re.compile(pattern, re.IGNORECASE | re.DOTALL), pt) for
                                                     key, pattern, pt in [
    ("no_camera", r"^no camera at (?P<src>.+?): connect",
     "Nenhuma câmera em {src}: conecte uma, escolha outra na lista ou abra um arquivo de vídeo."),
    ("camera_stopped", r"^(?P<src>.+?) stopped sending frames",
     "{src} parou de enviar imagens: verifique o cabo ou escolha outra câmera."),
    ("file_not_found", r"^file not found: (?P<path>.+)$", "Arquivo não encontrado: {name}. Confira onde ele está."),
    ("is_folder", r"^(?P<path>.+?) is a folder: ", "{name} é uma pasta: escolha um arquivo de imagem ou de vídeo."),
    ("empty_file", r"^(?P<name>.+?) is empty \(0 bytes\)", "{name} está vazio (0 bytes): copie o arquivo de novo."),
    ("bad_video", r"^cannot read video (?P<name>.+?): ",
     "Não foi possível ler o vídeo {name}: o arquivo está danificado ou num formato que o Vitrine não lê "
     "(tente convertê-lo para MP4)."),
    ("bad_image", r"^(?P<name>.+?) is damaged or not a readable image",
     "{name} está danificada ou não é uma imagem legível: abra-a num visualizador de imagens para conferir."),
    ("not_media", r"^(?P<name>.+?) is not an image or video Vitrine can read",
     "{name} não é uma imagem nem um vídeo que o Vitrine consiga ler (imagens JPG, PNG, WebP, BMP; vídeos MP4, "
     "AVI, MKV, MOV, WebM)."),
    ("end_of_video", r"^no frame \d+ in (?P<name>.+?): end of video", "Fim do vídeo {name}."),
    ("box_too_small", r"^box .* is too small: draw a box of at least (?P<n>\d+)x",
     "A região é pequena demais: desenhe uma caixa de pelo menos {n}×{n} pixels."),
    ("box_outside", r"^box .* lies outside", "A região fica fora da imagem: desenhe-a de novo."),
    ("question_empty", r"^the question is empty", "A pergunta está vazia: escreva o que quer saber sobre a imagem."),
    ("question_long", r"^the question is too long \((?P<n>\d+) characters, at most (?P<max>\d+)\)",
     "A pergunta é longa demais ({n} caracteres; no máximo {max})."),
    ("model_damaged", r"^model '(?P<model>[^']+)' is damaged",
     "O modelo {model} está danificado (um arquivo está incompleto ou foi alterado): importe-o de novo em Modelos "
     "(ou rode: vitrine models verify)."),
    ("truncated", r"^(?P<name>\S+) is truncated",
     "O arquivo do modelo {name} está incompleto: copie ou importe o modelo de novo."),
    ("no_model", r"^no model loaded", "Nenhum modelo carregado: escolha um em Modelos."),
    ("unknown_model", r"^unknown model '(?P<model>[^']+)'", "O modelo {model} não está instalado: veja em Modelos."),
    ("model_name", r"^invalid model name", "Nome de modelo inválido: use até 64 letras, números, “-”, “_” ou “.”."),
    ("incomplete_export", r"^(?P<path>.+?) is incomplete: ",
     "A pasta {name} está incompleta: exporte ou copie o modelo de novo."),
    ("out_of_memory", r"^out of memory", "Memória insuficiente: feche outros programas ou escolha um modelo menor."),
    ("disk_full", r"the disk is full", "O disco está cheio: libere espaço e tente de novo."),
    ("read_only", r"read-only disk", "A pasta está num disco só de leitura: escolha uma pasta gravável "
     "(VITRINE_HOME)."),
    ("permission", r"permission denied", "Sem permissão para gravar ali: dê acesso à pasta ou escolha outra "
     "(VITRINE_HOME)."),
    ("cut_short", r"^the model's attributes were cut short",
     "A resposta do modelo ficou incompleta: tente de novo ou use um modelo maior."),
    ("csv_columns", r"no id or image column", "O CSV não tem coluna de código (id) ou de imagem: confira o cabeçalho."),
    ("catalog_outdated", r"^the catalog was indexed with .*?rebuild its (?P<n>\d+) vectors",
     "O índice do catálogo é de outra versão do Vitrine: ele é refeito na próxima busca de Semelhantes ({n} "
     "produtos, com progresso), ou rode: vitrine catalog index --reindex."),
    ("cancelled", r"^cancelled", "Cancelado: nada foi alterado pela etapa interrompida."),
    # not errors: why a hybrid model runs the image encoder it runs (timed when it was pulled), for Modelos
    ("encoder_disagree", r"^(?P<a>.+?) encodes a frame in (?P<ta>[\d.]+) ms, (?P<b>.+?) in (?P<tb>[\d.]+) ms here; "
     r"but the two disagree \(cosine (?P<cos>[\d.]+)\)",
     "{a} codifica um quadro em {ta} ms e {b} em {tb} ms neste computador, mas os dois discordam (cosseno {cos}): "
     "usa-se o do projetor."),
    ("encoder_timed", r"^(?P<a>.+?) encodes a frame in (?P<ta>[\d.]+) ms, (?P<b>.+?) in (?P<tb>[\d.]+) ms here",
     "{a} codifica um quadro em {ta} ms e {b} em {tb} ms neste computador: usa-se o mais rápido."),
]]


_WORDS = {"the f16 projector": "o projetor f16"}     # the engine's names inside a sentence
_DECIMAL = re.compile(r"\d+\.\d+")                   # 180.0 -> 180,0


def engine_error_key(message: str) -> str | None:
    """The catalogue's key for one of the engine's lines (None: not one of the common ones)."""
    for key, pattern, _pt in ENGINE_ERRORS:
        if pattern.search(message.strip()):
            return key
    return None


def user_message(message: str, lang: str) -> str:
    """An engine error as the interface says it: Portuguese from the catalogue; English (and unknown lines) as the
    engine wrote them."""
    if lang != "pt":
        return message
    for _key, pattern, pt in ENGINE_ERRORS:
        m = pattern.search(message.strip())
        if m:
            groups = {k: _WORDS.get(v, v.replace(".", ",") if _DECIMAL.fullmatch(v) else v)
                      for k, v in m.groupdict().items() if v is not None}
            if "path" in groups:
                groups.setdefault("name", Path(groups["path"]).name or groups["path"])
            return pt.format(**groups)
    return message


_qt_translators: list = []


def install_qt_translation(lang: str) -> bool:
    """Qt's own dialogs (file picker, message boxes) in the interface's language, from the .qm files PySide6
    ships. False when none is installed for ``lang`` (English needs none)."""
    from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator
    app = QCoreApplication.instance()
    if app is None:
        return False
    while _qt_translators:
        app.removeTranslator(_qt_translators.pop())
    if lang != "pt":
        return False
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    loaded = False
    for base in ("qtbase", "qt"):
        tr = QTranslator(app)
        if tr.load(QLocale(QLocale.Language.Portuguese, QLocale.Country.Brazil), base, "_", folder):
            app.installTranslator(tr)
            _qt_translators.append(tr)
            loaded = True
            break
    return loaded

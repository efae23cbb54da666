"""The app's words, in Portuguese (default) and English."""
from __future__ import annotations

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
        "timings": "{model} · imagem {image} · primeiro token {ttft:.2f}s · {tps:.1f} tok/s",
        "image_reused": "reutilizada", "open_first": "Abra um vídeo ou imagem primeiro (Ctrl+O).",
        "cannot_open": "Não foi possível abrir", "model_failed": "O modelo não carregou",
        "ask_failed": "A pergunta falhou", "not_saved": "A resposta não foi salva no histórico",
        "exported": "{n} respostas exportadas para {path}",
        "region": "Região: {r} (clique direito limpa)", "no_region": "Arraste sobre a imagem para escolher uma peça",
        "live_dialog": "Câmera ao vivo", "live_source": "Câmera (índice, arquivo ou URL):",
        "live_question": "Pergunta:", "live_interval": "Intervalo (s):", "live_on": "Ao vivo: {src}",
        "drop": "Solte um vídeo ou imagem aqui, ou use Ctrl+O", "shortcuts_text": (
            "Espaço — reproduzir/pausar\n← / → — quadro anterior/seguinte\nCtrl+O — abrir\n"
            "Enter — perguntar\nEsc — parar a resposta\nClique direito — limpar a região\nCtrl+Q — sair"),
        "about_text": "Vitrine — pergunte sobre roupas em vídeos, offline, na CPU.",
        "catalog": "&Catálogo", "catalog_add": "&Adicionar produtos (CSV)…", "similar": "Produtos semelhantes",
        "catalog_empty": "Nenhum produto no catálogo: Catálogo › Adicionar produtos (CSV)…",
        "catalog_adding": "Indexando produtos…", "catalog_added": "{added} adicionados, {updated} atualizados, "
        "{skipped} ignorados; {indexed} indexados", "catalog_failed": "O catálogo falhou",
        "product_id": "Código:", "product_title": "Produto:", "product_image": "Imagem:",
        "measured": "Cores medidas:", "cancel": "Cancelar", "describe": "Descrever", "copy": "Copiar",
        "describe_title": "Ficha do produto", "describing": "Descrevendo…", "describe_failed": "A descrição falhou",
        "frame_ready": "Quadro pronto: a pergunta será rápida",
        "new_conversation": "Nova conversa",
        "new_conversation_tip": "A próxima pergunta sobre este quadro não vê as anteriores",
        "thread": "Continua a conversa: vê {n} pergunta(s) anterior(es)",
        "conversation_new": "Nova conversa sobre este quadro",
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
        "timings": "{model} · image {image} · first token {ttft:.2f}s · {tps:.1f} tok/s",
        "image_reused": "reused", "open_first": "Open a video or image first (Ctrl+O).",
        "cannot_open": "Could not open", "model_failed": "The model did not load",
        "ask_failed": "The question failed", "not_saved": "The answer was not saved to the history",
        "exported": "{n} answers exported to {path}",
        "region": "Region: {r} (right-click clears)", "no_region": "Drag over the picture to pick one garment",
        "live_dialog": "Live camera", "live_source": "Camera (index, file or URL):",
        "live_question": "Question:", "live_interval": "Interval (s):", "live_on": "Live: {src}",
        "drop": "Drop a video or image here, or press Ctrl+O", "shortcuts_text": (
            "Space — play/pause\n← / → — previous/next frame\nCtrl+O — open\nEnter — ask\n"
            "Esc — stop the answer\nRight-click — clear the region\nCtrl+Q — quit"),
        "about_text": "Vitrine — ask about clothes in videos, offline, on the CPU.",
        "catalog": "&Catalog", "catalog_add": "&Add products (CSV)…", "similar": "Similar products",
        "catalog_empty": "No products in the catalog: Catalog › Add products (CSV)…",
        "catalog_adding": "Indexing products…", "catalog_added": "{added} added, {updated} updated, "
        "{skipped} skipped; {indexed} indexed", "catalog_failed": "The catalog failed",
        "product_id": "Id:", "product_title": "Product:", "product_image": "Image:",
        "measured": "Measured colours:", "cancel": "Cancel", "describe": "Describe", "copy": "Copy",
        "describe_title": "Product card", "describing": "Describing…", "describe_failed": "The description failed",
        "frame_ready": "Frame ready: the question will be quick",
        "new_conversation": "New conversation",
        "new_conversation_tip": "The next question about this frame does not see the earlier ones",
        "thread": "Continues the conversation: sees {n} earlier question(s)",
        "conversation_new": "New conversation about this frame",
    },
}


class Texts:
    def __init__(self, lang: str = "pt"):
        self.lang = lang if lang in STRINGS else "pt"

    def __call__(self, key: str, **kw) -> str:
        text = STRINGS[self.lang].get(key) or STRINGS["en"][key]
        return text.format(**kw) if kw else text

"""Widgets that give way on a narrow screen instead of widening the window: a one-line label that shortens or ends
in "…" (the whole text in its tooltip), and a row of groups that wraps onto a second line when the column is too
narrow for them side by side. A 1024-wide store screen could not hold the window when every panel kept its full
width (the minima added up to ~1030 px)."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLabel, QLayout, QSizePolicy, QWidget, QWidgetItem


class ElidedLabel(QLabel):
    """One line: the full text where it fits, else the first shorter form given that fits, else the shortest
    ending in "…"; whenever it is not shown whole, the whole text is the tooltip (with ``tip`` after it). It asks
    for its full width, and takes less when the row has less."""

    def __init__(self, text: str = "", parent=None, policy: QSizePolicy.Policy = QSizePolicy.Policy.Ignored):
        super().__init__(parent)
        self.full = text
        self.forms: tuple[str, ...] = (text,)
        self.tip = ""
        self.setSizePolicy(policy, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str, *shorter: str) -> None:          # noqa: N802 (Qt's name)
        self.full = text
        self.forms = (text, *shorter)
        self.updateGeometry()
        self._elide()

    def set_tip(self, tip: str) -> None:
        self.tip = tip
        self._elide()

    def sizeHint(self) -> QSize:                                  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        return QSize(self._width(self.full), hint.height())

    def minimumSizeHint(self) -> QSize:                           # noqa: N802 (Qt's name)
        return QSize(self._width("…"), super().minimumSizeHint().height())

    def _width(self, text: str) -> int:
        return self.fontMetrics().horizontalAdvance(text) + 2 * self.margin()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self._elide()

    def _elide(self) -> None:
        room = max(0, self.width() - 2 * self.margin())
        fits = [f for f in self.forms if self.fontMetrics().horizontalAdvance(f) <= room]
        shown = fits[0] if fits else self.fontMetrics().elidedText(self.forms[-1], Qt.TextElideMode.ElideRight, room)
        super().setText(shown)
        self.setToolTip("\n".join(x for x in (self.full if shown != self.full else "", self.tip) if x))


class WrapLayout(QLayout):
    """Widgets (each a group of controls) side by side while the width holds their preferred sizes, else wrapped
    onto more lines; in a line, the extra width goes to the items given a stretch. Its height follows its width
    (heightForWidth), so the column above and below moves by one line only when it wraps."""

    def __init__(self, parent=None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QWidgetItem] = []
        self._stretch: list[int] = []
        self._space = spacing
        self.setContentsMargins(0, 0, 0, 0)

    def add(self, widget: QWidget, stretch: int = 0) -> None:
        self.addChildWidget(widget)
        self._items.append(QWidgetItem(widget))
        self._stretch.append(stretch)
        self.invalidate()

    # QLayout's interface
    def addItem(self, item) -> None:                              # noqa: N802 (Qt's name)
        self._items.append(item)
        self._stretch.append(0)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, i: int):                                     # noqa: N802 (Qt's name)
        return self._items[i] if 0 <= i < len(self._items) else None

    def takeAt(self, i: int):                                     # noqa: N802 (Qt's name)
        if 0 <= i < len(self._items):
            self._stretch.pop(i)
            return self._items.pop(i)
        return None

    def expandingDirections(self) -> Qt.Orientation:              # noqa: N802 (Qt's name)
        return Qt.Orientation.Horizontal

    def hasHeightForWidth(self) -> bool:                          # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:                  # noqa: N802 (Qt's name)
        return self._place(QRect(0, 0, width, 0), move=False)

    def sizeHint(self) -> QSize:                                  # noqa: N802 (Qt's name)
        shown = self._shown()
        if not shown:
            return QSize(0, 0)
        width = sum(i.sizeHint().width() for i, _ in shown) + self._space * (len(shown) - 1)
        return QSize(width, max(i.sizeHint().height() for i, _ in shown))

    def minimumSize(self) -> QSize:                               # noqa: N802 (Qt's name)
        shown = self._shown()
        if not shown:
            return QSize(0, 0)
        return QSize(max(i.minimumSize().width() for i, _ in shown),       # one a line: the narrowest it gets
                     sum(i.sizeHint().height() for i, _ in shown) + self._space * (len(shown) - 1))

    def setGeometry(self, rect: QRect) -> None:                   # noqa: N802 (Qt's name)
        super().setGeometry(rect)
        self._place(rect, move=True)

    def lines(self, width: int) -> list[list[int]]:
        """Which items (indices among those shown) go on which line at ``width``."""
        lines: list[list[int]] = []
        used = 0
        for n, (item, _) in enumerate(self._shown()):
            w = item.sizeHint().width()
            if lines and used + self._space + w <= width:
                lines[-1].append(n)
                used += self._space + w
            else:
                lines.append([n])
                used = w
        return lines

    def _shown(self) -> list[tuple]:
        return [(i, s) for i, s in zip(self._items, self._stretch) if not i.isEmpty()]

    def _place(self, rect: QRect, move: bool) -> int:
        shown = self._shown()
        y = rect.y()
        for line in self.lines(rect.width()):
            items = [shown[n] for n in line]
            hints = [i.sizeHint().width() for i, _ in items]
            extra = rect.width() - sum(hints) - self._space * (len(items) - 1)
            stretch = sum(s for _, s in items)
            if extra < 0:            # one item wider than the line: it takes the line (down to its minimum)
                widths = [max(i.minimumSize().width(), h + extra * h // max(1, sum(hints)))
                          for (i, _), h in zip(items, hints)]
            else:
                widths = [h + (extra * s // stretch if stretch else 0) for (_, s), h in zip(items, hints)]
            height = max(i.sizeHint().height() for i, _ in items)
            x = rect.x()
            for (item, _), w in zip(items, widths):
                if move:
                    item.setGeometry(QRect(QPoint(x, y + (height - item.sizeHint().height()) // 2),
                                           QSize(w, item.sizeHint().height())))
                x += w + self._space
            y += height + self._space
        return max(0, y - self._space - rect.y())

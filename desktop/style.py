"""The app's look: one stylesheet."""

STYLE = """
QMainWindow, QWidget { font-size: 11pt; }
QPushButton { padding: 6px 14px; border-radius: 6px; background: #eceff3; border: 1px solid #c9d0d8; }
QPushButton:hover { background: #e1e6ec; }
QPushButton#ask { background: #1f6feb; color: white; border: none; font-weight: 600; }
QPushButton#ask:disabled { background: #9db8e6; }
QPushButton#stop { background: #d1242f; color: white; border: none; }
QPushButton#stop:disabled { background: #e8a3a8; }
QPushButton.prompt { background: #f6f8fa; font-size: 10pt; text-align: left; padding: 6px 8px; }
QLineEdit, QTextEdit, QListWidget, QComboBox { border: 1px solid #c9d0d8; border-radius: 6px; padding: 4px; }
QLineEdit { padding: 7px; font-size: 12pt; }
QTextEdit#answer { font-size: 13pt; background: #fbfcfd; }
QLabel#section { font-weight: 600; color: #57606a; margin-top: 6px; }
QLabel#muted { color: #57606a; font-size: 10pt; }
QLabel#sent { color: #57606a; font-size: 10pt; font-style: italic; }
QPushButton#small { padding: 2px 10px; font-size: 10pt; }
QLabel#warning { background: #fff4d6; color: #6b4b00; border: 1px solid #e3c26b; border-radius: 6px; padding: 6px; }
QLabel#live { background: #d1242f; color: white; font-weight: 700; border-radius: 4px; padding: 3px 8px; }
QLabel#welcome { font-size: 20pt; font-weight: 600; }
QTabWidget::pane { border: 1px solid #c9d0d8; border-radius: 6px; top: -1px; }
QTabBar::tab { padding: 6px 8px; }
"""

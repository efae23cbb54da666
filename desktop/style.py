"""The app's look: one stylesheet."""

STYLE = """
QMainWindow, QWidget { font-size: 11pt; }
QPushButton { padding: 6px 14px; border-radius: 6px; background: #eceff3; border: 1px solid #c9d0d8; }
QPushButton:hover { background: #e1e6ec; }
QPushButton#ask { background: #1f6feb; color: white; border: none; font-weight: 600; }
QPushButton#ask:disabled { background: #9db8e6; }
QPushButton#stop { background: #d1242f; color: white; border: none; }
QPushButton#stop:disabled { background: #e8a3a8; }
QPushButton.prompt { background: #f6f8fa; font-size: 10pt; text-align: left; }
QLineEdit, QTextEdit, QListWidget, QComboBox { border: 1px solid #c9d0d8; border-radius: 6px; padding: 4px; }
QLineEdit { padding: 7px; font-size: 12pt; }
QTextEdit#answer { font-size: 13pt; background: #fbfcfd; }
QLabel#section { font-weight: 600; color: #57606a; margin-top: 6px; }
QLabel#muted { color: #57606a; font-size: 10pt; }
"""

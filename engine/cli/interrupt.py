"""Ctrl-C that stops the command wherever it lands: exit 130, one line, no traceback.

Python raises KeyboardInterrupt in whatever Python code runs when the signal is handled. While llama.cpp loads a
model it calls back into Python (its log callback) hundreds of times; an exception raised there is printed as a
traceback and swallowed by ctypes, and the command went on to answer and exit 0. So the handler never raises
inside a native callback: it asks again a moment later, once the interpreter is back in ordinary code. A second
Ctrl-C ends the process at once.
"""
from __future__ import annotations

import _thread
import contextlib
import os
import signal
import threading

from engine.runtime.native import in_native_callback

RETRY_S = 0.05


class CtrlC:
    def __init__(self):
        self.presses = 0
        self._redelivery = False

    def __call__(self, signum, frame) -> None:
        if self._redelivery:
            self._redelivery = False      # our own retry, not a new press
        else:
            self.presses += 1
        if self.presses >= 2:
            os.write(2, b"\nvitrine: stopped\n")
            os._exit(130)
        if in_native_callback(frame):
            self._redelivery = True
            threading.Timer(RETRY_S, _thread.interrupt_main).start()
            return
        raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_stops(whole_process: bool = False):
    """Install the handler for the duration of a command (main thread only; elsewhere it does nothing).

    ``whole_process``: the command is the process; once it is done, a late Ctrl-C is ignored instead of killing
    the interpreter on its way out (the work is finished and its exit code already decided).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, CtrlC())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if whole_process else previous)
